"""Whose words: the answer's own, read in the question's context but never credited with it (pure).

The question is context. It tells the judge how to read a short answer - a blank filled with 不清
reads as 边界不清, a blank after "does not have" is negated - but nothing the question says is
the answer's: an answer echoing the question, the stem around a blank, the question's numbers or
the alternatives it lists asserts none of it.

* :func:`strip_labels` drops a question's numbering and case labels ("(case 12)", "Q7.", （病例3）):
  they are not part of what is asked, and a number in them is no count.
* :func:`blank_of` finds a fill-in-the-blank's blank and the words around it (its clause, at most
  :data:`CONTEXT_TOKENS` tokens each side).
* :func:`echo_of` lists the question's clauses (split at clause ends and at the blank); a verbatim copy
  of one inside an answer is blanked out before the answer is read.
* :func:`read` analyses a text's own words: each short clause (at most :data:`SHORT_CLAUSE` words)
  is set between the blank's surroundings, the whole is analysed once, and only what touches the
  text's own words is kept (:func:`judge.clinical.mentions.analyze_normalized`).
* The last "final answer" marker ("Final answer:", 最终答案) ends the discussion: what precedes it is
  superseded and read as nothing.

Work is linear in the text: the context is added to at most :data:`MAX_CONTEXT_CLAUSES` clauses and
at most :data:`MAX_ECHO_SEGMENTS` question clauses are looked for.

Usage::

    blank = blank_of("皮损边界____。")
    a = read("不清", compiled(rubric), blank=blank)   # a boundary mention: ill-defined
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

from judge.clinical.cues import FINAL_ANSWER, QUESTION_LABELS, phrase_index
from judge.clinical.mentions import Analysis, Piece, analyze_normalized
from judge.clinical.tables import Compiled
from judge.clinical.text import CACHE_CHARS, HARD_BREAKS, Token, normalize, tokens_of, upper_words

SHORT_CLAUSE = 12
"""A clause of at most this many words is a short answer: it is read in the blank's context."""
CONTEXT_TOKENS = 12
"""Tokens of the question's clause kept on each side of the blank."""
MAX_CONTEXT_CLAUSES = 32
"""Short clauses read in context: the first and last half of this many (bounded work)."""
MAX_ECHO_SEGMENTS = 32
"""Question clauses looked for in the answer (the longest ones)."""
MIN_ECHO_WORDS = 3
"""A question clause shorter than this ("of the tongue") is too common a phrase to call an echo."""

_BLANK = re.compile(r"_{2,}|\(\s*\)|\[\s*\]|【\s*】|\[blank\]|\{blank\}")
_BRACKETS = str.maketrans({c: " " for c in "()[]【】〔〕"})
_LABEL_WORDS = "|".join(sorted((re.escape(w) for w in QUESTION_LABELS), key=len, reverse=True))
_NUMBER = r"(?:no\.?\s*|#\s*|第\s*)?\d{1,6}[a-z]?"
_LABELS = re.compile(
    # a bracketed label anywhere: "(case 12)", （病例3）, "[image 2]", "(q7)"
    rf"[(\[【]\s*(?:{_LABEL_WORDS})\s*[#.:]?\s*{_NUMBER}\s*(?:题|例|号)?\s*[)\]】]"
    # a leading label: "Question 7:", "Case 3 -", "Q7.", "病例3：", "第3题"
    rf"|^\s*(?:{_LABEL_WORDS})\s*[#.:]?\s*{_NUMBER}\s*(?:题|例|号)?\s*(?:[.:)\]、\-]|\s)"
    # a bare leading number: "7. What ...", "12) ...", and 第3题
    r"|^\s*\d{1,4}\s*[.)、]\s+"
    r"|[(\[【]?\s*第\s*\d{1,4}\s*(?:题|例|问)\s*[)\]】:]?",
    re.IGNORECASE,
)


def strip_labels(question: str) -> str:
    """The question without its numbering and case labels."""
    if not question:
        return ""
    return _LABELS.sub(" ", unicode_brackets(question)).strip()


def unicode_brackets(text: str) -> str:
    """Full-width brackets as ASCII ones (for the label pattern; normalisation does the same)."""
    return text.translate(_FULL_BRACKETS)


_FULL_BRACKETS = str.maketrans({"（": "(", "）": ")", "［": "[", "］": "]", "：": ":", "＃": "#"})


