"""Reference parts and how well a candidate states each one (pure).

A reference is split into *parts*: one per concept it asserts (lesion, site, side, disease,
treatment, relation, property, and the rubric's table attributes). A part is *required* when
it is what the question asks for (the focus of the ability / attribute) and is not already given
by the question; the other parts are *optional*: they never need repeating but can still be
contradicted. Each part earns a credit against the candidate:

* 1 - same concept, a synonym, a more specific consistent concept, a full-credit table pair;
* partial - an adjacent table pair or lesion, a coarser site (``coarser_site_credit``), a broader
  disease (``parent_disease_credit``), a near size (within the table's ``partial_factor``),
  or a calibrated ``rubric.local.overrides`` pair;
* 0 *contradicted* - the candidate negates it, states a conflicting value in its place
  (another site, side, colour, diagnosis, primary lesion), or recommends conflicting treatment;
* 0 *missing* - the candidate says nothing about it.

When the reference holds no concept the lexicon or tables know, its remaining words form one
*plain-words* part, matched by containment / token coverage (the generic path).
"""

from __future__ import annotations

from dataclasses import dataclass

from judge.clinical.lexicon import Lexicon
from judge.clinical.mentions import Analysis, Mention
from judge.clinical.sizes import compare_ranges, fmt_range
from judge.clinical.tables import ATTRIBUTES, Compiled

LEXICAL = ("lesion", "site", "side", "disease", "treatment", "relation", "property", "organism")
PART_CATS = (*LEXICAL, *ATTRIBUTES)

FOCUS: dict[str, frozenset[str]] = {
    "lesion_recognition": frozenset({"lesion"}),
    "location_recognition": frozenset({"site", "side"}),
    "attribute_recognition": frozenset(ATTRIBUTES),
    "spatial_relation": frozenset({"relation", "site", "side"}),
    "disease_diagnosis": frozenset({"disease"}),
    "suggestion_treatment": frozenset({"treatment"}),
}
"""What each ability asks for; lesion_reasoning (and unknown abilities) ask for everything."""

# categories in which a different asserted value contradicts the reference value
_EXCLUSIVE = frozenset({"site", "side", "disease", "color", "size", "shape", "boundary", "quantity", "distribution"})


@dataclass
class Part:
    """One thing the reference asserts."""

    cat: str
    mention: Mention | None
    required: bool
    given: bool = False
    words: tuple[str, ...] = ()
    credit: float = 0.0
    status: str = "missing"
    note: str = ""

    @property
    def label(self) -> str:
        """Readable name of the part."""
        if self.mention is None:
            return " ".join(self.words[:6])
        return ("no " if self.mention.neg else "") + (self.mention.text or "/".join(sorted(self.mention.ids)))


def _same_value(a: Mention, b: Mention) -> bool:
    if a.cat != b.cat:
        return False
    if a.rng is not None and b.rng is not None:
        return a.rng[0] <= b.rng[1] and b.rng[0] <= a.rng[1]
    if a.count is not None or b.count is not None:
        return a.count == b.count and a.ids == b.ids
    return bool(a.ids & b.ids)


