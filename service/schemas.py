"""Request and response models of the HTTP API (kept apart: a request never doubles as a reply).

Requests forbid unknown fields, so a typo is a 422 that names the field, not a silently
ignored key.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationInfo,
    field_validator,
)

from judge.limits import (
    MAX_CANDIDATE_CHARS,
    MAX_ID_CHARS,
    MAX_OPTION_CHARS,
    MAX_QUESTION_CHARS,
    MAX_REFERENCE_CHARS,
    MAX_REFERENCES,
    references_problem,
)
from judge.models import (
    Ability,
    Attribute,
    Case,
    Language,
    QuestionType,
    Split,
    detect_language,
    split_letters,
)

JobState = Literal["queued", "running", "complete", "failed"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------------------------ /score
#
# The request schemas say everything JSON Schema can say: an item is open-ended XOR MCQ (a
# ``oneOf`` whose branches exclude each other by their required properties), every limit of
# judge/limits.py is a ``maxLength``/``maxItems``, option letters and answer keys are patterns.
# Three rules relate values JSON Schema cannot relate; each is named in a description and is a
# 422 naming it: the references of an item together at most MAX_REFERENCE_CHARS characters, an
# MCQ answer naming only letters of its options, ids unique within a batch.

WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""Every character ``str.strip`` removes (``str.isspace``); regex engines disagree on ``\\s``."""
NOT_BLANK = f"[^{WHITESPACE}]"
"""Pattern of a text with something besides whitespace, spelled out so that every engine reads it alike."""
OPTION_LETTER = "^[A-Z]$"
ANSWER_LETTERS = "^[A-Z](?:, ?[A-Z]){0,25}$"
"""An MCQ answer key as a string: `A`, `A,C` or `A, C`."""
RUBRIC_ID = "^(?:[A-Za-z0-9_-]+/)?v[0-9]+$"
FILE_PATH = "^[^\x00-\x1f\x7f]+$"
"""A file path a caller may name: no control characters (a NUL byte ends a path in the system's eyes)."""
MAX_PREDICTION_FILES = 32
"""Prediction files of one job at most."""
MAX_OPTIONS = 26
"""Option letters are A-Z."""

PATTERN_PROBLEMS = {
    NOT_BLANK: "must contain something besides whitespace",
    OPTION_LETTER: "option keys are single upper-case letters A-Z",
    ANSWER_LETTERS: "an answer key is upper-case option letters separated by commas: `A`, `A,C` or `A, C`",
    RUBRIC_ID: "not a rubric id like `clinical/v3` or `v3`",
    FILE_PATH: "a file path may not contain control characters",
}
"""What a failed pattern means, for the 422 (the pattern itself says little to a person)."""

Reference = Annotated[str, Field(max_length=MAX_REFERENCE_CHARS, pattern=NOT_BLANK)]
OptionText = Annotated[str, Field(max_length=MAX_OPTION_CHARS)]
Letter = Annotated[str, Field(pattern=OPTION_LETTER)]
OpenQuestionType = Literal["judgment", "fill_blank", "short_answer"]


def _keys_by_name(schema: dict[str, Any]) -> None:
    """A dict with constrained keys as ``propertyNames`` + ``additionalProperties`` (pydantic writes
    ``patternProperties``, which leaves other keys unconstrained and which client generators cannot map)."""
    ((pattern, values),) = schema.pop("patternProperties").items()
    schema["propertyNames"] = {"pattern": pattern}
    schema["additionalProperties"] = values


def _none_only(message: str) -> Any:
    """A field of the other kind of item: absent or null (old clients send null), else a 422 with ``message``."""

    def check(value: Any) -> Any:
        if value is not None:
            raise ValueError(message)
        return value

    return BeforeValidator(check)


class _ItemFields(_Request):
    id: str | None = Field(
        default=None, max_length=MAX_ID_CHARS,
        description="Caller's id, echoed back in the result; unique within a batch.",
    )
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="The question.")
    candidate: str = Field(
        max_length=MAX_CANDIDATE_CHARS, description="The answer to score (MCQ: the model's raw output)."
    )
    ability: Ability | None = Field(default=None, description="Which ability the question measures.")
    attribute: Attribute | None = Field(default=None, description="The attribute asked about, if any.")
    language: Language | None = Field(default=None, description="`en` or `zh`; detected when absent.")


