"""Calibrating the embedded judge: its thresholds, partial-credit rules and table overrides.

The embedded judge (``--backend local``) reads ``rubric.local`` (:class:`judge.rubrics.LocalParams`).
:func:`fit_local` tunes those numbers by coordinate search on **train** - each block of settings is
a ``sklearn.model_selection.ParameterGrid``; a block's best setting is taken when it raises the mean
ordinal credit (``1 - |judge - gold|``) on train by at least one candidate's worth - and then
**selects on dev**: of the path the search walked (start, after the 1st accepted change, after the
2nd, ...), the point with the best dev alpha (ordinal) is kept, the earliest on a tie, so a change
that only fits train noise is dropped. The held-out part is never passed in.

Blocks, in order: the two match thresholds (a joint grid), the hedge limit, each credit
(coarser site, broader disease, adjacent table entry, judgment without reason), then
``overrides``: one credit per table pair ``"<attribute>:<group a>|<group b>"`` (unset = the
table's own rule, or 0, 0.5, 1). Only pairs that move some train verdict are searched, and only
on the rows their table can move (see :func:`fit_local`).

Usage::

    fit = fit_local(load_rubric("v3"), train_rows, dev_rows)
    fit.params          # LocalParams to write into the new rubric
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from judge.calibrate.measure import alpha_ordinal, gold_scores, mean_credit
from judge.models import Case, GoldRating
from judge.rubrics import LocalParams, Rubric

ScoreFn = Callable[[Rubric, Sequence[GoldRating]], list[float | None]]
"""Scores rows under a rubric (the embedded judge, or a stand-in in tests)."""

THRESHOLDS = {"full_threshold": [0.6, 0.75, 0.9, 0.999], "partial_threshold": [0.2, 0.34, 0.5, 0.67]}
HEDGE = {"hedge_max_alternatives": [1, 2, 3, 4]}
CREDITS = ("coarser_site_credit", "parent_disease_credit", "adjacent_credit", "judgment_without_reason_credit")
CREDIT_VALUES = [0.0, 0.5, 1.0]
UNSET = "unset"


def content_sha(rubric: Rubric) -> str:
    """A sha256 of what determines a rubric's verdicts (not its provenance): for in-memory variants."""
    data = rubric.model_dump(
        mode="json", exclude={"sha256", "path", "provenance", "description", "status", "version", "derived_from"}
    )
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return "mem-" + hashlib.sha256(blob).hexdigest()


def with_params(rubric: Rubric, params: LocalParams) -> Rubric:
    """``rubric`` with other embedded-judge parameters (and its own content sha, so caches never mix them)."""
    variant = rubric.model_copy(update={"local": params})
    return variant.model_copy(update={"sha256": content_sha(variant)})


def local_scorer(record: Callable[[Sequence[str]], None] | None = None) -> ScoreFn:
    """The embedded judge as a :data:`ScoreFn`; ``record`` is told every gold id it judges."""
    from judge.backends import get_backend

    backend = get_backend("local")
    judge_sync = backend.judge_sync  # type: ignore[attr-defined]

    def score(rubric: Rubric, rows: Sequence[GoldRating]) -> list[float | None]:
        if record is not None:
            record([r.id for r in rows])
        return [judge_sync(Case.from_gold(r), rubric).score for r in rows]

    return score


def override_keys(rubric: Rubric) -> list[str]:
    """Every table pair an override may set: ``"<attribute>:<a>|<b>"``, groups in table order."""
    keys: list[str] = []
    for attribute, table in rubric.equivalences.tables().items():
        names = [g.name for g in table.groups]
        keys.extend(f"{attribute}:{a}|{b}" for a, b in itertools.combinations(names, 2))
    return keys


@dataclass
class Step:
    """One accepted change of the coordinate search."""

    block: str
    setting: dict[str, Any]
    params: LocalParams
    train_credit: float
    dev_alpha: float | None = None
    dev_credit: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "block": self.block,
            "setting": self.setting,
            "train_credit": round(self.train_credit, 4),
            "dev_alpha": None if self.dev_alpha is None else round(self.dev_alpha, 4),
            "dev_credit": None if self.dev_credit is None else round(self.dev_credit, 4),
        }


@dataclass
class LocalFit:
    """The result: the chosen parameters and how they were found."""

    params: LocalParams
    path: list[Step]
    chosen: int
    evaluations: int
    probed_keys: int
    live_keys: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "path": [s.as_dict() for s in self.path],
            "chosen_step": self.chosen,
            "evaluations": self.evaluations,
            "override_pairs_probed": self.probed_keys,
            "override_pairs_live": self.live_keys,
        }


def _apply(params: LocalParams, setting: dict[str, Any]) -> LocalParams:
    plain = {k: v for k, v in setting.items() if not k.startswith("overrides:")}
    overrides = dict(params.overrides)
    for k, v in setting.items():
        if k.startswith("overrides:"):
            key = k.split(":", 1)[1]
            if v == UNSET:
                overrides.pop(key, None)
            else:
                overrides[key] = float(v)
    return params.model_copy(update={**plain, "overrides": dict(sorted(overrides.items()))})


def _blocks(base: LocalParams, live_keys: Sequence[str]) -> list[tuple[str, dict[str, list[Any]]]]:
    blocks: list[tuple[str, dict[str, list[Any]]]] = [("thresholds", THRESHOLDS), ("hedge", HEDGE)]
    blocks += [(name, {name: CREDIT_VALUES}) for name in CREDITS]
    blocks += [(f"override {k}", {f"overrides:{k}": [UNSET, *CREDIT_VALUES]}) for k in live_keys]
    return blocks


