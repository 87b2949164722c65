"""Pydantic contracts for everything that crosses a boundary.

Files are JSONL, one record per line:

* :class:`BenchmarkItem` - a benchmark question with its reference answer (and, optionally,
  a model's raw ``prediction`` so that a benchmark file can be scored on its own);
* :class:`Prediction` - one model's raw output for one item;
* :class:`GoldRating` - a candidate answer rated by one or more humans (0, 0.5 or 1.0);
* :class:`Verdict` - what the judge decided for one (item, model), with its provenance.

Every model forbids unknown fields, so a typo in a file is an error, not a silently dropped key.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from judge.limits import (
    MAX_CANDIDATE_CHARS,
    MAX_ID_CHARS,
    MAX_OPTION_CHARS,
    MAX_QUESTION_CHARS,
    references_problem,
)

Ability = Literal[
    "lesion_recognition",
    "location_recognition",
    "attribute_recognition",
    "spatial_relation",
    "lesion_reasoning",
    "disease_diagnosis",
    "suggestion_treatment",
]
QuestionType = Literal["mcq", "judgment", "fill_blank", "short_answer"]
Attribute = Literal["color", "size", "shape", "quantity", "distribution", "boundary"]
Language = Literal["en", "zh"]
Split = Literal["val", "test"]

ABILITIES: tuple[str, ...] = get_args(Ability)
QUESTION_TYPES: tuple[str, ...] = get_args(QuestionType)
ATTRIBUTES: tuple[str, ...] = get_args(Attribute)
OPEN_TYPES: tuple[str, ...] = ("judgment", "fill_blank", "short_answer")
SCALE: tuple[float, ...] = (0.0, 0.5, 1.0)

# Verdict methods of a model's non-answers: scored 0 without asking a judge (judge/scoring.py).
METHOD_MISSING = "missing"
"""The model gave no prediction for the item."""
METHOD_EMPTY = "empty"
"""The prediction is empty (whitespace only)."""
METHOD_OVER_LIMIT = "over_limit"
"""The prediction is longer than ``judge.limits.MAX_CANDIDATE_CHARS``."""
METHOD_MCQ_UNREADABLE = "mcq:unreadable"
"""No rule could read a choice from an MCQ answer and the backend cannot read free text."""
NOT_ANSWERED: frozenset[str] = frozenset({METHOD_MISSING, METHOD_EMPTY})
"""Methods of items the model did not answer at all (the table's coverage leaves them out)."""

ABILITY_LABELS: dict[str, str] = {
    "lesion_recognition": "Lesion Rec.",
    "location_recognition": "Location Rec.",
    "attribute_recognition": "Attribute Rec.",
    "spatial_relation": "Spatial Rel.",
    "lesion_reasoning": "Lesion Reas.",
    "disease_diagnosis": "Diagnosis",
    "suggestion_treatment": "Suggestion",
}

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER_SPLIT = re.compile(r"[\s,;/、，；&]+|\band\b|和|与")


def detect_language(*texts: str) -> Language:
    """Return ``"zh"`` when any text contains CJK ideographs, else ``"en"``."""
    return "zh" if any(_CJK.search(t or "") for t in texts) else "en"


def split_letters(answer: str | list[str]) -> list[str]:
    """Split an MCQ answer key (``"A,C"``, ``"A C"``, ``"AC"``, ``["A", "C"]``) into letters."""
    parts = answer if isinstance(answer, list) else _LETTER_SPLIT.split(answer.strip())
    letters: list[str] = []
    for part in parts:
        token = part.strip().strip("()[].").upper()
        if not token:
            continue
        if token.isalpha() and token.isascii():
            letters.extend(token)  # "AC" -> A, C
        else:
            letters.append(token)
    return letters


def normalize_options(options: dict[str, str] | None) -> dict[str, str] | None:
    """Upper-case MCQ option keys; each must be one letter A-Z, each text within the limit."""
    if options is None:
        return None
    fixed = {k.strip().upper(): v for k, v in options.items()}
    bad = [k[:20] for k in fixed if not (len(k) == 1 and "A" <= k <= "Z")]
    if bad:
        raise ValueError(f"option keys must be single letters A-Z, got {bad[:5]}")
    long = [k for k, v in fixed.items() if len(v) > MAX_OPTION_CHARS]
    if long:
        raise ValueError(f"option {long[0]} is over the limit of {MAX_OPTION_CHARS} characters")
    return fixed


def check_references(refs: list[str]) -> list[str]:
    """``refs`` when within the limits on count and total length, else a ValueError naming the limit."""
    problem = references_problem(refs)
    if problem:
        raise ValueError(problem)
    return refs


def _check_score(value: float | None) -> float | None:
    if value is None:
        return None
    if float(value) not in SCALE:
        raise ValueError(f"rating {value!r} is not on the scale 0, 0.5, 1")
    return float(value)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BenchmarkItem(_Strict):
    """One benchmark question and its reference answer."""

    id: str = Field(min_length=1, max_length=MAX_ID_CHARS, description="Unique item id within the benchmark file.")
    split: Split = Field(description="`val` or `test`.")
    ability: Ability = Field(description="Which of the 7 abilities the question measures.")
    question_type: QuestionType = Field(description="`mcq`, `judgment`, `fill_blank` or `short_answer`.")
    question: str = Field(
        min_length=1, max_length=MAX_QUESTION_CHARS, description="The question text shown to the model."
    )
    options: dict[str, str] | None = Field(
        default=None, description="MCQ only: option letter -> option text."
    )
    answer: str | list[str] = Field(
        description=(
            "MCQ: the correct letters (`[\"A\",\"C\"]` or `\"A,C\"`). Open-ended: the reference text, "
            "or a list of acceptable references of which any one suffices."
        )
    )
    attribute: Attribute | None = Field(
        default=None, description="The attribute asked about (color, size, shape, ...), if any."
    )
    language: Language | None = Field(
        default=None, description="`en` or `zh`; detected from the question when absent."
    )
    image: str | None = Field(default=None, description="Path of the image shown with the question.")
    prediction: str | None = Field(
        default=None, description="A model's raw output, when the benchmark file carries predictions."
    )
    model: str | None = Field(
        default=None, max_length=MAX_ID_CHARS, description="Name of the model that gave `prediction`."
    )

    @field_validator("options")
    @classmethod
    def _upper_letters(cls, options: dict[str, str] | None) -> dict[str, str] | None:
        return normalize_options(options)

    @model_validator(mode="after")
    def _check_kind(self) -> BenchmarkItem:
        if self.question_type == "mcq":
            if not self.options or len(self.options) < 2:
                raise ValueError("an mcq item needs `options` with at least two letters")
            letters = split_letters(self.answer)
            unknown = [x for x in letters if x not in self.options]
            if not letters or unknown:
                raise ValueError(
                    f"mcq answer {self.answer!r} must name option letters from {sorted(self.options)}"
                )
        else:
            if self.options:
                raise ValueError(f"`options` is only allowed on mcq items, not {self.question_type}")
            refs = self.references
            if not refs:
                raise ValueError("the reference answer is empty")
            check_references(refs)
        if self.prediction is not None and self.model is None:
            raise ValueError("an item that carries `prediction` must also name its `model`")
        return self

    @cached_property
    def lang(self) -> Language:
        """The declared language, or the detected one."""
        return self.language or detect_language(self.question, *self.references)

    @cached_property
    def references(self) -> list[str]:
        """Acceptable reference texts (open-ended), or the answer letters (mcq)."""
        if self.question_type == "mcq":
            return split_letters(self.answer)
        refs = self.answer if isinstance(self.answer, list) else [self.answer]
        return [r.strip() for r in refs if r and r.strip()]

    @cached_property
    def gold_letters(self) -> frozenset[str]:
        """The correct option letters of an mcq item."""
        return frozenset(split_letters(self.answer))


class Prediction(_Strict):
    """One model's raw output for one benchmark item."""

    id: str = Field(min_length=1, max_length=MAX_ID_CHARS, description="The benchmark item id this answers.")
    model: str = Field(min_length=1, max_length=MAX_ID_CHARS, description="Name of the model (a column in the table).")
    prediction: str = Field(description="The raw model output, unedited.")


class GoldRating(_Strict):
    """A candidate answer rated by humans; one line of a gold JSONL file."""

    id: str = Field(min_length=1, max_length=MAX_ID_CHARS, description="Unique id of this rated candidate.")
    ability: Ability = Field(description="Which ability the question measures.")
    question_type: QuestionType = Field(description="Question type (open-ended types in practice).")
    attribute: Attribute | None = Field(default=None, description="Attribute asked about, if any.")
    language: Language | None = Field(default=None, description="`en` or `zh`; detected when absent.")
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="The question.")
    reference: str | list[str] = Field(description="Reference text, or a list of acceptable texts.")
    candidate: str = Field(max_length=MAX_CANDIDATE_CHARS, description="The answer that was rated.")
    ratings: dict[str, float | None] = Field(
        description="Rater id -> 0, 0.5 or 1.0 (null when that rater did not rate it)."
    )

    @field_validator("ratings")
    @classmethod
    def _on_scale(cls, ratings: dict[str, float | None]) -> dict[str, float | None]:
        checked = {rater: _check_score(v) for rater, v in ratings.items()}
        if not any(v is not None for v in checked.values()):
            raise ValueError("a rated candidate needs at least one rating")
        if any(len(rater) > MAX_ID_CHARS for rater in checked):
            raise ValueError(f"a rater id is over the limit of {MAX_ID_CHARS} characters")
        return checked

    @model_validator(mode="after")
    def _references_within_limits(self) -> GoldRating:
        check_references(self.references)
        return self

    @cached_property
    def references(self) -> list[str]:
        """Acceptable reference texts."""
        refs = self.reference if isinstance(self.reference, list) else [self.reference]
        return [r.strip() for r in refs if r and r.strip()]

    @cached_property
    def lang(self) -> Language:
        """The declared language, or the detected one."""
        return self.language or detect_language(self.question, *self.references)


