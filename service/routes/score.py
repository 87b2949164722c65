"""``POST /score``: one answer or a batch, scored by the library's Scorer through the store cache."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, status

from judge.models import Verdict
from judge.scoring import Task
from service.deps import AuthDep, EngineDep, PolicyDep, RequestIdDep, SettingsDep
from service.jsontext import StrictJSONRoute
from service.openapi import AUTH, BODY, errors
from service.schemas import (
    McqItem,
    OpenItem,
    ScoreBatchRequest,
    ScoreBatchResponse,
    ScoreBody,
    ScoreResponse,
    ScoreResult,
)

router = APIRouter(tags=["score"], dependencies=[AuthDep], route_class=StrictJSONRoute)

ERRORS = errors(AUTH, BODY, {
    403: "Rubric or backend override not allowed on this server.",
    413: "Request body over JUDGE_MAX_BODY_BYTES, or more items than JUDGE_MAX_BATCH (the schema's `maxItems`).",
    415: "The body is not `application/json`.",
    422: "Invalid request: each problem with its field path (`body.items.3.candidate: ...`).",
    503: "The judge backend failed, or the judge is busy with large requests (see Retry-After).",
})
EXAMPLES: dict[str, Any] = {
    "open-ended": {"summary": "An open-ended answer against its reference",
                   "value": OpenItem.model_config["json_schema_extra"]["examples"][0]},  # type: ignore[index]
    "mcq": {"summary": "An MCQ answer (letters read by rules)",
            "value": McqItem.model_config["json_schema_extra"]["examples"][0]},  # type: ignore[index]
    "batch": {"summary": "Several answers in one call",
              "value": ScoreBatchRequest.model_config["json_schema_extra"]["examples"][0]},  # type: ignore[index]
}


def row_ids(items: list[OpenItem | McqItem]) -> list[str]:
    """The ids of the stored verdict rows: the caller's, or ``item-<n>`` for an item without one.

    A default never equals another item's id in the same request (ids given by the caller are
    unique, which the batch model checks), so no two rows of a request collide.
    """
    taken = {item.id for item in items if item.id is not None}
    ids = []
    for n, item in enumerate(items):
        rid = item.id
        if rid is None:
            rid = f"item-{n}"
            while rid in taken:
                rid += "+"
            taken.add(rid)
        ids.append(rid)
    return ids


def _tasks(items: list[OpenItem | McqItem], rid: str) -> list[Task]:
    model = f"request:{rid}"  # what the stored verdict rows are keyed by: requests may share a run
    return [Task(i, model, item.to_case(), item.gold_letters()) for i, item in zip(row_ids(items), items, strict=True)]


def _result(item: OpenItem | McqItem, v: Verdict, model: str) -> ScoreResult:
    return ScoreResult(
        id=item.id, score=v.score, rationale=v.rationale, unscored_reason=v.unscored_reason, method=v.method,
        extracted=v.extracted, rubric=v.rubric, rubric_sha=v.rubric_sha, backend=v.backend,
        model=model if v.method == "critic" or v.method == "mcq:llm" else "rules", cached=v.cached,
        latency_ms=v.latency_ms,
    )


@router.post("/score", responses=ERRORS, summary="Score one answer or a batch", operation_id="score")
async def score(
    body: Annotated[ScoreBody, Body(openapi_examples=EXAMPLES)], settings: SettingsDep, policy: PolicyDep,
    engine: EngineDep, rid: RequestIdDep,
) -> ScoreResponse | ScoreBatchResponse:
    """Score an open-ended answer against its reference (or an MCQ answer by the rules).

    Send one item, or `{"items": [...]}` with at most JUDGE_MAX_BATCH items. An item is
    open-ended (it has `reference`) or MCQ (it has `options` and `answer`). The rubric and
    backend are the server's unless `rubric`/`backend` name an allowed override.

    Beyond the schema, three rules JSON Schema cannot state (each a 422 that names it): an
    item's references together at most 10,000 characters, an MCQ `answer` naming only keys of
    its `options`, and ids unique within a batch.
    """
    items: list[OpenItem | McqItem] = list(body.items) if isinstance(body, ScoreBatchRequest) else [body]
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
