"""The HTTP service: :func:`create_app` builds it; nothing happens at import time.

Usage::

    app = create_app(Settings(data_dir=tmp))            # tests build their own settings
    uvicorn.run("service.app:create_app", factory=True)  # settings from JUDGE_* variables

Threads and connections (see :mod:`service.engine`, :mod:`service.db`, :mod:`service.jobs`):
uvicorn's event loop parses and answers; ``POST /score`` is scored on the engine's two lanes
(ordinary and large requests, a thread each) with LLM calls on the engine's backend thread;
jobs run on the job worker thread; other handlers borrow a pooled store. Each of them has its
own SQLite connection to the same WAL-mode file the CLI uses, so the CLI and the service share
one cache.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from judge.backends import Backend, get_backend
from judge.rubrics import load_rubric
from judge.settings import Settings, get_settings
from service import handlers
from service.db import StorePool
from service.deps import AuthDep, Policy, csv_values
from service.engine import ScoringEngine
from service.jobs import JobRunner
from service.middleware import BodyLimitMiddleware, RequestContextMiddleware
from service.openapi import install as install_openapi
from service.routes import health, jobs, metrics, rubrics, score
from service.telemetry import Metrics

log = logging.getLogger("judge.service")


def _version() -> str:
    try:
        return version("lesion-judge")
    except PackageNotFoundError:
        return "0"


def create_app(
    settings: Settings | None = None,
    *,
    backend: Backend | None = None,
    backend_factory: Callable[[str], Backend] | None = None,
    job_poll_seconds: float = 1.0,
    job_lease_seconds: float = 600.0,
) -> FastAPI:
    """Build the service.

    ``settings`` default to the ``JUDGE_*`` environment. ``backend``, when given, is the
    default backend (its ``spec`` replaces ``settings.backend``); ``backend_factory`` builds
    backends by spec (default :func:`judge.backends.get_backend` with the settings' options).
    Stores are opened, the default backend built and the worker threads started by the
    lifespan, i.e. when the server starts, not here.
    """
    settings = settings or get_settings()
    metrics_registry = Metrics()
    build = backend_factory or (lambda spec: get_backend(spec, **settings.backend_options()))

    def backend_for(spec: str) -> Backend:
        return backend if backend is not None and spec == backend.spec else build(spec)

    default_backend = backend.spec if backend is not None else settings.backend
    app = FastAPI(
        title="Lesion Judge",
        version=_version(),
        summary="Judge service for clinical visual-QA benchmarks: score answers, run whole-benchmark jobs.",
        lifespan=_lifespan(settings, backend_for, default_backend, metrics_registry, job_poll_seconds, job_lease_seconds),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics_registry
    handlers.install(app)
    install_openapi(app, settings, keys=bool(csv_values(settings.api_keys)))
    _install_middleware(app, settings, metrics_registry)
    for module in (health, score, jobs, rubrics, metrics):
        app.include_router(module.router)
    _install_docs(app)
    return app


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def _lifespan(
    settings: Settings, backend_for: Callable[[str], Backend], default_backend: str, metrics_registry: Metrics,
    job_poll_seconds: float, job_lease_seconds: float,
) -> Lifespan:
    """Start: open and migrate the store, start the scoring engine and the job worker; stop them at the end."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        rubric = load_rubric(settings.rubric)  # a bad default fails the start, with the reason
        app.state.policy = Policy.from_settings(settings, default_backend, rubric)
        pool = StorePool(settings.store_path)
        with pool.acquire():
            pass  # opens and migrates the store now
        engine = ScoringEngine(settings.store_path, backend_for, metrics_registry, settings.concurrency)
        await asyncio.to_thread(engine.start, default_backend, rubric)
        runner = JobRunner(
            settings.store_path, settings.data_dir, backend_for, metrics_registry,
            concurrency=settings.concurrency, poll_seconds=job_poll_seconds, lease_seconds=job_lease_seconds,
        )
        runner.start()
        app.state.pool, app.state.engine, app.state.runner = pool, engine, runner
        log.info("serving rubric %s, backend %s, store %s (pid %d)", rubric.id, default_backend,
                 settings.store_path, os.getpid())
        try:
            yield
        finally:
            await asyncio.to_thread(runner.stop)
            await asyncio.to_thread(engine.stop)
            pool.close()

    return lifespan


def _install_middleware(app: FastAPI, settings: Settings, metrics_registry: Metrics) -> None:
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    origins = csv_values(settings.cors_origins)
    if origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"], expose_headers=["X-Request-ID"],
        )
    app.add_middleware(RequestContextMiddleware, metrics=metrics_registry)  # outermost: sees every reply


def _install_docs(app: FastAPI) -> None:
    """OpenAPI and its UI sit behind the key like every endpoint but /healthz."""

    @app.get("/openapi.json", include_in_schema=False, dependencies=[AuthDep])
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[AuthDep])
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Lesion Judge - API")


def serve(settings: Settings, *, workers: int = 1, log_level: str = "info", access_log: bool = True) -> None:
    """Run uvicorn with ``settings``.

    One worker serves the app built here. Several workers are processes uvicorn starts, each calling
    :func:`create_app` in factory mode; ``JUDGE_*`` variables are the one channel uvicorn offers to
    reach them, so the settings travel as those (:meth:`Settings.as_env`).
    """
    import uvicorn

    common: dict[str, Any] = {
        "host": settings.host, "port": settings.port, "log_level": log_level, "access_log": access_log,
        "timeout_graceful_shutdown": 15,
    }
    if workers == 1:
        uvicorn.run(create_app(settings), **common)
        return
    os.environ.update(settings.as_env())
    uvicorn.run("service.app:create_app", factory=True, workers=workers, **common)
