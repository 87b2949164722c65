"""Hedges: how many alternatives an answer offers for the one thing asked (pure).

* Diseases: the answer's diagnosis is what follows a primary marker ("most likely", 考虑,
  "consistent with") or, without one, the diagnoses of its first sentence that names any (later
  sentences that only discuss other diseases are discussion, not alternatives). A differential
  ("differential includes ...", 鉴别诊断) or a contrast ("unlike eczema") is not an alternative.
  A bare list of diagnoses ("1. psoriasis 2. eczema 3. tinea") offers every item.
* Other categories: alternatives are values joined by "or" / "/" / 或 (a list "A, B, or C"
  counts whole); "A and B" is a conjunction, not a hedge.

Related values count once: "eczema (atopic dermatitis)" or "hand, left hand" is one answer.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import pairwise

from judge.clinical.lexicon import Lexicon
from judge.clinical.mentions import STOPWORDS, Analysis, Mention
from judge.clinical.text import HARD_BREAKS, Token


def _distinct(lex: Lexicon, cat: str, mentions: list[Mention]) -> list[Mention]:
    """One mention per answer: drop mentions related (same, ancestor, descendant) to a kept one.

    Linear: kept answers are indexed by their ids and by their ancestors' ids."""
    kept: list[Mention | None] = []
    owner: dict[str, int] = {}  # id -> kept answer holding it
    below: dict[str, int] = {}  # ancestor id -> a kept answer beneath it
    sized: list[tuple[float, float]] = []
    above: dict[frozenset[str], set[str]] = {}  # ids -> their ancestors (a long answer repeats its values)
    seen: set[tuple] = set()
    for m in mentions:
        key = (m.ids, m.rng, m.count)
        if key in seen:  # the very same value again: the same answer
            continue
        seen.add(key)
        if m.cat in ("size",) and m.rng is not None:
            if any(r[0] <= m.rng[1] and m.rng[0] <= r[1] for r in sized[-64:]):
                continue
            sized.append(m.rng)
            kept.append(m)
            continue
        ancestors = above.get(m.ids)
        if ancestors is None:
            ancestors = above[m.ids] = {a for i in m.ids for a in _ancestors(lex, cat, i)}
        clash = next((owner[i] for i in m.ids if i in owner), None)
        if clash is None:
            clash = next((owner[a] for a in ancestors if a in owner), None)
        if clash is not None:  # m is the same answer or a more specific one: keep the more specific
            k = kept[clash]
            if k is not None and any(lex.is_ancestor(cat, a, b) for a in k.ids for b in m.ids):
                _index(kept, owner, below, clash, m, lex, cat)
            continue
        if any(i in below for i in m.ids):
            continue  # a broader form of an answer already given
        kept.append(None)
        _index(kept, owner, below, len(kept) - 1, m, lex, cat)
    return [k for k in kept if k is not None]


def _ancestors(lex: Lexicon, cat: str, cid: str) -> frozenset[str]:
    c = lex.get(cat, cid)
    return c.ancestors if c is not None else frozenset()


def _index(
    kept: list[Mention | None],
    owner: dict[str, int],
    below: dict[str, int],
    k: int,
    m: Mention,
    lex: Lexicon,
    cat: str,
) -> None:
    kept[k] = m
    for i in m.ids:
        owner[i] = k
        for a in _ancestors(lex, cat, i):
            below.setdefault(a, k)


def _sentences(a: Analysis) -> list[tuple[int, int]]:
    out, start = [], 0
    for i, t in enumerate(a.toks):
        if t.kind == "p" and t.norm in HARD_BREAKS:
            if i > start:
                out.append((start, i))
            start = i + 1
    if start < len(a.toks):
        out.append((start, len(a.toks)))
    return out


def disease_answer(a: Analysis, lex: Lexicon) -> tuple[list[Mention], bool]:
    """The diagnoses the answer commits to, and whether they are offered as a bare list (computed
    once per analysis)."""
    hit = a.memo.get("disease_answer")
    if hit is None:
        hit = a.memo["disease_answer"] = _disease_answer(a, lex)
    return hit


