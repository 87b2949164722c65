"""How well a judge agrees with human-rated gold sets: pure metric functions, no I/O.

Every figure comes from a library: Krippendorff's alpha from ``krippendorff.alpha`` (fed a
units x 3 ``value_counts`` matrix over the scale 0 / 0.5 / 1), Cohen's kappa and the confusion
matrix from ``sklearn.metrics`` (scores mapped 0 / 0.5 / 1 -> 0 / 1 / 2, ``labels=[0, 1, 2]``).
Means (exact agreement, mean absolute difference, signed bias) are numpy means.

Rules a reader may question (see ``docs/decisions/agreement-metrics.md``):

* **Gold consensus** of a candidate is the median of its available ratings; a median that falls
  between two scale points (0.25 or 0.75, e.g. one rater 0 and one 0.5) is rounded to 0.5, the
  point nearer the middle: two raters a half-step apart agree the answer is partly right.
* **Judge vs gold** alpha treats the judge and the gold consensus as two coders of each candidate.
* **Unscored verdicts** (score None, or no verdict for a gold id) are left out of every metric and
  counted in ``n_unscored`` / ``unscored_share`` of each metric set, so nothing is dropped silently.
* **Confidence intervals** are 95 % percentile bootstrap intervals over candidates (seeded;
  ``n_boot`` resamples), given when at least ``MIN_CI_N`` (5) candidates are scored, absent below.
  The overall set gets an interval for every metric (``FULL_CI``); slices get them for the
  headline ``CORE_CI`` (alpha ordinal, exact agreement, mean absolute difference, bias). The rest
  is a matter of time: ``cohen_kappa_score`` costs ~1 ms a call and ``krippendorff.alpha`` ~0.8 ms
  on 5,000 units, so every metric in 18 slices x 1,000 resamples would take minutes.
* **Slices** are per ability, attribute, question type and language (detected when absent);
  candidates without an attribute are in no attribute slice. A slice with fewer than
  ``SMALL_N`` (30) scored candidates is flagged ``small``.

Usage::

    from judge.agreement import JudgedScore, build_report
    from judge.io import file_sha256, read_gold

    gold = read_gold("gold_labels/medlesion_maintainers/gold.jsonl")
    verdicts = [JudgedScore(id=g.id, score=1.0) for g in gold]        # or JudgedScore.from_verdict(v)
    report = build_report(
        gold, {"local · clinical/v3": verdicts},
        gold_path="gold_labels/medlesion_maintainers/gold.jsonl",
        gold_sha256=file_sha256("gold_labels/medlesion_maintainers/gold.jsonl"),
        provenance={"local · clinical/v3": {"backend": "local", "rubric": "clinical/v3"}},
    )
    print(report.alpha_ordinal, report.exact_agreement)

The plain-value functions (``cohen_kappa``, ``krippendorff_alpha``, ``consensus``, ...) take
sequences of 0 / 0.5 / 1 (None = missing) and can be used on their own.
"""

from __future__ import annotations

import warnings
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

import krippendorff
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from judge.errors import InputError

if TYPE_CHECKING:
    from judge.models import GoldRating, Verdict

SCALE: tuple[float, ...] = (0.0, 0.5, 1.0)
Level = Literal["ordinal", "interval", "nominal"]
LEVELS: tuple[Level, ...] = ("ordinal", "interval", "nominal")
DIMENSIONS: tuple[str, ...] = ("ability", "attribute", "question_type", "language")
METRICS: tuple[str, ...] = (
    "alpha_ordinal",
    "alpha_interval",
    "alpha_nominal",
    "kappa",
    "kappa_linear",
    "kappa_quadratic",
    "exact_agreement",
    "mean_abs_diff",
    "bias",
)
FULL_CI: tuple[str, ...] = METRICS
CORE_CI: tuple[str, ...] = ("alpha_ordinal", "exact_agreement", "mean_abs_diff", "bias")
SMALL_N = 30
MIN_CI_N = 5
CONSENSUS_RULE = "median of the available ratings; a median between scale points (0.25 or 0.75) is rounded to 0.5"
MISSING_VERDICT = "no verdict for this id"
_LABELS = [0, 1, 2]
_CHUNK = 250  # resamples drawn at once: bounds memory at ~chunk x n indices

KappaWeights = Literal["linear", "quadratic"] | None
_KAPPAS: tuple[tuple[str, KappaWeights], ...] = (
    ("kappa", None),
    ("kappa_linear", "linear"),
    ("kappa_quadratic", "quadratic"),
)