class Case(_Strict):
    """What a judge backend is asked to score: one candidate against its reference(s)."""

    question: str = Field(description="The question.")
    references: list[str] = Field(description="Acceptable reference answers (any one suffices).")
    candidate: str = Field(description="The answer to score.")
    ability: Ability | None = Field(default=None, description="Ability, when known.")
    question_type: QuestionType = Field(default="short_answer", description="Question type.")
    attribute: Attribute | None = Field(default=None, description="Attribute asked about, if any.")
    language: Language = Field(default="en", description="Language of the question.")
    options: dict[str, str] | None = Field(
        default=None, description="MCQ only: the options (for LLM option extraction)."
    )

    @classmethod
    def from_item(cls, item: BenchmarkItem, candidate: str) -> Case:
        """The case for ``candidate`` answering ``item``."""
        # the item was validated when read: construct without re-validating (hot path)
        return cls.model_construct(
            question=item.question,
            references=item.references,
            candidate=candidate,
            ability=item.ability,
            question_type=item.question_type,
            attribute=item.attribute,
            language=item.lang,
            options=item.options,
        )

    @classmethod
    def from_gold(cls, row: GoldRating) -> Case:
        """The case for a rated gold candidate."""
        return cls(
            question=row.question,
            references=row.references,
            candidate=row.candidate,
            ability=row.ability,
            question_type=row.question_type,
            attribute=row.attribute,
            language=row.lang,
        )


