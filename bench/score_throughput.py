"""Throughput and memory of `judge score` with the embedded judge: cold and warm-cache runs.

    python bench/score_throughput.py [--n 20000] [--models 1] [--processes N] [--keep DIR]

Writes a benchmark of N short open-ended items (all unique, so the cache cannot dedupe them) and
``--models`` prediction files to a scratch folder, scores them through the same path as `judge
score` (files validated in one streaming pass, scored a chunk at a time, SQLite store on disk,
verdicts.jsonl and the tables written), then scores them again (every judgment from the cache).
Prints items/s, seconds and the peak RSS of this process (the forked judge workers have their own).
Targets: cold >= 5,000 items/s on 2 cores; peak RSS flat from 20,000 to 1,000,000 answers, under 600 MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from judge.backends import get_backend
from judge.score_run import score_files, write_outputs
from judge.store import Store

CASES = [
    ("attribute_recognition", "color", "What color is the lesion?", "pink", ["pink", "skin tone", "red", "not pink", "粉红色", "brown"]),
    ("attribute_recognition", "size", "How large is the papule?", "pinpoint", ["about 1 mm", "pinpoint", "5 mm", "1 cm", "针尖大小"]),
    ("attribute_recognition", "boundary", "Describe the border.", "well-defined", ["sharply demarcated", "ill-defined", "clear border"]),
    ("location_recognition", None, "Where is the lesion?", "dorsum of the left hand", ["back of the left hand", "left hand", "right hand", "palm"]),
    ("disease_diagnosis", None, "What is the most likely diagnosis?", "psoriasis", ["plaque psoriasis", "eczema", "psoriasis or eczema", "银屑病"]),
    ("lesion_recognition", None, "What type of primary lesion is shown?", "vesicle", ["vesicles", "a small blister", "papule", "bulla"]),
    ("suggestion_treatment", None, "What should the patient do?", "see a dermatologist for a biopsy", ["get a biopsy", "apply moisturizer", "see a dermatologist"]),
]


def write_inputs(folder: Path, n: int, models: int, seed: int = 0) -> tuple[Path, list[Path]]:
    """A benchmark of ``n // models`` items and ``models`` prediction files: ``n`` answers in all."""
    rng = random.Random(seed)
    n_items = max(1, n // models)
    bench = folder / "benchmark.jsonl"
    with bench.open("w", encoding="utf-8") as fh:
        for i in range(n_items):
            ability, attribute, question, reference, _ = CASES[i % len(CASES)]
            item = {"id": f"b{i:07d}", "split": "test", "ability": ability, "question_type": "short_answer",
                    "question": f"[{i}] {question}", "answer": reference}
            if attribute:
                item["attribute"] = attribute
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    preds = []
    for m in range(models):
        path = folder / f"model{m}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for i in range(n_items):
                answer = rng.choice(CASES[i % len(CASES)][4])
                fh.write(json.dumps({"id": f"b{i:07d}", "model": f"model-{m}", "prediction": answer},
                                    ensure_ascii=False) + "\n")
        preds.append(path)
    return bench, preds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="answers in all")
    parser.add_argument("--models", type=int, default=1, help="prediction files (the benchmark has n / models items)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="processes for the embedded judge (as `judge score --processes`)")
    parser.add_argument("--keep", type=Path, help="keep the outputs of the cold run here (to compare verdicts)")
    args = parser.parse_args()
    backend = get_backend("local")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bench, preds = write_inputs(folder, args.n, args.models)
        store = Store.open(folder / "bench.db")
        print(f"{args.n} answers ({args.n // args.models} items x {args.models} models), "
              f"processes={args.processes} (cpu count {os.cpu_count()})")
        for label in ("cold", "warm (cached)"):
            out = args.keep if args.keep and label == "cold" else folder / "out"
            t0 = time.perf_counter()
            result = score_files(bench, preds, store=store, backend=backend, workers=args.processes, out_dir=out)
            write_outputs(result, out)
            dt = time.perf_counter() - t0
            s = result.stats
            print(f"{label:14} {args.n:>8} answers  {dt:7.2f} s  {args.n / dt:9.0f} items/s  "
                  f"computed={s.computed} cached={s.cached} unscored={s.unscored}")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