# --------------------------------------------------------------------------- contracts


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JudgedScore(_Model):
    """One judge verdict on one gold candidate, as the agreement maths needs it."""

    id: str = Field(min_length=1, description="The gold candidate id this verdict scores.")
    score: float | None = Field(default=None, description="0, 0.5 or 1.0; None when unscored.")
    unscored_reason: str | None = Field(default=None, description="Why the judge gave no score.")
    rationale: str = Field(default="", description="The judge's short reason for its score.")

    @field_validator("score")
    @classmethod
    def _on_scale(cls, value: float | None) -> float | None:
        if value is not None and float(value) not in SCALE:
            raise ValueError(f"score {value!r} is not on the scale 0, 0.5, 1")
        return None if value is None else float(value)

    @classmethod
    def from_verdict(cls, verdict: Verdict) -> JudgedScore:
        """The agreement view of a full :class:`judge.models.Verdict`."""
        return cls(
            id=verdict.item_id,
            score=verdict.score,
            unscored_reason=verdict.unscored_reason,
            rationale=verdict.rationale,
        )


class Interval(_Model):
    """A 95 % percentile bootstrap confidence interval."""

    low: float = Field(description="2.5th percentile of the bootstrap replicates.")
    high: float = Field(description="97.5th percentile of the bootstrap replicates.")


class BinaryView(_Model):
    """Agreement when the humans rate 0 / 1 only: where does the judge's 0.5 band belong?"""

    n: int = Field(description="Scored candidates whose gold consensus is 0 or 1.")
    n_tied: int = Field(description="Scored candidates left out because the raters tied (consensus 0.5).")
    kappa_eq1: float | None = Field(description="Cohen's kappa of `judge = 1` vs the human label 1.")
    kappa_ge05: float | None = Field(description="Cohen's kappa of `judge >= 0.5` vs the human label 1.")
    accuracy_eq1: float | None = Field(description="Share where `judge = 1` matches the human label.")
    accuracy_ge05: float | None = Field(description="Share where `judge >= 0.5` matches the human label.")
    ci: dict[str, Interval] = Field(default_factory=dict, description="Bootstrap CIs by field name (overall set only).")


class MetricSet(_Model):
    """Judge vs gold consensus on one set of candidates (all of them, or one slice)."""

    n: int = Field(description="Gold candidates in scope, scored or not.")
    n_scored: int = Field(description="Candidates the judge scored; every metric below uses these only.")
    n_unscored: int = Field(description="Candidates the judge left unscored (or gave no verdict for).")
    unscored_share: float = Field(description="n_unscored / n (0 when n is 0).")
    small: bool = Field(description=f"True when n_scored < {SMALL_N}: read the figures with care.")
    alpha_ordinal: float | None = Field(description="Krippendorff's alpha, ordinal level (headline).")
    alpha_interval: float | None = Field(description="Krippendorff's alpha, interval level.")
    alpha_nominal: float | None = Field(description="Krippendorff's alpha, nominal level.")
    kappa: float | None = Field(description="Cohen's kappa, unweighted.")
    kappa_linear: float | None = Field(description="Cohen's kappa, linear weights.")
    kappa_quadratic: float | None = Field(description="Cohen's kappa, quadratic weights.")
    exact_agreement: float | None = Field(description="Share of candidates where judge = consensus.")
    mean_abs_diff: float | None = Field(description="Mean |judge - consensus|, in score units.")
    bias: float | None = Field(description="Mean (judge - consensus); negative = the judge is stricter.")
    confusion: list[list[int]] = Field(
        description="3 x 3 counts; rows = gold consensus 0 / 0.5 / 1, columns = judge 0 / 0.5 / 1."
    )
    ci: dict[str, Interval] = Field(
        default_factory=dict,
        description=(
            f"Bootstrap 95 % CIs by metric name: every metric on the overall set, {', '.join(CORE_CI)} "
            f"in slices; empty when n_scored < {MIN_CI_N}."
        ),
    )
    binary: BinaryView | None = Field(
        default=None, description="Binary views, present when every gold rating is 0 or 1."
    )


class InterRater(_Model):
    """The human raters' agreement among themselves: the ceiling a judge is measured against."""

    raters: list[str] = Field(description="Rater ids, in order of first appearance.")
    n_units: int = Field(description="Candidates rated by at least two raters (the only ones that count).")
    alpha_ordinal: float | None = Field(description="Krippendorff's alpha among raters, ordinal level.")
    alpha_interval: float | None = Field(description="Krippendorff's alpha among raters, interval level.")
    alpha_nominal: float | None = Field(description="Krippendorff's alpha among raters, nominal level.")
    ci: dict[str, Interval] = Field(
        default_factory=dict, description="Bootstrap CI of alpha_ordinal (overall set only)."
    )


