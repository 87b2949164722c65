"""What a text asserts: concept mentions with negation, sizes, counts and residual words (pure).

One pass per kind over the token stream, in this order:

1. sizes with units (``sizes.py``) take their tokens first;
2. the rubric's tables (colour, size descriptors, shape, ...), each table longest-match on its own;
3. the lexicon (forward longest match; an upper-case abbreviation only when written in capitals);
   a lexicon term inside a longer table term is dropped (齿 in 锯齿状), and a table term inside a
   disease, treatment, site or stop phrase is dropped ("nummular" in "nummular eczema");
4. sides (bare "left", 左, "both" only in front of a body site), exact counts ("3 papules", 两个);
5. cues on the tokens nobody took, then negation scopes and the differential section.

Usage::

    a = analyze("No scale; pink papules on the left cheek", compiled(rubric))
    [(m.cat, sorted(m.ids), m.neg) for m in a.mentions]
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import Any

from judge.clinical.cues import cue_index
from judge.clinical.lexicon import Lexicon, get_lexicon
from judge.clinical.sizes import parse_sizes
from judge.clinical.tables import Compiled
from judge.clinical.text import HARD_BREAKS, SOFT_BREAKS, Token, normalize, tokens_of, upper_words

BLOCKING = frozenset({"disease", "treatment", "site", "stop", "generic", "organism", "property"})
"""Lexicon categories whose terms hide table terms inside them."""

NOUNISH = frozenset({"lesion", "generic", "disease"})

_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "twenty": 20,
    "single": 1,
    "couple": 2,
    "pair": 2,
}
_ZH_CLASSIFIERS = frozenset("个处枚颗块片粒只条发")
_SIDE_WORDS = {
    "left": "left",
    "right": "right",
    "both": "bilateral",
    "左": "left",
    "右": "right",
    "双": "bilateral",
    "两": "bilateral",
}
_SIDE_NEXT = frozenset({"side", "sided", "侧", "边", "面", "上", "下"})
_SIDE_PREV = frozenset({"on", "to", "at", "from"})

STOPWORDS = frozenset(
    """a an the of in on at to for from by with without and or but is are was were be been being it its this
    that these those there here which who what when where why how as than then so such very more most much
    many some any each other into onto over under about above below up down out off again further once only
    own same too can could should would may might must will shall do does did done has have had having i
    you he she we they me him them my your our their his her not no yes also just both either neither nor
    all few if while because due per via like look looks looking seem seems appear appears appearing
    likely probably possibly shows show showing seen see noted present presence consistent suggest suggests
    suggestive typical typically usually often generally well given based image picture photo lesion lesions
    skin area patient answer question located location found finding findings note likely because since due
    caused cause therefore thus hence indicates indicate indicating typical characteristic features feature
    s t d ll m re ve""".split()
) | frozenset("的了是在有和与及或为呈见可其该此这那一也都很较等处部位病症状患者其中以及并且且而个种类型可能")


@dataclass(slots=True)
class Mention:
    """One assertion (or negated assertion) of a concept, table group, size or count."""

    cat: str
    ids: frozenset[str]
    start: int
    end: int
    text: str
    neg: bool = False
    rng: tuple[float, float] | None = None
    count: int | None = None
    diff: bool = False
    core: tuple[float, float] | None = None


by_position = attrgetter("start", "end")
"""Sort key of mentions: text order."""


@dataclass(slots=True)
class Cue:
    """A function-word cue found on free tokens."""

    kinds: frozenset[str]
    start: int
    end: int


@dataclass
class Analysis:
    """Everything the judge reads from one text."""

    text: str
    norm: str
    toks: tuple[Token, ...]
    mentions: list[Mention]
    cues: list[Cue]
    numbers: list[Mention]
    residual: tuple[str, ...]
    covered: bytearray
    negated: bytearray
    content: tuple[str, ...] = ()
    polarity: tuple[int, bool] | None = None
    by_cat: dict[str, list[Mention]] = field(default_factory=dict)
    memo: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    """Results computed once per analysis (the answer's diagnoses, its alternatives per category):
    a candidate is read once whatever the number of references. Empty in a derived copy."""

    def of(self, cat: str, *, include_neg: bool = False, include_diff: bool = True) -> list[Mention]:
        """Mentions of ``cat`` (asserted ones by default)."""
        out = self.by_cat.get(cat, [])
        if include_neg and include_diff:
            return out
        return [m for m in out if (include_neg or not m.neg) and (include_diff or not m.diff)]

    def cue_kinds_between(self, a: int, b: int) -> set[str]:
        """Cue kinds found between token ``a`` (inclusive) and ``b`` (exclusive)."""
        out: set[str] = set()
        starts = self.memo.get("cue_starts")
        if starts is None:
            starts = self.memo["cue_starts"] = [c.start for c in self.cues]
        for k in range(bisect_left(starts, a), len(self.cues)):
            c = self.cues[k]
            if c.start >= b:
                break
            if c.end <= b:
                out |= c.kinds
        return out

    def has_break_between(self, a: int, b: int) -> bool:
        """True when a clause end (., ;, newline, ...) lies between tokens ``a`` and ``b``."""
        breaks = self.memo.get("breaks")
        if breaks is None:
            breaks = self.memo["breaks"] = [
                i for i, t in enumerate(self.toks) if t.kind == "p" and t.norm in HARD_BREAKS
            ]
        k = bisect_left(breaks, a)
        return k < len(breaks) and breaks[k] < min(b, len(self.toks))


def derived(a: Analysis, mentions: list[Mention], **changes: Any) -> Analysis:
    """A copy of ``a`` holding ``mentions`` (sorted, indexed by category) and the given changes."""
    by_cat: dict[str, list[Mention]] = {}
    for m in mentions:
        by_cat.setdefault(m.cat, []).append(m)
    return replace(a, mentions=mentions, by_cat=by_cat, polarity=None, **changes)


def _span_tokens(starts: list[int], toks: tuple[Token, ...], a: int, b: int) -> tuple[int, int]:
    i = bisect_left(starts, a)
    j = i
    while j < len(toks) and toks[j].end <= b:
        j += 1
    return i, j


def _text(norm: str, toks: tuple[Token, ...], i: int, j: int) -> str:
    if i >= j or i >= len(toks):
        return ""
    return norm[toks[i].start : toks[j - 1].end]


Piece = tuple[int, int, int]
"""``(start, end, own_start)``: characters ``start:end`` of an analysed text are the analysed text's own
words, found at ``own_start`` of its own normalised text; whatever no piece covers is context."""


def analyze(text: str, ct: Compiled, lex: Lexicon | None = None) -> Analysis:
    """Analyse ``text`` under the compiled rubric ``ct`` (see the module docstring for the passes)."""
    text = text or ""
    return analyze_normalized(text, normalize(text), upper_words(text), ct, lex)


def analyze_normalized(
    text: str,
    norm: str,
    upper: frozenset[str],
    ct: Compiled,
    lex: Lexicon | None = None,
    *,
    own: list[Piece] | None = None,
    own_norm: str | None = None,
    toks: tuple[Token, ...] | None = None,
) -> Analysis:
    """Analyse the normalised ``norm`` (``upper``: its words written in capitals).

    With ``own``, ``norm`` is the text's own words set in context (a blank's surroundings): the context
    shapes how the words read (边界____ + 不清 is 边界不清, "does not have ____" negates the blank) but
    the analysis keeps only what touches the own pieces, with offsets into ``own_norm``. ``toks``:
    the tokens of ``norm``, when the caller has them already.
    """
    lex = lex or get_lexicon()
    if toks is None:
        toks = tokens_of(norm, upper)
    n = len(toks)
    covered = bytearray(n)
    mentions: list[Mention] = []
    starts = [t.start for t in toks]
    norms = [t.norm for t in toks]
    puncts = [t.kind == "p" for t in toks]

    # 1. sizes
    size_cover = bytearray(n)
    sizes = parse_sizes(norm)
    has_sizes = bool(sizes)
    for size in sizes:
        i, j = _span_tokens(starts, toks, size.start, size.end)
        if i >= j:
            continue
        for k in range(i, j):
            size_cover[k] = 1
            covered[k] = 1
        mentions.append(Mention("size", frozenset(), i, j, size.text, rng=(size.lo, size.hi), core=size.core))

    # 2. tables: each attribute longest-match on its own
    table_spans: list[tuple[int, int, str, frozenset[str]]] = []
    table_firsts = ct.index.firsts()
    if table_firsts:
        next_free: dict[str, int] = {}
        for i in range(n):
            if puncts[i] or size_cover[i] or norms[i] not in table_firsts:
                continue
            found = ct.index.all_at(toks, i)
            if not found:
                continue
            if len(found) == 1 and len(found[0][1]) == 1 and not has_sizes:  # the common case, no allocation
                k, ((attr, group),) = found[0]
                if next_free.get(attr, 0) <= i:
                    next_free[attr] = i + k
                    table_spans.append((i, i + k, attr, _group(group)))
                continue
            taken: dict[str, tuple[int, set[str]]] = {}  # attribute -> (length, groups)
            for k, payloads in found:
                if has_sizes and size_cover.find(1, i, i + k) >= 0:
                    continue
                for attr, group in payloads:
                    if next_free.get(attr, 0) > i:
                        continue
                    if attr not in taken:
                        taken[attr] = (k, {group})
                    elif taken[attr][0] == k:
                        taken[attr][1].add(group)
            for attr, (k, found_groups) in taken.items():
                next_free[attr] = i + k
                table_spans.append((i, i + k, attr, frozenset(found_groups)))
    inside_table = _Containment(n, [(s, e) for s, e, _, _ in table_spans])

    # 3. lexicon (forward maximum matching)
    lex_spans: list[tuple[int, int, dict[str, frozenset[str]]]] = []
    lex_firsts = lex.terms.firsts()
    abbr_firsts = lex.abbreviations.firsts()
    has_side = any(x in _SIDE_WORDS for x in norms)
    i = 0
    while i < n:
        t = toks[i]
        if puncts[i] or size_cover[i]:
            i += 1
            continue
        if norms[i] in lex_firsts:
            k, payloads = lex.terms.longest(toks, i)
        else:
            k, payloads = 0, ()
        if (
            norms[i] in abbr_firsts
            and (t.upper or (len(t.norm) >= 3 and t.norm not in _WORD_LIKE))
            and not (i > 0 and toks[i - 1].kind == "n")
        ):
            k2, p2 = lex.abbreviations.longest(toks, i)
            if k2 > k:
                k, payloads = k2, p2
        if not k and not has_side:
            i += 1
            continue
        side_at = None
        inner = _inner_side(toks, i, n) if has_side else None
        if inner is not None:  # "back of the RIGHT hand", 舌左侧缘: match the site around the side word
            s_pos, s_len = inner
            view = toks[i:s_pos] + toks[s_pos + s_len : min(n, i + 10)]
            k3, p3 = lex.terms.longest(view, 0)
            if k3 > s_pos - i and k3 + s_len > k and any(c == "site" for c, _ in p3):
                k, payloads, side_at = k3 + s_len, p3, (s_pos, s_len)
        if k and inside_table.strictly(i, i + k):
            k = 0  # inside a longer table term
        if not k:
            i += 1
            continue
        lex_spans.append((i, i + k, _by_category(payloads)))
        if side_at is not None:
            s_pos, s_len = side_at
            inner_side = _SIDE_WORDS[toks[s_pos].norm]
            mentions.append(Mention("side", frozenset((inner_side,)), s_pos, s_pos + s_len, toks[s_pos].norm))
        i += k

    blocked = _Containment(n, [(s, e) for s, e, cats in lex_spans if BLOCKING & cats.keys()])
    for ts, te, attr, groups in table_spans:
        if blocked.strictly(ts, te):
            continue
        for x in range(ts, te):
            covered[x] = 1
        txt = _text(norm, toks, ts, te)
        if attr == "size":
            spec = ct.tables.get("size")
            rngs = [spec.mm[g] for g in groups if spec and g in spec.mm]
            if rngs:
                lo = min(r[0] for r in rngs)
                hi = max(r[1] for r in rngs)
                mentions.append(Mention("size", groups, ts, te, txt, rng=(lo, hi)))
            continue
        mentions.append(Mention(attr, groups, ts, te, txt))

    noun_starts: set[int] = set()
    site_starts: set[int] = set()
    for ls, le, cats in lex_spans:
        for x in range(ls, le):
            covered[x] = 1
        if NOUNISH & cats.keys():
            noun_starts.add(ls)
        if "site" in cats:
            site_starts.add(ls)
        for cat, cat_ids in cats.items():
            if cat in ("stop", "generic"):
                continue
            mentions.append(Mention(cat, cat_ids, ls, le, _text(norm, toks, ls, le)))

    # 4. sides before a site, exact counts
    numbers: list[Mention] = []
    for i, t in enumerate(toks):
        if covered[i]:
            continue
        side = _SIDE_WORDS.get(t.norm)
        if side:
            j = i + 1
            if (
                j < n
                and toks[j].norm in ("and", "or", "和", "及", "/")
                and j + 1 < n
                and toks[j + 1].norm in _SIDE_WORDS
            ):
                j += 2
            nxt = toks[j].norm if j < n else ""
            ok = j in site_starts or nxt in _SIDE_NEXT or (j + 1 in site_starts and toks[j].kind != "p")
            if not ok and t.kind == "w" and i > 0 and toks[i - 1].norm in _SIDE_PREV:
                ok = j >= n or toks[j].kind == "p"
            if ok and not (t.norm == "both" and nxt in ("yes", "no")):
                covered[i] = 1
                mentions.append(Mention("side", frozenset((side,)), i, i + 1, t.norm))
                continue
        if t.kind != "n" and t.norm not in _NUMBER_WORDS:
            continue
        value = _count_value(t)
        if value is None:
            continue
        follows = [j for j in range(i + 1, min(n, i + 4)) if j in noun_starts]
        clf = i + 1 < n and toks[i + 1].norm in _ZH_CLASSIFIERS
        if t.norm in ("single",) and not follows:
            continue
        m = Mention("quantity", frozenset(), i, i + 1, t.norm, count=value)
        if follows or clf:
            covered[i] = 1
            mentions.append(m)
        else:
            numbers.append(m)

    # 5. cues on free tokens
    cues: list[Cue] = []
    cidx = cue_index()
    cue_firsts = cidx.firsts()
    cue_cover = bytearray(n)
    i = 0
    while i < n:
        if covered[i] or norms[i] not in cue_firsts:
            i += 1
            continue
        hit = None
        for k, kinds in cidx.all_at(toks, i):
            if covered.find(1, i, i + k) < 0:
                hit = (k, kinds)
                break
        if hit is None:
            i += 1
            continue
        k, kinds = hit
        cues.append(Cue(frozenset(kinds), i, i + k))
        for x in range(i, i + k):
            cue_cover[x] = 1
        i += k

    mentions.sort(key=by_position)
    mentions = _merge_compounds(mentions, norm, toks)
    # a route word is not a body site: "oral terbinafine", "oral finasteride"
    treat_starts = {m.start for m in mentions if m.cat == "treatment"}
    mentions = [m for m in mentions if not (m.cat == "site" and m.text == "oral" and m.end in treat_starts)]
    # bare numbers are negated like any value ("not three", 不是2个): they may be read as counts later
    numbers.sort(key=by_position)
    negated = _negate(toks, sorted([*mentions, *numbers], key=by_position), cues)

    if own is not None:
        toks, mentions, numbers, cues, keep = _project(toks, mentions, numbers, cues, own)
        covered = bytearray(covered[x] for x in keep)
        cue_cover = bytearray(cue_cover[x] for x in keep)
        negated = bytearray(negated[x] for x in keep)
        norm = own_norm if own_norm is not None else norm
        n = len(toks)
        norms = [t.norm for t in toks]
        puncts = [t.kind == "p" for t in toks]
    _differential(mentions, cues)

    residual = tuple(
        norms[i]
        for i in range(n)
        if not covered[i] and not puncts[i] and not cue_cover[i] and norms[i] not in STOPWORDS
    )
    content = tuple(norms[i] for i in range(n) if not puncts[i] and norms[i] not in STOPWORDS)
    a = Analysis(
        text=text,
        norm=norm,
        toks=toks,
        mentions=mentions,
        cues=cues,
        numbers=numbers,
        residual=residual,
        covered=covered,
        negated=negated,
        content=content,
    )
    for m in mentions:
        a.by_cat.setdefault(m.cat, []).append(m)
    return a


_GROUPS: dict[str, frozenset[str]] = {}


def _group(name: str) -> frozenset[str]:
    """The one-group id set of a table term (shared, not rebuilt per mention)."""
    hit = _GROUPS.get(name)
    if hit is None:
        hit = _GROUPS[name] = frozenset((name,))
    return hit


_CATEGORIES: dict[tuple[Any, ...], dict[str, frozenset[str]]] = {}


def _by_category(payloads: tuple[Any, ...]) -> dict[str, frozenset[str]]:
    """A term's concept ids by category, built once per term (the payload tuples are the index's own)."""
    hit = _CATEGORIES.get(payloads)
    if hit is None:
        cats: dict[str, set[str]] = {}
        for cat, cid in payloads:
            cats.setdefault(cat, set()).add(cid)
        hit = _CATEGORIES[payloads] = {c: frozenset(v) for c, v in cats.items()}
    return hit


_WORD_LIKE = frozenset({"ten", "ras", "ala"})
"""Abbreviations of three or more letters are unambiguous in any case ("vzv", "bcc") except these
words; shorter ones ("AD", "MM", "PR") count only in capitals."""

_MAX_COUNT = 1000
"""A larger number is no count of lesions (a year, a code, digit padding): it stays plain text."""


def _count_value(t: Token) -> int | None:
    if t.kind == "n" and "." not in t.norm:
        if len(t.norm) > len(str(_MAX_COUNT)):
            return None  # any length of digits is text; never int() a 5,000-digit string
        value = int(t.norm)
    elif t.kind == "w" and t.norm in _NUMBER_WORDS:
        value = _NUMBER_WORDS[t.norm]
    else:
        return None
    return value if value <= _MAX_COUNT else None


class _Containment:
    """Which token spans lie strictly inside one of a set of spans (inside and shorter), in O(1) each."""

    def __init__(self, n: int, spans: list[tuple[int, int]]) -> None:
        self.reach_before = [0] * (n + 1)  # ... strictly before i
        self.longest_at = [0] * (n + 1)  # furthest end of a span starting at i
        for s, e in spans:
            if e > self.longest_at[s]:
                self.longest_at[s] = e
        best = 0
        for i in range(n + 1):
            self.reach_before[i] = best
            best = max(best, self.longest_at[i])

    def strictly(self, s: int, e: int) -> bool:
        """True when a span contains ``s:e`` and is longer than it."""
        return self.reach_before[s] >= e or self.longest_at[s] > e


def _project(
    toks: tuple[Token, ...], mentions: list[Mention], numbers: list[Mention], cues: list[Cue], own: list[Piece]
) -> tuple[tuple[Token, ...], list[Mention], list[Mention], list[Cue], list[int]]:
    """Keep what touches the own pieces, re-indexed onto the own tokens (offsets into the own text)."""
    new_index = [-1] * (len(toks) + 1)
    out: list[Token] = []
    keep: list[int] = []
    p = 0
    for i, t in enumerate(toks):
        while p < len(own) and own[p][1] <= t.start:
            p += 1
        if p < len(own) and own[p][0] <= t.start < own[p][1]:
            shift = own[p][2] - own[p][0]
            new_index[i] = len(out)
            keep.append(i)
            out.append(t if not shift else Token(t.norm, t.start + shift, t.end + shift, t.kind, t.upper, t.paren))

    def clip(start: int, end: int) -> tuple[int, int] | None:
        inside = [new_index[x] for x in range(start, end) if new_index[x] >= 0]
        return (inside[0], inside[-1] + 1) if inside else None

    def moved(ms: list[Mention]) -> list[Mention]:
        kept = []
        for m in ms:
            span = clip(m.start, m.end)
            if span is not None:
                m.start, m.end = span
                kept.append(m)
        return kept

    kept_cues = []
    for c in cues:
        span = clip(c.start, c.end)
        if span is not None:
            kept_cues.append(Cue(c.kinds, span[0], span[1]))
    return tuple(out), moved(mentions), moved(numbers), kept_cues, keep


def _inner_side(toks: tuple[Token, ...], i: int, n: int) -> tuple[int, int] | None:
    """Position and length of a side word a few tokens after ``i`` (not at ``i``), if any."""
    for j in range(i + 1, min(n, i + 5)):
        t = toks[j]
        if t.kind == "p":
            return None
        if t.norm in _SIDE_WORDS:
            length = 2 if j + 1 < n and toks[j + 1].norm in ("侧", "边", "sided", "side") else 1
            return j, length
    return None


def _merge_compounds(mentions: list[Mention], norm: str, toks: tuple[Token, ...]) -> list[Mention]:
    """Adjacent colour words are one compound colour ("reddish-brown", 红褐色)."""
    out: list[Mention] = []
    for m in mentions:
        prev = out[-1] if out else None
        if prev is not None and m.cat == "color" and prev.cat == "color" and prev.end == m.start and m.ids != prev.ids:
            out[-1] = Mention("color", prev.ids | m.ids, prev.start, m.end, _text(norm, toks, prev.start, m.end))
            continue
        out.append(m)
    return out


_WINDOW = 8


def _negate(toks: tuple[Token, ...], mentions: list[Mention], cues: list[Cue]) -> bytearray:
    """Mark mentions inside negation scopes (forward from ``pre`` cues, backward from ``post`` cues).

    Returns the negated tokens (for plain-word matching when no concept is known). ``mentions`` are
    sorted by start: each scope finds its mentions by bisection (linear in the text overall).
    """
    n = len(toks)
    scope = bytearray(n)
    if not cues:
        return scope
    starts = {m.start for m in mentions}
    m_starts = [m.start for m in mentions]

    def starting_in(lo: int, hi: int) -> list[Mention]:
        return mentions[bisect_left(m_starts, lo) : bisect_left(m_starts, hi)]

    term_at: dict[int, frozenset[str]] = {}
    for c in cues:
        for x in range(c.start, c.end):
            term_at[x] = c.kinds
    for c in cues:
        if "none" in c.kinds:
            continue
        pre = "pre" in c.kinds
        post = "post" in c.kinds
        if post:
            lo = _scan_back(toks, c.start, term_at)
            hit = [m for m in starting_in(lo, c.start) if m.end <= c.start]
            if hit or (lo < c.start and not pre):
                for x in range(lo, c.start):
                    scope[x] = 1
                for m in hit:
                    m.neg = True
                continue
            if not pre:
                continue
        if not pre:
            continue
        j = c.end
        if j < n and toks[j].kind == "p" and toks[j].norm in HARD_BREAKS | SOFT_BREAKS:
            continue  # "No, ..." / "不，..." - a standalone answer, not a negation of content
        count = 0
        while j < n and count < _WINDOW:
            t = toks[j]
            if t.kind == "p":
                if t.norm in HARD_BREAKS:
                    break
                if t.norm in SOFT_BREAKS:
                    # an English list continues after a comma ("no scale, crust or erosion");
                    # a Chinese comma (after an ideograph) ends the clause, 、 continues the list
                    zh_comma = t.norm == "," and j > 0 and toks[j - 1].kind == "c"
                    if not zh_comma and j + 1 < n and (j + 1) in starts:
                        j += 1
                        continue
                    break
                j += 1
                continue
            kinds = term_at.get(j)
            if kinds and ("term" in kinds or "termv" in kinds) and j not in starts:
                break
            j += 1
            count += 1
        for x in range(c.end, j):
            scope[x] = 1
        for m in starting_in(c.end, j):
            m.neg = True
    return scope


def _scan_back(toks: tuple[Token, ...], start: int, term_at: dict[int, frozenset[str]]) -> int:
    j = start - 1
    count = 0
    while j >= 0 and count < _WINDOW:
        t = toks[j]
        if t.kind == "p" and t.norm in HARD_BREAKS | SOFT_BREAKS:
            break
        kinds = term_at.get(j)
        if kinds and "term" in kinds:
            break
        if t.kind != "p":
            count += 1
        j -= 1
    return j + 1


def _differential(mentions: list[Mention], cues: list[Cue]) -> None:
    """Diseases after a differential marker are the differential, not the answer."""
    diff_at = next((c.start for c in cues if "diff" in c.kinds and "none" not in c.kinds), None)
    if diff_at is None:
        return
    for m in mentions:
        if m.cat == "disease" and m.start > diff_at:
            m.diff = True