class Usage(BaseModel):
    """Tokens and cost of the LLM calls behind one verdict (zeros for the embedded judge)."""

    model_config = ConfigDict(extra="forbid")

    calls: int = Field(default=0, description="Number of LLM calls made (re-asks included).")
    prompt_tokens: int = Field(default=0, description="Prompt tokens over all calls.")
    completion_tokens: int = Field(default=0, description="Completion tokens over all calls.")
    cost_usd: float | None = Field(default=None, description="Cost from litellm's cost map, if known.")


class Judgment(BaseModel):
    """A backend's answer for one case: a score on the scale, or an explicit unscored reason."""

    model_config = ConfigDict(extra="forbid")

    score: float | None = Field(description="0, 0.5 or 1.0; None when unscored.")
    rationale: str = Field(default="", description="Short reason for the score.")
    unscored_reason: str | None = Field(default=None, description="Why no score could be given.")
    raw_output: str = Field(default="", description="The judge's raw reply (LLM text, or a trace).")
    extracted: list[str] | None = Field(
        default=None, description="MCQ: the option letters the judge read from the answer."
    )
    usage: Usage = Field(default_factory=Usage, description="LLM usage behind this judgment.")
    latency_ms: float = Field(default=0.0, description="Wall time spent by the backend.")
    transient: bool = Field(
        default=False,
        description="Unscored because of a passing failure (timeout, provider down): not cached, retried next run.",
    )

    @model_validator(mode="after")
    def _scored_xor_reason(self) -> Judgment:
        if self.score is None and self.extracted is None and not self.unscored_reason:
            raise ValueError("an unscored judgment must say why (unscored_reason)")
        _check_score(self.score)
        return self


class Verdict(BaseModel):
    """The judge's decision on one (item, model) with full provenance."""

    model_config = ConfigDict(extra="forbid")

    item_id: str = Field(description="Benchmark item (or gold candidate) id.")
    model: str = Field(description="The model whose answer was judged.")
    ability: Ability | None = Field(default=None, description="Ability of the item.")
    question_type: QuestionType | None = Field(default=None, description="Question type of the item.")
    attribute: Attribute | None = Field(default=None, description="Attribute of the item, if any.")
    language: Language | None = Field(default=None, description="Language of the item.")
    score: float | None = Field(description="Score in [0, 1] (MCQ partial credit allowed); None = unscored.")
    unscored_reason: str | None = Field(default=None, description="Why it is unscored.")
    rationale: str = Field(default="", description="Short reason for the score.")
    raw_output: str = Field(default="", description="Raw judge reply.")
    method: str = Field(
        description=(
            "How it was scored: `mcq:<rule>`, `mcq:llm`, `critic`, or a non-answer scored 0 without a judge: "
            "`missing`, `empty`, `over_limit`, `mcq:unreadable`."
        )
    )
    extracted: list[str] | None = Field(default=None, description="MCQ: letters read from the answer.")
    rubric: str = Field(description="Rubric name and version, e.g. `clinical/v3`.")
    rubric_sha: str = Field(description="sha256 of the rubric file.")
    backend: str = Field(description="Backend spec (`local`, or a litellm model string).")
    params: dict[str, Any] = Field(default_factory=dict, description="Parameters that shape the output.")
    cache_key: str = Field(description="Hash of everything that determines this verdict.")
    cached: bool = Field(default=False, description="True when served from the store.")
    latency_ms: float = Field(default=0.0, description="Backend wall time when first computed.")
    usage: Usage = Field(default_factory=Usage, description="LLM usage when first computed.")
