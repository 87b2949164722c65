"""The HTTP service through FastAPI's TestClient: /score, auth, limits, errors, metrics, threads."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from _service_fakes import ROOT, FakeBackend, running, wait_until

from judge.errors import BackendError
from judge.models import Case
from judge.rubrics import load_rubric
from judge.scoring import Scorer, Task
from judge.store import Store
from service.db import StorePool
from service.engine import ScoringEngine
from service.middleware import BodyLimitMiddleware
from service.telemetry import Metrics

Q = {"question": "What color is the lesion?", "reference": "pink", "candidate": "pink", "attribute": "color"}
MCQ = {"question": "Which lesion?", "options": {"A": "Papule", "B": "Plaque"}, "answer": "B", "candidate": "Answer: B"}


def _store(tmp_path) -> Store:
    return Store.open(tmp_path / "data" / "judge.db")


# ----------------------------------------------------------------------------------- scoring


def test_score_one_answer_returns_score_and_provenance(tmp_path):
    with running(tmp_path) as client:
        r = client.post("/score", json={**Q, "id": "q1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == "q1" and body["score"] == 1.0 and body["unscored_reason"] is None
    assert body["rationale"] == "matches the reference" and body["method"] == "critic"
    rubric = load_rubric("clinical/v3")
    assert (body["rubric"], body["rubric_sha"]) == (rubric.id, rubric.sha256)
    assert (body["backend"], body["model"], body["cached"]) == ("fake", "fake-model-1", False)
    assert body["latency_ms"] == 1.0 and body["run_id"]
    assert r.headers["x-request-id"]


def test_identical_request_is_served_from_the_store_cache(tmp_path):
    backend = FakeBackend()
    with running(tmp_path, backend) as client:
        first = client.post("/score", json=Q).json()
        second = client.post("/score", json=Q).json()
    assert (first["cached"], second["cached"]) == (False, True)
    assert first["score"] == second["score"] and backend.calls == 1


def test_batch_keeps_order_and_counts_unscored(tmp_path):
    items = [
        {**Q, "id": "a"},
        {**Q, "id": "b", "candidate": "pink and red", "reference": ["pink", "salmon"]},
        {**Q, "id": "c", "candidate": "UNSCORABLE"},
        {**MCQ, "id": "d"},
    ]
    with running(tmp_path) as client:
        r = client.post("/score", json={"items": items})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [x["id"] for x in body["results"]] == ["a", "b", "c", "d"]
    assert [x["score"] for x in body["results"]] == [1.0, 0.5, None, 1.0]
    assert body["results"][2]["unscored_reason"] == "fake: cannot read the answer"
    assert (body["n"], body["unscored"]) == (4, 1)


def test_mcq_is_decided_by_the_rules_without_calling_the_backend(tmp_path):
    backend = FakeBackend()
    with running(tmp_path, backend) as client:
        right = client.post("/score", json=MCQ).json()
        wrong = client.post("/score", json={**MCQ, "candidate": "I pick A"}).json()
        multi = client.post("/score", json={**MCQ, "question_type": "mcq", "answer": ["A", "B"], "candidate": "A"}).json()
    assert right["score"] == 1.0 and right["method"].startswith("mcq:") and right["extracted"] == ["B"]
    assert right["rubric"].startswith("mcq_rules/") and right["model"] == "rules"
    assert wrong["score"] == 0.0
    assert 0.0 <= multi["score"] < 1.0
    assert backend.calls == 0


def test_undecidable_mcq_answer_goes_to_the_backend_and_stays_unscored_with_the_reason(tmp_path):
    backend = FakeBackend()
    with running(tmp_path, backend) as client:
        body = client.post("/score", json={**MCQ, "candidate": "Hmm, hard to say."}).json()
    assert body["score"] is None and "fake backend cannot extract options" in body["unscored_reason"]
    assert body["method"] == "mcq:llm" and backend.calls == 1


def test_the_service_and_the_library_share_one_cache(tmp_path):
    """A verdict computed by the library (as `judge score` does) is a cache hit for the service."""
    backend = FakeBackend()
    store = _store(tmp_path)
    case = Case(question=Q["question"], references=["pink"], candidate="salmon pink", attribute="color", language="en")
    Scorer(backend, load_rubric("clinical/v3"), store).score([Task("x", "m", case)])
    store.close()
    assert backend.calls == 1
    with running(tmp_path, backend) as client:
        body = client.post("/score", json={**Q, "candidate": "salmon pink", "language": "en"}).json()
        assert body["cached"] is True and body["score"] == 0.5 and backend.calls == 1
        fresh = client.post("/score", json={**Q, "candidate": "violet"}).json()
    store = _store(tmp_path)
    case2 = case.model_copy(update={"candidate": "violet"})
    verdict = Scorer(backend, load_rubric("clinical/v3"), store).score([Task("y", "m", case2)])[0]
    store.close()
    assert fresh["cached"] is False and verdict.cached is True and backend.calls == 2


def test_verdicts_are_recorded_as_runs_in_the_store(tmp_path):
    with running(tmp_path) as client:
        run_id = client.post("/score", json={"items": [{**Q, "id": "a"}, {**MCQ, "id": "b"}]}).json()["run_id"]
    store = _store(tmp_path)
    run = store.get_run(run_id)
    rows = {r["item_id"]: r for r in store.verdict_rows(run_id)}
    store.close()
    assert run["command"] == "serve:score" and run["status"] == "complete"
    assert rows["a"]["score"] == 1.0 and rows["b"]["method"].startswith("mcq:")


# ------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        (b'{"question": "Q", "reference": "a", ', "body", "invalid JSON"),
        ({"question": "Q", "reference": "a"}, "body.candidate", "field required"),
        ({"reference": "a", "candidate": "a"}, "body.question", "field required"),
        ({"question": "Q", "candidate": "a"}, "body.reference", "field required"),
        ({**Q, "candidate": 3}, "body.candidate", "valid string"),
        ({**Q, "reference": {"a": 1}}, "body.reference", ""),
        ({**Q, "ability": "dermatology"}, "body.ability", "got 'dermatology'"),
        ({**Q, "colour": "pink"}, "body.colour", "unknown field"),
        ({**MCQ, "answer": "C"}, "body.answer", "names C, which is not among the options A, B"),
        ({**MCQ, "answer": ["A", "D", "C"]}, "body.answer", "names C, D, which are"),
        ({**MCQ, "answer": None}, "body.answer", "valid string"),
        ({k: v for k, v in MCQ.items() if k != "answer"}, "body.answer", "field required"),
        ({**MCQ, "question_type": "short_answer"}, "body.options", "`options` makes an item mcq"),
        ({**Q, "answer": "pink"}, "body.answer", "give the reference of an open-ended item in `reference`"),
        ({**Q, "question_type": "mcq"}, "body.options", "field required"),
        ({**MCQ, "reference": "B"}, "body.reference", "not `reference`"),
        ({**Q, "options": {"A": "x", "BB": "y"}}, "body.options.BB", "single upper-case letters"),
        ({**MCQ, "options": {"a": "x", "b": "y"}, "answer": "A"}, "body.options.a", "single upper-case letters"),
        ({**MCQ, "answer": "A and B"}, "body.answer", "separated by commas"),
        ({**MCQ, "answer": "b"}, "body.answer", "upper-case option letters"),
        ({**Q, "reference": " \u3000\n"}, "body.reference", "something besides whitespace"),
        ({**Q, "reference": ["pink", "\x1f "]}, "body.reference.1", "something besides whitespace"),
        ({**Q, "rubric": " v3"}, "body.rubric", "not a rubric id"),
        ({"items": []}, "body.items", "at least 1 item"),
        ({"items": [{**Q}, {"question": "Q", "reference": "r"}]}, "body.items.1.candidate", "field required"),
        ([Q], "body", "valid dictionary"),
        ({"items": [{**Q, "id": "x"}, {**MCQ, "id": "x"}]}, "body.items", "duplicate id 'x'"),
    ],
)
def test_invalid_requests_get_a_422_naming_the_field_and_the_problem(tmp_path, body, field, problem):
    with running(tmp_path) as client:
        if isinstance(body, bytes):
            r = client.post("/score", content=body, headers={"content-type": "application/json"})
        else:
            r = client.post("/score", json=body)
    assert r.status_code == 422, r.text
    listed = r.json()["errors"]
    assert any(e["field"] == field and problem in e["problem"] for e in listed), listed
    assert f"{field}: " in r.json()["detail"] and "Traceback" not in r.text


def test_a_10_mb_body_is_refused_before_it_is_read(tmp_path):
    backend = FakeBackend()
    with running(tmp_path, backend) as client:
        r = client.post("/score", content=b"x" * 10_000_000, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert "64000 bytes" in r.json()["detail"] and r.json()["request_id"]
    assert backend.calls == 0


def test_the_body_limit_stops_reading_a_stream_at_the_first_chunk_past_the_limit():
    """ASGI level: a 10 MB chunked body, 64 KiB a message; reading stops after the limit."""
    read = 0
    sent: list[dict] = []
    consumed_by_app: list[int] = []

    async def receive() -> dict:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": b" " * 65536, "more_body": read < 160}

    async def send(message: dict) -> None:
        sent.append(message)

    async def app(scope, receive, send) -> None:  # reads the whole body, like a JSON endpoint
        total = 0
        while True:
            message = await receive()
            total += len(message["body"])
            consumed_by_app.append(total)
            if not message.get("more_body"):
                break

    scope = {"type": "http", "method": "POST", "path": "/score", "headers": [(b"transfer-encoding", b"chunked")]}
    asyncio.run(BodyLimitMiddleware(app, limit=200_000)(scope, receive, send))
    assert read == 4  # 4 x 64 KiB > 200,000: the 4th chunk trips the limit, the other 156 are never read
    assert consumed_by_app == [65536, 131072, 196608]
    assert sent[0]["status"] == 413 and b"200000 bytes" in sent[1]["body"]


def test_the_body_limit_reads_nothing_of_a_declared_oversized_body():
    reads = 0

    async def receive() -> dict:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b" " * 65536, "more_body": True}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def app(scope, receive, send) -> None:
        await receive()

    scope = {"type": "http", "method": "POST", "path": "/score", "headers": [(b"content-length", b"10000000")]}
    asyncio.run(BodyLimitMiddleware(app, limit=200_000)(scope, receive, send))
    assert reads == 0 and sent[0]["status"] == 413


def test_a_chunked_body_over_the_limit_is_a_413(tmp_path):
    def chunks():
        for _ in range(160):  # 10 MB in 64 KiB chunks, no Content-Length
            yield b" " * 65536

    with running(tmp_path) as client:
        r = client.post("/score", content=chunks(), headers={"content-type": "application/json"})
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert r.status_code == 413 and "JUDGE_MAX_BODY_BYTES" in r.json()["detail"]


def test_a_batch_over_the_limit_is_a_413(tmp_path):
    with running(tmp_path) as client:
        ok = client.post("/score", json={"items": [{**Q, "id": str(i)} for i in range(8)]})
        over = client.post("/score", json={"items": [{**Q, "id": str(i)} for i in range(9)]})
    assert ok.status_code == 200
    assert over.status_code == 413 and "limit of 8 (JUDGE_MAX_BATCH)" in over.json()["detail"]


def test_rubric_overrides_only_for_allowed_ids(tmp_path):
    with running(tmp_path, allowed_rubrics="clinical/v2, clinical/v9") as client:
        default = client.post("/score", json={**Q, "rubric": "v3"})
        allowed = client.post("/score", json={**Q, "rubric": "v2"})
        refused = client.post("/score", json={**Q, "rubric": "clinical/v1"})
        path = client.post("/score", json={**Q, "rubric": "/etc/secrets.yaml"})
        missing = client.post("/score", json={**Q, "rubric": "v9"})
    assert default.json()["rubric"] == "clinical/v3"
    assert allowed.status_code == 200 and allowed.json()["rubric"] == "clinical/v2"
    assert allowed.json()["rubric_sha"] == load_rubric("clinical/v2").sha256
    assert refused.status_code == 403 and "JUDGE_ALLOWED_RUBRICS" in refused.json()["detail"]
    assert path.status_code == 422 and "not a rubric id" in path.json()["detail"]
    assert missing.status_code == 422 and "unknown rubric" in missing.json()["detail"]


def test_backend_overrides_only_for_allowed_specs(tmp_path):
    built: list[str] = []

    def factory(spec: str) -> FakeBackend:
        built.append(spec)
        return FakeBackend(spec)

    with running(tmp_path, factory=factory, allowed_backends="other/judge") as client:
        other = client.post("/score", json={**Q, "backend": "other/judge"})
        refused = client.post("/score", json={**Q, "backend": "openai/gpt-4o"})
    assert other.status_code == 200 and other.json()["backend"] == "other/judge"
    assert other.json()["model"] == "other/judge-model-1"
    assert refused.status_code == 403 and "not allowed" in refused.json()["detail"]
    assert built == ["other/judge"]


# -------------------------------------------------------------------------------------- auth


def test_every_endpoint_but_healthz_needs_a_key_when_keys_are_set(tmp_path):
    with running(tmp_path, api_keys="alpha-key, beta-key") as client:
        assert client.get("/healthz").status_code == 200
        for method, path in [("post", "/score"), ("get", "/rubrics"), ("get", "/rubrics/v3"), ("get", "/metrics"),
                             ("get", "/jobs"), ("post", "/jobs"), ("get", "/docs"), ("get", "/openapi.json")]:
            r = client.request(method.upper(), path, json=Q if method == "post" else None)
            assert r.status_code == 401, path
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert "Authorization: Bearer" in r.json()["detail"]
        wrong = client.post("/score", json=Q, headers={"Authorization": "Bearer alpha-keyX"})
        basic = client.post("/score", json=Q, headers={"Authorization": "Basic YWxwaGEta2V5"})
        a = client.post("/score", json=Q, headers={"Authorization": "Bearer alpha-key"})
        b = client.get("/metrics", headers={"Authorization": "Bearer beta-key"})
        docs = client.get("/docs", headers={"Authorization": "Bearer beta-key"})
    assert wrong.status_code == 401 and wrong.json()["detail"] == "invalid API key"
    assert basic.status_code == 401
    assert a.status_code == 200 and b.status_code == 200 and docs.status_code == 200


def test_no_keys_configured_means_open(tmp_path):
    with running(tmp_path) as client:
        assert client.get("/metrics").status_code == 200
        assert client.get("/openapi.json").status_code == 200


# ----------------------------------------------------------------------- errors, metrics, misc


def test_backend_failure_is_a_503_and_counted(tmp_path):
    with running(tmp_path) as client:
        r = client.post("/score", json={**Q, "candidate": "BOOM"})
        metrics = client.get("/metrics").text
    assert r.status_code == 503 and r.headers["retry-after"] == "7"
    assert r.json()["detail"] == "judge backend unavailable: fake provider down"
    assert 'judge_backend_errors_total{backend="fake"} 1' in metrics


def test_an_unexpected_error_is_a_500_without_a_trace_and_is_logged(tmp_path, caplog):
    with caplog.at_level(logging.ERROR, logger="judge.service"), running(tmp_path) as client:
        r = client.post("/score", json={**Q, "candidate": "CRASH"}, headers={"X-Request-ID": "req-42"})
        after = client.post("/score", json=Q)
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error", "request_id": "req-42"}
    assert "secret" not in r.text and r.headers["x-request-id"] == "req-42"
    assert any("req-42" in rec.getMessage() and rec.exc_info for rec in caplog.records)
    assert after.status_code == 200  # the service goes on


def test_request_ids_are_echoed_when_sane_and_replaced_otherwise(tmp_path):
    with running(tmp_path) as client:
        mine = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        odd = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert mine.headers["x-request-id"] == "abc-123"
    assert odd.headers["x-request-id"] != "bad id\twith spaces" and len(odd.headers["x-request-id"]) == 16


def test_metrics_in_prometheus_text_format(tmp_path):
    with running(tmp_path) as client:
        client.post("/score", json=Q)
        client.post("/score", json=Q)
        client.post("/score", json={**Q, "candidate": "UNSCORABLE"})
        client.post("/score", json={"question": "Q"})
        client.get("/jobs/0123456789abcdef")
        r = client.get("/metrics")
    text = r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'judge_http_requests_total{route="/score",method="POST",status="200"} 3' in text
    assert 'judge_http_requests_total{route="/score",method="POST",status="422"} 1' in text
    assert 'judge_http_requests_total{route="/jobs/{job_id}",method="GET",status="404"} 1' in text
    assert 'judge_http_request_duration_seconds_bucket{route="/score",method="POST",le="+Inf"} 4' in text
    assert 'judge_http_request_duration_seconds_count{route="/score",method="POST"} 4' in text
    assert 'judge_verdicts_total{source="score",outcome="scored"} 2' in text
    assert 'judge_verdicts_total{source="score",outcome="unscored"} 1' in text
    assert "judge_cache_hits_total 1" in text and "judge_cache_misses_total 2" in text
    assert "# TYPE judge_http_request_duration_seconds histogram" in text


def test_cors_is_off_unless_configured(tmp_path):
    pre = {"Origin": "https://ui.example", "Access-Control-Request-Method": "POST"}
    with running(tmp_path) as client:
        off = client.options("/score", headers=pre)
        off_get = client.get("/healthz", headers={"Origin": "https://ui.example"})
    with running(tmp_path, cors_origins="https://ui.example") as client:
        on = client.options("/score", headers=pre)
        other = client.options("/score", headers={**pre, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in off.headers and "access-control-allow-origin" not in off_get.headers
    assert on.status_code == 200 and on.headers["access-control-allow-origin"] == "https://ui.example"
    assert "access-control-allow-origin" not in other.headers


def test_rubrics_and_health(tmp_path):
    with running(tmp_path, allowed_rubrics="v2") as client:
        listing = client.get("/rubrics").json()["rubrics"]
        v3 = client.get("/rubrics/v3").json()
        v2 = client.get("/rubrics/clinical/v2").json()
        missing = client.get("/rubrics/v99")
        sneaky = client.get("/rubrics/..%2F..%2Fetc%2Fpasswd")
        health = client.get("/healthz").json()
    by_id = {r["id"]: r for r in listing}
    assert by_id["clinical/v3"]["default"] and by_id["clinical/v3"]["allowed"]
    assert by_id["clinical/v2"]["allowed"] and not by_id["clinical/v1"]["allowed"]
    assert v3["sha256"] == load_rubric("v3").sha256 and "equivalences" in v3["content"] and "path" not in v3["content"]
    assert v2["version"] == "v2" and not v2["default"]
    assert missing.status_code == 404 and "unknown rubric" in missing.json()["detail"]
    assert sneaky.status_code == 404
    assert health == {"status": "ok", "checks": {"store": True, "scoring": True, "scoring_capacity": True, "jobs": True}}


def test_openapi_documents_every_endpoint(tmp_path):
    with running(tmp_path) as client:
        spec = client.get("/openapi.json").json()
        page = client.get("/docs")
    assert {"/score", "/jobs", "/jobs/{job_id}", "/jobs/{job_id}/results", "/jobs/{job_id}/table", "/rubrics",
            "/rubrics/{version}", "/healthz", "/metrics"} <= set(spec["paths"])
    assert "multipart/form-data" in spec["paths"]["/jobs"]["post"]["requestBody"]["content"]
    assert page.status_code == 200 and "swagger" in page.text.lower()


def _operations(spec):
    return {(m.upper(), p): op for p, ops in spec["paths"].items() for m, op in ops.items()}


@pytest.mark.parametrize("keys", [None, "k1,k2"], ids=["open", "keys"])
def test_the_document_describes_this_server(tmp_path, keys):
    """Keys or not, batch limit, error bodies, operation ids and links: as this server is configured."""
    headers = {"Authorization": "Bearer k2"} if keys else {}
    with running(tmp_path, api_keys=keys, max_batch=5) as client:
        spec = client.get("/openapi.json", headers=headers).json()
    ops = _operations(spec)
    for (method, path), op in ops.items():
        asks_key = path != "/healthz" and keys is not None
        assert ("security" in op) == asks_key and ("401" in op["responses"]) == asks_key, (method, path)
        assert op["operationId"].isidentifier()
        for code, response in op["responses"].items():
            if code >= "400":  # every error body is JSON, on text routes too
                assert list(response["content"]) == ["application/json"], (method, path, code)
    assert ("securitySchemes" in spec["components"]) == (keys is not None)
    assert "HTTPValidationError" not in json.dumps(spec)  # every 422 is the service's own ValidationErrorResponse
    assert "patternProperties" not in json.dumps(spec)  # client generators drop them: MCQ options would vanish
    options = spec["components"]["schemas"]["McqItem"]["properties"]["options"]
    assert options["propertyNames"] == {"pattern": "^[A-Z]$"} and options["additionalProperties"]["type"] == "string"
    batch = spec["components"]["schemas"]["ScoreBatchRequest"]["properties"]["items"]
    assert batch["maxItems"] == 5
    body = ops[("POST", "/score")]["requestBody"]["content"]["application/json"]["schema"]
    assert [ref["$ref"].rsplit("/", 1)[1] for ref in body["oneOf"]] == ["OpenScoreRequest", "McqScoreRequest",
                                                                         "ScoreBatchRequest"]
    links = ops[("POST", "/jobs")]["responses"]["202"]["links"]
    assert {v["operationId"] for v in links.values()} == {"get_job", "get_job_results", "get_job_table"}
    assert all(v["parameters"] == {"job_id": "$response.body#/id"} for v in links.values())


def test_every_example_in_the_document_is_accepted(tmp_path):
    with running(tmp_path, max_body_bytes=1_000_000) as client:
        spec = client.get("/openapi.json").json()
        ops = _operations(spec)
        score = ops[("POST", "/score")]["requestBody"]["content"]["application/json"]["examples"]
        answers = {name: client.post("/score", json=ex["value"]) for name, ex in score.items()}
        upload = ops[("POST", "/jobs")]["requestBody"]["content"]["multipart/form-data"]["examples"]
        (example,) = upload.values()
        fields = dict(example["value"])
        job = client.post("/jobs", files=[("benchmark", ("b.jsonl", fields.pop("benchmark").encode()))], data=fields)
    assert set(answers) == {"open-ended", "mcq", "batch"}
    assert all(r.status_code == 200 for r in answers.values()), {k: r.text for k, r in answers.items()}
    assert answers["mcq"].json()["score"] == 1.0 and answers["batch"].json()["n"] == 2
    assert job.status_code == 202, job.text


def test_bodies_of_older_clients_are_still_accepted(tmp_path):
    """No `question_type`, or null for the other kind's fields, as clients sent before the union."""
    bodies = [
        Q, {**Q, "options": None, "answer": None}, {**Q, "question_type": None, "reference": ["pink", "rose"]},
        MCQ, {**MCQ, "reference": None}, {**MCQ, "question_type": "mcq", "answer": ["B"]},
        {**MCQ, "answer": "A, B", "options": {"A": "Papule", "B": "Plaque", "C": "Nodule"}},
        {"items": [{**Q, "options": None}, {**MCQ, "reference": None}]},
    ]
    with running(tmp_path) as client:
        answers = [client.post("/score", json=body) for body in bodies]
    assert [r.status_code for r in answers] == [200] * len(bodies), [r.text for r in answers if r.status_code != 200]


