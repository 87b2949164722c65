"""Judge reply text -> a score (or option letters), or an explicit parse failure. Pure, no I/O.

An LLM judge is asked for one JSON object (``{"rationale": ..., "score": 0 | 0.5 | 1}``, or for MCQ
extraction ``{"rationale": ..., "letters": [...], "undecidable": false}``). Replies are read like this:

1. **Strict JSON first.** When the whole reply (after removing ``<think>`` blocks) is one JSON object,
   that object is the verdict. Anything inside its strings - a rationale that quotes the candidate's
   ``{"score": 1}`` - cannot change the result.
2. **Tolerant fallbacks after**, for judges that wrap or decorate their answer: fenced
   ```` ```json ```` blocks, JSON objects embedded in prose, Python-ish objects (single quotes,
   trailing commas, ``True``/``False``/``None``), and ``score: 0.5`` / ``**Score:** 1`` /
   ``Score = 1/2`` lines.
3. **Bind to the final verdict.** Of every verdict found, the one that ends *last* in the reply
   is the judge's decision; earlier ones (drafts, quoted examples, text the judge echoed from the
   candidate) are ignored. If that final verdict is unreadable or off the scale, the reply fails -
   we never fall back to an earlier verdict.

Scores must be on the scale {0, 0.5, 1}. Accepted spellings are numbers only: ``0``, ``0.5``,
``.5``, ``0.50``, ``1.0``, ``"1"`` (a numeric string), and fractions ``1/2``, ``2/2``. Words
(``"full"``, ``"half"``, ``"correct"``) and booleans are *rejected*: the contract asks for a
number, a word is ambiguous ("full marks"? "partially full"?), and a re-ask costs one cheap call.
Off-scale numbers (0.75, 2, -1, 10) are rejected with the reason.

A failure is a :class:`ParseResult` with ``error`` set: the caller re-asks or records the item as
unscored with that reason; it never becomes a silent 0.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

SCALE = (0.0, 0.5, 1.0)

_THINK = re.compile(r"<think>.*?(</think>|\Z)", re.S | re.I)
_FENCE = re.compile(r"```[ \t]*(?:json|javascript|js|python)?[ \t]*\n?(.*?)```", re.S | re.I)
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_SCORE_LINE = re.compile(
    rf"""(?ix)
    \b(?:final[ _]?)?score\b          # "score", "Final score", "final_score"
    [\s*_"'`]*                        # markdown bold/italics, quotes
    (?:is\b|[:=])                     # "score: 1", "score = 1", "score is 1"
    [\s*_"'`]*
    (?P<num>{_NUMBER})
    (?:\s*(?:/|out\s+of)\s*(?P<den>{_NUMBER}))?
    (?![\d.]*\d)                      # the whole number, not a prefix of it
    (?!\s*(?:[+*x×=]\s*\d|[-/]\s*\d))   # not arithmetic: "score: 1 + 3 = 4" is no verdict
    """
)
_LETTERS_LINE = re.compile(r"(?im)\bletters?\b[\s*_\"'`]*[:=][\s*_\"'`]*\[?(?P<body>[A-Za-z ,;&\"']*)\]?")
_RATIONALE_KEYS = ("rationale", "reason", "reasoning", "explanation", "justification")


@dataclass(frozen=True)
class ParseResult:
    """What a judge reply says, or why it cannot be read."""

    score: float | None = None
    """Critic: 0, 0.5 or 1 when parsed."""
    letters: list[str] | None = None
    """Extraction: the chosen option letters (sorted, upper case); ``[]`` means none chosen."""
    undecidable: bool = False
    """Extraction: the judge said it cannot tell which options the answer chose."""
    rationale: str = ""
    """The judge's short reason, when it gave one."""
    method: str = ""
    """Which reader found the verdict: ``json``, ``fenced``, ``embedded``, ``line``."""
    error: str | None = None
    """Why the reply cannot be read; ``None`` on success."""
    found: list[str] = field(default_factory=list)
    """Every verdict seen, in order (for debugging injection cases)."""

    @property
    def ok(self) -> bool:
        """True when the reply was read."""
        return self.error is None


# ------------------------------------------------------------------------------- scalars


def normalize_score(value: Any) -> float | None:
    """``value`` as 0.0, 0.5 or 1.0, or None when it is not a score on the scale (see module doc)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip().rstrip(".")
        m = re.fullmatch(rf"({_NUMBER})(?:\s*/\s*({_NUMBER}))?", text)
        if not m:
            return None
        number = float(m.group(1))
        if m.group(2) is not None:
            den = float(m.group(2))
            if den <= 0:
                return None
            number /= den
    else:
        return None
    for s in SCALE:
        if abs(number - s) < 1e-9:
            return s
    return None


def _describe(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)


# ------------------------------------------------------------------------------- objects


def strip_reasoning(text: str) -> str:
    """Remove ``<think>...</think>`` blocks (reasoning models) - they are drafts, not the verdict."""
    return _THINK.sub("", text or "")


def _loads_relaxed(blob: str) -> Any:
    """``json.loads``, then a forgiving reading: trailing commas, single quotes, Python literals."""
    try:
        return json.loads(blob)
    except ValueError:
        pass
    fixed = re.sub(r",\s*([}\]])", r"\1", blob)
    try:
        return json.loads(fixed)
    except ValueError:
        pass
    py = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", re.sub(r"\bnull\b", "None", fixed)))
    try:
        return ast.literal_eval(py)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def _objects(text: str) -> Iterable[tuple[int, int, str]]:
    """Every balanced ``{...}`` span, by start position, as ``(start, end, text)``; quote-aware."""
    n = len(text)
    for i, ch in enumerate(text):
        if ch != "{":
            continue
        depth, quote, j = 0, "", i
        while j < n:
            c = text[j]
            if quote:
                if c == "\\":
                    j += 2
                    continue
                if c == quote:
                    quote = ""
            elif c == '"' or (c == "'" and text[i:j].rstrip()[-1:] in ("{", ",", ":", "[")):
                quote = c  # an apostrophe in prose ("don't") opens no string
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    yield i, j + 1, text[i : j + 1]
                    break
            j += 1


def _lower_keys(obj: dict[str, Any]) -> dict[str, Any]:
    return {str(k).strip().lower(): v for k, v in obj.items()}


def _rationale(obj: dict[str, Any]) -> str:
    for key in _RATIONALE_KEYS:
        if isinstance(obj.get(key), str):
            return obj[key].strip()
    return ""


@dataclass(frozen=True)
class _Found:
    end: int
    start: int
    method: str
    obj: dict[str, Any]


def _find(text: str, wanted: tuple[str, ...], line_re: re.Pattern[str], line_key: str) -> list[_Found]:
    """Every verdict candidate in ``text``: objects holding a ``wanted`` key, then matching lines.

    An object nested in one already read is part of it, not a verdict of its own; a line inside
    a readable object is ignored (the object was read), inside an unreadable one it counts.
    """
    found: list[_Found] = []
    spans: list[tuple[int, int]] = []
    fenced = [(m.start(1), m.end(1)) for m in _FENCE.finditer(text)]
    for start, end, blob in _objects(text):
        if any(s <= start and end <= e for s, e in spans):
            continue
        obj = _loads_relaxed(blob)
        if not isinstance(obj, dict):
            continue
        obj = _lower_keys(obj)
        spans.append((start, end))
        if any(k in obj for k in wanted):
            in_fence = any(fs <= start and end <= fe for fs, fe in fenced)
            found.append(_Found(end, start, "fenced" if in_fence else "embedded", obj))
    for m in line_re.finditer(text):
        if any(s <= m.start() < e for s, e in spans):
            continue
        if line_key == "num":
            value = m.group("num") + (f"/{m.group('den')}" if m.group("den") else "")
        else:
            value = m.group(line_key)
        before = text[: m.start()].strip().splitlines()
        rationale = " ".join(before[-3:])[-500:]
        found.append(_Found(m.end(), m.start(), "line", {"_line": value, "rationale": rationale}))
    found.sort(key=lambda f: (f.end, -f.start))
    return found


def _strict(text: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    return _lower_keys(obj) if isinstance(obj, dict) else None


# ---------------------------------------------------------------------------- critic


def parse_verdict(reply: str) -> ParseResult:
    """Read a critic reply: a score of 0, 0.5 or 1 and a rationale, or the reason it fails."""
    text = strip_reasoning(reply).strip()
    if not text:
        return ParseResult(error="empty reply")
    strict = _strict(text)
    if strict is not None:
        return _score_from(strict, "json", [text])
    found = _find(text, ("score",), _SCORE_LINE, "num")
    if not found:
        return ParseResult(error='no verdict found: expected a JSON object like {"rationale": "...", "score": 0.5}')
    last = found[-1]
    shown = [str(f.obj.get("score", f.obj.get("_line"))) for f in found]
    if last.method == "line":
        score = normalize_score(last.obj["_line"])
        if score is None:
            return ParseResult(error=f"final score {last.obj['_line']!r} is not on the scale 0, 0.5, 1", found=shown)
        return ParseResult(score=score, rationale=last.obj.get("rationale", ""), method="line", found=shown)
    return _score_from(last.obj, last.method, shown)


def _score_from(obj: dict[str, Any], method: str, found: list[str]) -> ParseResult:
    if "score" not in obj:
        return ParseResult(error="the JSON reply has no `score`", found=found)
    score = normalize_score(obj["score"])
    if score is None:
        return ParseResult(
            error=f"score {_describe(obj['score'])} is not on the scale 0, 0.5, 1 (numbers only)", found=found
        )
    return ParseResult(score=score, rationale=_rationale(obj), method=method, found=found)


# ------------------------------------------------------------------------- extraction


def parse_extraction(reply: str, options: Iterable[str] | None = None) -> ParseResult:
    """Read an MCQ extraction reply: ``letters`` (a subset of ``options``) or ``undecidable``."""
    text = strip_reasoning(reply).strip()
    if not text:
        return ParseResult(error="empty reply")
    allowed = {o.strip().upper() for o in options} if options is not None else None
    strict = _strict(text)
    if strict is not None:
        return _letters_from(strict, "json", allowed)
    found = _find(text, ("letters", "undecidable"), _LETTERS_LINE, "body")
    if not found:
        return ParseResult(
            error='no answer found: expected {"rationale": "...", "letters": [...], "undecidable": false}'
        )
    last = found[-1]
    if last.method == "line":
        return _letters_from(
            {"letters": last.obj["_line"], "rationale": last.obj.get("rationale", "")}, "line", allowed
        )
    return _letters_from(last.obj, last.method, allowed)


def _letters_from(obj: dict[str, Any], method: str, allowed: set[str] | None) -> ParseResult:
    rationale = _rationale(obj)
    undecidable = obj.get("undecidable", False)
    if isinstance(undecidable, str):
        undecidable = undecidable.strip().lower() in ("true", "yes", "1")
    if undecidable is True:
        return ParseResult(undecidable=True, rationale=rationale, method=method)
    if "letters" not in obj:
        return ParseResult(error="the reply has no `letters`")
    raw = obj["letters"]
    if raw is None:
        raw = []
    if isinstance(raw, str):
        raw = [t for t in re.split(r"[\s,;&\"']+", raw) if t]
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        return ParseResult(error=f"`letters` must be a list of option letters, got {_describe(raw)}")
    letters = sorted({x.strip().strip("()[].").upper() for x in raw if x.strip()})
    bad = [x for x in letters if not (len(x) == 1 and x.isalpha()) or (allowed is not None and x not in allowed)]
    if bad:
        known = ", ".join(sorted(allowed)) if allowed else "A-Z"
        return ParseResult(error=f"letters {bad} are not options ({known})")
    return ParseResult(letters=letters, rationale=rationale, method=method)
