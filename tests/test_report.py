"""Renderers (text, Markdown, JSON, HTML) and the disagreement CSV."""

from __future__ import annotations

import base64
import csv
import json
import re
import subprocess
import sys

import pytest

from judge.agreement import MISSING_VERDICT, AgreementReport, JudgedScore, build_report, consensus
from judge.models import GoldRating
from judge.report import (
    DISAGREEMENT_COLUMNS,
    render_html,
    render_json,
    render_markdown,
    render_text,
    write_disagreements,
)

ABILITIES = ("lesion_recognition", "disease_diagnosis", "attribute_recognition")


def _gold(n: int = 24, binary: bool = False) -> list[GoldRating]:
    rows = []
    for i in range(n):
        a = float(i % 2) if binary else (0.0, 0.5, 1.0)[i % 3]
        b = a if i % 5 else (1.0 - a if binary else 0.5)
        ability = ABILITIES[i % 3]
        rows.append(
            GoldRating(
                id=f"g{i:02d}",
                ability=ability,
                question_type="short_answer" if i % 2 else "judgment",
                attribute="color" if ability == "attribute_recognition" else None,
                language="zh" if i % 4 == 0 else "en",
                question=f"Question {i}?",
                reference=["red", "erythematous"] if i == 1 else "red",
                candidate=f"answer {i}",
                ratings={"r1": a, "r2": b},
            )
        )
    return rows


def _judged(gold: list[GoldRating], flip_every: int = 4) -> list[JudgedScore]:
    out = []
    for i, row in enumerate(gold):
        score = row.ratings["r1"]
        if i % flip_every == 0:
            score = 1.0 - score if score != 0.5 else 1.0
        out.append(JudgedScore(id=row.id, score=score, rationale=f"because {i}"))
    return out


@pytest.fixture(scope="module")
def report() -> AgreementReport:
    gold = _gold()
    judged = _judged(gold)
    judged[5] = JudgedScore(id=judged[5].id, unscored_reason="unparseable reply")
    return build_report(
        gold,
        {"local · clinical/v3": judged, "other <b>judge</b>": _judged(gold, flip_every=3)},
        gold_path="gold_labels/x/gold.jsonl",
        gold_sha256="f" * 64,
        provenance={"local · clinical/v3": {"backend": "local", "rubric": "clinical/v3", "rubric_sha256": "abc123"}},
        n_boot=40,
        created="2025-01-01T00:00:00+00:00",
    )


def test_text(report):
    text = render_text(report)
    assert "Headline: judge vs gold consensus" in text
    assert "local · clinical/v3" in text
    assert f"{report.alpha_ordinal:.3f} [" in text  # value with its CI
    assert "Paired comparison with the first judge" in text
    assert "by ability" in text and "by attribute" in text and "by language" in text
    assert "unparseable reply" in text
    assert "f" * 64 in text and "rubric_sha256=abc123" in text


def test_markdown(report):
    md = render_markdown(report)
    assert md.startswith("# Judge agreement: gold_labels/x/gold.jsonl")
    assert "| judge | n | scored | unscored | α ordinal | exact | mean \\|diff\\| | bias |" in md
    assert "## Provenance" in md


def test_json_is_one_object_with_every_figure(report):
    data = json.loads(render_json(report))
    for key in ("n", "alpha_ordinal", "exact_agreement", "judges", "comparisons", "inter_rater", "gold_sha256"):
        assert key in data
    assert data["judges"][0]["slices"][0]["metrics"]["ci"]["alpha_ordinal"]["low"] <= 1
    assert AgreementReport.model_validate_json(render_json(report)) == report


def test_html_is_self_contained(report):
    page = render_html(report)
    assert page.startswith("<!doctype html>")
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 2 + 2  # a heatmap per judge, slice bars per judge
    for b64 in images:
        assert base64.b64decode(b64).startswith(b"\x89PNG")
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched from elsewhere
    assert "other &lt;b&gt;judge&lt;/b&gt;" in page and "<b>judge</b>" not in page  # labels are escaped
    assert "f" * 64 in page and "abc123" in page and "2025-01-01" in page


def test_matplotlib_is_imported_only_for_html():
    code = "import sys, judge.report; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_binary_gold_shows_binary_table():
    gold = _gold(20, binary=True)
    judged = [JudgedScore(id=r.id, score=0.5 if i % 3 == 0 else r.ratings["r1"]) for i, r in enumerate(gold)]
    rep = build_report(gold, {"j": judged}, gold_path="b.jsonl", gold_sha256="0", n_boot=20)
    assert rep.binary_gold
    text = render_text(rep)
    assert "κ judge ≥ 0.5" in text and "tied (left out)" in text


def test_disagreements_csv_order_and_columns(tmp_path):
    gold = _gold(6)
    # consensus: g00 0.5 (ratings 0 and 0.5), g01 0.5, g02 1, g03 0, g04 0.5, g05 0.5 (ratings 1 and 0.5)
    assert [consensus(r.ratings.values()) for r in gold] == [0.5, 0.5, 1.0, 0.0, 0.5, 0.5]
    judged = [
        JudgedScore(id="g00", score=0.5, rationale="agrees"),  # no gap: not written
        JudgedScore(id="g01", score=1.0, rationale="half up"),  # +0.5
        JudgedScore(id="g02", score=0.0, rationale="way off"),  # -1
        JudgedScore(id="g03", unscored_reason="refused to grade"),  # unscored
        JudgedScore(id="g04", score=0.0, rationale="half down"),  # -0.5
        # g05 has no verdict at all
    ]
    path = tmp_path / "out" / "dis.csv"
    assert write_disagreements(path, gold, judged) == 5
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == DISAGREEMENT_COLUMNS
        rows = list(reader)
    assert [r["id"] for r in rows] == ["g02", "g01", "g04", "g03", "g05"]  # |gap| desc, ties in file order
    assert [r["gap"] for r in rows] == ["-1", "+0.5", "-0.5", "", ""]
    first = rows[0]
    assert first["gold_consensus"] == "1" and first["judge_score"] == "0" and first["rationale"] == "way off"
    assert json.loads(first["gold_ratings"]) == {"r1": 1.0, "r2": 1.0}
    assert json.loads(rows[1]["reference"]) == ["red", "erythematous"]  # a list stays a list
    assert rows[3]["unscored_reason"] == "refused to grade"
    assert rows[4]["unscored_reason"] == MISSING_VERDICT
    assert (first["ability"], first["attribute"], first["language"]) == ("attribute_recognition", "color", "en")
    assert (rows[2]["attribute"], rows[2]["language"], rows[2]["question_type"]) == ("", "zh", "judgment")
    assert not list((tmp_path / "out").glob(".*tmp"))  # written atomically, no leftovers


def test_html_report_without_matplotlib_keeps_every_table(monkeypatch, report):
    """The charts come from the `report` extra; without it the report still carries every figure."""
    import importlib.util

    from judge import report as report_module

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    page = report_module.render_html(report)
    assert "lesion-judge[report]" in page and "<img" not in page
    assert "Headline: judge vs gold consensus" in page


def test_llm_calibration_without_dspy_says_which_extra_to_install(monkeypatch):
    import builtins

    from judge.calibrate import optimize
    from judge.errors import JudgeError

    real = builtins.__import__

    def no_dspy(name, *args, **kwargs):
        if name == "dspy":
            raise ImportError("No module named 'dspy'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dspy)
    with pytest.raises(JudgeError, match=r"lesion-judge\[calibrate\]"):
        optimize._import_dspy()