class RaterAgreement(_Model):
    """The judge against one human rater (candidates that rater rated and the judge scored)."""

    rater: str = Field(description="Rater id.")
    n: int = Field(description="Candidates rated by this rater and scored by the judge.")
    alpha_ordinal: float | None = Field(description="Krippendorff's alpha (ordinal), judge vs this rater.")
    kappa_quadratic: float | None = Field(description="Quadratic-weighted kappa, judge vs this rater.")
    exact_agreement: float | None = Field(description="Share where judge = this rater.")
    bias: float | None = Field(description="Mean (judge - rater); negative = the judge is stricter.")


class SliceReport(_Model):
    """One slice (e.g. ability = disease_diagnosis) of one judge's agreement."""

    dimension: str = Field(description="`ability`, `attribute`, `question_type` or `language`.")
    value: str = Field(description="The slice value, e.g. `disease_diagnosis`, `color`, `zh`.")
    metrics: MetricSet = Field(description="Judge vs gold consensus within the slice.")
    inter_rater: InterRater | None = Field(
        default=None, description="Raters' own agreement within the slice (when >= 2 raters)."
    )


class JudgeReport(_Model):
    """Everything about one judge: overall, per rater, per slice, and why verdicts were unscored."""

    label: str = Field(description="The judge's label, e.g. `local · clinical/v3`.")
    provenance: dict[str, Any] = Field(
        default_factory=dict, description="Backend, model, rubric id / version / sha256, parameters."
    )
    overall: MetricSet = Field(description="Judge vs gold consensus on the whole set.")
    vs_raters: list[RaterAgreement] = Field(description="Judge vs each human rater on their own.")
    slices: list[SliceReport] = Field(description="Per ability, attribute, question type and language.")
    unscored_reasons: dict[str, int] = Field(description="Unscored reason -> count.")


class ComparisonReport(_Model):
    """A paired bootstrap of two judges scored on the same candidates (same resample indices)."""

    baseline: str = Field(description="Label of the judge compared against (the first judge).")
    other: str = Field(description="Label of the judge being compared.")
    n: int = Field(description="Candidates both judges scored.")
    alpha_baseline: float | None = Field(description="Baseline's alpha (ordinal) on those candidates.")
    alpha_other: float | None = Field(description="Other's alpha (ordinal) on those candidates.")
    alpha_diff: float | None = Field(description="alpha_other - alpha_baseline; > 0 = other agrees better.")
    alpha_diff_ci: Interval | None = Field(description="Paired bootstrap 95 % CI of alpha_diff.")
    share_positive: float | None = Field(description="Share of resamples where alpha_diff > 0.")
    exact_diff: float | None = Field(description="Exact agreement of other minus baseline.")
    exact_diff_ci: Interval | None = Field(description="Paired bootstrap 95 % CI of exact_diff.")


class AgreementReport(MetricSet):
    """A full agreement report of one gold set against one or more judges.

    The metric fields inherited from :class:`MetricSet` (``n``, ``alpha_ordinal``,
    ``exact_agreement``, ...) are the **first judge's overall figures** - the headline, and the
    whole story when there is one judge. ``judges`` holds every judge in full.
    """

    gold_path: str = Field(description="Path of the gold file as given.")
    gold_sha256: str = Field(description="sha256 of the gold file's bytes.")
    n_gold: int = Field(description="Candidates in the gold set.")
    raters: list[str] = Field(description="Human rater ids found in the gold set.")
    binary_gold: bool = Field(description="True when every gold rating is 0 or 1 (binary views shown).")
    consensus_rule: str = Field(description="How the gold consensus of a candidate is formed.")
    n_boot: int = Field(description="Bootstrap resamples per confidence interval.")
    seed: int = Field(description="Seed of the bootstrap.")
    created: str = Field(description="When the report was built (ISO 8601, UTC).")
    inter_rater: InterRater | None = Field(description="Raters' agreement on the whole set (>= 2 raters).")
    judges: list[JudgeReport] = Field(description="One section per judge, in the order given.")
    comparisons: list[ComparisonReport] = Field(description="Each later judge vs the first.")


# --------------------------------------------------------------------------- plain-value metrics


def score_codes(values: Iterable[float | None]) -> np.ndarray:
    """Map scores 0 / 0.5 / 1 to codes 0 / 1 / 2 (None or NaN -> -1); other values raise ValueError."""
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(-1)
            continue
        f = float(v)
        if f not in SCALE:
            raise ValueError(f"score {v!r} is not on the scale 0, 0.5, 1")
        out.append(int(f * 2))
    return np.asarray(out, dtype=np.int64)


