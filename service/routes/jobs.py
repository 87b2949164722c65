"""``/jobs``: whole-benchmark scoring in the background (upload files, or name server-side ones)."""

from __future__ import annotations

import json
import shutil
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from judge.errors import InputError
from judge.score_table import ScoreTable
from judge.store import Store
from service import jobs
from service.db import StorePool
from service.deps import AuthDep, PolicyDep, PoolDep, RequestIdDep, RunnerDep, SettingsDep, StoreDep
from service.handlers import field_error, json_error, request_validation_error
from service.jsontext import StrictJSONRoute
from service.openapi import AUTH, BODY, STORE, errors
from service.schemas import MAX_PREDICTION_FILES, JobCreate, JobList, JobProgress, JobStatus

router = APIRouter(prefix="/jobs", tags=["jobs"], dependencies=[AuthDep], route_class=StrictJSONRoute)

FORM_FIELDS = ("benchmark", "predictions", "split", "rubric", "backend")
MAX_FORM_FIELDS = 8
"""Text parts of a multipart body at most (three are used: split, rubric, backend)."""
_JOB = JobCreate.model_json_schema()["properties"]


def _text_part(name: str) -> dict[str, Any]:
    """A JSON job's optional field as a multipart text part: a form field is absent or text, never null."""
    prop = {k: v for k, v in _JOB[name].items() if k not in ("anyOf", "default")}
    (text,) = [m for m in _JOB[name]["anyOf"] if m.get("type") != "null"]
    return {**text, **prop}


_SAMPLE_LINE = (
    '{"id": "q1", "split": "test", "ability": "attribute_recognition", "question_type": "short_answer", '
    '"question": "What color is the lesion?", "answer": "pink", "attribute": "color", "model": "model-a", '
    '"prediction": "salmon pink"}\n'
)
UPLOAD: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["benchmark"],
    "properties": {
        "benchmark": {
            "type": "string", "format": "binary",
            "description": "Benchmark JSONL (UTF-8): one item per line; an item may carry a model's `prediction`.",
        },
        "predictions": {
            "type": "array", "items": {"type": "string", "format": "binary"}, "maxItems": MAX_PREDICTION_FILES,
            "description": "Prediction JSONL files (UTF-8), one `{id, model, prediction}` per line.",
        },
        "split": _text_part("split"),
        "rubric": _text_part("rubric"),
        "backend": _text_part("backend"),
    },
}
_JSONL = {"contentType": "application/x-ndjson"}
_UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": UPLOAD,
                "encoding": {"benchmark": _JSONL, "predictions": _JSONL},
                "examples": {"benchmark with predictions": {
                    "summary": "A one-item benchmark whose line carries a model's prediction",
                    "value": {"benchmark": _SAMPLE_LINE, "split": "test"},
                }},
            },
            "application/json": {"schema": JobCreate.model_json_schema()},
        },
    }
}
_FILE_PROBLEMS = "a file's line that is not a valid record (`name:line: problem`), or a named file that does not exist"
_READ_LINKS = {
    "job": ("get_job", "The job's state and progress."),
    "results": ("get_job_results", "Its per-item verdicts, once complete."),
    "table": ("get_job_table", "Its per-ability table, once complete."),
}


def _links(id_at: str) -> dict[str, Any]:
    """OpenAPI links from an answer carrying a job id (at JSON pointer ``id_at``) to the job's read operations."""
    return {name: {"operationId": op, "parameters": {"job_id": f"$response.body#{id_at}"}, "description": text}
            for name, (op, text) in _READ_LINKS.items()}


READ_ERRORS = errors(AUTH, STORE, {404: "No job with this id."})
RESULT_ERRORS = errors(AUTH, STORE, {
    404: "No job with this id.",
    409: "The job has no results yet (queued or running) or failed (the reason is in `detail`).",
    422: "Unknown `format`.",
})
CREATE_ERRORS = errors(AUTH, BODY, STORE, {
    400: "The multipart body cannot be parsed, or has more parts than allowed "
         f"({MAX_PREDICTION_FILES + 1} files, {MAX_FORM_FIELDS} text fields).",
    403: "Override not allowed, or a server path outside the data directory.",
    413: "Upload over the body limit (JUDGE_MAX_BODY_BYTES).",
    415: "Neither multipart/form-data nor JSON.",
    422: f"Invalid request, or {_FILE_PROBLEMS}: nothing is queued.",
})
_TEXT = {"schema": {"type": "string"}}
RESULTS_200: dict[str, Any] = {
    "description": "JSON lines (`format=jsonl`, one verdict per line) or CSV (`format=csv`).",
    "content": {"application/x-ndjson": _TEXT, "text/csv": _TEXT},
}
TABLE_200: dict[str, Any] = {
    "model": ScoreTable, "description": "The table as JSON (`format=json`), Markdown or CSV.",
    "content": {"text/markdown": _TEXT, "text/csv": _TEXT},
}
CREATE_ERRORS[202] = {
    "description": "Queued: the job's state, with its URL in Location.",
    "headers": {"Location": {"description": "`/jobs/<id>`", "schema": {"type": "string"}, "required": True}},
    "links": _links("/id"),
}


