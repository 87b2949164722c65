"""Whole-benchmark jobs through the TestClient: upload, validate, run, results, restart and resume."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import threading
import time

import pytest
from _service_fakes import SAMPLE, FakeBackend, running, wait_until

from judge.store import Store
from service.jobs import JobRepo, JobRunner
from service.telemetry import Metrics

BENCH = SAMPLE / "benchmark.jsonl"
PREDS = [SAMPLE / "predictions" / "vlm_concise.jsonl", SAMPLE / "predictions" / "text_only.jsonl"]
N_ITEMS = sum(1 for line in BENCH.read_text(encoding="utf-8").splitlines() if line.strip())


def _upload(client, bench=BENCH, preds=PREDS, **fields):
    files = [("benchmark", (bench.name, bench.read_bytes(), "application/x-ndjson"))]
    files += [("predictions", (p.name, p.read_bytes(), "application/x-ndjson")) for p in preds]
    return client.post("/jobs", files=files, data=fields)


def _finished(client, job_id, timeout=20.0):
    return wait_until(
        lambda: (s := client.get(f"/jobs/{job_id}").json())["state"] in ("complete", "failed") and s, timeout
    )


def _store(tmp_path) -> Store:
    return Store.open(tmp_path / "data" / "judge.db")


def test_an_uploaded_job_runs_to_completion_with_results_and_table(tmp_path):
    with running(tmp_path) as client:
        r = _upload(client)
        assert r.status_code == 202, r.text
        job = r.json()
        assert r.headers["location"] == f"/jobs/{job['id']}"
        assert job["state"] == "queued" and job["progress"] == {"done": 0, "total": 2 * N_ITEMS}
        assert job["benchmark"] == "benchmark.jsonl" and job["predictions"] == ["vlm_concise.jsonl", "text_only.jsonl"]
        done = _finished(client, job["id"])
        jsonl = client.get(f"/jobs/{job['id']}/results")
        as_csv = client.get(f"/jobs/{job['id']}/results", params={"format": "csv"})
        table = client.get(f"/jobs/{job['id']}/table").json()
        markdown = client.get(f"/jobs/{job['id']}/table", params={"format": "markdown"})
        table_csv = client.get(f"/jobs/{job['id']}/table", params={"format": "csv"})
        listing = client.get("/jobs").json()["jobs"]
    assert done["state"] == "complete" and done["error"] is None and done["attempts"] == 1
    assert done["progress"] == {"done": 2 * N_ITEMS, "total": 2 * N_ITEMS}
    verdicts = [json.loads(line) for line in jsonl.text.splitlines()]
    assert jsonl.headers["content-type"].startswith("application/x-ndjson") and len(verdicts) == 2 * N_ITEMS
    assert {v["model"] for v in verdicts} == {"vlm-concise", "text-only"}
    assert done["unscored"] == sum(v["score"] is None for v in verdicts)
    assert sum(done["unscored_reasons"].values()) == done["unscored"]
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == 2 * N_ITEMS and {"item_id", "score", "rubric_sha", "cached"} <= set(rows[0])
    assert [row["model"] for row in table["rows"]] == ["vlm-concise", "text-only"]
    assert table["provenance"]["run_id"] == done["run_id"] and table["provenance"]["backend"] == "fake"
    assert markdown.headers["content-type"].startswith("text/markdown") and markdown.text.startswith("# Scores")
    assert table_csv.text.startswith("model,group,key,score,n,answered,unscored")
    assert listing[0]["id"] == job["id"]
    store = _store(tmp_path)
    assert store.get_run(done["run_id"])["status"] == "complete" and len(store.verdict_rows(done["run_id"])) == 2 * N_ITEMS
    store.close()


def test_a_job_over_server_side_files_inside_the_data_dir(tmp_path):
    inputs = tmp_path / "data" / "inputs"
    inputs.mkdir(parents=True)
    for f in (BENCH, *PREDS):
        shutil.copy(f, inputs / f.name)
    outside = tmp_path / "outside.jsonl"
    shutil.copy(BENCH, outside)
    with running(tmp_path) as client:
        r = client.post("/jobs", json={"benchmark": "inputs/benchmark.jsonl", "predictions": ["inputs/text_only.jsonl"],
                                       "split": "test"})
        assert r.status_code == 202, r.text
        done = _finished(client, r.json()["id"])
        escape = client.post("/jobs", json={"benchmark": "../outside.jsonl"})
        absolute = client.post("/jobs", json={"benchmark": str(outside)})
        missing = client.post("/jobs", json={"benchmark": "inputs/nope.jsonl"})
        typo = client.post("/jobs", json={"benchmark": "inputs/benchmark.jsonl", "predictons": []})
    n_test = sum('"split": "test"' in line for line in BENCH.read_text(encoding="utf-8").splitlines())
    assert done["state"] == "complete" and done["split"] == "test" and done["progress"]["total"] == n_test
    assert escape.status_code == 403 and "outside the server's data directory" in escape.json()["detail"]
    assert absolute.status_code == 403
    assert missing.status_code == 422 and missing.json()["detail"] == "inputs/nope.jsonl: file not found on the server"
    assert typo.status_code == 422 and typo.json()["detail"] == "body.predictons: unknown field"


@pytest.mark.parametrize(
    ("bad_line", "problem"),
    [
        ('{"id": "mlv-0001", "model": "m"}', "preds.jsonl:2: prediction: Field required"),
        ('{"id": "no-such-item", "model": "m", "prediction": "x"}', "preds.jsonl:2: id 'no-such-item' is not in the benchmark"),
        ("{oops", "preds.jsonl:2: invalid JSON"),
        ('{"id": "mlv-0001", "model": "m", "prediction": "B"}', "preds.jsonl:2: model 'm' already answered id 'mlv-0001' at preds.jsonl:1"),
    ],
)
def test_a_bad_line_in_an_upload_fails_creation_with_file_and_line(tmp_path, bad_line, problem):
    preds = tmp_path / "preds.jsonl"
    preds.write_text('{"id": "mlv-0001", "model": "m", "prediction": "B"}\n' + bad_line + "\n", encoding="utf-8")
    with running(tmp_path) as client:
        r = _upload(client, preds=[preds])
        listing = client.get("/jobs").json()["jobs"]
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(problem)
    assert str(tmp_path) not in r.json()["detail"]  # server paths never leak
    assert listing == [] and not any((tmp_path / "data" / "jobs").iterdir())


def test_a_bad_benchmark_names_its_line(tmp_path):
    bench = tmp_path / "bench.jsonl"
    lines = BENCH.read_text(encoding="utf-8").splitlines()
    bench.write_text("\n".join([lines[0], lines[1].replace('"ability": "lesion_recognition"', '"ability": "x"')]) + "\n",
                     encoding="utf-8")
    with running(tmp_path) as client:
        r = _upload(client, bench=bench)
    assert r.status_code == 422 and r.json()["detail"].startswith("bench.jsonl:2: ability: Input should be")


def test_job_request_errors(tmp_path):
    gate = threading.Event()
    with running(tmp_path, FakeBackend(gate=gate), allowed_backends="") as client:
        job = _upload(client).json()
        wait_until(lambda: client.get(f"/jobs/{job['id']}").json()["state"] == "running")
        early = client.get(f"/jobs/{job['id']}/results")
        early_table = client.get(f"/jobs/{job['id']}/table")
        unknown = client.get("/jobs/0123456789abcdef")
        weird = client.get("/jobs/..%2F..%2Fetc")
        fmt = client.get(f"/jobs/{job['id']}/results", params={"format": "xml"})
        text = client.post("/jobs", content=b"benchmark=x", headers={"content-type": "text/plain"})
        no_bench = client.post("/jobs", files=[("predictions", ("p.jsonl", PREDS[0].read_bytes()))])
        extra = client.post("/jobs", files=[("benchmark", ("b.jsonl", BENCH.read_bytes()))], data={"colour": "x"})
        bad_split = _upload(client, split="train")
        refused = _upload(client, backend="openai/gpt-4o")
        gate.set()
        _finished(client, job["id"])
    assert early.status_code == 409 and "running" in early.json()["detail"] and early_table.status_code == 409
    assert unknown.status_code == 404 and weird.status_code == 404
    assert fmt.status_code == 422 and fmt.json()["detail"].startswith("query.format:")
    assert text.status_code == 415
    assert no_bench.status_code == 422 and "body.benchmark" in no_bench.json()["detail"]
    assert extra.status_code == 422 and extra.json()["detail"] == "body.colour: unknown field"
    assert bad_split.status_code == 422 and bad_split.json()["detail"].startswith("body.split:")
    assert refused.status_code == 403


def test_an_upload_over_the_body_limit_is_a_413_and_queues_nothing(tmp_path):
    with running(tmp_path, max_body_bytes=5_000) as client:
        r = _upload(client)
        listing = client.get("/jobs").json()["jobs"]
    assert r.status_code == 413 and listing == []


def test_a_backend_failure_fails_the_job_with_the_reason(tmp_path):
    preds = tmp_path / "preds.jsonl"
    rows = [json.loads(line) for line in BENCH.read_text(encoding="utf-8").splitlines() if line.strip()]
    open_ended = next(r for r in rows if r["question_type"] != "mcq")
    preds.write_text(json.dumps({"id": open_ended["id"], "model": "m", "prediction": "BOOM"}) + "\n", encoding="utf-8")
    with running(tmp_path) as client:
        job = _upload(client, preds=[preds]).json()
        done = _finished(client, job["id"])
        results = client.get(f"/jobs/{job['id']}/results")
        metrics = client.get("/metrics").text
    assert done["state"] == "failed" and done["error"] == "fake provider down"
    assert results.status_code == 409 and "failed: fake provider down" in results.json()["detail"]
    assert 'judge_jobs_total{state="failed"} 1' in metrics and 'judge_backend_errors_total{backend="fake"} 1' in metrics


def test_a_job_interrupted_by_a_shutdown_resumes_at_the_next_start_and_skips_finished_work(tmp_path):
    gate = threading.Event()
    first = FakeBackend(gate=gate, free_calls=20)
    with running(tmp_path, first) as client:
        job = _upload(client).json()
        first.held.wait(20)
        # stop the service while judgments are held; release them once the stop has begun
        threading.Timer(0.3, gate.set).start()
    store = _store(tmp_path)
    row = JobRepo.get(store, job["id"])
    kept = store.count_judgments()
    store.close()
    assert row is not None and row.state == "queued" and row.owner is None and kept >= 20

    second = FakeBackend()
    with running(tmp_path, second) as client:
        done = _finished(client, job["id"])
        n_verdicts = len(client.get(f"/jobs/{job['id']}/results").text.splitlines())
    assert done["state"] == "complete" and done["attempts"] == 2 and n_verdicts == 2 * N_ITEMS
    store = _store(tmp_path)
    total = store.count_judgments()
    assert kept <= first.calls and second.calls == total - kept  # the resume judged only what was missing
    assert [r["status"] for r in store.db["runs"].rows_where("command = 'score'", order_by="started_at")] == [
        "failed", "complete"]
    store.close()


def test_a_job_left_running_by_a_crashed_process_is_requeued_on_start(tmp_path):
    gate = threading.Event()
    with running(tmp_path, FakeBackend(gate=gate)) as client:
        job = _upload(client).json()
        wait_until(lambda: client.get(f"/jobs/{job['id']}").json()["state"] == "running")
        threading.Timer(0.2, gate.set).start()
    store = _store(tmp_path)
    # what a kill -9 leaves behind: still `running`, owned by a process that is gone
    store.db["jobs"].update(job["id"], {"state": "running", "owner": f"{socket.gethostname()}:99999999:deadbeef"})
    store.close()
    with running(tmp_path) as client:
        done = _finished(client, job["id"])
        metrics = client.get("/metrics").text
    assert done["state"] == "complete" and done["attempts"] == 2
    assert 'judge_jobs_total{state="queued"} 1' in metrics


def test_orphans_are_judged_by_process_liveness_on_this_host_and_by_lease_elsewhere(tmp_path):
    store = Store.open(tmp_path / "j.db")
    runner = JobRunner(tmp_path / "j.db", tmp_path, lambda spec: FakeBackend(spec), Metrics(), lease_seconds=60)
    host, now = socket.gethostname(), time.time()
    owners = {
        "alive-here": f"{host}:{os.getpid()}:{runner.token}x",  # this very pid, another boot: a restarted container
        "parent-here": f"{host}:{os.getppid()}:aaaa",  # a live process: keep
        "dead-here": f"{host}:99999999:bbbb",
        "remote-fresh": "otherhost:1:cccc",
        "remote-stale": "otherhost:2:dddd",
        "mine": runner.owner,
    }
    for job_id, owner in owners.items():
        beat = now - 3600 if job_id == "remote-stale" else now
        store.db["jobs"].insert({"id": job_id, "state": "running", "owner": owner, "heartbeat_at": beat, "created_at": now})
    requeued = runner.requeue_orphans(store)
    store.close()
    assert sorted(requeued) == ["alive-here", "dead-here", "remote-stale"]


def test_two_processes_sharing_a_store_never_run_a_job_twice(tmp_path):
    a, b = FakeBackend(), FakeBackend()
    with running(tmp_path, a, poll=0.01) as one, running(tmp_path, b, poll=0.01) as two:
        ids = [_upload(one if i % 2 else two, preds=PREDS[:1]).json()["id"] for i in range(6)]
        states = [_finished(one, job_id) for job_id in ids]
    assert all(s["state"] == "complete" and s["attempts"] == 1 for s in states)
    store = _store(tmp_path)
    assert store.db["runs"].count_where("command = 'score'") == 6
    store.close()


def test_score_requests_are_served_while_a_job_runs(tmp_path):
    gate = threading.Event()
    with running(tmp_path, FakeBackend(gate=gate, free_calls=5)) as client:
        job = _upload(client).json()
        wait_until(lambda: client.get(f"/jobs/{job['id']}").json()["state"] == "running")
        mcq = {"question": "Q", "options": {"A": "x", "B": "y"}, "answer": "A", "candidate": "A"}
        replies = [client.post("/score", json={**mcq, "id": str(i)}) for i in range(20)]
        health = client.get("/healthz")
        gate.set()
        done = _finished(client, job["id"])
    assert all(r.status_code == 200 and r.json()["score"] == 1.0 for r in replies)
    assert health.status_code == 200 and done["state"] == "complete"


def test_jobs_survive_bad_requests(tmp_path):
    with running(tmp_path) as client:
        job = _upload(client).json()
        done = _finished(client, job["id"])
        before = client.get(f"/jobs/{job['id']}/results").text
        for bad in (
            lambda: client.post("/jobs", content=b"{", headers={"content-type": "application/json"}),
            lambda: client.post("/jobs", content=b"x" * 10_000_000, headers={"content-type": "application/json"}),
            lambda: client.post("/jobs", json={"benchmark": "../../etc/passwd"}),
            lambda: client.get("/jobs/not-a-job/results"),
        ):
            assert 400 <= bad().status_code < 500
    with running(tmp_path) as client:  # and a restart
        again = client.get(f"/jobs/{job['id']}").json()
        after = client.get(f"/jobs/{job['id']}/results").text
    assert again == done and after == before
