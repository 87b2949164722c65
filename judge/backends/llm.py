"""LLM judges through litellm: any provider by one model string. The only module that imports litellm.

``LiteLLMBackend("openai/gpt-4o")``, ``"anthropic/claude-sonnet-4-5"``, ``"hosted_vllm/Qwen2.5-7B-Instruct"``
(with ``api_base``), ``"ollama/llama3.1"``, ``"openai/<name>"`` against any OpenAI-compatible server
(vLLM, llama.cpp, Ollama, the fake server of :mod:`judge.testing.openai_server`), or a litellm
Router (``router_config``: several deployments, fallbacks, rpm/tpm) that shares the load.

What one :meth:`LiteLLMBackend.judge` does:

1. render the rubric's chat messages (the candidate only ever sits inside the delimited
   ``<candidate_answer>`` block of the user message);
2. call ``litellm.acompletion`` with ``num_retries=0``; our own loop retries 429s, 5xx, timeouts and
   connection errors with exponential backoff and full jitter, waiting at least what ``Retry-After``
   asks; an optional requests-per-minute limiter spaces the calls;
3. read the reply with :mod:`judge.parse` (bound to the judge's final verdict); an unreadable reply is
   re-asked at most twice (the bad reply and a short correction are appended), then the judgment is
   *unscored* with the reason and every raw reply - never a silent 0.

Failures: retries exhausted -> unscored with ``transient=True`` (not cached; the next run retries);
``max_consecutive_failures`` such items in a row -> :class:`~judge.errors.BackendError` (the
provider is down; what finished is kept). A bad key, a model the provider does not know, or a
request the provider rejects as malformed -> :class:`~judge.errors.BackendError` at once, with
what to fix. A missing key is reported before any call.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from judge.errors import BackendError
from judge.models import Case, Judgment, Usage
from judge.parse import ParseResult, parse_extraction, parse_verdict
from judge.rubrics import Rubric, render_messages

PROMPT_FORMAT = "chat-json/2"
"""Version of how prompts and re-asks are built and replies are read (:mod:`judge.parse`); part of
the cache key, so bump it when either changes. 2: a ``score:`` line inside arithmetic is no verdict."""

MAX_REASKS = 2
CRITIC_CONTRACT = '{"rationale": "<one or two sentences>", "score": 0 | 0.5 | 1}'
EXTRACTION_CONTRACT = '{"rationale": "<one sentence>", "letters": ["A", ...], "undecidable": false}'
REPLY_SEPARATOR = "\n----- re-ask {n} -----\n"
LOCAL_HINT = "or use --backend local"
_BASE_VARS = ("_API_BASE", "_BASE_URL", "_ENDPOINT", "_HOST")
_KEY_VARS = ("_API_KEY", "_API_TOKEN")

_litellm: Any = None


def _lib() -> Any:
    """Import litellm on first use (slow; ``judge/__init__.py`` tells it never to fetch anything at import)."""
    global _litellm
    if _litellm is None:
        import litellm

        litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on errors
        _litellm = litellm
    return _litellm


class _Transient(Exception):
    """A call failed in a way worth retrying (429, 5xx, timeout, connection)."""

    def __init__(self, reason: str, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.status = status


class _Unscorable(Exception):
    """The provider refuses this one request for good (context too long, content policy)."""


class RateLimiter:
    """Spaces calls evenly so that at most ``rpm`` start in any minute (no bursts)."""

    def __init__(self, rpm: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rpm <= 0:
            raise ValueError("rpm must be > 0")
        self.interval = 60.0 / rpm
        self._clock = clock
        self._next = 0.0

    def reserve(self) -> float:
        """Book the next slot; returns the seconds to wait for it."""
        now = self._clock()
        slot = max(now, self._next)
        self._next = slot + self.interval
        return slot - now

    async def acquire(self) -> None:
        """Wait for the next slot."""
        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)


def retry_after_seconds(exc: BaseException) -> float | None:
    """Seconds the provider asked us to wait (``retry-after-ms`` or ``Retry-After``), if it said."""
    sources: list[Any] = [getattr(exc, "litellm_response_headers", None), getattr(exc, "headers", None)]
    response = getattr(exc, "response", None)
    sources.append(getattr(response, "headers", None))
    for headers in sources:
        if not headers:
            continue
        try:
            ms = headers.get("retry-after-ms")
            if ms is not None:
                return max(0.0, float(ms) / 1000.0)
            value = headers.get("retry-after")
        except (AttributeError, TypeError, ValueError):
            continue
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(str(value)) if str(value).strip() else None
            if when is not None:
                return max(0.0, when.timestamp() - time.time())
    return None


def backoff_delay(
    attempt: int, base: float, cap: float, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): full jitter on ``base * 2**attempt``,
    but never less than ``retry_after`` (plus a little jitter so waiting clients do not stampede)."""
    r = rng or random
    delay = r.uniform(0, min(cap, base * (2**attempt)))
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap) * (1.0 + 0.1 * r.random()))
    return delay


