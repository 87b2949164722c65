"""``GET /healthz``: liveness and readiness, open without a key (it reveals nothing but ok/degraded)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}}, summary="Health check")
def healthz(request: Request) -> JSONResponse:
    """200 when the store answers and the scoring and job threads run; 503 otherwise."""
    state = request.app.state
    checks = {"store": False, "scoring": state.engine.alive, "jobs": state.runner.alive}
    try:
        with state.pool.acquire() as store:
            store.db.execute("select 1").fetchone()
        checks["store"] = True
    except Exception:
        pass
    ok = all(checks.values())
    body = Health(status="ok" if ok else "degraded", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
