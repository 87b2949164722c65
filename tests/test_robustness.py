"""`judge robustness`: derived answers with known right scores, stability and length bias — for any judge."""

from __future__ import annotations

import json
import random

import pytest
from click.testing import CliRunner
from fakes import FakeBackend

from judge.cli import cli
from judge.models import Case, GoldRating, Judgment
from judge.robustness import CLASSES, derive_probes, judge_robustness, length_bias, run_robustness
from judge.rubrics import load_rubric
from judge.testing.openai_server import FakeOpenAIServer
from tests.conftest import ROOT, write_jsonl

BUNDLED = sorted((ROOT / "gold_labels").glob("*/gold.jsonl"))


def _row(id: str, question: str, reference: str | list[str], candidate: str, score: float, **kw) -> GoldRating:
    base = {"ability": "disease_diagnosis", "question_type": "short_answer"}
    base.update(kw)
    return GoldRating(id=id, question=question, reference=reference, candidate=candidate, ratings={"r": score}, **base)


GOLD = [
    _row("d1", "What is the most likely diagnosis?", "psoriasis", "Plaque psoriasis.", 1.0),
    _row("d2", "What is the most likely diagnosis?", "psoriasis", "eczema", 0.0),
    _row("d3", "What is the most likely diagnosis of the facial rash?", "rosacea", "rosacea", 1.0),
    _row("d4", "What is the diagnosis of the scalp lesion?", "tinea capitis", "Tinea capitis", 1.0),
    _row("d5", "What is the diagnosis of the nail?", "onychomycosis", "nail fungus", 1.0),
    _row("d6", "Which disease is shown on the trunk?", "pityriasis rosea", "pityriasis versicolor", 0.0),
    _row("c1", "What color is the lesion?", "pink", "salmon pink", 1.0, ability="attribute_recognition",
         attribute="color"),
    _row("z1", "皮损的颜色是____。", "红色", "红色", 1.0, ability="attribute_recognition", attribute="color",
         question_type="fill_blank"),
    _row("j1", "Is the lesion symmetric?", "Yes", "yes, it is", 1.0, ability="lesion_reasoning",
         question_type="judgment"),
]


def test_probes_cover_every_class_and_are_deterministic():
    rubric = load_rubric("v3")
    probes = derive_probes(GOLD, rubric, seed=0)
    assert {p.klass for p in probes} == set(CLASSES)
    assert [(p.id, p.case.candidate) for p in probes] == [(p.id, p.case.candidate) for p in derive_probes(GOLD, rubric, 0)]
    assert len({p.id for p in probes}) == len(probes)
    by = {p.klass: p for p in probes}
    assert by["question_echo"].case.candidate  # the question itself, never empty
    assert any(p.klass == "question_echo" and "____" not in p.case.candidate and "红色" not in p.case.candidate
               for p in probes if p.gold_id == "z1")
    assert len(by["digit_padding"].case.candidate) > 4300
    assert not any(p.case.candidate.startswith("Plaque psoriasis.?") for p in probes)  # "X.? No." reads as nothing
    colors = next(p for p in probes if p.klass == "every_value" and p.gold_id == "c1").case.candidate
    assert "pink" in colors and "brown" in colors and "white" in colors
    mcq = by["mcq_hedge"]
    assert mcq.case.question_type == "mcq" and len(mcq.case.options or {}) == 4 and len(mcq.gold_letters or ()) == 1
    # invariance probes hang off a gold candidate (or another probe) whose judged score they must keep
    assert {p.base for p in probes if p.kind == "same"} <= {g.id for g in GOLD} | {p.id for p in probes}
    wrong = {p.case.candidate for p in probes if p.klass == "superseded" and p.gold_id == "d1"}
    assert wrong == {"It was psoriasis before, but now it is eczema."}  # the wrong value: a candidate rated 0


@pytest.mark.parametrize("constant", [0.0, 1.0])
def test_a_constant_judge_fails_the_suite(store, constant):
    """A judge that always says 0 passes every 'must score 0' relation; the 'must score 1' ones catch it."""

    def script(case: Case) -> Judgment:
        return Judgment(score=constant, rationale="constant")

    gold = list(GOLD)
    result = judge_robustness(gold, derive_probes(gold, load_rubric("v3")), FakeBackend(script), load_rubric("v3"),
                              store, repeats=1, n_boot=50)
    failed = {k for k, r in result.relations.items() if r.held < r.n}
    if constant == 0.0:
        assert "reference_verbatim" in failed
    else:
        assert {"nonsense", "refusal", "question_echo", "negated_reference"} <= failed
    assert result.held_fraction is not None and result.held_fraction < 0.99
    bad = result.relations["reference_verbatim" if constant == 0.0 else "nonsense"].examples
    assert bad and bad[0].got == constant and bad[0].probe.startswith(tuple(g.id for g in GOLD))


