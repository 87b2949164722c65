"""The rubric's equivalence tables and local parameters, compiled for the embedded judge.

The rubric is the single source of truth for colour families, size descriptors, shapes,
boundaries, quantities and distributions (and for the credits calibration tunes): this module
only indexes what the rubric says. A rubric without tables (v1, v2) compiles to an empty index,
so attribute words are then compared as plain words - stricter, which is the point of v3.

Usage::

    ct = compiled(rubric)
    ct.group_credit("color", "red", "pink")      # (0.5, "adjacent")
    ct.pair_override("lesion", "vesicle", "bulla")   # None unless rubric.local.overrides says so
"""

from __future__ import annotations

from dataclasses import dataclass, field

from judge.clinical.lexicon import TermIndex
from judge.clinical.text import term_key
from judge.rubrics import LocalParams, Rubric, Table

ATTRIBUTES = ("color", "size", "shape", "boundary", "quantity", "distribution")


@dataclass(frozen=True)
class TableSpec:
    """One compiled table."""

    attr: str
    names: frozenset[str]
    full: frozenset[frozenset[str]]
    adjacent: frozenset[frozenset[str]]
    opposites: frozenset[frozenset[str]]
    opposite_of: dict[str, frozenset[str]]
    mm: dict[str, tuple[float, float]]
    count: dict[str, tuple[int, int | None]]
    partial_factor: float | None


@dataclass
class Compiled:
    """Everything the judge reads from one rubric."""

    rubric_id: str
    rubric_sha: str
    tables: dict[str, TableSpec]
    index: TermIndex
    params: LocalParams
    overrides: dict[tuple[str, frozenset[str]], float]
    has_ability_criteria: bool
    _key: tuple = field(default=())

    def has(self, attr: str) -> bool:
        """True when the rubric carries a table for ``attr``."""
        return attr in self.tables

    def pair_override(self, cat: str, a: str, b: str) -> float | None:
        """The calibrated credit for the pair, when ``rubric.local.overrides`` names it."""
        if not self.overrides:
            return None
        return self.overrides.get((cat, frozenset((a, b))))

    def group_credit(self, attr: str, ref: str, cand: str) -> tuple[float, str]:
        """Credit and relation (``same``, ``full``, ``adjacent``, ``opposite``, ``different``, ``override``)."""
        if ref == cand:
            return 1.0, "same"
        o = self.pair_override(attr, ref, cand)
        if o is not None:
            return o, "override"
        spec = self.tables.get(attr)
        if spec is None:
            return 0.0, "different"
        pair = frozenset((ref, cand))
        if pair in spec.full:
            return 1.0, "full"
        if pair in spec.adjacent:
            return self.params.adjacent_credit, "adjacent"
        if pair in spec.opposites:
            return 0.0, "opposite"
        return 0.0, "different"


def _spec(attr: str, table: Table) -> TableSpec:
    names = frozenset(g.name for g in table.groups)
    opp: dict[str, set[str]] = {}
    for a, b in table.opposites:
        opp.setdefault(a, set()).add(b)
        opp.setdefault(b, set()).add(a)
    return TableSpec(
        attr=attr,
        names=names,
        full=frozenset(frozenset(p) for p in table.full),
        adjacent=frozenset(frozenset(p) for p in table.adjacent),
        opposites=frozenset(frozenset(p) for p in table.opposites),
        opposite_of={k: frozenset(v) for k, v in opp.items()},
        mm={g.name: g.mm for g in table.groups if g.mm},
        count={g.name: g.count for g in table.groups if g.count},
        partial_factor=table.partial_factor,
    )


def _overrides(params: LocalParams) -> dict[tuple[str, frozenset[str]], float]:
    out = {}
    for key, credit in params.overrides.items():
        cat, _, pair = key.partition(":")
        a, _, b = pair.partition("|")
        if cat and a and b:
            out[(cat.strip(), frozenset((a.strip(), b.strip())))] = float(credit)
    return out


def compile_rubric(rubric: Rubric) -> Compiled:
    """Index the rubric's tables (uncached; use :func:`compiled`)."""
    tables: dict[str, TableSpec] = {}
    index = TermIndex()
    for attr, table in rubric.equivalences.tables().items():
        tables[attr] = _spec(attr, table)
        for g in table.groups:
            for term in g.terms.all():
                index.add(term_key(term), (attr, g.name))
    return Compiled(
        rubric_id=rubric.id,
        rubric_sha=rubric.sha256,
        tables=tables,
        index=index.freeze(),
        params=rubric.local,
        overrides=_overrides(rubric.local),
        has_ability_criteria=bool(rubric.ability_criteria),
    )


_CACHE: dict[int, tuple[Rubric, Compiled]] = {}


def compiled(rubric: Rubric) -> Compiled:
    """The compiled form of ``rubric`` (cached per rubric object; a changed copy compiles anew)."""
    hit = _CACHE.get(id(rubric))
    if hit is not None and hit[0] is rubric:
        return hit[1]
    c = compile_rubric(rubric)
    if len(_CACHE) >= 64:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[id(rubric)] = (rubric, c)
    return c