class Comparer:
    """Credits of candidate mentions against reference parts, under one rubric."""

    def __init__(self, ct: Compiled, lex: Lexicon) -> None:
        self.ct = ct
        self.lex = lex
        self.p = ct.params

    # ------------------------------------------------------------------ concept pairs
    def pair(self, cat: str, a: str, b: str) -> tuple[float, str]:
        """Credit of candidate concept ``b`` for reference concept ``a`` and the relation's name."""
        if a == b:
            return 1.0, "same"
        o = self.ct.pair_override(cat, a, b)
        if o is not None:
            return o, "calibrated pair"
        if cat in ATTRIBUTES:
            return self.ct.group_credit(cat, a, b)
        lex = self.lex
        ca, cb = lex.get(cat, a), lex.get(cat, b)
        if ca is None or cb is None:
            return 0.0, "different"
        if cat == "side":
            if "bilateral" in (a, b):
                return self.p.adjacent_credit, "one side vs both"
            return 0.0, "opposite side"
        if cat in ("relation", "property"):
            if ca.opposite == b or cb.opposite == a:
                return 0.0, "opposite"
            if b in ca.adjacent or a in cb.adjacent:
                return self.p.adjacent_credit, "adjacent"
            return 0.0, "different"
        if cat == "lesion":
            if b in ca.adjacent or a in cb.adjacent:
                return self.p.adjacent_credit, "adjacent lesion"
            return 0.0, "different"
        if a in cb.ancestors:  # candidate more specific
            return 1.0, "more specific"
        if b in ca.ancestors:  # candidate broader
            if cb.generic:
                return 0.0, "too general"
            if b in ca.parents and ca.parent_full:
                return 1.0, "same region" if cat == "site" else "same class"
            if cat == "site":
                return self.p.coarser_site_credit, "coarser site"
            if cat == "disease":
                return self.p.parent_disease_credit, "broader category"
            if cat == "treatment":
                if ca.parent_full:
                    return 1.0, "same class"
                return self.p.adjacent_credit, "broader class"
            return self.p.adjacent_credit, "broader"
        if cat == "treatment" and (b in ca.adjacent or a in cb.adjacent):
            return self.p.adjacent_credit, "related treatment"
        return 0.0, "different"

    def credit(self, ref: Mention, cand: Mention) -> tuple[float, str]:
        """Credit of one candidate mention for one reference mention (both asserted)."""
        if ref.cat == "size":
            if ref.rng is None or cand.rng is None:
                return 0.0, "different"
            spec = self.ct.tables.get("size")
            verdict = compare_ranges(ref.rng, cand.rng, spec.partial_factor if spec else None)
            if verdict == "same":
                return 1.0, "overlapping sizes"
            if verdict == "near":
                return self.p.adjacent_credit, "size within the partial factor"
            return 0.0, "size out of range"
        if ref.cat == "quantity":
            return self._quantity(ref, cand)
        if ref.cat == "color" and (len(ref.ids) > 1 or len(cand.ids) > 1):
            if ref.ids == cand.ids:
                return 1.0, "same compound colour"
            if ref.ids & cand.ids:
                return self.p.adjacent_credit, "compound colour shares one family"
            return 0.0, "different"
        best, why = 0.0, "different"
        for a in ref.ids:
            for b in cand.ids:
                c, w = self.pair(ref.cat, a, b)
                if c > best or (c == best and best == 0.0 and w in ("opposite", "opposite side")):
                    best, why = c, w
                if best >= 1.0:
                    return best, why
        return best, why

    def _quantity(self, ref: Mention, cand: Mention) -> tuple[float, str]:
        spec = self.ct.tables.get("quantity")
        counts = spec.count if spec else {}

        def contains(group: str, n: int) -> bool:
            rng = counts.get(group)
            return rng is not None and rng[0] <= n and (rng[1] is None or n <= rng[1])

        if ref.count is not None and cand.count is not None:
            return (1.0, "same count") if ref.count == cand.count else (0.0, "different count")
        if ref.count is None and cand.count is not None:  # reference "multiple", candidate "3"
            if any(contains(g, cand.count) for g in ref.ids):
                return 1.0, "count fits the reference's quantity"
            return 0.0, "count contradicts the reference's quantity"
        if ref.count is not None and cand.count is None:  # reference "3", candidate "multiple"
            if any(contains(g, ref.count) for g in cand.ids):
                if ref.count == 1:
                    return 1.0, "single"
                return self.p.adjacent_credit, "'multiple' for an exact count"
            return 0.0, "quantity contradicts the count"
        best, why = 0.0, "different"
        for a in ref.ids:
            for b in cand.ids:
                c, w = self.pair("quantity", a, b)
                if c > best:
                    best, why = c, w
        return best, why

    def negation_matches(self, ref: Mention, cand: Mention) -> bool:
        """A negated candidate mention that states the reference: "not raised" for "flat"."""
        if ref.neg and cand.neg:
            return bool(ref.ids & cand.ids) or (ref.rng is not None and cand.rng is not None and self.credit(
                Mention(ref.cat, ref.ids, 0, 0, "", rng=ref.rng), Mention(cand.cat, cand.ids, 0, 0, "", rng=cand.rng))[0] >= 1)
        if not ref.neg and cand.neg:
            return any(self._opposite(ref.cat, a, b) for a in ref.ids for b in cand.ids)
        return False

    def _opposite(self, cat: str, a: str, b: str) -> bool:
        if cat in ATTRIBUTES:
            spec = self.ct.tables.get(cat)
            return bool(spec and b in spec.opposite_of.get(a, ()))
        ca = self.lex.get(cat, a)
        cb = self.lex.get(cat, b)
        return bool(ca and cb and (ca.opposite == b or cb.opposite == a))

    # ------------------------------------------------------------------ parts
    def score_part(self, part: Part, cand: Analysis, ref_parts: list[Part]) -> None:
        """Fill ``part.credit``, ``part.status`` and ``part.note``."""
        if part.mention is None:
            self._score_words(part, cand)
            return
        rm = part.mention
        mentions = cand.by_cat.get(rm.cat, [])
        asserted = [m for m in mentions if not m.neg and not m.diff]
        negated = [m for m in mentions if m.neg]
        if rm.neg:
            if any(self.negation_matches(rm, m) for m in negated):
                part.credit, part.status, part.note = 1.0, "matched", f"'{part.label}' also denied"
                return
            positive = Mention(rm.cat, rm.ids, rm.start, rm.end, rm.text, rng=rm.rng, count=rm.count)
            for m in asserted:
                c, _ = self.credit(positive, m)
                if c >= 1.0:
                    part.credit, part.status = 0.0, "contradicted"
                    part.note = f"reference says no {rm.text}, candidate asserts '{m.text}'"
                    return
            part.status, part.note = "missing", f"does not deny {rm.text}"
            return
        best, why, best_m = 0.0, "", None
        for m in asserted:
            c, w = self.credit(rm, m)
            if c > best:
                best, why, best_m = c, w, m
                if c >= 1.0:
                    break
        if best_m is None:
            for m in negated:
                if self.negation_matches(rm, m):
                    best, why, best_m = 1.0, "negated opposite", m
                    break
        if best_m is not None and best >= 1.0:
            part.credit, part.status = 1.0, "matched"
            part.note = f"'{best_m.text}' ~ '{rm.text}'" + ("" if why == "same" else f" ({why})")
            return
        # contradiction: the candidate negates it, or asserts a conflicting value in its place
        for m in negated:
            c, _ = self.credit(rm, Mention(m.cat, m.ids, m.start, m.end, m.text, rng=m.rng, count=m.count))
            if c >= 1.0:
                part.credit, part.status, part.note = 0.0, "contradicted", f"candidate denies '{rm.text}' ('not {m.text}')"
                return
        conflict = self._conflict(rm, asserted, ref_parts)
        if conflict is not None:
            part.credit, part.status, part.note = 0.0, "contradicted", conflict
            return
        if best_m is not None and best > 0:
            part.credit, part.status = best, "partial"
            part.note = f"'{best_m.text}' ~ '{rm.text}' ({why})"
            return
        part.status, part.note = "missing", f"no {rm.cat} matching '{rm.text}'"

    def _conflict(self, rm: Mention, asserted: list[Mention], ref_parts: list[Part]) -> str | None:
        others = [p.mention for p in ref_parts if p.mention is not None and p.mention is not rm and p.mention.cat == rm.cat]

        def explained(m: Mention) -> bool:
            return any(not o.neg and self.credit(o, m)[0] > 0 for o in others)

        for m in asserted:
            if explained(m):
                continue
            c, why = self.credit(rm, m)
            if c > 0:
                continue
            if rm.cat in _EXCLUSIVE or why in ("opposite", "opposite side"):
                if rm.cat == "site" and self._site_nested(rm, m):
                    continue
                return f"{rm.cat}: candidate says '{m.text}', reference '{rm.text}'" + (f" ({why})" if why != "different" else "")
            if rm.cat == "lesion":
                ka = {self.lex.concept("lesion", i).kind for i in rm.ids if self.lex.get("lesion", i)}
                kb = {self.lex.concept("lesion", i).kind for i in m.ids if self.lex.get("lesion", i)}
                if "primary" in ka and "primary" in kb:
                    return f"lesion: candidate says '{m.text}', reference '{rm.text}'"
        return None

    def _site_nested(self, rm: Mention, m: Mention) -> bool:
        """A site the candidate adds that lies inside or around the reference site is not a contradiction."""
        return any(self.lex.related("site", a, b) for a in rm.ids for b in m.ids)

    def _score_words(self, part: Part, cand: Analysis) -> None:
        words = part.words
        if not words:
            part.status = "matched"
            part.credit = 1.0
            return
        toks = cand.toks
        positions: dict[str, list[int]] = {}
        for i, t in enumerate(toks):
            if t.kind != "p":
                positions.setdefault(t.norm, []).append(i)
        hit = [w for w in words if w in positions]
        cover = len(hit) / len(words)
        negated = [w for w in hit if all(cand.negated[i] for i in positions[w])]
        if negated and len(negated) * 2 >= len(hit):
            part.credit, part.status = 0.0, "contradicted"
            part.note = f"candidate negates '{' '.join(negated[:4])}'"
            return
        if cover >= 0.75 or _contains(words, toks):
            part.credit, part.status, part.note = 1.0, "matched", f"states '{' '.join(words[:6])}'"
        elif cover > 0:
            part.credit, part.status = cover, "partial"
            part.note = f"states {len(hit)} of {len(words)} words of '{' '.join(words[:6])}'"
        else:
            part.status, part.note = "missing", f"does not state '{' '.join(words[:6])}'"


