"""The command line: the README's commands work, errors are one clear line, every command is documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, item, make_read_only, write_jsonl

from judge.cli import cli

SAMPLE = ROOT / "examples" / "medlesion_sample"


def _commands(group, prefix=""):
    for name, cmd in group.commands.items():
        full = f"{prefix}{name}"
        yield full, cmd
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, full + " ")


def test_every_command_has_help_and_appears_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, cmd in _commands(cli):
        assert cmd.help and cmd.help.strip(), f"`judge {name}` has no help text"
        assert f"judge {name}" in readme, f"`judge {name}` is not in README.md"


def test_readme_quick_start_is_two_commands_and_runs_on_bundled_data(tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Quick start\s+```bash\n(.*?)```", readme, re.S).group(1).strip().splitlines()
    assert len(block) == 2 and block[0].startswith("pip install") and block[1].startswith("judge score ")
    args = []
    for arg in block[1].split()[1:]:  # expand globs the way the shell would, from the repository root
        args += sorted(str(p) for p in ROOT.glob(arg)) if "*" in arg else [str(ROOT / arg) if "/" in arg else arg]
    assert args[0] == "score" and len(args) == 5
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "out"), "--db", str(tmp_path / "j.db")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Lesion Rec." in result.output and "vlm-concise" in result.output and "text-only" in result.output
    for name in ("scores.md", "scores.csv", "scores.json", "verdicts.jsonl"):
        assert (tmp_path / "out" / name).is_file()


def _score(tmp_path, *args):
    return CliRunner().invoke(cli, ["score", *map(str, args), "--out", str(tmp_path / "out"), "--db", str(tmp_path / "j.db")])


def test_score_writes_tables_and_records_provenance(tmp_path):
    bench = write_jsonl(tmp_path / "b.jsonl", [item("1", answer="pink"), item("2", answer="red"),
                                               item("3", split="val", answer="brown")])
    preds = write_jsonl(tmp_path / "p.jsonl", [{"id": i, "model": "m", "prediction": p} for i, p in (("1", "pink"), ("2", "pink"), ("3", "brown"))])
    result = _score(tmp_path, bench, preds, "--split", "test")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "out" / "scores.json").read_text())
    row = data["rows"][0]
    assert row["model"] == "m" and row["avg"]["n"] == 2
    assert data["provenance"]["rubric"] == "clinical/v3" and data["provenance"]["backend"] == "local"
    verdicts = [json.loads(x) for x in (tmp_path / "out" / "verdicts.jsonl").read_text().splitlines()]
    assert {v["item_id"] for v in verdicts} == {"1", "2"}
    v = verdicts[0]
    assert v["rubric_sha"] and v["backend"] == "local" and v["rationale"] and "latency_ms" in v and v["params"]
    again = _score(tmp_path, bench, preds, "--split", "test")
    assert "0 judged now (0 distinct) + 2 from cache" in again.output


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"id": "1", "split": "test"', "b.jsonl:2: invalid JSON"),
        ('{"id": "2", "split": "test", "ability": "skin", "question_type": "short_answer", "question": "q", "answer": "a"}', "b.jsonl:2: ability:"),
        ('{"id": "2", "split": "test", "ability": "lesion_recognition", "question_type": "short_answer", "answer": "a"}', "b.jsonl:2: question: Field required"),
        ('{"id": "1", "split": "test", "ability": "lesion_recognition", "question_type": "short_answer", "question": "q", "answer": "a"}', "b.jsonl:2: duplicate id '1'"),
    ],
)
def test_malformed_input_stops_with_file_line_and_writes_nothing(tmp_path, line, expected):
    bench = tmp_path / "b.jsonl"
    bench.write_text(json.dumps(item("1")) + "\n" + line + "\n", encoding="utf-8")
    preds = write_jsonl(tmp_path / "p.jsonl", [{"id": "1", "model": "m", "prediction": "pink"}])
    result = _score(tmp_path, bench, preds)
    assert result.exit_code == 2
    assert expected in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_unknown_backend_and_rubric_are_clear_errors(tmp_path):
    bench = write_jsonl(tmp_path / "b.jsonl", [item("1")])
    preds = write_jsonl(tmp_path / "p.jsonl", [{"id": "1", "model": "m", "prediction": "pink"}])
    bad_backend = _score(tmp_path, bench, preds, "--backend", "gpt4")
    assert bad_backend.exit_code == 2 and "unknown backend 'gpt4'" in bad_backend.output
    bad_rubric = _score(tmp_path, bench, preds, "--rubric", "v42")
    assert bad_rubric.exit_code == 2 and "unknown rubric 'v42'" in bad_rubric.output


def _inputs(tmp_path):
    bench = write_jsonl(tmp_path / "b.jsonl", [item("1"), item("2", question="皮损是什么颜色？", answer="粉红色")])
    preds = write_jsonl(tmp_path / "p.jsonl", [{"id": "1", "model": "m", "prediction": "pink"},
                                               {"id": "2", "model": "m", "prediction": "红色"}])
    return bench, preds


def _one_line(result, start: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.startswith(start) and result.output.count("\n") == 1, result.output


def _runs(db: Path) -> list[dict]:
    from judge.store import Store

    return list(Store.open(db).db["runs"].rows)


def _file_at(path: Path, below: str = "") -> Path:
    path.write_text("a file", encoding="utf-8")
    return path / below if below else path


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda tmp: _file_at(tmp / "out"), "--out is not a directory"),
        (lambda tmp: _file_at(tmp / "f", "sub/deeper"), "--out cannot be made: "),
    ],
    ids=["out-is-a-file", "parent-is-a-file"],
)
def test_an_unusable_out_is_refused_before_any_scoring(tmp_path, make, says):
    bench, preds = _inputs(tmp_path)
    out = make(tmp_path)
    db = tmp_path / "j.db"
    result = CliRunner().invoke(cli, ["score", str(bench), str(preds), "--out", str(out), "--db", str(db)])
    _one_line(result, f"Error: {out}: {says}")
    assert not db.exists()  # nothing scored, no run recorded (complete or otherwise)


def test_an_unwritable_out_is_refused_before_any_scoring(tmp_path):
    bench, preds = _inputs(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    undo = make_read_only(locked)
    try:
        for out in (locked, locked / "new" / "deeper"):
            db = tmp_path / "j.db"
            result = CliRunner().invoke(cli, ["score", str(bench), str(preds), "--out", str(out), "--db", str(db)])
            _one_line(result, f"Error: {out}: --out: cannot write in {locked}: ")
            assert not db.exists() and list(locked.iterdir()) == []
    finally:
        undo()


def test_a_store_it_cannot_use_is_one_line_and_nothing_is_written(tmp_path):
    bench, preds = _inputs(tmp_path)
    (tmp_path / "random.db").write_bytes(bytes(range(256)) * 64)
    good = tmp_path / "ro.db"
    assert CliRunner().invoke(cli, ["score", str(bench), str(preds), "--out", str(tmp_path / "o0"), "--db", str(good)]).exit_code == 0
    undo = make_read_only(good)
    try:
        for db, says in ((tmp_path / "random.db", "file is not a database"),
                         (good, "attempt to write a readonly database"),
                         (tmp_path, "unable to open database file")):
            result = CliRunner().invoke(cli, ["score", str(bench), str(preds), "--out", str(tmp_path / "o1"), "--db", str(db)])
            _one_line(result, f"Error: store {db}: {says} (")
            assert not (tmp_path / "o1").exists()
    finally:
        undo()
    assert [r["status"] for r in _runs(good)] == ["complete"]  # only the first, good run


def _gold(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "g.jsonl", [
        {"id": f"g{i}", "ability": "attribute_recognition", "question_type": "short_answer", "question": q,
         "reference": ref, "candidate": cand, "attribute": "color", "ratings": {"a": score}}
        for i, (q, ref, cand, score) in enumerate([("What color?", "pink", "pink", 1.0), ("颜色？", "粉红色", "红色", 0.5),
                                                   ("What color?", "red", "brown", 0.0)] * 4)])


@pytest.mark.parametrize("option", ["--out", "--disagreements", "--report"])
@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda tmp: tmp, "{option} is a directory, not a file"),
        (lambda tmp: tmp / "missing" / "r.html", "{option}: the directory {parent} does not exist"),
        (lambda tmp: _file_at(tmp / "f", "r.html"), "{option}: the directory {parent} does not exist"),
    ],
    ids=["a-directory", "no-such-directory", "under-a-file"],
)
def test_agreement_and_calibrate_check_their_output_files_before_judging(tmp_path, option, make, says):
    gold = _gold(tmp_path)
    target = make(tmp_path)
    command = "calibrate" if option == "--report" else "agreement"
    args = [command, *(["--gold", str(gold)] if command == "calibrate" else [str(gold)]), option, str(target)]
    result = CliRunner().invoke(cli, [*args, "--db", str(tmp_path / "data" / "j.db")])
    _one_line(result, f"Error: {target}: " + says.format(option=option, parent=target.parent))
    assert not (tmp_path / "data").exists()  # nothing judged, no store


def test_an_unwritable_report_file_is_refused_before_judging(tmp_path):
    gold = _gold(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "r.html").write_text("old report", encoding="utf-8")
    undo = make_read_only(locked / "r.html")
    try:
        result = CliRunner().invoke(cli, ["agreement", str(gold), "--out", str(locked / "r.html"),
                                          "--db", str(tmp_path / "data" / "j.db")])
        _one_line(result, f"Error: {locked / 'r.html'}: --out: cannot write in {locked / 'r.html'}: ")
        assert (locked / "r.html").read_text(encoding="utf-8") == "old report" and not (tmp_path / "data").exists()
    finally:
        undo()


def test_an_os_error_the_library_does_not_foresee_is_one_line_too():
    """The edge's safety net: e.g. the disk fills up while a report is written."""
    import click

    from judge.cli import handle_errors

    @click.command()
    @handle_errors
    def full() -> None:
        raise OSError(28, "No space left on device", "out/report.html")

    result = CliRunner().invoke(full)
    _one_line(result, "Error: out/report.html: No space left on device")


