"""Multiple-choice answers: extract the chosen options from raw model output, and score them.

Pure functions, no I/O. The extractor never guesses: when a careful reader could not tell which
options a model chose it returns an undecided :class:`Extraction` with a human-readable reason,
and the caller either asks an LLM to extract the answer or records the item as unscored.

The benchmark's rule is that **the chosen options are what the answer names, and the answer scores
0 if any chosen option is wrong** (:func:`score_mcq`). So an answer that does not commit is not
undecided: it chose everything it named.

How :func:`extract_choices` decides, in order of precedence:

1. **Answer statements.** Prefixes such as "Answer:", "The answer is", "Correct options:", "答案是",
   "选", conclusions such as "Therefore ..." / "因此", affirmations such as "C is correct" /
   "C正确", complements such as "anything but B" / "除了B都行", and corrections ("No wait, A",
   "不对，是A"). How they combine is below.
2. **Letter-only lines**: "B", "(B)", "A, C", "AC" (only as the whole output), "A和C", "B D".
3. **Letter with option text lines**: "B. Plaque", "B: Plaque", "Plaque (B)". A block of such
   lines that lists every option (the model repeating the question's options) is not an answer.
4. **Option text** quoted instead of a letter ("It is a plaque."), with negation ("not a papule",
   "neither a papule nor a plaque"), the longest-text preference ("Red-brown" over "Red"), "none/all
   of the above" and "cannot be determined" options; a bare refusal ("I cannot determine", "无法判断")
   is ``no_answer``.

How statements combine (the whole output is read, up to ``judge.limits.MAX_CANDIDATE_CHARS``):

- **Hedge** (method ``hedge``): options offered as alternatives are all chosen: "C or D", "A/B",
  "B? or C?", "maybe C, but could be D", "Either A or C", "C还是D", "A或B", "可能是A，也可能是B",
  "要么A要么C", "a papule or a plaque". A single tentative option ("maybe C", "B?") is that option.
  A hedge whose alternative names nothing readable ("B or something else") is undecided.
- **Correction** (method ``correction``): a statement that a correction marker opens or
  introduces ("Actually, it's A", "No wait, A", "Answer: B — correction: A", "不对，是A",
  "选B。不，应该选A", "B，错了，应为A") supersedes every statement before it; a statement that a
  retraction follows at once ("答案：B，不对", "B. No.") is withdrawn.
- **Final answers** ("Final answer", "therefore", "so", "最终", "因此", ...) override the other
  statements that are still standing.
- **Conflicting** (method ``conflicting``): two different answers, neither corrected nor final, are
  a choice of their union: the model did not commit, so any wrong one scores 0.
- **Rejected after chosen**: an option the output rejects ("B is incorrect", "not B", "排除B")
  at or after the sentence of its answer is not chosen, whether the answer named its letter or
  its text. When nothing is left the answer was withdrawn: decided, no letters, method
  ``retracted`` (score 0). A rejection before the answer's sentence is reasoning it overrode.
- **Complement** (method ``all_but``): "anything but B", "all except B", "除了B都行" choose every
  other option; "all options except B are wrong" / "除了B都不对" choose B.
- **Rejections alone** name no positive choice: an output whose every option letter is rejected and
  which names no option otherwise ("not B", "The answer is not A", "排除A", "It is not a papule")
  is decided as ``no_answer`` (score 0). Reading "not A" as the other options would let a model
  that only excluded one option earn full credit on an item whose gold is all the others.
- A letter described rather than judged ("B is not flat", "B is not a papule") is not rejected.

Undecided therefore means: a letter paired with another option's text, a letter that is not an
option, several option texts named without marking one, an unreadable alternative, and the like.

Every pass is linear in the length of the output: sentence stops and markers are indexed once
(:class:`_Doc`), an answer statement reads only up to the next answer cue, option texts are found
in one pass of an Aho-Corasick automaton over words, and contained matches are dropped by a sweep.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from bisect import bisect_left
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import NamedTuple

MCQ_RULES_VERSION: str = "mcq-rules-2"
"""Version of the extraction rules; part of the cache key, so bump it when behaviour changes."""


@dataclass(frozen=True)
class Extraction:
    """The options a model chose, or why the rules could not tell."""

    letters: frozenset[str] | None
    """Chosen option letters (upper-case, a subset of the options); ``None`` when undecided.
    An empty set means the model chose no option (``no_answer``, ``retracted``, an empty
    ``all_but``); it scores 0."""
    method: str
    """Short name of the rule that decided, e.g. ``answer_prefix``, ``hedge``, ``conflicting``,
    ``correction``; ``undecided`` when undecided."""
    reason: str | None = None
    """Why the output is undecided; ``None`` when decided."""

    def __post_init__(self) -> None:
        if (self.letters is None) != (self.method == "undecided"):
            raise ValueError("an Extraction is undecided exactly when letters is None")
        if (self.letters is None) != (self.reason is not None):
            raise ValueError("an undecided Extraction needs a reason; a decided one has none")

    @property
    def decided(self) -> bool:
        """True when the rules determined the chosen options (possibly none, for ``no_answer``)."""
        return self.letters is not None


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def parse_gold(answer: str | list[str], options: Mapping[str, str]) -> frozenset[str]:
    """Parse a gold answer ("A,C", "A, C", "AC", ["A", "C"], "A and C", "A、C") into option letters.

    Raises ValueError, naming the offending value, when the answer names a letter that is not an
    option key or when nothing in it parses as a letter.
    """
    valid = _option_letters(options)
    parts = answer if isinstance(answer, list) else [answer]
    letters: set[str] = set()
    for part in parts:
        if not isinstance(part, str):
            raise ValueError(f"gold answer {answer!r}: expected letters as strings, got {part!r}")
        letters |= _parse_gold_part(part, answer, valid)
    if not letters:
        raise ValueError(f"gold answer {answer!r} names no option; expected letters like 'A' or 'A,C'")
    unknown = letters - valid
    if unknown:
        raise ValueError(
            f"gold answer {answer!r} names {_fmt(unknown)}, which is not an option (options are {_fmt(valid)})"
        )
    return frozenset(letters)


def extract_choices(output: str, options: Mapping[str, str], language: str | None = None) -> Extraction:
    """Extract the options chosen in a raw model ``output`` by rules, or say why they cannot.

    ``options`` maps letters to option texts, e.g. ``{"A": "Papule", "B": "Plaque"}``. ``language``
    ("en", "zh", ...) is accepted for interface stability but does not switch rules off: models
    often answer in a language other than the question's, so English and Chinese rules always apply.
    Time is linear in ``len(output)``. Raises ValueError when an option key is not a single letter.
    """
    del language  # both rule sets always apply; see the docstring
    opts = _options(_freeze(options))
    text = _without_option_echo(_normalise(output), opts)
    if not _WORDISH_RE.search(text):
        return _no_answer()
    doc = _Doc.build(text)
    complements = _complements(doc, opts)
    skip = _Spans(span for _, span in complements)
    mentions = _letter_mentions(doc, opts, skip)
    answers = _answer_statements(doc, opts, skip) + mentions.affirmed + [statement for statement, _ in complements]
    for statements in (sorted(answers, key=lambda s: s.start), *_line_statements(text, opts)):
        if statements:
            return _decide(statements, mentions, doc)
    return _from_option_text(doc, opts, mentions)


def extract_choices_cached(output: str, options: Mapping[str, str], language: str | None = None) -> Extraction:
    """:func:`extract_choices`, memoised: the same answer text recurs across the items of a run.

    The cache is keyed by a digest of (options, output), so it holds neither text; it keeps the
    :data:`EXTRACTION_CACHE_SIZE` most recently used results. Exceptions are not cached.
    """
    frozen = _freeze(options)
    digest = hashlib.blake2b(repr((MCQ_RULES_VERSION, frozen, output)).encode("utf-8", "surrogatepass"), digest_size=16)
    key = digest.digest()
    found = _EXTRACTIONS.get(key)
    if found is None:
        found = extract_choices(output, dict(frozen), language)
        _EXTRACTIONS.put(key, found)
    return found


def score_mcq(chosen: frozenset[str], gold: frozenset[str]) -> float:
    """Score chosen options against gold: 0.0 if nothing or any wrong option was chosen, else the
    fraction of gold options chosen (partial credit for a correct subset).

    Raises ValueError when ``gold`` is empty, since no score is meaningful then.
    """
    if not gold:
        raise ValueError("gold must name at least one option")
    if not chosen or not chosen <= gold:
        return 0.0
    return len(chosen) / len(gold)


EXTRACTION_CACHE_SIZE = 8192
"""Results kept by :func:`extract_choices_cached` (a digest and a small frozen result each)."""


class _Lru:
    """A bounded, thread-safe least-recently-used map from digests to extractions."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[bytes, Extraction] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: bytes) -> Extraction | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: bytes, value: Extraction) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


_EXTRACTIONS = _Lru(EXTRACTION_CACHE_SIZE)


# --------------------------------------------------------------------------------------------
# Options and normalisation
# --------------------------------------------------------------------------------------------