def test_an_item_without_id_never_takes_the_id_of_another_item(tmp_path):
    with running(tmp_path) as client:
        r = client.post("/score", json={"items": [{**Q, "id": "item-1"}, {**Q, "candidate": "red"},
                                                  {**Q, "id": "item-1+", "candidate": "salmon"}]})
    assert r.status_code == 200, r.text
    assert [x["id"] for x in r.json()["results"]] == ["item-1", None, "item-1+"]
    store = _store(tmp_path)
    rows = {row["item_id"] for row in store.verdict_rows(r.json()["run_id"])}
    store.close()
    assert rows == {"item-1", "item-1+", "item-1++"}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("OPTIONS", "/jobs", "GET, POST"), ("DELETE", "/jobs", "GET, POST"), ("PUT", "/score", "POST"),
     ("PATCH", "/jobs/0123456789abcdef", "GET"), ("POST", "/rubrics/clinical/v3", "GET"), ("TRACE", "/healthz", "GET")],
)
def test_a_405_names_every_method_the_path_answers(tmp_path, method, path, allowed):
    with running(tmp_path) as client:
        r = client.request(method, path)
    assert r.status_code == 405 and r.headers["allow"] == allowed


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
def test_a_score_body_that_is_not_json_is_a_415(tmp_path, ctype):
    with running(tmp_path) as client:
        r = client.post("/score", content=json.dumps(Q).encode(), headers={"content-type": ctype})
        plus_json = client.post("/score", content=json.dumps(Q).encode(),
                                headers={"content-type": "application/vnd.api+json"})
    assert r.status_code == 415 and "application/json" in r.json()["detail"]
    assert plus_json.status_code == 200


