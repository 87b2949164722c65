"""Load test of the HTTP service: `judge serve` in a subprocess, driven from this process.

    python bench/service_load.py                      # 20,000 requests, 64 clients, backend local
    python bench/service_load.py --requests 2000 --workers 2
    python bench/service_load.py --worst-case mcq-zh  # 200 ordinary requests alone, then next to one worst case

What it does, bounded in count (``--requests``) and time (``--max-seconds`` per phase), on
127.0.0.1 only:

1. builds ``--requests`` distinct single-item ``POST /score`` bodies from the bundled sample
   (its open-ended and MCQ answers, each candidate suffixed with a variant number so that no two
   requests share a cache key);
2. starts ``judge serve`` on a free port with a fresh data directory and drives it with
   ``--clients`` concurrent keep-alive connections: a **cold** pass (every request judged) and a
   **warm** pass (the same requests again: all cache hits);
3. scores the very same cases in-process with the library's ``Scorer`` (cold, then warm) and
   prints the ratio of service throughput to in-process throughput.

Prints requests/s, p50/p99 latency and errors per phase.

With ``--worst-case CLASS`` it measures fairness instead: ``--ordinary`` ordinary requests (200)
over ``--clients`` connections, first **alone**, then **together** with one worst-case request
(the largest body of that class the input limits allow, sent first on a connection of its own);
it prints the ordinary requests' p50/p99 in both phases and the worst request's time. Each phase
uses fresh candidates, so nothing comes from the cache.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "medlesion_sample"
sys.path.insert(0, str(ROOT))

from judge.models import BenchmarkItem, Prediction  # noqa: E402


def build_bodies(n: int) -> list[dict[str, Any]]:
    """``n`` distinct /score bodies from the sample benchmark and its predictions."""
    items = {
        it.id: it
        for it in (BenchmarkItem.model_validate_json(line)
                   for line in (SAMPLE / "benchmark.jsonl").read_text(encoding="utf-8").splitlines() if line.strip())
    }
    preds = [
        Prediction.model_validate_json(line)
        for f in sorted((SAMPLE / "predictions").glob("*.jsonl"))
        for line in f.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    bases = []
    for p in preds:
        it = items[p.id]
        body: dict[str, Any] = {"question": it.question, "candidate": p.prediction, "ability": it.ability,
                                "question_type": it.question_type, "language": it.lang}
        if it.attribute:
            body["attribute"] = it.attribute
        if it.question_type == "mcq":
            body.update(options=it.options, answer=it.answer)
        else:
            body["reference"] = it.answer
        bases.append(body)
    bodies = []
    for k in range(n):
        base = bases[k % len(bases)]
        variant = k // len(bases)
        bodies.append({**base, "id": str(k), "candidate": f"{base['candidate']} ({variant})" if variant else base["candidate"]})
    return bodies


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_service(data_dir: Path, port: int, backend: str, workers: int, api_base: str | None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "JUDGE_DATA_DIR": str(data_dir), "JUDGE_MAX_BATCH": "256"}
    env.pop("JUDGE_API_KEYS", None)
    if api_base:
        env.update(JUDGE_API_BASE=api_base, JUDGE_API_KEY="none")
    cmd = [sys.executable, "-m", "judge.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--backend", backend,
           "--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(data_dir.parent / "serve.log", "wb"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"judge serve exited: {(data_dir.parent / 'serve.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("judge serve did not start within 60 s")


async def _connection(host: str, port: int, requests: list[bytes], state: dict[str, Any], deadline: float) -> None:
    """One keep-alive HTTP/1.1 connection sending requests until none are left (a minimal client:
    httpx costs ~3 ms of CPU per request, which on a small machine measures the driver, not the service)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while state["next"] < len(requests) and time.monotonic() < deadline:
            request = requests[state["next"]]
            state["next"] += 1
            t0 = time.perf_counter()
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = next(int(line[15:]) for line in head.split(b"\r\n") if line[:15].lower() == b"content-length:")
                body = await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, StopIteration, ValueError) as exc:
                state["errors"][type(exc).__name__] = state["errors"].get(type(exc).__name__, 0) + 1
                state["latencies"].append(time.perf_counter() - t0)
                writer.close()
                try:
                    reader, writer = await asyncio.open_connection(host, port)
                except OSError:
                    return  # the server is gone: the other connections will say so too
                continue
            state["latencies"].append(time.perf_counter() - t0)
            if status != 200:
                state["errors"][str(status)] = state["errors"].get(str(status), 0) + 1
            elif b'"cached":true' in body:
                state["cached"] += 1
    finally:
        writer.close()


