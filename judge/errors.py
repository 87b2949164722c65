"""Errors of the judge library.

The edges (CLI, HTTP service) translate these into exit codes and 4xx replies;
every message says what went wrong and, where it can, how to fix it.
"""

from __future__ import annotations


class JudgeError(Exception):
    """Base class of every error this library raises on purpose."""


class InputError(JudgeError):
    """A user-supplied file or record is malformed.

    The message names the file and line (``path:line: problem``) when there is one.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.problem = message
        where = f"{path}:{line}: " if path is not None and line is not None else (f"{path}: " if path else "")
        super().__init__(f"{where}{message}")


class RubricError(JudgeError):
    """A rubric cannot be found, parsed or validated, or a published rubric was changed."""


class BackendError(JudgeError):
    """A judge backend cannot be built or called (unknown name, missing key, provider failure).

    ``model``, ``status`` and ``retry_after`` are set when known, so callers can act on them.
    """

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.model = model
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)


class StoreError(JudgeError):
    """The SQLite store cannot be opened or migrated."""
