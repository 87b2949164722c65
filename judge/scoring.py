"""Scoring many answers: MCQ rules, the critic, the cache, bounded concurrency.

:class:`Scorer` takes :class:`Task` objects (one model's answer to one item) and returns one
:class:`~judge.models.Verdict` each, in order:

1. A model's non-answer is scored 0 without asking any judge: an empty answer, an answer over
   :data:`~judge.limits.MAX_CANDIDATE_CHARS` (and, in :func:`missing_verdicts`, no prediction at all).
2. MCQ answers go through the rules of :mod:`judge.mcq`; what they cannot decide is sent to the
   backend's ``extract`` (an LLM reads the answer). A backend that cannot read free text (the
   embedded judge) counts an answer no rule can read as choosing nothing: 0.
3. Open-ended answers go to the backend's ``judge`` under the rubric.
4. Only a judge's failure (an error retries could not cure, a reply that stayed unparseable) is
   unscored; see ``docs/decisions/score_integrity.md``.
5. Every backend result is cached in the store under the hash of what determines it
   (rubric sha, backend spec and parameters, the case); identical cases are judged once;
   results are committed as they come, so a killed run resumes where it stopped.

Usage::

    scorer = Scorer(get_backend("local"), load_rubric("v3"), Store.open(path))
    verdicts = scorer.score(tasks_for(items, predictions)[0])
"""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any

from judge import mcq
from judge.backends import Backend, OptionReader, SyncBackend
from judge.limits import MAX_CANDIDATE_CHARS
from judge.models import (
    METHOD_EMPTY,
    METHOD_MCQ_UNREADABLE,
    METHOD_MISSING,
    METHOD_OVER_LIMIT,
    BenchmarkItem,
    Case,
    GoldRating,
    Judgment,
    Prediction,
    Verdict,
)
from judge.rubrics import Rubric, load_rubric, require_kind
from judge.store import Store

ProgressFn = Callable[[int, int, int], None]
"""Called as ``progress(done, total, unscored)``."""

EXTRACTION_RUBRIC = "mcq_extraction/v2"
NO_PREDICTION = "no prediction for this item"

NON_ANSWER_RULE = "non_answer/1"
"""The 'rubric' of verdicts that score a model's non-answer 0 without asking a judge."""
NON_ANSWER_TEXT = (
    "A model's failure is scored, not skipped: no prediction, an empty answer, an answer longer than "
    f"{MAX_CANDIDATE_CHARS} characters, and an MCQ answer from which neither the rules nor an LLM extraction "
    "can read a choice each score 0 (the benchmark's |chosen & gold| / |gold| with nothing chosen; the rubric's "
    "'no answer' rule). Only a judge's failure is unscored."
)
"""The rule itself; its sha256 is the ``rubric_sha`` of those verdicts."""


@dataclass(frozen=True)
class Task:
    """One model's answer to one item."""

    item_id: str
    model: str
    case: Case
    gold_letters: frozenset[str] | None = None
    """MCQ only: the correct letters."""


def tasks_for(
    items: Sequence[BenchmarkItem], predictions: Iterable[Prediction]
) -> tuple[list[Task], list[tuple[str, str]]]:
    """Pair items with predictions.

    Returns the tasks (benchmark order, then model order of first appearance) and the
    ``(item_id, model)`` pairs that have no prediction. Items that carry their own
    ``prediction`` count as predictions of their ``model``.
    """
    by_id = {item.id: item for item in items}
    answers: dict[str, dict[str, str]] = {}
    models: list[str] = []
    embedded = (
        Prediction(id=i.id, model=i.model, prediction=i.prediction)
        for i in items
        if i.prediction is not None and i.model is not None
    )
    for pred in (*embedded, *predictions):
        if pred.id not in by_id:
            continue  # e.g. an item of the other split
        if pred.model not in answers:
            answers[pred.model] = {}
            models.append(pred.model)
        answers[pred.model][pred.id] = pred.prediction
    tasks, missing = [], []
    seen_items = list(dict.fromkeys(i.id for i in items))
    for model in models:
        for item_id in seen_items:
            item = by_id[item_id]
            if item_id not in answers[model]:
                missing.append((item_id, model))
                continue
            text = answers[model][item_id]
            gold = item.gold_letters if item.question_type == "mcq" else None
            tasks.append(Task(item_id, model, Case.from_item(item, text), gold))
    return tasks, missing


