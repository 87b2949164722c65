"""Multiple-choice answers: extract the chosen options from raw model output, and score them.

Pure functions, no I/O. The extractor never guesses: when the rules cannot tell which options a
model chose it returns an undecided :class:`Extraction` with a human-readable reason, and the caller
either asks an LLM to extract the answer or records the item as unscored.

How :func:`extract_choices` decides, in order of precedence:

1. **Answer statements.** Prefixes such as "Answer:", "The answer is", "Correct options:", "答案是",
   "选", conclusions such as "Therefore ..." / "因此", and affirmations such as "C is correct" /
   "C正确". When statements disagree, statements marked final ("Final answer", "therefore", "so",
   "最终", "因此", ...) override the others; two different final answers are undecided.
2. **Letter-only lines**: "B", "(B)", "A, C", "AC" (only as the whole output), "A和C", "B D".
3. **Letter with option text lines**: "B. Plaque", "B: Plaque", "Plaque (B)".
4. **Option text** quoted instead of a letter ("It is a plaque."), with negation ("not a papule"),
   the longest-text preference ("Red-brown" over "Red"), "none/all of the above" and "cannot be
   determined" options; a bare refusal ("I cannot determine", "无法判断") is ``no_answer``.

Letters a statement rejects ("A is incorrect", "not B", "排除A") are never chosen; a letter both
chosen and rejected at or after the final answer makes the output undecided.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MCQ_RULES_VERSION: str = "mcq-rules-1"
"""Version of the extraction rules; part of the cache key, so bump it when behaviour changes."""


@dataclass(frozen=True)
class Extraction:
    """The options a model chose, or why the rules could not tell."""

    letters: frozenset[str] | None
    """Chosen option letters (upper-case, a subset of the options); ``None`` when undecided.
    An empty set means the model explicitly gave no answer (method ``no_answer``)."""
    method: str
    """Short name of the rule that decided, e.g. ``answer_prefix``; ``undecided`` when undecided."""
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
    Raises ValueError when an option key is not a single letter.
    """
    del language  # both rule sets always apply; see the docstring
    opts = _Options.build(options)
    text = _normalise(output)
    if not _WORDISH_RE.search(text):
        return _no_answer()
    rejections = _find_rejections(text, opts)
    for statements in (_answer_statements(text, opts), *_line_statements(text, opts)):
        if statements:
            return _decide(statements, rejections, text)
    return _from_option_text(text, opts)


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


@dataclass(frozen=True)
class _Options:
    """Options prepared for matching: letters, token sequences, and special option kinds."""

    display: dict[str, str]
    tokens: dict[str, tuple[str, ...]]
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
        return cls(
            display=display,
            tokens={k: tuple(t for t, _, _ in _tokens(_normalise(v))) for k, v in display.items()},
            nota=_first_letter(k for k, v in plain.items() if _NOTA_OPTION_RE.fullmatch(v)),
            all_of=_first_letter(k for k, v in plain.items() if _ALL_OPTION_RE.fullmatch(v)),
            cannot=_first_letter(k for k, v in plain.items() if _CANNOT_OPTION_RE.fullmatch(v)),
        )

    def describe(self, letter: str) -> str:
        return f"{letter} ({self.display[letter]})" if self.display[letter] else letter


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
_THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_BOXED_RE = re.compile(r"\\boxed\{(?:\\text\{)?([^{}]*)\}?\}")
_ANSWER_TAG_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_MARKUP_RE = re.compile(r"[*`#$\"]|__")
_WORDISH_RE = re.compile(r"[^\W_]")


