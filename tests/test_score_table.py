"""The paper table: per-ability means, question types, coverage; a model's non-answers count 0, a judge's
failures are unscored, left out of the means and mark the table incomplete."""

from __future__ import annotations

import csv
import io
import json

from judge.models import Verdict
from judge.score_table import build_table, render_csv, render_json, render_markdown, render_text


def _v(model, ability, qtype, score, reason=None, lang="en", method="critic", item=""):
    rubric = "non_answer/1" if method in ("missing", "empty", "over_limit", "mcq:unreadable") else "clinical/v3"
    return Verdict(item_id=f"{model}{ability}{qtype}{score}{item}", model=model, ability=ability, question_type=qtype,
                   language=lang, score=score, unscored_reason=reason, method=method, rubric=rubric,
                   rubric_sha="x" * 64, backend="local", cache_key="k")


VERDICTS = [
    _v("vlm", "lesion_recognition", "mcq", 1.0),
    _v("vlm", "lesion_recognition", "short_answer", 0.5),
    _v("vlm", "disease_diagnosis", "mcq", 0.0, lang="zh"),
    _v("vlm", "disease_diagnosis", "judgment", None, reason="unparseable reply: no JSON"),
    _v("text", "lesion_recognition", "mcq", 0.5),
]


def test_means_exclude_unscored_and_count_them():
    table = build_table(VERDICTS)
    vlm, text = table.rows
    assert vlm.model == "vlm" and text.model == "text"
    assert vlm.avg.score == 50.0 and vlm.avg.n == 4 and vlm.avg.unscored == 1
    assert vlm.abilities["lesion_recognition"].score == 75.0
    assert vlm.abilities["disease_diagnosis"].score == 0.0 and vlm.abilities["disease_diagnosis"].unscored == 1
    assert "spatial_relation" not in vlm.abilities
    assert vlm.question_types["mcq"].score == 50.0 and vlm.languages["zh"].score == 0.0
    assert vlm.unscored_reasons == {"unparseable reply": 1}


def test_renderers_show_the_same_figures():
    table = build_table(VERDICTS, {"rubric": "clinical/v3", "rubric_sha": "a" * 64, "backend": "local", "run_id": "r1"})
    text = render_text(table)
    header = text.splitlines()[0].split()
    assert header[:3] == ["Model", "AVG", "Lesion"]
    assert "vlm" in text and "50.0" in text and "75.0" in text
    assert "INCOMPLETE: 1 answers unscored because the judge failed" in text and "Rerun the same command" in text
    assert "vlm: 1 unscored (1 unparseable reply)" in text
    md = render_markdown(table)
    assert "| vlm | 50.0 | 75.0 |" in md and "clinical/v3" in md and "**INCOMPLETE" in md
    rows = list(csv.DictReader(io.StringIO(render_csv(table))))
    assert {"model": "vlm", "group": "all", "key": "AVG", "score": "50.0", "n": "4", "answered": "4",
            "unscored": "1"} in rows
    data = json.loads(render_json(table))
    assert data["rows"][0]["abilities"]["lesion_recognition"]["score"] == 75.0
    assert data["provenance"]["backend"] == "local"
    assert data["complete"] is False and data["unscored"] == 1


def test_non_answers_count_zero_and_coverage_shows_what_was_answered():
    """Skipping an item can never raise a mean: a missing or empty answer is 0 and lowers the coverage."""
    full = [_v("m", "lesion_recognition", "short_answer", 1.0, item=str(n)) for n in range(3)]
    skipped = [*full[:2], _v("m", "lesion_recognition", "short_answer", 0.0, method="missing", item="x")]
    emptied = [*full[:2], _v("m", "lesion_recognition", "short_answer", 0.0, method="empty", item="y")]
    hedged = [*full[:2], _v("m", "lesion_recognition", "mcq", 0.0, method="mcq:unreadable", item="z")]
    complete = build_table(full)
    for vs in (skipped, emptied, hedged):
        table = build_table(vs)
        row = table.rows[0]
        assert row.avg.score < complete.rows[0].avg.score
        assert table.complete and table.unscored == 0 and row.avg.unscored == 0
    assert build_table(skipped).rows[0].avg.answered == 2 and build_table(emptied).rows[0].avg.answered == 2
    assert build_table(hedged).rows[0].avg.answered == 3
    text = render_text(build_table(skipped))
    assert "2/3" in text and "m: 1 counted as 0 (1 no prediction)" in text and "INCOMPLETE" not in text
    assert build_table(hedged).rows[0].non_answers == {"mcq:unreadable": 1}


def test_a_complete_table_says_nothing_about_unscored():
    table = build_table([_v("m", "lesion_recognition", "short_answer", 1.0)])
    assert table.complete and "INCOMPLETE" not in render_text(table) and "## Unscored" not in render_markdown(table)
