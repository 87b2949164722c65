"""Reading the project's input files, with errors that name file and line.

Every reader validates the whole file before returning, so a malformed line stops the
run before any scoring starts: nothing half-read is ever passed off as complete.

Input files are regular files of UTF-8 text (a UTF-8 BOM is fine, CRLF too). Whatever else
arrives - a directory, a FIFO, a device, binary data, UTF-16 or Latin-1 text, NUL bytes, a line
over :data:`~judge.limits.MAX_LINE_BYTES`, JSON nested past the parser's depth, a lone UTF-16
surrogate escaped in a JSON string - is an :class:`~judge.errors.InputError` naming the file
(and the line), found in one bounded pass: a reader never blocks on a FIFO with no writer and
never reads ``/dev/zero`` forever.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import BaseModel, ValidationError

from judge import jsontext
from judge.errors import InputError
from judge.limits import MAX_JSON_FILE_BYTES, MAX_LINE_BYTES
from judge.models import BenchmarkItem, GoldRating, Prediction

M = TypeVar("M", bound=BaseModel)


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def describe_validation_error(error: ValidationError) -> str:
    """A pydantic error as one line: `field: problem; field: problem`."""
    parts = []
    for e in error.errors():
        loc = ".".join(str(x) for x in e["loc"])
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif e["type"] == "literal_error":
            got = repr(e.get("input"))
            msg = f"{msg}, got {got if len(got) <= 80 else got[:80] + '...'}"  # an 8 MB value is not a message
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


_UNICODE_BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"),
)
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def open_input(path: str | Path) -> IO[bytes]:
    """Open a regular file for reading in binary mode; anything else is an InputError.

    The file is opened non-blocking and checked on the open descriptor, so a FIFO is refused
    without waiting for a writer, and a path swapped after a check is still caught.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise InputError("file not found", path=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read it: {exc.strerror or exc}", path=str(path)) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise InputError(f"is {kind}, not a file: give the path of a UTF-8 text file", path=str(path))
    return os.fdopen(fd, "rb")


def _decode(raw: bytes, path: str, first_line: int = 1) -> str:
    """``raw`` (one line, or a whole file from ``first_line``) as UTF-8 text, or an InputError
    that names the line and says what the bytes look like."""
    if first_line == 1:
        for bom, name in _UNICODE_BOMS:
            if raw.startswith(bom):
                raise InputError(f"the file is {name} text (byte-order mark): save it as UTF-8", path=path, line=1)
    nul = raw.find(b"\x00")
    try:
        text = raw.decode("utf-8-sig" if first_line == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        if not 0 <= nul < exc.start:
            what = f"not UTF-8 text (byte 0x{raw[exc.start]:02x})"
            hint = "a binary file, or text in another encoding such as Latin-1?"
            raise _byte_error(raw, exc.start, first_line, path, what, hint) from None
    if nul >= 0:
        raise _byte_error(raw, nul, first_line, path, "NUL byte", "a binary file, or UTF-16/UTF-32 text?")
    return text


def _byte_error(raw: bytes, pos: int, first_line: int, path: str, what: str, hint: str) -> InputError:
    line = first_line + raw.count(b"\n", 0, pos)
    column = pos - raw.rfind(b"\n", 0, pos)
    return InputError(f"{what} at byte {column} of the line: {hint} Save it as UTF-8", path=path, line=line)


def text_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` of a UTF-8 text file, line endings kept (as ``newline=""``).

    Reads in one pass with at most :data:`~judge.limits.MAX_LINE_BYTES` + 1 bytes in hand, so a
    huge or endless line costs bounded memory and time; every problem is an InputError.
    """
    with open_input(path) as fh:
        for lineno in count(1):
            try:
                raw = fh.readline(MAX_LINE_BYTES + 1)
            except OSError as exc:
                raise InputError(f"cannot read it: {exc.strerror or exc}", path=str(path), line=lineno) from None
            if not raw:
                return
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                raise InputError(
                    f"line longer than {MAX_LINE_BYTES:,} bytes (the limit of one record): "
                    "not a line-oriented text file?",
                    path=str(path), line=lineno,
                )
            yield lineno, _decode(raw, str(path), lineno)


def parse_json(text: str, path: str, line: int | None = None) -> Any:
    """JSON read strictly (:func:`judge.jsontext.loads`): every way it can fail is an InputError naming file and line."""
    try:
        return jsontext.loads(text)
    except json.JSONDecodeError as exc:  # syntax, or JSONTextError: JSON the judges cannot take
        where = line if line is not None else exc.lineno
        problem = exc.msg if isinstance(exc, jsontext.JSONTextError) else f"invalid JSON ({exc.msg}"
        problem += f" at column {exc.colno}" + (")" if problem.startswith("invalid JSON (") else "")
        raise InputError(problem, path=path, line=where) from None


def read_json_document(path: str | Path) -> Any:
    """A whole-file JSON document (UTF-8, at most :data:`~judge.limits.MAX_JSON_FILE_BYTES`)."""
    with open_input(path) as fh:
        try:
            raw = fh.read(MAX_JSON_FILE_BYTES + 1)
        except OSError as exc:
            raise InputError(f"cannot read it: {exc.strerror or exc}", path=str(path)) from None
    if len(raw) > MAX_JSON_FILE_BYTES:
        raise InputError(f"larger than {MAX_JSON_FILE_BYTES:,} bytes (the limit of one JSON file)", path=str(path))
    return parse_json(_decode(raw, str(path)), str(path))


def check_writable(path: str | Path, *, option: str, directory: bool) -> None:
    """Fail now, before any work, unless ``path`` can be written: a directory we can write in or
    create (``directory``), or a file we can create or replace in an existing directory.

    Creates nothing: the nearest part of the path that exists must be a directory, and a probe
    file is created and removed there (the only test that tells the truth for ACLs, read-only
    mounts and root alike); an existing file is opened for appending, which changes nothing.
    ``option`` names the path in the message (``--out``).
    """
    target = Path(path)
    if not directory and target.is_dir():
        raise InputError(f"{option} is a directory, not a file", path=str(target))
    folder = target if directory else target.parent
    if not directory and not folder.is_dir():
        raise InputError(f"{option}: the directory {folder} does not exist", path=str(target))
    existing = folder
    while not os.path.lexists(existing) and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        what = "is not a directory" if existing == target else f"cannot be made: {existing} is not a directory"
        raise InputError(f"{option} {what}", path=str(target))
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".judge-probe-")
        os.close(fd)
        os.unlink(probe)
        if not directory and target.exists():
            open(target, "ab").close()
    except OSError as exc:
        where = target if not directory and target.exists() else existing
        raise InputError(f"{option}: cannot write in {where}: {exc.strerror or exc}", path=str(target)) from None


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-blank line; every bad line raises InputError."""
    for lineno, line in text_lines(path):
        if not line.strip():
            continue
        obj = parse_json(line, str(path), lineno)
        if not isinstance(obj, dict):
            raise InputError(f"expected a JSON object, got {type(obj).__name__}", path=str(path), line=lineno)
        yield lineno, obj


def read_models(path: str | Path, model: type[M]) -> list[tuple[int, M]]:
    """Parse every line of ``path`` as ``model``; the first bad line raises InputError."""
    rows: list[tuple[int, M]] = []
    for lineno, obj in iter_jsonl(path):
        try:
            rows.append((lineno, model.model_validate(obj)))
        except ValidationError as exc:
            raise InputError(describe_validation_error(exc), path=str(path), line=lineno) from None
    if not rows:
        raise InputError("the file holds no records", path=str(path))
    return rows


def read_benchmark(path: str | Path) -> list[BenchmarkItem]:
    """Read a benchmark JSONL file; ids must be unique."""
    seen: dict[str, int] = {}
    items = []
    for lineno, item in read_models(path, BenchmarkItem):
        key = item.id if item.prediction is None else f"{item.id}\x00{item.model}"
        if key in seen:
            raise InputError(f"duplicate id {item.id!r} (first on line {seen[key]})", path=str(path), line=lineno)
        seen[key] = lineno
        items.append(item)
    return items


def read_predictions(
    path: str | Path,
    known_ids: set[str] | None = None,
    seen: dict[tuple[str, str], str] | None = None,
) -> list[Prediction]:
    """Read a predictions JSONL file.

    ``(id, model)`` must be unique - within the file and across the files that share ``seen``
    (``(id, model) -> "file:line"``) - and every id must be in ``known_ids`` when given.
    """
    seen = {} if seen is None else seen
    preds = []
    for lineno, pred in read_models(path, Prediction):
        key = (pred.id, pred.model)
        if key in seen:
            raise InputError(
                f"model {pred.model!r} already answered id {pred.id!r} at {seen[key]}; "
                "give each run its own model name",
                path=str(path),
                line=lineno,
            )
        if known_ids is not None and pred.id not in known_ids:
            raise InputError(f"id {pred.id!r} is not in the benchmark", path=str(path), line=lineno)
        seen[key] = f"{path}:{lineno}"
        preds.append(pred)
    return preds


def read_gold(path: str | Path) -> list[GoldRating]:
    """Read a gold JSONL file; ids must be unique."""
    seen: dict[str, int] = {}
    rows = []
    for lineno, row in read_models(path, GoldRating):
        if row.id in seen:
            raise InputError(f"duplicate id {row.id!r} (first on line {seen[row.id]})", path=str(path), line=lineno)
        seen[row.id] = lineno
        rows.append(row)
    return rows