def gold_tasks(rows: Sequence[GoldRating], model: str = "gold") -> list[Task]:
    """Tasks that score each rated gold candidate."""
    return [Task(row.id, model, Case.from_gold(row)) for row in rows]


def cache_key(*parts: Any) -> str:
    """sha256 of the canonical JSON of ``parts``."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@lru_cache(maxsize=1)
def mcq_rules_sha() -> str:
    """sha256 of the MCQ rules' source: the 'rubric' of rule-decided MCQ verdicts."""
    return hashlib.sha256(Path(mcq.__file__).read_bytes()).hexdigest()


NON_ANSWER_SHA = hashlib.sha256(NON_ANSWER_TEXT.encode("utf-8")).hexdigest()


def non_answer(case: Case) -> tuple[str, str] | None:
    """``(method, rationale)`` when ``case``'s candidate is a non-answer that scores 0 unjudged, else None."""
    if not case.candidate.strip():
        return METHOD_EMPTY, "empty answer"
    if len(case.candidate) > MAX_CANDIDATE_CHARS:
        return METHOD_OVER_LIMIT, (
            f"answer of {len(case.candidate)} characters, over the limit of {MAX_CANDIDATE_CHARS} (degenerate output)"
        )
    return None


class Kind(str, Enum):
    """How one task is scored."""

    NON_ANSWER = "non_answer"
    """A model's non-answer: 0, no judge asked."""
    MCQ = "mcq"
    """MCQ options read by the rules."""
    EXTRACT = "extract"
    """MCQ options read by the backend (an LLM), because the rules could not."""
    CRITIC = "critic"
    """An open-ended answer judged by the backend under the rubric."""


@dataclass(frozen=True)
class _Step:
    """The plan for one task: how it is scored and under which cache key."""

    kind: Kind
    key: str
    extraction: mcq.Extraction | None = None

    @property
    def judged(self) -> bool:
        """Whether the backend (or its cache) decides this task."""
        return self.kind in (Kind.EXTRACT, Kind.CRITIC)


@dataclass(frozen=True)
class _Judging:
    """One distinct case the backend must judge (identical cases are judged once)."""

    key: str
    kind: Kind
    case: Case


@dataclass
class ScoreStats:
    """What a scorer did, counted over the tasks it scored."""

    mcq_rules: int = 0
    """MCQ answers decided by the rules."""
    non_answers: int = 0
    """Non-answers scored 0 without a judge."""
    cached: int = 0
    """Tasks whose judgment came from the store's cache."""
    judged: int = 0
    """Tasks judged by the backend in this run (identical answers share one judgment)."""
    computed: int = 0
    """Distinct judgments the backend computed."""
    unscored: int = 0
    """Verdicts left unscored (judge failures)."""

    def add(self, other: ScoreStats) -> None:
        """Add ``other``'s counts to these."""
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        """Plain counts (run summaries, job summaries, metrics)."""
        return asdict(self)

    def summary(self, missing: int = 0) -> str:
        """One line whose parts add up to the verdicts (each judge's, for a jury): rules + non-answers +
        judged + from cache; ``missing`` pairs without a prediction are non-answers too."""
        total = self.mcq_rules + self.non_answers + missing + self.judged + self.cached
        return (f"{total} verdicts = {self.mcq_rules} MCQ decided by rules + {self.non_answers + missing} "
                f"non-answers counted as 0 + {self.judged} judged now ({self.computed} distinct) + "
                f"{self.cached} from cache; {self.unscored} unscored")


