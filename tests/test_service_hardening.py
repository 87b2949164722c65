"""Hostile input against the service (TestClient): nothing stalls it, metrics stay bounded.

The real-process side (a heavy request next to ordinary ones, slowloris, invented methods over a
socket) is in ``test_service_process.py``.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from _service_fakes import SAMPLE, FakeBackend, running, wait_until

from judge.models import Case, Judgment
from judge.rubrics import Rubric, load_rubric
from judge.scoring import Task
from service import engine as engine_module
from service.engine import LIGHT_CHARS, ScoringEngine
from service.telemetry import Metrics

Q = {"question": "What color is the lesion?", "reference": "pink", "candidate": "pink", "attribute": "color"}
QZ = {"question": "皮损是什么颜色？", "reference": "红色", "candidate": "红色", "language": "zh"}
MCQ = {"question": "Which lesion?", "options": {"A": "Papule", "B": "Plaque"}, "answer": "B", "candidate": "Answer: B"}
MCQZ = {"question": "皮损类型？", "options": {"A": "丘疹", "B": "斑块"}, "answer": "B", "candidate": "答案是B"}
BENCH = SAMPLE / "benchmark.jsonl"
BENCH_LINES = [line for line in BENCH.read_text(encoding="utf-8").splitlines() if line.strip()]
FIRST_ID = json.loads(BENCH_LINES[0])["id"]
SECOND_ID = json.loads(BENCH_LINES[1])["id"]


class SyncBackend:
    """A synchronous backend, like the embedded judge: ``judge_sync`` runs on the lane's thread and
    blocks it. A candidate containing ``HOLD`` blocks until ``gate`` is set, as slow CPU-bound
    judging would."""

    spec = "sync"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.held = threading.Event()
        self.calls = 0

    @property
    def params(self) -> dict[str, Any]:
        return {"engine": "sync-test"}

    def judge_sync(self, case: Case, rubric: Rubric) -> Judgment:
        self.calls += 1
        if "HOLD" in case.candidate:
            self.held.set()
            assert self.gate.wait(30), "the test never released the gate"
        right = case.candidate.strip() in case.references
        return Judgment(score=1.0 if right else 0.0, rationale="exact match" if right else "no match")

    async def judge(self, case: Case, rubric: Rubric) -> Judgment:
        return self.judge_sync(case, rubric)

    async def extract(self, case: Case, rubric: Rubric) -> Judgment:
        return Judgment(score=None, unscored_reason="cannot extract")


def _post_json(client, raw: bytes, path: str = "/score", content_type: str = "application/json"):
    return client.post(path, content=raw, headers={"content-type": content_type})


# ------------------------------------------------------------------------ fair, bounded judging


@pytest.mark.parametrize(
    "heavy",
    [
        {**Q, "candidate": "HOLD " + "the lesion is red " * 2000},  # 36K characters: over LIGHT_CHARS
        {**QZ, "candidate": "HOLD" + "皮损呈红色边界不清，" * 2500},
        {"items": [{**Q, "id": str(i), "candidate": f"HOLD {i} " + "red " * 700} for i in range(8)]},
    ],
    ids=["english", "chinese", "batch of many small items"],
)
def test_a_heavy_request_does_not_hold_ordinary_requests_or_healthz(tmp_path, heavy):
    backend = SyncBackend()
    with running(tmp_path, backend, max_body_bytes=500_000) as client, ThreadPoolExecutor(12) as pool:
        slow = pool.submit(client.post, "/score", json=heavy)
        wait_until(backend.held.is_set)
        t0 = time.monotonic()
        ordinary = [pool.submit(client.post, "/score", json={**(Q if i % 2 else QZ), "id": str(i),
                                                             "candidate": f"pink {i}"}) for i in range(10)]
        replies = [f.result(timeout=15) for f in ordinary]
        health = client.get("/healthz")
        waited = time.monotonic() - t0
        still_running = not slow.done()
        backend.gate.set()
        heavy_reply = slow.result(timeout=15)
    assert still_running  # every ordinary request was answered while the heavy one was being judged
    assert [r.status_code for r in replies] == [200] * 10 and waited < 10
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert heavy_reply.status_code == 200, heavy_reply.text


def test_requests_that_arrive_together_are_batched_up_to_the_light_limit(tmp_path):
    backend = FakeBackend()
    engine = ScoringEngine(tmp_path / "e.db", lambda spec: backend, Metrics())
    engine.start("fake")
    rubric = load_rubric("v3")
    size = LIGHT_CHARS // 2 - 100  # two fit in a batch, three do not

    def tasks(i: int) -> list[Task]:
        return [Task("q", f"request:{i}", Case(question="Q", references=["pink"], candidate=f"{i} " + "x" * size))]

    async def burst() -> list:
        light = engine.lanes["light"].loop
        assert light is not None
        light.call_soon_threadsafe(time.sleep, 0.3)  # keep the lane busy while the burst queues up
        return await asyncio.gather(*(engine.score(tasks(i), rubric, "fake", str(i)) for i in range(5)))

    try:
        outcomes = asyncio.run(burst())
    finally:
        engine.stop()
    runs = [o.run_id for o in outcomes]
    assert runs[0] == runs[1] and runs[2] == runs[3] and len(set(runs)) == 3  # batches of 2, 2 and 1


def test_healthz_tells_the_truth_when_ordinary_requests_wait(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_module, "SATURATED_AFTER_SECONDS", 0.3)
    backend = SyncBackend()
    with running(tmp_path, backend) as client, ThreadPoolExecutor(4) as pool:
        before = client.get("/healthz")
        blocker = pool.submit(client.post, "/score", json={**Q, "candidate": "HOLD"})  # light, but stuck
        wait_until(backend.held.is_set)
        waiting = pool.submit(client.post, "/score", json={**Q, "candidate": "pink", "id": "w"})
        wait_until(lambda: client.app.state.engine.load()["light"]["oldest_wait_seconds"] > 0.4)
        during = client.get("/healthz")
        metrics = client.get("/metrics").text
        backend.gate.set()
        assert blocker.result(15).status_code == 200 and waiting.result(15).status_code == 200
        after = client.get("/healthz")
    assert before.status_code == 200
    assert during.status_code == 503 and during.json() == {
        "status": "degraded", "checks": {"store": True, "scoring": True, "scoring_capacity": False, "jobs": True}}
    assert 'judge_scoring_waiting{lane="light"} 1' in metrics and 'judge_scoring_running{lane="light"} 1' in metrics
    assert after.status_code == 200


def test_a_full_heavy_lane_refuses_more_with_a_503_and_retry_after(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_module, "MAX_HEAVY_WAITING", 1)
    backend = SyncBackend()
    big = "HOLD " + "red " * (LIGHT_CHARS // 4 + 10)
    with running(tmp_path, backend, max_body_bytes=200_000) as client, ThreadPoolExecutor(4) as pool:
        first = pool.submit(client.post, "/score", json={**Q, "candidate": big + "1"})
        wait_until(backend.held.is_set)  # judged now: no longer waiting
        second = pool.submit(client.post, "/score", json={**Q, "candidate": big + "2"})
        wait_until(lambda: client.app.state.engine.load()["heavy"]["waiting"] == 1)
        third = client.post("/score", json={**QZ, "candidate": "红色" * (LIGHT_CHARS // 2 + 10)})
        light = client.post("/score", json=Q)  # ordinary requests are not refused
        metrics = client.get("/metrics").text
        backend.gate.set()
        assert first.result(15).status_code == 200 and second.result(15).status_code == 200
    assert third.status_code == 503 and third.headers["retry-after"] == "5"
    assert "busy with 1 large requests" in third.json()["detail"] and third.json()["request_id"]
    assert light.status_code == 200
    assert 'judge_scoring_refused_total{lane="heavy"} 1' in metrics


# --------------------------------------------------------------------------- bounded metrics


def test_metrics_stay_bounded_whatever_methods_and_paths_clients_invent(tmp_path):
    with running(tmp_path) as client:
        client.post("/score", json=Q)
        baseline = client.get("/metrics").text
        for i in range(1_000):
            client.request(f"X{i}Y", "/score")
            client.request(f"M{i}", f"/no/such/{i}/path")
            client.get(f"/jobs/{i:016x}")
            client.get(f"/rubrics/v{i}")
        text = client.get("/metrics").text
    labels = set(re.findall(r'(route|method|status)="([^"]*)"', text))
    assert {v for k, v in labels if k == "method"} <= {"GET", "POST", "other"}
    assert {v for k, v in labels if k == "route"} <= {"/score", "/jobs/{job_id}", "/rubrics/{version:path}",
                                                      "/metrics", "unmatched"}
    assert {v for k, v in labels if k == "status"} <= {"200", "404", "405"}
    assert len(text) < len(baseline) + 12_000  # a few new series, not 4,000
    assert 'judge_http_requests_total{route="/score",method="other",status="405"} 1000' in text