def load_router_config(path: str | Path) -> dict[str, Any]:
    """Read a Router config (YAML or JSON): ``model_list`` and optional ``router_settings``.

    This is the shape of litellm proxy's config file::

        model_list:
          - model_name: judge
            litellm_params: {model: openai/qwen2.5-7b, api_base: http://gpu1:8000/v1, api_key: none, rpm: 600}
          - model_name: judge
            litellm_params: {model: openai/qwen2.5-7b, api_base: http://gpu2:8000/v1, api_key: none}
        router_settings: {routing_strategy: simple-shuffle, fallbacks: [{judge: [judge-backup]}]}
    """
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise BackendError(f"cannot read the router config {p}: {exc.strerror}") from None
    try:
        data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise BackendError(f"{p}: not valid {'JSON' if p.suffix == '.json' else 'YAML'}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("model_list"), list) or not data["model_list"]:
        raise BackendError(f"{p}: a router config needs a non-empty `model_list` (litellm Router format)")
    extra = set(data) - {"model_list", "router_settings"}
    if extra:
        raise BackendError(f"{p}: unknown keys {sorted(extra)}; expected `model_list` and `router_settings`")
    for i, entry in enumerate(data["model_list"]):
        if (
            not isinstance(entry, dict)
            or "model_name" not in entry
            or "model" not in (entry.get("litellm_params") or {})
        ):
            raise BackendError(f"{p}: model_list[{i}] needs `model_name` and `litellm_params.model`")
    settings = data.get("router_settings") or {}
    if not isinstance(settings, dict):
        raise BackendError(f"{p}: `router_settings` must be a mapping")
    return {"model_list": data["model_list"], "router_settings": settings, "path": str(p)}


class LiteLLMBackend:
    """A judge that asks an LLM through litellm (see the module doc)."""

    def __init__(
        self,
        spec: str,
        api_base: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.0,
        seed: int | None = 0,
        max_tokens: int = 400,
        timeout: float = 60.0,
        max_retries: int = 5,
        rpm: float | None = None,
        router_config: str | Path | dict[str, Any] | None = None,
        *,
        backoff_base: float = 0.5,
        backoff_max: float = 60.0,
        max_consecutive_failures: int | None = 32,
        extra_params: dict[str, Any] | None = None,
    ) -> None:
        """``spec``: a litellm model string (``openai/gpt-4o``), or a ``model_name`` of the router config.
        ``api_base``/``api_key``: server and key (the provider's usual env var is used when no key is
        given; none is needed when ``api_base`` points at a local server). ``rpm``: calls per minute
        at most. ``extra_params``: passed to every call (e.g. ``{"response_format": ...}``)."""
        self.spec = spec.strip()
        self.api_base = api_base or None
        self.api_key = api_key or None
        self.temperature = float(temperature)
        self.seed = seed
        self.max_tokens = int(max_tokens)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_consecutive_failures = max_consecutive_failures
        self.extra_params = dict(extra_params or {})
        self.limiter = RateLimiter(rpm) if rpm else None
        self._router: Any = None
        self._consecutive_failures = 0
        if router_config is not None:
            cfg = router_config if isinstance(router_config, dict) else load_router_config(router_config)
            self._router_cfg: dict[str, Any] | None = cfg
            names = sorted({e["model_name"] for e in cfg["model_list"]})
            if self.spec not in names:
                raise BackendError(
                    f"{self.spec!r} is not a model_name of the router config (it has {', '.join(names)})",
                    model=self.spec,
                )
            deployments = sorted(
                e["litellm_params"]["model"] for e in cfg["model_list"] if e["model_name"] == self.spec
            )
            self._model_id = f"router:{self.spec}"
            self._deployments: list[str] | None = deployments
        else:
            self._router_cfg = None
            self._deployments = None
            self._model_id = self._resolve_model()
            self._check_key()

    # ------------------------------------------------------------------ identity

    @property
    def params(self) -> dict[str, Any]:
        """Resolved model, sampling parameters and prompt format: what shapes the reply (cache key).
        The API key and base URL are not in it: where a model is served does not change its answer."""
        p: dict[str, Any] = {
            "model": self._model_id,
            "temperature": self.temperature,
            "seed": self.seed,
            "max_tokens": self.max_tokens,
            "prompt_format": PROMPT_FORMAT,
        }
        if self._deployments is not None:
            p["deployments"] = self._deployments
        if self.extra_params:
            p["extra"] = self.extra_params
        return p

    def _resolve_model(self) -> str:
        litellm = _lib()
        try:
            model, provider, _, _ = litellm.get_llm_provider(self.spec, api_base=self.api_base)
        except Exception as exc:  # litellm raises BadRequestError for an unknown provider
            raise BackendError(
                f"unknown provider in {self.spec!r}: use a litellm model string such as openai/gpt-4o, "
                f"anthropic/claude-sonnet-4-5, hosted_vllm/<model> or ollama/<model> ({_first_line(exc)})",
                model=self.spec,
            ) from None
        return f"{provider}/{model}"

    def _check_key(self) -> None:
        """Fail before any call when the provider needs a key that is nowhere to be found."""
        if self.api_key or self.api_base:
            return  # a given key, or a self-hosted server (vLLM, Ollama, llama.cpp) that needs none
        try:
            env = _lib().validate_environment(model=self.spec)
        except Exception:  # litellm does not know this provider's needs: let the call tell
            return
        missing = [k for k in env.get("missing_keys", []) if not k.endswith(_BASE_VARS)]
        # only plain API keys: cloud credential chains (AWS profiles, Vertex ADC) are the SDKs' business
        if missing and not env.get("keys_in_environment") and all(k.endswith(_KEY_VARS) for k in missing):
            wanted = " or ".join(missing)
            raise BackendError(
                f"no API key for {self.spec}: set {wanted} (or JUDGE_API_KEY / --api-key), {LOCAL_HINT}",
                model=self.spec,
            )

    # ------------------------------------------------------------------ protocol

    async def judge(self, case: Case, rubric: Rubric) -> Judgment:
        """Score ``case`` under ``rubric`` (0, 0.5, 1), or an unscored judgment with the reason."""
        j = await self._converse(render_messages(rubric, case), parse_verdict, CRITIC_CONTRACT)
        return j

    async def extract(self, case: Case, rubric: Rubric) -> Judgment:
        """Read the chosen option letters of an MCQ answer (``Judgment.extracted``)."""
        options = list((case.options or {}).keys())
        return await self._converse(
            render_messages(rubric, case), lambda text: parse_extraction(text, options), EXTRACTION_CONTRACT
        )

    # --------------------------------------------------------------- conversation

    async def _converse(
        self, messages: list[dict[str, str]], parse: Callable[[str], ParseResult], contract: str
    ) -> Judgment:
        start = time.perf_counter()
        usage = Usage()
        replies: list[str] = []
        conversation = list(messages)
        result: ParseResult | None = None
        try:
            for attempt in range(MAX_REASKS + 1):
                text = await self._complete(conversation, usage)
                replies.append(text)
                result = parse(text)
                if result.ok:
                    break
                if attempt < MAX_REASKS:
                    conversation = [
                        *conversation,
                        {"role": "assistant", "content": text},
                        {
                            "role": "user",
                            "content": (
                                f"Your reply could not be read: {result.error}. Reply again with exactly one "
                                f"JSON object and nothing else: {contract}"
                            ),
                        },
                    ]
        except _Transient as exc:
            return Judgment(
                score=None,
                transient=True,
                raw_output=_join(replies),
                usage=usage,
                unscored_reason=f"{self.spec}: {exc.reason} (gave up after {self.max_retries} retries)",
                latency_ms=(time.perf_counter() - start) * 1000,
            )
        except _Unscorable as exc:
            return Judgment(
                score=None,
                unscored_reason=f"{self.spec}: {exc}",
                raw_output=_join(replies),
                usage=usage,
                latency_ms=(time.perf_counter() - start) * 1000,
            )
        latency_ms = (time.perf_counter() - start) * 1000
        assert result is not None
        raw = _join(replies)
        if not result.ok:
            return Judgment(
                score=None,
                raw_output=raw,
                usage=usage,
                latency_ms=latency_ms,
                unscored_reason=f"unparseable judge reply after {len(replies)} attempts: {result.error}",
            )
        if contract is EXTRACTION_CONTRACT:
            if result.undecidable:  # the judge read the answer and no choice is in it: nothing chosen (0)
                return Judgment(
                    score=None,
                    extracted=[],
                    rationale=f"no option can be read as chosen: {result.rationale}".rstrip(": "),
                    raw_output=raw,
                    usage=usage,
                    latency_ms=latency_ms,
                )
            return Judgment(
                score=None,
                extracted=result.letters,
                rationale=result.rationale,
                raw_output=raw,
                usage=usage,
                latency_ms=latency_ms,
            )
        return Judgment(
            score=result.score, rationale=result.rationale, raw_output=raw, usage=usage, latency_ms=latency_ms
        )

    async def _complete(self, messages: list[dict[str, str]], usage: Usage) -> str:
        """One completion, with retries; adds to ``usage``; returns the reply text."""
        last: _Transient | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                assert last is not None
                await asyncio.sleep(backoff_delay(attempt - 1, self.backoff_base, self.backoff_max, last.retry_after))
            if self.limiter is not None:
                await self.limiter.acquire()
            usage.calls += 1
            try:
                response = await asyncio.wait_for(self._call(messages), self.timeout + 10.0)
            except asyncio.TimeoutError:
                last = _Transient(f"no reply within {self.timeout:g}s")
                continue
            except Exception as exc:
                last = self._classify(exc)
                continue
            self._consecutive_failures = 0
            _add_usage(usage, response)
            return _content(response)
        assert last is not None
        self._consecutive_failures += 1
        if self.max_consecutive_failures and self._consecutive_failures >= self.max_consecutive_failures:
            where = f" at {self.api_base}" if self.api_base else ""
            raise BackendError(
                f"{self.spec}{where} is unavailable: {self._consecutive_failures} judgments in a row failed after "
                f"{self.max_retries} retries each (last: {last.reason}). Finished verdicts are kept; rerun to resume.",
                model=self.spec,
                status=last.status,
                retry_after=last.retry_after,
            )
        raise last

    def connection(self) -> dict[str, Any]:
        """How this judge reaches its model, as litellm keyword arguments: sampling and the endpoint.

        Every client of the model uses these - this backend's calls and the ``dspy.LM`` a calibration
        builds (:meth:`judge.calibrate.optimize.LMConfig.from_backend`) - so both talk to the same
        model the same way.
        """
        kwargs: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens, "timeout": self.timeout}
        if self.seed is not None:
            kwargs["seed"] = self.seed
        if self.api_base:
            kwargs["api_base"] = self.api_base
            # a local server (vLLM, llama.cpp) wants no key, but the OpenAI client insists on one
            kwargs["api_key"] = self.api_key or "not-needed"
        elif self.api_key:
            kwargs["api_key"] = self.api_key
        return kwargs

    async def _call(self, messages: list[dict[str, str]]) -> Any:
        kwargs: dict[str, Any] = {"messages": messages, "num_retries": 0, "drop_params": True, **self.extra_params}
        if self._router_cfg is not None:
            sampling = {k: v for k, v in self.connection().items() if k not in ("api_base", "api_key")}
            return await self.router.acompletion(model=self.spec, **sampling, **kwargs)
        kwargs["max_retries"] = 0  # the OpenAI SDK's own retries: off, we retry
        return await _lib().acompletion(model=self.spec, **self.connection(), **kwargs)

    @property
    def router(self) -> Any:
        """The litellm Router (router configs only), built on first use."""
        if self._router is None:
            assert self._router_cfg is not None
            settings = {"num_retries": 0, **self._router_cfg["router_settings"]}
            self._router = _lib().Router(model_list=self._router_cfg["model_list"], **settings)
        return self._router

    def _classify(self, exc: Exception) -> _Transient:
        """Map a litellm exception: transient ones are returned (to retry), the rest raise."""
        litellm = _lib()
        status = getattr(exc, "status_code", None)
        msg = _first_line(exc)
        if isinstance(exc, (litellm.AuthenticationError, litellm.PermissionDeniedError)):
            raise BackendError(
                f"{self.spec}: the provider rejected the API key ({status}): {msg}. "
                f"Check --api-key / JUDGE_API_KEY or the provider's key variable, {LOCAL_HINT}",
                model=self.spec,
                status=status,
            ) from None
        if isinstance(exc, litellm.NotFoundError):
            where = f" at {self.api_base}" if self.api_base else ""
            raise BackendError(
                f"{self.spec}: model not found{where} ({status}): {msg}. Check the model name in --backend",
                model=self.spec,
                status=status,
            ) from None
        if isinstance(exc, (litellm.ContextWindowExceededError, litellm.ContentPolicyViolationError)):
            raise _Unscorable(f"the provider refused this request: {msg}") from None
        if isinstance(exc, litellm.RateLimitError):
            return _Transient(f"rate limited (429): {msg}", retry_after_seconds(exc), 429)
        if isinstance(exc, (litellm.Timeout, asyncio.TimeoutError)):
            return _Transient(f"timed out after {self.timeout:g}s", None, 408)
        if isinstance(exc, (litellm.BadRequestError, litellm.UnprocessableEntityError)):
            raise BackendError(
                f"{self.spec}: the provider rejected the request ({status}): {msg}", model=self.spec, status=status
            ) from None
        if (
            isinstance(exc, litellm.APIConnectionError)
            or (isinstance(status, int) and status >= 500)
            or (isinstance(exc, litellm.APIError) and status is None)
        ):
            return _Transient(f"{type(exc).__name__} ({status}): {msg}", retry_after_seconds(exc), status)
        if status in (408, 429):  # includes the Router's "every deployment is cooling down"
            return _Transient(f"{type(exc).__name__} ({status}): {msg}", retry_after_seconds(exc), status)
        raise BackendError(f"{self.spec}: {type(exc).__name__}: {msg}", model=self.spec, status=status) from None