@dataclass
class Scorer:
    """Scores tasks with one backend under one rubric, through the store's cache."""

    backend: Backend
    rubric: Rubric
    store: Store
    extraction_rubric: Rubric | None = None
    concurrency: int = 16
    progress: ProgressFn | None = None
    use_cache: bool = True
    """Read judgments from the store's cache (False: judge again, e.g. to measure stability)."""
    write_cache: bool = True
    """Store what was judged (False: leave the cache as it is)."""
    workers: int = 1
    """Processes for a synchronous (embedded) backend on large batches; 1 = in this process."""
    stats: ScoreStats = field(default_factory=ScoreStats)

    def __post_init__(self) -> None:
        if self.extraction_rubric is None:
            self.extraction_rubric = load_rubric(EXTRACTION_RUBRIC)
        require_kind(self.rubric, "critic")  # each rubric does the job it was written for, checked before any call
        require_kind(self.extraction_rubric, "extraction")
        self._params = dict(self.backend.params)
        self._pool: WorkerPool | None = None

    def close(self) -> None:
        """Stop the worker processes, if any were started (a scorer can be used again after)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> Scorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------ keys

    def key_for(self, task: Task) -> tuple[Kind, str]:
        """``(kind, cache_key)`` of a task: :attr:`Kind.MCQ` (rules) or :attr:`Kind.CRITIC`."""
        case = task.case
        if case.question_type == "mcq":
            return Kind.MCQ, cache_key("mcq-rules", mcq.MCQ_RULES_VERSION, case.options, case.candidate)
        return Kind.CRITIC, cache_key(
            "critic", self.rubric.sha256, self.backend.spec, self._params,
            case.model_dump(exclude={"options"}),
        )

    def extraction_key(self, case: Case) -> str:
        """Cache key of an LLM option extraction."""
        assert self.extraction_rubric is not None
        return cache_key(
            "extract", self.extraction_rubric.sha256, self.backend.spec, self._params,
            case.question, case.options, case.candidate,
        )

    # ----------------------------------------------------------------------- public

    def score(self, tasks: Sequence[Task]) -> list[Verdict]:
        """Score ``tasks``; returns one verdict per task, in order."""
        return asyncio.run(self.ascore(tasks))

    async def ascore(self, tasks: Sequence[Task]) -> list[Verdict]:
        """Async :meth:`score`."""
        plan = [self._plan(task) for task in tasks]
        pending: dict[str, _Judging] = {}
        for task, step in zip(tasks, plan, strict=True):
            if step.judged and step.key not in pending:
                pending[step.key] = _Judging(step.key, step.kind, task.case)
        self.stats.mcq_rules += sum(step.kind is Kind.MCQ for step in plan)
        self.stats.non_answers += sum(step.kind is Kind.NON_ANSWER for step in plan)
        cached = self.store.get_judgments(pending) if self.use_cache else {}
        results: dict[str, Judgment] = dict(cached)
        waiting = Counter(step.key for step in plan if step.judged and step.key not in cached)
        done = len(tasks) - sum(waiting.values())
        self.stats.cached += sum(step.judged and step.key in cached for step in plan)
        self.stats.judged += sum(waiting.values())
        self._report(done, len(tasks))
        todo = [p for k, p in pending.items() if k not in cached]
        if todo:
            await self._compute(todo, results, waiting, done, len(tasks))
        verdicts = [
            self._verdict(task, step, results, step.key in cached) for task, step in zip(tasks, plan, strict=True)
        ]
        self.stats.unscored += sum(v.score is None for v in verdicts)
        return verdicts

    def _plan(self, task: Task) -> _Step:
        """How a task is scored: a non-answer (0, no judge), by the MCQ rules, by extraction, or by the critic."""
        case = task.case
        if non_answer(case) is not None:
            return _Step(Kind.NON_ANSWER, cache_key("non-answer", NON_ANSWER_RULE, case.candidate))
        kind, key = self.key_for(task)
        if kind is not Kind.MCQ:
            return _Step(kind, key)
        assert case.options is not None
        extraction = mcq.extract_choices_cached(case.candidate, case.options, case.language)
        if extraction.decided:
            return _Step(kind, key, extraction)
        if not isinstance(self.backend, OptionReader):  # no LLM to read it: nothing chosen, 0
            return _Step(Kind.NON_ANSWER, key, extraction)
        return _Step(Kind.EXTRACT, self.extraction_key(case), extraction)

    # --------------------------------------------------------------------- internals

    def _report(self, done: int, total: int, unscored: int = 0) -> None:
        if self.progress is not None:
            self.progress(done, total, unscored)

    def _provenance(self, kind: Kind) -> dict[str, Any]:
        rubric = self.rubric if kind is Kind.CRITIC else self.extraction_rubric
        assert rubric is not None
        return {"rubric": rubric.id, "rubric_sha": rubric.sha256, "backend": self.backend.spec, "params": self._params}

    async def _compute(
        self, todo: list[_Judging], results: dict[str, Judgment], waiting: Counter[str], done: int, total: int
    ) -> None:
        sync = isinstance(self.backend, SyncBackend)
        flush_every = 2000 if sync else 1
        buffer: list[tuple[str, Judgment, dict[str, Any]]] = []
        unscored = 0

        def finish(p: _Judging, judgment: Judgment) -> None:
            nonlocal done, unscored
            results[p.key] = judgment
            if not judgment.transient and self.write_cache:
                buffer.append((p.key, judgment, self._provenance(p.kind)))
            done += waiting[p.key]
            unscored += waiting[p.key] if judgment.score is None and judgment.extracted is None else 0
            self.stats.computed += 1
            if len(buffer) >= flush_every:
                self.store.put_judgments(buffer)
                buffer.clear()
            self._report(done, total, unscored)

        try:
            if sync:
                assert isinstance(self.backend, SyncBackend)
                self._judge_sync(self.backend, todo, finish)
            else:
                await self._judge_async(todo, finish)
        finally:
            self.store.put_judgments(buffer)  # whatever finished is kept, even on error

    def _judge_sync(self, backend: SyncBackend, todo: list[_Judging], finish: Callable[[_Judging, Judgment], None]) -> None:
        """Critic cases in this process, or in forked workers on large runs (the embedded judge)."""
        critic = [p for p in todo if p.kind is Kind.CRITIC]
        if self.workers > 1 and len(critic) >= PARALLEL_MIN:
            if self._pool is None:
                self._pool = WorkerPool(backend.judge_sync, self.rubric, self.workers)
            for p, judgment in zip(critic, self._pool.judge([p.case for p in critic]), strict=True):
                finish(p, judgment)
        else:
            for p in critic:
                finish(p, backend.judge_sync(p.case, self.rubric))

    async def _judge_async(self, todo: list[_Judging], finish: Callable[[_Judging, Judgment], None]) -> None:
        """Every case through the backend, at most ``concurrency`` at a time."""
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(p: _Judging) -> None:
            async with semaphore:
                if p.kind is Kind.CRITIC:
                    judgment = await self.backend.judge(p.case, self.rubric)
                else:
                    assert isinstance(self.backend, OptionReader) and self.extraction_rubric is not None
                    judgment = await self.backend.extract(p.case, self.extraction_rubric)
            finish(p, judgment)

        await asyncio.gather(*(one(p) for p in todo))

    def _verdict(self, task: Task, step: _Step, results: dict[str, Judgment], from_cache: bool) -> Verdict:
        case = task.case
        common: dict[str, Any] = {
            "item_id": task.item_id, "model": task.model, "ability": case.ability,
            "question_type": case.question_type, "attribute": case.attribute, "language": case.language,
            "backend": self.backend.spec, "cache_key": step.key,
        }
        if step.kind is Kind.NON_ANSWER:
            return _non_answer_verdict(common, case, step.extraction)
        if step.kind is Kind.MCQ:
            return _rule_verdict(common, step.extraction, task.gold_letters)
        j = results[step.key]
        prov = self._provenance(step.kind)
        base = {**common, "rubric": prov["rubric"], "rubric_sha": prov["rubric_sha"], "params": self._params,
                "raw_output": j.raw_output, "latency_ms": j.latency_ms, "usage": j.usage,
                "cached": from_cache}
        if step.kind is Kind.CRITIC:
            # every part was validated already (the case on reading, the judgment when made)
            return Verdict.model_construct(**base, score=j.score, unscored_reason=j.unscored_reason,
                                           rationale=j.rationale, method="critic", extracted=None)
        return self._extraction_verdict(base, j, step.extraction, task.gold_letters)

    def _extraction_verdict(
        self, base: dict[str, Any], j: Judgment, extraction: mcq.Extraction | None, gold: frozenset[str] | None
    ) -> Verdict:
        """An MCQ answer read by the backend: scored by the MCQ rule, or unscored when the reading failed."""
        if j.extracted is None:
            reason = j.unscored_reason or "option extraction failed"
            if extraction is not None and extraction.reason:
                reason = f"MCQ answer not decided (rules: {extraction.reason}; {self.backend.spec}: {reason})"
            return Verdict(**base, score=None, unscored_reason=reason, rationale=j.rationale, method="mcq:llm")
        assert gold is not None
        letters = sorted(set(j.extracted))
        score = mcq.score_mcq(frozenset(letters), gold)
        return Verdict(**base, score=score, extracted=letters, method="mcq:llm",
                       rationale=f"{j.rationale} | {_mcq_rationale(letters, gold, score)}".strip(" |"))


def _rule_verdict(common: dict[str, Any], extraction: mcq.Extraction | None, gold: frozenset[str] | None) -> Verdict:
    """An MCQ answer the rules decided, scored by the MCQ rule."""
    assert extraction is not None and extraction.letters is not None and gold is not None
    letters = sorted(extraction.letters)
    score = mcq.score_mcq(extraction.letters, gold)
    return Verdict(
        **common, score=score, method=f"mcq:{extraction.method}", extracted=letters,
        rationale=_mcq_rationale(letters, gold, score),
        rubric=f"mcq_rules/{mcq.MCQ_RULES_VERSION}", rubric_sha=mcq_rules_sha(), params={},
    )


PARALLEL_MIN = 4000
"""Below this many cases, forking workers costs more than it saves."""
PARENT_POLL_SECONDS = 0.5
"""How often a worker checks that the process that forked it is alive (the portable fallback)."""
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_WORKER_STATE: tuple[Callable[[Case, Rubric], Judgment], Rubric] | None = None


def _judge_chunk(cases: list[Case]) -> list[Judgment]:
    assert _WORKER_STATE is not None
    judge_sync, rubric = _WORKER_STATE
    return [judge_sync(case, rubric) for case in cases]


def _die_with_parent(parent_pid: int) -> None:
    """Pool initializer: this worker ends when the process that forked it ends, however it ends.

    A worker waits for chunks on a pipe it holds both ends of, so it would wait forever (a
    100-200 MB orphan) after a ``kill -9`` of its parent. On Linux the kernel sends it SIGKILL
    when the parent dies (``prctl(PR_SET_PDEATHSIG)``); everywhere, a daemon thread checks every
    :data:`PARENT_POLL_SECONDS` that the parent is still its parent; and a parent that died
    before either was in place is noticed at once.
    """
    _set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="watch-parent", daemon=True).start()


def _set_parent_death_signal(sig: int) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent dies; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


class WorkerPool:
    """Forked worker processes that judge cases with one synchronous backend under one rubric.

    Created on first use and kept for the scorer's life, so a run scored in chunks forks once. The
    backend and rubric reach the children through fork, not pickling; only cases and judgments cross
    the process boundary. Workers die with this process (:func:`_die_with_parent`).
    """

    def __init__(self, judge_sync: Callable[[Case, Rubric], Judgment], rubric: Rubric, workers: int) -> None:
        self.judge_sync, self.rubric = judge_sync, rubric
        self.workers = max(1, min(workers, os.cpu_count() or 1))  # CPU-bound: more processes only cost memory
        self._executor: ProcessPoolExecutor | None = None

    def judge(self, cases: list[Case]) -> Iterator[Judgment]:
        """Judgments of ``cases`` in order, as chunks finish; on an error or an early stop, chunks not
        started are cancelled rather than judged for nothing."""
        chunk = max(250, min(2000, len(cases) // (self.workers * 4) or 1))
        chunks = [cases[i : i + chunk] for i in range(0, len(cases), chunk)]
        pool = self._start()
        try:
            for judged in pool.map(_judge_chunk, chunks):
                yield from judged
        except BaseException:
            self.close(cancel=True)
            raise

    def _start(self) -> ProcessPoolExecutor:
        if self._executor is None:
            global _WORKER_STATE
            _WORKER_STATE = (self.judge_sync, self.rubric)  # what the children inherit when they fork
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("fork"),
                initializer=_die_with_parent, initargs=(os.getpid(),),
            )
        return self._executor

    def close(self, cancel: bool = False) -> None:
        """Stop the workers (at once, dropping queued chunks, when ``cancel``)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=cancel)
            self._executor = None


