"""`judge calibrate`: the loop finds a better rubric, never peeks at held-out gold, says when it did not
improve, stays inside its budget and does not pay twice for an LM call.

The LLM tests run DSPy through litellm's real HTTP client against the fake OpenAI-compatible
server (judge.testing.openai_server) with a scripted judge that is too strict on color and size -
it gives 0 to any color/size answer that is not the reference's exact words - unless the prompt
carries the rubric's equivalence tables ("Equivalence criteria:"), and otherwise agrees with the
physicians. The starting rubric is v3 with the equivalence block taken out of its template.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import write_jsonl

from judge.calibrate.run import calibrate
from judge.cli import cli
from judge.models import Case
from judge.rubrics import load_rubric, render_messages, rubrics_dir
from judge.settings import Settings
from judge.testing.openai_server import ChatRequest, FakeOpenAIServer, verdict

MODEL = "openai/fake-judge"

# question, attribute, reference, [(candidate, physicians' score)]
CASES = [
    (
        "What color is the lesion on the forearm?",
        "color",
        "pink",
        [("pink", 1.0), ("salmon-pink", 1.0), ("light red", 1.0), ("red", 0.5), ("brown", 0.0)],
    ),
    (
        "What color is the plaque on the knee?",
        "color",
        "red",
        [("red", 1.0), ("erythematous", 1.0), ("crimson", 1.0), ("pink", 0.5), ("white", 0.0)],
    ),
    (
        "What color is the macule on the cheek?",
        "color",
        "brown",
        [("brown", 1.0), ("tan", 1.0), ("hyperpigmented", 1.0), ("dark brown", 0.5), ("red", 0.0)],
    ),
    (
        "What color is the patch on the back?",
        "color",
        "white",
        [("white", 1.0), ("porcelain-white", 1.0), ("depigmented", 1.0), ("yellow", 0.5), ("violet", 0.0)],
    ),
    (
        "How large are the papules on the trunk?",
        "size",
        "pinpoint",
        [("pinpoint", 1.0), ("pinhead-sized", 1.0), ("pin-sized", 1.0), ("rice-grain", 0.0), ("palm-sized", 0.0)],
    ),
    (
        "How large is the nodule on the scalp?",
        "size",
        "soybean-sized",
        [("soybean-sized", 1.0), ("about 1 cm", 1.0), ("fingertip-sized", 1.0), ("coin-sized", 0.5), ("pinpoint", 0.0)],
    ),
    (
        "What is the most likely diagnosis?",
        None,
        "psoriasis",
        [("psoriasis", 1.0), ("plaque psoriasis", 1.0), ("a papulosquamous disease", 0.5), ("eczema", 0.0)],
    ),
    (
        "Which diagnosis fits the pearly papule?",
        None,
        "basal cell carcinoma",
        [("BCC", 1.0), ("basal cell carcinoma", 1.0), ("skin cancer", 0.5), ("melanoma", 0.0)],
    ),
]
PART_CYCLE = ("train", "train", "dev", "test", "train")


def gold_rows() -> dict[str, list[dict]]:
    """The fixture gold set cut into parts: each question's candidates cycle train, train, dev, test, train."""
    parts: dict[str, list[dict]] = {"train": [], "dev": [], "test": []}
    n = 0
    for question, attribute, reference, candidates in CASES:
        ability = "attribute_recognition" if attribute else "disease_diagnosis"
        for k, (candidate, score) in enumerate(candidates):
            n += 1
            row = {
                "id": f"g{n:03d}",
                "ability": ability,
                "question_type": "short_answer",
                "language": "en",
                "question": question,
                "reference": reference,
                "candidate": candidate,
                "ratings": {"md": score},
            }
            if attribute:
                row["attribute"] = attribute
            parts[PART_CYCLE[k]].append(row)
    return parts


GOLD = {(r["question"], r["reference"], r["candidate"]): r["ratings"]["md"] for p in gold_rows().values() for r in p}


def _last_block(text: str, tag: str) -> str | None:
    # the last <tag> block: v3's rules mention "<candidate_answer>" in prose before the real block
    found = re.findall(rf"<{tag}>\s*((?:(?!<{tag}>).)*?)\s*</{tag}>", text, re.S)
    return found[-1] if found else None


def strict_judge(req: ChatRequest) -> str:
    """Too strict on color/size unless the prompt carries the equivalence criteria; right otherwise."""
    prompt = req.first_user
    question, reference = _last_block(prompt, "question"), _last_block(prompt, "reference")
    candidate = _last_block(prompt, "candidate_answer")
    gold = GOLD.get((question, reference, candidate))
    if gold is None:
        return verdict(0, "not a case I know")
    everything = "\n".join(str(m.get("content")) for m in req.messages)
    attribute = re.search(r"Attribute asked: (\w+)", everything)
    strict = attribute is not None and attribute.group(1) in ("color", "size")
    if strict and "Equivalence criteria:" not in everything and candidate.lower() != reference.lower():
        return verdict(0, "not the reference's words")
    return verdict(gold, "as a physician would")


