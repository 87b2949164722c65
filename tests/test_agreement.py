"""Agreement maths: hand-computed values, library cross-checks, bootstrap, slices, unscored."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from judge.agreement import (
    MIN_CI_N,
    MISSING_VERDICT,
    JudgedScore,
    align_verdicts,
    alpha_from_counts,
    bootstrap_indices,
    build_report,
    cohen_kappa,
    compare_scores,
    confusion,
    consensus,
    exact_agreement,
    inter_rater,
    krippendorff_alpha,
    mean_abs_diff,
    paired_difference,
    percentile_ci,
    signed_bias,
    value_counts,
)
from judge.errors import InputError
from judge.models import GoldRating

# Two coders (gold, judge), six units.
#
#   unit   1    2    3    4    5    6
#   gold   0    0    0.5  1    1    1        codes 0 0 1 2 2 2
#   judge  0    0.5  0.5  1    0    1        codes 0 1 1 2 0 2
#
# Exact agreement 4/6; mean |diff| = (0.5 + 1) / 6 = 0.25; bias = (0.5 - 1) / 6 = -1/12.
# Confusion (rows gold, cols judge): [[1,1,0],[0,1,0],[1,0,2]].
#
# Cohen's kappa. Marginals: gold r = (2,1,3), judge c = (2,2,2), n = 6.
#   unweighted: po = 4/6, pe = (2*2 + 1*2 + 3*2)/36 = 1/3, kappa = (2/3 - 1/3)/(2/3) = 1/2
#   linear w = |i-j|: observed = (1*1 + 2*1)/6 = 1/2;
#       expected = sum_ij w r_i c_j / 36 = 2*(2*3 + 1*2 + 3*3)/36 = 34/36; kappa = 1 - 18/34 = 8/17
#   quadratic w = (i-j)^2: observed = (1 + 4)/6 = 5/6;
#       expected = 2*(2*5 + 1*2 + 3*5)/36 = 54/36; kappa = 1 - (5/6)/(3/2) = 4/9
#
# Krippendorff's alpha. Coincidence matrix (each unit gives both ordered pairs):
#   o = [[2,1,1],[1,2,0],[1,0,4]], n_c = (4,3,5), n = 12.
#   nominal: Do = 4/12, De = (144 - 16 - 9 - 25)/(12*11) = 94/132, alpha = 1 - 528/1128 = 25/47
#   ordinal: d01 = ((4+3)/2)^2 = 12.25, d12 = ((3+5)/2)^2 = 16, d02 = (12 - 9/2)^2 = 56.25
#       Do = (2*12.25 + 2*56.25)/12 = 137/12
#       De = (2*12*12.25 + 2*20*56.25 + 2*15*16)/132 = 3024/132
#       alpha = 1 - (137*132)/(12*3024) = 1517/3024
#   interval (codes 0,1,2; alpha is scale-free): d01 = 1, d12 = 1, d02 = 4
#       Do = (2*1 + 2*4)/12 = 10/12, De = (2*12*1 + 2*20*4 + 2*15*1)/132 = 214/132
#       alpha = 1 - 1320/2568 = 52/107
GOLD = [0, 0, 0.5, 1, 1, 1]
JUDGE = [0, 0.5, 0.5, 1, 0, 1]


def test_hand_computed_kappas_and_means():
    assert cohen_kappa(GOLD, JUDGE) == pytest.approx(1 / 2)
    assert cohen_kappa(GOLD, JUDGE, "linear") == pytest.approx(8 / 17)
    assert cohen_kappa(GOLD, JUDGE, "quadratic") == pytest.approx(4 / 9)
    assert exact_agreement(GOLD, JUDGE) == pytest.approx(4 / 6)
    assert mean_abs_diff(GOLD, JUDGE) == pytest.approx(0.25)
    assert signed_bias(GOLD, JUDGE) == pytest.approx(-1 / 12)
    assert confusion(GOLD, JUDGE) == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_hand_computed_alphas():
    table = list(zip(GOLD, JUDGE, strict=True))
    assert krippendorff_alpha(table, "nominal") == pytest.approx(25 / 47)
    assert krippendorff_alpha(table, "ordinal") == pytest.approx(1517 / 3024)
    assert krippendorff_alpha(table, "interval") == pytest.approx(52 / 107)


def test_metric_set_matches_hand_values_and_libraries():
    m = compare_scores(GOLD, JUDGE, n_boot=50)
    assert (m.n, m.n_scored, m.n_unscored, m.small) == (6, 6, 0, True)
    assert m.alpha_ordinal == pytest.approx(1517 / 3024)
    assert m.kappa_quadratic == pytest.approx(4 / 9)
    assert m.bias == pytest.approx(-1 / 12)
    # and directly against the libraries on the raw scores
    for level in ("nominal", "ordinal", "interval"):
        ref = krippendorff.alpha(reliability_data=[GOLD, JUDGE], level_of_measurement=level)
        assert getattr(m, f"alpha_{level}") == pytest.approx(ref)
    codes_g, codes_j = [int(2 * x) for x in GOLD], [int(2 * x) for x in JUDGE]
    for name, w in (("kappa", None), ("kappa_linear", "linear"), ("kappa_quadratic", "quadratic")):
        assert getattr(m, name) == pytest.approx(cohen_kappa_score(codes_g, codes_j, weights=w))


def test_alpha_matches_library_on_random_multi_rater_data():
    rng = np.random.default_rng(7)
    data = rng.choice([0.0, 0.5, 1.0, np.nan], size=(4, 40), p=[0.3, 0.2, 0.4, 0.1])
    table = [[None if np.isnan(v) else float(v) for v in col] for col in data.T]
    for level in ("nominal", "ordinal", "interval"):
        ref = krippendorff.alpha(reliability_data=data, value_domain=[0, 0.5, 1], level_of_measurement=level)
        assert krippendorff_alpha(table, level) == pytest.approx(ref)
    irr = inter_rater(table, ["a", "b", "c", "d"], n_boot=20)
    assert irr is not None
    assert irr.alpha_ordinal == pytest.approx(
        krippendorff.alpha(reliability_data=data, value_domain=[0, 0.5, 1], level_of_measurement="ordinal")
    )
    assert "alpha_ordinal" in irr.ci


def test_inter_rater_needs_two_raters_and_counts_pairable_units():
    assert inter_rater([[1.0], [0.0]], ["solo"]) is None
    irr = inter_rater([[1.0, 1.0], [0.0, None], [0.5, 0.0]], ["a", "b"], n_boot=0)
    assert irr is not None and irr.n_units == 2 and irr.ci == {}


def test_alpha_undefined_is_none():
    assert krippendorff_alpha([[1.0, 1.0], [1.0, 1.0]]) is None  # no variation: 0/0
    assert alpha_from_counts(np.zeros((0, 3))) is None
    assert alpha_from_counts(value_counts(np.array([[0, -1], [2, -1]]))) is None  # nothing pairable
    assert cohen_kappa([1, 1], [1, 1]) is None


def test_off_scale_scores_are_rejected():
    with pytest.raises(ValueError, match="not on the scale"):
        cohen_kappa([0, 0.3], [0, 1])
    with pytest.raises(ValueError, match="not on the scale"):
        JudgedScore(id="x", score=0.7)


@pytest.mark.parametrize(
    ("ratings", "expected"),
    [
        ([1.0], 1.0),
        ([0.0, 0.5], 0.5),  # median 0.25 -> 0.5
        ([0.5, 1.0], 0.5),  # median 0.75 -> 0.5
        ([0.0, 1.0], 0.5),
        ([0.0, 0.0, 1.0], 0.0),
        ([0.0, 0.0, 0.5, 1.0], 0.5),  # median 0.25 -> 0.5
        ([1.0, None, 1.0], 1.0),
        ([None, None], None),
        ([], None),
    ],
)
def test_consensus_rule(ratings, expected):
    assert consensus(ratings) == expected


def test_bootstrap_is_deterministic_and_seeded():
    rng = np.random.default_rng(1)
    gold = rng.choice([0.0, 0.5, 1.0], size=80).tolist()
    judge = [g if rng.random() < 0.7 else float(rng.choice([0.0, 0.5, 1.0])) for g in gold]
    a = compare_scores(gold, judge, n_boot=200, seed=3)
    b = compare_scores(gold, judge, n_boot=200, seed=3)
    c = compare_scores(gold, judge, n_boot=200, seed=4)
    assert a.ci == b.ci
    assert a.ci["alpha_ordinal"] != c.ci["alpha_ordinal"]
    assert set(a.ci) == {
        "alpha_ordinal",
        "alpha_interval",
        "alpha_nominal",
        "kappa",
        "kappa_linear",
        "kappa_quadratic",
        "exact_agreement",
        "mean_abs_diff",
        "bias",
    }
    for name, ci in a.ci.items():
        assert ci.low <= getattr(a, name) <= ci.high, name
    # the exact-agreement CI is the percentile interval of the resampled means
    hits = np.array([g == j for g, j in zip(gold, judge, strict=True)], dtype=float)
    reps = np.concatenate([hits[chunk].mean(axis=1) for chunk in bootstrap_indices(80, 200, 3, "overall")])
    lo, hi = np.percentile(reps, [2.5, 97.5])
    assert a.ci["exact_agreement"].low == pytest.approx(lo)
    assert a.ci["exact_agreement"].high == pytest.approx(hi)


def test_bootstrap_indices_chunks_and_keys():
    chunks = list(bootstrap_indices(10, 600, seed=0, key="k"))
    assert [len(c) for c in chunks] == [250, 250, 100]
    again = np.concatenate(list(bootstrap_indices(10, 600, seed=0, key="k")))
    assert np.array_equal(np.concatenate(chunks), again)
    other = np.concatenate(list(bootstrap_indices(10, 600, seed=0, key="other")))
    assert not np.array_equal(again, other)


def test_core_ci_only_in_slices_and_none_below_min_n():
    gold = [0.0, 0.5, 1.0, 1.0, 0.0, 0.5]
    judge = [0.0, 0.5, 1.0, 0.5, 0.0, 0.5]
    core = compare_scores(gold, judge, n_boot=50, full_ci=False)
    assert set(core.ci) == {"alpha_ordinal", "exact_agreement", "mean_abs_diff", "bias"}
    assert compare_scores(gold, judge, n_boot=50, kappa_ci=False).ci == core.ci  # the draft's name still works
    few = compare_scores(gold[: MIN_CI_N - 1], judge[: MIN_CI_N - 1], n_boot=50)
    assert few.ci == {} and few.small
    enough = compare_scores(gold[:MIN_CI_N], judge[:MIN_CI_N], n_boot=50)
    assert enough.ci


def test_percentile_ci_gives_up_when_most_replicates_are_undefined():
    assert percentile_ci([np.nan] * 6 + [0.1] * 4) is None
    ci = percentile_ci([np.nan] + [0.5] * 9)
    assert ci is not None and ci.low == ci.high == 0.5


def test_paired_difference_sign_and_same_indices():
    rng = np.random.default_rng(2)
    gold = rng.choice([0.0, 0.5, 1.0], size=120).tolist()
    good = [g if rng.random() < 0.95 else 0.5 for g in gold]
    bad = [g if rng.random() < 0.5 else float(rng.choice([0.0, 1.0])) for g in gold]
    better = paired_difference(gold, bad, good, n_boot=300, seed=0, labels=("bad", "good"))
    assert better.alpha_diff is not None and better.alpha_diff > 0
    assert better.alpha_diff_ci is not None and better.alpha_diff_ci.low > 0
    assert better.share_positive == pytest.approx(1.0)
    assert better.exact_diff is not None and better.exact_diff > 0
    worse = paired_difference(gold, good, bad, n_boot=300, seed=0)
    assert worse.alpha_diff == pytest.approx(-better.alpha_diff)
    assert worse.share_positive == pytest.approx(0.0)
    # the same judge twice: identical resamples make every replicate difference exactly 0
    same = paired_difference(gold, good, good, n_boot=100)
    assert same.alpha_diff == 0 and same.share_positive == 0
    assert same.alpha_diff_ci is not None and same.alpha_diff_ci.low == same.alpha_diff_ci.high == 0


def test_paired_difference_uses_candidates_both_judges_scored():
    gold = [0.0, 0.5, 1.0, 1.0, 0.0, 0.5, 1.0]
    a = [0.0, 0.5, 1.0, None, 0.0, 0.5, 1.0]
    b = [0.0, 0.5, 1.0, 1.0, None, 0.5, 1.0]
    assert paired_difference(gold, a, b, n_boot=10).n == 5


# --------------------------------------------------------------------------- build_report


def _row(i: int, ability: str = "lesion_recognition", ratings: dict | None = None, **extra) -> GoldRating:
    return GoldRating(
        id=f"c{i}",
        ability=ability,
        question_type=extra.pop("question_type", "short_answer"),
        question=extra.pop("question", "What is the lesion?"),
        reference=extra.pop("reference", "papule"),
        candidate=extra.pop("candidate", "a papule"),
        ratings=ratings if ratings is not None else {"r1": 1.0},
        **extra,
    )


def _gold_set(n: int = 60, seed: int = 0) -> list[GoldRating]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        ability = "attribute_recognition" if i % 3 == 0 else "disease_diagnosis"
        attribute = ("color", "size")[i % 2] if ability == "attribute_recognition" else None
        a = float(rng.choice([0.0, 0.5, 1.0]))
        b = a if rng.random() < 0.8 else float(rng.choice([0.0, 0.5, 1.0]))
        question = "皮损是什么颜色？" if i % 4 == 0 else "What colour is it?"
        rows.append(_row(i, ability, {"r1": a, "r2": b}, attribute=attribute, question=question))
    return rows


def _judge(gold: list[GoldRating], seed: int = 1, accuracy: float = 0.8) -> list[JudgedScore]:
    rng = np.random.default_rng(seed)
    out = []
    for row in gold:
        target = consensus(row.ratings.values())
        score = target if rng.random() < accuracy else float(rng.choice([0.0, 0.5, 1.0]))
        out.append(JudgedScore(id=row.id, score=score, rationale="r"))
    return out


def _report(gold, judges, **kw):
    kw.setdefault("n_boot", 50)
    return build_report(
        gold, judges, gold_path="gold.jsonl", gold_sha256="abc", created="2025-01-01T00:00:00+00:00", **kw
    )


def test_single_judge_report_has_headline_keys_and_matches_overall():
    gold = _gold_set()
    report = _report(gold, {"local": _judge(gold)}, provenance={"local": {"backend": "local"}})
    dumped = report.model_dump()
    for key in ("n", "alpha_ordinal", "exact_agreement", "judges", "comparisons", "inter_rater"):
        assert key in dumped
    assert report.n == 60 and report.n_gold == 60
    assert report.alpha_ordinal == report.judges[0].overall.alpha_ordinal
    assert report.judges[0].provenance == {"backend": "local"}
    assert report.raters == ["r1", "r2"]
    assert report.inter_rater is not None and report.inter_rater.n_units == 60
    assert [r.rater for r in report.judges[0].vs_raters] == ["r1", "r2"]
    assert report.comparisons == []
    # consensus is what the judge is scored against
    cons = [consensus(r.ratings.values()) for r in gold]
    assert report.exact_agreement == pytest.approx(exact_agreement(cons, [v.score for v in _judge(gold)]))


def test_slices_counts_and_small_flags():
    gold = _gold_set()
    report = _report(gold, {"local": _judge(gold)})
    slices = {(s.dimension, s.value): s for s in report.judges[0].slices}
    assert slices[("ability", "attribute_recognition")].metrics.n == 20
    assert slices[("ability", "disease_diagnosis")].metrics.n == 40
    assert slices[("attribute", "color")].metrics.n == 10  # attribute-less rows are in no attribute slice
    assert slices[("attribute", "size")].metrics.n == 10
    assert slices[("question_type", "short_answer")].metrics.n == 60
    assert slices[("language", "zh")].metrics.n == 15  # detected from the question
    assert slices[("language", "en")].metrics.n == 45
    assert ("ability", "spatial_relation") not in slices  # empty slices are not listed
    assert slices[("attribute", "color")].metrics.small
    assert not slices[("ability", "disease_diagnosis")].metrics.small
    assert set(slices[("ability", "disease_diagnosis")].metrics.ci) == {
        "alpha_ordinal",
        "exact_agreement",
        "mean_abs_diff",
        "bias",
    }
    assert slices[("ability", "disease_diagnosis")].inter_rater is not None


def test_tiny_slice_has_no_ci():
    gold = _gold_set(30) + [_row(100 + i, "spatial_relation", {"r1": 1.0, "r2": 0.0}) for i in range(3)]
    report = _report(gold, {"local": _judge(gold)})
    tiny = next(s for s in report.judges[0].slices if s.value == "spatial_relation")
    assert tiny.metrics.n == 3 and tiny.metrics.small and tiny.metrics.ci == {}


def test_unscored_are_counted_overall_and_per_slice():
    gold = _gold_set()
    judged = _judge(gold)
    judged[0] = JudgedScore(id=judged[0].id, unscored_reason="unparseable reply")  # attribute_recognition, zh
    judged[3] = JudgedScore(id=judged[3].id)  # no reason given
    del judged[6]  # no verdict at all
    report = _report(gold, {"llm": judged})
    assert (report.n, report.n_scored, report.n_unscored) == (60, 57, 3)
    assert report.unscored_share == pytest.approx(3 / 60)
    assert report.judges[0].unscored_reasons == {"unparseable reply": 1, "unspecified": 1, MISSING_VERDICT: 1}
    slices = {(s.dimension, s.value): s.metrics for s in report.judges[0].slices}
    assert slices[("ability", "attribute_recognition")].n_unscored == 3
    assert slices[("ability", "disease_diagnosis")].n_unscored == 0
    assert slices[("language", "zh")].n_unscored == 1  # zh rows are 0, 4, 8, ...; only row 0 is unscored
    total = sum(m.n_unscored for (d, _), m in slices.items() if d == "ability")
    assert total == 3


def test_several_judges_get_sections_and_paired_comparison():
    gold = _gold_set(80)
    judges = {"good": _judge(gold, accuracy=0.95), "noisy": _judge(gold, seed=5, accuracy=0.4)}
    report = _report(gold, judges, n_boot=200)
    assert [j.label for j in report.judges] == ["good", "noisy"]
    assert report.alpha_ordinal == report.judges[0].overall.alpha_ordinal  # headline = first judge
    (comp,) = report.comparisons
    assert (comp.baseline, comp.other, comp.n) == ("good", "noisy", 80)
    assert comp.alpha_diff is not None and comp.alpha_diff < 0
    assert comp.share_positive is not None and comp.share_positive < 0.05


def test_binary_views_by_hand():
    # humans [1,1,0,0,0,0] (p1 = 1/3); the judge gives 0.5 twice.
    # judge = 1   -> [1,0,0,0,0,0]: po = 5/6, pe = 1/3*1/6 + 2/3*5/6 = 11/18, kappa = (4/18)/(7/18) = 4/7
    # judge >= .5 -> [1,1,1,0,0,0]: po = 5/6, pe = 1/3*1/2 + 2/3*1/2 = 1/2,   kappa = (1/3)/(1/2) = 2/3
    humans = [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    scores = [1.0, 0.5, 0.5, 0.0, 0.0, 0.0]
    gold = [_row(i, ratings={"human": h}) for i, h in enumerate(humans)]
    gold.append(_row(99, ratings={"a": 0.0, "b": 1.0}))  # a tie: consensus 0.5, no binary label
    judged = [JudgedScore(id=r.id, score=s) for r, s in zip(gold, [*scores, 1.0], strict=True)]
    report = _report(gold, {"j": judged})
    assert report.binary_gold
    b = report.judges[0].overall.binary
    assert b is not None
    assert (b.n, b.n_tied) == (6, 1)
    assert b.kappa_eq1 == pytest.approx(4 / 7)
    assert b.kappa_ge05 == pytest.approx(2 / 3)
    assert b.accuracy_eq1 == pytest.approx(5 / 6)
    assert b.accuracy_ge05 == pytest.approx(5 / 6)
    assert set(b.ci) == {"kappa_eq1", "kappa_ge05", "accuracy_eq1", "accuracy_ge05"}


def test_three_tier_gold_has_no_binary_view():
    gold = _gold_set()
    report = _report(gold, {"j": _judge(gold)})
    assert not report.binary_gold and report.binary is None


def test_align_verdicts_rejects_unknown_and_duplicate_ids():
    gold = [_row(1), _row(2)]
    aligned = align_verdicts(gold, [JudgedScore(id="c2", score=1.0)])
    assert [v.id for v in aligned] == ["c1", "c2"]
    assert aligned[0].score is None and aligned[0].unscored_reason == MISSING_VERDICT
    with pytest.raises(InputError, match="not in the gold set"):
        align_verdicts(gold, [JudgedScore(id="zzz", score=1.0)])
    with pytest.raises(InputError, match="two verdicts"):
        align_verdicts(gold, [JudgedScore(id="c1", score=1.0), JudgedScore(id="c1", score=0.0)])


def test_build_report_needs_gold_and_a_judge():
    with pytest.raises(InputError):
        _report([], {"j": []})
    with pytest.raises(InputError):
        _report([_row(1)], {})


def test_from_verdict():
    from judge.models import Verdict

    v = Verdict(
        item_id="c1",
        model="m",
        score=None,
        unscored_reason="refused",
        method="critic",
        rubric="clinical/v3",
        rubric_sha="s",
        backend="local",
        cache_key="k",
    )
    js = JudgedScore.from_verdict(v)
    assert (js.id, js.score, js.unscored_reason) == ("c1", None, "refused")
