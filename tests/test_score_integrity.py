"""Score integrity: a benchmark number cannot be raised by answering less.

A model's failure (no prediction, an empty or over-long answer, an MCQ answer no rule can read) counts 0 in
every mean; only a judge's failure is unscored, and then the table says it is incomplete.
"""

from __future__ import annotations

from fakes import FakeBackend

from judge.limits import MAX_CANDIDATE_CHARS
from judge.models import BenchmarkItem, Case, Judgment, Prediction
from judge.rubrics import load_rubric
from judge.score_run import score_items
from judge.scoring import NON_ANSWER_RULE, Scorer, tasks_for

OPTIONS = {"A": "Papule", "B": "Plaque", "C": "Vesicle", "D": "Nodule"}


def _mcq(n: int, gold: str = "B") -> BenchmarkItem:
    return BenchmarkItem(id=f"q{n}", split="test", ability="lesion_recognition", question_type="mcq",
                         question=f"Which primary lesion is seen? ({n})", options=OPTIONS, answer=gold)


def _open(n: int) -> BenchmarkItem:
    return BenchmarkItem(id=f"o{n}", split="test", ability="attribute_recognition", question_type="short_answer",
                         question="What color is the lesion?", answer="pink", attribute="color")


def _avg(result, model: str) -> float:
    return next(r for r in result.table.rows if r.model == model).avg.score


def test_a_model_that_skips_items_cannot_beat_the_complete_run(store):
    items = [_open(n) for n in range(8)]
    answers = ["pink", "red", "pink", "brown", "pink", "pink", "blue", "pink"]
    full = [Prediction(id=f"o{n}", model="full", prediction=a) for n, a in enumerate(answers)]
    # the skipper leaves out exactly the items it would have got wrong
    skipper = [Prediction(id=f"o{n}", model="skipper", prediction=a) for n, a in enumerate(answers) if a == "pink"]
    result = score_items(items, full + skipper, store=store)
    assert _avg(result, "skipper") <= _avg(result, "full")
    assert _avg(result, "skipper") == 62.5  # 5 right of 8, not 5 of 5
    row = next(r for r in result.table.rows if r.model == "skipper")
    assert row.avg.answered == 5 and row.avg.n == 8 and row.non_answers == {"missing": 3}
    assert result.table.complete  # a model's failure is not a judge's: the table is complete
    missing = [v for v in result.verdicts if v.method == "missing"]
    assert len(missing) == 3 and all(v.score == 0.0 and v.rubric == NON_ANSWER_RULE for v in missing)
    assert all(len(v.rubric_sha) == 64 for v in missing)


def test_hedging_between_options_never_beats_committing(store):
    """`C or D` for gold B three times once scored 100 against 25 for a model that answered `C`."""
    items = [_mcq(n) for n in range(4)]
    hedger = [Prediction(id=f"q{n}", model="hedger", prediction="C or D") for n in range(3)]
    committed = [Prediction(id=f"q{n}", model="committed", prediction="C") for n in range(3)]
    last = [Prediction(id="q3", model=m, prediction="B") for m in ("hedger", "committed")]
    result = score_items(items, hedger + committed + last, store=store)
    assert _avg(result, "hedger") <= _avg(result, "committed") == 25.0
    assert result.table.complete


def test_an_unreadable_mcq_answer_counts_zero_with_the_embedded_judge(store):
    items = [_mcq(0)]
    pred = Prediction(id="q0", model="m", prediction="Hmm. The plaque could be the vesicle, or a papule; the nodule?")
    result = score_items(items, [pred], store=store)
    (v,) = result.verdicts
    assert v.score == 0.0 and v.extracted == []
    assert v.method in ("mcq:unreadable", "mcq:hedge", "mcq:conflicting")
    assert result.table.complete and result.table.unscored == 0


def test_an_llm_backend_still_reads_what_the_rules_cannot(store):
    backend = FakeBackend(extract_letters=["B"])
    items = [_mcq(0)]
    pred = Prediction(id="q0", model="m", prediction="Looking at it, the raised flat-topped one, second from top.")
    (v,) = Scorer(backend, load_rubric("v3"), store).score(tasks_for(items, [pred])[0])
    assert v.method == "mcq:llm" and v.score == 1.0 and backend.calls


def test_empty_and_over_long_answers_are_zero_without_asking_the_judge(store):
    backend = FakeBackend()
    items = [_open(0), _open(1), _mcq(2)]
    preds = [Prediction(id="o0", model="m", prediction="   \n"),
             Prediction(id="o1", model="m", prediction="pink " * (MAX_CANDIDATE_CHARS // 5 + 1)),
             Prediction(id="q2", model="m", prediction="")]
    verdicts = Scorer(backend, load_rubric("v3"), store).score(tasks_for(items, preds)[0])
    assert [v.method for v in verdicts] == ["empty", "over_limit", "empty"]
    assert all(v.score == 0.0 for v in verdicts) and backend.calls == []
    assert "over the limit" in verdicts[1].rationale


def test_a_judge_failure_is_unscored_and_marks_the_table_incomplete(store):
    def broken(case: Case) -> Judgment:
        return Judgment(score=None, unscored_reason="unparseable reply after 2 re-asks", raw_output="???")

    items = [_open(0), _open(1)]
    preds = [Prediction(id="o0", model="m", prediction="pink"), Prediction(id="o1", model="m", prediction="rose")]
    result = score_items(items, preds, store=store, backend=FakeBackend(broken))
    assert not result.table.complete and result.table.unscored == 2
    assert all(v.score is None and v.unscored_reason for v in result.verdicts)
    assert result.table.rows[0].avg.answered == 2


def test_copies_of_the_sample_with_case_numbers_cannot_shift_any_model(store):
    """Copying the bundled sample with ` (case N)` once lifted the text-only model from 15.4 to 22.8 AVG."""
    from judge.io import read_benchmark, read_predictions
    from tests.conftest import ROOT

    sample = ROOT / "examples" / "medlesion_sample"
    items = read_benchmark(sample / "benchmark.jsonl")
    preds = [p for f in sorted((sample / "predictions").glob("*.jsonl")) for p in read_predictions(f)]
    base = score_items(items, preds, store=store)
    styles = [" (case {n})", " Case {n}.", "（病例{n}）", " [#{n}]"]
    copies, copied = [], []
    for n, style in enumerate(styles, start=2):
        copies += [i.model_copy(update={"id": f"{i.id}-{n}", "question": i.question + style.format(n=n)}) for i in items]
        copied += [p.model_copy(update={"id": f"{p.id}-{n}"}) for p in preds]
    padded = score_items(copies, copied, store=store)
    assert {r.model: r.avg.score for r in padded.table.rows} == {r.model: r.avg.score for r in base.table.rows}
