"""``GET /metrics``: Prometheus text format (see :mod:`service.telemetry`)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from service.deps import AuthDep, EngineDep, MetricsDep
from service.openapi import AUTH, errors
from service.telemetry import CONTENT_TYPE

router = APIRouter(tags=["metrics"], dependencies=[AuthDep])


@router.get("/metrics", response_class=PlainTextResponse, responses=errors(AUTH), summary="Prometheus metrics",
            operation_id="metrics")
def metrics(registry: MetricsDep, engine: EngineDep) -> PlainTextResponse:
    """Requests by route and status, latency histogram, verdicts by outcome, cache hits, backend errors,
    and the scoring lanes' load."""
    return PlainTextResponse(registry.render(engine.load()), media_type=CONTENT_TYPE)
