"""`judge score` with an LLM backend against the local server: the bundled sample, env vars, cache
and resume, and a run killed with SIGKILL mid-way that loses nothing and repeats no finished call."""

from __future__ import annotations

import importlib.util
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from judge.cli import cli
from judge.store import Store
from judge.testing.openai_server import ChatRequest, FakeOpenAIServer, verdict
from tests.conftest import ROOT, item, write_jsonl

SAMPLE = ROOT / "examples" / "medlesion_sample"
BENCH = SAMPLE / "benchmark.jsonl"
PREDS = SAMPLE / "predictions" / "vlm_concise.jsonl"


@pytest.fixture
def server():
    with FakeOpenAIServer() as s:
        yield s


def score(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["score", *args], env=env, catch_exceptions=False)


@pytest.mark.skipif(not BENCH.is_file(), reason="sample data not bundled")
def test_score_sample_against_the_local_server(server, tmp_path):
    server.key = lambda req: f"{req.block('question')}|{req.candidate}"  # some answers recur across items
    db, out = str(tmp_path / "j.db"), str(tmp_path / "out")
    args = [str(BENCH), str(PREDS), "--db", db, "--out", out, "--quiet"]
    res = score(*args, "--backend", "openai/fake-judge", "--api-base", server.url)
    assert res.exit_code == 0, res.output
    assert "vlm-concise" in res.output and "backend openai/fake-judge" in res.output
    assert "LLM usage:" in res.output and "cost unknown" in res.output, res.output[-600:]
    first = server.total
    assert first > 0 and all(n == 1 for n in server.counts.values())
    rows = Store.open(db).db["verdicts"].count
    assert rows == 84
    # a rerun calls the provider for nothing: every judgment comes from the cache
    res = score(*args, "--backend", "openai/fake-judge", "--api-base", server.url)
    assert res.exit_code == 0 and server.total == first
    assert "0 judged now" in res.output and "LLM usage" not in res.output


@pytest.mark.skipif(importlib.util.find_spec("judge.backends.local") is None, reason="embedded judge not built yet")
@pytest.mark.skipif(not BENCH.is_file(), reason="sample data not bundled")
def test_switching_to_local_needs_no_other_change(tmp_path):
    res = score(
        str(BENCH), str(PREDS), "--db", str(tmp_path / "j.db"), "--out", str(tmp_path / "o"), "--backend", "local"
    )
    assert res.exit_code == 0, res.output


def _bench(tmp_path: Path, n: int) -> Path:
    rows = [item(f"q{i:03d}", answer="pink", prediction=f"candidate {i:03d}", model="vlm") for i in range(n)]
    return write_jsonl(tmp_path / "bench.jsonl", rows)


def test_api_base_from_env_and_rerun_fills_only_what_is_missing(server, tmp_path):
    bench, db = _bench(tmp_path, 12), str(tmp_path / "j.db")
    env = {"JUDGE_API_BASE": server.url}
    args = [str(bench), "--backend", "openai/fake-judge", "--db", db, "--out", str(tmp_path / "o"), "--quiet"]
    assert score(*args, env=env).exit_code == 0
    assert server.total == 12
    store = Store.open(db)
    keys = [r["cache_key"] for r in store.db["judgments"].rows][:3]
    with store.db.conn:
        for k in keys:
            store.db["judgments"].delete(k)
    res = score(*args, env=env)
    assert res.exit_code == 0 and "3 judged now (3 distinct) + 9 from cache" in res.output
    assert server.total == 15


def test_missing_key_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    bench = _bench(tmp_path, 2)
    res = score(str(bench), "--backend", "openai/gpt-4o", "--db", str(tmp_path / "j.db"), "--out", str(tmp_path))
    assert res.exit_code == 2
    assert res.output.strip() == (
        "Error: no API key for openai/gpt-4o: set OPENAI_API_KEY (or JUDGE_API_KEY / --api-key), or use --backend local"
    )


def test_a_jury_from_the_command_line(server, tmp_path):
    bench = _bench(tmp_path, 6)
    res = score(
        str(bench),
        "--backend",
        "openai/a",
        "--backend",
        "openai/b",
        "--backend",
        "openai/c",
        "--api-base",
        server.url,
        "--db",
        str(tmp_path / "j.db"),
        "--out",
        str(tmp_path / "o"),
        "--quiet",
    )
    assert res.exit_code == 0, res.output
    assert "backend jury(openai/a,openai/b,openai/c)" in res.output
    assert "Inter-judge agreement on 6 open-ended answers (3 judges)" in res.output
    assert server.total == 18


def _stored_candidates(db: Path) -> set[str]:
    if not db.exists():
        return set()
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return {r[0].removeprefix("judged ") for r in con.execute("select rationale from judgments")}
        finally:
            con.close()
    except sqlite3.OperationalError:  # the table is not created yet
        return set()


def test_sigkill_mid_run_then_resume_loses_nothing_and_repeats_nothing(tmp_path):
    n, concurrency = 60, 4

    def judge_fn(req: ChatRequest) -> str:
        return verdict(1, f"judged {req.candidate}")

    bench, db = _bench(tmp_path, n), tmp_path / "j.db"
    with FakeOpenAIServer(judge_fn, latency=0.1) as server:
        cmd = [
            sys.executable,
            "-m",
            "judge.cli",
            "score",
            str(bench),
            "--backend",
            "openai/fake-judge",
            "--api-base",
            server.url,
            "--db",
            str(db),
            "--out",
            str(tmp_path / "o"),
            "--concurrency",
            str(concurrency),
            "--quiet",
        ]
        env = {**os.environ, "JUDGE_DATA_DIR": str(tmp_path / "data")}
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(_stored_candidates(db)) < 12 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        before = _stored_candidates(db)
        assert 12 <= len(before) < n, "the run was not killed mid-way"
        requested_before = server.total

        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        after = _stored_candidates(db)
        assert after == {f"candidate {i:03d}" for i in range(n)}  # every verdict is there
        for cand in before:
            assert server.counts[cand] == 1, f"{cand} finished before the kill but was asked again"
        # only the calls in flight at the kill were repeated
        assert server.total - n <= concurrency
        assert requested_before - len(before) <= concurrency
    assert f"{n - len(before)} judged now ({n - len(before)} distinct) + {len(before)} from cache" in done.stdout
