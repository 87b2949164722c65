#!/usr/bin/env python3
"""Validate the maintainers' gold set and the bundled sample benchmark; print counts.

Stdlib only. Usage (from anywhere):
    python gold_labels/medlesion_maintainers/check_counts.py
Exits non-zero if a check fails.
"""
import collections
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GOLD = os.path.join(HERE, "gold.jsonl")
SAMPLE = os.path.join(ROOT, "examples", "medlesion_sample")

ABILITIES = ["lesion_recognition", "location_recognition", "attribute_recognition",
             "spatial_relation", "lesion_reasoning", "disease_diagnosis", "suggestion_treatment"]
OPEN_TYPES = ["judgment", "fill_blank", "short_answer"]
ATTRIBUTES = ["color", "size", "shape", "quantity", "distribution", "boundary"]
LANGS = ["en", "zh"]
SCORES = {0, 0.5, 1.0}

errors = []


def err(msg):
    errors.append(msg)


def load(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                err(f"{path}:{n}: empty line")
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                err(f"{path}:{n}: {e}")
    return rows


def is_ref(x):
    return (isinstance(x, str) and x.strip()) or (
        isinstance(x, list) and x and all(isinstance(s, str) and s.strip() for s in x))


def table(title, counter, order=None, total=None):
    keys = order if order else sorted(counter, key=str)
    total = total or sum(counter.values())
    print(f"\n{title}")
    for k in keys:
        v = counter.get(k, 0)
        print(f"  {str(k):24s} {v:4d}  ({100.0 * v / total:4.1f}%)")


def check_gold():
    rows = load(GOLD)
    req = {"id", "ability", "question_type", "language", "question", "reference", "candidate", "ratings"}
    seen = set()
    for r in rows:
        rid = r.get("id")
        keys = set(r)
        if not (req <= keys and keys <= req | {"attribute"}):
            err(f"gold {rid}: keys {sorted(keys)}")
        if rid in seen:
            err(f"gold: duplicate id {rid}")
        seen.add(rid)
        if r.get("ability") not in ABILITIES:
            err(f"gold {rid}: ability {r.get('ability')}")
        if r.get("question_type") not in OPEN_TYPES:
            err(f"gold {rid}: question_type {r.get('question_type')}")
        if "attribute" in r and r["attribute"] not in ATTRIBUTES:
            err(f"gold {rid}: attribute {r['attribute']}")
        if r.get("language") not in LANGS:
            err(f"gold {rid}: language {r.get('language')}")
        if not (isinstance(r.get("question"), str) and r["question"].strip()):
            err(f"gold {rid}: question")
        if not is_ref(r.get("reference")):
            err(f"gold {rid}: reference")
        if not isinstance(r.get("candidate"), str):
            err(f"gold {rid}: candidate")
        rat = r.get("ratings")
        if not (isinstance(rat, dict) and list(rat) == ["maintainers"] and rat["maintainers"] in SCORES
                and not isinstance(rat["maintainers"], bool)):
            err(f"gold {rid}: ratings {rat}")
    n = len(rows)
    ab = collections.Counter(r.get("ability") for r in rows)
    qt = collections.Counter(r.get("question_type") for r in rows)
    at = collections.Counter(r.get("attribute") for r in rows if "attribute" in r)
    lg = collections.Counter(r.get("language") for r in rows)
    sc = collections.Counter(float(r["ratings"]["maintainers"]) for r in rows if isinstance(r.get("ratings"), dict))
    qs = len({(r.get("language"), r.get("question"), json.dumps(r.get("reference"), ensure_ascii=False)) for r in rows})
    if n < 300:
        err(f"gold: only {n} candidates")
    for a in ABILITIES:
        if ab[a] < 30:
            err(f"gold: ability {a} has {ab[a]} < 30")
    for t in OPEN_TYPES:
        if qt[t] < 60:
            err(f"gold: question_type {t} has {qt[t]} < 60")
    for a in ATTRIBUTES:
        if at[a] < 15:
            err(f"gold: attribute {a} has {at[a]} < 15")
    print(f"== gold.jsonl: {n} candidates, {qs} distinct questions")
    table("ability", ab, ABILITIES, n)
    table("question_type", qt, OPEN_TYPES, n)
    table("attribute (tagged candidates)", at, ATTRIBUTES, n)
    table("language", lg, LANGS, n)
    table("score (maintainers)", sc, [1.0, 0.5, 0.0], n)


def check_sample():
    bpath = os.path.join(SAMPLE, "benchmark.jsonl")
    if not os.path.exists(bpath):
        print("\n(no sample benchmark found; skipped)")
        return
    rows = load(bpath)
    allowed = {"id", "split", "ability", "question_type", "question", "options", "answer",
               "attribute", "language", "image"}
    ids = []
    for r in rows:
        rid = r.get("id")
        ids.append(rid)
        if not set(r) <= allowed or not {"id", "split", "ability", "question_type", "question", "answer"} <= set(r):
            err(f"sample {rid}: keys {sorted(r)}")
        if r.get("split") not in ("val", "test"):
            err(f"sample {rid}: split")
        if r.get("ability") not in ABILITIES:
            err(f"sample {rid}: ability")
        qt = r.get("question_type")
        if qt not in ["mcq"] + OPEN_TYPES:
            err(f"sample {rid}: question_type")
        if "attribute" in r and r["attribute"] not in ATTRIBUTES:
            err(f"sample {rid}: attribute")
        if "language" in r and r["language"] not in LANGS:
            err(f"sample {rid}: language")
        if qt == "mcq":
            opts = r.get("options")
            if not (isinstance(opts, dict) and len(opts) in (4, 5)):
                err(f"sample {rid}: options")
                continue
            ans = r.get("answer")
            letters = ans if isinstance(ans, list) else [s.strip() for s in str(ans).split(",")]
            if not letters or any(l not in opts for l in letters):
                err(f"sample {rid}: answer {ans} not in options")
        else:
            if "options" in r:
                err(f"sample {rid}: options on open item")
            if not is_ref(r.get("answer")):
                err(f"sample {rid}: answer")
    if len(set(ids)) != len(ids):
        err("sample: duplicate ids")
    for name, model in [("vlm_concise", "vlm-concise"), ("vlm_verbose", "vlm-verbose"), ("text_only", "text-only")]:
        p = os.path.join(SAMPLE, "predictions", name + ".jsonl")
        prs = load(p)
        if [x.get("id") for x in prs] != ids:
            err(f"{name}: ids do not match benchmark order")
        for x in prs:
            if set(x) != {"id", "model", "prediction"} or x.get("model") != model or not isinstance(x.get("prediction"), str):
                err(f"{name}: bad line {x}")
    n = len(rows)
    print(f"\n== sample benchmark: {n} items")
    table("ability", collections.Counter(r.get("ability") for r in rows), ABILITIES, n)
    table("split", collections.Counter(r.get("split") for r in rows), ["val", "test"], n)
    table("question_type", collections.Counter(r.get("question_type") for r in rows), ["mcq"] + OPEN_TYPES, n)
    table("language field", collections.Counter(r.get("language", "(omitted)") for r in rows), ["en", "zh", "(omitted)"], n)
    table("attribute", collections.Counter(r["attribute"] for r in rows if "attribute" in r), ATTRIBUTES, n)
    multi = sum(1 for r in rows if r.get("question_type") == "mcq" and
                (len(r["answer"]) > 1 if isinstance(r["answer"], list) else "," in r["answer"]))
    nota = sum(1 for r in rows if any(v in ("None of the above", "以上都不是") for v in (r.get("options") or {}).values()))
    print(f"\n  multi-answer mcq: {multi}; mcq with a 'None of the above'/'以上都不是' option: {nota}; "
          f"items with an image field: {sum(1 for r in rows if 'image' in r)}")


if __name__ == "__main__":
    check_gold()
    check_sample()
    if errors:
        print("\nFAILED:")
        for e in errors:
            print("  " + e)
        sys.exit(1)
    print("\nOK")