def consensus(ratings: Iterable[float | None]) -> float | None:
    """Median of the available ratings, on the scale; None when there is none.

    A median between scale points (0.25 or 0.75) is rounded to 0.5: ``[0, 0.5] -> 0.5``,
    ``[0, 1] -> 0.5``, ``[0, 0, 1] -> 0``, ``[0, 0, 0.5, 1] -> 0.5``.
    """
    values = [float(v) for v in ratings if v is not None]
    if not values:
        return None
    score_codes(values)  # validates the scale
    median = float(np.median(values))
    return median if median in SCALE else 0.5


def value_counts(codes: np.ndarray) -> np.ndarray:
    """Units x 3 counts of codes 0 / 1 / 2 from a units x coders code matrix (-1 = missing)."""
    codes = np.atleast_2d(np.asarray(codes))
    counts = np.zeros((codes.shape[0], len(SCALE)), dtype=np.float64)
    for k in range(len(SCALE)):
        counts[:, k] = (codes == k).sum(axis=1)
    return counts


def alpha_from_counts(counts: np.ndarray, level: Level = "ordinal") -> float | None:
    """``krippendorff.alpha`` on a units x 3 value-counts matrix; None when undefined."""
    counts = np.asarray(counts)
    if counts.shape[0] == 0 or not (counts.sum(axis=1) >= 2).any():
        return None
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(krippendorff.alpha(value_counts=counts, value_domain=list(SCALE), level_of_measurement=level))
    return value if np.isfinite(value) else None


def krippendorff_alpha(ratings: Sequence[Sequence[float | None]], level: Level = "ordinal") -> float | None:
    """Krippendorff's alpha of a units x coders table of 0 / 0.5 / 1 (None = missing)."""
    codes = np.array([score_codes(row) for row in ratings]) if len(ratings) else np.zeros((0, 2))
    return alpha_from_counts(value_counts(codes), level)


def _paired(gold: Sequence[float | None], judge: Sequence[float | None]) -> tuple[np.ndarray, np.ndarray]:
    if len(gold) != len(judge):
        raise ValueError(f"gold and judge differ in length ({len(gold)} vs {len(judge)})")
    g, j = score_codes(gold), score_codes(judge)
    keep = (g >= 0) & (j >= 0)
    return g[keep], j[keep]


def _kappa_codes(
    g: np.ndarray,
    j: np.ndarray,
    weights: KappaWeights = None,
    labels: list[int] = _LABELS,
    sample_weight: np.ndarray | None = None,
) -> float | None:
    if len(g) == 0:
        return None
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(cohen_kappa_score(g, j, labels=labels, weights=weights, sample_weight=sample_weight))
    return value if np.isfinite(value) else None


def cohen_kappa(
    gold: Sequence[float | None], judge: Sequence[float | None], weights: KappaWeights = None
) -> float | None:
    """sklearn's Cohen's kappa over pairs where both are present; None when undefined."""
    g, j = _paired(gold, judge)
    return _kappa_codes(g, j, weights)


def exact_agreement(gold: Sequence[float | None], judge: Sequence[float | None]) -> float | None:
    """Share of pairs (both present) where judge = gold."""
    g, j = _paired(gold, judge)
    return float(np.mean(g == j)) if len(g) else None


def mean_abs_diff(gold: Sequence[float | None], judge: Sequence[float | None]) -> float | None:
    """Mean |judge - gold| in score units, over pairs where both are present."""
    g, j = _paired(gold, judge)
    return float(np.mean(np.abs(j - g)) / 2) if len(g) else None


def signed_bias(gold: Sequence[float | None], judge: Sequence[float | None]) -> float | None:
    """Mean (judge - gold) in score units; negative = the judge is stricter than gold."""
    g, j = _paired(gold, judge)
    return float(np.mean(j - g) / 2) if len(g) else None


def confusion(gold: Sequence[float | None], judge: Sequence[float | None]) -> list[list[int]]:
    """3 x 3 counts via sklearn; rows = gold 0 / 0.5 / 1, columns = judge 0 / 0.5 / 1."""
    g, j = _paired(gold, judge)
    return _confusion_codes(g, j)


def _confusion_codes(g: np.ndarray, j: np.ndarray) -> list[list[int]]:
    if len(g) == 0:
        return [[0] * 3 for _ in range(3)]
    return confusion_matrix(g, j, labels=_LABELS).astype(int).tolist()