def encode(body: dict[str, Any], port: int) -> bytes:
    """A POST /score request, ready to write."""
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    head = (f"POST /score HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n")
    return head.encode("ascii") + payload


async def drive(port: int, requests: list[bytes], clients: int, max_seconds: float) -> dict[str, Any]:
    """Send every request once over ``clients`` concurrent connections; stop at the deadline."""
    state: dict[str, Any] = {"next": 0, "latencies": [], "errors": {}, "cached": 0}
    deadline = time.monotonic() + max_seconds
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(_connection("127.0.0.1", port, requests, state, deadline) for _ in range(clients)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    latencies = sorted(state["latencies"])
    n = len(latencies)
    return {
        "requests": n, "seconds": wall, "rps": n / wall if wall else 0.0,
        "p50_ms": 1000 * latencies[n // 2] if n else float("nan"),
        "p99_ms": 1000 * latencies[min(n - 1, int(n * 0.99))] if n else float("nan"),
        "mean_ms": 1000 * statistics.fmean(latencies) if n else float("nan"),
        "errors": state["errors"], "cached": state["cached"], "driver_cpu_share": cpu / wall if wall else 0.0,
        "complete": n == len(requests), "latencies": latencies,
    }


WORST_CASES: dict[str, dict[str, Any]] = {
    # the largest single /score bodies of the slowest classes of bench/worst_case.py
    "mcq-en": {"question": "Which lesion is shown?", "options": {"A": "Papule", "B": "Plaque", "C": "Nodule"},
               "answer": "B", "candidate": ("Answer: B. " * 4546)[:50_000]},
    "mcq-zh": {"question": "皮损类型？", "options": {"A": "丘疹", "B": "斑块", "C": "结节", "D": "水疱"}, "answer": "B",
               "candidate": ("答案是B。" * 10_000)[:50_000], "language": "zh"},
    "open-zh": {"question": "皮损是什么颜色？", "reference": "红色", "candidate": ("皮损呈红色边界不清，" * 5000)[:50_000],
                "language": "zh"},
}


async def drive_with_worst(port: int, ordinary: list[bytes], worst: bytes | None, clients: int,
                           max_seconds: float) -> tuple[dict[str, Any], float | None, str]:
    """The ordinary requests over ``clients`` connections, with ``worst`` (if any) sent first on its own."""
    worst_state: dict[str, Any] = {"next": 0, "latencies": [], "errors": {}, "cached": 0}
    deadline = time.monotonic() + max_seconds
    task = None
    if worst is not None:
        task = asyncio.create_task(_connection("127.0.0.1", port, [worst], worst_state, deadline))
        await asyncio.sleep(0.2)  # it is being judged when the ordinary ones start
    result = await drive(port, ordinary, clients, max_seconds)
    if task is not None:
        await task
    worst_s = worst_state["latencies"][0] if worst_state["latencies"] else None
    return result, worst_s, json.dumps(worst_state["errors"]) if worst_state["errors"] else "ok"


def run_worst_case(args: argparse.Namespace) -> None:
    """``--worst-case``: ordinary requests alone, then next to one worst-case request."""
    tmp = Path(tempfile.mkdtemp(prefix="judge-load-"))
    port = free_port()
    bodies = build_bodies(3 * args.ordinary)
    worst_body = WORST_CASES[args.worst_case]
    print(f"{args.ordinary} ordinary requests over {args.clients} clients, worst case {args.worst_case} "
          f"({len(worst_body.get('candidate', ''))} characters), backend {args.backend}, {os.cpu_count()} CPUs")
    proc = start_service(tmp / "data", port, args.backend, args.workers, args.api_base)
    try:
        def phase(k: int, worst: dict[str, Any] | None, label: str) -> None:
            ordinary = [encode(b, port) for b in bodies[k * args.ordinary:(k + 1) * args.ordinary]]
            r, worst_s, worst_status = asyncio.run(
                drive_with_worst(port, ordinary, encode(worst, port) if worst else None, args.clients, args.max_seconds))
            shown = f"  worst case {worst_s:.2f} s ({worst_status})" if worst is not None and worst_s is not None else ""
            errs = sum(r["errors"].values())
            print(f"{label:8} ordinary p50 {r['p50_ms']:8.1f} ms  p99 {r['p99_ms']:8.1f} ms  max "
                  f"{1000 * max(r['latencies'], default=0):8.1f} ms  errors {errs}  ordinary done in {r['seconds']:6.2f} s{shown}", flush=True)

        phase(0, None, "alone")
        phase(1, worst_body, "together")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    shutil.rmtree(tmp, ignore_errors=True)


def in_process(bodies: list[dict[str, Any]], backend: str, api_base: str | None, db: Path) -> tuple[float, float]:
    """Items/s of the library's Scorer on the same cases: cold store, then warm."""
    from judge.backends import get_backend
    from judge.rubrics import load_rubric
    from judge.scoring import Scorer, Task
    from judge.store import Store
    from service.schemas import parse_item

    tasks = []
    for b in bodies:
        item = parse_item(b)
        tasks.append(Task(b["id"], "request", item.to_case(), item.gold_letters()))
    opts = {"api_base": api_base, "api_key": "none"} if api_base else {}
    store = Store.open(db)
    rates = []
    for _ in range(2):
        scorer = Scorer(get_backend(backend, **opts), load_rubric("clinical/v3"), store)
        t0 = time.perf_counter()
        scorer.score(tasks)
        rates.append(len(tasks) / (time.perf_counter() - t0))
    store.close()
    return rates[0], rates[1]


def fmt(phase: str, r: dict[str, Any]) -> str:
    errs = sum(r["errors"].values())
    return (f"{phase:5} {r['requests']:6d} req in {r['seconds']:6.1f} s  {r['rps']:7.0f} req/s  "
            f"p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms  errors {errs}{' ' + json.dumps(r['errors']) if errs else ''}"
            f"  cached {r['cached']}  driver cpu {100 * r['driver_cpu_share']:.0f}%"
            + ("" if r["complete"] else "  (stopped at the time limit)"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20_000, help="Requests per phase.")
    ap.add_argument("--clients", type=int, default=64, help="Concurrent connections.")
    ap.add_argument("--backend", default="local", help="Backend of the service and of the in-process run.")
    ap.add_argument("--api-base", help="For an LLM backend: its server (e.g. the fake OpenAI server).")
    ap.add_argument("--workers", type=int, default=1, help="judge serve --workers.")
    ap.add_argument("--max-seconds", type=float, default=300.0, help="Time limit per phase.")
    ap.add_argument("--skip-in-process", action="store_true", help="Only drive the service.")
    ap.add_argument("--worst-case", choices=sorted(WORST_CASES), help="Fairness: ordinary requests next to this one.")
    ap.add_argument("--ordinary", type=int, default=200, help="With --worst-case: ordinary requests per phase.")
    args = ap.parse_args()
    if args.worst_case:
        run_worst_case(args)
        return

    bodies = build_bodies(args.requests)
    tmp = Path(tempfile.mkdtemp(prefix="judge-load-"))
    port = free_port()
    print(f"{len(bodies)} distinct requests, {args.clients} clients, backend {args.backend}, "
          f"{args.workers} worker(s), {os.cpu_count()} CPUs")
    proc = start_service(tmp / "data", port, args.backend, args.workers, args.api_base)
    results = {}
    try:
        requests = [encode(b, port) for b in bodies]
        for phase in ("cold", "warm"):
            results[phase] = asyncio.run(drive(port, requests, args.clients, args.max_seconds))
            print(fmt(phase, results[phase]), flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if not args.skip_in_process:
        cold, warm = in_process(bodies, args.backend, args.api_base, tmp / "inproc.db")
        print(f"in-process Scorer: cold {cold:8.0f} items/s, warm {warm:8.0f} items/s (same cases, one batch)")
        print(f"service / in-process throughput: cold {results['cold']['rps'] / cold:.3f}, "
              f"warm {results['warm']['rps'] / warm:.3f}")
    print(f"driver peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