# ------------------------------------------------------------------------------ robustness


def test_failed_requests_lose_nothing_stored(tmp_path):
    backend = FakeBackend()
    with running(tmp_path, backend) as client:
        good = [client.post("/score", json={**Q, "candidate": c}).json() for c in ("pink", "red", "salmon pink")]
        store = _store(tmp_path)
        before = (store.count_judgments(), store.db["runs"].count, store.db["verdicts"].count)
        store.close()
        bad = [
            client.post("/score", content=b"{not json", headers={"content-type": "application/json"}),
            client.post("/score", json={"question": "Q"}),
            client.post("/score", content=b"x" * 10_000_000),
            client.post("/score", json={"items": [{**Q, "id": str(i)} for i in range(20)]}),
            client.post("/score", json={**Q, "rubric": "v1"}),
            client.post("/score", json={**Q, "candidate": "BOOM"}),
            client.post("/score", json={**Q, "candidate": "CRASH"}),
        ]
        again = [client.post("/score", json={**Q, "candidate": c}).json() for c in ("pink", "red", "salmon pink")]
    assert [r.status_code for r in bad] == [422, 422, 413, 413, 403, 503, 500]
    store = _store(tmp_path)
    after = (store.count_judgments(), store.db["runs"].count, store.db["verdicts"].count)
    runs = [store.get_run(g["run_id"]) for g in good]
    store.close()
    assert after[0] == before[0] and after[1:] == (before[1] + 3, before[2] + 3)
    assert all(r["status"] == "complete" for r in runs)
    assert [a["score"] for a in again] == [g["score"] for g in good] and all(a["cached"] for a in again)
    assert backend.calls == 3 + 2  # the three originals, BOOM and CRASH; nothing recomputed