def percentile_ci(replicates: Sequence[float] | np.ndarray) -> Interval | None:
    """95 % percentile interval of bootstrap replicates (NaN = undefined replicate).

    None when half or more of the replicates are undefined (e.g. every resample constant).
    """
    reps = np.asarray(replicates, dtype=np.float64)
    finite = reps[np.isfinite(reps)]
    if len(finite) == 0 or len(finite) * 2 <= len(reps):
        return None
    low, high = np.percentile(finite, [2.5, 97.5])
    return Interval(low=float(low), high=float(high))


def bootstrap_indices(n: int, n_boot: int, seed: int, key: str = "") -> Iterator[np.ndarray]:
    """Yield chunks (at most 250 x n) of resample indices; the same (n, n_boot, seed, key) -> same."""
    rng = np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])
    done = 0
    while done < n_boot:
        size = min(_CHUNK, n_boot - done)
        yield rng.integers(0, n, size=(size, n))
        done += size


def _nan(value: float | None) -> float:
    return np.nan if value is None else value


# --------------------------------------------------------------------------- metric sets


def _binary_view(g: np.ndarray, j: np.ndarray, *, with_ci: bool, n_boot: int, seed: int, key: str) -> BinaryView:
    keep = g != 1  # consensus 0.5 = raters tied: no binary label
    gb = (g[keep] == 2).astype(int)
    eq1 = (j[keep] == 2).astype(int)
    ge05 = (j[keep] >= 1).astype(int)
    n = int(keep.sum())
    view = BinaryView(
        n=n,
        n_tied=int((~keep).sum()),
        kappa_eq1=_kappa_codes(gb, eq1, labels=[0, 1]),
        kappa_ge05=_kappa_codes(gb, ge05, labels=[0, 1]),
        accuracy_eq1=float(np.mean(gb == eq1)) if n else None,
        accuracy_ge05=float(np.mean(gb == ge05)) if n else None,
    )
    if with_ci and n >= MIN_CI_N:
        reps: dict[str, list[float]] = {k: [] for k in ("kappa_eq1", "kappa_ge05", "accuracy_eq1", "accuracy_ge05")}
        for chunk in bootstrap_indices(n, n_boot, seed, key + "/binary"):
            for idx in chunk:
                gi, e, h = gb[idx], eq1[idx], ge05[idx]
                reps["kappa_eq1"].append(_nan(_kappa_codes(gi, e, labels=[0, 1])))
                reps["kappa_ge05"].append(_nan(_kappa_codes(gi, h, labels=[0, 1])))
            reps["accuracy_eq1"].extend((gb[chunk] == eq1[chunk]).mean(axis=1))
            reps["accuracy_ge05"].extend((gb[chunk] == ge05[chunk]).mean(axis=1))
        view.ci = {k: ci for k, v in reps.items() if (ci := percentile_ci(v)) is not None}
    return view