class OpenItem(_ItemFields):
    """An open-ended answer, scored 0 / 0.5 / 1 against its reference by the critic."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": "q1", "question": "What color is the lesion?", "reference": "pink", "candidate": "salmon pink",
         "attribute": "color"},
    ]})

    question_type: OpenQuestionType | None = Field(
        default=None, description="`judgment`, `fill_blank` or `short_answer` (the default)."
    )
    reference: Reference | Annotated[list[Reference], Field(min_length=1, max_length=MAX_REFERENCES)] = Field(
        description=(
            f"The reference answer, or a list of acceptable references (any one suffices). Together at most "
            f"{MAX_REFERENCE_CHARS:,} characters (without surrounding whitespace)."
        )
    )
    options: Annotated[None, _none_only(
        "`options` makes an item mcq: drop `reference` (and `question_type`, or set it to `mcq`)"
    )] = Field(default=None, description="Not for open-ended items (null is accepted).")
    answer: Annotated[None, _none_only(
        "`answer` is for mcq items; give the reference of an open-ended item in `reference`"
    )] = Field(default=None, description="Not for open-ended items (null is accepted): the reference goes in `reference`.")

    @field_validator("reference")
    @classmethod
    def _within_limits(cls, reference: str | list[str]) -> str | list[str]:
        problem = references_problem(_stripped(reference))
        if problem:
            raise ValueError(problem)
        return reference

    @property
    def kind(self) -> QuestionType:
        """The question type, defaulted."""
        return self.question_type or "short_answer"

    @property
    def references(self) -> list[str]:
        """Acceptable references, stripped."""
        return _stripped(self.reference)

    def to_case(self) -> Case:
        """The library's :class:`~judge.models.Case` for this item."""
        return Case(
            question=self.question, references=self.references, candidate=self.candidate, ability=self.ability,
            question_type=self.kind, attribute=self.attribute,
            language=self.language or detect_language(self.question, *self.references),
        )

    def gold_letters(self) -> None:
        """Open-ended items have no option letters."""
        return None


class McqItem(_ItemFields):
    """An MCQ answer: the option letters are read from the raw output by rules, then scored against `answer`."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": "q2", "question": "Which lesion is shown?", "options": {"A": "Papule", "B": "Plaque", "C": "Nodule"},
         "answer": "B", "candidate": "The answer is B."},
    ]})

    question_type: Literal["mcq"] | None = Field(default=None, description="`mcq` (the default when `options` is given).")
    options: Annotated[dict[Letter, OptionText], Field(min_length=2, max_length=MAX_OPTIONS)] = Field(
        json_schema_extra=_keys_by_name,
        description=f"Option letter (A-Z) -> option text (at most {MAX_OPTION_CHARS:,} characters).",
    )
    answer: (
        Annotated[str, Field(pattern=ANSWER_LETTERS)]
        | Annotated[list[Letter], Field(min_length=1, max_length=MAX_OPTIONS)]
    ) = Field(description="The correct letters, each a key of `options`: `\"A,C\"` or `[\"A\", \"C\"]`.")
    reference: Annotated[None, _none_only(
        "an mcq item has `answer` (the correct letters), not `reference`"
    )] = Field(default=None, description="Not for mcq items (null is accepted): the correct letters go in `answer`.")

    @field_validator("answer")
    @classmethod
    def _names_options(cls, answer: str | list[str], info: ValidationInfo) -> str | list[str]:
        options = info.data.get("options")
        if options is None:  # invalid itself: reported on its own
            return answer
        unknown = sorted(set(split_letters(answer)) - set(options))
        if unknown:
            raise ValueError(
                f"names {', '.join(unknown)}, which {'is' if len(unknown) == 1 else 'are'} not among "
                f"the options {', '.join(sorted(options))}"
            )
        return answer

    @property
    def kind(self) -> QuestionType:
        """Always ``mcq``."""
        return "mcq"

    @property
    def references(self) -> list[str]:
        """The answer letters."""
        return split_letters(self.answer)

    def to_case(self) -> Case:
        """The library's :class:`~judge.models.Case` for this item."""
        return Case(
            question=self.question, references=self.references, candidate=self.candidate, ability=self.ability,
            question_type="mcq", attribute=self.attribute, options=dict(self.options),
            language=self.language or detect_language(self.question, *self.references),
        )

    def gold_letters(self) -> frozenset[str]:
        """The correct letters."""
        return frozenset(self.references)


def _stripped(reference: str | list[str]) -> list[str]:
    return [r.strip() for r in (reference if isinstance(reference, list) else [reference])]