def _disease_answer(a: Analysis, lex: Lexicon) -> tuple[list[Mention], bool]:
    asserted = [
        m
        for m in a.by_cat.get("disease", [])
        if not m.neg and not m.diff and not all((c := lex.get("disease", i)) is not None and c.generic for i in m.ids)
    ]
    if not asserted:
        diffs = [m for m in a.by_cat.get("disease", []) if m.diff and not m.neg]
        return _distinct(lex, "disease", diffs), True  # a differential with no primary is a list
    starts = [m.start for m in asserted]

    def asserted_in(lo: int, hi: int) -> list[Mention]:
        return asserted[bisect_left(starts, lo) : bisect_left(starts, hi)]

    sentences = _sentences(a)
    sentence_starts = [s for s, _ in sentences]
    contrasts = [x.start for x in a.cues if "term" in x.kinds]
    for cue in a.cues:
        if "prim" not in cue.kinds or "none" in cue.kinds:
            continue
        k = bisect_right(sentence_starts, cue.start) - 1
        end = sentences[k][1] if k >= 0 and cue.start < sentences[k][1] else len(a.toks)
        # the primary clause ends at a contrast ("..., although vitiligo should be considered")
        j = bisect_left(contrasts, cue.end)
        if j < len(contrasts) and contrasts[j] < end:
            end = contrasts[j]
        after = asserted_in(cue.end, end)
        if after:
            return _distinct(lex, "disease", after), False
    # list-like sentences: nothing but a diagnosis (and a bullet / number)
    listy = []
    first_sentence = None
    for s, e in sentences:
        inside = asserted_in(s, e)
        if not inside:
            continue
        if first_sentence is None:
            first_sentence = inside
        covered = sum(m.end - m.start for m in inside)
        words = sum(1 for t in a.toks[s:e] if t.kind != "p")
        if words - covered <= 2:
            listy.append(inside)
    if len(listy) >= 2:
        return _distinct(lex, "disease", [m for group in listy for m in group]), True
    if first_sentence is None:
        return _distinct(lex, "disease", asserted), False
    return _distinct(lex, "disease", first_sentence), False


def or_alternatives(a: Analysis, cat: str, lex: Lexicon) -> list[Mention]:
    """The longest run of ``cat`` values offered as alternatives ("A or B", "A, B, or C", A/B)
    (computed once per analysis and category)."""
    key = ("or", cat)
    hit = a.memo.get(key)
    if hit is None:
        hit = a.memo[key] = _or_alternatives(a, cat, lex)
    return hit


def _or_alternatives(a: Analysis, cat: str, lex: Lexicon) -> list[Mention]:
    if not any("or" in c.kinds for c in a.cues):
        return []
    ms = [m for m in a.by_cat.get(cat, []) if not m.neg and not m.diff]
    if len(ms) < 2:
        return []
    best: list[Mention] = []
    run: list[Mention] = [ms[0]]
    has_or = False
    for prev, m in pairwise(ms):
        gap = a.toks[prev.end : m.start]
        kinds = a.cue_kinds_between(prev.end, m.start)
        words = [t for t in gap if t.kind != "p"]
        breaks = any(t.kind == "p" and t.norm in HARD_BREAKS for t in gap)
        is_or = "or" in kinds and not breaks and len(words) <= 4
        is_comma = not words and not breaks and any(t.norm in (",", "、") for t in gap)
        if is_or or is_comma:
            run.append(m)
            has_or = has_or or is_or
            continue
        if has_or and len(run) > len(best):
            best = run
        run, has_or = [m], False
    if has_or and len(run) > len(best):
        best = run
    return _distinct(lex, cat, best)


_GLUE = frozenset({"and", "or", "plus", "then", "和", "及", "与", "或", "跟"})
"""Words that join the items of a bare list ("red, pink and brown"; 红色、粉色和褐色)."""
_MAX_GAP = 6
"""Tokens between two items of a list at most ("2. red", "maybe red", "it is also red")."""


def listed_values(a: Analysis, cat: str, lex: Lexicon) -> list[Mention]:
    """The distinct values of the longest bare list of ``cat`` values (computed once per analysis
    and category). Items are joined by nothing but punctuation, line breaks, numbering, joining
    words and function words: "red, pink, brown"; "Pink? Red? Brown?"; "1. pink 2. red";
    "maybe pink, maybe red"; "It is pink. It is red."; 可能是粉红色，也可能是红色; 1 mm, 5 mm, 1 cm."""
    key = ("list", cat)
    hit = a.memo.get(key)
    if hit is None:
        hit = a.memo[key] = _listed_values(a, cat, lex)
    return hit


def _listed_values(a: Analysis, cat: str, lex: Lexicon) -> list[Mention]:
    ms = [m for m in a.by_cat.get(cat, []) if not m.neg and not m.diff]
    if len(ms) < 3:
        return []
    cued = bytearray(len(a.toks))
    for c in a.cues:
        cued[c.start : c.end] = b"\x01" * (c.end - c.start)
    best: list[Mention] = []
    run: list[Mention] = [ms[0]]
    for prev, m in pairwise(ms):
        gap = range(prev.end, m.start)
        if len(gap) <= _MAX_GAP and all(_glue(a.toks[i], cued[i]) for i in gap):
            run.append(m)
            continue
        if len(run) > len(best):
            best = run
        run = [m]
    if len(run) > len(best):
        best = run
    return _distinct(lex, cat, best) if len(best) >= 3 else []


def _glue(t: Token, cued: int) -> bool:
    return t.kind in ("p", "n") or bool(cued) or t.norm in _GLUE or t.norm in STOPWORDS


def distinct_mentions(lex: Lexicon, cat: str, mentions: list[Mention]) -> list[Mention]:
    """One mention per answer among ``mentions`` (related values count once)."""
    return _distinct(lex, cat, mentions)
