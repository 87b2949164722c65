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

from itertools import pairwise

from judge.clinical.lexicon import Lexicon
from judge.clinical.mentions import Analysis, Mention
from judge.clinical.text import HARD_BREAKS


def _distinct(lex: Lexicon, cat: str, mentions: list[Mention]) -> list[Mention]:
    """One mention per answer: drop mentions related (same, ancestor, descendant) to a kept one."""
    kept: list[Mention] = []
    for m in mentions:
        if m.cat in ("size",) and m.rng is not None:
            if any(k.rng is not None and k.rng[0] <= m.rng[1] and m.rng[0] <= k.rng[1] for k in kept):
                continue
            kept.append(m)
            continue
        clash = next(
            (
                j
                for j, k in enumerate(kept)
                if k.ids & m.ids or any(lex.related(cat, a, b) for a in k.ids for b in m.ids)
            ),
            None,
        )
        if clash is None:
            kept.append(m)
        elif any(lex.is_ancestor(cat, a, b) for a in kept[clash].ids for b in m.ids):
            kept[clash] = m  # keep the more specific one: "hair loss ... trichotillomania" answers trichotillomania
    return kept


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
    """The diagnoses the answer commits to, and whether they are offered as a bare list."""
    asserted = [
        m
        for m in a.by_cat.get("disease", [])
        if not m.neg and not m.diff and not all((c := lex.get("disease", i)) is not None and c.generic for i in m.ids)
    ]
    if not asserted:
        diffs = [m for m in a.by_cat.get("disease", []) if m.diff and not m.neg]
        return _distinct(lex, "disease", diffs), True  # a differential with no primary is a list
    prim = [cue for cue in a.cues if "prim" in cue.kinds and "none" not in cue.kinds]
    sentences = _sentences(a)
    for cue in prim:
        end = next((e for s, e in sentences if s <= cue.start < e), len(a.toks))
        # the primary clause ends at a contrast ("..., although vitiligo should be considered")
        end = min([end, *(x.start for x in a.cues if "term" in x.kinds and cue.end <= x.start < end)])
        after = [m for m in asserted if cue.end <= m.start < end]
        if after:
            return _distinct(lex, "disease", after), False
    # list-like sentences: nothing but a diagnosis (and a bullet / number)
    listy = []
    for s, e in sentences:
        inside = [m for m in asserted if s <= m.start < e]
        if not inside:
            continue
        covered = sum(m.end - m.start for m in inside)
        words = sum(1 for t in a.toks[s:e] if t.kind != "p")
        if words - covered <= 2:
            listy.append(inside)
    if len(listy) >= 2:
        return _distinct(lex, "disease", [m for group in listy for m in group]), True
    first_sentence = next(((s, e) for s, e in sentences if any(s <= m.start < e for m in asserted)), None)
    if first_sentence is None:
        return _distinct(lex, "disease", asserted), False
    s, e = first_sentence
    return _distinct(lex, "disease", [m for m in asserted if s <= m.start < e]), False


def or_alternatives(a: Analysis, cat: str, lex: Lexicon) -> list[Mention]:
    """The longest run of ``cat`` values offered as alternatives ("A or B", "A, B, or C", A/B)."""
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


def distinct_mentions(lex: Lexicon, cat: str, mentions: list[Mention]) -> list[Mention]:
    """One mention per answer among ``mentions`` (related values count once)."""
    return _distinct(lex, cat, mentions)