_OPEN, _MCQ, _BATCH = "open-ended item", "mcq item", "batch of items"
DISCRIMINATOR_TAGS = (_OPEN, _MCQ, _BATCH)
"""Tags that appear in validation error locations and are dropped from messages."""


def _item_kind(value: Any) -> str:
    """Which model validates an item: MCQ when it says so or has options, else open-ended."""
    if isinstance(value, dict):
        qt = value.get("question_type")
        return _MCQ if qt == "mcq" or (qt is None and value.get("options") is not None) else _OPEN
    return _MCQ if isinstance(value, McqItem) else _OPEN


ScoreItem = Annotated[
    Annotated[OpenItem, Tag(_OPEN)] | Annotated[McqItem, Tag(_MCQ)], Discriminator(_item_kind)
]
"""One item: open-ended or MCQ."""
_items = TypeAdapter(ScoreItem)


def parse_item(data: Any) -> OpenItem | McqItem:
    """Validate one item (a dict as a client sends it)."""
    return _items.validate_python(data)


class _Overrides(_Request):
    rubric: str | None = Field(
        default=None, max_length=MAX_ID_CHARS, pattern=RUBRIC_ID,
        description="Rubric id for this request; only the server's default or ids in JUDGE_ALLOWED_RUBRICS (else 403).",
    )
    backend: str | None = Field(
        default=None, max_length=MAX_ID_CHARS,
        description="Backend for this request; only the server's default or specs in JUDGE_ALLOWED_BACKENDS (else 403).",
    )


class OpenScoreRequest(OpenItem, _Overrides):
    """Score one open-ended answer."""


class McqScoreRequest(McqItem, _Overrides):
    """Score one MCQ answer."""


class ScoreBatchRequest(_Overrides):
    """Score several answers in one call (at most JUDGE_MAX_BATCH; the schema states this server's limit)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [
        OpenItem.model_config["json_schema_extra"]["examples"][0],  # type: ignore[index]
        McqItem.model_config["json_schema_extra"]["examples"][0],  # type: ignore[index]
    ]}]})

    items: list[ScoreItem] = Field(min_length=1, description="The answers to score; ids unique among them.")

    @field_validator("items")
    @classmethod
    def _unique_ids(cls, items: list[OpenItem | McqItem]) -> list[OpenItem | McqItem]:
        ids = [item.id for item in items if item.id is not None]
        dupes = [i for i, n in Counter(ids).items() if n > 1]
        if dupes:
            raise ValueError(f"duplicate id {dupes[0]!r}; ids must be unique in a batch")
        return items


def _request_kind(value: Any) -> str:
    return _BATCH if isinstance(value, dict) and "items" in value else _item_kind(value)


ScoreBody = Annotated[
    Annotated[OpenScoreRequest, Tag(_OPEN)] | Annotated[McqScoreRequest, Tag(_MCQ)]
    | Annotated[ScoreBatchRequest, Tag(_BATCH)],
    Discriminator(_request_kind),
]
"""``POST /score`` body: one open-ended item, one MCQ item, or ``{"items": [...]}``."""


class ScoreResult(_Response):
    """The verdict on one answer, with its provenance."""

    id: str | None = Field(description="The caller's id, when given.")
    score: float | None = Field(description="0, 0.5 or 1 (MCQ: partial credit possible); null when unscored.")
    rationale: str = Field(description="Short reason for the score.")
    unscored_reason: str | None = Field(description="Why no score was given (null when scored).")
    method: str = Field(description="`critic`, `mcq:<rule>` or `mcq:llm`.")
    extracted: list[str] | None = Field(default=None, description="MCQ: the option letters read from the answer.")
    rubric: str = Field(description="Rubric id (`clinical/v3`; `mcq_rules/...` for rule-decided MCQ).")
    rubric_sha: str = Field(description="sha256 of the rubric file (or of the MCQ rules).")
    backend: str = Field(description="Backend spec.")
    model: str = Field(description="The judge model behind the backend (the spec when there is no other name).")
    cached: bool = Field(description="True when the judgment came from the store's cache.")
    latency_ms: float = Field(description="Backend wall time when the judgment was first computed.")


class ScoreResponse(ScoreResult):
    """``POST /score`` reply for one item."""

    run_id: str = Field(description="The stored run that recorded this verdict.")


class ScoreBatchResponse(_Response):
    """``POST /score`` reply for a batch."""

    results: list[ScoreResult] = Field(description="One result per item, in order.")
    n: int = Field(description="Items scored.")
    unscored: int = Field(description="Items left unscored.")
    run_id: str = Field(description="The stored run that recorded these verdicts.")


# ------------------------------------------------------------------------------------- /jobs


FilePath = Annotated[str, Field(min_length=1, pattern=FILE_PATH)]


class JobCreate(_Request):
    """A job over files already on the server (under the data directory)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"benchmark": "medlesion/benchmark.jsonl", "predictions": ["medlesion/predictions/model-a.jsonl"],
         "split": "test"},
    ]})

    benchmark: FilePath = Field(description="Benchmark JSONL, relative to JUDGE_DATA_DIR (or absolute inside it).")
    predictions: list[FilePath] = Field(
        default_factory=list, max_length=MAX_PREDICTION_FILES, description="Prediction JSONL files, same rules."
    )
    split: Split | None = Field(default=None, description="Score only this split.")
    rubric: str | None = Field(
        default=None, max_length=MAX_ID_CHARS, pattern=RUBRIC_ID, description="Rubric override (allowed values only)."
    )
    backend: str | None = Field(default=None, max_length=MAX_ID_CHARS, description="Backend override (allowed values only).")


