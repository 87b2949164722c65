"""What an answer commits to, beyond negation: values it asks about, supersedes or rejects (pure).

Four passes over a candidate's :class:`~judge.clinical.mentions.Analysis`, each linear:

* **posed** - a clause ending in "?" offers nothing unless the answer goes on to confirm it: "Pink? No."
  rejects pink (negated), "Pink? Yes." keeps it, "Is it pink?" with no answer asserts nothing
  (its values are dropped); a bare "Pink?" stays a tentative answer.
* **superseded** - a clause about an earlier state ("it was pink last year", 以前是红色) followed, in
  the same or the next sentence, by one about the state that replaced it ("but is now brown",
  现在是褐色): the earlier values of the kinds the later clause states are denied (it is no longer
  pink), and so are all of them when the later clause only denies ("现在不是了", "not any more").
* **corrected** - after the last self-correction ("Pink. Correction: brown.", "I mean brown", 说错了，是褐色)
  that states one kind of value, the earlier values of that kind are denied.
* **rejected** - "anything but X", "any colour except X", 除了X都有可能: X is denied (but not in
  除了X，其他都正常 - "only X has it" - where X is the exception that does).

Word lists live in :mod:`judge.clinical.cues` (``PAST_STATE``, ``PRESENT_STATE``, ``ASKING``).

Usage::

    a = commitments(analyze("Pink? No.", ct))    # pink is negated
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import deque
from itertools import pairwise

from judge.clinical.cues import ASKING, ASKING_FIRST, CORRECTION, PAST_STATE, PRESENT_STATE, phrase_index
from judge.clinical.lexicon import TermIndex
from judge.clinical.mentions import Analysis, Mention, by_position, derived
from judge.clinical.text import HARD_BREAKS, SOFT_BREAKS, Token

_YES = re.compile(r"^\W*(?:yes|yeah|yep|yup|correct|right|indeed|exactly|是的|是|对的|对|没错|正确)(?:\W|$)")
_NO = re.compile(
    r"^\W*(?:no(?!\s+(?:doubt|question|wonder)\b)|nope|nah|not really|not at all|incorrect|wrong|false"
    r"|不是|不对|不正确|不|否|没有|错)(?:的|了|啊|呀)?(?:\W|$)"
)
_REJECTED = re.compile(
    # 除了X都有可能 / 除X以外都可以 / 除了X，其他颜色都行: everything but X
    # (not 除了X，其他都没有 "only X has it": X is the exception that does)
    r"除了?(?P<zh>[^。；;！!？?\n]{1,56}?)(?:都|均|皆|全|一律)(?!是?(?:没|不|无|未|正常|完好|干净))"
    # any colour except X / any shape other than X / anything besides X (X up to its verb)
    r"|\bany(?:thing|\s+\w+)\s+(?:but|except|other than|apart from|besides|save)\s+"
    r"(?P<en>(?:(?!\b(?:is|are|was|were|shows?|has|have|had|with|which|that|would|could|will|can|may|might)\b)"
    r"[^.;!?\n,]){1,60})"
)


_PAST = phrase_index(PAST_STATE)
_PRESENT = phrase_index(PRESENT_STATE)
_ASK = phrase_index(ASKING)
_CORRECTION = phrase_index(CORRECTION)
_ASK_FIRST = frozenset(ASKING_FIRST)


def _has_phrase(idx: TermIndex, toks: tuple[Token, ...], a: int, b: int) -> bool:
    """True when a phrase of ``idx`` starts within tokens ``a:b``."""
    firsts = idx.firsts()
    return any(toks[i].norm in firsts and idx.longest(toks, i)[0] for i in range(a, b))


def commitments(a: Analysis) -> Analysis:
    """``a`` with posed, superseded and rejected values read as the answer means them.

    Values (mentions and bare numbers) are dropped or denied; the tokens of a denied stretch are
    marked negated too, so that a reference matched word by word is denied as well."""
    values = sorted([*a.mentions, *a.numbers], key=by_position)
    drop: set[int] = set()
    deny: set[int] = set()
    denied_tokens: list[tuple[int, int]] = []
    sentences = _sentences(a.toks)
    starts = [m.start for m in values]
    _posed(a, values, sentences, starts, drop, deny, denied_tokens)
    _superseded(a, values, sentences, starts, deny, denied_tokens)
    _rejected(a, values, deny, denied_tokens)
    _corrected(a, values, sentences, deny, denied_tokens)
    if not drop and not deny and not denied_tokens:
        return a
    negated = bytearray(a.negated)
    for s, e in denied_tokens:
        negated[s:e] = b"\x01" * (e - s)

    def kept(ms: list[Mention]) -> list[Mention]:
        out = []
        for m in ms:
            if id(m) in drop:
                continue
            if id(m) in deny and not m.neg:
                m = Mention(m.cat, m.ids, m.start, m.end, m.text, True, m.rng, m.count, m.diff, m.core)
            out.append(m)
        return out

    return derived(a, kept(a.mentions), numbers=kept(a.numbers), negated=negated)


def _sentences(toks: tuple[Token, ...]) -> list[tuple[int, int, str]]:
    """Token spans of sentences and the break that ends each ('' at the end of the text)."""
    out = []
    start = 0
    for i, t in enumerate(toks):
        if t.kind == "p" and t.norm in HARD_BREAKS:
            if i > start:
                out.append((start, i, t.norm))
            start = i + 1
    if start < len(toks):
        out.append((start, len(toks), ""))
    return out


def _in(mentions: list[Mention], starts: list[int], a: int, b: int) -> list[Mention]:
    return mentions[bisect_left(starts, a) : bisect_left(starts, b)]


def _posed(
    a: Analysis,
    values: list[Mention],
    sentences: list[tuple[int, int, str]],
    starts: list[int],
    drop: set[int],
    deny: set[int],
    denied_tokens: list[tuple[int, int]],
) -> None:
    toks = a.toks
    for k, (s, e, end) in enumerate(sentences):
        if end != "?":
            continue
        inside = _in(values, starts, s, e)
        reply = ""
        if k + 1 < len(sentences):
            ns, ne, _ = sentences[k + 1]
            reply = a.norm[toks[ns].start : toks[ne - 1].end]
        if reply and _NO.match(reply):
            deny.update(id(m) for m in inside)
            denied_tokens.append((s, e))
        elif reply and _YES.match(reply):
            continue
        elif inside and _asking(toks, s, e):
            drop.update(id(m) for m in inside)


def _asking(toks: tuple[Token, ...], s: int, e: int) -> bool:
    first = next((t for t in toks[s:e] if t.kind != "p"), None)
    return (first is not None and first.norm in _ASK_FIRST) or _has_phrase(_ASK, toks, s, e)


def _clauses(a: Analysis, s: int, e: int, contrast: set[int]) -> list[tuple[int, int]]:
    """A sentence's clauses: split at commas and at contrast words ("but", 但)."""
    cuts = [s]
    for i in range(s, e):
        t = a.toks[i]
        if (t.kind == "p" and t.norm in SOFT_BREAKS) or i in contrast:
            cuts.append(i)
    cuts.append(e)
    return [(x, y) for x, y in pairwise(cuts) if y > x]


