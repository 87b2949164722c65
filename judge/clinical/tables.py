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


_ZH_FORM = ("状", "样", "形")
_ZH_SIZE = ("大小", "那么大", "这么大", "一样大", "般大", "样大", "大")
_ZH_CLASSIFIERS = "个处枚颗块片粒只条发"
_EN_FORM = ("like", "shaped", "shape")
_EN_SIZE = ("sized", "size")


def variants(attr: str, term: str) -> list[str]:
    """Morphological variants of one table term, so that a group is recognised however it is phrased:
    X状 = X样 = X形 = 像X一样 (地图状, 地图样, 像地图一样); X大小 = X那么大 = 像X一样大 (巴掌那么大);
    X-like = X-shaped = shaped like X; X-sized = the size of X; 多个 = 多条 = 多处 (any classifier)."""
    out: list[str] = []
    t = term.strip()
    if not t.isascii():
        if attr == "quantity" and len(t) == 2 and t[1] in _ZH_CLASSIFIERS:
            out += [t[0] + c for c in _ZH_CLASSIFIERS]
        if attr == "size":
            stem = next((t[: -len(x)] for x in _ZH_SIZE if t.endswith(x) and len(t) - len(x) >= 2), None)
            if stem:
                out += [stem + x for x in _ZH_SIZE] + [f"像{stem}一样大", f"像{stem}那么大", f"有{stem}那么大"]
        else:
            stem = next((t[:-1] for x in _ZH_FORM if t.endswith(x) and len(t) >= 2), None)
            if stem:
                out += [stem + x for x in _ZH_FORM] + [f"像{stem}一样", f"{stem}一样", f"{stem}样的", f"{stem}状的"]
        return out
    words = t.replace("-", " ").split()
    if len(words) < 2:
        return out
    if attr == "size" and words[-1] in _EN_SIZE:
        stem = " ".join(words[:-1])
        out += [f"{stem} {x}" for x in _EN_SIZE] + [f"size of {stem}", f"as big as {stem}", f"as large as {stem}"]
    elif attr != "size" and words[-1] in _EN_FORM:
        stem = " ".join(words[:-1])
        out += [f"{stem} {x}" for x in _EN_FORM] + [f"shaped like {stem}", f"like {stem}"]
    return out


def compile_rubric(rubric: Rubric) -> Compiled:
    """Index the rubric's tables (uncached; use :func:`compiled`)."""
    tables: dict[str, TableSpec] = {}
    index = TermIndex()
    for attr, table in rubric.equivalences.tables().items():
        tables[attr] = _spec(attr, table)
        own: dict[tuple[str, ...], set[str]] = {}
        for g in table.groups:
            for term in g.terms.all():
                own.setdefault(term_key(term), set()).add(g.name)
        for g in table.groups:
            for term in g.terms.all():
                for variant in variants(attr, term):
                    key = term_key(variant)
                    if key and key not in own:  # a variant never overrides what the table itself says
                        own[key] = {g.name}
        for key, groups in own.items():
            for group in sorted(groups):
                index.add(key, (attr, group))
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