def proposing_judge(req: ChatRequest) -> str:
    """The strict judge, which also answers DSPy's own prompts (MIPROv2's instruction proposer) field by field."""
    if _last_block(req.first_user, "candidate_answer") is not None:
        return strict_judge(req)
    system = next((str(m.get("content")) for m in req.messages if m.get("role") == "system"), "")
    fields = re.search(r"Your output fields are:(.*?)(?:All interactions|$)", system, re.S)
    names = re.findall(r"`(\w+)`", fields.group(1)) if fields else []
    text = {
        True: "Grade the candidate against the reference as a physician would.\n\n$equivalences",
        False: "Grading answers about skin lesions.",
    }
    body = [f"[[ ## {n} ## ]]\n{text['instruction' in n]}" for n in names]
    return "\n\n".join([*body, "[[ ## completed ## ]]"])


def fair_judge(req: ChatRequest) -> str:
    """Agrees with the physicians whatever the prompt: there is nothing to improve."""
    prompt = req.first_user
    key = (_last_block(prompt, "question"), _last_block(prompt, "reference"), _last_block(prompt, "candidate_answer"))
    return verdict(GOLD.get(key, 0.0), "as a physician would")


@pytest.fixture
def rubric_root(tmp_path, monkeypatch) -> Path:
    """The drafts folder (drafts land here); the starting rubric is :func:`base_v3` of it."""
    root = tmp_path / "rubrics"
    v3 = Path(base_v3(root))
    v3.parent.mkdir(parents=True)
    data = yaml.safe_load((rubrics_dir() / "clinical" / "v3.yaml").read_text(encoding="utf-8"))
    data["template"] = data["template"].replace("$equivalences", "")
    v3.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    monkeypatch.setenv("JUDGE_RUBRICS_DIR", str(root))
    return root


def base_v3(root: Path) -> str:
    """The starting rubric: a clinical/v3 whose template lacks the equivalence block (outside the
    searched folders, so it is given by path)."""
    return str(root.parent / "base" / "clinical" / "v3.yaml")


@pytest.fixture
def parts(tmp_path) -> dict[str, str]:
    rows = gold_rows()
    return {name: str(write_jsonl(tmp_path / f"{name}.jsonl", rows[name])) for name in ("train", "dev", "test")}


def _run(server: FakeOpenAIServer, store, root: Path, parts: dict[str, str], **kw):
    return calibrate(
        base_v3(root),
        store=store,
        backend=MODEL,
        backend_options={"api_base": server.url, "api_key": "sk-fake"},
        n_boot=200,
        **parts,
        **kw,
    )


def test_dspy_calibration_finds_the_equivalence_prompt_and_never_sees_held_out(rubric_root, parts, store):
    seen: set[str] = set()
    with FakeOpenAIServer(strict_judge) as server:
        result = _run(server, store, rubric_root, parts, record=seen.update)
        first_run_requests = server.total

        # the loop found the better prompt, on held-out gold
        before, after = result.figures["test"]["before"], result.figures["test"]["after"]
        assert after.alpha_ordinal > before.alpha_ordinal and result.improved
        assert result.chosen.startswith("+equivalences") and result.rubric == "clinical/v4"

        # honesty: the optimizer judged train and dev cases only
        split = {p: {r["id"] for r in gold_rows()[p]} for p in ("train", "dev", "test")}
        assert seen and not seen & split["test"]
        assert seen <= split["train"] | split["dev"]

        # the artefact is a rubric file any LLM backend uses through the normal renderer
        v4 = load_rubric("v4")
        assert v4.status == "draft" and v4.derived_from == "v3" and "$equivalences" in v4.template
        color = Case(
            question="What color?",
            references=["pink"],
            candidate="salmon",
            attribute="color",
            ability="attribute_recognition",
        )
        assert "Equivalence criteria:" in render_messages(v4, color)[1]["content"]
        prov = v4.provenance
        assert prov["improved"] is True and prov["optimizer"] == "instruct-search" and prov["backend"] == MODEL
        assert prov["split"]["test"] == sorted(split["test"]) and prov["gold"]["test"]["sha256"]
        held = prov["agreement"]["held_out"]
        assert held["after"]["alpha_ordinal"] > held["before"]["alpha_ordinal"] and held["after"]["ci95"]
        assert prov["lm_calls"]["optimizer"]["issued"] > 0 and prov["seed"] == 0
        state = json.loads(Path(result.program_state).read_text())
        assert "judge" in json.dumps(state)

        # a rerun pays for nothing: DSPy's disk cache and the store's judgment cache answer it all
        again = _run(server, store, rubric_root, parts)
        assert server.total == first_run_requests
        assert again.lm_calls["optimizer"]["sent"] == 0 and again.lm_calls["measurement"] == 0
        assert again.rubric == "clinical/v5" and load_rubric("v5").template == v4.template


