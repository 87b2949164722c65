"""Settings from ``JUDGE_*`` environment variables, read through :func:`get_settings`.

Nothing is read at import time; tests build their own :class:`Settings`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything configurable, with the defaults a laptop with no API key needs."""

    model_config = SettingsConfigDict(env_prefix="JUDGE_", extra="ignore")

    data_dir: Path = Field(default=Path(".judge"), description="Store, caches and job files.")
    db_path: Path | None = Field(default=None, description="SQLite store; default data_dir/judge.db.")
    rubric: str = Field(default="clinical/v3", description="Default rubric.")
    rubrics_dir: Path | None = Field(
        default=None,
        description="Writable rubric folder: `judge calibrate` writes drafts here; searched after the bundled "
        "rubrics. Default data_dir/rubrics.",
    )
    backend: str = Field(default="local", description="Default backend: `local` or a litellm model string.")
    api_base: str | None = Field(default=None, description="Base URL for an LLM backend.")
    api_key: str | None = Field(default=None, description="API key for an LLM backend.")
    concurrency: int = Field(default=16, ge=1, description="LLM calls in flight at most.")
    rpm: float | None = Field(default=None, gt=0, description="Requests per minute at most (LLM).")
    timeout: float = Field(default=60.0, gt=0, description="Seconds per LLM call.")
    max_retries: int = Field(default=5, ge=0, description="Retries on 429/5xx/timeouts.")
    temperature: float = Field(default=0.0, ge=0, description="LLM sampling temperature.")
    seed: int | None = Field(default=0, description="LLM sampling seed, where the provider honours it.")
    max_tokens: int = Field(default=400, ge=16, description="Completion token cap per judge call.")

    # service
    host: str = Field(default="127.0.0.1", description="`judge serve` bind address.")
    port: int = Field(default=8000, description="`judge serve` port.")
    api_keys: str | None = Field(default=None, description="Comma-separated bearer keys; unset = open.")
    allowed_rubrics: str | None = Field(default=None, description="Comma-separated per-request rubric overrides allowed.")
    allowed_backends: str | None = Field(default=None, description="Comma-separated per-request backend overrides allowed.")
    max_batch: int = Field(default=256, ge=1, description="Items per POST /score at most.")
    max_body_bytes: int = Field(default=2_000_000, ge=1024, description="Request body size limit.")
    cors_origins: str | None = Field(default=None, description="Comma-separated CORS origins; unset = CORS off.")

    def backend_options(self) -> dict[str, Any]:
        """Options for LLM backends (the embedded judge ignores them): what is set, nothing else."""
        opts = {
            "api_base": self.api_base, "api_key": self.api_key, "timeout": self.timeout,
            "temperature": self.temperature, "seed": self.seed, "max_tokens": self.max_tokens,
            "max_retries": self.max_retries, "rpm": self.rpm,
        }
        return {k: v for k, v in opts.items() if v is not None}

    def override(self, **values: Any) -> Settings:
        """These settings with the given values in place of theirs (``None`` keeps the setting)."""
        return self.model_copy(update={k: v for k, v in values.items() if v is not None})

    def as_env(self) -> dict[str, str]:
        """The ``JUDGE_*`` variables that rebuild these settings in another process (a server's workers)."""
        return {f"JUDGE_{k.upper()}": str(v) for k, v in self.model_dump().items() if v is not None}

    @property
    def store_path(self) -> Path:
        """The SQLite file."""
        return self.db_path or self.data_dir / "judge.db"

    @property
    def drafts_dir(self) -> Path:
        """Where draft rubrics are written (never inside the installed package)."""
        return self.rubrics_dir or self.data_dir / "rubrics"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment (cached)."""
    return Settings()
