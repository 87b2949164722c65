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
from itertools import pairwise

from judge.clinical.hedging import or_alternatives
from judge.clinical.lexicon import Lexicon
from judge.clinical.mentions import Analysis, Mention
from judge.clinical.sizes import compare_ranges
from judge.clinical.tables import ATTRIBUTES, Compiled

LEXICAL = ("lesion", "site", "side", "disease", "treatment", "relation", "property", "organism")
PART_CATS = (*LEXICAL, *ATTRIBUTES)

FOCUS: dict[str, frozenset[str]] = {
    # a lesion answer is its whole morphology: "white plaque" needs the colour as well as the plaque
    "lesion_recognition": frozenset({"lesion", "property", *ATTRIBUTES}),
    "location_recognition": frozenset({"site", "side", "relation"}),
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
    veto: bool = False
    """Not needed, but contradicting it scores 0 ("without scale" answered "scaly")."""
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


_PLACED = frozenset({"site", "side", "lesion", "relation", "property"})
"""Values stated of one place and denied of another ("左侧小腿胫前，右侧小腿未见异常", "papules on the
left, none on the right"): stating and denying one of these is no contradiction."""

MAX_VALUES = 256
"""An answer stating more different values of one kind than this (sizes, colours, sites ...) offers
every value: a hedge, whatever the reference. It also bounds the work per reference part."""


def value_key(m: Mention) -> tuple:
    """What makes two mentions the same value (their words aside)."""
    return (m.cat, m.ids, m.rng, m.count, m.core)


def values(cand: Analysis, cat: str) -> tuple[list[Mention], list[Mention]]:
    """The answer's distinct asserted and distinct negated values of ``cat``, first occurrences in
    order (computed once per analysis and category: repeating a value adds nothing)."""
    key = ("values", cat)
    hit = cand.memo.get(key)
    if hit is None:
        asserted: dict[tuple, Mention] = {}
        negated: dict[tuple, Mention] = {}
        for m in cand.by_cat.get(cat, []):
            if m.neg:
                negated.setdefault(value_key(m), m)
            elif not m.diff:
                asserted.setdefault(value_key(m), m)
        hit = cand.memo[key] = (list(asserted.values()), list(negated.values()))
    return hit


def _same(a: Mention, b: Mention) -> bool:
    """The same value: the same concepts, the same count, or overlapping measured sizes."""
    if a.rng is not None and b.rng is not None and not a.ids and not b.ids:
        return a.rng[0] <= b.rng[1] and b.rng[0] <= a.rng[1]
    return a.ids == b.ids and a.count == b.count


class Comparer:
    """Credits of candidate mentions against reference parts, under one rubric."""

    def __init__(self, ct: Compiled, lex: Lexicon) -> None:
        self.ct = ct
        self.lex = lex
        self.p = ct.params
        self.question: Analysis | None = None
        self.context_sites: frozenset[str] = frozenset()
        self.answer_sites: frozenset[str] = frozenset()
        self._credits: dict[tuple, tuple[float, str]] = {}
        self.exempt: set[tuple] = set()
        """Values (:func:`value_key`) offered as alternatives: judged by the hedge rule, never conflicts."""

    def set_context(self, question: Analysis | None, cand: Analysis) -> None:
        """The question (its mentions are given, never conflicts) and the sites stated around the answer."""
        self.question = question

        def sites_of(a: Analysis | None) -> frozenset[str]:
            return frozenset(i for m in (a.by_cat.get("site", []) if a else []) if not m.neg for i in m.ids)

        self.answer_sites = sites_of(cand)
        self.context_sites = sites_of(question) | self.answer_sites

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
        if cat == "treatment" and a == "referral" and cb.clinician:
            return 1.0, "a procedure implies seeing a clinician"
        if b in ca.ancestors:  # candidate broader
            if cb.generic:
                return 0.0, "too general"
            # the disease named without its site form ("lichen planus" for oral lichen planus), not a
            # site-bound class of its own (glossitis for geographic tongue)
            if cat == "disease" and not cb.broad and cb.site is None and self._site_stated(a, direct=b in ca.parents):
                return 1.0, "site-specific form, and the site is stated"
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

    def _site_stated(self, disease: str, *, direct: bool) -> bool:
        """The reference disease is a site-specific form (oral lichen planus) and its site is stated:
        in the question or the answer for the direct parent ("lichen planus" of the buccal mucosa),
        in the answer itself for a wider class ("fungal infection of the scalp" for tinea capitis)."""
        c = self.lex.get("disease", disease)
        site = c.site if c else None
        if site is None:
            return False
        sites = self.context_sites if direct else self.answer_sites
        return any(x == site or self.lex.is_ancestor("site", site, x) for x in sites)

    def credit(self, ref: Mention, cand: Mention) -> tuple[float, str]:
        """Credit of one candidate mention for one reference mention (both asserted); remembered per
        pair of values for the case (many references share their concepts)."""
        key = (ref.cat, ref.ids, ref.rng, ref.count, ref.core, cand.ids, cand.rng, cand.count, cand.core)
        hit = self._credits.get(key)
        if hit is None:
            hit = self._credits[key] = self._credit(ref, cand)
        return hit

    def _credit(self, ref: Mention, cand: Mention) -> tuple[float, str]:
        if ref.cat == "size":
            if ref.rng is None or cand.rng is None:
                return 0.0, "different"
            spec = self.ct.tables.get("size")
            verdict = compare_ranges(ref.rng, cand.rng, spec.partial_factor if spec else None, ref.core, cand.core)
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
            # a compound of full-credit families is one colour ("pinkish skin tone" ~ pink)
            if all(max(self.pair("color", a, b)[0] for a in ref.ids) >= 1.0 for b in cand.ids) and all(
                max(self.pair("color", a, b)[0] for b in cand.ids) >= 1.0 for a in ref.ids
            ):
                return 1.0, "compound of full-credit families"
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
            return bool(ref.ids & cand.ids) or (
                ref.rng is not None
                and cand.rng is not None
                and self.credit(
                    Mention(ref.cat, ref.ids, 0, 0, "", rng=ref.rng),
                    Mention(cand.cat, cand.ids, 0, 0, "", rng=cand.rng),
                )[0]
                >= 1
            )
        if not ref.neg and cand.neg:
            return any(self._opposite(ref.cat, a, b) for a in ref.ids for b in cand.ids)
        return False

    def opposite(self, cat: str, a: str, b: str) -> bool:
        """True when concepts ``a`` and ``b`` of ``cat`` are opposites (table or lexicon)."""
        return self._opposite(cat, a, b)

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
        asserted, negated = values(cand, rm.cat)
        every = asserted
        if len(asserted) > MAX_VALUES:
            part.credit, part.status = 0.0, "contradicted"
            part.note = f"hedge: offers {len(asserted)} different {rm.cat} values"
            return
        if rm.cat == "quantity" and len(asserted) > 1:
            # the count answered comes first; later numbers describe it ("two, one on each side")
            asserted = asserted[:1]
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
        denied = None
        for m in negated:
            c, _ = self.credit(rm, Mention(m.cat, m.ids, m.start, m.end, m.text, rng=m.rng, count=m.count))
            if c >= 1.0:
                denied = m
                break
        if best_m is None and denied is None:
            for m in negated:
                if self.negation_matches(rm, m):
                    best, why, best_m = 1.0, "negated opposite", m
                    break
        if best_m is not None and best >= 1.0 and not (denied is not None and why == "negated opposite"):
            opposite = self._asserts_opposite(rm, every)
            if opposite is not None:  # "well-defined ... in places ill-defined": it says both
                part.credit, part.status = 0.0, "contradicted"
                part.note = f"asserts both '{best_m.text}' and its opposite '{opposite.text}'"
                return
            if denied is not None and why != "negated opposite" and rm.cat not in _PLACED and _same(denied, best_m):
                # "psoriasis ... on reflection eczema, not psoriasis": a retraction, or a self-contradiction
                part.credit, part.status = 0.0, "contradicted"
                part.note = f"states '{best_m.text}' and also denies it ('not {denied.text}')"
                return
            part.credit, part.status = 1.0, "matched"
            same_words = best_m.text == rm.text
            part.note = f"{rm.cat}: '{best_m.text}' ~ '{rm.text}'" + ("" if same_words else _why(why, self.ct, rm.cat))
            return
        # contradiction: the candidate negates it, or asserts a conflicting value in its place
        if denied is not None:
            part.credit, part.status, part.note = (
                0.0,
                "contradicted",
                f"candidate denies '{rm.text}' ('not {denied.text}')",
            )
            return
        conflict = self._conflict(rm, asserted, ref_parts)
        if conflict is not None:
            part.credit, part.status, part.note = 0.0, "contradicted", conflict
            return
        if best_m is not None and best > 0:
            part.credit, part.status = best, "partial"
            part.note = f"{rm.cat}: '{best_m.text}' ~ '{rm.text}'" + _why(why, self.ct, rm.cat, best)
            return
        part.status, part.note = "missing", f"no {rm.cat} matching '{rm.text}'"

    def _asserts_opposite(self, rm: Mention, asserted: list[Mention]) -> Mention | None:
        if rm.cat not in ATTRIBUTES and rm.cat not in ("property", "relation", "side"):
            return None
        for m in asserted:
            if value_key(m) in self.exempt or m.ids & rm.ids:
                continue
            if any(self._opposite(rm.cat, a, b) for a in rm.ids for b in m.ids) or (
                rm.cat == "side" and {"left", "right"} <= (rm.ids | m.ids) and not (rm.ids & m.ids)
            ):
                return m
        return None

    def _conflict(self, rm: Mention, asserted: list[Mention], ref_parts: list[Part]) -> str | None:
        others = [
            p.mention for p in ref_parts if p.mention is not None and p.mention is not rm and p.mention.cat == rm.cat
        ]

        given = self.question.by_cat.get(rm.cat, []) if self.question is not None else []

        def explained(m: Mention) -> bool:
            if value_key(m) in self.exempt:
                return True
            if any(not o.neg and self.credit(o, m)[0] > 0 for o in others):
                return True
            # restating what the question names (the landmark, the lesion asked about) is no conflict
            return any(
                not q.neg and (q.ids & m.ids or any(self.lex.related(rm.cat, x, y) for x in q.ids for y in m.ids))
                for q in given
                if rm.cat in ("site", "disease", "lesion", "treatment")
            )

        for m in asserted:
            if explained(m):
                continue
            c, why = self.credit(rm, m)
            if c > 0:
                continue
            if rm.cat in _EXCLUSIVE or why in ("opposite", "opposite side"):
                if rm.cat == "site" and self._site_nested(rm, m):
                    continue
                return f"{rm.cat}: candidate says '{m.text}', reference '{rm.text}'" + (
                    f" ({why})" if why != "different" else ""
                )
            if rm.cat == "lesion":
                ka = {self.lex.concept("lesion", i).kind for i in rm.ids if self.lex.get("lesion", i)}
                kb = {self.lex.concept("lesion", i).kind for i in m.ids if self.lex.get("lesion", i)}
                if "primary" in ka and "primary" in kb:
                    return f"lesion: candidate says '{m.text}', reference '{rm.text}'"
        return None

    def _site_nested(self, rm: Mention, m: Mention) -> bool:
        """A site the candidate adds that lies inside or around the reference site is not a contradiction."""
        return any(self.lex.related("site", a, b) for a in rm.ids for b in m.ids)

    def _question_words(self) -> tuple[frozenset[str], frozenset[tuple[str, str]]]:
        """The question's words and word bigrams (computed once per question)."""
        q = self.question
        if q is None:
            return frozenset(), frozenset()
        hit = q.memo.get("words")
        if hit is None:
            qseq = [t.norm for t in q.toks if t.kind != "p"]
            hit = q.memo["words"] = (frozenset(qseq), frozenset(pairwise(qseq)))
        return hit

    def _score_words(self, part: Part, cand: Analysis) -> None:
        words = part.words
        if not words:
            part.status = "matched"
            part.credit = 1.0
            return
        qwords, qbigrams = self._question_words()
        # when the question holds every reference word, the answer repeating the question's phrase
        # around them is not the answer: those occurrences do not count
        echo = bool(qbigrams) and set(words) <= qwords
        stats = _word_stats(cand, qbigrams if echo else frozenset())
        hit = [w for w in words if w in stats]
        cover = len(hit) / len(words)
        negated = [w for w in hit if stats[w][1] == stats[w][0]]
        if negated and len(negated) * 2 >= len(hit):
            part.credit, part.status = 0.0, "contradicted"
            part.note = f"candidate negates '{' '.join(negated[:4])}'"
            return
        if cover >= 0.75 or _contains(words, cand):
            part.credit, part.status, part.note = 1.0, "matched", f"states '{' '.join(words[:6])}'"
        elif cover > 0:
            part.credit, part.status = cover, "partial"
            part.note = f"states {len(hit)} of {len(words)} words of '{' '.join(words[:6])}'"
        else:
            part.status, part.note = "missing", f"does not state '{' '.join(words[:6])}'"


def _word_stats(cand: Analysis, echo: frozenset[tuple[str, str]]) -> dict[str, tuple[int, int]]:
    """Word -> (occurrences, negated occurrences) in the answer, leaving out occurrences inside a
    bigram of ``echo`` (computed once per answer and echo set)."""
    key = ("word_stats", echo)
    hit = cand.memo.get(key)
    if hit is not None:
        return hit
    toks = cand.toks
    content = [i for i, t in enumerate(toks) if t.kind != "p"]
    stats: dict[str, list[int]] = {}
    for k, i in enumerate(content):
        w = toks[i].norm
        if echo:
            prev = toks[content[k - 1]].norm if k > 0 else ""
            nxt = toks[content[k + 1]].norm if k + 1 < len(content) else ""
            if (prev, w) in echo or (w, nxt) in echo:
                continue
        entry = stats.setdefault(w, [0, 0])
        entry[0] += 1
        entry[1] += cand.negated[i]
    out = {w: (c, n) for w, (c, n) in stats.items()}
    cand.memo[key] = out
    return out


_RELATION_WORDS = {
    "full": "full-credit pair",
    "adjacent": "adjacent pair",
    "opposite": "opposites",
    "override": "calibrated pair",
    "same": "",
}


def _why(why: str, ct: Compiled, cat: str, credit: float | None = None) -> str:
    """`` (v3 color table: full-credit pair, 0.5)`` - where the credit comes from."""
    if why == "same":
        if cat in ATTRIBUTES and ct.has(cat):
            return f" ({ct.rubric_id.rpartition('/')[2] or ct.rubric_id} {cat} table: same group)"
        return " (synonym)" if cat != "words" else ""
    tail = f", {credit:g}" if credit is not None and 0 < credit < 1 else ""
    if cat in ATTRIBUTES and why in _RELATION_WORDS and ct.has(cat):
        version = ct.rubric_id.rpartition("/")[2] or ct.rubric_id
        return f" ({version} {cat} table: {_RELATION_WORDS[why]}{tail})"
    return f" ({why}{tail})"


def _contains(words: tuple[str, ...], cand: Analysis) -> bool:
    """True when the answer holds ``words`` in a row (punctuation aside)."""
    if not words:
        return False
    joined = cand.memo.get("joined")
    if joined is None:
        joined = cand.memo["joined"] = "\x1f" + "\x1f".join(t.norm for t in cand.toks if t.kind != "p") + "\x1f"
    return ("\x1f" + "\x1f".join(words) + "\x1f") in joined


def build_parts(
    ref: Analysis, question: Analysis | None, focus: frozenset[str], cmp: Comparer, *, generic: bool = False
) -> list[Part]:
    """The reference's parts, with required/optional set from the focus and the question."""
    lex = cmp.lex
    seen: set[tuple] = set()
    parts: list[Part] = []
    mentions = [m for m in ref.mentions if not m.diff and m.cat in PART_CATS]
    lesion_main = [m for m in mentions if m.cat == "lesion" and not m.neg and not _descriptor(lex, m)]
    positive_ids = {(m.cat, i) for m in mentions if not m.neg for i in m.ids}
    options = options_in(question, cmp) if question is not None else set()
    for m in mentions:
        if m.cat == "relation" and "relation" not in focus:
            continue
        if m.cat == "lesion" and _descriptor(lex, m) and lesion_main:
            continue
        if m.cat in ("site", "disease", "treatment") and all(
            (c := lex.get(m.cat, i)) is not None and c.generic for i in m.ids
        ):
            continue
        if m.neg and any((m.cat, i) in positive_ids for i in m.ids):
            continue  # "scaling suggests tinea; alopecia areata is non-scaly": the denial is about something else
        key = (m.cat, m.ids, m.neg, m.rng, m.count)
        if key in seen:
            continue
        seen.add(key)
        found = _host(ref, m, parts, cmp)
        if found is not None:  # a gloss, an example, an alternative or a restatement of an earlier part
            host, how = found
            hm = host.mention
            assert hm is not None
            host.mention = Mention(
                hm.cat,
                _merge(hm, m, how, cmp),
                hm.start,
                hm.end,
                hm.text,
                neg=hm.neg,
                rng=hm.rng,
                count=hm.count,
                diff=hm.diff,
            )
            continue
        given = question is not None and _given(m, question, options)
        parts.append(Part(m.cat, m, required=False, given=given))
    in_focus = [p for p in parts if p.cat in focus and not p.given]
    given_focus = [p for p in parts if p.cat in focus and p.given]
    words = ref.residual
    chosen: list[Part]
    if in_focus:
        chosen = [p for p in in_focus if p.mention is not None and not p.mention.neg] or in_focus
        if generic and len(words) > len(ref.content) - len(words):
            # a general answer whose words are mostly not clinical concepts: the words count too
            chosen.append(Part("words", None, required=True, words=_unique(words)))
            parts.append(chosen[-1])
    elif given_focus:
        # the question already names the answer ("the colour of this erythematous plaque?" - red):
        # the answer must still state it
        chosen = given_focus
    elif any(a in ATTRIBUTES and not cmp.ct.has(a) for a in focus) and words:
        # an attribute question under a rubric without that table: compare the words themselves
        chosen = [Part("words", None, required=True, words=_unique(words))]
        parts.append(chosen[0])
    else:
        nongiven = [p for p in parts if not p.given]
        chosen = [p for p in nongiven if p.mention is not None and not p.mention.neg] or nongiven or parts
        if not chosen and (ref.content or words):
            chosen = [Part("words", None, required=True, words=_unique(ref.content or words))]
            parts.append(chosen[0])
    for p in chosen:
        p.required = True
    for p in parts:  # what the reference denies, in what the question asks about, must not be asserted
        if not p.required and p.mention is not None and p.mention.neg and p.cat in focus:
            p.veto = True
    return parts


_TREES = frozenset({"site", "disease", "treatment"})


def _given(m: Mention, question: Analysis, options: set[int]) -> bool:
    """The question already states ``m`` (not as one of the choices it offers)."""
    if m.rng is None and m.count is None:  # a concept: look its ids up (a long question is indexed once)
        index = question.memo.get("by_id")
        if index is None:
            index = {}
            for q in question.mentions:
                if q.count is None:
                    for i in q.ids:
                        index.setdefault((q.cat, q.neg, i), []).append(q)
            question.memo["by_id"] = index
        hits = (q for i in m.ids for q in index.get((m.cat, m.neg, i), ()))
    else:
        hits = (q for q in question.by_cat.get(m.cat, ()) if q.neg == m.neg)
    return any(_same_value(m, q) and id(q) not in options for q in hits)


def options_in(question: Analysis, cmp: Comparer) -> set[int]:
    """Mentions a question offers as a choice ("well-defined or ill-defined?", 良性还是恶性): not given
    (computed once per question)."""
    hit = question.memo.get("options")
    if hit is None:
        hit = question.memo["options"] = _options_in(question, cmp)
    return hit


def _options_in(question: Analysis, cmp: Comparer) -> set[int]:
    out: set[int] = set()
    for cat in question.by_cat:
        alts = or_alternatives(question, cat, cmp.lex)
        if len(alts) >= 2:
            starts = {a.start for a in alts}
            out |= {id(m) for m in question.by_cat[cat] if m.start in starts}
    return out


def _host(ref: Analysis, m: Mention, parts: list[Part], cmp: Comparer) -> tuple[Part, str] | None:
    """The earlier part ``m`` only restates: same or related concept, a bracketed gloss or an
    example ("(e.g. terbinafine)", 如...), or an alternative ("griseofulvin or terbinafine")."""
    same_cat = [p for p in parts if p.cat == m.cat and p.mention is not None and p.mention.neg == m.neg]
    if not same_cat or m.cat in ("size", "quantity"):
        return None
    last = same_cat[-1]
    lm = last.mention
    assert lm is not None
    toks = ref.toks
    gloss = (m.start < len(toks) and toks[m.start].paren and not toks[lm.start].paren) or _joined(ref, lm, m)
    if m.cat in _TREES:
        for p in same_cat:
            pm = p.mention
            if pm is not None and (pm.ids & m.ids or any(cmp.lex.related(m.cat, a, b) for a in pm.ids for b in m.ids)):
                return p, ("gloss" if gloss else "specific")
    if gloss:
        return last, "gloss"
    return None


def _joined(ref: Analysis, a: Mention, b: Mention) -> bool:
    """``b`` follows ``a`` as an alternative or an example: "A or B", "A/B", "A, e.g. B", "A 如 B"."""
    if ref.has_break_between(a.end, b.start):
        return False
    for c in ref.cues:
        if a.end <= c.start and c.end <= b.start and ("or" in c.kinds or "eg" in c.kinds):
            return c.start - a.end <= 2 and b.start - c.end <= 2
    return False


def _merge(host: Mention, m: Mention, how: str, cmp: Comparer) -> frozenset[str]:
    """Ids of a part after absorbing ``m``: a gloss or alternative widens it (any of them will do,
    but an example below it adds nothing: "oral antifungal (e.g. terbinafine)" stays oral); a
    plain restatement narrows it to the most specific ("右足拇趾甲" is the great toenail)."""
    lex = cmp.lex
    if how == "gloss":
        extra = {b for b in m.ids if not any(lex.is_ancestor(host.cat, a, b) for a in host.ids)}
        return host.ids | extra
    ids = set(host.ids | m.ids)
    return frozenset(i for i in ids if not any(lex.is_ancestor(host.cat, i, j) for j in ids if j != i))


def _unique(words: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for w in words:
        if w not in out:
            out.append(w)
    return tuple(out)


def _descriptor(lex: Lexicon, m: Mention) -> bool:
    return all((c := lex.get("lesion", i)) is not None and c.descriptor for i in m.ids)
