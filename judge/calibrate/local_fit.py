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
    score = score or local_scorer()
    search = _Search(base, _SubsetScorer(base, train, score), log or (lambda _m: None))
    for sweep in range(max_sweeps):
        search.say(f"  sweep {sweep + 1}")
        changed = search.scalar_sweep()  # 1. the scalar parameters, each block a grid, on all train rows
        for attribute in base.equivalences.tables():  # 2. table-pair overrides, on the rows a table can move
            changed = search.override_sweep(attribute) or changed
        if not changed:
            break
    search.say(f"  {len(search.live)} table pairs move a train verdict; {len(search.path) - 1} changes accepted")
    dv = _SubsetScorer(base, dev, score)
    for step in search.path:
        dev_preds = dv.all(step.params)
        step.dev_alpha, step.dev_credit = alpha_ordinal(dev_preds, dv.golds), dv.credit(dev_preds)
    path = search.path
    chosen = max(range(len(path)), key=lambda i: (_a(path[i].dev_alpha), path[i].dev_credit or 0.0, -i))
    return LocalFit(
        params=path[chosen].params,
        path=path,
        chosen=chosen,
        evaluations=search.tr.passes + dv.passes,
        probed_keys=search.probed,
        live_keys=sorted(search.live),
    )


_Best = tuple[float, LocalParams, dict[str, Any], list[float | None]]
"""A candidate: train credit, parameters, the setting that made them, train scores."""


class _Search:
    """The state of a coordinate search on train: where it stands and the path that led there."""

    def __init__(self, base: Rubric, tr: _SubsetScorer, say: Callable[[str], None]) -> None:
        self.base, self.tr, self.say = base, tr, say
        self.params = base.local
        self.preds = tr.all(self.params)
        self.current = tr.credit(self.preds)
        self.min_gain = 1.0 / (2 * max(1, len(tr.rows)))  # at least half a step on one candidate
        self.path = [Step("start", {}, self.params, self.current)]
        self.live: set[str] = set()
        self.probed = 0

    def accept(self, name: str, best: _Best) -> None:
        _value, self.params, setting, self.preds = best
        self.current = self.tr.credit(self.preds)
        self.path.append(Step(name, dict(setting), self.params, self.current))
        self.say(f"  {name} -> {setting}: train credit {self.current:.4f}")

    def better(self, value: float, best: _Best | None) -> bool:
        return value >= self.current + self.min_gain and (best is None or value > best[0])

    def scalar_sweep(self) -> bool:
        """Each block of scalar parameters as a grid; the best setting of a block that gains is kept."""
        from sklearn.model_selection import ParameterGrid

        changed = False
        for name, grid in _blocks(self.params, []):
            best: _Best | None = None
            for setting in ParameterGrid(grid):
                if "partial_threshold" in setting and setting["partial_threshold"] > setting["full_threshold"]:
                    continue
                candidate = _apply(self.params, setting)
                if candidate == self.params:
                    continue
                p = self.tr.all(candidate)
                value = self.tr.credit(p)
                if self.better(value, best):
                    best = (value, candidate, setting, p)
            if best is not None:
                self.accept(name, best)
                changed = True
        return changed

    def _table_rows(self, keys: list[str]) -> list[int]:
        """The train rows a table can move: those whose verdict changes with all its pairs at 0, or at 1."""
        rows: set[int] = set()
        for value in (0.0, 1.0):
            everything = _apply(self.params, {f"overrides:{k}": value for k in keys})
            rows |= {i for i, (a, b) in enumerate(zip(self.tr.all(everything), self.preds, strict=True)) if a != b}
        return sorted(rows)

    def override_sweep(self, attribute: str) -> bool:
        """Each pair of one table's overrides, searched on the rows the table can move."""
        keys = _override_block(self.base, attribute)
        idx = self._table_rows(keys) if keys else []
        changed = False
        for key in keys if idx else []:
            self.probed += 1
            best = self._best_override(key, idx)
            if best is not None:
                self.accept(f"override {key}", best)
                changed = True
        return changed

    def _best_override(self, key: str, idx: list[int]) -> _Best | None:
        """The best credit for one pair; a pair that moves none of the table's rows is skipped."""
        from sklearn.model_selection import ParameterGrid

        field_ = f"overrides:{key}"
        # probe: the pair at 0 and at 1, on the table's rows
        probes = {v: self.tr.some(_apply(self.params, {field_: v}), idx) for v in (0.0, 1.0)}
        moved = [i for j, i in enumerate(idx) if any(p[j] != self.preds[i] for p in probes.values())]
        if not moved:
            return None
        self.live.add(key)
        best: _Best | None = None
        for setting in ParameterGrid({field_: [UNSET, *CREDIT_VALUES]}):
            candidate = _apply(self.params, setting)
            if candidate == self.params:
                continue
            full = list(self.preds)
            value_ = setting[field_]
            if value_ in probes:
                for j, i in enumerate(idx):
                    full[i] = probes[value_][j]
            else:  # only the rows this pair moves can change
                for i, v in zip(moved, self.tr.some(candidate, moved), strict=True):
                    full[i] = v
            value = self.tr.credit(full)
            if self.better(value, best):
                best = (value, candidate, setting, full)
        return best


def _a(alpha: float | None) -> float:
    return -2.0 if alpha is None else alpha
