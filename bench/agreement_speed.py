"""Speed and memory of the agreement report on a large synthetic gold set.

Builds N (default 5,000) synthetic rated candidates - seeded, two raters, every ability, every
attribute, three open question types, English and Chinese - scores them with a synthetic judge
(the gold truth with seeded noise, 2 % unscored), then runs ``build_report`` with 1,000 bootstrap
resamples and all slices, and renders the JSON and HTML reports. Prints seconds and peak memory (max RSS: tracemalloc would
slow numpy's many small allocations several-fold and distort the timing).

Usage::

    python bench/agreement_speed.py            # 5,000 candidates, 1,000 resamples
    python bench/agreement_speed.py --n 20000 --n-boot 200
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np

from judge.agreement import JudgedScore, build_report
from judge.models import ABILITIES, ATTRIBUTES, GoldRating

OPEN_TYPES = ("judgment", "fill_blank", "short_answer")
SCALE = np.array([0.0, 0.5, 1.0])


def synthetic_gold(n: int, seed: int = 0) -> tuple[list[GoldRating], np.ndarray]:
    """``n`` candidates with two raters, and the latent true score of each."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(3, size=n, p=[0.35, 0.2, 0.45])
    rows = []
    for i in range(n):
        ability = ABILITIES[i % len(ABILITIES)]
        attribute = ATTRIBUTES[(i // len(ABILITIES)) % len(ATTRIBUTES)] if ability == "attribute_recognition" else None
        ratings: dict[str, float | None] = {}
        for rater in ("r1", "r2"):
            step = rng.choice([-1, 0, 1], p=[0.08, 0.84, 0.08])
            ratings[rater] = float(SCALE[int(np.clip(truth[i] + step, 0, 2))])
        if rng.random() < 0.05:
            ratings["r2"] = None
        zh = rng.random() < 0.3
        rows.append(
            GoldRating.model_validate(
                {
                    "id": f"syn-{i:05d}",
                    "ability": ability,
                    "question_type": OPEN_TYPES[i % len(OPEN_TYPES)],
                    "attribute": attribute,
                    "language": "zh" if zh else "en",
                    "question": "皮损是什么颜色？" if zh else "What colour is the lesion?",
                    "reference": "红色" if zh else "red",
                    "candidate": "红斑" if zh else "a red patch",
                    "ratings": ratings,
                }
            )
        )
    return rows, truth


def synthetic_judge(gold: list[GoldRating], truth: np.ndarray, seed: int = 1) -> list[JudgedScore]:
    """The truth with seeded noise: 75 % right, 2 % unscored, a slight strict lean."""
    rng = np.random.default_rng(seed)
    out = []
    for row, t in zip(gold, truth, strict=True):
        if rng.random() < 0.02:
            out.append(JudgedScore(id=row.id, unscored_reason="unparseable reply"))
            continue
        step = rng.choice([-1, 0, 1], p=[0.15, 0.75, 0.10])
        out.append(JudgedScore(id=row.id, score=float(SCALE[int(np.clip(t + step, 0, 2))]), rationale="synthetic"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="synthetic candidates (default 5000)")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from judge.report import render_html, render_json

    t0 = time.perf_counter()
    gold, truth = synthetic_gold(args.n, args.seed)
    t1 = time.perf_counter()
    judged = synthetic_judge(gold, truth, args.seed + 1)
    t2 = time.perf_counter()
    report = build_report(
        gold,
        {"synthetic": judged},
        gold_path="<synthetic>",
        gold_sha256="-",
        provenance={"synthetic": {"backend": "synthetic"}},
        n_boot=args.n_boot,
        seed=args.seed,
    )
    t3 = time.perf_counter()
    render_json(report)
    render_html(report)
    t4 = time.perf_counter()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    n_slices = len(report.judges[0].slices)
    print(f"candidates {args.n}, resamples {args.n_boot}, slices {n_slices}")
    print(f"gold build       {t1 - t0:7.2f} s")
    print(f"synthetic judge  {t2 - t1:7.2f} s")
    print(f"build_report     {t3 - t2:7.2f} s")
    print(f"render json+html {t4 - t3:7.2f} s")
    print(f"total            {t4 - t0:7.2f} s")
    print(f"peak memory (max RSS of the process, imports included) {rss_mb:.0f} MB")
    print(f"alpha_ordinal {report.alpha_ordinal:.3f}, exact {report.exact_agreement:.3f}, unscored {report.n_unscored}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
