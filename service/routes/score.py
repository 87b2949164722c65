"""``POST /score``: one answer or a batch, scored by the library's Scorer through the store cache."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, HTTPException, status

from judge.models import Verdict
from judge.scoring import Task
from service.deps import AuthDep, EngineDep, PolicyDep, RequestIdDep, SettingsDep
from service.jsontext import StrictJSONRoute
from service.schemas import (
    ErrorResponse,
    ScoreBatchRequest,
    ScoreBatchResponse,
    ScoreBody,
    ScoreItem,
    ScoreResponse,
    ScoreResult,
    ValidationErrorResponse,
)

router = APIRouter(tags=["score"], dependencies=[AuthDep], route_class=StrictJSONRoute)

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or wrong API key."},
    403: {"model": ErrorResponse, "description": "Rubric or backend override not allowed."},
    413: {"model": ErrorResponse, "description": "Body or batch over the limit."},
    422: {"model": ValidationErrorResponse, "description": "Invalid request (field path and problem)."},
    503: {"model": ErrorResponse, "description": "The judge backend failed, or the judge is busy with large requests (Retry-After)."},
}


def _tasks(items: list[ScoreItem], rid: str) -> list[Task]:
    ids = [item.id if item.id is not None else f"item-{n}" for n, item in enumerate(items)]
    dupes = [i for i, n in Counter(ids).items() if n > 1]
    if dupes:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"body.items: duplicate id {dupes[0]!r}; ids must be unique in a batch")
    model = f"request:{rid}"  # what the stored verdict rows are keyed by: requests may share a run
    return [Task(i, model, item.to_case(), item.gold_letters()) for i, item in zip(ids, items, strict=True)]


def _result(item: ScoreItem, v: Verdict, model: str) -> ScoreResult:
    return ScoreResult(
        id=item.id, score=v.score, rationale=v.rationale, unscored_reason=v.unscored_reason, method=v.method,
        extracted=v.extracted, rubric=v.rubric, rubric_sha=v.rubric_sha, backend=v.backend,
        model=model if v.method == "critic" or v.method == "mcq:llm" else "rules", cached=v.cached,
        latency_ms=v.latency_ms,
    )


@router.post("/score", responses=ERRORS, summary="Score one answer or a batch")
async def score(
    body: ScoreBody, settings: SettingsDep, policy: PolicyDep, engine: EngineDep, rid: RequestIdDep
) -> ScoreResponse | ScoreBatchResponse:
    """Score an open-ended answer against its reference (or an MCQ answer by the rules).

    Send one item, or `{"items": [...]}` with at most JUDGE_MAX_BATCH items. The rubric and
    backend are the server's unless `rubric`/`backend` name an allowed override.
    """
    items: list[ScoreItem] = list(body.items) if isinstance(body, ScoreBatchRequest) else [body]
    if len(items) > settings.max_batch:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"batch of {len(items)} items is over the limit of {settings.max_batch} (JUDGE_MAX_BATCH); split it",
        )
    rubric = policy.rubric(body.rubric)
    backend = policy.backend(body.backend)
    outcome = await engine.score(_tasks(items, rid), rubric, backend, rid)
    results = [_result(item, v, outcome.model) for item, v in zip(items, outcome.verdicts, strict=True)]
    if isinstance(body, ScoreBatchRequest):
        return ScoreBatchResponse(
            results=results, n=len(results), unscored=sum(r.score is None for r in results), run_id=outcome.run_id
        )
    return ScoreResponse(**results[0].model_dump(), run_id=outcome.run_id)