def _mcq_rationale(chosen: list[str], gold: frozenset[str], score: float) -> str:
    want = ",".join(sorted(gold))
    if not chosen:
        return f"no option chosen (gold {want})"
    wrong = sorted(set(chosen) - gold)
    got = ",".join(chosen)
    if wrong:
        return f"chose {got}; {','.join(wrong)} wrong (gold {want})"
    return f"chose {got} of gold {want}: {score:.2f}"


def _non_answer_verdict(common: dict[str, Any], case: Case, extraction: mcq.Extraction | None) -> Verdict:
    """0 for a model's non-answer: empty, over the limit, or an MCQ answer the rules cannot read."""
    found = non_answer(case)
    if found is not None:
        method, rationale = found
    else:  # an MCQ answer no rule could read, and the backend has no LLM to read it
        assert extraction is not None
        method = METHOD_MCQ_UNREADABLE
        rationale = f"no option could be read from the answer, so none was chosen (rules: {extraction.reason})"
    return Verdict(
        **common, score=0.0, method=method, rationale=rationale, extracted=[] if case.options else None,
        rubric=NON_ANSWER_RULE, rubric_sha=NON_ANSWER_SHA, params={},
    )


def missing_verdicts(missing: Iterable[tuple[str, str]], items: dict[str, BenchmarkItem], backend: str) -> list[Verdict]:
    """Verdicts of 0 for items a model gave no prediction for (a model's failure is scored, not skipped)."""
    return [
        missing_verdict(item_id, model, items[item_id].ability, items[item_id].question_type,
                        items[item_id].attribute, items[item_id].lang, backend)
        for item_id, model in missing
    ]


def missing_verdict(
    item_id: str, model: str, ability: Any, question_type: Any, attribute: Any, language: Any, backend: str
) -> Verdict:
    """The verdict of 0 for one item a model gave no prediction for."""
    return Verdict(
        item_id=item_id, model=model, ability=ability, question_type=question_type, attribute=attribute,
        language=language, score=0.0, rationale=NO_PREDICTION, method=METHOD_MISSING, rubric=NON_ANSWER_RULE,
        rubric_sha=NON_ANSWER_SHA, backend=backend, cache_key=cache_key("non-answer", NON_ANSWER_RULE, METHOD_MISSING),
    )