def compare_scores(
    gold: Sequence[float | None],
    judge: Sequence[float | None],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    key: str = "overall",
    full_ci: bool = True,
    binary: bool = False,
    kappa_ci: bool | None = None,
) -> MetricSet:
    """Every judge-vs-gold metric, with bootstrap CIs, over aligned scores (None = unscored judge).

    ``gold`` holds one consensus score per candidate and may not contain None. ``key`` names the
    set (it seeds its resamples, so two judges on the same slice share resample indices).
    ``full_ci`` gives every metric (and the binary view) a CI; otherwise only ``CORE_CI`` get one.
    ``kappa_ci`` is the first draft's name of ``full_ci``, still accepted for early callers.
    """
    if kappa_ci is not None:
        full_ci = kappa_ci
    if len(gold) != len(judge):
        raise ValueError(f"gold and judge differ in length ({len(gold)} vs {len(judge)})")
    g_all, j_all = score_codes(gold), score_codes(judge)
    if (g_all < 0).any():
        raise ValueError("every candidate needs a gold consensus score")
    scored = j_all >= 0
    g, j = g_all[scored], j_all[scored]
    n, n_scored = len(g_all), len(g)
    counts = value_counts(np.column_stack([g, j])) if n_scored else np.zeros((0, 3))
    metrics = MetricSet(
        n=n,
        n_scored=n_scored,
        n_unscored=n - n_scored,
        unscored_share=(n - n_scored) / n if n else 0.0,
        small=n_scored < SMALL_N,
        alpha_ordinal=alpha_from_counts(counts, "ordinal"),
        alpha_interval=alpha_from_counts(counts, "interval"),
        alpha_nominal=alpha_from_counts(counts, "nominal"),
        kappa=_kappa_codes(g, j),
        kappa_linear=_kappa_codes(g, j, "linear"),
        kappa_quadratic=_kappa_codes(g, j, "quadratic"),
        exact_agreement=float(np.mean(g == j)) if n_scored else None,
        mean_abs_diff=float(np.mean(np.abs(j - g)) / 2) if n_scored else None,
        bias=float(np.mean(j - g) / 2) if n_scored else None,
        confusion=_confusion_codes(g, j),
    )
    if binary:
        metrics.binary = _binary_view(g, j, with_ci=full_ci, n_boot=n_boot, seed=seed, key=key)
    if n_scored < MIN_CI_N or n_boot <= 0:
        return metrics

    wanted = FULL_CI if full_ci else CORE_CI
    reps: dict[str, list[float]] = {m: [] for m in wanted}
    levels = [level for level in LEVELS if f"alpha_{level}" in reps]
    kappas = [(name, w) for name, w in _KAPPAS if name in reps]
    hit, diff = (g == j).astype(np.float64), (j - g) / 2
    cells = g * 3 + j
    rows, cols = np.repeat(_LABELS, 3), np.tile(_LABELS, 3)
    for chunk in bootstrap_indices(n_scored, n_boot, seed, key):
        reps["exact_agreement"].extend(hit[chunk].mean(axis=1))
        reps["mean_abs_diff"].extend(np.abs(diff)[chunk].mean(axis=1))
        reps["bias"].extend(diff[chunk].mean(axis=1))
        for idx in chunk:
            resampled = counts[idx]
            for level in levels:
                reps[f"alpha_{level}"].append(_nan(alpha_from_counts(resampled, level)))
            if kappas:
                # kappa depends on the 3 x 3 table only: give sklearn the 9 cells weighted by their counts
                table = np.bincount(cells[idx], minlength=9)
                for name, w in kappas:
                    reps[name].append(_nan(_kappa_codes(rows, cols, w, sample_weight=table)))
    metrics.ci = {name: ci for name, v in reps.items() if (ci := percentile_ci(v)) is not None}
    return metrics