def test_rubrics_commands():
    runner = CliRunner()
    listing = runner.invoke(cli, ["rubrics", "list"])
    assert listing.exit_code == 0 and "clinical/v3" in listing.output
    shown = runner.invoke(cli, ["rubrics", "show", "v3", "--render"])
    assert shown.exit_code == 0 and "<candidate_answer>" in shown.output and "erythematous" in shown.output
    assert Path(ROOT / "rubrics" / "clinical" / "v3.yaml").is_file()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--concurrency", "0"], "'--concurrency': 0 is not in the range x>=1"),  # a Semaphore(0) waits forever
        (["--rpm", "-1"], "'--rpm': -1.0 is not in the range x>0"),
        (["--timeout", "0"], "'--timeout': 0.0 is not in the range x>0"),
    ],
)
def test_options_that_would_stall_a_run_are_refused(tmp_path, args, says):
    bench, preds = _inputs(tmp_path)
    result = CliRunner().invoke(cli, ["score", str(bench), str(preds), *args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and says in result.output and not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["agreement", "calibrate"])
def test_bootstrap_resamples_are_bounded(tmp_path, command):
    gold = _gold(tmp_path)
    args = [command, str(gold)] if command == "agreement" else [command, "--gold", str(gold)]
    result = CliRunner().invoke(cli, [*args, "--n-boot", str(10**9)])
    assert result.exit_code == 2 and "'--n-boot': 1000000000 is not in the range 0<=x<=100000" in result.output
