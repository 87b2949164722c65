"""Input limits: one place for how large a field may be.

Every judge (the MCQ rules, the embedded clinical judge) is linear in its input, and these
bounds keep the work per answer well under a second whatever the text holds. Files and HTTP
requests are validated against them; a value over a limit is an error that names the limit,
except a model's answer in a benchmark run, which is never an input error: an answer longer
than :data:`MAX_CANDIDATE_CHARS` is a degenerate output and scores 0 with that reason
(``docs/decisions/score_integrity.md``).
"""

from __future__ import annotations

MAX_ID_CHARS = 256
"""Item ids, gold ids, model names, rater ids."""
MAX_QUESTION_CHARS = 10_000
"""The question text."""
MAX_REFERENCES = 256
"""Acceptable references of one item (EVOUNA's TriviaQA has up to 185 aliases)."""
MAX_REFERENCE_CHARS = 10_000
"""All references of one item together."""
MAX_OPTION_CHARS = 1_000
"""One MCQ option's text (option keys are the letters A-Z, so at most 26 options)."""
MAX_CANDIDATE_CHARS = 50_000
"""A candidate answer (a model's raw output) as the judges read it: all of it, never a prefix."""
MAX_JSON_DEPTH = 32
"""How deep JSON may nest (a request body, a line of an uploaded file); real records nest 3 levels."""
MAX_LINE_BYTES = 8 * 1024 * 1024
"""One line of an input file (a JSONL record, a CSV line), in bytes. The largest valid record is
about 1.2 MB (every field at its limit, every character a 12-byte JSON escape); the rest is room
for a degenerate answer, which scores 0 rather than stopping the run. A longer line - a file that
is not line-oriented, ``/dev/zero`` - stops reading there instead of filling memory."""
MAX_JSON_FILE_BYTES = 256 * 1024 * 1024
"""A whole-file JSON document (EVOUNA's ``NQ.json`` is 3.6 MB)."""
MAX_BOOTSTRAP_RESAMPLES = 100_000
"""Bootstrap resamples of one agreement figure (``--n-boot``; 1000 by default): enough for any CI,
and a bound on the time a report can take."""


def references_problem(refs: list[str]) -> str | None:
    """Why a list of references breaks the limits, or ``None``."""
    if len(refs) > MAX_REFERENCES:
        return f"{len(refs)} references, over the limit of {MAX_REFERENCES}"
    total = sum(len(r) for r in refs)
    if total > MAX_REFERENCE_CHARS:
        return f"references of {total} characters together, over the limit of {MAX_REFERENCE_CHARS}"
    return None
