"""The scorer: MCQ rules, cache, dedupe, resume, never a silent 0."""

from __future__ import annotations

import asyncio

import pytest
from fakes import FakeBackend

from judge.models import BenchmarkItem, Case, Judgment, Prediction
from judge.rubrics import load_rubric
from judge.scoring import NO_PREDICTION, Scorer, Task, tasks_for


def _items():
    return [
        BenchmarkItem(id="o1", split="test", ability="attribute_recognition", question_type="short_answer",
                      question="What color?", answer="pink", attribute="color"),
        BenchmarkItem(id="o2", split="val", ability="disease_diagnosis", question_type="short_answer",
                      question="Diagnosis?", answer=["psoriasis", "plaque psoriasis"]),
        BenchmarkItem(id="m1", split="test", ability="lesion_recognition", question_type="mcq", question="Which?",
                      options={"A": "Papule", "B": "Plaque", "C": "Vesicle", "D": "Nodule"}, answer="A,C"),
    ]


def _preds(model="m", o1="pink", o2="plaque psoriasis", m1="A"):
    return [Prediction(id="o1", model=model, prediction=o1), Prediction(id="o2", model=model, prediction=o2),
            Prediction(id="m1", model=model, prediction=m1)]


def test_scores_open_and_mcq_with_provenance(store):
    backend = FakeBackend()
    tasks, missing = tasks_for(_items(), _preds())
    verdicts = Scorer(backend, load_rubric("v3"), store).score(tasks)
    assert missing == []
    by_id = {v.item_id: v for v in verdicts}
    assert by_id["o1"].score == 1.0 and by_id["o2"].score == 1.0  # a list of references: any one suffices
    assert by_id["m1"].score == 0.5 and by_id["m1"].extracted == ["A"] and by_id["m1"].method.startswith("mcq:")
    v = by_id["o1"]
    assert v.rubric == "clinical/v3" and len(v.rubric_sha) == 64 and v.backend == "fake/exact"
    assert v.params == {"script": "exact_match"} and v.raw_output == "fake" and len(v.cache_key) == 64
    assert backend.calls == ["pink", "plaque psoriasis"]  # MCQ decided by rules: no backend call


def test_rerun_is_served_from_cache_and_identical_cases_are_judged_once(store):
    backend = FakeBackend()
    tasks, _ = tasks_for(_items(), _preds("a") + _preds("b"))
    first = Scorer(backend, load_rubric("v3"), store).score(tasks)
    assert backend.calls == ["pink", "plaque psoriasis"]  # model b gave the same answers
    again = FakeBackend()
    scorer = Scorer(again, load_rubric("v3"), store)
    second = scorer.score(tasks)
    assert again.calls == []
    assert [v.score for v in first] == [v.score for v in second]
    assert all(v.cached for v in second if v.method == "critic")
    assert scorer.stats.cached == 4


def test_cache_key_changes_with_rubric_and_backend(store):
    tasks, _ = tasks_for(_items(), _preds())
    Scorer(FakeBackend(), load_rubric("v3"), store).score(tasks)
    other = FakeBackend()
    Scorer(other, load_rubric("v2"), store).score(tasks)
    assert len(other.calls) == 2
    renamed = FakeBackend(spec="fake/other")
    Scorer(renamed, load_rubric("v3"), store).score(tasks)
    assert len(renamed.calls) == 2


def test_undecidable_mcq_is_unscored_with_the_reason_never_zero(store):
    tasks, _ = tasks_for(_items(), _preds(m1="The answer is B: Papule"))  # letter and text disagree
    verdicts = Scorer(FakeBackend(), load_rubric("v3"), store).score(tasks)
    m1 = next(v for v in verdicts if v.item_id == "m1")
    assert m1.score is None and m1.method == "mcq:llm"
    assert "rules:" in m1.unscored_reason and "fake cannot read it" in m1.unscored_reason


def test_llm_extraction_result_is_scored_by_the_mcq_rule(store):
    tasks, _ = tasks_for(_items(), _preds(m1="hmm, the first and third? final: A or B"))
    verdicts = Scorer(FakeBackend(extract_letters=["A", "C"]), load_rubric("v3"), store).score(tasks)
    m1 = next(v for v in verdicts if v.item_id == "m1")
    assert m1.score == 1.0 and m1.extracted == ["A", "C"] and m1.method == "mcq:llm"


def test_unparseable_judgment_stays_unscored_and_is_counted(store):
    def garbled(case: Case) -> Judgment:
        return Judgment(score=None, unscored_reason="unparseable reply after 2 re-asks", raw_output="blah")

    tasks, _ = tasks_for(_items(), _preds())
    scorer = Scorer(FakeBackend(garbled), load_rubric("v3"), store)
    verdicts = scorer.score(tasks)
    open_ = [v for v in verdicts if v.method == "critic"]
    assert all(v.score is None and v.raw_output == "blah" for v in open_)
    assert scorer.stats.unscored == 2


