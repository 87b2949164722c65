"""Juries: the aggregation rules (pure), agreement, and a run with per-judge rows stored."""

from __future__ import annotations

import json

import pytest

from judge.jury import aggregate, combine_scores, floor_to_scale, judge_agreement, jury_spec, render_agreement
from judge.models import BenchmarkItem, Judgment, Prediction, Verdict
from judge.score_run import score_items
from judge.testing.openai_server import ChatRequest, FakeOpenAIServer, verdict
from tests.conftest import item, mcq_item
from tests.fakes import FakeBackend

# ------------------------------------------------------------------------------ the rules


@pytest.mark.parametrize(
    ("scores", "expected", "rule"),
    [
        ([1, 1, 0], 1, "median"),
        ([0, 0.5, 1], 0.5, "median"),
        ([0, 0, 1], 0, "median"),
        ([0.5, 1, 1], 1, "median"),
        ([1, 0.5], 0.5, "mean-down"),  # one step apart: the stricter
        ([0.5, 0], 0, "mean-down"),
        ([1, 0], 0.5, "mean-down"),  # complete disagreement: half credit
        ([1, 1], 1, "mean-down"),
        ([1, None, 0.5], 0.5, "mean-down"),  # 2 of 3 scored: the two-judge rule
        ([1, None], None, "quorum"),  # 1 of 2 is no majority
        ([None, None, 1], None, "quorum"),
        ([0, 0.5, 1, 1], 0.5, "median"),  # even >= 4: middle two (0.5, 1) by the two-judge rule
        ([0, 0, 1, 1, 1], 1, "median"),
    ],
)
def test_combine_scores(scores, expected, rule):
    assert combine_scores(scores) == (expected, rule)


def test_mcq_partial_credit_two_judges_takes_the_lower():
    assert combine_scores([0.25, 1.0], on_scale=False) == (0.25, "min")
    assert combine_scores([0.25, 1.0, 0.5], on_scale=False) == (0.5, "median")


def test_floor_to_scale():
    assert [floor_to_scale(x) for x in (0, 0.25, 0.5, 0.75, 1)] == [0, 0, 0.5, 0.5, 1]


# ---------------------------------------------------------------------- aggregate verdicts


def _v(item_id: str, backend: str, score: float | None, method: str = "critic", **kw) -> Verdict:
    return Verdict(
        item_id=item_id,
        model="m",
        score=score,
        method=method,
        rubric="clinical/v3",
        rubric_sha="s",
        backend=backend,
        cache_key=f"{backend}:{item_id}",
        unscored_reason=None if score is not None else "unparseable",
        **kw,
    )


def test_aggregate_verdicts_keep_votes_and_provenance():
    per = {
        "a/x": [_v("i1", "a/x", 1), _v("i2", "a/x", 0), _v("q1", "a/x", 1, method="mcq:answer_prefix")],
        "b/y": [_v("i1", "b/y", 0.5), _v("i2", "b/y", None), _v("q1", "b/y", 1, method="mcq:answer_prefix")],
        "c/z": [_v("i1", "c/z", 1), _v("i2", "c/z", 0), _v("q1", "c/z", 1, method="mcq:answer_prefix")],
    }
    out = {v.item_id: v for v in aggregate(per)}
    assert all(v.backend == "jury(a/x,b/y,c/z)" for v in out.values())
    assert out["i1"].score == 1 and out["i1"].method == "jury:median"
    assert out["i1"].rationale == "a/x: 1 | b/y: 0.5 | c/z: 1 -> 1 (median)"
    assert out["i2"].score == 0 and out["i2"].method == "jury:mean-down"
    assert out["q1"].method == "mcq:answer_prefix" and out["q1"].score == 1  # the rules decided it, as is
    assert set(out["i1"].params["judges"]) == {"a/x", "b/y", "c/z"}


def test_aggregate_unscored_without_quorum_says_why():
    per = {"a/x": [_v("i1", "a/x", 1)], "b/y": [_v("i1", "b/y", None)]}
    (v,) = aggregate(per)
    assert v.score is None and v.unscored_reason.startswith("jury: only 1 of 2 judges scored")
    assert "b/y: unparseable" in v.unscored_reason


