"""The protocols every judge implements, one per capability, checked by type.

A backend turns a :class:`~judge.models.Case` into a :class:`~judge.models.Judgment` under a
rubric. It never raises for a bad reply: an answer it cannot read becomes an *unscored*
judgment with the reason and the raw text. It raises :class:`~judge.errors.BackendError` only
when it cannot work at all (no key, unknown model, provider down after every retry).

* :class:`Backend` - every judge: scores open-ended cases.
* :class:`OptionReader` - a judge that can also read the options a free-text MCQ answer chose
  (an LLM). The scorer sends it the MCQ answers the rules could not decide; a backend without
  this capability (the embedded judge) counts them as choosing nothing.
* :class:`SyncBackend` - a judge that can score without an event loop (the embedded judge):
  faster in bulk, and it can be forked into worker processes.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from judge.models import Case, Judgment
from judge.rubrics import Rubric


@runtime_checkable
class Backend(Protocol):
    """A judge: scores open-ended cases."""

    spec: str
    """What the user named: ``local`` or a litellm model string (``openai/gpt-4o``)."""

    @property
    def params(self) -> dict[str, Any]:
        """Everything besides the rubric and the case that shapes the output (part of the cache key)."""
        ...

    async def judge(self, case: Case, rubric: Rubric) -> Judgment:
        """Score ``case`` (0, 0.5, 1) or return an unscored judgment with the reason."""
        ...


@runtime_checkable
class OptionReader(Backend, Protocol):
    """A judge that reads free-text MCQ answers (an LLM)."""

    async def extract(self, case: Case, rubric: Rubric) -> Judgment:
        """Read the chosen option letters of an MCQ answer into ``Judgment.extracted``.

        ``rubric`` is an extraction rubric. ``extracted == []`` means the answer chose nothing;
        a reply that cannot be read is unscored with the reason.
        """
        ...


@runtime_checkable
class SyncBackend(Backend, Protocol):
    """A judge that can also score without an event loop (the embedded judge)."""

    def judge_sync(self, case: Case, rubric: Rubric) -> Judgment:
        """Synchronous :meth:`Backend.judge`."""
        ...
