"""`judge calibrate --backend local`: the embedded judge's table credits are fitted on train, chosen on dev,
and the held-out figure alone says whether it improved.

Fixture: physicians who treat red and pink as the same colour (full credit) while other neighbouring
colours (red/violaceous, brown/dark, brown/yellow) stay partial. Rubric v3 gives every adjacent pair
0.5, so raising `adjacent_credit` cannot fix it; the table override `color:red|pink = 1` can.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import write_jsonl

from judge.calibrate.local_fit import fit_local, override_keys
from judge.calibrate.run import calibrate
from judge.cli import cli
from judge.models import GoldRating
from judge.rubrics import load_rubric, rubrics_dir, verify_published
from judge.store import Store

SITES = ["forearm", "cheek", "back", "knee", "scalp", "chest"]
PAIRS = [  # reference, candidate, physicians' score
    ("pink", "red", 1.0),
    ("red", "pink", 1.0),
    ("pink", "erythematous", 1.0),
    ("red", "pinkish", 1.0),
    ("red", "violaceous", 0.5),
    ("brown", "dark brown", 0.5),
    ("brown", "yellow", 0.5),
    ("violaceous", "red", 0.5),
    ("pink", "pink", 1.0),
    ("brown", "tan", 1.0),
    ("pink", "brown", 0.0),
    ("red", "white", 0.0),
]


def color_rows() -> list[dict]:
    rows = []
    for s, site in enumerate(SITES):
        for k, (ref, cand, score) in enumerate(PAIRS):
            rows.append(
                {
                    "id": f"c{s}{k:02d}",
                    "ability": "attribute_recognition",
                    "question_type": "short_answer",
                    "attribute": "color",
                    "language": "en",
                    "question": f"What color is the lesion on the {site}?",
                    "reference": ref,
                    "candidate": cand,
                    "ratings": {"md": score},
                }
            )
    return rows


@pytest.fixture
def rubric_root(tmp_path, monkeypatch):
    """An empty drafts folder: the bundled rubrics are read where they are, drafts land here."""
    root = tmp_path / "rubrics"
    monkeypatch.setenv("JUDGE_RUBRICS_DIR", str(root))
    return root


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def parts(tmp_path) -> dict[str, str]:
    out: dict[str, list[dict]] = {"train": [], "dev": [], "test": []}
    for i, row in enumerate(color_rows()):  # sites 0-3 train, 4 dev, 5 held-out
        out[("train", "train", "train", "train", "dev", "test")[i // len(PAIRS)]].append(row)
    return {k: str(write_jsonl(tmp_path / f"{k}.jsonl", v)) for k, v in out.items()}


def test_fit_learns_the_table_override_not_a_global_credit():
    rows = [GoldRating.model_validate(r) for r in color_rows()]
    base = load_rubric("v3")
    fit = fit_local(base, rows[:48], rows[48:60])
    assert fit.params.overrides == {"color:red|pink": 1.0}
    assert fit.params.adjacent_credit == base.local.adjacent_credit == 0.5
    assert "color:red|pink" in fit.live_keys and "color:red|pink" in override_keys(base)
    assert fit.path[fit.chosen].dev_alpha > fit.path[0].dev_alpha


def test_local_calibration_improves_held_out_and_never_sees_it(rubric_root, parts, store):
    seen: set[str] = set()
    result = calibrate("v3", store=store, backend="local", n_boot=200, record=seen.update, **parts)
    test_ids = {r["id"] for r in color_rows() if r["question"].endswith("chest?")}
    assert seen and not seen & test_ids
    before, after = result.figures["test"]["before"], result.figures["test"]["after"]
    assert after.alpha_ordinal > before.alpha_ordinal and result.improved
    v4 = load_rubric("v4")
    assert v4.status == "draft" and v4.derived_from == "v3"
    assert v4.local.overrides == {"color:red|pink": 1.0}
    # everything but the embedded judge's parameters and the record is the base rubric's
    v3 = load_rubric("v3")
    assert (v4.system, v4.template, v4.equivalences) == (v3.system, v3.template, v3.equivalences)
    prov = v4.provenance
    assert prov["improved"] is True and prov["optimizer"] == "coordinate" and prov["backend"] == "local"
    assert prov["split"]["method"] == "files" and sorted(prov["split"]["test"]) == sorted(test_ids)
    assert prov["search"]["path"][0]["block"] == "start"


def test_cli_on_a_gold_file_splits_reports_and_refuses_prompt_optimizers(rubric_root, tmp_path):
    gold = write_jsonl(tmp_path / "gold.jsonl", color_rows())
    runner = CliRunner()
    bundled = _tree(rubrics_dir())
    wrong = runner.invoke(cli, ["calibrate", "--gold", str(gold), "--backend", "local", "--optimizer", "mipro"])
    assert wrong.exit_code == 2 and "tune prompts" in wrong.output
    out = runner.invoke(cli, ["calibrate", "--gold", str(gold), "--seed", "1", "--n-boot", "100", "--quiet"])
    assert out.exit_code == 0, out.output
    assert "held-out" in out.output and "improved on held-out:" in out.output and "clinical/v4" in out.output
    data = yaml.safe_load((rubric_root / "clinical" / "v4.yaml").read_text(encoding="utf-8"))
    split = data["provenance"]["split"]
    assert split["method"] == "stratified" and split["seed"] == 1
    assert len(split["train"]) + len(split["dev"]) + len(split["test"]) == len(color_rows())
    assert data["provenance"]["gold"]["gold"]["sha256"] and data["status"] == "draft"
    # the published v3 is untouched and a second run writes the next version, never over v4
    again = runner.invoke(cli, ["calibrate", "--gold", str(gold), "--seed", "1", "--n-boot", "100", "--quiet"])
    assert again.exit_code == 0 and (rubric_root / "clinical" / "v5.yaml").is_file()
    assert load_rubric("v3").status == "published"
    # drafts never land in the bundled tree (the source checkout or the installed package)
    assert _tree(rubrics_dir()) == bundled and verify_published() == []
    assert sorted(_tree(rubric_root)) == ["clinical/v4.yaml", "clinical/v5.yaml"]


def test_a_drafts_folder_that_cannot_take_the_draft_stops_calibration_before_any_work(tmp_path, monkeypatch):
    from conftest import make_read_only

    gold = write_jsonl(tmp_path / "gold.jsonl", color_rows())
    db = tmp_path / "data" / "j.db"
    monkeypatch.setenv("JUDGE_RUBRICS_DIR", str(rubrics_dir()))
    bundled = CliRunner().invoke(cli, ["calibrate", "--gold", str(gold), "--quiet", "--db", str(db)])
    assert bundled.exit_code == 2 and "is the bundled rubrics folder: drafts never go there" in bundled.output
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setenv("JUDGE_RUBRICS_DIR", str(locked / "drafts"))
    undo = make_read_only(locked)
    try:
        denied = CliRunner().invoke(cli, ["calibrate", "--gold", str(gold), "--quiet", "--db", str(db)])
    finally:
        undo()
    assert denied.exit_code == 2 and "the drafts folder (JUDGE_RUBRICS_DIR): cannot write in" in denied.output
    assert not db.exists() or [r["command"] for r in Store.open(db).db["runs"].rows] == []