def _status(row: jobs.JobRow) -> JobStatus:
    return JobStatus(
        id=row.id, state=row.state, progress=JobProgress(done=row.done, total=row.total),
        unscored=row.unscored, unscored_reasons=row.summary.get("unscored_reasons", {}), error=row.error,
        rubric=row.rubric, backend=row.backend, benchmark=row.benchmark, predictions=row.predictions,
        split=row.split, run_id=row.run_id, attempts=row.attempts, created_at=row.created_at,
        started_at=row.started_at, finished_at=row.finished_at,
    )


def _get(store: Store, job_id: str) -> jobs.JobRow:
    row = jobs.JobRepo.get(store, job_id) if jobs.valid_id(job_id) else None
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id[:40]!r}" + ("..." if len(job_id) > 40 else ""))
    return row


def _parse_form(form: Any) -> tuple[JobCreate, tuple[UploadFile, list[UploadFile]]]:
    bench = form.get("benchmark")
    preds = form.getlist("predictions")
    if not isinstance(bench, UploadFile):
        raise field_error("body", "benchmark", problem="a file is required (multipart field `benchmark`)")
    if not all(isinstance(p, UploadFile) for p in preds):
        raise field_error("body", "predictions", problem="each `predictions` part must be a file")
    unknown = sorted(set(form.keys()) - set(FORM_FIELDS))
    if unknown:
        raise field_error("body", unknown[0], problem="unknown field", kind="extra_forbidden")
    fields: dict[str, Any] = {k: v for k, v in form.items() if k in ("split", "rubric", "backend") and isinstance(v, str)}
    try:
        options = JobCreate.model_validate({"benchmark": bench.filename or "benchmark.jsonl", **fields})
    except ValidationError as exc:
        raise request_validation_error(exc) from None
    return options, (bench, list(preds))


def _create(
    settings: Any, pool: StorePool, options: JobCreate, uploads: tuple[UploadFile, list[UploadFile]] | None,
    rubric: str, backend: str, rid: str,
) -> dict[str, Any]:
    """Save (or copy) the files, validate them, insert the job row; blocking, runs in the threadpool.

    A store connection is taken for the insert only: never while a client is still sending.
    """
    data_dir = settings.data_dir
    if uploads is None:  # server-side paths
        try:
            sources = [jobs.resolve_server_path(data_dir, options.benchmark, "benchmark")]
            sources += [jobs.resolve_server_path(data_dir, p, "predictions") for p in options.predictions]
        except PermissionError as exc:
            raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None
        names = [jobs.display_name(options.benchmark, "benchmark.jsonl")]
        names += [jobs.display_name(p, f"predictions-{i}.jsonl") for i, p in enumerate(options.predictions)]
    else:
        bench, preds = uploads
        names = [jobs.display_name(bench.filename, "benchmark.jsonl")]
        names += [jobs.display_name(p.filename, f"predictions-{i}.jsonl") for i, p in enumerate(preds)]
    job = jobs.start_job(data_dir, names[0], names[1:])
    try:
        targets = [job.benchmark_path, *job.prediction_paths]
        if uploads is None:
            for source, target in zip(sources, targets, strict=True):
                shutil.copyfile(source, target)
        else:
            for upload, target in zip([uploads[0], *uploads[1]], targets, strict=True):
                upload.file.seek(0)
                jobs.save_upload(upload.file, target)
        total = jobs.validate_job(job, options.split)
        record = jobs.new_job_record(job, split=options.split, rubric=rubric, backend=backend, total=total, request_id=rid)
        with pool.acquire() as store:
            jobs.JobRepo.insert(store, record)
    except BaseException:
        shutil.rmtree(job.dir, ignore_errors=True)
        raise
    return record


@router.post("", status_code=status.HTTP_202_ACCEPTED, responses=CREATE_ERRORS, openapi_extra=_UPLOAD_DOC,
             summary="Score a whole benchmark in the background", operation_id="create_job")