def inter_rater(
    table: Sequence[Sequence[float | None]],
    raters: Sequence[str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    key: str = "overall",
    with_ci: bool = True,
) -> InterRater | None:
    """Raters' own alpha from a units x raters table (None = not rated); None with < 2 raters."""
    if len(raters) < 2:
        return None
    codes = np.array([score_codes(row) for row in table]) if len(table) else np.zeros((0, len(raters)))
    counts = value_counts(codes)
    pairable = counts[counts.sum(axis=1) >= 2]
    result = InterRater(
        raters=list(raters),
        n_units=len(pairable),
        alpha_ordinal=alpha_from_counts(pairable, "ordinal"),
        alpha_interval=alpha_from_counts(pairable, "interval"),
        alpha_nominal=alpha_from_counts(pairable, "nominal"),
    )
    if with_ci and len(pairable) >= MIN_CI_N and n_boot > 0:
        reps = [
            _nan(alpha_from_counts(pairable[idx], "ordinal"))
            for chunk in bootstrap_indices(len(pairable), n_boot, seed, key + "/raters")
            for idx in chunk
        ]
        if (ci := percentile_ci(reps)) is not None:
            result.ci = {"alpha_ordinal": ci}
    return result


def paired_difference(
    gold: Sequence[float | None],
    baseline: Sequence[float | None],
    other: Sequence[float | None],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: Level = "ordinal",
    labels: tuple[str, str] = ("baseline", "other"),
) -> ComparisonReport:
    """Paired bootstrap of alpha(other) - alpha(baseline) on candidates both judges scored.

    Both judges are resampled with the same indices, so the CI reflects the difference on the
    same candidates, not two independent uncertainties.
    """
    if not len(gold) == len(baseline) == len(other):
        raise ValueError("gold and both judges must be aligned (same length)")
    g, a, b = score_codes(gold), score_codes(baseline), score_codes(other)
    keep = (g >= 0) & (a >= 0) & (b >= 0)
    g, a, b = g[keep], a[keep], b[keep]
    n = len(g)
    counts_a = value_counts(np.column_stack([g, a])) if n else np.zeros((0, 3))
    counts_b = value_counts(np.column_stack([g, b])) if n else np.zeros((0, 3))
    alpha_a, alpha_b = alpha_from_counts(counts_a, level), alpha_from_counts(counts_b, level)
    result = ComparisonReport(
        baseline=labels[0],
        other=labels[1],
        n=n,
        alpha_baseline=alpha_a,
        alpha_other=alpha_b,
        alpha_diff=None if alpha_a is None or alpha_b is None else alpha_b - alpha_a,
        alpha_diff_ci=None,
        share_positive=None,
        exact_diff=float(np.mean(b == g) - np.mean(a == g)) if n else None,
        exact_diff_ci=None,
    )
    if n < MIN_CI_N or n_boot <= 0:
        return result
    diffs: list[float] = []
    exact: list[float] = []
    hit_diff = (b == g).astype(np.float64) - (a == g)
    for chunk in bootstrap_indices(n, n_boot, seed, "paired"):
        exact.extend(hit_diff[chunk].mean(axis=1))
        for idx in chunk:
            diffs.append(_nan(alpha_from_counts(counts_b[idx], level)) - _nan(alpha_from_counts(counts_a[idx], level)))
    finite = np.asarray(diffs)[np.isfinite(diffs)]
    result.alpha_diff_ci = percentile_ci(diffs)
    result.share_positive = float(np.mean(finite > 0)) if len(finite) else None
    result.exact_diff_ci = percentile_ci(exact)
    return result


# --------------------------------------------------------------------------- the report


def gold_raters(gold: Sequence[GoldRating]) -> list[str]:
    """Rater ids in order of first appearance."""
    seen: dict[str, None] = {}
    for row in gold:
        for rater in row.ratings:
            seen.setdefault(rater, None)
    return list(seen)


def slice_members(gold: Sequence[GoldRating]) -> list[tuple[str, str, np.ndarray]]:
    """``(dimension, value, indices into gold)`` for every non-empty slice, in a stable order."""
    from judge.models import ABILITIES, ATTRIBUTES, QUESTION_TYPES

    orders: dict[str, tuple[str, ...]] = {
        "ability": ABILITIES,
        "attribute": ATTRIBUTES,
        "question_type": QUESTION_TYPES,
        "language": ("en", "zh"),
    }
    values: dict[str, list[str | None]] = {
        "ability": [r.ability for r in gold],
        "attribute": [r.attribute for r in gold],
        "question_type": [r.question_type for r in gold],
        "language": [r.lang for r in gold],
    }
    out = []
    for dim in DIMENSIONS:
        col = values[dim]
        for value in orders[dim]:
            idx = np.array([i for i, v in enumerate(col) if v == value], dtype=np.int64)
            if len(idx):
                out.append((dim, value, idx))
    return out


def align_verdicts(
    gold: Sequence[GoldRating], judged: Sequence[JudgedScore], label: str = "judge"
) -> list[JudgedScore]:
    """One verdict per gold candidate, in gold order; a missing verdict becomes an unscored one.

    A verdict for an id not in the gold set, or two verdicts for one id, raise InputError.
    """
    by_id: dict[str, JudgedScore] = {}
    gold_ids = {row.id for row in gold}
    for verdict in judged:
        if verdict.id not in gold_ids:
            raise InputError(f"judge {label!r} has a verdict for id {verdict.id!r}, which is not in the gold set")
        if verdict.id in by_id:
            raise InputError(f"judge {label!r} has two verdicts for id {verdict.id!r}")
        by_id[verdict.id] = verdict
    return [by_id.get(row.id) or JudgedScore(id=row.id, unscored_reason=MISSING_VERDICT) for row in gold]


def _judge_report(
    label: str,
    gold: Sequence[GoldRating],
    verdicts: list[JudgedScore],
    consensus_scores: list[float],
    raters: list[str],
    slices: list[tuple[str, str, np.ndarray]],
    inter_rater_slices: list[InterRater | None],
    provenance: Mapping[str, Any],
    *,
    binary: bool,
    n_boot: int,
    seed: int,
) -> JudgeReport:
    scores = [v.score for v in verdicts]
    overall = compare_scores(consensus_scores, scores, n_boot=n_boot, seed=seed, binary=binary)
    g_arr = np.asarray(consensus_scores, dtype=np.float64)
    j_arr = np.array([np.nan if s is None else s for s in scores], dtype=np.float64)
    cache: dict[bytes, MetricSet] = {np.arange(len(gold)).tobytes(): overall}
    slice_reports = []
    for (dim, value, idx), irr in zip(slices, inter_rater_slices, strict=True):
        cache_key = idx.tobytes()
        if cache_key not in cache:  # identical subsets (e.g. one language only) share one computation
            cache[cache_key] = compare_scores(
                g_arr[idx].tolist(),
                j_arr[idx].tolist(),
                n_boot=n_boot,
                seed=seed,
                key=f"{dim}={value}",
                full_ci=False,
                binary=binary,
            )
        slice_reports.append(SliceReport(dimension=dim, value=value, metrics=cache[cache_key], inter_rater=irr))
    vs_raters = []
    for rater in raters:
        rated = [(row.ratings.get(rater), s) for row, s in zip(gold, scores, strict=True)]
        rated = [(r, s) for r, s in rated if r is not None and s is not None]
        rg, rj = [r for r, _ in rated], [s for _, s in rated]
        vs_raters.append(
            RaterAgreement(
                rater=rater,
                n=len(rated),
                alpha_ordinal=krippendorff_alpha(list(zip(rg, rj, strict=True)), "ordinal"),
                kappa_quadratic=cohen_kappa(rg, rj, "quadratic"),
                exact_agreement=exact_agreement(rg, rj),
                bias=signed_bias(rg, rj),
            )
        )
    reasons = Counter(v.unscored_reason or "unspecified" for v in verdicts if v.score is None)
    return JudgeReport(
        label=label,
        provenance=dict(provenance),
        overall=overall,
        vs_raters=vs_raters,
        slices=slice_reports,
        unscored_reasons=dict(reasons.most_common()),
    )


def _consensus_scores(gold: Sequence[GoldRating]) -> list[float]:
    """Each candidate's gold consensus; a candidate nobody rated is an InputError."""
    scores: list[float] = []
    for row in gold:
        score = consensus(row.ratings.values())
        if score is None:
            raise InputError(f"gold candidate {row.id!r} has no rating")
        scores.append(score)
    return scores


def _inter_rater_by_slice(
    table: list[list[float | None]], raters: list[str], slices: list[tuple[str, str, np.ndarray]], *, n_boot: int,
    seed: int,
) -> tuple[InterRater | None, list[InterRater | None]]:
    """The raters' own agreement overall (with CIs) and per slice (slices with the same members computed once)."""
    cache: dict[bytes, InterRater | None] = {}
    overall = inter_rater(table, raters, n_boot=n_boot, seed=seed)
    cache[np.arange(len(table)).tobytes()] = overall
    per_slice = []
    for dim, value, idx in slices:
        if idx.tobytes() not in cache:
            cache[idx.tobytes()] = inter_rater([table[i] for i in idx], raters, with_ci=False, key=f"{dim}={value}")
        per_slice.append(cache[idx.tobytes()])
    return overall, per_slice


def build_report(
    gold: Sequence[GoldRating],
    judges: Mapping[str, Sequence[JudgedScore]],
    *,
    gold_path: str,
    gold_sha256: str,
    provenance: Mapping[str, Mapping[str, Any]] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    created: str | None = None,
) -> AgreementReport:
    """Agreement of every judge with the gold set, overall, per rater and per slice.

    ``judges`` maps a label (e.g. ``"local · clinical/v3"``) to its verdicts; they are matched to
    ``gold`` by id (a gold id without a verdict counts as unscored). The first judge is the
    baseline of the paired comparisons and its overall figures are the report's top-level fields.
    """
    if not gold:
        raise InputError("the gold set is empty")
    if not judges:
        raise InputError("no judge to compare with the gold set")
    provenance = provenance or {}
    raters = gold_raters(gold)
    consensus_scores = _consensus_scores(gold)
    binary = all(v in (0.0, 1.0) for row in gold for v in row.ratings.values() if v is not None)
    table = [[row.ratings.get(r) for r in raters] for row in gold]
    slices = slice_members(gold)
    overall_irr, irr_slices = _inter_rater_by_slice(table, raters, slices, n_boot=n_boot, seed=seed)

    aligned = {label: align_verdicts(gold, judged, label) for label, judged in judges.items()}
    reports = [
        _judge_report(label, gold, verdicts, consensus_scores, raters, slices, irr_slices, provenance.get(label, {}),
                      binary=binary, n_boot=n_boot, seed=seed)
        for label, verdicts in aligned.items()
    ]
    labels = list(aligned)
    comparisons = [
        paired_difference(consensus_scores, [v.score for v in aligned[labels[0]]], [v.score for v in aligned[other]],
                          n_boot=n_boot, seed=seed, labels=(labels[0], other))
        for other in labels[1:]
    ]
    return AgreementReport(
        **reports[0].overall.model_dump(),
        gold_path=gold_path,
        gold_sha256=gold_sha256,
        n_gold=len(gold),
        raters=raters,
        binary_gold=binary,
        consensus_rule=CONSENSUS_RULE,
        n_boot=n_boot,
        seed=seed,
        created=created or datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        inter_rater=overall_irr,
        judges=reports,
        comparisons=comparisons,
    )
