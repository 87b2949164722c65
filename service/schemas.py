"""Request and response models of the HTTP API (kept apart: a request never doubles as a reply).

Requests forbid unknown fields, so a typo is a 422 that names the field, not a silently
ignored key.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from judge.limits import MAX_CANDIDATE_CHARS, MAX_ID_CHARS, MAX_QUESTION_CHARS, references_problem
from judge.models import (
    Ability,
    Attribute,
    Case,
    Language,
    QuestionType,
    Split,
    detect_language,
    normalize_options,
    split_letters,
)

JobState = Literal["queued", "running", "complete", "failed"]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------------------------ /score


class ScoreItem(_Request):
    """One answer to score: an open-ended answer against its reference, or an MCQ answer."""

    id: str | None = Field(default=None, max_length=MAX_ID_CHARS, description="Caller's id, echoed back in the result.")
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="The question.")
    reference: str | list[str] | None = Field(
        default=None,
        description="Open-ended: the reference answer, or a list of acceptable references (any one suffices).",
    )
    candidate: str = Field(
        max_length=MAX_CANDIDATE_CHARS, description="The answer to score (MCQ: the model's raw output)."
    )
    ability: Ability | None = Field(default=None, description="Which ability the question measures.")
    question_type: QuestionType | None = Field(
        default=None, description="`judgment`, `fill_blank`, `short_answer` (default) or `mcq` (default when `options` is given)."
    )
    attribute: Attribute | None = Field(default=None, description="The attribute asked about, if any.")
    language: Language | None = Field(default=None, description="`en` or `zh`; detected when absent.")
    options: dict[str, str] | None = Field(default=None, description="MCQ only: option letter -> option text.")
    answer: str | list[str] | None = Field(
        default=None, description="MCQ only: the correct letters (`\"A,C\"` or `[\"A\", \"C\"]`)."
    )

    @field_validator("options")
    @classmethod
    def _letters(cls, options: dict[str, str] | None) -> dict[str, str] | None:
        return normalize_options(options)

    @field_validator("reference")
    @classmethod
    def _within_limits(cls, reference: str | list[str] | None) -> str | list[str] | None:
        problem = references_problem(_reference_list(reference))
        if problem:
            raise ValueError(problem)
        return reference

    @model_validator(mode="after")
    def _check_kind(self) -> ScoreItem:
        if self.kind == "mcq":
            if not self.options or len(self.options) < 2:
                raise ValueError("an mcq item needs `options` with at least two letters")
            if self.answer is None:
                raise ValueError("an mcq item needs `answer`: the correct option letters")
            letters = split_letters(self.answer)
            if not letters or any(x not in self.options for x in letters):
                raise ValueError(f"`answer` {self.answer!r} must name option letters from {sorted(self.options)}")
        else:
            if self.options:
                raise ValueError(f"`options` is only allowed on mcq items, not {self.kind}")
            if self.answer is not None:
                raise ValueError("`answer` is for mcq items; give the reference of an open-ended item in `reference`")
            if not self.references:
                raise ValueError("`reference` is required (a non-empty string or list) for an open-ended item")
        return self

    @property
    def kind(self) -> QuestionType:
        """The question type, defaulted."""
        return self.question_type or ("mcq" if self.options else "short_answer")

    @property
    def references(self) -> list[str]:
        """Acceptable references (open-ended) or the answer letters (mcq)."""
        if self.kind == "mcq":
            return split_letters(self.answer or "")
        return _reference_list(self.reference)

    def to_case(self) -> Case:
        """The library's :class:`~judge.models.Case` for this item."""
        return Case(
            question=self.question, references=self.references, candidate=self.candidate,
            ability=self.ability, question_type=self.kind, attribute=self.attribute,
            language=self.language or detect_language(self.question, *self.references),
            options=self.options if self.kind == "mcq" else None,
        )

    def gold_letters(self) -> frozenset[str] | None:
        """MCQ: the correct letters."""
        return frozenset(split_letters(self.answer or "")) if self.kind == "mcq" else None


def _reference_list(reference: str | list[str] | None) -> list[str]:
    refs = reference if isinstance(reference, list) else [reference or ""]
    return [r.strip() for r in refs if r and r.strip()]


class _Overrides(_Request):
    rubric: str | None = Field(
        default=None, max_length=MAX_ID_CHARS,
        description="Rubric id for this request; only the server's default or ids in JUDGE_ALLOWED_RUBRICS.",
    )
    backend: str | None = Field(
        default=None, max_length=MAX_ID_CHARS,
        description="Backend for this request; only the server's default or specs in JUDGE_ALLOWED_BACKENDS.",
    )


class ScoreRequest(ScoreItem, _Overrides):
    """Score one answer."""


class ScoreBatchRequest(_Overrides):
    """Score several answers in one call (at most JUDGE_MAX_BATCH)."""

    items: list[ScoreItem] = Field(min_length=1, description="The answers to score.")


def _request_kind(value: Any) -> str:
    return "batch" if isinstance(value, dict) and "items" in value else "single"


ScoreBody = Annotated[
    Annotated[ScoreRequest, Tag("single")] | Annotated[ScoreBatchRequest, Tag("batch")],
    Discriminator(_request_kind),
]
"""``POST /score`` body: one item, or ``{"items": [...]}``."""

DISCRIMINATOR_TAGS = ("single", "batch")
"""Tags that appear in validation error locations and are dropped from messages."""


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


class JobCreate(_Request):
    """A job over files already on the server (under the data directory)."""

    benchmark: str = Field(min_length=1, description="Benchmark JSONL, relative to JUDGE_DATA_DIR (or absolute inside it).")
    predictions: list[str] = Field(default_factory=list, description="Prediction JSONL files, same rules.")
    split: Split | None = Field(default=None, description="Score only this split.")
    rubric: str | None = Field(default=None, max_length=MAX_ID_CHARS, description="Rubric override (allowed values only).")
    backend: str | None = Field(default=None, max_length=MAX_ID_CHARS, description="Backend override (allowed values only).")

    @field_validator("benchmark")
    @classmethod
    def _benchmark_path(cls, path: str) -> str:
        return _file_path(path)

    @field_validator("predictions")
    @classmethod
    def _prediction_paths(cls, paths: list[str]) -> list[str]:
        return [_file_path(p) for p in paths]


def _file_path(path: str) -> str:
    """A file path a caller may name: no control characters (a NUL byte ends a path in the system's eyes)."""
    bad = _CONTROL.search(path)
    if bad is not None:
        raise ValueError(f"a file path may not contain control characters (found {bad.group()!r})")
    return path


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
