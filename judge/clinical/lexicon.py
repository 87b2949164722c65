"""The clinical lexicon: concepts (lesions, sites, diseases, treatments, relations, ...) and a term index.

``lexicon.yaml`` holds the data; this module validates it into :class:`Concept` objects, closes
the parent links into ancestor sets (the site and disease trees are DAGs: a fingernail is part of
the nail *and* of the finger) and builds a :class:`TermIndex` - a dict from a term's first token
to the terms that start with it, longest first - so that matching a text is one dict look-up per
token, whatever the size of the lexicon.

Usage::

    lex = get_lexicon()
    lex.concept("site", "dorsal_hand").ancestors   # {'hand', 'upper_limb', 'body'}
    lex.terms.longest(tokenize("back of the left hand"), 0)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import yaml

from judge.clinical.text import Token, term_key

LEXICON_PATH = Path(__file__).with_name("lexicon.yaml")

CATEGORIES = ("lesion", "side", "site", "disease", "treatment", "relation", "property", "organism")
"""Concept categories of the lexicon (the rubric tables add color, size, shape, ...)."""

Payload = tuple[str, str]
"""``(category, concept id)``; a term may carry several (``blister`` is a vesicle or a bulla)."""


@dataclass(frozen=True, slots=True)
class Concept:
    """One lexicon concept."""

    cat: str
    id: str
    en: tuple[str, ...]
    zh: tuple[str, ...]
    parents: tuple[str, ...] = ()
    kind: str = ""
    generic: bool = False
    broad: bool = False
    parent_full: bool = False
    clinician: bool = False
    site: str | None = None
    descriptor: bool = False
    adjacent: tuple[str, ...] = ()
    opposite: str | None = None
    ancestors: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        """A readable name for rationales."""
        return self.en[0] if self.en else (self.zh[0] if self.zh else self.id)


_END = ""
"""Trie key holding the payloads of the term that ends at a node (no token is empty)."""


class TermIndex:
    """Longest-match look-up of token tuples: a trie over tokens, so matching at a position costs
    the length of the match, whatever the number of terms sharing its first token."""

    def __init__(self) -> None:
        self._payloads: dict[tuple[str, ...], list[Any]] = {}
        self._trie: dict[str, Any] = {}
        self._by_first: dict[str, list[tuple[tuple[str, ...], tuple[Any, ...]]]] = {}

    def add(self, key: tuple[str, ...], payload: Any) -> None:
        """Register ``payload`` under the token tuple ``key`` (payloads of one key accumulate)."""
        if not key:
            return
        bucket = self._payloads.setdefault(key, [])
        if payload not in bucket:
            bucket.append(payload)

    def freeze(self) -> TermIndex:
        """Build the trie and the per-first-token lists (longest first); call once after the last ``add``."""
        trie: dict[str, Any] = {}
        by_first: dict[str, list[tuple[tuple[str, ...], tuple[Any, ...]]]] = {}
        for key, payloads in self._payloads.items():
            node = trie
            for tok in key:
                node = node.setdefault(tok, {})
            node[_END] = tuple(payloads)
            by_first.setdefault(key[0], []).append((key, tuple(payloads)))
        for entries in by_first.values():
            entries.sort(key=lambda e: -len(e[0]))
        self._trie = trie
        self._by_first = by_first
        return self

    def firsts(self) -> dict[str, Any]:
        """First token -> its subtree (read-only; a fast membership test before :meth:`longest`)."""
        return self._trie

    def candidates(self, first: str) -> list[tuple[tuple[str, ...], tuple[Any, ...]]]:
        """Terms starting with ``first``, longest first."""
        return self._by_first.get(first, [])

    def longest(self, toks: Sequence[Token], i: int) -> tuple[int, tuple[Any, ...]]:
        """``(length, payloads)`` of the longest term starting at token ``i``; ``(0, ())`` if none."""
        node = self._trie
        best: tuple[int, tuple[Any, ...]] = (0, ())
        for j in range(i, len(toks)):
            child = node.get(toks[j].norm)
            if child is None:
                break
            node = child
            hit = node.get(_END)
            if hit is not None:
                best = (j + 1 - i, hit)
        return best

    def all_at(self, toks: Sequence[Token], i: int) -> list[tuple[int, tuple[Any, ...]]]:
        """Every term starting at token ``i`` (longest first)."""
        node = self._trie
        out: list[tuple[int, tuple[Any, ...]]] = []
        for j in range(i, len(toks)):
            child = node.get(toks[j].norm)
            if child is None:
                break
            node = child
            hit = node.get(_END)
            if hit is not None:
                out.append((j + 1 - i, hit))
        out.reverse()
        return out

    def __len__(self) -> int:
        return len(self._payloads)


@dataclass
class Lexicon:
    """Concepts by category, their term index and the special phrase lists."""

    concepts: dict[str, dict[str, Concept]]
    terms: TermIndex
    abbreviations: TermIndex
    treatment_conflicts: tuple[tuple[str, str], ...]
    dangerous: TermIndex
    version: int
    _children: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)

    def concept(self, cat: str, cid: str) -> Concept:
        """The concept ``cid`` of category ``cat``."""
        return self.concepts[cat][cid]

    def get(self, cat: str, cid: str) -> Concept | None:
        """The concept, or None."""
        return self.concepts.get(cat, {}).get(cid)

    def is_ancestor(self, cat: str, ancestor: str, cid: str) -> bool:
        """True when ``ancestor`` is a (transitive) parent of ``cid``."""
        c = self.get(cat, cid)
        return c is not None and ancestor in c.ancestors

    def related(self, cat: str, a: str, b: str) -> bool:
        """Same concept, or one an ancestor of the other."""
        return a == b or self.is_ancestor(cat, a, b) or self.is_ancestor(cat, b, a)

    @cached_property
    def size(self) -> dict[str, int]:
        """Concept and term counts, for reports."""
        out = {cat: len(v) for cat, v in self.concepts.items()}
        out["terms"] = len(self.terms)
        return out


def _as_tuple(v: Any) -> tuple[str, ...]:
    if v is None:
        return ()
    if isinstance(v, str):
        return (v,)
    return tuple(str(x) for x in v)


def _closure(parents: dict[str, tuple[str, ...]]) -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}

    def visit(cid: str, stack: frozenset[str]) -> frozenset[str]:
        if cid in out:
            return out[cid]
        acc: set[str] = set()
        for p in parents.get(cid, ()):
            if p in stack or p == cid:
                continue
            acc.add(p)
            acc |= visit(p, stack | {cid})
        out[cid] = frozenset(acc)
        return out[cid]

    for cid in parents:
        visit(cid, frozenset())
    return out


def build_lexicon(data: dict[str, Any]) -> Lexicon:
    """Validate the YAML mapping and index it. Raises ValueError on a dangling reference."""
    concepts: dict[str, dict[str, Concept]] = {}
    terms = TermIndex()
    abbreviations = TermIndex()
    for cat in CATEGORIES:
        raw = data.get(cat) or []
        parents = {str(e["id"]): _as_tuple(e.get("parents") or e.get("parent")) for e in raw}
        for cid, ps in parents.items():
            for p in ps:
                if p not in parents:
                    raise ValueError(f"lexicon {cat}:{cid}: unknown parent {p!r}")
        ancestors = _closure(parents)
        by_id: dict[str, Concept] = {}
        for e in raw:
            cid = str(e["id"])
            if cid in by_id:
                raise ValueError(f"lexicon {cat}: duplicate id {cid!r}")
            c = Concept(
                cat=cat,
                id=cid,
                en=_as_tuple(e.get("en")),
                zh=_as_tuple(e.get("zh")),
                parents=parents[cid],
                kind=str(e.get("kind", "")),
                generic=bool(e.get("generic", False)),
                broad=bool(e.get("broad", False)),
                parent_full=bool(e.get("parent_full", False)),
                clinician=bool(e.get("clinician", False)),
                site=e.get("site"),
                descriptor=bool(e.get("descriptor", False)),
                adjacent=_as_tuple(e.get("adjacent")),
                opposite=e.get("opposite"),
                ancestors=ancestors[cid],
            )
            by_id[cid] = c
            for term in (*c.en, *c.zh):
                terms.add(term_key(term), (cat, cid))
            for ab in _as_tuple(e.get("abbr")):
                abbreviations.add(term_key(ab), (cat, cid))
        for c in by_id.values():
            for other in (*c.adjacent, *([c.opposite] if c.opposite else [])):
                if other not in by_id:
                    raise ValueError(f"lexicon {cat}:{c.id}: unknown adjacent/opposite {other!r}")
        concepts[cat] = by_id
    for c in concepts.get("disease", {}).values():
        if c.site and c.site not in concepts.get("site", {}):
            raise ValueError(f"lexicon disease:{c.id}: unknown site {c.site!r}")
    for word in _as_tuple((data.get("generic") or {}).get("en")) + _as_tuple((data.get("generic") or {}).get("zh")):
        terms.add(term_key(word), ("generic", "generic"))
    for word in _as_tuple((data.get("stop") or {}).get("en")) + _as_tuple((data.get("stop") or {}).get("zh")):
        terms.add(term_key(word), ("stop", "stop"))
    conflicts = []
    for e in data.get("treatment_conflicts") or []:
        good, bad = str(e["good"]), str(e["bad"])
        for t in (good, bad):
            if t not in concepts["treatment"]:
                raise ValueError(f"lexicon treatment_conflicts: unknown treatment {t!r}")
        conflicts.append((good, bad))
    dangerous = TermIndex()
    for phrase in _as_tuple((data.get("dangerous") or {}).get("en")) + _as_tuple(
        (data.get("dangerous") or {}).get("zh")
    ):
        dangerous.add(term_key(phrase), ("dangerous", phrase))
    return Lexicon(
        concepts=concepts,
        terms=terms.freeze(),
        abbreviations=abbreviations.freeze(),
        treatment_conflicts=tuple(conflicts),
        dangerous=dangerous.freeze(),
        version=int(data.get("version", 0)),
    )


@lru_cache(maxsize=4)
def lexicon_sha(path: str | None = None) -> str:
    """First 12 hex digits of the sha256 of the lexicon file (a lexicon edit changes verdicts)."""
    p = Path(path) if path else LEXICON_PATH
    return hashlib.sha256(p.read_bytes()).hexdigest()[:12]


@lru_cache(maxsize=4)
def get_lexicon(path: str | None = None) -> Lexicon:
    """The lexicon (parsed once per process)."""
    p = Path(path) if path else LEXICON_PATH
    return build_lexicon(yaml.safe_load(p.read_text(encoding="utf-8")))