def _normalise(text: str) -> str:
    """NFKC (full-width to half-width), Chinese punctuation to ASCII, markup and reasoning removed."""
    text = unicodedata.normalize("NFKC", text).translate(_PUNCT_MAP)
    text = _THINK_RE.sub("\n", text)
    text = _BOXED_RE.sub(r"\nFinal answer: \1\n", text)
    text = _ANSWER_TAG_RE.sub(r"\nFinal answer: \1\n", text)
    text = _MARKUP_RE.sub("", text)
    lines = (re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _fmt(letters: Iterable[str]) -> str:
    return ", ".join(sorted(letters))


def _snippet(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
_LIST_SUFFIX_RE = re.compile(r"[ \t]*(?:选项|项|options?)$", re.IGNORECASE)
_LIST_PREFIX_RE = re.compile(r"^(?:options?|choices?|选项)[ \t]*:?[ \t]*", re.IGNORECASE)
_LINE_END_RE = re.compile(r"[\s.!?;,]+$")

_HEDGE_AFTER_RE = re.compile(
    r"^[ \t]*[,;]?[ \t]*(?:\?|/|or\b|and/or\b|maybe\b|perhaps\b|possibly\b|but\s+(?:it\s+)?(?:could|might|may)\b"
    r"|或者?|还是|也可能|但(?:也)?可能)",
    re.IGNORECASE,
)
_EXPLAINED_RE = re.compile(  # "B, because it is raised": a letter answer, then its reason
    r"^[ \t]*[,:\-]?[ \t]*(?:because|since|given|due\s+to|as\s+(?:it|the|this))\b|^[ \t]*,?[ \t]*因为",
    re.IGNORECASE,
)
_EITHER_RE = re.compile(r"^(?:either\b|要么)", re.IGNORECASE)
_LEADING_HEDGE_RE = re.compile(r"^(?:(?:either|maybe|perhaps|possibly|probably)\b|要么|可能是?)[ \t,:]*", re.IGNORECASE)


@dataclass(frozen=True)
class _Letters:
    """A letter list found in text: its letters (as written) and the text after it."""

    letters: tuple[str, ...]
    rest: str


def _letters_in(fragment: str, lenient: bool) -> tuple[str, ...]:
    pattern = _LENIENT_LETTER_RE if lenient else _STRICT_LETTER_RE
    found = (re.search(r"[A-Za-z]", m.group()) for m in pattern.finditer(fragment))
    return tuple(m.group().upper() for m in found if m)


def _whole_list(line: str, opts: _Options, allow_concat: bool) -> tuple[str, ...] | None:
    """Letters when ``line`` is nothing but a letter list ("b", "(B).", "A, C", "AC")."""
    core = _LIST_SUFFIX_RE.sub("", _LIST_PREFIX_RE.sub("", _LINE_END_RE.sub("", line)))
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
        return _Letters(whole, body[len(line) :])
    m = _STRICT_LIST_RE.match(body)
    if m is None:
        return None
    return _Letters(_letters_in(m.group(), lenient=False), body[m.end() :])


# --------------------------------------------------------------------------------------------
# Rejections: "A is incorrect", "not B", "rule out C", "排除A", "A不对"
# --------------------------------------------------------------------------------------------

_NEG_PRED_RE = re.compile(
    r"""^[ \t]*(?:选项|option)?[ \t]*(?:\([^)\n]{0,80}\))?[ \t]*(?:
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
_NEG_PRE_RE = re.compile(
    r"(?:\b(?:not|nor|neither|rule\s+out|ruled\s+out|ruling\s+out|exclud(?:e|es|ed|ing)"
    r"|eliminat(?:e|es|ed|ing))\s+|排除|不是|不选|而非|并非)[ \t]*(?:options?\s+|choices?\s+|选项)?$",
    re.IGNORECASE,
)
_AFFIRM_RE = re.compile(
    r"""^[ \t]*(?:选项|option)?[ \t]*(?:\([^)\n]{0,80}\))?[ \t]*(?:
        (?:is|are)\s+(?:(?:clearly|definitely|also)\s+)?(?:the\s+)?
            (?:correct|right|true|best|most\s+(?:likely|appropriate|accurate|probable|consistent))
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
_SUBJECT_CONTEXT_RE = re.compile(
    r"(?:^|[.!?;:,(\[\n][ \t]*|\b(?:options?|choices?|letters?|answers?|both|only|and|but|while"
    r"|whereas|so|thus|therefore|hence)[ \t]+|选项[ \t]*|[\u3400-\u9fff][ \t]*)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Rejection:
    letter: str
    start: int


def _find_rejections(text: str, opts: _Options) -> list[_Rejection]:
    """Every option letter the output rejects, with where the rejection starts."""
    found: list[_Rejection] = []
    for m in _STRICT_LIST_RE.finditer(text):
        before, after = text[: m.start()], text[m.end() :]
        negated_before = _NEG_PRE_RE.search(before[-40:])
        negated_after = _SUBJECT_CONTEXT_RE.search(before[-40:]) and _NEG_PRED_RE.match(after)
        if negated_before or negated_after:
            start = m.start() - len(negated_before.group()) if negated_before else m.start()
            letters = _letters_in(m.group(), lenient=False)
            found += [_Rejection(x, start) for x in letters if x in opts.letters]
    return found


# --------------------------------------------------------------------------------------------
# Answer statements
# --------------------------------------------------------------------------------------------

_STRONG_CUE_RE = re.compile(
    r"""
      \b(?P<final>final\s+|ultimate\s+)?(?:correct\s+|right\s+|best\s+)?answers?\b
          (?:\s+(?:to|for)\s+(?:this|the)\s+question)?
          \s*(?:is|are|would\s+be|should\s+be|will\s+be|=|:|-)
    | \b(?:correct|right|best|most\s+appropriate|most\s+likely)\s+(?:options?|choices?|responses?)\b
          \s*(?:is|are|would\s+be|:|-)?
    | \bI\s+(?:would\s+)?(?:choose|select|pick|go\s+with)\b
    | \bmy\s+(?:choice|selection|pick)\s+(?:is|would\s+be|:)
    | (?P<zh_final>最终|最后)?的?(?:正确|标准)?的?答案\s*(?:应该|应|就)?(?:是|为|:|选)?
    | 正确(?:的)?(?:选项|答案)?(?:是|为|:)
    | (?<![不未首挑筛候优])(?:我|应|应该|应当|则|可)?选(?!项)(?:择)?(?:的是|是|为|:)?  # not 首选 "first-line"
    | (?:应该|应当)(?:是|为)
    """,
    re.IGNORECASE | re.VERBOSE,
)
_WEAK_CUE_RE = re.compile(
    r"""
      (?P<final>(?:^|(?<=[.!?;,\n]))[ \t]*so\b
        | \b(?:therefore|thus|hence|in\s+conclusion|in\s+summary|overall|ultimately|consequently)\b
        | 因此|所以|综上所述?|总之|总结)[ \t,:]*
    | \bI\s+(?:think|believe|would\s+say|guess)\b[ \t,:]*
    """,
    re.IGNORECASE | re.VERBOSE,
)
_CONCLUSION_RE = re.compile(
    r"\b(?:final|finally|therefore|thus|hence|so|in\s+conclusion|in\s+summary|overall|ultimately"
    r"|consequently)\b|最终|最后|因此|所以|综上|总之|故",
    re.IGNORECASE,
)
_CLAUSE_RE = re.compile(
    r"^[^.!?;\n]{0,60}?\b(?:is|are|would\s+be|should\s+be|must\s+be)\b|^[^.!?;\n]{0,30}?(?:是|为)",
    re.IGNORECASE,
)
_TAIL_FILLER_RE = re.compile(
    r"""^(?:[\s:=,\-]+
        | (?:the|options?|choices?|letters?|answers?|correct|final|most\s+likely|probably|likely
            |maybe|perhaps|possibly|clearly|definitely|I\s+think|I\s+believe|I'd\s+say|it\s+is|it's|it\s+would\s+be
            |that\s+is|this\s+is|would\s+be|should\s+be|will\s+be|to\s+be|is|are|be)\b
        | 选项|选择|的是|是|为|应该|应|就|选|项)*""",
    re.IGNORECASE | re.VERBOSE,
)
_WEAK_REST_OK_RE = re.compile(
    r"^(?:[ \t]*(?:[.!?;,)]|$)|[ \t]*\n|\s+(?:is|are)\s+(?:the\s+)?(?:most\s+likely|likely|correct"
    r"|right|best|answer|true)\b|[ \t]*(?:是)?(?:正确|对|最佳|最可能))",
    re.IGNORECASE,
)
_SENTENCE_END_RE = re.compile(r"[.!?;\n]")
_LETTER_TEXT_RE = re.compile(r"^[ \t]*[.:)\-]?[ \t]*(?P<text>[^\n.!?;]+?)[ \t]*(?:[.!?;]|\n|$)")
_ARTICLE_RE = re.compile(r"^(?:(?:a|an|the)\s+|一个|一种)", re.IGNORECASE)
_BRACKETED_LETTER_RE = re.compile(r"[(\[](?P<l>[A-Za-z])[)\]]")


@dataclass(frozen=True)
class _Statement:
    """One place where the output states an answer (or fails to, with a reason)."""

    start: int
    letters: frozenset[str] | None
    method: str
    final: bool
    reason: str | None = None


@dataclass(frozen=True)
class _Cue:
    start: int
    end: int
    final: bool
    strong: bool


def _answer_statements(text: str, opts: _Options) -> list[_Statement]:
    """Statements introduced by answer prefixes, conclusions, or affirmations ("C is correct")."""
    statements = [s for cue in _cues(text) if (s := _cue_statement(text, cue, opts))]
    statements += _affirmations(text, opts)
    return sorted(statements, key=lambda s: s.start)


def _cues(text: str) -> list[_Cue]:
    cues = []
    for pattern, strong in ((_STRONG_CUE_RE, True), (_WEAK_CUE_RE, False)):
        for m in pattern.finditer(text):
            if m.end() == m.start():
                continue
            final = bool(m.groupdict().get("final") or m.groupdict().get("zh_final"))
            cues.append(_Cue(m.start(), m.end(), _is_final(text, m.start(), final), strong))
    return cues


def _is_final(text: str, start: int, marked: bool) -> bool:
    sentence = text[_sentence_start(text, start) : start]
    return marked or bool(_CONCLUSION_RE.search(sentence))


def _sentence_start(text: str, pos: int) -> int:
    ends = [m.end() for m in _SENTENCE_END_RE.finditer(text, 0, pos)]
    return ends[-1] if ends else 0


def _cue_statement(text: str, cue: _Cue, opts: _Options) -> _Statement | None:
    """What the text right after an answer cue states, if anything."""
    body = text[cue.end :]
    statement = _body_statement(body, cue, opts)
    if statement is None and not cue.strong:
        clause = _CLAUSE_RE.match(body)  # "Therefore, the most likely diagnosis is C"
        if clause:
            statement = _body_statement(body[clause.end() :], cue, opts)
    return statement


def _body_statement(body: str, cue: _Cue, opts: _Options) -> _Statement | None:
    body = _TAIL_FILLER_RE.sub("", body, count=1)
    make = _StatementFactory(cue.start, "answer_prefix", cue.final)
    if _EITHER_RE.match(body):
        return make.undecided(f"answer hedges between options: {_snippet(body)!r}")
    found = _list_at_start(body, opts, allow_concat=cue.strong)
    if found is None:
        return _text_statement(body, make, opts, strong=cue.strong)
    if _HEDGE_AFTER_RE.match(found.rest):
        return make.undecided(f"answer hedges between options: {_snippet(body)!r}")
    if _NEG_PRED_RE.match(found.rest):
        return None
    if not cue.strong and not _WEAK_REST_OK_RE.match(found.rest):
        return None  # "So B and C share features" is not an answer
    return _letters_statement(found, make, opts)


def _letters_statement(found: _Letters, make: _StatementFactory, opts: _Options) -> _Statement:
    unknown = [x for x in found.letters if x not in opts.letters]
    if unknown:
        return make.undecided(
            f"answer names {_fmt(unknown)}, which is not an option (options are {_fmt(opts.letters)})"
        )
    letters = frozenset(found.letters)
    mismatch = _text_mismatch(letters, found.rest, opts)
    return make.undecided(mismatch) if mismatch else make.decided(letters)


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
    tokens = tuple(t for t, _, _ in _tokens(fragment))
    matches = [k for k, v in opts.tokens.items() if v and v == tokens]
    return matches[0] if len(matches) == 1 else None


def _text_statement(body: str, make: _StatementFactory, opts: _Options, strong: bool) -> _Statement | None:
    """An answer statement naming option text ("The answer is plaque", "答案是斑块").

    After a weak cue the whole clause must be one option's text ("so it is a plaque"), because
    reasoning such as "so a papule is too small" also mentions option texts.
    """
    end = _SENTENCE_END_RE.search(body)
    sentence = body[: end.start()] if end else body
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
        return make.undecided(f"answer names the texts of options {_describe(found.letters, opts)}")
    return make.decided(found.letters, method=_text_method(found.letters, opts, make.method))


@dataclass(frozen=True)
class _StatementFactory:
    start: int
    method: str
    final: bool

    def decided(self, letters: frozenset[str], method: str | None = None) -> _Statement:
        return _Statement(self.start, letters, method or self.method, self.final)

    def undecided(self, reason: str) -> _Statement:
        return _Statement(self.start, None, self.method, self.final, reason)


def _affirmations(text: str, opts: _Options) -> list[_Statement]:
    """Statements such as "C is correct", "B is the best answer", "C正确"."""
    statements = []
    for m in _STRICT_LIST_RE.finditer(text):
        if not _SUBJECT_CONTEXT_RE.search(text[max(0, m.start() - 40) : m.start()]):
            continue
        if not _AFFIRM_RE.match(text[m.end() :]):
            continue
        letters = frozenset(_letters_in(m.group(), lenient=False))
        if letters <= opts.letters:
            final = _is_final(text, m.start(), marked=False)
            statements.append(_Statement(m.start(), letters, "answer_affirmation", final))
    return statements


def _line_statements(text: str, opts: _Options) -> tuple[list[_Statement], list[_Statement]]:
    """Lines that are only letters ("B", "A, C"), then lines pairing a letter with its text."""
    single_line = "\n" not in text
    bare: list[_Statement] = []
    with_text: list[_Statement] = []
    start = 0
    for line in text.split("\n"):
        make = _StatementFactory(start, "bare_letters", final=False)
        statement = _bare_line(line, make, opts, allow_concat=single_line)
        if statement:
            bare.append(statement)
        elif statement := _letter_text_line(line, start, opts):
            with_text.append(statement)
        start += len(line) + 1
    return bare, with_text


def _bare_line(line: str, make: _StatementFactory, opts: _Options, allow_concat: bool) -> _Statement | None:
    core = _LEADING_HEDGE_RE.sub("", _LIST_PREFIX_RE.sub("", line)).strip()  # "Option B", "maybe B", "either ..."
    letters = _whole_list(core, opts, allow_concat)
    if letters is not None:
        return _letters_statement(_Letters(letters, ""), make, opts)
    head = _STRICT_LIST_RE.match(core) or _LENIENT_LIST_RE.match(core)
    if head is None:
        return None
    rest = core[head.end() :]
    if _HEDGE_AFTER_RE.match(rest):
        return make.undecided(f"output hedges between options: {_snippet(line)!r}")
    if _EXPLAINED_RE.match(rest) and not _NEG_PRED_RE.match(rest):
        found = _Letters(_letters_in(head.group(), lenient=True), rest)
        return _letters_statement(found, make, opts)
    return None


def _letter_text_line(line: str, start: int, opts: _Options) -> _Statement | None:
    """ "B. Plaque", "B: Plaque", "(B) Plaque", or "Plaque (B)" as a whole line."""
    make = _StatementFactory(start, "letter_with_text", final=False)
    core = _LINE_END_RE.sub("", line)
    head = _LENIENT_LETTER_RE.match(core)
    if head:
        letter = _letters_in(head.group(), lenient=True)[0]
        named = _exact_option(re.sub(r"^[ \t]*[.:)\-]?", "", core[head.end() :]), opts)
        if named is not None:
            return _paired(letter, named, make, opts)
    tail = re.fullmatch(r"(?P<text>.+?)[ \t]*[(\[](?P<l>[A-Za-z])[)\]]", core)
    if tail:
        named = _exact_option(tail.group("text"), opts)
        if named is not None:
            return _paired(tail.group("l").upper(), named, make, opts)
    return None


def _paired(letter: str, named: str, make: _StatementFactory, opts: _Options) -> _Statement:
    if letter not in opts.letters:
        return make.undecided(f"output names {letter}, which is not an option")
    if letter != named:
        return make.undecided(f"output pairs letter {letter} with the text of option {opts.describe(named)}")
    return make.decided(frozenset(letter))


def _decide(statements: list[_Statement], rejections: list[_Rejection], text: str) -> Extraction:
    """Bind to the final answer: final statements override the rest; they must all agree."""
    finals = [s for s in statements if s.final]
    pool = finals or statements
    undecided = [s for s in pool if s.letters is None]
    if undecided:
        return _undecided(undecided[-1].reason or "answer statement is unclear")
    answers = list(dict.fromkeys(s.letters for s in pool if s.letters is not None))
    if len(answers) > 1:
        kind = "final answers" if finals else "answers"
        listed = " vs ".join(_fmt(a) for a in answers)
        return _undecided(f"output gives {len(answers)} different {kind}: {listed}")
    chosen = answers[0]
    since = _sentence_start(text, pool[0].start)
    clash = chosen & {r.letter for r in rejections if r.start >= since}
    if clash:
        return _undecided(f"output names options {_fmt(clash)} as both chosen and rejected")
    return Extraction(chosen, pool[-1].method)


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
_REFUSAL_OUT_RE = re.compile(
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
    r"|not|no|never|isn't|aren't|rather\s+than|instead\s+of|than|rule\s+out|ruled\s+out"
    r"|ruling\s+out|exclude[sd]?|excluding|without)\s+(?:(?:a|an|the|any|typical|classic|true|simple"
    r"|just|only)\s+)*|(?:不是|而非|并非|排除|不像|不太像|不符合|而不是|非)(?:一个|一种|典型的?)?)$",
    re.IGNORECASE,
)
_HEDGY_LINE_RE = re.compile(r"\?|\b(?:or|maybe|perhaps|possibly|whether|either|unclear)\b|或|还是|可能", re.IGNORECASE)


@dataclass(frozen=True)
class _TextMatch:
    letters: frozenset[str]
    """Options whose text (or kind, e.g. "none of the above") appears and is not negated."""
    stray: tuple[str, ...]
    """"none of the above" / "all of the above" said when no such option is offered."""
    refusal: bool
    """A refusal ("I cannot determine") when no "cannot be determined" option is offered."""


@dataclass(frozen=True)
class _Span:
    letter: str
    start: int
    end: int
    by_kind: bool


def _tokens(text: str) -> list[tuple[str, int, int]]:
    return [(_singular(m.group().lower()), m.start(), m.end()) for m in _WORD_RE.finditer(text)]


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
    spans = _text_spans(segment, opts)
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
    letters = frozenset(s.letter for s in kept if s.by_kind or not _negated(segment, s))
    return _TextMatch(letters, tuple(stray), refusal)


def _text_spans(segment: str, opts: _Options) -> list[_Span]:
    tokens = _tokens(segment)
    words = [t for t, _, _ in tokens]
    spans = []
    for letter, needle in opts.tokens.items():
        n = len(needle)
        if n == 0:
            continue
        for i in range(len(words) - n + 1):
            if tuple(words[i : i + n]) == needle:
                spans.append(_Span(letter, tokens[i][1], tokens[i + n - 1][2], by_kind=False))
    return spans


def _drop_contained(spans: list[_Span]) -> list[_Span]:
    """Prefer the longest option text: drop a span lying inside another option's longer span."""

    def inside(a: _Span, b: _Span) -> bool:
        return a.letter != b.letter and b.start <= a.start and a.end <= b.end and (b.end - b.start) > (a.end - a.start)

    return [a for a in spans if not any(inside(a, b) for b in spans)]


def _negated(segment: str, span: _Span) -> bool:
    before = segment[max(0, span.start - 40) : span.start]
    return bool(_NEG_TEXT_BEFORE_RE.search(before) or _NEG_PRED_RE.match(segment[span.end :]))


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


def _from_option_text(text: str, opts: _Options) -> Extraction:
    """Last resort: the output names an option's text rather than its letter, or refuses."""
    found = _match_texts(text, opts)
    if found.refusal:
        if found.letters:
            return _undecided(f"output declines to answer but also names {_describe(found.letters, opts)}")
        return _no_answer()
    if found.stray:
        if found.letters:
            return _undecided(f"{_stray_reason(found.stray)}; it also names {_describe(found.letters, opts)}")
        return _undecided(_stray_reason(found.stray))
    if len(found.letters) == 1:
        return Extraction(found.letters, _text_method(found.letters, opts, "option_text"))
    if len(found.letters) > 1:
        return _last_line_text(text, found.letters, opts)
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
