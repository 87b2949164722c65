"""Worker processes of the embedded judge die with the process that forked them, however it dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import item, write_jsonl

from judge.scoring import PARALLEL_MIN

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _session(sid: int) -> set[int]:
    """Live (not zombie) processes of session ``sid``: a killed parent's orphans keep its session."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state ppid pgrp session ...
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.add(int(entry.name))
    return pids


def _children(pid: int) -> set[int]:
    try:
        return {int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return set()


def _wait_for(predicate, timeout: float, step: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


@pytest.mark.parametrize(("sig", "processes"), [(signal.SIGKILL, 2), (signal.SIGTERM, 500)])
def test_killing_a_multi_process_score_leaves_no_worker_behind(tmp_path, sig, processes):
    """`--processes 500` forks no more workers than there are CPUs (each costs 100-200 MB)."""
    expected = min(processes, os.cpu_count() or 1)
    n = PARALLEL_MIN * 5  # distinct answers: the embedded judge forks its workers for these
    bench = write_jsonl(tmp_path / "b.jsonl", [
        item(f"i{i}", question=f"What color is lesion {i}?", model="m", prediction=f"pink, case {i}")
        for i in range(n)
    ])
    env = {**os.environ, "JUDGE_DATA_DIR": str(tmp_path / "data")}
    cmd = [sys.executable, "-m", "judge.cli", "score", str(bench), "--processes", str(processes), "--quiet",
           "--out", str(tmp_path / "out"), "--db", str(tmp_path / "j.db")]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert _wait_for(lambda: len(_children(proc.pid)) >= expected or proc.poll() is not None, timeout=60), \
            "the run never forked its workers"
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-500:]}"
        workers = _children(proc.pid)
        time.sleep(0.2)
        assert len(_children(proc.pid)) == expected
        os.kill(proc.pid, sig)
        proc.wait(timeout=10)
        assert _wait_for(lambda: not _session(proc.pid), timeout=5), f"left behind: {_session(proc.pid)} (workers {workers})"
        assert not (tmp_path / "out").exists()
    finally:
        for pid in _session(proc.pid):  # never leave an orphan, even when the test fails
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()


def test_without_the_kernel_signal_a_worker_still_notices_its_parent_died(tmp_path):
    """The portable fallback alone (prctl switched off): the worker's watch thread ends it."""
    script = (
        "import os, time\n"
        "import judge.scoring as s\n"
        "s._set_parent_death_signal = lambda sig: False\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    s._die_with_parent(os.getppid())\n"
        "    time.sleep(60)\n"
        "    os._exit(0)\n"
        "print(pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True, stdout=subprocess.PIPE)
    try:
        child = int(proc.stdout.readline())
        assert _session(proc.pid) == {proc.pid, child}
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert _wait_for(lambda: not _session(proc.pid), timeout=5), f"left behind: {_session(proc.pid)}"
    finally:
        for pid in _session(proc.pid):
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
