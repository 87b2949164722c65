"""Calibration splits and the objective: seeded, stratified, disjoint; tiny strata handled; pure maths by hand."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from judge.calibrate.measure import alpha_ordinal, figure, mean_credit, ordinal_credit
from judge.calibrate.split import question_key, split_from_parts, split_gold, stratum
from judge.errors import InputError
from judge.models import GoldRating

ABILITIES = ["lesion_recognition", "disease_diagnosis", "attribute_recognition"]


def rows(n: int, per_question: int = 4) -> list[GoldRating]:
    out = []
    for i in range(n):
        q = i // per_question
        out.append(
            GoldRating(
                id=f"r{i:03d}",
                ability=ABILITIES[q % 3],
                question_type="short_answer",
                language="en",
                question=f"question {q}?",
                reference=f"answer {q}",
                candidate=f"candidate {i}",
                ratings={"a": [0.0, 0.5, 1.0, 1.0][i % 4]},
            )
        )
    return out


def test_split_is_seeded_disjoint_complete_and_stratified():
    data = rows(120)
    a, b = split_gold(data, seed=3), split_gold(data, seed=3)
    assert a == b and split_gold(data, seed=4).test != a.test
    parts = [set(a.train), set(a.dev), set(a.test)]
    assert sum(map(len, parts)) == 120 and set().union(*parts) == {r.id for r in data}
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert a.counts() == {"train": 72, "dev": 24, "test": 24}
    # every stratum (ability x gold score) is spread over the three parts in proportion
    whole = Counter(stratum(r) for r in data)
    for part in a.parts(data):
        share = Counter(stratum(r) for r in part)
        for key, n in whole.items():
            assert abs(share[key] / len(part) - n / len(data)) < 0.06


def test_tiny_strata_fall_back_and_say_so():
    data = rows(7)
    split = split_gold(data, seed=0)
    assert sorted(split.train + split.dev + split.test) == sorted(r.id for r in data)
    assert all(split.counts()[k] >= 1 for k in ("train", "dev", "test"))
    assert split.notes  # the merge of small strata is written down
    with pytest.raises(InputError):
        split_gold(data[:2])


def test_split_by_question_keeps_each_question_in_one_part():
    data = rows(120)
    split = split_gold(data, seed=1, by="question")
    where = {i: part for part in ("train", "dev", "test") for i in getattr(split, part)}
    for q in {question_key(r) for r in data}:
        assert len({where[r.id] for r in data if question_key(r) == q}) == 1


def test_explicit_parts_must_not_overlap():
    data = rows(12)
    all_rows, split = split_from_parts(data[:6], data[6:9], data[9:])
    assert split.method == "files" and split.test == [r.id for r in data[9:]] and len(all_rows) == 12
    with pytest.raises(InputError, match="both the train and the test"):
        split_from_parts(data[:6], data[6:9], data[5:])


def test_ordinal_credit_by_hand():
    assert ordinal_credit(1.0, 1.0) == 1.0
    assert ordinal_credit(0.5, 1.0) == 0.5  # half a step off costs half
    assert ordinal_credit(0.0, 1.0) == 0.0  # a full miss costs everything
    assert ordinal_credit(None, 0.0) == 0.0  # unparseable = the worst miss
    assert mean_credit([1.0, 0.5, None], [1.0, 1.0, 0.5]) == pytest.approx(0.5)


def test_alpha_and_figure():
    gold = [0.0, 0.5, 1.0, 1.0, 0.0, 0.5]
    assert alpha_ordinal(gold, gold) == pytest.approx(1.0)
    f = figure([*gold[:-1], None], gold, n_boot=50)
    assert f.n == 6 and f.n_scored == 5 and f.alpha_ordinal == pytest.approx(1.0) and f.mean_credit < 1.0


def test_importing_calibrate_imports_neither_dspy_nor_litellm():
    code = (
        "import sys, judge.calibrate, judge.calibrate.run, judge.calibrate.optimize, judge.cli; "
        "bad = [m for m in ('dspy', 'litellm', 'optuna') if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_cli_offers_exactly_the_optimizers_the_library_has():
    from judge.calibrate import optimize, optimizers
    from judge.cli import cli

    option = next(p for p in cli.commands["calibrate"].params if p.name == "optimizer")
    assert set(option.type.choices) == set(optimizers.OPTIMIZERS)
    assert set(optimize.OPTIMIZERS) == set(optimizers.DSPY_OPTIMIZERS)  # what DSPy runs is what is offered