class JobProgress(_Response):
    """How far a job is."""

    done: int = Field(description="(item, model) pairs finished.")
    total: int = Field(description="(item, model) pairs in the job.")


class JobStatus(_Response):
    """A job's state."""

    id: str = Field(description="Job id.")
    state: JobState = Field(description="`queued`, `running`, `complete` or `failed`.")
    progress: JobProgress = Field(description="Pairs done out of total.")
    unscored: int = Field(description="Pairs left unscored so far (missing predictions included).")
    unscored_reasons: dict[str, int] = Field(default_factory=dict, description="Unscored reason -> count (when complete).")
    error: str | None = Field(default=None, description="Why the job failed.")
    rubric: str = Field(description="Rubric id.")
    backend: str = Field(description="Backend spec.")
    benchmark: str = Field(description="Name of the benchmark file.")
    predictions: list[str] = Field(description="Names of the prediction files.")
    split: str | None = Field(default=None, description="Split scored, if restricted.")
    run_id: str | None = Field(default=None, description="The stored run of the last attempt.")
    attempts: int = Field(description="How many times a worker started the job (resumes count).")
    created_at: float = Field(description="Unix time of creation.")
    started_at: float | None = Field(default=None, description="Unix time the last attempt started.")
    finished_at: float | None = Field(default=None, description="Unix time the job completed or failed.")


class JobList(_Response):
    """Recent jobs, newest first."""

    jobs: list[JobStatus] = Field(description="The jobs.")


# ---------------------------------------------------------------------------------- /rubrics


class RubricSummary(_Response):
    """One rubric version."""

    id: str = Field(description="`name/version`.")
    name: str = Field(description="Rubric family.")
    version: str = Field(description="`v1`, `v2`, ...")
    kind: str = Field(description="`critic` or `extraction`.")
    status: str = Field(description="`draft` or `published`.")
    sha256: str = Field(description="sha256 of the file.")
    description: str = Field(description="What this version adds.")
    default: bool = Field(description="The server's default rubric.")
    allowed: bool = Field(description="Usable on this server (default, or in JUDGE_ALLOWED_RUBRICS).")


class RubricList(_Response):
    """Every rubric version the server knows."""

    rubrics: list[RubricSummary] = Field(description="The rubrics, in version order.")


class RubricDetail(RubricSummary):
    """One rubric version with its content."""

    content: dict[str, Any] = Field(description="The rubric as validated (prompts, criteria, equivalence tables).")


# --------------------------------------------------------------------------------- misc


class Health(_Response):
    """Liveness and readiness."""

    status: Literal["ok", "degraded"] = Field(description="`ok` when every check passes.")
    checks: dict[str, bool] = Field(description="Check name -> passed.")


class ErrorResponse(_Response):
    """An error."""

    detail: str = Field(description="What went wrong and, where possible, how to fix it.")
    request_id: str | None = Field(default=None, description="Quote this when reporting a problem.")


class FieldProblem(_Response):
    """One invalid field."""

    field: str = Field(description="Where: `body.items.3.candidate`, `query.format`, ...")
    problem: str = Field(description="What is wrong with it.")


class ValidationErrorResponse(_Response):
    """A 422: the request was understood but is invalid."""

    detail: str = Field(description="Every problem, as `field: problem; ...`.")
    errors: list[FieldProblem] = Field(default_factory=list, description="The same, one entry per field.")
    request_id: str | None = Field(default=None, description="Quote this when reporting a problem.")