def _contains(words: tuple[str, ...], toks: tuple) -> bool:
    seq = [t.norm for t in toks if t.kind != "p"]
    k = len(words)
    if not k or k > len(seq):
        return False
    first = words[0]
    return any(seq[i] == first and tuple(seq[i : i + k]) == words for i in range(len(seq) - k + 1))


def build_parts(ref: Analysis, question: Analysis | None, focus: frozenset[str], cmp: Comparer) -> list[Part]:
    """The reference's parts, with required/optional set from the focus and the question."""
    lex = cmp.lex
    seen: set[tuple] = set()
    parts: list[Part] = []
    mentions = [m for m in ref.mentions if not m.diff and m.cat in PART_CATS]
    lesion_main = [m for m in mentions if m.cat == "lesion" and not m.neg and not _descriptor(lex, m)]
    for m in mentions:
        if m.cat == "relation" and "relation" not in focus:
            continue
        if m.cat == "lesion" and _descriptor(lex, m) and lesion_main:
            continue
        if m.cat in ("site", "disease", "treatment") and all(
            (c := lex.get(m.cat, i)) is not None and c.generic for i in m.ids
        ):
            continue
        key = (m.cat, m.ids, m.neg, m.rng, m.count)
        if key in seen:
            continue
        seen.add(key)
        given = question is not None and any(
            _same_value(m, q) and q.neg == m.neg for q in question.by_cat.get(m.cat, ())
        )
        parts.append(Part(m.cat, m, required=False, given=given))
    in_focus = [p for p in parts if p.cat in focus and not p.given]
    words = ref.residual
    chosen: list[Part]
    if in_focus:
        chosen = [p for p in in_focus if p.mention is not None and not p.mention.neg] or in_focus
    else:
        lacks_table = any(a in ATTRIBUTES and not cmp.ct.has(a) for a in focus)
        if lacks_table and words:
            # an attribute question under a rubric without that table: compare the words themselves
            chosen = [Part("words", None, required=True, words=_unique(words))]
            parts.append(chosen[0])
        else:
            nongiven = [p for p in parts if not p.given]
            chosen = [p for p in nongiven if p.mention is not None and not p.mention.neg] or nongiven or parts
            if not chosen and words:
                chosen = [Part("words", None, required=True, words=_unique(words))]
                parts.append(chosen[0])
    for p in chosen:
        p.required = True
    return parts


def _unique(words: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for w in words:
        if w not in out:
            out.append(w)
    return tuple(out)


def _descriptor(lex: Lexicon, m: Mention) -> bool:
    return all((c := lex.get("lesion", i)) is not None and c.descriptor for i in m.ids)


def describe_size(m: Mention) -> str:
    """``'about 5 mm' (3.75-6.25 mm)``."""
    if m.rng is None:
        return m.text
    return f"'{m.text}' ({fmt_range(*m.rng)})"
