"""What a calibration optimizer is: ``propose(base, train, dev) -> Proposal``.

An optimizer sees the starting rubric and the train and dev parts of the gold set - never the
held-out part - and proposes the rubric fields to change, with what it tried and what it cost.
:func:`judge.calibrate.run.calibrate` measures the proposal on dev and held-out and writes it.

* :class:`CoordinateOptimizer` - the embedded judge's parameters (``rubric.local``): thresholds,
  credits and table overrides, by coordinate search (:mod:`judge.calibrate.local_fit`);
* :class:`DSPyOptimizer` - an LLM judge's instructions and demos (:mod:`judge.calibrate.optimize`),
  its ``dspy.LM`` built from the very backend that judges (:meth:`LMConfig.from_backend`).

:func:`make_optimizer` picks one by name and checks that it can tune the backend given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from judge.backends import Backend
from judge.errors import InputError
from judge.models import GoldRating
from judge.rubrics import Rubric

Recorder = Callable[[Sequence[str]], None]
"""Told the gold ids of every case an optimizer judges (the held-out audit)."""
Log = Callable[[str], None]

COORDINATE = "coordinate"
DSPY_OPTIMIZERS: tuple[str, ...] = ("instruct-search", "bootstrap-rs", "mipro", "gepa")
OPTIMIZERS: tuple[str, ...] = (COORDINATE, *DSPY_OPTIMIZERS)


@dataclass
class Proposal:
    """What an optimizer proposes for the next rubric version."""

    updates: dict[str, Any]
    """Rubric fields to replace (empty: keep the base as it is)."""
    chosen: str
    """What it kept: ``base``, a search step, a candidate's name."""
    calls: dict[str, Any]
    """LM calls it issued and sent, and its budget."""
    search: dict[str, Any]
    """What it tried (for the draft's provenance)."""
    notes: list[str] = field(default_factory=list)
    program_state: dict[str, Any] | None = None
    """DSPy's program state, saved as JSON next to the draft."""


class Optimizer(Protocol):
    """Proposes rubric changes from train (fit) and dev (select)."""

    name: str

    def propose(self, base: Rubric, train: Sequence[GoldRating], dev: Sequence[GoldRating]) -> Proposal:
        """The proposal; ``train`` and ``dev`` only - the held-out part never reaches an optimizer."""
        ...


@dataclass
class CoordinateOptimizer:
    """The embedded judge's ``rubric.local`` parameters by coordinate search."""

    budget: int | None = None
    record: Recorder | None = None
    log: Log | None = None
    name: str = COORDINATE

    def propose(self, base: Rubric, train: Sequence[GoldRating], dev: Sequence[GoldRating]) -> Proposal:
        from judge.calibrate.local_fit import fit_local, local_scorer

        fit = fit_local(base, train, dev, score=local_scorer(self.record), log=self.log)
        updates = {"local": fit.params.model_dump(mode="json")} if fit.params != base.local else {}
        chosen = "base" if fit.chosen == 0 else f"step {fit.chosen}: {fit.path[fit.chosen].block}"
        return Proposal(updates, chosen, {"issued": 0, "sent": 0, "budget": self.budget}, fit.summary())


@dataclass
class DSPyOptimizer:
    """An LLM judge's instructions, criteria and demos, tuned by a DSPy optimizer."""

    name: str
    backend: Backend
    budget: int | None = None
    seed: int = 0
    cache_dir: Path | None = None
    num_threads: int = 8
    record: Recorder | None = None
    log: Log | None = None

    def propose(self, base: Rubric, train: Sequence[GoldRating], dev: Sequence[GoldRating]) -> Proposal:
        from judge.calibrate.optimize import LMConfig, optimize_llm

        return optimize_llm(
            base, train, dev, lm_config=LMConfig.from_backend(self.backend), optimizer=self.name,
            budget=self.budget, seed=self.seed, cache_dir=self.cache_dir, num_threads=self.num_threads,
            record=self.record, log=self.log,
        )


def make_optimizer(
    name: str | None,
    backend: Backend,
    *,
    budget: int | None = None,
    seed: int = 0,
    cache_dir: Path | None = None,
    concurrency: int = 16,
    record: Recorder | None = None,
    log: Log | None = None,
) -> Optimizer:
    """The optimizer ``name`` for ``backend`` (default: coordinate for the embedded judge, else DSPy's
    instruct-search); an InputError when it cannot tune that backend."""
    from judge.backends.local import LocalBackend

    embedded = isinstance(backend, LocalBackend)  # it reads rubric.local, never a prompt
    name = name or (COORDINATE if embedded else DSPY_OPTIMIZERS[0])
    if name not in OPTIMIZERS:
        raise InputError(f"unknown optimizer {name!r}: choose one of {', '.join(OPTIMIZERS)}")
    if embedded and name != COORDINATE:
        raise InputError(
            f"--backend {backend.spec} is calibrated by {COORDINATE}, not {name!r} "
            "(the DSPy optimizers tune prompts, which the embedded judge does not read)"
        )
    if name == COORDINATE:
        if not embedded:
            raise InputError(f"{COORDINATE} tunes the embedded judge's parameters; {backend.spec} reads a prompt: "
                             f"use one of {', '.join(DSPY_OPTIMIZERS)}")
        return CoordinateOptimizer(budget=budget, record=record, log=log)
    return DSPyOptimizer(name, backend, budget=budget, seed=seed, cache_dir=cache_dir,
                         num_threads=min(concurrency, 8), record=record, log=log)
