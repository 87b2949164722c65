"""Backend registry: ``local`` is the embedded clinical judge; anything else is a litellm model string.

Provider SDKs are imported only when a backend that needs them is built, so ``import judge``
never touches the network.
"""

from __future__ import annotations

from typing import Any

from judge.backends.base import Backend, SyncBackend
from judge.errors import BackendError

LOCAL = "local"

__all__ = ["LOCAL", "Backend", "SyncBackend", "get_backend"]


def get_backend(spec: str, **options: Any) -> Backend:
    """Build the backend named by ``spec``.

    ``local`` is the embedded judge (no options). Any other value is a litellm model string,
    e.g. ``openai/gpt-4o`` or ``hosted_vllm/Qwen2.5-7B-Instruct``; ``options`` carry
    ``api_base``, ``api_key``, ``temperature``, ``seed``, ``timeout`` and friends. With
    ``router_config`` (a litellm Router config file), ``spec`` is one of its ``model_name``s.
    """
    spec = spec.strip()
    if not spec:
        raise BackendError("empty backend name: use --backend local or a litellm model string")
    if spec == LOCAL:
        from judge.backends.local import LocalBackend

        return LocalBackend()
    if "/" not in spec and not options.get("router_config"):
        raise BackendError(
            f"unknown backend {spec!r}: use `local`, or a litellm model string with its provider, "
            "e.g. openai/gpt-4o, anthropic/claude-sonnet-4-5, hosted_vllm/<model>, ollama/<model>",
            model=spec,
        )
    from judge.backends.llm import LiteLLMBackend

    return LiteLLMBackend(spec, **options)