@dataclass(frozen=True)
class Blank:
    """A fill-in-the-blank's surroundings (normalised): the words just before and after the blank."""

    pre: str
    post: str


def blank_of(question: str) -> Blank | None:
    """The blank of a fill-in-the-blank question and its surroundings, or ``None``."""
    norm = normalize(question or "")
    m = _BLANK.search(norm)
    if m is None:
        return None
    before = norm[: m.start()]
    after = norm[m.end() :]
    pre_toks = tokens_of(before, frozenset())
    post_toks = tokens_of(after, frozenset())
    pre_start = len(before)
    count = 0
    for t in reversed(pre_toks):
        if t.kind == "p" and t.norm in HARD_BREAKS:
            break
        pre_start = t.start
        count += t.kind != "p"
        if count >= CONTEXT_TOKENS:
            break
    post_end = 0
    count = 0
    for t in post_toks:
        if t.kind == "p" and t.norm in HARD_BREAKS:
            break
        post_end = t.end
        count += t.kind != "p"
        if count >= CONTEXT_TOKENS:
            break
    pre = before[pre_start:].translate(_BRACKETS).strip()
    post = after[:post_end].translate(_BRACKETS).strip()
    return Blank(pre, post)


def question_text(question: str) -> str:
    """The question as the judge reads it: labels dropped, a blank left empty."""
    return _BLANK.sub(" ", normalize(strip_labels(question)))


@lru_cache(maxsize=4096)
def echo_of(question: str) -> tuple[str, ...]:
    """The question's clauses as word sequences (``\x1f``-joined), longest first, for echo detection:
    each clause whole (a blank in it skipped: an answer that copies the question with its blank) and
    its parts on either side of a blank (the stem an answer repeats around its own words)."""
    norm = _BLANK.sub(" \x00 ", normalize(strip_labels(question)))
    segments: set[str] = set()
    clause: list[str] = []
    part: list[str] = []

    def close(words: list[str]) -> None:
        if len(words) >= MIN_ECHO_WORDS:
            segments.add("\x1f".join(words))

    for t in tokens_of(norm, frozenset()):
        if t.norm == "\x00" or (t.kind == "p" and t.norm in HARD_BREAKS):
            close(part)
            part = []
            if t.norm != "\x00":
                close(clause)
                clause = []
        elif t.kind != "p":
            part.append(t.norm)
            clause.append(t.norm)
    close(part)
    close(clause)
    return tuple(sorted(segments, key=len, reverse=True)[:MAX_ECHO_SEGMENTS])


def _blank_out(norm: str, spans: list[tuple[int, int]]) -> str:
    """``norm`` with the character spans replaced by spaces (offsets unchanged)."""
    if not spans:
        return norm
    chars = list(norm)
    for s, e in spans:
        chars[s:e] = " " * (e - s)
    return "".join(chars)


def _echo_spans(toks: tuple[Token, ...], echo: tuple[str, ...]) -> list[tuple[int, int]]:
    """Character spans of verbatim copies of a question clause (punctuation aside, within a clause)."""
    words = [i for i, t in enumerate(toks) if t.kind != "p"]
    if not words or not echo:
        return []
    joined = "\x1f" + "\x1f".join(toks[i].norm for i in words) + "\x1f"
    offsets = []  # character offset in `joined` of each word
    pos = 1
    for i in words:
        offsets.append(pos)
        pos += len(toks[i].norm) + 1
    breaks = [0] * (len(toks) + 1)  # hard breaks before token i
    for i, t in enumerate(toks):
        breaks[i + 1] = breaks[i] + (t.kind == "p" and t.norm in HARD_BREAKS)
    taken = bytearray(len(words))
    spans: list[tuple[int, int]] = []
    for seg in echo:
        needle = "\x1f" + seg + "\x1f"
        size = seg.count("\x1f") + 1
        at = joined.find(needle)
        while at >= 0:
            w = bisect_right(offsets, at + 1) - 1
            first, last = words[w], words[w + size - 1]
            if not any(taken[w : w + size]) and breaks[last] == breaks[first]:
                taken[w : w + size] = b"\x01" * size
                spans.append((toks[first].start, toks[last].end))
            at = joined.find(needle, at + len(needle) - 1)
    return spans


