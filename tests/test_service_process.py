"""A real ``judge serve`` process on a free 127.0.0.1 port, called with httpx.

The judge behind it is the embedded ``local`` backend, or an LLM backend pointed at the
project's fake OpenAI-compatible server (run in this process), so the real litellm path runs
inside the service. Every wait has a deadline and the process is always stopped.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from _service_fakes import KEY, SAMPLE, judge_serve

from judge.testing.openai_server import FakeOpenAIServer

LOCAL_ENV = {"JUDGE_BACKEND": "local", "JUDGE_MAX_BODY_BYTES": "200000", "JUDGE_MAX_BATCH": "16"}
AUTH = {"Authorization": f"Bearer {KEY}"}
Q = {"question": "What color is the lesion?", "reference": "pink", "candidate": "salmon pink", "attribute": "color"}


def _wait_job(client: httpx.Client, job_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(f"/jobs/{job_id}").json()
        if status["state"] in ("complete", "failed"):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} not finished in {timeout} s: {status}")
        time.sleep(0.1)


def _upload(client: httpx.Client, preds: list[Path]) -> httpx.Response:
    bench = SAMPLE / "benchmark.jsonl"
    files = [("benchmark", (bench.name, bench.read_bytes()))] + [("predictions", (p.name, p.read_bytes())) for p in preds]
    return client.post("/jobs", files=files)


def _llm_env(server: FakeOpenAIServer) -> dict[str, str]:
    return {"JUDGE_BACKEND": "openai/judge", "JUDGE_API_BASE": server.url, "JUDGE_API_KEY": "none",
            "JUDGE_MAX_BODY_BYTES": "200000", "JUDGE_MAX_BATCH": "16"}


def test_judge_serve_answers_limits_and_restarts_without_losing_anything(tmp_path):
    data = tmp_path / "data"
    env = LOCAL_ENV
    with judge_serve(data, **env) as (url, proc), httpx.Client(base_url=url, timeout=30.0) as client:
        assert client.post("/score", json=Q).status_code == 401
        first = client.post("/score", json=Q, headers=AUTH)
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["score"] == 1.0 and body["backend"] == "local" and body["cached"] is False
        assert client.post("/score", json=Q, headers=AUTH).json()["cached"] is True
        batch = client.post("/score", json={"items": [{**Q, "id": str(i), "candidate": c} for i, c in enumerate(["pink", "blue"] * 8)]},
                            headers=AUTH)
        assert batch.status_code == 200 and [r["score"] for r in batch.json()["results"]] == [1.0, 0.0] * 8

        # bad input, over a real socket
        assert client.post("/score", content=b"{", headers={**AUTH, "content-type": "application/json"}).status_code == 422
        big = client.post("/score", content=b"x" * 10_000_000, headers={**AUTH, "content-type": "application/json"})
        assert big.status_code == 413 and "200000 bytes" in big.json()["detail"]

        def chunks() -> Iterator[bytes]:
            for _ in range(160):
                yield b" " * 65536

        streamed = client.post("/score", content=chunks(), headers={**AUTH, "content-type": "application/json"})
        assert streamed.status_code == 413
        assert client.post("/score", json={"items": [Q] * 17}, headers=AUTH).status_code == 413
        assert client.post("/score", json={**Q, "rubric": "v1"}, headers=AUTH).status_code == 403

        client.headers.update(AUTH)
        job = _upload(client, [SAMPLE / "predictions" / "vlm_concise.jsonl"])
        assert job.status_code == 202, job.text
        done = _wait_job(client, job.json()["id"])
        assert done["state"] == "complete"
        table = client.get(f"/jobs/{done['id']}/table", params={"format": "markdown"}).text
        metrics = client.get("/metrics").text
        assert 'judge_http_requests_total{route="/score",method="POST",status="413"} 3' in metrics
        # a clean stop (SIGTERM) ...
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after its shutdown
        log = next(data.parent.glob("serve-*.log")).read_text()
        assert "Traceback" not in log

    # ... and a restart on the same data directory: everything is still there
    with judge_serve(data, **env) as (url, _), httpx.Client(base_url=url, timeout=30.0, headers=AUTH) as client:
        again = client.get(f"/jobs/{done['id']}").json()
        assert again == done
        assert client.get(f"/jobs/{done['id']}/table", params={"format": "markdown"}).text == table
        assert client.post("/score", json=Q).json()["cached"] is True


def test_an_llm_backed_job_survives_kill_9_and_resumes_without_redoing_finished_work(tmp_path):
    data = tmp_path / "data"
    with FakeOpenAIServer(latency=0.02) as server:
        env = {**_llm_env(server), "JUDGE_CONCURRENCY": "1"}
        with judge_serve(data, **env) as (url, proc), httpx.Client(base_url=url, timeout=30.0, headers=AUTH) as client:
            job_id = _upload(client, [SAMPLE / "predictions" / "vlm_verbose.jsonl"]).json()["id"]
            deadline = time.monotonic() + 30
            while server.stats()["total"] < 10:
                assert time.monotonic() < deadline, "the job never started"
                time.sleep(0.02)
            proc.kill()  # SIGKILL: no shutdown handler runs
            proc.wait(timeout=10)
        first_counts = dict(server.stats()["counts"])
        with judge_serve(data, **env) as (url, _), httpx.Client(base_url=url, timeout=30.0, headers=AUTH) as client:
            done = _wait_job(client, job_id, timeout=60)
            verdicts = [json.loads(line) for line in client.get(f"/jobs/{job_id}/results").text.splitlines()]
            counts = dict(server.stats()["counts"])
            server.reset()
            replies = asyncio.run(_burst(url, 12))  # concurrent requests share one backend and its bound
            in_flight = server.stats()["max_in_flight"]
    assert done["state"] == "complete" and done["attempts"] == 2 and len(verdicts) == done["progress"]["total"]
    redone = [k for k, n in counts.items() if n > 1 and first_counts.get(k, 0) >= 1]
    assert len(redone) <= 1, redone  # at most the one call in flight at the kill is asked again
    assert all(r.status_code == 200 and r.json()["score"] == 1.0 for r in replies)
    assert {r.json()["backend"] for r in replies} == {"openai/judge"}
    assert in_flight == 1  # JUDGE_CONCURRENCY=1 holds across the 12 concurrent requests


async def _burst(url: str, n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=30.0, headers=AUTH) as client:
        return await asyncio.gather(*(client.post("/score", json={**Q, "candidate": f"pink {i}"}) for i in range(n)))


def test_two_worker_processes_share_the_store_and_run_each_job_once(tmp_path):
    data = tmp_path / "data"
    with judge_serve(data, "--workers", "2", **LOCAL_ENV) as (url, _), \
            httpx.Client(base_url=url, timeout=30.0, headers=AUTH) as client:
        replies = [client.post("/score", json={**Q, "candidate": f"pink {i}"}) for i in range(20)]
        ids = [_upload(client, [SAMPLE / "predictions" / "text_only.jsonl"]).json()["id"] for _ in range(3)]
        states = [_wait_job(client, job_id) for job_id in ids]
    assert all(r.status_code == 200 for r in replies)
    assert all(s["state"] == "complete" and s["attempts"] == 1 for s in states)


# ------------------------------------------------------------------------------- hostile clients

MCQ_Q = {"question": "Which lesion is shown?", "options": {"A": "Papule", "B": "Plaque", "C": "Nodule"}, "answer": "B"}


def _timed_posts(url: str, bodies: list[dict]) -> list[tuple[int, float]]:
    """POST each body in turn on its own connection; ``(status, seconds)`` per request."""
    out = []
    with httpx.Client(base_url=url, timeout=60.0, headers=AUTH) as client:
        for body in bodies:
            t0 = time.perf_counter()
            status = client.post("/score", json=body).status_code
            out.append((status, time.perf_counter() - t0))
    return out


def test_a_worst_case_request_does_not_stall_ordinary_ones(tmp_path):
    # the attacker's request (55 KB of "Answer: B. ") is refused by the limits at once; the largest one the
    # limits allow is judged on the heavy lane while ordinary requests and /healthz keep being answered
    over = {**MCQ_Q, "candidate": "Answer: B. " * 5000}
    heavy = {**MCQ_Q, "candidate": "Answer: B. " * 3000}  # 33,000 characters: over the light lane's 20,000
    ordinary = [{**Q, "candidate": f"pink {i}"} if i % 2 else {**MCQ_Q, "candidate": f"答案是B ({i})"} for i in range(40)]
    env = {"JUDGE_BACKEND": "local"}
    with judge_serve(tmp_path / "data", **env) as (url, _), httpx.Client(base_url=url, timeout=60.0,
                                                                           headers=AUTH) as client:
        refused = client.post("/score", json=over)
        with ThreadPoolExecutor(2) as pool:
            started = time.perf_counter()
            slow = pool.submit(client.post, "/score", json=heavy)
            time.sleep(0.2)  # the heavy request is being judged
            fast = _timed_posts(url, ordinary)
            health = [httpx.get(f"{url}/healthz", timeout=10).status_code for _ in range(3)]
            ordinary_done = time.perf_counter() - started
            heavy_reply = slow.result(timeout=300)
            heavy_seconds = time.perf_counter() - started
    assert refused.status_code == 422 and "body.candidate" in refused.json()["detail"]
    assert "50000" in refused.json()["detail"]
    assert heavy_reply.status_code == 200, heavy_reply.text
    assert [s for s, _ in fast] == [200] * len(ordinary) and health == [200] * 3
    slowest = max(t for _, t in fast)
    assert slowest < 2.0, (slowest, heavy_seconds)  # before the lanes: each waited for the whole heavy request
    print(f"heavy {heavy_seconds:.2f} s; {len(fast)} ordinary done after {ordinary_done:.2f} s, slowest {slowest:.3f} s")


def _stall(port: int, head: bytes, part: bytes) -> socket.socket:
    """A connection that sends ``head`` and ``part`` of a body, then nothing."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(head + part)
    return s