def test_budget_bounds_the_optimizer_and_an_interrupted_run_resumes_without_paying_again(rubric_root, parts, store):
    with FakeOpenAIServer(strict_judge) as server:
        cut = _run(server, store, rubric_root, parts, budget=40)
        assert cut.lm_calls["optimizer"]["issued"] <= 40 and cut.lm_calls["optimizer"]["sent"] <= 40
        assert any("budget" in n for n in cut.notes) and load_rubric("v4").status == "draft"
        sent_before = server.total

        resumed = _run(server, store, rubric_root, parts)
        calls = resumed.lm_calls
        # every call the cut run made is served from cache; only the rest is sent
        assert calls["optimizer"]["from_cache"] >= cut.lm_calls["optimizer"]["issued"]
        assert server.total - sent_before == calls["optimizer"]["sent"] + calls["measurement"]
        assert resumed.improved


def test_mipro_puts_an_lm_proposed_instruction_into_the_rubric(rubric_root, parts, store):
    with FakeOpenAIServer(proposing_judge) as server:
        result = _run(server, store, rubric_root, parts, optimizer="mipro", budget=200)
    assert result.lm_calls["optimizer"]["issued"] <= 200 and result.optimizer == "mipro"
    v4 = load_rubric("v4")
    assert v4.system.startswith("Grade the candidate") and v4.provenance["optimizer"] == "mipro"
    assert (
        "Equivalence criteria:"
        in render_messages(v4, Case(question="q", references=["pink"], candidate="red"))[0]["content"]
    )
    assert result.improved


def test_a_calibration_that_does_not_beat_its_start_says_so(rubric_root, parts, store):
    runner = CliRunner()
    with FakeOpenAIServer(fair_judge) as server:
        out = runner.invoke(
            cli,
            [
                "calibrate",
                "--rubric",
                base_v3(rubric_root),
                "--backend",
                MODEL,
                "--api-base",
                server.url,
                "--api-key",
                "sk-fake",
                "--n-boot",
                "100",
                "--quiet",
                "--train",
                parts["train"],
                "--dev",
                parts["dev"],
                "--test",
                parts["test"],
            ],
        )
    assert out.exit_code == 0, out.output
    assert "improved on held-out: NO" in out.output and "NOT IMPROVED" in out.output
    assert "it did not improve, so publishing it needs --force: judge rubrics publish clinical/v4" in out.output
    refused = runner.invoke(cli, ["rubrics", "publish", "clinical/v4"])
    assert refused.exit_code == 2 and "did not improve on held-out gold" in refused.output
    v4 = load_rubric("v4")
    assert v4.status == "draft" and v4.provenance["improved"] is False
    assert "NOT an improvement" in v4.description


def test_cli_reports_and_refuses_what_it_cannot_do(rubric_root, parts, tmp_path):
    runner = CliRunner()
    bad = runner.invoke(cli, ["calibrate", "--train", parts["train"], "--dev", parts["dev"]])
    assert bad.exit_code == 2 and "give all three of --train, --dev and --test" in bad.output
    none = runner.invoke(cli, ["calibrate"])
    assert none.exit_code == 2 and "--gold" in none.output
    with FakeOpenAIServer(strict_judge) as server:
        html = tmp_path / "r.html"
        ok = runner.invoke(
            cli,
            [
                "calibrate",
                "--backend",
                MODEL,
                "--api-base",
                server.url,  # no key: a local server needs none
                "--budget",
                "30",
                "--n-boot",
                "50",
                "--quiet",
                "--report",
                str(html),
                "--train",
                parts["train"],
                "--dev",
                parts["dev"],
                "--test",
                parts["test"],
            ],
        )
    assert ok.exit_code == 0, ok.output
    assert "held-out" in ok.output and "clinical/v4" in ok.output and html.read_text().startswith("<!doctype html>")
    # 30 allowed: the base on the train sample (22) and on dev (8); no other candidate fits in the budget
    assert "LM calls: optimizer 30 issued (30 sent" in ok.output and "budget reached" in ok.output
    assert (Settings().data_dir / "dspy_cache").is_dir()  # DSPy's cache lives under the project's data dir
