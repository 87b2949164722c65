"""The store: any number of processes may create it at once; a file it cannot use is a one-line
StoreError (never an sqlite3 traceback); a run is complete only when it ended, and failed otherwise."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
from pathlib import Path

import pytest
from conftest import item, make_read_only
from fakes import FakeBackend

from judge.errors import StoreError
from judge.models import BenchmarkItem, Judgment, Prediction, Verdict
from judge.score_run import score_items
from judge.store import MIGRATIONS, Store

# ------------------------------------------------------------------------ concurrent creation


def _open_and_record(path: str, barrier, results) -> None:
    barrier.wait()
    try:
        store = Store.open(path)
        with store.run("t", {"pid": os.getpid()}, 1) as run:
            run.summary = {"pid": os.getpid()}
        store.close()
        results.put("ok")
    except BaseException as exc:
        results.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.parametrize("processes", [2, 8])
def test_many_processes_create_one_new_store_together(tmp_path, processes):
    """Every process opening a brand-new store at the same moment succeeds, round after round."""
    ctx = multiprocessing.get_context("fork")
    for round_ in range(15):
        path = str(tmp_path / f"r{round_}" / "judge.db")
        barrier, results = ctx.Barrier(processes), ctx.Queue()
        workers = [ctx.Process(target=_open_and_record, args=(path, barrier, results)) for _ in range(processes)]
        for w in workers:
            w.start()
        outcomes = [results.get(timeout=120) for _ in workers]
        for w in workers:
            w.join(timeout=60)
        assert outcomes == ["ok"] * processes, f"round {round_}: {outcomes}"
        store = Store.open(path)
        assert store.db["_migrations"].count == len(MIGRATIONS)  # each migration applied once
        assert [r["status"] for r in store.db["runs"].rows] == ["complete"] * processes
        store.close()


def test_reopening_applies_nothing_twice(tmp_path):
    first = Store.open(tmp_path / "j.db")
    assert first.migrate() == []
    first.close()
    again = Store.open(tmp_path / "j.db")
    assert again.db["_migrations"].count == len(MIGRATIONS)
    again.close()


# ----------------------------------------------------------------------- files it cannot use


def _good_store(path: Path, n: int = 0) -> Path:
    store = Store.open(path)
    store.put_judgments([
        (f"key{i:05d}", Judgment(score=1.0, rationale="r" * 200, raw_output="x" * 300), {"params": {}})
        for i in range(n)
    ])
    store.close()
    return path


def test_a_read_only_store_fails_at_open_not_mid_run(tmp_path):
    path = _good_store(tmp_path / "j.db")
    undo = make_read_only(path)
    try:
        with pytest.raises(StoreError, match=r"store .*j\.db: attempt to write a readonly database \(.*read-only"):
            Store.open(path)
    finally:
        undo()


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda p: p.write_bytes(os.urandom(20_000)), "file is not a database"),
        (lambda p: p.write_bytes(b"SQLite format 3\x00" + os.urandom(5000)), "malformed|not a database"),
        (lambda p: p.write_bytes(b"\x00" * 37), "not a database"),
        (lambda p: p.write_text("id,score\n1,0.5\n"), "not a database"),  # a CSV passed as --db
        (lambda p: _truncate(_good_store(p, 3000), 0.5), "malformed"),
        (lambda p: _truncate(_good_store(p, 3000), 0.97), "malformed"),
    ],
    ids=["random", "header-then-random", "short", "csv", "truncated-half", "truncated-tail"],
)
def test_a_damaged_store_is_a_one_line_error(tmp_path, damage, problem):
    path = tmp_path / "j.db"
    damage(path)
    with pytest.raises(StoreError) as exc:
        store = Store.open(path)
        store.get_judgments(f"key{i:05d}" for i in range(3000))  # damage deep in the file shows on reading
    message = str(exc.value)
    assert message.startswith(f"store {path}: ") and "\n" not in message
    assert any(p in message for p in problem.split("|")), message


def _truncate(path: Path, share: float) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(int(size * share) // 4096 * 4096)


def test_damage_found_mid_run_is_a_store_error(tmp_path):
    """Pages overwritten in the middle of the cache table: the file opens, reading it fails."""
    path = _good_store(tmp_path / "j.db", 3000)
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        for page in range(size // 4096 // 3, size // 4096 // 3 + 30):
            fh.seek(page * 4096)
            fh.write(os.urandom(4096))
    with pytest.raises(StoreError, match=r"malformed.*damaged"):
        store = Store.open(path)
        store.get_judgments(f"key{i:05d}" for i in range(3000))


def test_paths_that_are_not_database_files(tmp_path):
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError, match="unable to open database file"):
        Store.open(tmp_path / "dir.db")
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match=r"file is not a directory"):
        Store.open(tmp_path / "file" / "judge.db")
    with pytest.raises(StoreError, match=r"Not a directory"):
        Store.open(tmp_path / "file" / "deeper" / "judge.db")


# ------------------------------------------------------------------------------ run lifecycle


def _verdict(item_id: str) -> Verdict:
    return Verdict(item_id=item_id, model="m", ability="lesion_recognition", question_type="short_answer",
                   language="en", score=1.0, method="critic", rubric="clinical/v3", rubric_sha="s",
                   backend="fake", cache_key="k")


def test_a_run_that_ends_is_complete_with_its_summary(store):
    with store.run("score", {"a": 1}, 2) as run:
        assert store.get_run(run.id)["status"] == "running"
        run.add_verdicts([_verdict("1"), _verdict("2")])
        run.summary = {"n": 2}
    row = store.get_run(run.id)
    assert row["status"] == "complete" and row["summary"] == '{"n": 2}' and row["finished_at"]
    assert len(store.verdict_rows(run.id)) == 2


@pytest.mark.parametrize("error", [ValueError("boom"), KeyboardInterrupt()])
def test_a_run_that_raises_is_failed_and_the_error_propagates(store, error):
    with pytest.raises(type(error)):
        with store.run("score", {}, 1) as run:
            run.summary = {"n": 1}
            raise error
    row = store.get_run(run.id)
    assert row["status"] == "failed" and row["summary"] is None


def test_a_run_whose_verdicts_cannot_be_written_is_failed(store):
    store.db.execute("DROP TABLE verdicts")
    with pytest.raises(StoreError, match="no such table: verdicts"):
        with store.run("score", {}, 1) as run:
            run.add_verdicts([_verdict("1")])
    assert store.get_run(run.id)["status"] == "failed"


def test_score_items_marks_a_run_failed_when_writing_its_verdicts_fails(store):
    """The whole scoring path: judgments are cached, the verdicts cannot be stored, the run is failed."""
    items = [BenchmarkItem.model_validate(item("1")), BenchmarkItem.model_validate(item("2", answer="red"))]
    preds = [Prediction(id="1", model="m", prediction="pink"), Prediction(id="2", model="m", prediction="red")]
    store.db.execute("DROP TABLE verdicts")
    with pytest.raises(StoreError):
        score_items(items, preds, store=store, backend=FakeBackend())
    rows = list(store.db["runs"].rows)
    assert [r["status"] for r in rows] == ["failed"] and store.count_judgments() == 2


def test_start_and_finish_run_still_work_for_callers_that_manage_their_own(store):
    run_id = store.start_run("serve:score", {}, 1)
    store.finish_run(run_id, "complete", {"n": 1})
    assert store.get_run(run_id)["status"] == "complete"


def test_a_store_error_while_recording_the_failure_does_not_hide_the_first_error(tmp_path):
    store = Store.open(tmp_path / "j.db")
    with pytest.raises(ValueError, match="the real problem"):
        with store.run("score", {}, 1):
            store.db.execute("DROP TABLE verdicts")
            store.db.execute("ALTER TABLE runs RENAME TO gone")  # finishing the run now fails too
            raise ValueError("the real problem")
    store.close()


def test_sqlite_errors_never_escape_the_store(store):
    store.db.execute("DROP TABLE judgments")
    for call in (lambda: store.get_judgments(["k"]), store.count_judgments,
                 lambda: store.put_judgments([("k", Judgment(score=1.0), {})])):
        with pytest.raises(StoreError):
            call()
    assert not issubclass(StoreError, sqlite3.Error)


# ------------------------------------------------------------------ text UTF-8 cannot hold


def test_a_lone_surrogate_from_a_judge_is_stored_as_a_replacement_character(store):
    """An LLM's reply may decode (from a JSON \\ud800 escape) to text UTF-8 cannot encode."""
    store.put_judgments([("k", Judgment(score=0.0, rationale="红 \ud800 不是粉红", raw_output="x \udfff 🙂"), {})])
    got = store.get_judgments(["k"])["k"]
    assert (got.rationale, got.raw_output) == ("红 \ufffd 不是粉红", "x \ufffd 🙂")
    v = _verdict("1").model_copy(update={"rationale": "bad \ud83d"})
    with store.run("score", {}, 1) as run:
        run.add_verdicts([v])
    assert store.verdict_rows(run.id)[0]["rationale"] == "bad \ufffd"


def test_a_judge_that_replies_with_a_lone_surrogate_does_not_crash_the_run(tmp_path):
    from click.testing import CliRunner

    from judge.cli import cli
    from judge.testing.openai_server import FakeOpenAIServer, verdict

    bench = tmp_path / "b.jsonl"
    bench.write_text(json.dumps(item("1", model="m", prediction="red")) + "\n", encoding="utf-8")
    with FakeOpenAIServer(lambda req: verdict(0.0, "red \ud800 is not pink")) as server:
        result = CliRunner().invoke(cli, ["score", str(bench), "--backend", "openai/fake", "--api-base", server.url,
                                          "--api-key", "sk-fake", "--out", str(tmp_path / "out"),
                                          "--db", str(tmp_path / "j.db")])
    assert result.exit_code == 0, result.output
    (line,) = (tmp_path / "out" / "verdicts.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["rationale"] == "red ? is not pink"
    (row,) = Store.open(tmp_path / "j.db").db["judgments"].rows
    assert row["rationale"] == "red \ufffd is not pink"