# ----------------------------------------------------------------------------- helpers


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _join(replies: Sequence[str]) -> str:
    out = replies[0] if replies else ""
    for n, r in enumerate(replies[1:], start=1):
        out += REPLY_SEPARATOR.format(n=n) + r
    return out


def _content(response: Any) -> str:
    try:
        content = response.choices[0].message.content
    except (AttributeError, IndexError):
        return ""
    return content or ""


def _add_usage(usage: Usage, response: Any) -> None:
    u = getattr(response, "usage", None)
    if u is not None:
        usage.prompt_tokens += int(getattr(u, "prompt_tokens", 0) or 0)
        usage.completion_tokens += int(getattr(u, "completion_tokens", 0) or 0)
    cost = _cost(response)
    if cost is not None:
        usage.cost_usd = (usage.cost_usd or 0.0) + cost


def _cost(response: Any) -> float | None:
    """The call's cost from litellm's cost map (litellm prices each response as it returns it);
    None when the map does not know the model (self-hosted, fake). A cost of exactly 0 counts as
    unknown too: litellm's Router enters every deployment it serves in the map at price 0."""
    hidden = getattr(response, "_hidden_params", None) or {}
    if isinstance(hidden, dict) and "response_cost" in hidden:
        cost = hidden["response_cost"]  # already priced (None: unknown model)
    else:
        try:
            cost = _lib().completion_cost(completion_response=response)
        except Exception:  # litellm raises for a model its map does not know
            return None
    try:
        return float(cost) if cost is not None and float(cost) > 0 else None
    except (TypeError, ValueError):
        return None