def test_many_threads_score_at_once(tmp_path):
    backend = FakeBackend()
    with running(tmp_path, backend) as client:
        def call(i: int) -> tuple[int, float | None]:
            r = client.post("/score", json={**Q, "candidate": f"pink {i % 50}", "id": str(i)})
            return r.status_code, r.json().get("score")

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(call, range(300)))
    assert all(code == 200 for code, _ in results)
    assert {score for _, score in results} == {0.5}
    store = _store(tmp_path)
    assert store.count_judgments() == 50
    assert store.db["verdicts"].count == 300  # one row per request, keyed by the request id
    assert len({r["model"] for r in store.db["verdicts"].rows}) == 300
    assert store.db["runs"].count <= 300  # requests that arrive together share a batch and a run
    store.close()
    assert 50 <= backend.calls <= 300  # concurrent misses of one key may both compute; the cache keeps one


def test_a_failing_request_in_a_batch_fails_alone(tmp_path):
    gate = threading.Event()
    backend = FakeBackend(gate=gate)
    with running(tmp_path, backend) as client:
        with ThreadPoolExecutor(9) as pool:
            futures = [pool.submit(client.post, "/score", json={**Q, "candidate": "BOOM" if i == 4 else f"pink {i}"})
                       for i in range(9)]
            wait_until(lambda: backend.calls >= 2)  # the engine is busy with the first: the rest queue up
            gate.set()
            replies = [f.result() for f in futures]
        metrics = client.get("/metrics").text
    assert [r.status_code for r in replies] == [200] * 4 + [503] + [200] * 4
    assert 'judge_backend_errors_total{backend="fake"} 1' in metrics