def _superseded(
    a: Analysis,
    values: list[Mention],
    sentences: list[tuple[int, int, str]],
    starts: list[int],
    deny: set[int],
    denied_tokens: list[tuple[int, int]],
) -> None:
    toks = a.toks
    contrast = {c.start for c in a.cues if "term" in c.kinds}
    negating = [c.start for c in a.cues if "pre" in c.kinds or "post" in c.kinds]
    # past clauses awaiting the present that replaces them: (sentence, start, end, values); a past
    # marker holds for the rest of its sentence ("it was pink, scaly and raised, but is now ...")
    pending: deque[tuple[int, int, int, list[Mention]]] = deque()
    past_in = -1
    for k, (s, e, _) in enumerate(sentences):
        while pending and k - pending[0][0] > 1:
            pending.popleft()
        for x, y in _clauses(a, s, e, contrast):
            inside = _in(values, starts, x, y)
            if pending and _has_phrase(_PRESENT, toks, x, y):
                cats = {m.cat for m in inside}
                still = {(m.cat, m.ids, m.count) for m in inside if not m.neg}  # "was pink, is still pink"
                j = bisect_left(negating, x)
                denial = not inside and j < len(negating) and negating[j] < y
                for _, ps, pe, ms in pending:
                    denied_tokens.append((ps, pe))  # words of the earlier state are no longer said
                    for m in ms:  # the state it had is no longer: denied
                        if (m.cat in cats or denial) and (m.cat, m.ids, m.count) not in still:
                            deny.add(id(m))
                pending.clear()
                past_in = -1
                continue
            if _has_phrase(_PAST, toks, x, y):
                past_in = k
            if past_in == k:
                pending.append((k, x, y, inside))


def _corrected(
    a: Analysis,
    values: list[Mention],
    sentences: list[tuple[int, int, str]],
    deny: set[int],
    denied_tokens: list[tuple[int, int]],
) -> None:
    """The last self-correction takes back the earlier values of the kinds it states."""
    toks = a.toks
    firsts = _CORRECTION.firsts()
    at = None
    for i in range(len(toks)):
        if toks[i].norm in firsts and _CORRECTION.longest(toks, i)[0]:
            at = i
    if at is None:
        return
    k = next((k for k, (s, e, _) in enumerate(sentences) if s <= at < e), None)
    end = sentences[k][1] if k is not None else len(toks)
    if k is not None and not any(at < m.start < end for m in values) and k + 1 < len(sentences):
        end = sentences[k + 1][1]  # "Correction:" and the corrected value on the next line
    stated = [m for m in values if at < m.start < end and not m.neg]
    cats = {m.cat for m in stated}
    if len(cats) != 1:  # a bare corrected value, not a new description ("on reflection, the scale is white")
        return
    kept = {(m.cat, m.ids, m.count) for m in stated}
    earlier = [m for m in values if m.start < at and m.cat in cats and (m.cat, m.ids, m.count) not in kept]
    deny.update(id(m) for m in earlier)
    denied_tokens += [(m.start, m.end) for m in earlier]


def _rejected(a: Analysis, values: list[Mention], deny: set[int], denied_tokens: list[tuple[int, int]]) -> None:
    if "除" not in a.norm and "any" not in a.norm:
        return
    spans = []
    for found in _REJECTED.finditer(a.norm):
        g = "zh" if found.group("zh") is not None else "en"
        spans.append((found.start(g), found.end(g)))
    if not spans:
        return
    span_starts = [s for s, _ in spans]

    def inside(pos: int) -> bool:
        k = bisect_right(span_starts, pos) - 1
        return k >= 0 and pos < spans[k][1]

    for m in values:
        if m.start < len(a.toks) and inside(a.toks[m.start].start):
            deny.add(id(m))
    marked = [i for i, t in enumerate(a.toks) if inside(t.start)]
    denied_tokens += [(i, i + 1) for i in marked]
