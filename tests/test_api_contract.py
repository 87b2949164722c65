"""The API contract: Schemathesis, an independent fuzzer, derives requests from the service's own
OpenAPI document and fails on any answer the document does not promise.

Every check Schemathesis has runs (server errors, status codes, content types, response schemas
and headers, schema-valid data accepted and schema-invalid data refused, ignored auth, Allow
headers, ...) over its examples, coverage and fuzzing phases; then the stateful phase follows
the document's links from ``POST /jobs`` and ``GET /jobs`` to the job read operations. It runs
in process against the ASGI app, with keys and without (the documents differ: no security and
no 401 without keys), and against a real ``judge serve`` with keys through Schemathesis's own
command line. The seed is fixed and the examples per operation bounded, so each run is
repeatable and short. What the document cannot say lives in ``_contract_rules.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from _contract_rules import config_toml
from _service_fakes import KEY, SAMPLE, judge_serve
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi

from judge.settings import Settings
from service.app import create_app

BENCH = SAMPLE / "benchmark.jsonl"
PREDS = SAMPLE / "predictions" / "vlm_concise.jsonl"
STATEFUL_EXAMPLES = 12


# ------------------------------------------------------------------------------ the app, in process
#
# The apps and their documents are built at import (nothing starts: create_app does no work until
# its lifespan), so that Schemathesis's pytest plugin can make one test per operation. The
# lifespans start with the module fixture, which seeds a finished job, and stop with it.

RUN_DIR = Path(tempfile.gettempdir()) / f"judge-contract-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _app(name: str, key: str | None) -> Any:
    settings_ = Settings(data_dir=RUN_DIR / name, backend="local", api_keys=key, max_batch=8)
    return create_app(settings_, job_poll_seconds=0.05)


def _schema(app: Any, key: str | None) -> Any:
    schema = schemathesis.openapi.from_dict(app.openapi(), config=SchemathesisConfig.from_str(config_toml(key)))
    schema.app = app  # calls go to the ASGI app in process (what from_asgi sets)
    return schema


APPS = {"with keys": _app("keys", KEY), "without keys": _app("open", None)}
KEYED = _schema(APPS["with keys"], KEY)
OPEN = _schema(APPS["without keys"], None)
SENT: dict[str, dict[str, int]] = {name: {} for name in APPS}
"""Cases sent per operation by each in-process run."""


def _seed_job(session: Any, url: str = "") -> str:
    """A finished job, so that job reads have something to read (also through GET /jobs's link)."""
    files = [("benchmark", (BENCH.name, BENCH.read_bytes())), ("predictions", (PREDS.name, PREDS.read_bytes()))]
    r = session.post(f"{url}/jobs", files=files)
    assert r.status_code == 202, r.text
    job = r.json()["id"]
    deadline = time.monotonic() + 60
    while session.get(f"{url}/jobs/{job}").json()["state"] not in ("complete", "failed"):
        assert time.monotonic() < deadline, "the seed job did not finish in 60 s"
        time.sleep(0.05)
    return str(job)


@pytest.fixture(scope="module", autouse=True)
def running_apps() -> Iterator[None]:
    """Both apps started (Schemathesis's ASGI client runs their lifespans), each with a finished job."""
    try:
        for name, app in APPS.items():
            with asgi.get_client(app) as client:
                if name == "with keys":
                    client.headers["Authorization"] = f"Bearer {KEY}"
                _seed_job(client)
        yield
    finally:
        asgi.shutdown_lifespans()
        shutil.rmtree(RUN_DIR, ignore_errors=True)


def _count(name: str, case: Any) -> None:
    SENT[name][case.operation.label] = SENT[name].get(case.operation.label, 0) + 1


@KEYED.parametrize()
def test_the_service_keeps_its_contract_with_keys(case: Any) -> None:
    _count("with keys", case)
    case.call_and_validate()


@OPEN.parametrize()
def test_the_service_keeps_its_contract_without_keys(case: Any) -> None:
    _count("without keys", case)
    case.call_and_validate()


@pytest.mark.parametrize("name", list(SENT))
def test_the_fuzz_run_reached_every_operation(name: str) -> None:
    """Runs after the fuzz run above (pytest keeps file order); ``pytest -s`` prints what it sent."""
    sent = SENT[name]
    if not sent:
        pytest.skip("the fuzz run was not selected")
    print(f"\n{name}: {len(sent)} operations, {sum(sent.values())} cases: {dict(sorted(sent.items()))}")
    assert len(sent) == len(_operations(KEYED.raw_schema)) == 10
    assert all(n >= 10 for n in sent.values()), sent


def _operations(doc: dict[str, Any]) -> list[str]:
    return [f"{method.upper()} {path}" for path, ops in doc["paths"].items() for method in ops]


def _links(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (op["operationId"], link["operationId"])
        for path in doc["paths"].values() for op in path.values()
        for response in op["responses"].values() for link in response.get("links", {}).values()
    }


@pytest.mark.parametrize("schema", [KEYED, OPEN], ids=["with keys", "without keys"])
def test_linked_job_reads_keep_the_contract(schema: Any) -> None:
    """Sequences of calls that follow the document's links keep the contract, and do reach a job's reads."""
    assert {("create_job", "get_job"), ("create_job", "get_job_results"), ("create_job", "get_job_table"),
            ("list_jobs", "get_job"), ("list_jobs", "get_job_results"), ("list_jobs", "get_job_table")} <= _links(
        schema.raw_schema)
    answers: dict[tuple[str, int], int] = {}

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def after_call(self, response: Any, case: Any) -> None:
            key = (case.operation.label, response.status_code)
            answers[key] = answers.get(key, 0) + 1

    Workflow.run(settings=settings(
        max_examples=STATEFUL_EXAMPLES, stateful_step_count=6, deadline=None, database=None, derandomize=True,
        suppress_health_check=list(HealthCheck),
    ))
    print(f"\nstateful: {sum(answers.values())} calls: {dict(sorted(answers.items()))}")
    reads = {label for (label, status) in answers if status == 200 and label.startswith("GET /jobs/")}
    assert reads == {"GET /jobs/{job_id}", "GET /jobs/{job_id}/results", "GET /jobs/{job_id}/table"}, answers


# ------------------------------------------------------------------------------ a real judge serve


def test_a_real_judge_serve_with_keys_keeps_its_contract(tmp_path: Path) -> None:
    """Schemathesis's command line, as an operator would run it, against ``judge serve`` on 127.0.0.1."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(config_toml(KEY, hooks=True), encoding="utf-8")
    with judge_serve(tmp_path / "data", JUDGE_BACKEND="local", JUDGE_MAX_BATCH="8") as (url, _):
        with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as client:
            _seed_job(client, url)
        t0 = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color", "run",
             f"{url}/openapi.json", "--checks", "all", "--workers", "1", "-H", f"Authorization: Bearer {KEY}"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,
        )
    seconds = time.monotonic() - t0
    summary = run.stdout[run.stdout.rfind("SUMMARY"):]
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    tested = re.search(r"Tested: (\d+)", summary)
    generated = re.search(r"(\d+) generated", summary)
    assert tested and tested.group(1) == "10" and generated, summary
    print(f"\njudge serve with keys: 10 operations, {generated.group(1)} cases, 0 failures in {seconds:.0f} s")