def test_the_engine_batches_requests_that_arrive_together_and_isolates_a_failure(tmp_path):
    backend = FakeBackend()
    engine = ScoringEngine(tmp_path / "e.db", lambda spec: backend, Metrics())
    engine.start("fake")
    rubric = load_rubric("v3")

    def tasks(rid: str, candidate: str) -> list[Task]:
        case = Case(question="Q", references=["pink"], candidate=candidate)
        return [Task("q", f"request:{rid}", case)]

    async def burst() -> list:
        light = engine.lanes["light"].loop
        assert light is not None
        light.call_soon_threadsafe(time.sleep, 0.3)  # keep the lane busy while the burst queues up
        calls = [engine.score(tasks(str(i), "BOOM" if i == 2 else f"pink {i}"), rubric, "fake", str(i)) for i in range(5)]
        return await asyncio.gather(*calls, return_exceptions=True)

    try:
        outcomes = asyncio.run(burst())
    finally:
        engine.stop()
    assert isinstance(outcomes[2], BackendError)
    good = [o for i, o in enumerate(outcomes) if i != 2]
    assert all(o.verdicts[0].score == 0.5 for o in good)
    assert all(o.verdicts[0].model == f"request:{i}" for i, o in zip((0, 1, 3, 4), good, strict=True))
    assert len({o.run_id for o in good}) == 4  # the failed batch was rescored request by request
    # the batch, then BOOM alone; a good one comes from the cache when the batch had finished it before
    # BOOM's error arrived (LLM calls run on the backend thread, so some may still be in flight then)
    assert 5 + 1 <= backend.calls <= 5 + 1 + 4
    store = Store.open(tmp_path / "e.db")
    assert store.count_judgments() == 4  # one judgment per good case, however often it was computed
    store.close()