_NOTA_OPTION_RE = re.compile(
    r"none(?: of (?:the )?(?:above|these|those|options?|choices?|listed)(?: options?| choices?)?)?"
    r"|neither|以上(?:都|均|皆|全)?(?:不是|不对|不正确|皆非)|以上皆非|都不是|都不对|均不是|均不正确"
    r"|以上选项(?:都|均)不(?:是|对|正确)"
)
_ALL_OPTION_RE = re.compile(
    r"all(?: of (?:the )?(?:above|these|those|options?|choices?|listed))?(?: options?| choices?)?"
    r"|以上(?:都|均|皆|全)(?:是|对|正确)|以上全部|全部(?:都)?(?:是|正确|对)?|以上选项(?:都|均)(?:是|对|正确)"
)
_CANNOT_OPTION_RE = re.compile(
    r"(?:it )?(?:cannot|can not|cant|unable to|not possible to|impossible to) (?:be )?"
    r"(?:determined?|tell|say|judged?|assessed?)(?: from (?:the|this) (?:image|photo|picture))?"
    r"|not determinable|undeterminable|indeterminate|uncertain|unknown"
    r"|无法(?:判断|确定)|不能(?:判断|确定)|不确定|无法从图(?:片|像)中?(?:判断|确定)"
)


class _Matcher:
    """Aho-Corasick automaton over the option texts' word sequences: all of them in one pass."""

    def __init__(self, needles: Mapping[str, tuple[str, ...]]) -> None:
        goto: list[dict[str, int]] = [{}]
        depth = [0]
        ends: list[list[str]] = [[]]
        for letter, needle in needles.items():
            node = 0
            for word in needle:
                child = goto[node].get(word)
                if child is None:
                    child = len(goto)
                    goto[node][word] = child
                    goto.append({})
                    depth.append(depth[node] + 1)
                    ends.append([])
                node = child
            if needle:
                ends[node].append(letter)
        fail = [0] * len(goto)
        longest: list[tuple[int, tuple[str, ...]]] = [(0, ())] * len(goto)
        queue = deque(goto[0].values())
        for child in queue:
            longest[child] = (depth[child], tuple(ends[child])) if ends[child] else (0, ())
        while queue:
            node = queue.popleft()
            for word, child in goto[node].items():
                back = fail[node]
                while back and word not in goto[back]:
                    back = fail[back]
                fail[child] = goto[back].get(word, 0)
                longest[child] = (depth[child], tuple(ends[child])) if ends[child] else longest[fail[child]]
                queue.append(child)
        self._goto, self._fail, self._longest = goto, fail, longest

    def find(self, words: Sequence[str]) -> Iterator[tuple[str, int, int]]:
        """(letter, first word, last word) of the longest option text ending at each word."""
        goto, fail, longest = self._goto, self._fail, self._longest
        state = 0
        for i, word in enumerate(words):
            while state and word not in goto[state]:
                state = fail[state]
            state = goto[state].get(word, 0)
            size, letters = longest[state]
            for letter in letters:
                yield letter, i - size + 1, i


@dataclass(frozen=True)
class _Options:
    """Options prepared for matching: letters, word sequences, and special option kinds."""

    display: dict[str, str]
    exact: dict[tuple[str, ...], str]
    """An option's word sequence -> its letter (texts shared by two options are left out)."""
    longest: int
    """Words in the longest option text."""
    matcher: _Matcher
    nota: str | None
    all_of: str | None
    cannot: str | None

    @property
    def letters(self) -> frozenset[str]:
        return frozenset(self.display)

    @classmethod
    def build(cls, options: Mapping[str, str]) -> _Options:
        _option_letters(options)  # validates the keys
        display = {_key(k): str(v).strip() for k, v in options.items()}
        plain = {
            k: re.sub(r"[^\w\s]", "", unicodedata.normalize("NFKC", v).lower()).strip() for k, v in display.items()
        }
        plain = {k: re.sub(r"\s+", " ", v) for k, v in plain.items()}
        words = {k: tuple(t for t, _, _ in _tokens(_normalise(v))) for k, v in display.items()}
        owners: dict[tuple[str, ...], list[str]] = {}
        for k, w in words.items():
            if w:
                owners.setdefault(w, []).append(k)
        return cls(
            display=display,
            exact={w: ks[0] for w, ks in owners.items() if len(ks) == 1},
            longest=max(map(len, words.values()), default=0),
            matcher=_Matcher(words),
            nota=_first_letter(k for k, v in plain.items() if _NOTA_OPTION_RE.fullmatch(v)),
            all_of=_first_letter(k for k, v in plain.items() if _ALL_OPTION_RE.fullmatch(v)),
            cannot=_first_letter(k for k, v in plain.items() if _CANNOT_OPTION_RE.fullmatch(v)),
        )

    def describe(self, letter: str) -> str:
        return f"{letter} ({_snippet(self.display[letter])})" if self.display[letter] else letter


