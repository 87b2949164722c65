"""A scripted backend for tests above the provider boundary (scoring, store, CLI)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from judge.models import Case, Judgment
from judge.rubrics import Rubric

Script = Callable[[Case], Judgment]


def exact_match(case: Case) -> Judgment:
    """1.0 when the candidate equals a reference (case-insensitive), else 0."""
    ok = case.candidate.strip().lower() in {r.lower() for r in case.references}
    return Judgment(score=1.0 if ok else 0.0, rationale="exact" if ok else "different", raw_output="fake")


class FakeBackend:
    """Implements the Backend protocol with a script; counts calls per candidate."""

    def __init__(self, script: Script = exact_match, spec: str = "fake/exact", extract_letters: list[str] | None = None):
        self.spec = spec
        self.script = script
        self.calls: list[str] = []
        self.extract_letters = extract_letters

    @property
    def params(self) -> dict[str, Any]:
        return {"script": getattr(self.script, "__name__", "script")}

    async def judge(self, case: Case, rubric: Rubric) -> Judgment:
        self.calls.append(case.candidate)
        return self.script(case)

    async def extract(self, case: Case, rubric: Rubric) -> Judgment:
        self.calls.append(case.candidate)
        if self.extract_letters is None:
            return Judgment(score=None, unscored_reason="fake cannot read it", raw_output="?")
        return Judgment(score=None, extracted=self.extract_letters, raw_output="ok")
