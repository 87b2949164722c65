"""A fake judge backend and helpers shared by the service tests (not a test module)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from judge.errors import BackendError
from judge.models import Case, Judgment
from judge.rubrics import Rubric
from judge.settings import Settings
from service.app import create_app


class FakeBackend:
    """Scores by text overlap; ``UNSCORABLE`` in a candidate -> unscored, ``BOOM`` -> BackendError,
    ``CRASH`` -> RuntimeError. Can be gated (``gate``) to hold judgments until released."""

    def __init__(self, spec: str = "fake", gate: threading.Event | None = None, free_calls: int = 0) -> None:
        self.spec = spec
        self.calls = 0
        self.gate = gate
        self.free_calls = free_calls
        """Calls that pass before the gate starts holding them."""
        self.held = threading.Event()
        """Set once a call is held at the gate."""
        self._lock = threading.Lock()

    @property
    def params(self) -> dict[str, Any]:
        return {"model": f"{self.spec}-model-1"}

    async def judge(self, case: Case, rubric: Rubric) -> Judgment:
        with self._lock:
            self.calls += 1
            n = self.calls
        if self.gate is not None and n > self.free_calls:
            self.held.set()
            while not self.gate.is_set():
                await asyncio.sleep(0.01)
        text = case.candidate.strip().lower()
        if "BOOM" in case.candidate:
            raise BackendError("fake provider down", model=self.spec, status=503, retry_after=7)
        if "CRASH" in case.candidate:
            raise RuntimeError("secret internal detail /etc/passwd")
        if "UNSCORABLE" in case.candidate:
            return Judgment(score=None, unscored_reason="fake: cannot read the answer", raw_output=case.candidate)
        refs = [r.lower() for r in case.references]
        if text in refs:
            return Judgment(score=1.0, rationale="matches the reference", latency_ms=1.0)
        if any(set(text.split()) & set(r.split()) for r in refs):
            return Judgment(score=0.5, rationale="partly matches", latency_ms=1.0)
        return Judgment(score=0.0, rationale="does not match", latency_ms=1.0)

    async def extract(self, case: Case, rubric: Rubric) -> Judgment:
        with self._lock:
            self.calls += 1
        return Judgment(score=None, unscored_reason="fake backend cannot extract options")


def make_settings(tmp_path: Any, **overrides: Any) -> Settings:
    """Settings for a test app: its own data dir, small limits."""
    values: dict[str, Any] = {"data_dir": tmp_path / "data", "max_batch": 8, "max_body_bytes": 64_000}
    values.update(overrides)
    return Settings(**values)


KEY = "process-test-key"
"""The API key of a ``judge serve`` started by :func:`judge_serve` (unless ``JUDGE_API_KEYS`` is passed)."""
START_TIMEOUT = 45.0
ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "medlesion_sample"


@contextmanager
def running(
    tmp_path: Any, backend: Any = None, factory: Any = None, poll: float = 0.05, **overrides: Any
) -> Iterator[TestClient]:
    """A started test app (lifespan run) with a fake backend; server errors become 500 replies."""
    app = create_app(
        make_settings(tmp_path, **overrides), backend=backend if backend is not None else FakeBackend(),
        backend_factory=factory, job_poll_seconds=poll,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, every: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value {value!r})")
        time.sleep(every)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def judge_serve(data_dir: Path, *args: str, **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start ``judge serve`` and wait for /healthz; always stop it (SIGTERM, then SIGKILL)."""
    port = _free_port()
    log_path = data_dir.parent / f"serve-{port}.log"
    full_env = {**os.environ, "JUDGE_DATA_DIR": str(data_dir), "JUDGE_API_KEYS": KEY, **env}
    cmd = [sys.executable, "-m", "judge.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
           "--log-level", "warning", *args]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"judge serve exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"judge serve did not answer in {START_TIMEOUT} s:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
