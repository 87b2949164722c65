"""The paper table: per-ability means, question types, unscored shown and never counted as 0."""

from __future__ import annotations

import csv
import io
import json

from judge.models import Verdict
from judge.tables import build_table, render_csv, render_json, render_markdown, render_text


def _v(model, ability, qtype, score, reason=None, lang="en"):
    return Verdict(item_id=f"{model}{ability}{qtype}{score}", model=model, ability=ability, question_type=qtype,
                   language=lang, score=score, unscored_reason=reason, method="critic", rubric="clinical/v3",
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
    assert "1 unscored (1 unparseable reply) - left out of the means, not counted as 0" in text
    md = render_markdown(table)
    assert "| vlm | 50.0 | 75.0 |" in md and "clinical/v3" in md
    rows = list(csv.DictReader(io.StringIO(render_csv(table))))
    assert {"model": "vlm", "group": "all", "key": "AVG", "score": "50.0", "n": "4", "unscored": "1"} in rows
    data = json.loads(render_json(table))
    assert data["rows"][0]["abilities"]["lesion_recognition"]["score"] == 75.0
    assert data["provenance"]["backend"] == "local"