def _freeze(options: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    if not isinstance(options, Mapping):
        raise ValueError(f"options must map letters to texts, got {type(options).__name__}")
    return tuple((str(k), str(v)) for k, v in options.items())


_CACHED_OPTIONS_CHARS = 2_000
"""Option sets up to this many characters stay prepared (tens of KB each at most); a larger
set (up to 26 options of MAX_OPTION_CHARS, about 1 MB prepared) is prepared for each call."""


def _options(frozen: tuple[tuple[str, str], ...]) -> _Options:
    if sum(len(k) + len(v) for k, v in frozen) <= _CACHED_OPTIONS_CHARS:
        return _cached_options(frozen)
    return _Options.build(dict(frozen))


@lru_cache(maxsize=256)
def _cached_options(frozen: tuple[tuple[str, str], ...]) -> _Options:
    """Prepared options; cached because the same options recur across a benchmark's items."""
    return _Options.build(dict(frozen))


def _key(key: object) -> str:
    return str(key).strip().strip(".:)(").upper()


def _option_letters(options: Mapping[str, str]) -> frozenset[str]:
    if not options:
        raise ValueError("options must not be empty")
    letters = frozenset(_key(k) for k in options)
    bad = sorted(str(k) for k in options if not re.fullmatch(r"[A-Z]", _key(k)))
    if bad:
        raise ValueError(f"option keys must be single letters A-Z, got {', '.join(map(repr, bad))}")
    if len(letters) != len(options):
        raise ValueError(f"option keys must be distinct letters, got {sorted(map(str, options))}")
    return letters


def _first_letter(letters: Iterable[str]) -> str | None:
    return min(letters, default=None)


_PUNCT_MAP = str.maketrans(
    {
        "。": ".",
        "、": ",",
        "【": "[",
        "】": "]",
        "「": '"',
        "」": '"',
        "『": '"',
        "』": '"',
        "“": '"',
        "”": '"',
        "‘": "'",
        "’": "'",
        "﹐": ",",
        "〔": "(",
        "〕": ")",
    }
)
_THINK_TAG_RE = re.compile(r"<(/?)think>", re.IGNORECASE)
_ANSWER_TAG_RE = re.compile(r"<(/?)answer>", re.IGNORECASE)
_BOXED_RE = re.compile(r"\\boxed\{(?:\\text\{)?([^{}]*)\}?\}")
_MARKUP_RE = re.compile(r"[*`#$\"]|__")
_SPACE_RE = re.compile(r"\s+")
# Invisible characters that would hide a letter: controls, soft hyphen, zero-width and
# direction marks, word joiners, byte-order marks, lone surrogates.
_INVISIBLE_RE = re.compile("[\x00-\x08\x0e-\x1b\x7f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\ud800-\udfff]")
_WORDISH_RE = re.compile(r"[^\W_]")


def _normalise(text: str) -> str:
    """NFKC (full-width to half-width), Chinese punctuation to ASCII, invisible characters, markup
    and reasoning removed, every run of white space within a line one space, and no empty lines."""
    text = unicodedata.normalize("NFKC", _INVISIBLE_RE.sub("", text)).translate(_PUNCT_MAP)
    text = _THINK_TAG_RE.sub("\n", _replace_blocks(text, _THINK_TAG_RE, lambda inner: "\n"))  # and stray tags
    text = _BOXED_RE.sub(r"\nFinal answer: \1\n", text)
    text = _replace_blocks(text, _ANSWER_TAG_RE, lambda inner: f"\nFinal answer: {_ANSWER_TAG_RE.sub('', inner)}\n")
    text = _ANSWER_TAG_RE.sub("\n", text)
    text = _MARKUP_RE.sub("", text)
    lines = (_SPACE_RE.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _replace_blocks(text: str, tags: re.Pattern[str], replace_with: Callable[[str], str]) -> str:
    """Replace each ``<tag>...</tag>`` block (the first closing tag after an opening one), in one
    pass; an opening tag that is never closed is left as it is."""
    out: list[str] = []
    done = 0
    opened: re.Match[str] | None = None
    for m in tags.finditer(text):
        if not m.group(1):
            opened = opened or m
        elif opened is not None:
            out += [text[done : opened.start()], replace_with(text[opened.end() : m.start()])]
            done, opened = m.end(), None
    return "".join(out) + text[done:] if out else text


def _fmt(letters: Iterable[str]) -> str:
    return ", ".join(sorted(letters))


def _snippet(text: str, limit: int = 60) -> str:
    text = " ".join(text[: limit * 4].split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------
# The output, indexed once: sentence stops, conclusion and correction markers
# --------------------------------------------------------------------------------------------

_SENTENCE_END_RE = re.compile(r"[.!?;\n]")


def _gated(first: str, pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Compile ``pattern`` behind a lookahead for the characters a match can start with.

    Python's ``re`` tries every alternative of a pattern at every position; the gate skips the
    positions no alternative can start at, which makes scanning a long output ~15x faster. Every
    alternative must start with one of ``first``: ``tests/test_mcq_linear.py`` derives the characters
    each gated pattern can start with from its parse and fails when the gate misses one.
    """
    return re.compile(f"(?=[{first}])(?:{pattern})", flags)


_CONCLUSION_RE = _gated(
    "fthsiouc最因所综总故",
    r"\b(?:final|finally|therefore|thus|hence|so|in\s+conclusion|in\s+summary|overall|ultimately"
    r"|consequently)\b|最终|最后|因此|所以|综上|总之|故",
    re.IGNORECASE,
)
# A correction marker opens a revised answer; the ``retract`` ones also withdraw the answer they
# follow at once ("答案：B，不对" chooses nothing).
_AFTER_STOP = r"(?:^|(?<=[.!?;,\n])|(?<=[.!?;,\n][ \t]))"  # at the start of a sentence or clause
# "but B", ", it's B", "，是B": a cue only before an upper-case letter ("but a papule" is none).
_UPPER_LETTER_AHEAD = r"(?=[ \t]*(?:options?[ \t]+|选项)?[(\[]?(?-i:[A-Z])[)\]]?(?![A-Za-z0-9'\-]))"
_CORRECTION_RE = _gated(
    "nwtimsacolrhu不说我错其实更纠修改等重再而",
    r"""
    (?P<retract>
        \bno[ \t]*,?[ \t]*wait\b | \bwait[ \t]*,?[ \t]*no\b
      | (?:{after_stop}|\b(?:actually|oh|hmm|um)[ \t]*,?[ \t]*)no\b(?=[ \t]*(?:[,.!;:]|$))
      | \bthat(?:'s|[ \t]+is)[ \t]+(?:wrong|incorrect|not[ \t]+right)\b
      | \bI[ \t]+(?:was[ \t]+wrong|made[ \t]+a[ \t]+mistake|misspoke|take[ \t]+(?:that|it)[ \t]+back)\b
      | \b(?:my[ \t]+mistake|scratch[ \t]+that|strike[ \t]+that)\b
      | 不对|说错了|我错了|错了|不是的|不[ \t]*(?=,)
    )
  | \bactually\b | \bwait\b | \bcorrect(?:ion|ed)\b | \bI[ \t]+mean\b | \b(?:I[ \t]+)?meant\b | \bsorry\b
  | \bon[ \t]+(?:second[ \t]+thought|reflection|further[ \t]+reflection|reconsideration)\b
  | \blet[ \t]+me[ \t]+(?:correct|reconsider|revise|rethink)\b
  | \bchang(?:e|ing)[ \t]+my[ \t]+answer(?:[ \t]+to)?\b
  | {after_stop}(?:rather|instead)\b
  | 其实|实际上|更正|纠正|修正|改为|改选|改成|等等|等一下|重新考虑|再想想|而是
    """.replace("{after_stop}", _AFTER_STOP),
    re.IGNORECASE | re.VERBOSE,
)


class _Marks:
    """Sorted, non-overlapping matches of one pattern, queried by bisection."""

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        pairs = sorted(spans)
        self.starts = [s for s, _ in pairs]
        self.ends = [e for _, e in pairs]

    def within(self, lo: int, hi: int) -> bool:
        """True when a match lies wholly in ``[lo, hi)``."""
        k = bisect_left(self.starts, lo)
        return k < len(self.starts) and self.ends[k] <= hi


class _Spans(_Marks):
    def covers(self, pos: int) -> bool:
        """True when ``pos`` lies inside one of the spans."""
        k = bisect_left(self.starts, pos + 1) - 1
        return k >= 0 and pos < self.ends[k]


@dataclass(frozen=True)
class _Doc:
    """The normalised output with what every rule asks of it computed once."""

    text: str
    stops: list[int]
    """Positions of the characters that end a sentence."""
    conclusions: _Marks
    markers: list[tuple[int, int, bool]]
    """Correction markers: start, end, and whether the marker retracts ("不对", "No.")."""
    corrections: _Marks

    @classmethod
    def build(cls, text: str) -> _Doc:
        markers = [(m.start(), m.end(), m.group("retract") is not None) for m in _CORRECTION_RE.finditer(text)]
        return cls(
            text=text,
            stops=[m.start() for m in _SENTENCE_END_RE.finditer(text)],
            conclusions=_Marks(m.span() for m in _CONCLUSION_RE.finditer(text)),
            markers=markers,
            corrections=_Marks((start, end) for start, end, _ in markers),
        )

    def sentence_start(self, pos: int) -> int:
        k = bisect_left(self.stops, pos)
        return self.stops[k - 1] + 1 if k else 0

    def sentence_end(self, pos: int) -> int:
        """Where the sentence holding ``pos`` ends (its stop, or the end of the text)."""
        k = bisect_left(self.stops, pos)
        return self.stops[k] if k < len(self.stops) else len(self.text)

    def context(self, pos: int) -> tuple[bool, bool]:
        """Whether a conclusion word ("therefore", "因此": the statement at ``pos`` is final) and
        whether a correction marker ("Actually", "不，") come earlier in the sentence of ``pos``."""
        since = self.sentence_start(pos)
        return self.conclusions.within(since, pos), self.corrections.within(since, pos)


# --------------------------------------------------------------------------------------------
# Letter lists: "B", "(B)", "A, C", "A and C", "A和C", "B D", "AC"
# --------------------------------------------------------------------------------------------

# "A" and "I" are also English words: followed by a word that is not a connector they are not
# letters ("A papule is seen", "I think ...").
_CONNECTOR = (
    r"(?:and|or|nor|is|are|was|were|seems?|appears?|because|since|as|given|due|which|with|plus"
    r"|both|only|would|should|could|might|may|will|has|have)"
)
_LETTER = (
    r"(?<![A-Za-z0-9'])[(\[']?"
    rf"(?:[B-HJ-Z]|[AI](?![ \t]+(?!{_CONNECTOR}\b)[A-Za-z][a-z]))"
    r"[)\]']?(?![A-Za-z0-9'\-])"
)
_SEP = r"(?:[ \t]*[,;&+][ \t]*(?:and[ \t]+)?|[ \t]+(?:and|plus)[ \t]+|[ \t]*(?:以及|和|与|及)[ \t]*|[ \t]+)"
_LIST = rf"{_LETTER}(?:{_SEP}{_LETTER})*"
_STRICT_LETTER_RE = re.compile(_LETTER)
_STRICT_LIST_RE = re.compile(_LIST)
_LENIENT_LETTER_RE = re.compile(_LETTER, re.IGNORECASE)
_LENIENT_LIST_RE = re.compile(_LIST, re.IGNORECASE)
_CONCAT_RE = re.compile(r"[A-Z]{2,10}")
_CONCAT_AT_START_RE = re.compile(r"[A-Z]{2,10}(?=[ \t]*(?:[.!?;,\n]|$))")  # "Answer: AD. D is ..."
_CONCAT_WORD_RE = re.compile(r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z]{1,9}(?![A-Za-z0-9])")
_LIST_SUFFIX_RE = re.compile(r"[ \t]*(?:选项|项|options?)$", re.IGNORECASE)
_LIST_PREFIX_RE = re.compile(r"^(?:options?|choices?|选项)[ \t]*:?[ \t]*", re.IGNORECASE)
_LINE_END_CHARS = " \t\n.!?;,"

_HEDGE_AFTER_RE = re.compile(
    r"^[ \t]*[,;]?[ \t]*(?:\?|/|or\b|and/or\b|maybe\b|perhaps\b|possibly\b|but\s+(?:it\s+)?(?:could|might|may)\b"
    r"|或者?|或是|还是|要么|也可能|但(?:也)?可能)",
    re.IGNORECASE,
)
# What joins two alternatives: "or", "/", "? or maybe", ", but it could be", "还是", "也可能是", "要么".
_HEDGE_WORDS = (  # case-insensitive words; the letters around them keep their own case rule
    r"(?i:or(?:[ \t]+(?:maybe|perhaps|possibly|probably|even))?|and/or|/"
    r"|(?:but|though|although)[ \t]+(?:it[ \t]+)?(?:could|might|may)[ \t]+(?:also[ \t]+|well[ \t]+)?be"
    r"|(?:but[ \t]+)?(?:maybe|perhaps|possibly)(?:[ \t]+(?:also|even))?"
    r"|或者?|或是|还是|要么|(?:但是?)?也?有?可能(?:是|为)?)"
)
_HEDGE_SEP = (  # "or", "? or maybe", ", but it could be", "还是", "也可能是", or a bare "C? D?"
    rf"(?:(?:[ \t]*\?)?[ \t]*[,;]?[ \t]*{_HEDGE_WORDS}|[ \t]*\?[ \t]*[,;]?)[ \t]*(?i:options?[ \t]+|choices?[ \t]+|选项[ \t]*)?"
)
_HEDGE_TAIL = rf"{_HEDGE_SEP}{_LETTER}(?:(?:{_SEP}|{_HEDGE_SEP}){_LETTER})*"
_STRICT_HEDGE_TAIL_RE = re.compile(_HEDGE_TAIL)
_LENIENT_HEDGE_TAIL_RE = re.compile(_HEDGE_TAIL, re.IGNORECASE)
_HEDGE_TEXT_RE = re.compile(
    rf"(?:[ \t]*\?)?[ \t]*[,;]?[ \t]*{_HEDGE_WORDS}[ \t]*(?:it[ \t]+)?(?:(?:could|might|may)[ \t]+)?(?:also[ \t]+)?(?:be[ \t]+)?",
    re.IGNORECASE,
)
_EXPLAINED_RE = re.compile(  # "B, because it is raised": a letter answer, then its reason
    r"^[ \t]*[,:\-]?[ \t]*(?:because|since|given|due\s+to|as\s+(?:it|the|this))\b|^[ \t]*,?[ \t]*因为",
    re.IGNORECASE,
)
_EITHER_RE = re.compile(r"^(?:either\b|要么)[ \t]*", re.IGNORECASE)
_LEADING_HEDGE_RE = re.compile(r"^(?:(?:either|maybe|perhaps|possibly|probably)\b|要么|可能是?)[ \t,:]*", re.IGNORECASE)
_TRIVIAL_RE = re.compile(r"[\s,.;:!\-—–]*")


@dataclass(frozen=True)
class _Letters:
    """A letter list found in text: its letters (as written) and the text after it."""

    letters: tuple[str, ...]
    rest: str
    lenient: bool = False


def _letters_in(fragment: str, lenient: bool) -> tuple[str, ...]:
    if len(fragment) == 1 and fragment.isascii() and (fragment.isalpha() if lenient else fragment.isupper()):
        return (fragment.upper(),)  # the common case, a bare letter
    pattern = _LENIENT_LETTER_RE if lenient else _STRICT_LETTER_RE
    return tuple(m.group().strip("()[]'").upper() for m in pattern.finditer(fragment))


def _whole_list(line: str, opts: _Options, allow_concat: bool) -> tuple[str, ...] | None:
    """Letters when ``line`` is nothing but a letter list ("b", "(B).", "A, C", "AC")."""
    core = _LIST_SUFFIX_RE.sub("", _LIST_PREFIX_RE.sub("", line.rstrip(_LINE_END_CHARS)))
    if _LENIENT_LIST_RE.fullmatch(core):
        return _letters_in(core, lenient=True)
    if allow_concat and _CONCAT_RE.fullmatch(core):
        letters = tuple(core)
        if len(set(letters)) == len(letters) and set(letters) <= opts.letters:
            return letters
    return None


def _list_at_start(body: str, opts: _Options, allow_concat: bool) -> _Letters | None:
    """The letter list that ``body`` starts with, if any."""
    line = body.split("\n", 1)[0]
    whole = _whole_list(line, opts, allow_concat)
    if whole is not None:
        return _Letters(whole, body[len(line) :], lenient=True)
    concat = _CONCAT_AT_START_RE.match(body) if allow_concat else None
    if concat and len(set(concat.group())) == len(concat.group()) and set(concat.group()) <= opts.letters:
        return _Letters(tuple(concat.group()), body[concat.end() :])
    m = _STRICT_LIST_RE.match(body)
    if m is None:
        return None
    return _Letters(_letters_in(m.group(), lenient=False), body[m.end() :])


# --------------------------------------------------------------------------------------------
# Rejections: "A is incorrect", "not B", "rule out C", "排除A", "A不对"
# --------------------------------------------------------------------------------------------

# After a letter, what stops it being an answer ("B is not flat" included: the statement rules
# do not read "B is ..." as an answer). Used with ``match(text, pos)``, so no ``^``.
_NEG_PRED_RE = re.compile(
    r"""[ \t]*(?:选项|option)?[ \t]*(?:\([^)\n]{0,80}\))?[ \t]*(?:
        (?:is|are|seems?|appears?|was|were|would\s+be|may\s+be|might\s+be)\s+
            (?:(?:also|likely|probably|clearly|definitely|most\s+likely)\s+)?
            (?:not\b|incorrect|wrong|unlikely|less\s+likely|false|inappropriate|inconsistent
               |excluded|ruled\s+out|eliminated|implausible)
        | (?:isn't|aren't|doesn't|does\s+not|do\s+not|don't)\b
        | (?:can|could|should|must)\s+be\s+(?:excluded|ruled\s+out|eliminated)
        | (?:是)?(?:错误|错的|错|不正确|不对|不符合|不太可能|不可能|不是|可以排除|可排除|被排除|排除)
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# After a letter, a verdict that rejects the option ("B is incorrect", "B is not the answer",
# "B错误"), as opposed to a description of it ("B is not flat", "B不是丘疹").
_REJECT_PRED_RE = re.compile(
    r"""[ \t]*(?:选项|option)?[ \t]*(?:\([^)\n]{0,80}\))?[ \t]*(?:
        (?:is|are|seems?|appears?|was|were|would\s+be|may\s+be|might\s+be)\s+
            (?:(?:also|likely|probably|clearly|definitely|most\s+likely)\s+)?
            (?:incorrect|wrong|unlikely|less\s+likely|false|inappropriate|inconsistent
               |excluded|ruled\s+out|eliminated|implausible|not\s+(?:{verdict}))\b
        | (?:isn't|aren't)\s+(?:{verdict})\b
        | (?:doesn't|does\s+not|don't|do\s+not)\s+(?:fit|match|apply|make\s+sense)\b
        | (?:can|could|should|must)\s+be\s+(?:excluded|ruled\s+out|eliminated)
        | (?:是)?(?:错误|错的|错|不正确|不对|不符合|不太可能|不可能|可以排除|可排除|被排除|排除)
        | 不是(?:正确|对)的?(?:答案|选项)?|不是答案
    )""".replace(
        "{verdict}",
        r"(?:the\s+)?(?:correct|right|true|valid|best|likely|possible|plausible|appropriate|consistent)"
        r"|the\s+(?:answer|one)|an?\s+(?:correct|right|valid)\s+(?:answer|option|choice)|it",
    ),
    re.IGNORECASE | re.VERBOSE,
)
_NEG_PRE_RE = _gated(
    "nreci排不而并",
    r"(?:\b(?:not|nor|neither|can(?:not|'t)\s+be|isn't|rule\s+out|ruled\s+out|ruling\s+out|exclud(?:e|es|ed|ing)"
    r"|eliminat(?:e|es|ed|ing))\s+|排除|不是|不选|而非|并非)[ \t]*(?:options?\s+|choices?\s+|选项)?$",
    re.IGNORECASE,
)
_AFFIRM_RE = re.compile(
    r"""[ \t]*(?:选项|option)?[ \t]*(?:\([^)\n]{0,80}\))?[ \t]*(?:
        (?:is|are)\s+(?:(?:clearly|definitely|also)\s+)?(?:the\s+)?
            (?:correct|right|true|best|closest|(?:most|more)\s+(?:likely|appropriate|accurate|probable|consistent))
            (?:\s+(?:answers?|options?|choices?|responses?|diagnos[ie]s|descriptions?))?\b
            (?!\s*\?)
        | (?:is|are)\s+the\s+answers?\b(?!\s*\?)
        | (?:是|为)?(?:正确|对)(?!性|率|应|于|比|照|待|称|象)
        | (?:是|为)(?:最佳|最合适的?|最可能的?|正确的?)(?:答案|选项|诊断)
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# What may precede a letter list that is the subject of "is correct" / "is incorrect", so that
# "Vitamin D is correct" or "Hepatitis C is unlikely" are not read as options.
_SUBJECT_CONTEXT_RE = _gated(  # at the very start of the output there is no context: see _letter_mentions
    ".!?;:,(\\[\\noclabwsthr\u3400-\u9fff",
    r"(?:[.!?;:,(\[\n][ \t]*|\b(?:options?|choices?|letters?|answers?|both|only|and|but|while"
    r"|whereas|so|thus|therefore|hence|actually|thought|reflection|wait|rather)[ \t]+|选项[ \t]*|[\u3400-\u9fff][ \t]*)$",
    re.IGNORECASE,
)
_CONTEXT_CHARS = 24
"""How far back the rules look for what precedes a letter: the longest context phrase above
("eliminating options ") is 20 characters once white space is collapsed."""
_AFTER_CHARS = 200
"""How far the predicates above can read after a letter list (a bracket of up to 80
characters, then a verdict phrase)."""


class _Rejection(NamedTuple):
    letter: str
    start: int


@dataclass(frozen=True)
class _Mentions:
    """What the output says about option letters outside answer cues."""

    rejected: list[_Rejection]
    """Every option letter the output rejects, with where the rejection starts."""
    affirmed: list[_Statement]
    """Affirmations: "C is correct", "B is the best answer", "C正确"."""
    mentioned: bool
    """The output names an option letter outside any rejection."""


def _letter_mentions(doc: _Doc, opts: _Options, skip: _Spans) -> _Mentions:
    """One pass over the letter lists of the output (those inside ``skip`` excepted)."""
    text = doc.text
    rejected: list[_Rejection] = []
    affirmed: list[_Statement] = []
    mentioned = False
    verdicts: dict[tuple[str, str, str], _Verdict] = {}  # a looping output repeats its contexts
    for m in _STRICT_LIST_RE.finditer(text):
        start, end = m.span()
        key = (text[max(0, start - _CONTEXT_CHARS) : start], m.group(), text[end : end + _AFTER_CHARS])
        verdict = verdicts.get(key)
        if verdict is None:
            verdict = verdicts[key] = _letter_verdict(*key, opts)
        if verdict.kind == "other" or skip.covers(start):
            continue
        if verdict.kind == "rejected":
            rejected += [_Rejection(x, start - verdict.back) for x in verdict.letters]
            continue
        mentioned = True
        if verdict.kind == "affirmed":
            affirmed.append(_Statement(start, verdict.letters, "answer_affirmation", *doc.context(start)))
    if not mentioned:  # "AD" names options too, though it is no list
        mentioned = any(set(m.group()) <= opts.letters for m in _CONCAT_WORD_RE.finditer(text))
    return _Mentions(rejected, affirmed, mentioned)


class _Verdict(NamedTuple):
    kind: str
    """``rejected`` ("not B", "B is wrong"), ``affirmed`` ("B is correct"), ``named``, or
    ``other`` (no option letter)."""
    letters: frozenset[str]
    back: int = 0
    """How far before the letters a rejection starts ("not " in "not B")."""


def _letter_verdict(before: str, listed: str, after: str, opts: _Options) -> _Verdict:
    """What a letter list says, from the text just before and after it."""
    written = _letters_in(listed, lenient=False)
    letters = frozenset(x for x in written if x in opts.letters)
    if not letters:
        return _Verdict("other", letters)
    negated_before = _NEG_PRE_RE.search(before)
    if negated_before:
        return _Verdict("rejected", letters, len(negated_before.group()))
    subject = not before or _SUBJECT_CONTEXT_RE.search(before) is not None
    if subject and _REJECT_PRED_RE.match(after):
        return _Verdict("rejected", letters)
    if subject and len(letters) == len(set(written)) and _AFFIRM_RE.match(after):
        return _Verdict("affirmed", letters)
    return _Verdict("named", letters)


# --------------------------------------------------------------------------------------------
# Answer statements
# --------------------------------------------------------------------------------------------

_STRONG_CUE_RE = _gated(
    "fucrbaim最的正标答回我应则可选",
    r"""
      \b(?P<final>final\s+|ultimate\s+)?(?:correct\s+|right\s+|best\s+)?answers?\b
          (?:\s+(?:to|for)\s+(?:this|the)\s+question)?
          \s*(?:is|are|(?:would|should|will|could|might|may|can)\s+be|=|:|-)
    | \b(?:correct|right|best|most\s+appropriate|most\s+likely)\s+(?:options?|choices?|responses?)\b
          \s*(?:is|are|would\s+be|:|-)?
    | \bI(?:\s+would|'d)?\s+(?:choose|select|pick|go\s+with)\b
    | \bmy\s+(?:choice|selection|pick)\s+(?:is|would\s+be|:)
    | (?:回)?答\s*:
    | (?P<zh_final>最终|最后)?的?(?:正确|标准)?的?答案\s*(?:应该|应|就)?(?:是|为|:|选)?
    | 正确(?:的)?(?:选项|答案)?(?:是|为|:)
    | (?<![不未首挑筛候优])(?:我|应|应该|应当|则|可)?选(?!项)(?:择)?(?:的是|是|为|:)?  # not 首选 "first-line"
    | (?:应该|应当)(?:是|为)
    """,
    re.IGNORECASE | re.VERBOSE,
)
_WEAK_CUE_RE = _gated(
    "sthioucmlb因所综总我倾是应",
    r"""
      (?P<final>{after_stop}so\b
        | \b(?:therefore|thus|hence|in\s+conclusion|in\s+summary|overall|ultimately|consequently)\b
        | 因此|所以|综上所述?|总之|总结)[ \t,:]*
    | (?:\b(?:I\s+(?:think|believe|would\s+say|guess|lean\s+(?:towards?|to))|I'd\s+say|leaning\s+towards?
        | most\s+likely)\b|我(?:认为|觉得|倾向于?)|倾向于)[ \t,:]*
    | (?:\bbut(?:\s+rather)?\b|(?:(?<=,)|(?<=,[ \t]))(?:it's|it\s+is|是|应是|应为|应该是)){upper_letter_ahead}
    """.replace("{after_stop}", _AFTER_STOP).replace("{upper_letter_ahead}", _UPPER_LETTER_AHEAD),
    re.IGNORECASE | re.VERBOSE,
)
_CLAUSE_RE = re.compile(
    r"^[^.!?;\n]{0,60}?\b(?:is|are|would\s+be|should\s+be|must\s+be)\b|^[^.!?;\n]{0,30}?(?:是|为)",
    re.IGNORECASE,
)
_TAIL_FILLER_RE = re.compile(
    r"""^(?:[\s:=,\-\]]+
        | (?:the|options?|choices?|letters?|answers?|correct|final|most\s+likely|probably|likely
            |maybe|perhaps|possibly|clearly|definitely|I\s+think|I\s+believe|I'd\s+say|it\s+is|it's|it\s+would\s+be
            |that\s+is|this\s+is|would\s+be|should\s+be|will\s+be|to\s+be|is|are|be)\b
        | 选项|选择|的是|是|为|应该|应|就|选|项|可能|大概|也许|或许)*""",
    re.IGNORECASE | re.VERBOSE,
)
_WEAK_REST_OK_RE = re.compile(
    r"^(?:[ \t]*(?:[.!?;,)]|$)|[ \t]*\n|\s+(?:is|are)\s+(?:the\s+)?(?:most\s+likely|likely|correct"
    r"|right|best|answer|true)\b|[ \t]*(?:是)?(?:正确|对|最佳|最可能))",
    re.IGNORECASE,
)
_LETTER_TEXT_RE = re.compile(r"^[ \t]*[.:)\-]?[ \t]*(?P<text>[^\n.!?;]+?)[ \t]*(?:[.!?;]|\n|$)")
_ARTICLE_RE = re.compile(r"^(?:(?:a|an|the)\s+|一个|一种)", re.IGNORECASE)
_BRACKETED_LETTER_RE = re.compile(r"[(\[](?P<l>[A-Za-z])[)\]]")
_ALL_BUT_TAIL = (
    r"[ \t]*,?[ \t]*的?(?:其他|其余|其它|别的)?的?(?:选项|答案)?[ \t]*(?:都|均|皆|全)"
    r"(?:(?P<neg>不(?:对|正确|行|是|可以)|错误?|是错的?)|可以|行|对|正确|是|可选|能选|成立)"
)
_ALL_BUT_RES = (  # "anything but B", "all except B are wrong", "除了B都行", "B以外都对"
    _gated(
        "aeAE",
        r"(?i:\b(?:anything|any(?:[ \t]+(?:option|choice|answer|one))?|everything|every[ \t]+(?:option|choice|one)"
        r"|all(?:[ \t]+(?:options|choices|answers|of[ \t]+them|of[ \t]+these|the[ \t]+others"
        r"|the[ \t]+other[ \t]+options|the[ \t]+options))?)"
        r"[ \t]+(?:but|except(?:[ \t]+for)?|other[ \t]+than|apart[ \t]+from|besides|save[ \t]+for)[ \t]+"
        rf"(?:(?:options?|choices?)[ \t]+)?)(?P<list>{_LIST})"
        r"(?i:[ \t]+(?:is|are|would[ \t]+be)[ \t]+(?:(?P<neg>wrong|incorrect|false|not[ \t]+(?:correct|right|true))"
        r"|correct|right|true|fine|ok|okay|possible|acceptable)\b)?",
    ),
    re.compile(rf"(?:除了?|除去)[ \t]*(?:选项)?[ \t]*(?P<list>{_LIST})[ \t]*(?:选项)?(?:以外|之外|外)?{_ALL_BUT_TAIL}"),
)
_ALL_BUT_AFTER_LIST_RE = re.compile(rf"[ \t]*(?:选项)?(?:以外|之外){_ALL_BUT_TAIL}")  # "B以外都对"


class _Statement(NamedTuple):  # a tuple: the rules build one per answer cue, so it must be cheap
    """One place where the output states an answer (or fails to, with a reason)."""

    start: int
    letters: frozenset[str] | None
    method: str
    final: bool
    correction: bool = False
    """A correction marker opens it ("No wait, A") or precedes it in its sentence."""
    reason: str | None = None
    open_end: bool = False
    """Only punctuation follows its letters up to the next answer cue."""
    retracted: bool = False
    """A retraction ("不对", "No.") follows it at once."""


class _Cue(NamedTuple):
    start: int
    end: int
    marked: bool
    """Marked final by its own words ("Final answer", "so", "因此")."""
    strong: bool
    retract: bool = False
    method: str = "answer_prefix"


@dataclass(frozen=True)
class _StatementFactory:
    start: int
    method: str
    final: bool
    correction: bool = False

    def decided(self, letters: frozenset[str], method: str | None = None, open_end: bool = False) -> _Statement:
        return _Statement(self.start, letters, method or self.method, self.final, self.correction, open_end=open_end)

    def undecided(self, reason: str) -> _Statement:
        return _Statement(self.start, None, self.method, self.final, self.correction, reason)


def _answer_statements(doc: _Doc, opts: _Options, skip: _Spans) -> list[_Statement]:
    """Statements introduced by answer prefixes, conclusions, corrections, or affirmations.

    Each cue reads the text up to the next cue only, so the work is linear in the output.
    """
    cues = [c for c in _cues(doc) if not skip.covers(c.start)]  # not the "but" of "anything but B"
    starts = [c.start for c in cues]
    statements = []
    readings: dict[tuple[str, bool, str], _Statement | None] = {}  # a looping output repeats its windows
    for cue in cues:
        k = bisect_left(starts, cue.end)
        limit = starts[k] if k < len(starts) else len(doc.text)
        key = (doc.text[cue.end : limit], cue.strong, cue.method)
        if key not in readings:
            readings[key] = _cue_statement(key[0], cue, opts)
        statement = readings[key]
        if statement is None:
            continue
        concluded, corrected = doc.context(cue.start)
        correction = cue.method == "correction" or corrected
        statement = statement._replace(start=cue.start, final=cue.marked or concluded, correction=correction)
        if statement.open_end and _retraction_at(doc, cues, k, limit):
            statement = statement._replace(retracted=True)
        statements.append(statement)
    return statements


def _retraction_at(doc: _Doc, cues: list[_Cue], k: int, pos: int) -> bool:
    """True when a retraction that ends its sentence ("答案：B，不对。", "B. No.") is among the cues
    starting at ``pos`` (from ``k``). "B. No, A is not correct because ..." withdraws nothing."""
    while k < len(cues) and cues[k].start == pos:
        cue = cues[k]
        if cue.retract and not _WORDISH_RE.search(doc.text, cue.end, doc.sentence_end(cue.end)):
            return True
        k += 1
    return False


def _cues(doc: _Doc) -> list[_Cue]:
    cues = []
    for pattern, strong in ((_STRONG_CUE_RE, True), (_WEAK_CUE_RE, False)):
        marks = [name for name in ("final", "zh_final") if name in pattern.groupindex]
        for m in pattern.finditer(doc.text):
            start, end = m.span()
            if end == start:
                continue
            cues.append(_Cue(start, end, any(m.group(name) for name in marks), strong))
    for start, end, retract in doc.markers:
        cues.append(_Cue(start, end, False, False, retract, "correction"))
    cues.sort()  # by start, then end
    return cues


def _cue_statement(raw: str, cue: _Cue, opts: _Options) -> _Statement | None:
    """What the text right after an answer cue (``raw``, up to the next cue) states, if anything;
    a function of ``raw`` and the cue's kind only, so repeated windows are read once."""
    statement = _body_statement(raw, cue, opts)
    if statement is None and not cue.strong:
        clause = _CLAUSE_RE.match(raw)  # "Therefore, the most likely diagnosis is C"
        if clause:
            statement = _body_statement(raw[clause.end() :], cue, opts)
    return statement


def _body_statement(raw: str, cue: _Cue, opts: _Options) -> _Statement | None:
    body = _TAIL_FILLER_RE.sub("", raw, count=1)
    make = _StatementFactory(0, cue.method, final=False)  # the caller places the statement
    either = _EITHER_RE.match(body)
    if either:
        body = body[either.end() :]
    found = _list_at_start(body, opts, allow_concat=cue.strong and not either)
    if found is None:
        return _text_statement(body, make, opts, strong=cue.strong)
    if cue.method == "correction" and found.rest.lstrip(" \t").startswith("?"):
        return None  # "Wait, B?" asks; it does not answer
    if _HEDGE_AFTER_RE.match(found.rest):
        return _hedge_statement(found, make, opts)
    if _NEG_PRED_RE.match(found.rest):
        return None
    if not cue.strong and not _WEAK_REST_OK_RE.match(found.rest):
        return None  # "So B and C share features" is not an answer
    return _letters_statement(found, make, opts)


def _hedge_statement(found: _Letters, make: _StatementFactory, opts: _Options) -> _Statement:
    """Letters followed by "or", "/", "?", "but it could be", "还是", ...: all the alternatives."""
    tail = (_LENIENT_HEDGE_TAIL_RE if found.lenient else _STRICT_HEDGE_TAIL_RE).match(found.rest)
    if tail:
        more = _letters_in(tail.group(), lenient=found.lenient)
        return _letters_statement(_Letters(found.letters + more, found.rest[tail.end() :]), make, opts, "hedge")
    words = _HEDGE_TEXT_RE.match(found.rest)
    if words:  # "C, but it could be a nodule"
        named = _match_texts(_first_sentence(found.rest[words.end() :]), opts)
        if named.letters and not (named.stray or named.refusal):
            return _letters_statement(_Letters(found.letters + tuple(sorted(named.letters)), ""), make, opts, "hedge")
    connector = _HEDGE_AFTER_RE.match(found.rest)
    after = found.rest[connector.end() :] if connector else found.rest
    asked = connector is not None and connector.group().strip() == "?"  # the sentence ends there
    if asked or not _WORDISH_RE.search(_first_sentence(after)):  # "B?", "B, maybe.": one tentative option
        return _letters_statement(_Letters(found.letters, ""), make, opts, "hedge")
    return make.undecided(f"answer hedges between options without naming them all: {_snippet(found.rest)!r}")


def _first_sentence(text: str) -> str:
    end = _SENTENCE_END_RE.search(text)
    return text[: end.start()] if end else text


def _letters_statement(
    found: _Letters, make: _StatementFactory, opts: _Options, method: str | None = None
) -> _Statement:
    unknown = [x for x in found.letters if x not in opts.letters]
    if unknown:
        return make.undecided(
            f"answer names {_fmt(unknown)}, which is not an option (options are {_fmt(opts.letters)})"
        )
    letters = frozenset(found.letters)
    mismatch = _text_mismatch(letters, found.rest, opts)
    if mismatch:
        return make.undecided(mismatch)
    return make.decided(letters, method, open_end=_TRIVIAL_RE.fullmatch(found.rest) is not None)


def _text_mismatch(letters: frozenset[str], rest: str, opts: _Options) -> str | None:
    """A reason when "B: Papule" pairs a letter with another option's text, else None."""
    m = _LETTER_TEXT_RE.match(rest)
    if len(letters) != 1 or m is None:
        return None
    named = _exact_option(m.group("text"), opts)
    (letter,) = letters
    if named is None or named == letter:
        return None
    return f"answer pairs letter {letter} with the text of option {opts.describe(named)}"


def _exact_option(fragment: str, opts: _Options) -> str | None:
    """The option whose whole text ``fragment`` is; reads no more words than the longest option."""
    words: list[str] = []
    for m in _WORD_RE.finditer(fragment):
        if len(words) == opts.longest:
            return None
        words.append(_word(m.group()))
    return opts.exact.get(tuple(words))


def _text_statement(body: str, make: _StatementFactory, opts: _Options, strong: bool) -> _Statement | None:
    """An answer statement naming option text ("The answer is plaque", "答案是斑块").

    After a weak cue the whole clause must be one option's text ("so it is a plaque"), because
    reasoning such as "so a papule is too small" also mentions option texts.
    """
    sentence = _first_sentence(body)
    if not strong:
        named = _exact_option(_ARTICLE_RE.sub("", sentence), opts)
        return make.decided(frozenset(named), _text_method(frozenset(named), opts, make.method)) if named else None
    bracketed = frozenset(m.group("l").upper() for m in _BRACKETED_LETTER_RE.finditer(sentence))
    found = _match_texts(sentence, opts)
    if bracketed:  # "Plaque (B)"
        if not bracketed <= opts.letters:
            return make.undecided(f"answer names {_fmt(bracketed - opts.letters)}, which is not an option")
        if found.letters and found.letters != bracketed:
            return make.undecided(f"answer's letters and option text disagree: {_snippet(sentence)!r}")
        return make.decided(bracketed)
    if found.refusal or not (found.letters or found.stray):
        return None
    if found.stray:
        return make.undecided(_stray_reason(found.stray))
    if len(found.letters) > 1:
        if found.hedged:  # "The answer is papule or plaque"
            return make.decided(found.letters, "hedge")
        return make.undecided(f"answer names the texts of options {_describe(found.letters, opts)}")
    return make.decided(found.letters, method=_text_method(found.letters, opts, make.method))


def _complements(doc: _Doc, opts: _Options) -> list[tuple[_Statement, tuple[int, int]]]:
    """ "anything but B" (every other option), "all except B are wrong" (B), with their spans."""
    found = []
    for pattern in _ALL_BUT_RES:
        for m in pattern.finditer(doc.text):
            found.append((_complement(doc, opts, m.group("list"), m.start(), m.group("neg")), m.span()))
    spans = _Spans(span for _, span in found)
    for m in _STRICT_LIST_RE.finditer(doc.text):  # a pattern starting with a list would rescan it
        after = _ALL_BUT_AFTER_LIST_RE.match(doc.text, m.end())
        if after and not spans.covers(m.start()):
            found.append((_complement(doc, opts, m.group(), m.start(), after.group("neg")), (m.start(), after.end())))
    return found


def _complement(doc: _Doc, opts: _Options, listed: str, start: int, negative: str | None) -> _Statement:
    named = frozenset(_letters_in(listed, lenient=False))
    make = _StatementFactory(start, "all_but", *doc.context(start))
    if not named <= opts.letters:
        return make.undecided(f"answer names {_fmt(named - opts.letters)}, which is not an option")
    return make.decided(named if negative else opts.letters - named)


def _line_statements(text: str, opts: _Options) -> tuple[list[_Statement], list[_Statement]]:
    """Lines that are only letters ("B", "A, C"), then lines pairing a letter with its text."""
    single_line = "\n" not in text
    bare: list[_Statement] = []
    with_text: list[_Statement] = []
    readings: dict[str, tuple[_Statement | None, _Statement | None]] = {}  # a looping output repeats lines
    start = 0
    for line in text.split("\n"):
        if line not in readings:
            make = _StatementFactory(0, "bare_letters", final=False)
            statement = _bare_line(line, make, opts, allow_concat=single_line)
            readings[line] = (statement, None if statement else _letter_text_line(line, 0, opts))
        letters_only, paired = readings[line]
        if letters_only:
            bare.append(letters_only._replace(start=start))
        elif paired:
            with_text.append(paired._replace(start=start))
        start += len(line) + 1
    return bare, with_text


def _bare_line(line: str, make: _StatementFactory, opts: _Options, allow_concat: bool) -> _Statement | None:
    core = _LEADING_HEDGE_RE.sub("", _LIST_PREFIX_RE.sub("", line)).strip()  # "Option B", "maybe B", "either ..."
    letters = _whole_list(core, opts, allow_concat)
    if letters is not None:
        return _letters_statement(_Letters(letters, ""), make, opts)
    strict = _STRICT_LIST_RE.match(core)
    head = strict or _LENIENT_LIST_RE.match(core)
    if head is None:
        return None
    found = _Letters(_letters_in(head.group(), lenient=True), core[head.end() :], lenient=strict is None)
    if _HEDGE_AFTER_RE.match(found.rest):
        return _hedge_statement(found, make, opts)
    if _EXPLAINED_RE.match(found.rest) and not _NEG_PRED_RE.match(found.rest):
        return _letters_statement(found, make, opts)
    return None


def _letter_text_line(line: str, start: int, opts: _Options) -> _Statement | None:
    """ "B. Plaque", "B: Plaque", "(B) Plaque", or "Plaque (B)" as a whole line."""
    make = _StatementFactory(start, "letter_with_text", final=False)
    core = line.rstrip(_LINE_END_CHARS)
    head = _LENIENT_LETTER_RE.match(core)
    if head:
        letter = _letters_in(head.group(), lenient=True)[0]
        named = _exact_option(re.sub(r"^[ \t]*[.:)\-]?", "", core[head.end() :]), opts)
        if named is not None:
            return _paired(letter, named, make, opts)
    tail = _TEXT_THEN_LETTER_RE.search(core)
    if tail:
        named = _exact_option(core[: tail.start()], opts)
        if named is not None:
            return _paired(tail.group("l").upper(), named, make, opts)
    return None


_TEXT_THEN_LETTER_RE = re.compile(r"(?<=\S)[ \t]*[(\[](?P<l>[A-Za-z])[)\]]$")


def _paired(letter: str, named: str, make: _StatementFactory, opts: _Options) -> _Statement:
    if letter not in opts.letters:
        return make.undecided(f"output names {letter}, which is not an option")
    if letter != named:
        return make.undecided(f"output pairs letter {letter} with the text of option {opts.describe(named)}")
    return make.decided(frozenset(letter))


def _without_option_echo(text: str, opts: _Options) -> str:
    """The text without the model's copy of the option list: a run of "X. <text of X>" lines naming
    every option loses the first line for each letter (a later "B. Plaque" is still an answer)."""
    if len(opts.letters) < 2:
        return text
    lines = text.split("\n")
    letters = {line: _echoed_letter(line, opts) for line in set(lines)}
    echoed = [letters[line] for line in lines]
    if not opts.letters <= set(echoed):
        return text
    keep = [True] * len(lines)
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and echoed[j] is not None:
            j += 1
        if set(echoed[i:j]) >= opts.letters:
            seen: set[str | None] = set()
            for k in range(i, j):
                keep[k] = echoed[k] in seen
                seen.add(echoed[k])
        i = max(j, i + 1)
    return "\n".join(line for line, kept in zip(lines, keep, strict=True) if kept)


def _echoed_letter(line: str, opts: _Options) -> str | None:
    statement = _letter_text_line(line, 0, opts)
    if statement is None or statement.letters is None:
        return None
    (letter,) = statement.letters
    return letter


def _decide(statements: list[_Statement], mentions: _Mentions, doc: _Doc) -> Extraction:
    """Bind to the answer the output ends on; see the module docstring for the order of the rules."""
    standing = [s for s in statements if not s.retracted]
    if not standing:
        return Extraction(frozenset(), "retracted")
    last = max((i for i, s in enumerate(standing) if s.correction), default=0)
    superseded, live = standing[:last], standing[last:]
    finals = [s for s in live if s.final]
    pool = finals or live
    unreadable = [s for s in pool if s.letters is None]
    if unreadable:
        return _undecided(unreadable[-1].reason or "answer statement is unclear")
    answers = list(dict.fromkeys(s.letters for s in pool if s.letters is not None))
    chosen = frozenset().union(*answers)
    if len(standing) < len(statements) or any(s.letters != chosen for s in superseded):
        method = "correction"
    else:
        method = pool[-1].method if len(answers) == 1 else "conflicting"
    return _without_rejected(chosen, method, mentions, doc.sentence_start(pool[0].start))


def _without_rejected(chosen: frozenset[str], method: str, mentions: _Mentions, since: int) -> Extraction:
    """The choice less the letters rejected from ``since`` on ("Answer: B. B is incorrect.")."""
    rejected = chosen & {r.letter for r in mentions.rejected if r.start >= since}
    if not rejected:
        return Extraction(chosen, method)
    chosen -= rejected
    return Extraction(chosen, "correction" if chosen else "retracted")


# --------------------------------------------------------------------------------------------
# Option text: "It is a plaque.", "not a papule", "none of the above", "无法判断"
# --------------------------------------------------------------------------------------------

_WORD_RE = re.compile(r"[^\W_\u3400-\u9fff\uf900-\ufaff]+|[\u3400-\u9fff\uf900-\ufaff]")
_NOTA_OUT_RE = re.compile(
    r"\bnone\s+of\s+(?:the\s+)?(?:above|these|those|them|options|choices|listed)\b"
    r"|以上(?:都|均|皆|全)(?:不是|不对|不正确)|以上皆非|都不对|都不正确|均不正确|以上选项(?:都|均)不",
    re.IGNORECASE,
)
_ALL_OUT_RE = re.compile(
    r"\ball\s+of\s+(?:the\s+)?(?:above|these|those|them|options|choices|listed)\b"
    r"|以上(?:都|均|皆|全)(?:是|对|正确)|以上全部|以上选项(?:都|均)(?:是|正确|对)|全部(?:都)?正确",
    re.IGNORECASE,
)
_REFUSAL_OUT_RE = _gated(
    "cuni无看不难信",
    r"\b(?:cannot|can't|can\s+not|unable\s+to|not\s+able\s+to|impossible\s+to|not\s+possible\s+to)"
    r"\s+(?:be\s+)?(?:determined?|tell|say|answer(?:ed)?|identif(?:y|ied)|assess(?:ed)?|evaluated?"
    r"|diagnosed?|provide|make|help|assist|be\s+sure|be\s+certain|judged?|see|view|access)\b"
    r"|\bI\s+(?:do\s+not|don't)\s+know\b|\b(?:I'm|I\s+am)\s+(?:not\s+sure|unsure|sorry)\b"
    r"|\b(?:insufficient|not\s+enough)\s+(?:information|detail|evidence)\b|\bundeterminable\b"
    r"|无法(?:判断|确定|回答|识别|诊断|给出|得出|评估|看到|查看)|看不到|看不见|不能(?:判断|确定|回答)|难以(?:判断|确定)|不确定|不知道|信息不足",
    re.IGNORECASE,
)
_NEG_TEXT_BEFORE_RE = re.compile(
    r"(?:\b(?:no\s+(?:evidence|signs?)\s+of|absence\s+of|lack\s+of|free\s+of"
    r"|not|no|never|neither|nor|isn't|aren't|rather\s+than|instead\s+of|than|rule\s+out|ruled\s+out"
    r"|ruling\s+out|exclude[sd]?|excluding|without)\s+(?:(?:a|an|the|any|typical|classic|true|simple"
    r"|just|only)\s+)*|(?:不是|而非|并非|排除|不像|不太像|不符合|而不是|非)(?:一个|一种|典型的?)?)$",
    re.IGNORECASE,
)
_HEDGY_LINE_RE = re.compile(r"\?|\b(?:or|maybe|perhaps|possibly|whether|either|unclear)\b|或|还是|可能", re.IGNORECASE)
# Between two option texts offered as alternatives: "papule or plaque", "丘疹或斑块", "papule, plaque or nodule".
_TEXT_GAP_RE = re.compile(
    r"[\s,;]*(?:(?P<or>or|/|或者?|或是|还是|要么|maybe|perhaps|possibly|probably)(?:\s+(?:maybe|perhaps|possibly|even))?)?"
    r"[\s,;]*(?:(?:a|an|the)\s+|一个|一种)?",
    re.IGNORECASE,
)
_MAX_GAP_CHARS = 40
_TEXT_CONTEXT_CHARS = 40
"""How far back a negation of an option text may start ("no evidence of a typical ...")."""


@dataclass(frozen=True)
class _TextMatch:
    letters: frozenset[str]
    """Options whose text (or kind, e.g. "none of the above") appears and is not negated."""
    stray: tuple[str, ...]
    """"none of the above" / "all of the above" said when no such option is offered."""
    refusal: bool
    """A refusal ("I cannot determine") when no "cannot be determined" option is offered."""
    hedged: bool = False
    """The options named are alternatives joined by "or" / "还是" ("a papule or a plaque")."""
    negated: bool = False
    """Some option text is named only to be negated ("not a papule")."""
    first: int = 0
    """Where the first option text that counts starts."""


class _Span(NamedTuple):
    letter: str
    start: int
    end: int
    by_kind: bool


def _tokens(text: str) -> list[tuple[str, int, int]]:
    return [(_word(m.group()), m.start(), m.end()) for m in _WORD_RE.finditer(text)]


def _word(token: str) -> str:
    word = token.lower()
    return _singular(word) if word[-1] == "s" else word


def _singular(word: str) -> str:
    """Crude plural folding, applied to output and option text alike ("papules" ~ "papule")."""
    if not word.isascii() or len(word) <= 3 or not word.endswith("s") or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses", "zes")):
        return word[:-2]
    return word[:-1]


def _match_texts(segment: str, opts: _Options) -> _TextMatch:
    """Which options' texts the segment names, after the longest-match and negation rules."""
    tokens = _tokens(segment)
    words = [t for t, _, _ in tokens]
    spans = [_Span(x, tokens[i][1], tokens[j][2], by_kind=False) for x, i, j in opts.matcher.find(words)]
    kinds = ((_NOTA_OUT_RE, opts.nota, "none of the above"), (_ALL_OUT_RE, opts.all_of, "all of the above"))
    stray = []
    for pattern, letter, label in kinds:
        for m in pattern.finditer(segment):
            if letter:
                spans.append(_Span(letter, m.start(), m.end(), by_kind=True))
            elif label not in stray:
                stray.append(label)
    refusal = False
    for m in _REFUSAL_OUT_RE.finditer(segment):
        if opts.cannot:
            spans.append(_Span(opts.cannot, m.start(), m.end(), by_kind=True))
        else:
            refusal = True
    kept = _drop_contained(spans)
    positive: list[_Span] = []
    negated = False  # the previous span's; a negation carries over "or": "not a papule or a macule"
    for prev, span in zip([None, *kept], kept, strict=False):
        carried = negated and prev is not None and _joined(segment, prev, span) == "or"
        negated = not span.by_kind and (carried or _negated(segment, span))
        if not negated:
            positive.append(span)
    letters = frozenset(s.letter for s in positive)
    hedged = _hedged(segment, positive, letters)
    first = min((s.start for s in positive), default=0)
    return _TextMatch(letters, tuple(stray), refusal, hedged, negated=len(positive) < len(kept), first=first)


def _drop_contained(spans: list[_Span]) -> list[_Span]:
    """Prefer the longest option text: drop a span lying inside another option's longer span.

    One sweep in start order, remembering the two furthest-reaching spans of different letters.
    """
    ordered = sorted(spans, key=lambda s: (s.start, -s.end))
    kept: list[_Span] = []
    best: list[tuple[int, str]] = []  # up to two (end, letter) with different letters, furthest first
    i = 0
    while i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j].start == ordered[i].start:
            j += 1
        group = ordered[i:j]  # same start, longest first
        head = group[0]
        other = max((s.end for s in group if s.letter != head.letter), default=-1)
        for a in group:
            reach = next((end for end, letter in best if letter != a.letter), -1)  # started earlier
            longer_here = head.end > a.end if a.letter != head.letter else other > a.end
            if reach < a.end and not longer_here:
                kept.append(a)
        for a in group:
            best = _furthest(best, a.end, a.letter)
        i = j
    return kept


def _furthest(best: list[tuple[int, str]], end: int, letter: str) -> list[tuple[int, str]]:
    merged = sorted([*best, (end, letter)], reverse=True)
    out: list[tuple[int, str]] = []
    for end_, letter_ in merged:
        if all(letter_ != seen for _, seen in out):
            out.append((end_, letter_))
    return out[:2]


def _negated(segment: str, span: _Span) -> bool:
    before = segment[max(0, span.start - _TEXT_CONTEXT_CHARS) : span.start]
    return bool(_NEG_TEXT_BEFORE_RE.search(before) or _NEG_PRED_RE.match(segment, span.end))


def _hedged(segment: str, spans: list[_Span], letters: frozenset[str]) -> bool:
    """True when one run of the spans, joined by "or" (and commas), names all of ``letters``."""
    if len(letters) < 2:
        return False
    chain, has_or = {spans[0].letter}, False
    for prev, cur in pairwise(spans):
        joined = _joined(segment, prev, cur)
        if joined is None:
            chain, has_or = {cur.letter}, False
            continue
        chain.add(cur.letter)
        has_or = has_or or joined == "or"
        if has_or and chain == letters:
            return True
    return False


def _joined(segment: str, prev: _Span, cur: _Span) -> str | None:
    """How two option texts are joined: ``or`` ("papule or plaque"), ``list`` (a comma), or None."""
    if cur.start - prev.end > _MAX_GAP_CHARS:
        return None
    gap = _TEXT_GAP_RE.fullmatch(segment, max(prev.end, 0), max(cur.start, prev.end))
    if gap is None:
        return None
    return "or" if gap.group("or") is not None else "list"


def _text_method(letters: frozenset[str], opts: _Options, default: str) -> str:
    if letters == {opts.nota}:
        return "none_of_the_above"
    if letters == {opts.all_of}:
        return "all_of_the_above"
    return default


def _describe(letters: Iterable[str], opts: _Options) -> str:
    return ", ".join(opts.describe(x) for x in sorted(letters))


def _stray_reason(stray: tuple[str, ...]) -> str:
    return f"output answers {' and '.join(repr(s) for s in stray)}, but no such option is offered"


def _from_option_text(doc: _Doc, opts: _Options, mentions: _Mentions) -> Extraction:
    """Last resort: the output names an option's text rather than its letter, refuses, or only
    rejects options."""
    text = doc.text
    found = _match_texts(text, opts)
    if found.refusal:
        if found.letters:
            return _undecided(f"output declines to answer but also names {_describe(found.letters, opts)}")
        return _no_answer()
    if found.stray:
        if found.letters:
            return _undecided(f"{_stray_reason(found.stray)}; it also names {_describe(found.letters, opts)}")
        return _undecided(_stray_reason(found.stray))
    if len(found.letters) == 1 or found.hedged:  # "It is a plaque.", "It could be a papule or a plaque."
        method = _text_method(found.letters, opts, "option_text") if len(found.letters) == 1 else "hedge"
        return _without_rejected(found.letters, method, mentions, doc.sentence_start(found.first))
    if len(found.letters) > 1:
        return _last_line_text(text, found.letters, opts)
    if (mentions.rejected or found.negated) and not mentions.mentioned:
        return _no_answer()  # "not B", "排除A", "It is not a papule": no option chosen
    return _undecided("no option letter, answer statement or option text found")


def _last_line_text(text: str, letters: frozenset[str], opts: _Options) -> Extraction:
    """Several option texts appear: accept an unhedged last line that names exactly one."""
    last = text.rsplit("\n", 1)[-1]
    if "\n" in text and not _HEDGY_LINE_RE.search(last):
        found = _match_texts(last, opts)
        if len(found.letters) == 1 and not (found.stray or found.refusal):
            return Extraction(found.letters, _text_method(found.letters, opts, "option_text"))
    return _undecided(f"output names the texts of options {_describe(letters, opts)} without marking one as the answer")


# --------------------------------------------------------------------------------------------
# Gold parsing and result helpers
# --------------------------------------------------------------------------------------------

_GOLD_SPLIT_RE = re.compile(r"[\s,;&+]+|\band\b|和|与|及", re.IGNORECASE)


def _parse_gold_part(part: str, whole: str | list[str], valid: frozenset[str]) -> set[str]:
    text = unicodedata.normalize("NFKC", part).translate(_PUNCT_MAP)
    letters: set[str] = set()
    for piece in _GOLD_SPLIT_RE.split(text):
        piece = piece.strip().strip("()[].:").strip()
        if not piece:
            continue
        concatenated = len(piece) > 1 and set(piece.upper()) <= valid  # "AC"
        if not (re.fullmatch(r"[A-Za-z]", piece) or concatenated):
            raise ValueError(
                f"gold answer {whole!r}: cannot read {piece!r} as option letters; "
                "expected forms like 'A', 'A,C', 'AC' or ['A', 'C']"
            )
        letters |= set(piece.upper())
    return letters


def _undecided(reason: str) -> Extraction:
    return Extraction(None, "undecided", reason)


def _no_answer() -> Extraction:
    return Extraction(frozenset(), "no_answer")
