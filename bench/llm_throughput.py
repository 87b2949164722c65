"""Throughput of LLM judging against the local OpenAI-compatible server (no network, no provider).

    python bench/llm_throughput.py [--items 2000] [--latency 0.2] [--concurrency 64]

Prints:

1. items/s scoring ``--items`` open-ended answers through Scorer -> LiteLLMBackend -> litellm ->
   HTTP -> the fake server (a subprocess, so it has its own core) with ``--latency`` seconds per
   reply and ``--concurrency`` calls in flight, and the ratio to the Little's-law bound
   ``concurrency / latency`` (64 / 0.2 s = 320 items/s);
2. with a 0 ms server: items/s of the whole path, of bare ``litellm.acompletion`` calls (same
   concurrency, same prompts), and the difference per item - the overhead of our code (prompt
   rendering, parsing, the cache and the store) - with its parts timed alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from judge.backends.llm import LiteLLMBackend, _lib
from judge.models import Case, Judgment
from judge.parse import parse_verdict
from judge.rubrics import load_rubric, render_messages
from judge.scoring import Scorer, Task
from judge.store import Store
from judge.testing.openai_server import spawn

RUBRIC = load_rubric("clinical/v3")


def make_tasks(n: int, tag: str) -> list[Task]:
    return [
        Task(
            f"{tag}{i}",
            "bench",
            Case(
                question="What color is the lesion?",
                references=["pink"],
                candidate=f"{tag} answer {i}: pink",
                ability="attribute_recognition",
                attribute="color",
            ),
        )
        for i in range(n)
    ]


def score_run(url: str, n: int, concurrency: int, tag: str, db: Path) -> tuple[float, int]:
    """Seconds to score ``n`` fresh answers through the whole path, and how many were scored."""
    backend = LiteLLMBackend("openai/fake-judge", api_base=url, timeout=30, max_retries=2)
    store = Store.open(db)
    scorer = Scorer(backend, RUBRIC, store, concurrency=concurrency)
    scorer.score(make_tasks(min(64, n), f"warm{tag}"))  # litellm sets itself up on the first calls
    tasks = make_tasks(n, tag)
    t = time.perf_counter()
    verdicts = scorer.score(tasks)
    dt = time.perf_counter() - t
    store.close()
    return dt, sum(v.score is not None for v in verdicts)


def bare_litellm(url: str, n: int, concurrency: int) -> float:
    """Seconds for ``n`` bare acompletion calls with the same prompts (pre-rendered)."""
    litellm = _lib()
    msgs = [render_messages(RUBRIC, t.case) for t in make_tasks(n, "bare")]

    async def main() -> float:
        sem = asyncio.Semaphore(concurrency)

        async def one(m: list[dict[str, str]]) -> None:
            async with sem:
                await litellm.acompletion(
                    model="openai/fake-judge",
                    messages=m,
                    api_base=url,
                    api_key="x",
                    num_retries=0,
                    max_retries=0,
                    timeout=30,
                    temperature=0,
                    seed=0,
                    max_tokens=400,
                    drop_params=True,
                )

        await asyncio.gather(*(one(m) for m in msgs[:64]))
        t = time.perf_counter()
        await asyncio.gather(*(one(m) for m in msgs))
        return time.perf_counter() - t

    return asyncio.run(main())


def litellm_cpu_per_call(n: int, concurrency: int) -> float:
    """CPU milliseconds this process spends per bare acompletion call (0 ms server)."""
    with spawn("constant_judge", latency=0.0) as server:
        c0 = time.process_time()
        bare_litellm(server.url, n, concurrency)
        return (time.process_time() - c0) / (n + 64) * 1000


def parts(n: int, db: Path) -> dict[str, float]:
    """Microseconds per item of our code's parts, timed alone."""
    tasks = make_tasks(n, "part")
    t = time.perf_counter()
    for task in tasks:
        render_messages(RUBRIC, task.case)
    render = (time.perf_counter() - t) / n
    reply = '{"rationale": "ok", "score": 1}'
    t = time.perf_counter()
    for _ in range(n):
        parse_verdict(reply)
    parse = (time.perf_counter() - t) / n
    store = Store.open(db)
    j = Judgment(score=1.0, rationale="ok", raw_output=reply)
    prov = {"rubric": "clinical/v3", "rubric_sha": "x", "backend": "openai/fake-judge", "params": {}}
    t = time.perf_counter()
    for i in range(n):
        store.put_judgments([(f"k{i}", j, prov)])  # one committed transaction per judgment, as the Scorer does
    write = (time.perf_counter() - t) / n
    store.close()
    return {"render prompt": render * 1e6, "parse reply": parse * 1e6, "store write (1 txn)": write * 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=1, help="repeat each measurement, report the median")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="llm-bench-"))
    n, c = args.items, args.concurrency
    from importlib.metadata import version

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, litellm {version('litellm')}, "
        f"load average {load:.1f} at start"
    )

    with spawn("constant_judge", latency=args.latency) as server:
        runs = [score_run(server.url, n, c, f"l{r}-", tmp / f"l{r}.db") for r in range(args.repeat)]
        bare_l = statistics.median(bare_litellm(server.url, n, c) for _ in range(args.repeat))
    dt = statistics.median(r[0] for r in runs)
    bound = c / args.latency if args.latency > 0 else float("inf")
    rate = n / dt
    print(f"\n{n} items, {args.latency * 1000:.0f} ms server latency, {c} in flight:")
    print(f"  whole path     {rate:7.1f} items/s  ({dt:.2f} s; scored {runs[0][1]}/{n})")
    print(f"  Little's-law bound {bound:.0f} items/s -> ratio {rate / bound:.2f}")
    print(
        f"  bare litellm   {n / bare_l:7.1f} calls/s -> ratio {n / bare_l / bound:.2f} (acompletion alone, same prompts)"
    )
    print(f"  whole path / bare litellm = {bare_l / dt:.2f}")

    with spawn("constant_judge", latency=0.0) as server:
        whole = statistics.median(
            score_run(server.url, n, c, f"z{r}-", tmp / f"z{r}.db")[0] for r in range(args.repeat)
        )
        bare = statistics.median(bare_litellm(server.url, n, c) for _ in range(args.repeat))
    print(f"\n0 ms server, {n} items, {c} in flight:")
    print(f"  whole path     {n / whole:7.1f} items/s  {whole / n * 1000:6.2f} ms/item")
    print(f"  bare litellm   {n / bare:7.1f} calls/s  {bare / n * 1000:6.2f} ms/call  (acompletion alone)")
    print(f"  our overhead   {(whole - bare) / n * 1000:6.2f} ms/item  (whole path - bare litellm)")
    cpu = litellm_cpu_per_call(n, c)
    print(f"  litellm client CPU {cpu:.2f} ms/call -> one process tops out near {1000 / cpu:.0f} calls/s")
    for name, us in parts(n, tmp / "parts.db").items():
        print(f"    {name:20} {us:7.0f} us/item")


if __name__ == "__main__":
    main()
