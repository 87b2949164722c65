"""Throughput of `judge score` with the embedded judge: cold and warm-cache runs.

    python bench/score_throughput.py [--n 20000]

Builds N short open-ended items (all unique, so the cache cannot dedupe them), scores them
in-process through the same path as `judge score` (Scorer + SQLite store on disk), then
scores them again (every judgment from the cache). Prints items/s, seconds and peak RSS.
Targets: cold >= 5,000 items/s on 2 cores; warm rerun of 20,000 items < 2 s.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from judge.backends import get_backend
from judge.models import BenchmarkItem, Prediction
from judge.score_run import score_items
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


def build(n: int, seed: int = 0) -> tuple[list[BenchmarkItem], list[Prediction]]:
    rng = random.Random(seed)
    items, preds = [], []
    for i in range(n):
        ability, attribute, question, reference, candidates = CASES[i % len(CASES)]
        item_id = f"b{i:06d}"
        items.append(BenchmarkItem(id=item_id, split="test", ability=ability, question_type="short_answer",
                                   question=f"[{i}] {question}", answer=reference, attribute=attribute))
        preds.append(Prediction(id=item_id, model="bench-model", prediction=rng.choice(candidates)))
    return items, preds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="processes for the embedded judge (as `judge score --processes`)")
    args = parser.parse_args()
    items, preds = build(args.n)
    backend = get_backend("local")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "bench.db")
        runs = []
        for label in ("cold", "warm (cached)"):
            t0 = time.perf_counter()
            result = score_items(items, preds, store=store, backend=backend, workers=args.processes)
            dt = time.perf_counter() - t0
            runs.append((label, dt, result))
            print(f"{label:14} {args.n:>6} items  {dt:6.2f} s  {args.n / dt:9.0f} items/s  "
                  f"computed={result.stats['computed']} cached={result.stats['cached']} "
                  f"unscored={result.stats['unscored']}")
        cold = runs[0][2].verdicts
        warm = runs[1][2].verdicts
        same = all(a.score == b.score for a, b in zip(cold, warm, strict=True))
        print(f"processes={args.processes} (cpu count {os.cpu_count()})")
        print(f"warm rerun identical to cold run: {same}")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
