"""Backend registry: names map to factories; any other name is a litellm model string.

``local`` (the embedded clinical judge) is registered here; :func:`register_backend` adds more
(a test fake, a plugin). A name that is not registered is handed to litellm, the fallback, which
serves every hosted API, vLLM, Ollama or llama.cpp by its model string. Provider SDKs are
imported only when a backend that needs them is built, so ``import judge`` never touches the
network.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from judge.backends.base import Backend, OptionReader, SyncBackend
from judge.errors import BackendError, InputError

if TYPE_CHECKING:
    from judge.rubrics import Rubric

LOCAL = "local"

__all__ = [
    "LOCAL", "Backend", "BackendFactory", "OptionReader", "SyncBackend", "get_backend", "register_backend",
    "resolve_backend", "resolve_backends", "resolve_judge",
]

BackendFactory = Callable[..., Backend]
"""Builds a backend from the options of :func:`get_backend` (a factory ignores those it has no use for)."""
_REGISTRY: dict[str, BackendFactory] = {}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make ``name`` build a backend with ``factory(**options)``."""
    _REGISTRY[name] = factory


def _local(**_options: Any) -> Backend:
    from judge.backends.local import LocalBackend

    return LocalBackend()


def _litellm(spec: str, **options: Any) -> Backend:
    if "/" not in spec and not options.get("router_config"):
        raise BackendError(
            f"unknown backend {spec!r}: use `local`, or a litellm model string with its provider, "
            "e.g. openai/gpt-4o, anthropic/claude-sonnet-4-5, hosted_vllm/<model>, ollama/<model>",
            model=spec,
        )
    from judge.backends.llm import LiteLLMBackend

    return LiteLLMBackend(spec, **options)


register_backend(LOCAL, _local)


def get_backend(spec: str, **options: Any) -> Backend:
    """Build the backend named by ``spec``.

    A registered name (``local``: the embedded judge) builds through its factory. Any other
    value is a litellm model string, e.g. ``openai/gpt-4o`` or ``hosted_vllm/Qwen2.5-7B-Instruct``;
    ``options`` carry ``api_base``, ``api_key``, ``temperature``, ``seed``, ``timeout`` and
    friends. With ``router_config`` (a litellm Router config file), ``spec`` is one of its
    ``model_name``s.
    """
    spec = spec.strip()
    if not spec:
        raise BackendError("empty backend name: use --backend local or a litellm model string")
    factory = _REGISTRY.get(spec)
    return factory(**options) if factory is not None else _litellm(spec, **options)


def resolve_backend(backend: str | Backend, **options: Any) -> Backend:
    """``backend`` itself, or the backend its name builds."""
    return get_backend(backend, **options) if isinstance(backend, str) else backend


def resolve_judge(backend: str | Backend, rubric: str | Rubric, **options: Any) -> tuple[Backend, Rubric]:
    """A judge: its backend and its critic rubric, each resolved (a rubric for another job is an error)."""
    from judge.rubrics import require_kind, resolve_rubric

    return resolve_backend(backend, **options), require_kind(resolve_rubric(rubric), "critic")


def resolve_backends(backends: list[str | Backend], **options: Any) -> list[Backend]:
    """Each backend resolved; the same backend named twice is an error."""
    built = [resolve_backend(b, **options) for b in backends]
    specs = [b.spec for b in built]
    if len(set(specs)) != len(specs):
        raise InputError(f"the same backend is named twice: {', '.join(specs)}")
    return built
