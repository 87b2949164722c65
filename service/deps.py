"""Dependencies of the routes, as ``Annotated`` aliases (``SettingsDep``, ``StoreDep``, ...).

Everything comes from ``request.app.state``, filled by :func:`service.app.create_app` and its
lifespan: no module-level settings, so each test builds the app it needs. The cheap ones are
``async def`` on purpose: FastAPI runs a plain ``def`` dependency in the threadpool, a thread
hop per dependency per request; only :func:`get_store`, which may wait for a connection, is sync.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from judge.rubrics import DEFAULT_NAME, Rubric, load_rubric
from judge.settings import Settings
from judge.store import Store
from service.db import StorePool
from service.engine import ScoringEngine
from service.jobs import JobRunner
from service.telemetry import Metrics

_RUBRIC_ID = re.compile(r"^(?:[A-Za-z0-9_-]+/)?v\d+$")


def csv_values(text: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def rubric_id(spec: str) -> str:
    """``v3`` -> ``clinical/v3``; anything but an id (a path, say) is a ValueError."""
    spec = spec.strip()
    if not _RUBRIC_ID.match(spec):
        raise ValueError(f"rubric {spec!r} is not a rubric id like `clinical/v3` or `v3`")
    return spec if "/" in spec else f"{DEFAULT_NAME}/{spec}"


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


@dataclass(frozen=True)
class Policy:
    """What the operator fixed at start: default rubric and backend, allowed overrides, API keys."""

    default_rubric: Rubric
    """Loaded once at start: the operator fixes it (an id, or a YAML path of their choosing)."""
    default_rubric_id: str
    default_backend: str
    allowed_rubrics: frozenset[str] = field(default_factory=frozenset)
    allowed_backends: frozenset[str] = field(default_factory=frozenset)
    key_digests: tuple[bytes, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings, default_backend: str, default: Rubric) -> Policy:
        """The policy that ``settings`` describe."""
        allowed = set()
        for spec in csv_values(settings.allowed_rubrics):
            try:
                allowed.add(rubric_id(spec))
            except ValueError:
                pass  # a path in the allow-list is ignored: requests may only name ids
        return cls(
            default_rubric=default,
            default_rubric_id=default.id,
            default_backend=default_backend,
            allowed_rubrics=frozenset(allowed),
            allowed_backends=frozenset(csv_values(settings.allowed_backends)),
            key_digests=tuple(_digest(k) for k in csv_values(settings.api_keys)),
        )

    def rubric(self, requested: str | None) -> Rubric:
        """The rubric for a request: the default, or an allowed override (403 otherwise)."""
        if requested is None:
            return self.default_rubric
        try:
            wanted = rubric_id(requested)
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        if wanted == self.default_rubric_id:
            return self.default_rubric
        if wanted not in self.allowed_rubrics:
            allowed = ", ".join(sorted({self.default_rubric_id, *self.allowed_rubrics}))
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"rubric {requested!r} is not allowed on this server (allowed: {allowed}); "
                "the operator lists overrides in JUDGE_ALLOWED_RUBRICS",
            )
        return load_rubric(wanted)

    def backend(self, requested: str | None) -> str:
        """The backend spec for a request: the default, or an allowed override (403 otherwise)."""
        if requested is None or requested.strip() == self.default_backend:
            return self.default_backend
        if requested.strip() not in self.allowed_backends:
            allowed = ", ".join(sorted({self.default_backend, *self.allowed_backends}))
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"backend {requested!r} is not allowed on this server (allowed: {allowed}); "
                "the operator lists overrides in JUDGE_ALLOWED_BACKENDS",
            )
        return requested.strip()

    def rubric_allowed(self, rid: str) -> bool:
        """Whether requests may use rubric ``rid``."""
        return rid == self.default_rubric_id or rid in self.allowed_rubrics

    def key_ok(self, token: str) -> bool:
        """Constant-time check of a bearer token against every configured key."""
        digest = _digest(token)
        ok = False
        for known in self.key_digests:  # no early exit: the time does not depend on which key matched
            ok |= hmac.compare_digest(digest, known)
        return ok


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_policy(request: Request) -> Policy:
    """The app's policy."""
    return request.app.state.policy  # type: ignore[no-any-return]


def get_store(request: Request) -> Iterator[Store]:
    """A store connection held by this request alone until it finishes."""
    with request.app.state.pool.acquire() as store:
        yield store


async def get_pool(request: Request) -> StorePool:
    """The store pool itself, for a handler that must borrow a connection only for a moment."""
    return request.app.state.pool  # type: ignore[no-any-return]


async def get_engine(request: Request) -> ScoringEngine:
    """The scoring engine."""
    return request.app.state.engine  # type: ignore[no-any-return]


async def get_runner(request: Request) -> JobRunner:
    """The job worker."""
    return request.app.state.runner  # type: ignore[no-any-return]


async def get_metrics(request: Request) -> Metrics:
    """The metrics registry."""
    return request.app.state.metrics  # type: ignore[no-any-return]


async def request_id(request: Request) -> str:
    """The id the request-context middleware gave this request."""
    return str(request.scope.get("judge.request_id", "-"))


SettingsDep = Annotated[Settings, Depends(get_settings)]
PolicyDep = Annotated[Policy, Depends(get_policy)]
StoreDep = Annotated[Store, Depends(get_store)]
PoolDep = Annotated[StorePool, Depends(get_pool)]
EngineDep = Annotated[ScoringEngine, Depends(get_engine)]
RunnerDep = Annotated[JobRunner, Depends(get_runner)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
RequestIdDep = Annotated[str, Depends(request_id)]

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>`; needed when JUDGE_API_KEYS is set.")


async def require_api_key(
    policy: PolicyDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """401 unless the request carries one of the configured keys (no keys configured: open)."""
    if not policy.key_digests:
        return
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing API key: send `Authorization: Bearer <key>`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not policy.key_ok(credentials.credentials):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid API key", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )


AuthDep = Depends(require_api_key)
"""Put in a router's ``dependencies=[AuthDep]``."""
