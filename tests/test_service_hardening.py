"""Hostile input against the service (TestClient): nothing stalls it, every byte gets a clean 4xx,
metrics stay bounded, no server path leaves it.

The real-process side (a heavy request next to ordinary ones, slowloris, invented methods over a
socket) is in ``test_service_process.py``.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from _service_fakes import SAMPLE, FakeBackend, running, wait_until

from judge.jsontext import JSONTextError, loads
from judge.limits import MAX_CANDIDATE_CHARS, MAX_JSON_DEPTH
from judge.models import Case, Judgment
from judge.rubrics import Rubric, load_rubric
from judge.scoring import Task
from service import engine as engine_module
from service.engine import LIGHT_CHARS, ScoringEngine
from service.middleware import BodyLimitMiddleware
from service.telemetry import Metrics

Q = {"question": "What color is the lesion?", "reference": "pink", "candidate": "pink", "attribute": "color"}
QZ = {"question": "皮损是什么颜色？", "reference": "红色", "candidate": "红色", "language": "zh"}
MCQ = {"question": "Which lesion?", "options": {"A": "Papule", "B": "Plaque"}, "answer": "B", "candidate": "Answer: B"}
MCQZ = {"question": "皮损类型？", "options": {"A": "丘疹", "B": "斑块"}, "answer": "B", "candidate": "答案是B"}
BENCH = SAMPLE / "benchmark.jsonl"
BENCH_LINES = [line for line in BENCH.read_text(encoding="utf-8").splitlines() if line.strip()]
FIRST_ID = json.loads(BENCH_LINES[0])["id"]
SECOND_ID = json.loads(BENCH_LINES[1])["id"]


class SyncBackend:
    """A synchronous backend, like the embedded judge: ``judge_sync`` runs on the lane's thread and
    blocks it. A candidate containing ``HOLD`` blocks until ``gate`` is set, as slow CPU-bound
    judging would."""

    spec = "sync"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.held = threading.Event()
        self.calls = 0

    @property
    def params(self) -> dict[str, Any]:
        return {"engine": "sync-test"}

    def judge_sync(self, case: Case, rubric: Rubric) -> Judgment:
        self.calls += 1
        if "HOLD" in case.candidate:
            self.held.set()
            assert self.gate.wait(30), "the test never released the gate"
        right = case.candidate.strip() in case.references
        return Judgment(score=1.0 if right else 0.0, rationale="exact match" if right else "no match")

    async def judge(self, case: Case, rubric: Rubric) -> Judgment:
        return self.judge_sync(case, rubric)

    async def extract(self, case: Case, rubric: Rubric) -> Judgment:
        return Judgment(score=None, unscored_reason="cannot extract")


def _post_json(client, raw: bytes, path: str = "/score", content_type: str = "application/json"):
    return client.post(path, content=raw, headers={"content-type": content_type})


# ------------------------------------------------------------------------ fair, bounded judging


@pytest.mark.parametrize(
    "heavy",
    [
        {**Q, "candidate": "HOLD " + "the lesion is red " * 2000},  # 36K characters: over LIGHT_CHARS
        {**QZ, "candidate": "HOLD" + "皮损呈红色边界不清，" * 2500},
        {"items": [{**Q, "id": str(i), "candidate": f"HOLD {i} " + "red " * 700} for i in range(8)]},
    ],
    ids=["english", "chinese", "batch of many small items"],
)
def test_a_heavy_request_does_not_hold_ordinary_requests_or_healthz(tmp_path, heavy):
    backend = SyncBackend()
    with running(tmp_path, backend, max_body_bytes=500_000) as client, ThreadPoolExecutor(12) as pool:
        slow = pool.submit(client.post, "/score", json=heavy)
        wait_until(backend.held.is_set)
        t0 = time.monotonic()
        ordinary = [pool.submit(client.post, "/score", json={**(Q if i % 2 else QZ), "id": str(i),
                                                             "candidate": f"pink {i}"}) for i in range(10)]
        replies = [f.result(timeout=15) for f in ordinary]
        health = client.get("/healthz")
        waited = time.monotonic() - t0
        still_running = not slow.done()
        backend.gate.set()
        heavy_reply = slow.result(timeout=15)
    assert still_running  # every ordinary request was answered while the heavy one was being judged
    assert [r.status_code for r in replies] == [200] * 10 and waited < 10
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert heavy_reply.status_code == 200, heavy_reply.text


def test_requests_that_arrive_together_are_batched_up_to_the_light_limit(tmp_path):
    backend = FakeBackend()
    engine = ScoringEngine(tmp_path / "e.db", lambda spec: backend, Metrics())
    engine.start("fake")
    rubric = load_rubric("v3")
    size = LIGHT_CHARS // 2 - 100  # two fit in a batch, three do not

    def tasks(i: int) -> list[Task]:
        return [Task("q", f"request:{i}", Case(question="Q", references=["pink"], candidate=f"{i} " + "x" * size))]

    async def burst() -> list:
        light = engine.lanes["light"].loop
        assert light is not None
        light.call_soon_threadsafe(time.sleep, 0.3)  # keep the lane busy while the burst queues up
        return await asyncio.gather(*(engine.score(tasks(i), rubric, "fake", str(i)) for i in range(5)))

    try:
        outcomes = asyncio.run(burst())
    finally:
        engine.stop()
    runs = [o.run_id for o in outcomes]
    assert runs[0] == runs[1] and runs[2] == runs[3] and len(set(runs)) == 3  # batches of 2, 2 and 1


def test_healthz_tells_the_truth_when_ordinary_requests_wait(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_module, "SATURATED_AFTER_SECONDS", 0.3)
    backend = SyncBackend()
    with running(tmp_path, backend) as client, ThreadPoolExecutor(4) as pool:
        before = client.get("/healthz")
        blocker = pool.submit(client.post, "/score", json={**Q, "candidate": "HOLD"})  # light, but stuck
        wait_until(backend.held.is_set)
        waiting = pool.submit(client.post, "/score", json={**Q, "candidate": "pink", "id": "w"})
        wait_until(lambda: client.app.state.engine.load()["light"]["oldest_wait_seconds"] > 0.4)
        during = client.get("/healthz")
        metrics = client.get("/metrics").text
        backend.gate.set()
        assert blocker.result(15).status_code == 200 and waiting.result(15).status_code == 200
        after = client.get("/healthz")
    assert before.status_code == 200
    assert during.status_code == 503 and during.json() == {
        "status": "degraded", "checks": {"store": True, "scoring": True, "scoring_capacity": False, "jobs": True}}
    assert 'judge_scoring_waiting{lane="light"} 1' in metrics and 'judge_scoring_running{lane="light"} 1' in metrics
    assert after.status_code == 200


def test_a_full_heavy_lane_refuses_more_with_a_503_and_retry_after(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_module, "MAX_HEAVY_WAITING", 1)
    backend = SyncBackend()
    big = "HOLD " + "red " * (LIGHT_CHARS // 4 + 10)
    with running(tmp_path, backend, max_body_bytes=200_000) as client, ThreadPoolExecutor(4) as pool:
        first = pool.submit(client.post, "/score", json={**Q, "candidate": big + "1"})
        wait_until(backend.held.is_set)  # judged now: no longer waiting
        second = pool.submit(client.post, "/score", json={**Q, "candidate": big + "2"})
        wait_until(lambda: client.app.state.engine.load()["heavy"]["waiting"] == 1)
        third = client.post("/score", json={**QZ, "candidate": "红色" * (LIGHT_CHARS // 2 + 10)})
        light = client.post("/score", json=Q)  # ordinary requests are not refused
        metrics = client.get("/metrics").text
        backend.gate.set()
        assert first.result(15).status_code == 200 and second.result(15).status_code == 200
    assert third.status_code == 503 and third.headers["retry-after"] == "5"
    assert "busy with 1 large requests" in third.json()["detail"] and third.json()["request_id"]
    assert light.status_code == 200
    assert 'judge_scoring_refused_total{lane="heavy"} 1' in metrics


def test_stopping_while_a_lane_is_busy_judging_does_not_raise(tmp_path, caplog):
    engine = ScoringEngine(tmp_path / "e.db", lambda spec: FakeBackend(), Metrics())
    engine.start("fake")
    light = engine.lanes["light"].loop
    assert light is not None
    light.call_soon_threadsafe(time.sleep, 1.0)  # a batch judging on the CPU
    t0 = time.monotonic()
    with caplog.at_level("WARNING", logger="judge.service"):
        engine.stop(timeout=0.2)
    assert time.monotonic() - t0 < 5 and not engine.alive
    assert any("still busy" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- bounded metrics


def test_metrics_stay_bounded_whatever_methods_and_paths_clients_invent(tmp_path):
    with running(tmp_path) as client:
        client.post("/score", json=Q)
        baseline = client.get("/metrics").text
        for i in range(1_000):
            client.request(f"X{i}Y", "/score")
            client.request(f"M{i}", f"/no/such/{i}/path")
            client.get(f"/jobs/{i:016x}")
            client.get(f"/rubrics/v{i}")
        text = client.get("/metrics").text
    labels = set(re.findall(r'(route|method|status)="([^"]*)"', text))
    assert {v for k, v in labels if k == "method"} <= {"GET", "POST", "other"}
    assert {v for k, v in labels if k == "route"} <= {"/score", "/jobs/{job_id}", "/rubrics/{version:path}",
                                                      "/metrics", "unmatched"}
    assert {v for k, v in labels if k == "status"} <= {"200", "404", "405"}
    assert len(text) < len(baseline) + 12_000  # a few new series, not 4,000
    assert 'judge_http_requests_total{route="/score",method="other",status="405"} 1000' in text


# --------------------------------------------------------------------- limits name field and limit


@pytest.mark.parametrize(
    ("body", "field", "limit"),
    [
        ({**MCQ, "candidate": "Answer: B. " * 5000}, "body.candidate", "50000"),
        ({**MCQZ, "candidate": "答案是B。" * 10_001}, "body.candidate", "50000"),
        ({**QZ, "candidate": "红" * (MAX_CANDIDATE_CHARS + 1)}, "body.candidate", "50000"),
        ({**Q, "reference": ["red"] * 280_000}, "body.reference", "256"),
        ({**QZ, "reference": ["红色斑块" * 50] * 60}, "body.reference", "10000"),
        ({**QZ, "question": "皮损是什么颜色？" * 1300}, "body.question", "10000"),
        ({**Q, "question": "What color? " * 1000}, "body.question", "10000"),
        ({**MCQZ, "options": {"A": "丘疹" * 501, "B": "斑块"}}, "body.options.A", "1000"),
        ({**Q, "id": "病例" * 129}, "body.id", "256"),
        ({**Q, "rubric": "v" * 300}, "body.rubric", "256"),
        ({"items": [Q, {**Q, "id": "x", "candidate": "c" * 50_001}]}, "body.items.1.candidate", "50000"),
    ],
    ids=["mcq-en", "mcq-zh", "open-zh", "280k-references", "reference-chars-zh", "question-zh", "question-en",
         "option-zh", "id-zh", "rubric", "batch-item"],
)
def test_over_limit_input_is_a_422_naming_the_field_and_the_limit(tmp_path, body, field, limit):
    with running(tmp_path, max_body_bytes=3_000_000) as client:
        t0 = time.monotonic()
        r = client.post("/score", json=body)
        seconds = time.monotonic() - t0
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert any(e["field"] == field and limit in e["problem"] for e in errors), errors
    assert seconds < 5  # refused by validation, never judged


# -------------------------------------------------------------------- every byte gets a clean 4xx

_DEEP = "[" * 100_000 + "]" * 100_000
BAD_BODIES = {
    "latin-1": ('{"question": "¿Qué color?", "reference": "rojo", "candidate": "rojo"}'.encode("latin-1"), "not UTF-8"),
    "gbk": ('{"question": "皮损是什么颜色？", "reference": "红色", "candidate": "红色"}'.encode("gbk"), "not UTF-8"),
    "binary": (bytes(range(256)) * 4, "UTF-16 or UTF-32"),
    "bad byte late": (json.dumps(Q).encode()[:-2] + b'\xff"}', "not UTF-8: byte 0xff"),
    "utf-16 bom": (json.dumps(QZ, ensure_ascii=False).encode("utf-16"), "the text is UTF-16"),
    "utf-16-le": (json.dumps(Q).encode("utf-16-le"), "UTF-16 or UTF-32"),
    "utf-16-be": (json.dumps(QZ, ensure_ascii=False).encode("utf-16-be"), "UTF-16 or UTF-32"),
    "utf-32": (json.dumps(Q).encode("utf-32"), "the text is UTF-32"),
    "lone high surrogate": (b'{"question": "Q?", "reference": "red", "candidate": "\\ud800"}', "candidate: holds a lone surrogate (\\ud800)"),
    "lone low surrogate zh": ('{"question": "颜色？\\udc00", "reference": "红", "candidate": "红"}'.encode(), "\\udc00"),
    "reversed pair": (b'{"question": "Q?", "reference": "red", "candidate": "\\udc00\\ud800"}', "holds a lone surrogate"),
    "surrogate in reference list": (b'{"question": "Q", "reference": ["red", "\\uDBFF"], "candidate": "red"}', "\\udbff"),
    "surrogate in options": (b'{"question": "Q", "options": {"A": "\\ud800", "B": "b"}, "answer": "A", "candidate": "A"}',
                             "\\ud800"),
    "surrogate in a batch item": (b'{"items": [{"question": "Q", "reference": "r", "candidate": "\\ud834"}]}', "\\ud834"),
    "surrogate in id": (b'{"id": "\\ud800", "question": "Q", "reference": "r", "candidate": "r"}', "\\ud800"),
    "deep id": (f'{{"id": {_DEEP}, "question": "Q", "reference": "r", "candidate": "r"}}'.encode(), "nested deeper"),
    "deep reference": (f'{{"question": "Q", "reference": {_DEEP}, "candidate": "r"}}'.encode(), "nested deeper"),
    "deep items": (f'{{"items": {_DEEP}}}'.encode(), "nested deeper"),
    "deep objects": (b'{"a":' * 5000 + b"1" + b"}" * 5000, "nested deeper"),
    "just past the depth limit": (b'{"id": ' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH + b"}", "nested deeper"),
    "1e999999": (b'{"id": 1e999999, "question": "Q", "reference": "r", "candidate": "r"}', "out of range"),
    "-1e999999": (b'{"question": "Q", "reference": [-1e999999], "candidate": "r"}', "out of range"),
    "NaN": (b'{"question": "Q", "reference": "r", "candidate": NaN}', "NaN is not a JSON number"),
    "Infinity": (b'{"question": "Q", "reference": "r", "candidate": "r", "id": -Infinity}', "-Infinity is not"),
    "huge integer": (b'{"question": "Q", "reference": "r", "candidate": "r", "id": ' + b"7" * 5000 + b"}", "5000 digits"),
}


@pytest.mark.parametrize(("raw", "problem"), list(BAD_BODIES.values()), ids=list(BAD_BODIES))
def test_a_body_that_is_not_acceptable_json_text_is_a_422_naming_the_problem(tmp_path, raw, problem):
    with running(tmp_path, max_body_bytes=1_000_000) as client:
        r = _post_json(client, raw)
        job = _post_json(client, raw, "/jobs")
        after = client.post("/score", json=Q)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["detail"].startswith("body: invalid JSON") and problem in body["detail"], body["detail"]
    assert body["errors"][0]["field"] == "body" and body["request_id"]
    assert job.status_code == 422 and problem in job.json()["detail"], job.text
    assert after.status_code == 200


@pytest.mark.parametrize(
    "raw",
    [
        b'{"question": "Q?", "reference": "smile", "candidate": "\\ud83d\\ude00 smile"}',  # an escaped pair is fine
        '{"question": "颜色？", "reference": "红色", "candidate": "红色"}'.encode(),
        b"\xef\xbb\xbf" + json.dumps(Q).encode(),  # a UTF-8 byte-order mark is tolerated
        ('{"question": "Q", "reference": "r", "candidate": "r", "id": "\u202eevil\u200b\\u0000 \U0001f600"}').encode(),
        json.dumps({**Q, "id": "病" * 256}, ensure_ascii=False).encode(),
        b'{"question": "Q", "reference": "r", "candidate": "r", "id": "' + b"[{" * 120 + b'"}',  # brackets in a string
    ],
    ids=["emoji-pair", "chinese", "utf-8-bom", "odd-unicode-id", "longest-chinese-id", "brackets-in-string"],
)
def test_odd_but_valid_json_text_is_scored(tmp_path, raw):
    with running(tmp_path) as client:
        r = _post_json(client, raw)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == json.loads(raw.decode("utf-8-sig")).get("id")  # ids are echoed as sent


def test_content_type_lies_get_a_4xx(tmp_path):
    with running(tmp_path) as client:
        as_text = _post_json(client, json.dumps(Q).encode(), content_type="text/plain")
        as_form = _post_json(client, json.dumps(Q).encode(), content_type="multipart/form-data; boundary=x")
        form_as_json = _post_json(client, b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--x--\r\n")
        charset = _post_json(client, json.dumps(Q).encode("utf-16"), content_type="application/json; charset=utf-16")
        job_form_lie = _post_json(client, json.dumps({"benchmark": "b.jsonl"}).encode(), "/jobs",
                                  "multipart/form-data; boundary=zzz")
        job_no_boundary = _post_json(client, b"x", "/jobs", "multipart/form-data")
    assert all(400 <= r.status_code < 500 for r in (as_text, as_form, form_as_json, charset, job_form_lie,
                                                    job_no_boundary)), [r.status_code for r in (as_text, as_form)]
    assert charset.status_code == 422 and "UTF-16" in charset.json()["detail"]


# ----------------------------------------------------------------------------------- uploads


def _upload(client, bench: bytes, preds: list[tuple[str, bytes]] | None = None):
    files = [("benchmark", ("bench.jsonl", bench, "application/x-ndjson"))]
    files += [("predictions", (name, data, "application/x-ndjson")) for name, data in preds or []]
    return client.post("/jobs", files=files)


def _pred(item_id: str, text: str, model: str = "m") -> str:
    return json.dumps({"id": item_id, "model": model, "prediction": text}, ensure_ascii=False)


GOOD_BENCH = ("\n".join(BENCH_LINES) + "\n").encode()
GOOD_PRED = _pred(FIRST_ID, "B")
BAD_UPLOADS = {
    "latin-1 benchmark line 2": (
        (BENCH_LINES[0] + "\n").encode() + BENCH_LINES[1].encode().replace(b'"question": "', b'"question": "\xbfQu\xe9 ')
        + b"\n", None, "bench.jsonl:2: not UTF-8"),
    "gbk predictions line 3": (
        GOOD_BENCH, [("preds.jsonl", (GOOD_PRED + "\n" + _pred(SECOND_ID, "A") + "\n" + _pred(SECOND_ID, "答案是B", "n")
                                      + "\n").encode("gbk"))], "preds.jsonl:3: not UTF-8"),
    "utf-16 benchmark": ((BENCH_LINES[0] + "\n").encode("utf-16"), None, "bench.jsonl:1: the file is UTF-16 text"),
    "utf-16-le predictions": (GOOD_BENCH, [("p.jsonl", (GOOD_PRED + "\n").encode("utf-16-le"))],
                              "p.jsonl:1: NUL byte"),
    "utf-32 benchmark": ((BENCH_LINES[0] + "\n").encode("utf-32"), None, "bench.jsonl:1: the file is UTF-32 text"),
    "lone surrogate in a prediction": (
        GOOD_BENCH, [("preds.jsonl", (GOOD_PRED + "\n" + _pred(SECOND_ID, "x") .replace('"x"', '"B \\ud800"')
                                      + "\n").encode())], "preds.jsonl:2: prediction: holds a lone surrogate (\\ud800)"),
    "lone surrogate in a chinese prediction": (
        GOOD_BENCH, [("preds.jsonl", (_pred(FIRST_ID, "答案是Bx").replace("x", "\\udfff") + "\n").encode())],
        "preds.jsonl:1: prediction: holds a lone surrogate (\\udfff)"),
    "surrogate after a carriage return": (
        GOOD_BENCH, [("cr.jsonl", (GOOD_PRED + "\r" + _pred(SECOND_ID, "x").replace('"x"', '"\\ud800"')
                                   + "\r\n").encode())], "cr.jsonl:1: invalid JSON"),  # CR alone ends no line
    "a line nested 100,000 deep": (
        GOOD_BENCH, [("deep.jsonl", (GOOD_PRED + "\n" + '{"id": ' + _DEEP + "}\n").encode())],
        "deep.jsonl:2: nested deeper than 32 levels"),
    "huge integer in the benchmark": (
        (BENCH_LINES[0][:-1] + ', "extra": ' + "9" * 5000 + "}\n").encode(), None, "bench.jsonl:1: an integer of 5000"),
    "NaN in a prediction": (GOOD_BENCH, [("nan.jsonl", b'{"id": "x", "model": "m", "prediction": NaN}\n')],
                            "nan.jsonl:1: NaN is not a JSON number"),
}


@pytest.mark.parametrize(("bench", "preds", "problem"), list(BAD_UPLOADS.values()), ids=list(BAD_UPLOADS))
def test_an_upload_whose_bytes_the_judge_cannot_take_is_refused_at_submission(tmp_path, bench, preds, problem):
    with running(tmp_path, max_body_bytes=1_000_000) as client:
        r = _upload(client, bench, preds)
        listing = client.get("/jobs").json()["jobs"]
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(problem), r.json()["detail"]
    assert listing == [] and not any((tmp_path / "data" / "jobs").iterdir())


@pytest.mark.parametrize(
    ("filename", "shown"),
    [("病例 预测.jsonl", "病例_预测.jsonl"), ("\u202eevil\u200b.jsonl", "evil_.jsonl"),
     ("../../etc/p\x00.jsonl", "p_00.jsonl"), ("....", "predictions-0.jsonl")],  # the client sends NUL as %00
    ids=["chinese", "bidi", "traversal-nul", "dots"],
)
def test_errors_name_the_callers_file_in_a_safe_form(tmp_path, filename, shown):
    with running(tmp_path, max_body_bytes=1_000_000) as client:
        r = _upload(client, GOOD_BENCH, [(filename, b'{"id": "x", "model": "m"}\n')])
    assert r.status_code == 422 and r.json()["detail"].startswith(f"{shown}:1:"), r.json()["detail"]


def test_an_accepted_upload_never_fails_later_because_of_its_bytes(tmp_path):
    preds = "\n".join([
        json.dumps({"id": FIRST_ID, "model": "m", "prediction": "答案是B \U0001f600"}),  # an escaped pair: \ud83d\ude00
        _pred(SECOND_ID, "\u202e\u200b odd but valid \U0001f600"),
    ]) + "\r\n"
    assert "\\ud83d\\ude00" in preds
    with running(tmp_path, max_body_bytes=1_000_000) as client:
        r = _upload(client, b"\xef\xbb\xbf" + GOOD_BENCH, [("p.jsonl", preds.encode())])
        assert r.status_code == 202, r.text
        done = wait_until(lambda: (s := client.get(f"/jobs/{r.json()['id']}").json())["state"]
                          in ("complete", "failed") and s)
    assert done["state"] == "complete", done["error"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"benchmark": "a\x00b.jsonl"}, "body.benchmark: a file path may not contain control characters"),
        ({"benchmark": "inputs/b.jsonl", "predictions": ["ok.jsonl", "p\x00.jsonl"]}, "body.predictions.1: a file path"),
        ({"benchmark": "evil\n.jsonl"}, "control characters"),
        ({"benchmark": "x" * 5000 + ".jsonl"}, "not a usable file name"),
        ({"benchmark": "病" * 300 + ".jsonl"}, "not a usable file name"),
        ({"benchmark": "inputs/" + "a/" * 3000 + "b.jsonl"}, "not a usable file name"),
    ],
    ids=["nul-benchmark", "nul-prediction", "newline", "long-name", "long-chinese-name", "deep-path"],
)
def test_odd_server_paths_are_a_422(tmp_path, body, problem):
    with running(tmp_path, max_body_bytes=1_000_000) as client:
        r = client.post("/jobs", json=body)
    assert r.status_code == 422, r.text
    assert problem in r.json()["detail"]


def test_multipart_abuse_gets_a_4xx_naming_the_limit(tmp_path):
    bench = BENCH.read_bytes()
    with running(tmp_path, max_body_bytes=2_000_000) as client:
        fields = client.post("/jobs", files=[("benchmark", ("b.jsonl", bench))],
                             data={f"f{i}": "x" for i in range(10_000)})
        parts = client.post("/jobs", files=[("benchmark", ("b.jsonl", bench))]
                            + [("predictions", (f"p{i}.jsonl", b"{}\n")) for i in range(2_000)])
        big_field = client.post("/jobs", files=[("benchmark", ("b.jsonl", bench))], data={"split": "v" * 1_500_000})
        listing = client.get("/jobs").json()["jobs"]
    assert fields.status_code == 400 and "Too many fields" in fields.json()["detail"]
    assert parts.status_code == 400 and "Too many files" in parts.json()["detail"]
    assert big_field.status_code == 400 and "exceeded maximum size" in big_field.json()["detail"]
    assert listing == []


# ------------------------------------------------------------------------------ stalled bodies


def test_a_stalled_body_is_a_408_and_frees_the_request():
    async def scenario() -> tuple[list, bool]:
        sent: list = []
        reached = False

        async def app(scope, receive, send):
            nonlocal reached
            await receive()  # the first part arrives
            await receive()  # then nothing
            reached = True

        async def receive():
            if not sent:
                sent.append("part")
                return {"type": "http.request", "body": b'{"question": ', "more_body": True}
            await asyncio.sleep(3600)
            raise AssertionError("unreachable")

        replies: list = []

        async def send(message):
            replies.append(message)

        guarded = BodyLimitMiddleware(app, limit=1000, idle_seconds=0.2)
        await asyncio.wait_for(guarded({"type": "http", "headers": []}, receive, send), 5)
        return replies, reached

    replies, reached = asyncio.run(scenario())
    assert not reached and replies[0]["status"] == 408
    assert b"no byte arrived for 0.2 s" in replies[1]["body"]


def test_a_huge_declared_content_length_is_a_413(tmp_path):
    async def scenario() -> list:
        async def app(scope, receive, send):
            await receive()

        async def receive():
            raise AssertionError("the body must not be read")

        replies: list = []

        async def send(message):
            replies.append(message)

        headers = [(b"content-length", b"9" * 5000)]
        await BodyLimitMiddleware(app, limit=1000)({"type": "http", "headers": headers}, receive, send)
        return replies

    assert asyncio.run(scenario())[0]["status"] == 413


# --------------------------------------------------------------------------- the parser itself


def test_the_strict_parser_is_linear_on_hostile_text():
    def seconds(raw: bytes) -> float:
        t0 = time.perf_counter()
        with pytest.raises(ValueError):
            loads(raw)
        return time.perf_counter() - t0

    for unit in (b'"a\\"', b"[", b'{"a":[', b'["\\ud800",'):
        small, large = seconds(unit * 100_000), seconds(unit * 400_000)
        assert large < 0.5 and large < 8 * max(small, 0.005), (unit, small, large)


def test_the_strict_parser_names_the_place():
    with pytest.raises(JSONTextError) as exc:
        loads(b'{"a": "ok", "b": [[[' + b"[" * 40 + b"]" * 43 + b"}")
    assert exc.value.pos == 17 + MAX_JSON_DEPTH - 1 and "32 levels" in exc.value.msg


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/score", {**MCQ, "answer": "Z" * 1_000_000}),
        ("POST", "/score", {**MCQZ, "options": {"丘" * 500_000: "x", "B": "y"}}),
        ("GET", "/jobs/" + "a" * 60_000, None),
        ("GET", "/rubrics/" + "病" * 7_000, None),
        ("POST", "/jobs", {"benchmark": "inputs/" + "x" * 200 + "/" * 1_000_000}),
    ],
    ids=["mcq-answer", "option-key-zh", "job-id", "rubric-zh", "job-path"],
)
def test_an_error_quotes_at_most_a_little_of_the_input(tmp_path, method, path, body):
    with running(tmp_path, max_body_bytes=3_000_000) as client:
        r = client.request(method, path, json=body)
    assert 400 <= r.status_code < 500
    assert len(r.text) < 3_000 and r.json()["detail"]  # characters: the quote is clipped, not the input echoed


# ---------------------------------------------------------------- jobs: concurrency, no server paths


def test_concurrent_job_submissions_each_get_their_own_job(tmp_path):
    preds = [("p.jsonl", (_pred(FIRST_ID, "B", f"model-{i}") + "\n").encode()) for i in range(12)]
    with running(tmp_path, max_body_bytes=1_000_000) as client, ThreadPoolExecutor(12) as pool:
        replies = list(pool.map(lambda p: _upload(client, GOOD_BENCH, [p]), preds))
        ids = [r.json()["id"] for r in replies]
        states = [wait_until(lambda j=j: (s := client.get(f"/jobs/{j}").json())["state"] == "complete" and s)
                  for j in ids]
        listed = {j["id"] for j in client.get("/jobs").json()["jobs"]}
    assert [r.status_code for r in replies] == [202] * 12 and len(set(ids)) == 12 and listed == set(ids)
    assert all(s["attempts"] == 1 for s in states)


def test_no_response_names_a_server_path(tmp_path):
    inputs = tmp_path / "data" / "inputs"
    inputs.mkdir(parents=True)
    (inputs / "b.jsonl").write_bytes(GOOD_BENCH)
    (inputs / "p.jsonl").write_text(GOOD_PRED + "\n", encoding="utf-8")
    seen: list[str] = []
    with running(tmp_path) as client:
        uploaded = _upload(client, GOOD_BENCH, [("preds.jsonl", (GOOD_PRED + "\n").encode())]).json()["id"]
        named = client.post("/jobs", json={"benchmark": "inputs/b.jsonl", "predictions": ["inputs/p.jsonl"]}).json()["id"]
        for job in (uploaded, named):
            wait_until(lambda job=job: client.get(f"/jobs/{job}").json()["state"] == "complete")
            seen.append(client.get(f"/jobs/{job}").text)
            seen += [client.get(f"/jobs/{job}/table", params={"format": f}).text for f in ("json", "markdown", "csv")]
            seen += [client.get(f"/jobs/{job}/results", params={"format": f}).text for f in ("jsonl", "csv")]
            table = client.get(f"/jobs/{job}/table").json()
            assert table["provenance"]["benchmark"]["sha256"] and table["provenance"]["predictions"][0]["sha256"]
        seen.append(client.get("/jobs").text)
        seen += [client.post("/jobs", json={"benchmark": p}).text for p in ("inputs/none.jsonl", "../x", "/etc/passwd")]
        seen += [client.get("/rubrics").text, client.get("/rubrics/v3").text, client.get("/openapi.json").text]
    server = str(tmp_path.resolve())
    leaks = [s[max(0, s.find(server) - 40): s.find(server) + 80] for s in seen if server in s or str(tmp_path) in s]
    assert leaks == []
    assert table["provenance"]["benchmark"]["path"] == "b.jsonl"