def test_store_pool_lends_each_connection_to_one_holder_at_a_time(tmp_path):
    pool = StorePool(tmp_path / "p.db", size=3)
    in_use: set[int] = set()
    lock = threading.Lock()
    clashes = []

    def work(i: int) -> None:
        with pool.acquire() as store:
            with lock:
                if id(store) in in_use:
                    clashes.append(i)
                in_use.add(id(store))
            store.db["t"].insert({"i": i})
            with lock:
                in_use.discard(id(store))

    with ThreadPoolExecutor(12) as ex:
        list(ex.map(work, range(200)))
    with pool.acquire() as store:
        assert store.db["t"].count == 200
    pool.close()
    assert clashes == [] and pool.opened <= 3


def test_importing_the_service_reads_no_settings():
    code = "import service.app, service.deps, service.routes.score, service.routes.jobs; print('ok')"
    env = {"JUDGE_MAX_BATCH": "not-a-number", "JUDGE_PORT": "nope", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_the_embedded_local_backend(tmp_path):
    pytest.importorskip("judge.backends.local", reason="the embedded judge has not landed yet")
    from judge.backends import get_backend

    with running(tmp_path, get_backend("local")) as client:
        same = client.post("/score", json={**Q, "ability": "attribute_recognition"})
        wrong = client.post("/score", json={**Q, "candidate": "dark blue", "ability": "attribute_recognition"})
    assert same.status_code == 200 and same.json()["score"] == 1.0 and same.json()["backend"] == "local"
    assert wrong.status_code == 200 and wrong.json()["score"] in (0.0, None)