async def create_job(
    request: Request, response: Response, settings: SettingsDep, policy: PolicyDep, pool: PoolDep,
    runner: RunnerDep, rid: RequestIdDep,
) -> JobStatus:
    """Upload a benchmark JSONL and prediction JSONL files (multipart: `benchmark`, `predictions`...),
    or send JSON naming files under the server's data directory. The files are validated first:
    a bad line fails the request with 422 `file:line: problem` and nothing is queued (what a
    file's lines must hold is beyond the schema: see the README's file formats).
    """
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("multipart/form-data", "application/json"):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "send multipart/form-data (file uploads) or application/json (files under the data directory)",
        )
    form = await request.form(max_files=MAX_PREDICTION_FILES + 1, max_fields=MAX_FORM_FIELDS) if ctype.startswith("multipart") else None
    try:
        uploads: tuple[UploadFile, list[UploadFile]] | None = None
        if form is not None:
            options, uploads = _parse_form(form)
        else:
            try:
                options = JobCreate.model_validate(await request.json())
            except ValidationError as exc:
                raise request_validation_error(exc) from None
            except json.JSONDecodeError as exc:  # service.jsontext's JSONTextError is one
                raise json_error(exc) from None
        n_preds = len(uploads[1]) if uploads is not None else len(options.predictions)
        if n_preds > MAX_PREDICTION_FILES:
            raise field_error("body", "predictions", problem=f"at most {MAX_PREDICTION_FILES} files")
        rubric = policy.rubric(options.rubric).id
        backend = policy.backend(options.backend)
        try:
            record = await run_in_threadpool(_create, settings, pool, options, uploads, rubric, backend, rid)
        except InputError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    finally:
        if form is not None:
            await form.close()
    runner.metrics.job_state("queued")
    runner.wake()
    response.headers["Location"] = f"/jobs/{record['id']}"
    return _status(jobs.JobRow.from_db(record))


@router.get("", responses={**errors(AUTH, STORE, {422: "`limit` out of range."}), 200: {"links": _links("/jobs/0/id")}},
            summary="Recent jobs", operation_id="list_jobs")
def list_jobs(store: StoreDep, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> JobList:
    """The newest jobs first."""
    return JobList(jobs=[_status(r) for r in jobs.JobRepo.recent(store, limit)])


@router.get("/{job_id}", responses=READ_ERRORS, summary="A job's state and progress", operation_id="get_job")
def get_job(job_id: str, store: StoreDep) -> JobStatus:
    """State (queued, running, complete, failed), progress, unscored counts and error."""
    return _status(_get(store, job_id))


def _finished(store: Store, job_id: str, settings: Any) -> Any:
    row = _get(store, job_id)
    if row.state == "failed":
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {job_id} failed: {row.error}")
    if row.state != "complete":
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"job {job_id} is {row.state} ({row.done}/{row.total} done); results come when it is complete",
        )
    return jobs.jobs_root(settings.data_dir) / job_id / jobs.OUT_DIR


@router.get("/{job_id}/results", responses={**RESULT_ERRORS, 200: RESULTS_200}, response_class=Response,
            summary="Per-item verdicts", operation_id="get_job_results")
def job_results(
    job_id: str, store: StoreDep, settings: SettingsDep, format: Literal["jsonl", "csv"] = "jsonl"
) -> Response:
    """Every verdict with its provenance: JSON lines (default) or CSV."""
    out = _finished(store, job_id, settings)
    if format == "csv":
        return FileResponse(out / jobs.RESULTS_CSV, media_type="text/csv", filename=f"{job_id}-results.csv")
    return FileResponse(out / "verdicts.jsonl", media_type="application/x-ndjson", filename=f"{job_id}-verdicts.jsonl")


@router.get("/{job_id}/table", responses={**RESULT_ERRORS, 200: TABLE_200}, response_class=Response,
            summary="Per-ability score table", operation_id="get_job_table")
def job_table(
    job_id: str, store: StoreDep, settings: SettingsDep, format: Literal["json", "markdown", "csv"] = "json"
) -> Response:
    """The per-model table (AVG, the 7 abilities, question types, languages) as JSON, Markdown or CSV."""
    out = _finished(store, job_id, settings)
    if format == "markdown":
        return PlainTextResponse((out / "scores.md").read_text(encoding="utf-8"), media_type="text/markdown")
    if format == "csv":
        return PlainTextResponse((out / "scores.csv").read_text(encoding="utf-8"), media_type="text/csv")
    return JSONResponse(json.loads((out / "scores.json").read_text(encoding="utf-8")))