def _final_answer_start(toks: tuple[Token, ...]) -> int | None:
    """Character offset just after the last "final answer" marker that has words after it."""
    last = None
    firsts = _FINAL.firsts()
    for i in range(len(toks)):
        if toks[i].norm in firsts:
            k, _ = _FINAL.longest(toks, i)
            if k:
                last = i + k
    if last is None or not any(t.kind != "p" for t in toks[last:]):
        return None
    return toks[last - 1].end


_FINAL = phrase_index(FINAL_ANSWER)


def own_text(text: str, echo: tuple[str, ...] = ()) -> tuple[str, frozenset[str], tuple[Token, ...]]:
    """The normalised text with echoes of the question and everything before a final answer blanked
    out (same length, so offsets hold), its capitalised words and its tokens (tokenised once)."""
    norm = normalize(text)
    upper = upper_words(text)
    toks = tokens_of(norm, upper)
    spans = _echo_spans(toks, echo)
    final = _final_answer_start(toks)
    if final is not None:
        spans.append((0, final))
    if not spans:
        return norm, upper, toks
    spans.sort()
    starts = [s for s, _ in spans]

    def blanked(t: Token) -> bool:
        k = bisect_right(starts, t.start) - 1
        return k >= 0 and t.start < spans[k][1]

    return _blank_out(norm, spans), upper, tuple(t for t in toks if not blanked(t))


def read(
    text: str, ct: Compiled, *, blank: Blank | None = None, echo: tuple[str, ...] = ()
) -> Analysis:
    """The analysis of ``text``'s own words, short clauses read in the blank's context."""
    norm, upper, toks = own_text(text, echo)
    if blank is None or not (blank.pre or blank.post):
        return analyze_normalized(text, norm, upper, ct, toks=toks)
    combined, pieces = _in_context(norm, toks, blank)
    if len(combined) == len(norm):  # no short clause: nothing to read in context
        return analyze_normalized(text, norm, upper, ct, toks=toks)
    return analyze_normalized(text, combined, upper, ct, own=pieces, own_norm=norm)


@lru_cache(maxsize=32768)
def _read_cached(text: str, ct_key: int, blank: Blank | None) -> Analysis:
    return read(text, _CT_BY_KEY[ct_key], blank=blank)


_CT_BY_KEY: dict[int, Compiled] = {}


def read_reference(text: str, ct: Compiled, blank: Blank | None = None) -> Analysis:
    """:func:`read` for references and questions, cached per compiled rubric (they repeat across
    candidates). Callers must not mutate the result (derive a copy)."""
    if len(text) > CACHE_CHARS:
        return read(text, ct, blank=blank)
    key = id(ct)
    known = _CT_BY_KEY.get(key)
    if known is not ct:
        if known is not None:  # an old rubric's id reused: drop its analyses
            _read_cached.cache_clear()
        _CT_BY_KEY[key] = ct
    return _read_cached(text, key, blank)


def _in_context(norm: str, toks: tuple[Token, ...], blank: Blank) -> tuple[str, list[Piece]]:
    """``norm`` with each chosen short clause set between the blank's surroundings, and its own pieces."""
    clauses: list[tuple[int, int]] = []
    start = None
    words = 0
    for i, t in enumerate(toks):
        if t.kind == "p" and t.norm in HARD_BREAKS:
            if start is not None and words <= SHORT_CLAUSE:
                clauses.append((start, i))
            start, words = None, 0
            continue
        if start is None:
            start = i
        words += t.kind != "p"
    if start is not None and words <= SHORT_CLAUSE:
        clauses.append((start, len(toks)))
    half = MAX_CONTEXT_CLAUSES // 2
    if len(clauses) > MAX_CONTEXT_CLAUSES:
        clauses = clauses[:half] + clauses[-half:]
    out: list[str] = []
    pieces: list[Piece] = []
    size = 0
    pos = 0

    def put(s: str, own_at: int | None) -> None:
        nonlocal size
        if not s:
            return
        if own_at is not None:
            pieces.append((size, size + len(s), own_at))
        out.append(s)
        size += len(s)

    pre = f" {blank.pre} " if blank.pre else " "
    post = f" {blank.post} " if blank.post else " "
    for i, j in clauses:
        a, b = toks[i].start, toks[j - 1].end
        put(norm[pos:a], pos)
        put(pre, None)
        put(norm[a:b], a)
        put(post, None)
        pos = b
    put(norm[pos:], pos)
    return "".join(out), pieces