def test_stalled_and_slow_clients_do_not_hold_the_service(tmp_path):
    # uvicorn waits for a stalled body (or headers) as long as the connection stays open; each such
    # connection costs a coroutine and a buffer, and holds nothing else: not a store connection, not a lane
    with judge_serve(tmp_path / "data", **LOCAL_ENV) as (url, _), \
            httpx.Client(base_url=url, timeout=10.0, headers=AUTH) as client:
        port = int(url.rsplit(":", 1)[1])
        auth = f"Authorization: Bearer {KEY}\r\n".encode()
        boundary = b"zzzz"
        multipart = (b"POST /jobs HTTP/1.1\r\nHost: x\r\n" + auth
                     + b"Content-Type: multipart/form-data; boundary=" + boundary + b"\r\nContent-Length: 100000\r\n\r\n")
        score = b"POST /score HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
        held = [_stall(port, multipart, b"--zzzz\r\nContent-Disposition: form-data; name=\"benchmark\"; "
                                        b"filename=\"b.jsonl\"\r\n\r\n{\"id\": ") for _ in range(12)]
        held += [_stall(port, score, b'{"question": "What col') for _ in range(12)]
        held += [_stall(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", b"a" * 100) for _ in range(4)]
        try:
            time.sleep(0.5)
            t0 = time.perf_counter()
            answers = [
                client.get("/jobs").status_code,
                client.get("/healthz").status_code,
                client.post("/score", json=Q).status_code,
                _upload(client, [SAMPLE / "predictions" / "text_only.jsonl"]).status_code,
                client.get("/metrics").status_code,
            ]
            seconds = time.perf_counter() - t0
        finally:
            for s in held:
                s.close()
    assert answers == [200, 200, 200, 202, 200]
    assert seconds < 5.0  # before: 12 stalled uploads held the 8 pooled store connections, and GET /jobs waited 30 s


def test_invented_methods_over_a_socket_keep_metrics_bounded(tmp_path):
    with judge_serve(tmp_path / "data", **LOCAL_ENV) as (url, _), \
            httpx.Client(base_url=url, timeout=10.0, headers=AUTH) as client:
        port = int(url.rsplit(":", 1)[1])
        before = len(client.get("/metrics").text)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            reader = s.makefile("rb")
            for i in range(400):
                s.sendall(f"M{i}X /score{'/x' * (i % 3)} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    head += reader.readline()
                length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE).group(1))
                reader.read(length)
        text = client.get("/metrics").text
    methods = set(re.findall(r'method="([^"]*)"', text))
    assert methods <= {"GET", "POST", "other"} and "other" in methods
    assert len(text) < before + 8_000