def test_transient_failures_are_not_cached(store):
    def flaky(case: Case) -> Judgment:
        return Judgment(score=None, unscored_reason="timeout after 5 retries", transient=True)

    tasks, _ = tasks_for(_items(), _preds())
    Scorer(FakeBackend(flaky), load_rubric("v3"), store).score(tasks)
    healthy = FakeBackend()
    verdicts = Scorer(healthy, load_rubric("v3"), store).score(tasks)
    assert len(healthy.calls) == 2 and all(v.score is not None for v in verdicts)


def test_a_crash_keeps_what_finished(store):
    """A run that dies mid-way keeps every finished judgment; the rerun computes only the rest."""

    class Dies(FakeBackend):
        async def judge(self, case, rubric):
            if len(self.calls) == 1:
                raise KeyboardInterrupt
            return await super().judge(case, rubric)

    items = [BenchmarkItem(id=f"i{n}", split="test", ability="lesion_recognition", question_type="short_answer",
                           question="Lesion?", answer="papule") for n in range(3)]
    preds = [Prediction(id=f"i{n}", model="m", prediction=f"answer {n}") for n in range(3)]
    tasks, _ = tasks_for(items, preds)
    with pytest.raises(KeyboardInterrupt):
        Scorer(Dies(), load_rubric("v3"), store, concurrency=1).score(tasks)
    assert store.count_judgments() == 1
    again = FakeBackend()
    Scorer(again, load_rubric("v3"), store).score(tasks)
    assert again.calls == ["answer 1", "answer 2"]


def test_missing_predictions_are_reported(store):
    tasks, missing = tasks_for(_items(), [Prediction(id="o1", model="m", prediction="pink")])
    assert [t.item_id for t in tasks] == ["o1"] and sorted(missing) == [("m1", "m"), ("o2", "m")]
    assert NO_PREDICTION == "no prediction for this item"


def test_progress_reports_every_item(store):
    seen = []
    tasks, _ = tasks_for(_items(), _preds())
    Scorer(FakeBackend(), load_rubric("v3"), store, progress=lambda d, t, u: seen.append((d, t))).score(tasks)
    assert seen[-1] == (3, 3)


def test_concurrency_is_bounded(store):
    state = {"now": 0, "peak": 0}

    class Slow(FakeBackend):
        async def judge(self, case, rubric):
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            await asyncio.sleep(0.01)
            state["now"] -= 1
            return await super().judge(case, rubric)

    items = [BenchmarkItem(id=f"i{n}", split="test", ability="lesion_recognition", question_type="short_answer",
                           question="Lesion?", answer="papule") for n in range(20)]
    preds = [Prediction(id=f"i{n}", model="m", prediction=f"a{n}") for n in range(20)]
    Scorer(Slow(), load_rubric("v3"), store, concurrency=4).score(tasks_for(items, preds)[0])
    assert state["peak"] == 4


def test_task_gold_letters_only_on_mcq():
    tasks, _ = tasks_for(_items(), _preds())
    assert {t.item_id: t.gold_letters for t in tasks} == {"o1": None, "o2": None, "m1": frozenset({"A", "C"})}
    assert isinstance(tasks[0], Task)


def test_embedded_judge_in_processes_gives_the_serial_verdicts(monkeypatch, tmp_path):
    from judge import scoring
    from judge.backends import get_backend
    from judge.store import Store

    monkeypatch.setattr(scoring, "PARALLEL_MIN", 10)
    answers = ["pink", "skin tone", "red", "not pink", "粉红色", "brown", "pink or red or brown", "light pink"]
    items = [BenchmarkItem(id=f"i{n}", split="test", ability="attribute_recognition", question_type="short_answer",
                           question=f"[{n}] What color is the lesion?", answer="pink", attribute="color") for n in range(40)]
    preds = [Prediction(id=f"i{n}", model="m", prediction=answers[n % len(answers)]) for n in range(40)]
    tasks, _ = tasks_for(items, preds)
    serial = Scorer(get_backend("local"), load_rubric("v3"), Store.open(tmp_path / "a.db")).score(tasks)
    forked = Scorer(get_backend("local"), load_rubric("v3"), Store.open(tmp_path / "b.db"), workers=2).score(tasks)
    assert [(v.score, v.rationale) for v in serial] == [(v.score, v.rationale) for v in forked]
    assert {v.score for v in serial} >= {0.0, 1.0}