def test_stability_counts_flips_of_a_noisy_judge(store):
    rng = random.Random(1)

    def noisy(case: Case) -> Judgment:
        return Judgment(score=rng.choice([0.0, 0.5, 1.0]), rationale="dice")

    gold = list(GOLD)
    result = judge_robustness(gold, [], FakeBackend(noisy), load_rubric("v3"), store, repeats=3, n_boot=50)
    assert result.stability.repeats == 3 and result.stability.n == len(gold)
    assert result.stability.flip_rate is not None and result.stability.flip_rate > 0.3
    steady = judge_robustness(gold, [], FakeBackend(), load_rubric("v3"), store, repeats=3, n_boot=50)
    assert steady.stability.flip_rate == 0.0 and steady.stability.alpha == 1.0


def test_repeats_bypass_the_cache_but_do_not_overwrite_it(store):
    backend = FakeBackend()
    judge_robustness(list(GOLD), [], backend, load_rubric("v3"), store, repeats=3, n_boot=50)
    assert len(backend.calls) == 3 * len(GOLD)  # first pass fills the cache, the repeats judge again
    before = store.count_judgments()
    again = FakeBackend()
    judge_robustness(list(GOLD), [], again, load_rubric("v3"), store, repeats=1, n_boot=50)
    assert again.calls == [] and store.count_judgments() == before


def test_length_bias_by_hand():
    lengths = [1, 2, 3, 10, 20, 30]
    errors = [-0.5, -0.5, -0.5, 0.5, 0.5, 0.5]  # strict on short answers, lenient on long ones
    lb = length_bias(lengths, errors, n_boot=200)
    assert lb.shortest.n == lb.longest.n == 2 and lb.shortest.mean_error == -0.5 and lb.longest.mean_error == 0.5
    assert lb.difference == 1.0 and lb.spearman == pytest.approx(0.878, abs=1e-3)
    flat = length_bias(lengths, [0.0] * 6, n_boot=200)
    assert flat.difference == 0.0 and flat.spearman is None


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.parent.name)
def test_the_embedded_judge_holds_99_percent_on_every_bundled_gold_set(store, path):
    report = run_robustness(path, [("local", "clinical/v3")], store=store, repeats=2, n_boot=50)
    judge = report.judges[0]
    bad = {k: (r.held, r.n, [e.candidate for e in r.examples[:2]]) for k, r in judge.relations.items() if r.held < r.n}
    assert judge.held_fraction is not None and judge.held_fraction >= 0.99, bad
    assert set(judge.relations) >= set(CLASSES) - {"opposite_judgment"}
    assert judge.stability.flip_rate == 0.0  # the embedded judge is deterministic


def test_cli_json_and_html(tmp_path):
    gold = write_jsonl(tmp_path / "gold.jsonl", [g.model_dump(exclude_none=True) for g in GOLD])
    out = tmp_path / "robust.html"
    res = CliRunner().invoke(cli, ["robustness", str(gold), "--format", "json", "--n-boot", "50", "--out", str(out),
                                   "--db", str(tmp_path / "j.db"), "--quiet"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data) >= {"relations", "held_fraction", "flip_rate", "length_bias", "judges"}
    assert all(set(v) == {"n", "held"} for v in data["relations"].values())
    assert out.read_text().startswith("<!doctype html>") and "Relations held" in out.read_text()


def test_against_an_llm_judge_on_the_fake_server(tmp_path):
    """The same suite drives an LLM backend through litellm; the toy judge (reference containment) is caught."""
    gold = write_jsonl(tmp_path / "gold.jsonl", [g.model_dump(exclude_none=True) for g in GOLD])
    with FakeOpenAIServer() as server:
        res = CliRunner().invoke(cli, ["robustness", str(gold), "--backend", "openai/toy", "--api-base", server.url,
                                       "--format", "json", "--n-boot", "50", "--db", str(tmp_path / "j.db"),
                                       "--quiet"], catch_exceptions=False)
        sent = server.total
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["judges"][0]["label"].startswith("openai/toy")
    assert sent >= data["n"] // 2  # the relations were judged by the server (identical cases once)
    assert data["relations"]["negated_reference"]["held"] < data["relations"]["negated_reference"]["n"]
    assert data["relations"]["reference_verbatim"]["held"] == data["relations"]["reference_verbatim"]["n"]
    assert data["flip_rate"] == 0.0  # deterministic toy server: repeats agree
