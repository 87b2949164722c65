"""``GET /healthz``: liveness and readiness, open without a key (it reveals nothing but ok/degraded)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.schemas import Health

router = APIRouter(tags=["health"])


@router.get(
    "/healthz", response_model=Health, summary="Health check", operation_id="healthz",
    responses={503: {"model": Health, "description": "Degraded: a check failed (see `checks`)."}},
)
def healthz(request: Request) -> JSONResponse:
    """200 when the store answers, the scoring and job threads run and the judge keeps up; 503 otherwise.

    `scoring_capacity` is false while an ordinary `POST /score` has waited more than
    5 s for the judge (the service is saturated: send traffic elsewhere). Large requests
    waiting for their own lane do not count; `/metrics` shows both lanes.
    """
    state = request.app.state
    engine = state.engine
    checks = {
        "store": False, "scoring": engine.alive, "scoring_capacity": not engine.saturated(), "jobs": state.runner.alive,
    }
    try:
        with state.pool.acquire() as store:
            store.db.execute("select 1").fetchone()
        checks["store"] = True
    except Exception:
        pass
    ok = all(checks.values())
    body = Health(status="ok" if ok else "degraded", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
