"""Snapshot everything the embedded judge decides, to prove a refactor changed nothing.

Writes, under OUT (a fresh store each time, no cache shared with anything):

* ``gold/<set>.jsonl`` - every verdict of the embedded judge on each bundled gold set;
* ``sample/`` - ``judge score`` on the bundled sample: the printed table and every output file;
* ``robustness/<set>.json`` - ``judge robustness`` on each bundled gold set;
* ``calibrate/draft.yaml`` and ``calibrate/stdout.txt`` - ``judge calibrate`` (embedded backend) on one gold set.

Run ids, timestamps and durations are replaced by placeholders, so two snapshots of the same code are
byte-identical. Usage::

    python scripts/snapshot.py /tmp/before      # on the old commit
    python scripts/snapshot.py /tmp/after       # on the new one
    diff -r /tmp/before /tmp/after && echo identical
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VOLATILE = [
    (re.compile(r'"?run_?id"?\s*[:=]\s*"?[0-9a-f]{16}"?'), "run_id: RUN"),
    (re.compile(r"\brun [0-9a-f]{16}\b"), "run RUN"),
    (re.compile(r"`[0-9a-f]{16}`"), "`RUN`"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:\+00:00|Z)?"), "TIME"),
    (re.compile(r'("(?:seconds|latency_ms|started_at|finished_at|created_at)"\s*:\s*)[0-9.e+-]+'), r"\1T"),
    (re.compile(r"((?:seconds|latency_ms|started_at|finished_at|created_at):\s*)[0-9.e+-]+"), r"\1T"),
    (re.compile(r"/tmp/[^\s\"']+"), "TMP"),
]


HASHES = [
    (re.compile(r'("(?:lexicon_sha|cache_key)"\s*:\s*)"[0-9a-f]*"'), r'\1"HASH"'),
    (re.compile(r"((?:lexicon_sha|cache_key):\s*)[0-9a-f]+"), r"\1HASH"),
]
IGNORE_HASHES = False


def normalise(text: str) -> str:
    text = text.replace(str(ROOT), "ROOT")  # the same tree checked out elsewhere
    for pattern, repl in VOLATILE + (HASHES if IGNORE_HASHES else []):
        text = pattern.sub(repl, text)
    return text


def judge(*args: str, env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "judge.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"judge {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def main() -> None:
    if os.environ.get("PYTHONHASHSEED") != "0":  # set iteration order is part of what is compared: fix it
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--calibrate-gold", default="gold_labels/medlesion_holdout3/gold.jsonl")
    parser.add_argument("--ignore-hashes", action="store_true",
                        help="Leave out the judge's parameters and cache keys (content hashes of its knowledge files), "
                             "for a refactor that moves knowledge between files without changing a decision.")
    args = parser.parse_args()
    global IGNORE_HASHES
    IGNORE_HASHES = args.ignore_hashes
    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    for sub in ("gold", "sample", "robustness", "calibrate"):
        (out / sub).mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix="snapshot-"))
    env = {**os.environ, "JUDGE_DATA_DIR": str(work / "data"), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    golds = sorted((ROOT / "gold_labels").glob("*/gold.jsonl"))

    sys.path.insert(0, str(ROOT))
    from judge.backends import get_backend
    from judge.io import read_gold
    from judge.rubrics import load_rubric
    from judge.scoring import Scorer, gold_tasks
    from judge.store import Store

    for path in golds:
        store = Store.open(":memory:")
        verdicts = Scorer(get_backend("local"), load_rubric("v3"), store).score(gold_tasks(read_gold(path)))
        drop = {"latency_ms", "params", "cache_key"} if args.ignore_hashes else {"latency_ms"}
        lines = [v.model_dump_json(exclude=drop) for v in verdicts]
        (out / "gold" / f"{path.parent.name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        rob = judge("robustness", str(path), "--format", "json", "--n-boot", "200", "--quiet", env=env, cwd=ROOT)
        (out / "robustness" / f"{path.parent.name}.json").write_text(normalise(rob), encoding="utf-8")

    sample = ROOT / "examples" / "medlesion_sample"
    preds = sorted(str(p) for p in (sample / "predictions").glob("*.jsonl"))
    table = judge("score", str(sample / "benchmark.jsonl"), *preds, "--out", str(work / "out"), "--quiet",
                  env=env, cwd=ROOT)
    (out / "sample" / "stdout.txt").write_text(normalise(table), encoding="utf-8")
    for f in sorted((work / "out").iterdir()):
        (out / "sample" / f.name).write_text(normalise(f.read_text(encoding="utf-8")), encoding="utf-8")

    drafts = work / "drafts"
    cal_env = {**env, "JUDGE_RUBRICS_DIR": str(drafts)}
    cal = judge("calibrate", "--rubric", "v3", "--gold", args.calibrate_gold, "--backend", "local", "--seed", "0",
                "--n-boot", "200", "--quiet", env=cal_env, cwd=ROOT)
    (out / "calibrate" / "stdout.txt").write_text(normalise(cal), encoding="utf-8")
    for f in sorted(drafts.rglob("*.yaml")):
        (out / "calibrate" / "draft.yaml").write_text(normalise(f.read_text(encoding="utf-8")), encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