def test_agreement_hand_computed():
    a = [_v(f"i{n}", "a/x", s) for n, s in enumerate([0, 0.5, 1, 1])]
    b = [_v(f"i{n}", "b/y", s) for n, s in enumerate([0, 0.5, 1, 0.5])]
    rep = judge_agreement({"a/x": a, "b/y": b})
    (pair,) = rep.pairs
    assert pair.n == 4 and pair.exact == 0.75
    # by hand: value counts n(0)=2, n(.5)=3, n(1)=3, n=8; the only disagreement (1 vs .5) gives
    # observed sum 2 * d(.5,1) = 2 * ((3+3)/2)^2 = 18; expected sum 2*(6*6.25 + 9*9 + 6*30.25) = 600;
    # alpha = 1 - (n-1) * 18 / 600 = 0.79
    assert pair.alpha == pytest.approx(0.79, abs=1e-9)
    assert rep.alpha == pytest.approx(0.79, abs=1e-9) and rep.unanimous == 0.75
    assert "exact  75.0%" in render_agreement(rep)


def test_agreement_undefined_without_variation():
    a = [_v(f"i{n}", "a/x", 1) for n in range(3)]
    rep = judge_agreement({"a/x": a, "b/y": [v.model_copy(update={"backend": "b/y"}) for v in a]})
    assert rep.alpha is None and rep.pairs[0].exact == 1.0 and rep.unanimous == 1.0


# ------------------------------------------------------------------------ a whole jury run


def _items() -> list[BenchmarkItem]:
    rows = [item(f"o{i}", answer="pink") for i in range(4)] + [mcq_item("q1")]
    return [BenchmarkItem.model_validate(r) for r in rows]


def _preds() -> list[Prediction]:
    answers = ["pink", "pinkish red", "violet", "pink or violet"]
    return [Prediction(id=f"o{i}", model="vlm", prediction=a) for i, a in enumerate(answers)] + [
        Prediction(id="q1", model="vlm", prediction="Answer: A, C")
    ]


def _script(scores: dict[str, float]):
    def script(case):
        return Judgment(score=scores.get(case.candidate, 0.0), rationale="scripted", raw_output="fake")

    return script


def test_jury_run_stores_per_judge_and_aggregate_rows(store):
    judges = [
        FakeBackend(_script({"pink": 1, "pinkish red": 1, "pink or violet": 0.5}), spec="fake/a"),
        FakeBackend(_script({"pink": 1, "pinkish red": 0.5, "pink or violet": 0}), spec="fake/b"),
        FakeBackend(_script({"pink": 1, "pinkish red": 0.5, "violet": 0.5}), spec="fake/c"),
    ]
    result = score_items(_items(), _preds(), store=store, backends=judges, benchmark=None)
    spec = jury_spec(["fake/a", "fake/b", "fake/c"])
    assert result.provenance["backend"] == spec
    scores = {v.item_id: v.score for v in result.verdicts}
    assert scores == {"o0": 1, "o1": 0.5, "o2": 0, "o3": 0, "q1": 1}
    rows = store.verdict_rows(result.run_id)
    backends = {r["backend"] for r in rows}
    assert backends == {"fake/a", "fake/b", "fake/c", spec}
    assert len(rows) == 4 * 5
    # MCQ answers the rules decided are never sent to a judge
    assert all("Answer: A, C" not in j.calls for j in judges)
    assert all(len(j.calls) == 4 for j in judges)
    assert result.jury is not None and result.jury.n == 4
    summary = json.loads(store.get_run(result.run_id)["summary"])
    assert summary["jury"]["judges"] == ["fake/a", "fake/b", "fake/c"]


def test_two_judge_jury_through_the_http_server(store):
    strict = {"pink": 1, "pinkish red": 0.5, "violet": 0, "pink or violet": 0}
    lenient = {"pink": 1, "pinkish red": 1, "violet": 0, "pink or violet": 1}

    def script(req: ChatRequest) -> str:
        table = strict if req.model == "strict" else lenient
        return verdict(table[req.candidate])

    with FakeOpenAIServer(script) as server:
        result = score_items(
            _items(),
            _preds(),
            store=store,
            benchmark=None,
            backends=["openai/strict", "openai/lenient"],
            backend_options={"api_base": server.url},
        )
        assert server.total == 8  # 4 open answers x 2 judges; the MCQ was decided by the rules
    scores = {v.item_id: v.score for v in result.verdicts}
    assert scores == {"o0": 1, "o1": 0.5, "o2": 0, "o3": 0.5, "q1": 1}
    assert result.usage.calls == 8 and result.usage.judgments == 8
    assert result.jury is not None and result.jury.pairs[0].exact == 0.5


def test_same_backend_twice_is_an_error(store):
    from judge.errors import InputError

    with pytest.raises(InputError, match="named twice"):
        score_items(
            _items(),
            _preds(),
            store=store,
            benchmark=None,
            backends=[FakeBackend(spec="fake/a"), FakeBackend(spec="fake/a")],
        )