class _SubsetScorer:
    """Scores parameter settings on a fixed set of rows, all of them or a subset, and counts the passes."""

    def __init__(self, base: Rubric, rows: Sequence[GoldRating], score: ScoreFn) -> None:
        self.base, self.rows, self.score = base, list(rows), score
        self.golds = gold_scores(rows)
        self.passes = 0
        self.cases = 0

    def all(self, params: LocalParams) -> list[float | None]:
        return self.some(params, range(len(self.rows)))

    def some(self, params: LocalParams, idx: Sequence[int]) -> list[float | None]:
        self.passes += 1
        self.cases += len(idx)
        return self.score(with_params(self.base, params), [self.rows[i] for i in idx])

    def credit(self, preds: Sequence[float | None]) -> float:
        return mean_credit(preds, self.golds)


def _override_block(base: Rubric, attribute: str) -> list[str]:
    return [k for k in override_keys(base) if k.startswith(f"{attribute}:")]


def fit_local(
    base: Rubric,
    train: Sequence[GoldRating],
    dev: Sequence[GoldRating],
    *,
    score: ScoreFn | None = None,
    max_sweeps: int = 3,
    log: Callable[[str], None] | None = None,
) -> LocalFit:
    """Fit ``base.local`` on ``train`` by coordinate search, then choose the path point with the best dev alpha.

    Overrides are searched table by table on the train rows that table can move: all the table's
    pairs are set to 0 and then to 1, and the rows whose verdict changes are the table's rows. A
    pair is searched only if setting it alone moves one of them, and only those rows are re-scored
    while it is (the others cannot change). The sensitive rows are found anew on every sweep.
    """
    from sklearn.model_selection import ParameterGrid

    score = score or local_scorer()
    say = log or (lambda _m: None)
    tr = _SubsetScorer(base, train, score)
    params = base.local
    preds = tr.all(params)
    current = tr.credit(preds)
    n = max(1, len(train))
    min_gain = 1.0 / (2 * n)  # at least half a step on one candidate
    path = [Step("start", {}, params, current)]
    live: set[str] = set()
    probed = 0

    def accept(name: str, setting: dict[str, Any], new_params: LocalParams, new_preds: list[float | None]) -> None:
        nonlocal params, preds, current
        params, preds, current = new_params, new_preds, tr.credit(new_preds)
        path.append(Step(name, dict(setting), params, current))
        say(f"  {name} -> {setting}: train credit {current:.4f}")

    for sweep in range(max_sweeps):
        say(f"  sweep {sweep + 1}")
        changed = False
        # 1. the scalar parameters, each block a grid, scored on all train rows
        for name, grid in _blocks(params, []):
            best: tuple[float, LocalParams, dict[str, Any], list[float | None]] | None = None
            for setting in ParameterGrid(grid):
                if "partial_threshold" in setting and setting["partial_threshold"] > setting["full_threshold"]:
                    continue
                candidate = _apply(params, setting)
                if candidate == params:
                    continue
                p = tr.all(candidate)
                value = tr.credit(p)
                if value >= current + min_gain and (best is None or value > best[0]):
                    best = (value, candidate, setting, p)
            if best is not None:
                accept(name, best[2], best[1], best[3])
                changed = True
        # 2. table-pair overrides, table by table, on the rows the table can move
        for attribute in base.equivalences.tables():
            keys = _override_block(base, attribute)
            if not keys:
                continue
            rows: set[int] = set()
            for value in (0.0, 1.0):
                everything = _apply(params, {f"overrides:{k}": value for k in keys})
                rows |= {i for i, (a, b) in enumerate(zip(tr.all(everything), preds, strict=True)) if a != b}
            if not rows:
                continue
            idx = sorted(rows)
            for key in keys:
                probed += 1
                field_ = f"overrides:{key}"
                # probe: the pair at 0 and at 1, on the table's rows; a pair that moves none is skipped
                probes = {v: tr.some(_apply(params, {field_: v}), idx) for v in (0.0, 1.0)}
                moved = [i for j, i in enumerate(idx) if any(p[j] != preds[i] for p in probes.values())]
                if not moved:
                    continue
                live.add(key)
                best_o: tuple[float, LocalParams, dict[str, Any], list[float | None]] | None = None
                for setting in ParameterGrid({field_: [UNSET, *CREDIT_VALUES]}):
                    candidate = _apply(params, setting)
                    if candidate == params:
                        continue
                    full = list(preds)
                    value_ = setting[field_]
                    if value_ in probes:
                        for j, i in enumerate(idx):
                            full[i] = probes[value_][j]
                    else:  # only the rows this pair moves can change
                        for i, v in zip(moved, tr.some(candidate, moved), strict=True):
                            full[i] = v
                    value = tr.credit(full)
                    if value >= current + min_gain and (best_o is None or value > best_o[0]):
                        best_o = (value, candidate, setting, full)
                if best_o is not None:
                    accept(f"override {key}", best_o[2], best_o[1], best_o[3])
                    changed = True
        if not changed:
            break
    say(f"  {len(live)} table pairs move a train verdict; {len(path) - 1} changes accepted")

    dv = _SubsetScorer(base, dev, score)
    for step in path:
        dev_preds = dv.all(step.params)
        step.dev_alpha, step.dev_credit = alpha_ordinal(dev_preds, dv.golds), dv.credit(dev_preds)
    chosen = max(range(len(path)), key=lambda i: (_a(path[i].dev_alpha), path[i].dev_credit or 0.0, -i))
    return LocalFit(
        params=path[chosen].params,
        path=path,
        chosen=chosen,
        evaluations=tr.passes + dv.passes,
        probed_keys=probed,
        live_keys=sorted(live),
    )


def _a(alpha: float | None) -> float:
    return -2.0 if alpha is None else alpha
