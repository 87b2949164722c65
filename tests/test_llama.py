"""A real small LLM (llama.cpp + a GGUF from PyPI) as the judge: the whole path with a real model.

Run ``scripts/llama_server.sh test``. Skipped when no server answers at ``$JUDGE_LLAMA_URL``
(default http://127.0.0.1:8081/v1), so CI never depends on it. The model is tiny: what is tested is
that every answer comes back scored on the scale or explicitly unscored, never that it is right.
"""

from __future__ import annotations

import os

import httpx
import pytest

from judge.backends import get_backend
from judge.models import SCALE, BenchmarkItem, Prediction
from judge.rubrics import load_rubric
from judge.scoring import Scorer, tasks_for

URL = os.environ.get("JUDGE_LLAMA_URL", "http://127.0.0.1:8081/v1")
MODEL = os.environ.get("JUDGE_LLAMA_MODEL", "openai/smollm2")


def _server_up() -> bool:
    try:  # loopback only, and a refused port answers at once
        return httpx.get(f"{URL}/models", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


pytestmark = [pytest.mark.llama, pytest.mark.skipif(not _server_up(), reason=f"no llama.cpp server at {URL}")]


def test_a_real_model_judges_open_answers(store):
    items = [
        BenchmarkItem(
            id=f"q{i}",
            split="test",
            ability="attribute_recognition",
            question_type="short_answer",
            question="What color is the lesion?",
            answer="pink",
            attribute="color",
        )
        for i in range(3)
    ]
    preds = [Prediction(id=f"q{i}", model="vlm", prediction=a) for i, a in enumerate(["pink", "pinkish", "dark brown"])]
    backend = get_backend(MODEL, api_base=URL, timeout=300, max_retries=1, max_tokens=160)
    # v2: ~550 prompt tokens (v3's equivalence tables make ~4,400: minutes per answer on a CPU)
    verdicts = Scorer(backend, load_rubric("clinical/v2"), store, concurrency=1).score(tasks_for(items, preds)[0])
    for v in verdicts:
        assert (v.score in SCALE) or (v.score is None and v.unscored_reason)
        assert v.raw_output and v.usage.calls >= 1 and v.usage.prompt_tokens > 300
    assert not any(v.unscored_reason and "gave up" in v.unscored_reason for v in verdicts)
