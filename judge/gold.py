"""Gold sets beyond the core JSONL: CSV import, converters of public human-rated sets, JSONL writer.

**CSV import** (:func:`read_gold_csv`) reads two layouts, UTF-8 (a BOM is fine), one header line:

* *long* - one row per rating: ``id, rater, score`` plus the candidate fields. The candidate
  fields are taken from the first row of an id; later rows of that id may leave them blank or
  must repeat them exactly.
* *wide* - one row per candidate: the candidate fields plus one column per rater, named
  ``rating_<rater>`` (rater id = the part after ``rating_``), or any columns listed in
  ``rater_columns`` (rater id = the column name).

Candidate fields: ``id, ability, question_type, question, reference, candidate`` and, optionally,
``attribute`` and ``language`` (blank = none / detect). A ``reference`` cell holding a JSON list
(``["vesicles", "small blisters"]``) is a list of acceptable references. Scores are 0, 0.5 or 1;
an empty cell is a missing rating. Unknown columns are an error (a typo is not silently
dropped), and every bad row raises ``InputError("file:line: problem")``.

**Converters** of the public sets in ``/work/shared/data`` (see ``docs/gold_sets.md``). Neither set
is about skin lesions, so the contracts' medical fields get the closest *neutral* value, never a
claim the data does not support; both are English, open-ended (``short_answer``), no attribute:

* :func:`convert_evouna` - EVOUNA ``NQ.json`` / ``TQ.json`` (general-knowledge QA). One candidate
  per (question, system) with a human verdict: ``improper`` questions, null or ``"nan"`` verdicts
  and null answers are dropped (NQ 15,098 / TQ 9,690 pairs). reference = the ``/``-separated
  golden answers as a list; rater ``human`` (True = 1, False = 0); ability ``lesion_reasoning``
  (the generic "reason from the reference" bucket - trivia has no ability of its own);
  id ``<NQ|TQ>-<question index>-<system>``.
* :func:`convert_kqa` - K-QA ``NLI_medical_annotator.csv``. question = ``Question``, reference =
  ``claim`` (a physician-written statement), candidate = ``answer``; raters ``physician_0..2``
  from ``label_0..2``: Entailment = 1, Neutral (statement omitted) = 0, Contradiction = 0;
  ability ``suggestion_treatment`` (patients' questions, mostly about drugs and treatment);
  id ``kqa-<row>-<llm>``.

The ability can be overridden (``ability=...``); ability slices of these sets have one value.

Usage::

    from judge.gold import convert_evouna, convert_kqa, read_gold_csv, write_gold_jsonl

    write_gold_jsonl(read_gold_csv("ratings.csv", rater_columns=["alice", "bob"]), "gold.jsonl")
    write_gold_jsonl(convert_evouna("/work/shared/data/evouna/NQ.json"), "out/evouna_nq.jsonl")
    write_gold_jsonl(convert_kqa("/work/shared/data/kqa_physician_nli/NLI_medical_annotator.csv"), "out/kqa.jsonl")
"""

from __future__ import annotations

import csv
import errno
import json
import math
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from judge.errors import InputError
from judge.io import describe_validation_error, read_json_document, text_lines
from judge.models import Ability, GoldRating

CANDIDATE_FIELDS: tuple[str, ...] = (
    "id",
    "ability",
    "question_type",
    "attribute",
    "language",
    "question",
    "reference",
    "candidate",
)
REQUIRED_FIELDS: tuple[str, ...] = ("id", "ability", "question_type", "question", "reference", "candidate")
OPTIONAL_FIELDS: tuple[str, ...] = ("attribute", "language")
RATER_PREFIX = "rating_"
EVOUNA_SYSTEMS: tuple[str, ...] = ("fid", "gpt35", "chatgpt", "gpt4", "newbing")
KQA_LABELS: dict[str, float] = {"entailment": 1.0, "neutral": 0.0, "contradiction": 0.0}
KQA_RATERS: tuple[str, ...] = ("physician_0", "physician_1", "physician_2")

Layout = Literal["auto", "long", "wide"]
_ROW_NUMBER = re.compile(r"[0-9]{1,9}")  # ASCII digits only ("²".isdigit() is True), and short enough for int()


# --------------------------------------------------------------------------- helpers


def _csv_rows(path: str | Path) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line where the record starts, cells)`` for every non-blank record, header first.

    The text comes from :func:`judge.io.text_lines`: bytes that are not UTF-8 text, a line over
    the limit, a directory or a FIFO stop with the file and line, like a JSONL file.
    """
    reader = csv.reader(text for _, text in text_lines(path))
    start = 1
    try:
        for cells in reader:
            if any(c.strip() for c in cells):
                yield start, cells
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(f"malformed CSV ({exc})", path=str(path), line=reader.line_num) from None


def _gold_row(fields: dict[str, Any], ratings: dict[str, float | None], path: str, line: int) -> GoldRating:
    try:
        return GoldRating.model_validate({**fields, "ratings": ratings})
    except ValidationError as exc:
        raise InputError(describe_validation_error(exc), path=path, line=line) from None


def _score(cell: str, what: str, path: str, line: int) -> float | None:
    text = cell.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if value not in (0.0, 0.5, 1.0):
        raise InputError(
            f"{what}: score {text!r} is not 0, 0.5 or 1 (leave the cell empty if not rated)", path=path, line=line
        )
    return value


def _reference(cell: str, path: str, line: int) -> str | list[str]:
    text = cell.strip()
    if not text.startswith("["):
        return cell
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"reference looks like a JSON list but is not valid JSON ({exc.msg})", path=path, line=line
        ) from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError("a reference list must be a JSON list of strings", path=path, line=line)
    return value


def _candidate_fields(record: dict[str, str], path: str, line: int) -> dict[str, Any]:
    fields: dict[str, Any] = {k: record[k] for k in REQUIRED_FIELDS}
    fields["id"] = fields["id"].strip()
    fields["reference"] = _reference(record["reference"], path, line)
    for k in OPTIONAL_FIELDS:
        value = record.get(k, "").strip()
        if value:
            fields[k] = value
    return fields


# --------------------------------------------------------------------------- CSV import


def read_gold_csv(
    path: str | Path, *, layout: Layout = "auto", rater_columns: Sequence[str] | None = None
) -> list[GoldRating]:
    """Read a gold CSV in the long or wide layout (``auto``: long when it has ``rater`` and ``score``).

    ``rater_columns`` names the wide layout's rater columns when they are not ``rating_<rater>``.
    """
    rows = _csv_rows(path)
    try:
        header_line, header = next(rows)
    except StopIteration:
        raise InputError("the file is empty (expected a header line)", path=str(path)) from None
    header = [h.strip() for h in header]
    duplicates = sorted(h for h, n in Counter(header).items() if n > 1)  # linear: a header may have 10^6 cells
    if duplicates:
        raise InputError(f"duplicate column(s) {_some(duplicates)}", path=str(path), line=header_line)
    if layout == "auto":
        layout = "long" if {"rater", "score"} <= set(header) and not rater_columns else "wide"
    if layout == "long":
        return _read_long(str(path), header_line, header, rows)
    return _read_wide(str(path), header_line, header, rows, rater_columns)


def _check_header(
    header: list[str], allowed: Iterable[str], required: Iterable[str], path: str, line: int, hint: str = ""
) -> None:
    present = set(header)
    missing = [c for c in required if c not in present]
    if missing:
        raise InputError(f"missing column(s) {_some(missing)}{hint}", path=path, line=line)
    allowed = set(allowed)
    unknown = [c for c in header if c not in allowed]
    if unknown:
        raise InputError(
            f"unknown column(s) {_some(unknown)}; expected {_some(sorted(allowed))}{hint}", path=path, line=line
        )


def _some(names: Sequence[str], shown: int = 10) -> str:
    """The first ``shown`` names, and how many more: a message stays one readable line."""
    more = f" (and {len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(n[:100] for n in names[:shown]) + more


def _record(header: list[str], cells: list[str], path: str, line: int) -> dict[str, str]:
    if len(cells) != len(header):
        raise InputError(f"{len(cells)} cells but the header has {len(header)} columns", path=path, line=line)
    return dict(zip(header, cells, strict=True))


def _read_long(
    path: str, header_line: int, header: list[str], rows: Iterator[tuple[int, list[str]]]
) -> list[GoldRating]:
    _check_header(
        header, (*CANDIDATE_FIELDS, "rater", "score"), (*REQUIRED_FIELDS, "rater", "score"), path, header_line
    )
    first: dict[str, tuple[int, dict[str, Any]]] = {}
    ratings: dict[str, dict[str, float | None]] = {}
    seen: dict[tuple[str, str], int] = {}
    for line, cells in rows:
        record = _record(header, cells, path, line)
        cid, rater = record["id"].strip(), record["rater"].strip()
        if not cid:
            raise InputError("empty id", path=path, line=line)
        if not rater:
            raise InputError("empty rater", path=path, line=line)
        if (cid, rater) in seen:
            raise InputError(
                f"rater {rater!r} rates id {cid!r} twice (first on line {seen[cid, rater]})", path=path, line=line
            )
        seen[cid, rater] = line
        if cid not in first:
            first[cid] = (line, _candidate_fields(record, path, line))
        else:
            first_line, fields = first[cid]
            for k in CANDIDATE_FIELDS:
                cell = record.get(k, "")
                if k != "id" and cell.strip() and _norm(k, cell, path, line) != _norm(k, fields.get(k), path, line):
                    raise InputError(
                        f"{k} differs from the first row of id {cid!r} (line {first_line}); "
                        "repeat it exactly or leave it blank",
                        path=path,
                        line=line,
                    )
        ratings.setdefault(cid, {})[rater] = _score(record["score"], f"rater {rater!r}", path, line)
    return [_gold_row(fields, ratings[cid], path, line) for cid, (line, fields) in first.items()]


def _norm(key: str, value: Any, path: str, line: int) -> Any:
    if value is None:
        return None
    if key == "reference" and isinstance(value, str):
        return _reference(value, path, line)
    return value.strip() if key in OPTIONAL_FIELDS and isinstance(value, str) else value


def _read_wide(
    path: str,
    header_line: int,
    header: list[str],
    rows: Iterator[tuple[int, list[str]]],
    rater_columns: Sequence[str] | None,
) -> list[GoldRating]:
    if rater_columns:
        raters = {c: c for c in rater_columns}
        hint = ""
    else:
        raters = {
            c: c[len(RATER_PREFIX) :] for c in header if c.startswith(RATER_PREFIX) and len(c) > len(RATER_PREFIX)
        }
        hint = f" (rater columns are named {RATER_PREFIX}<rater>, or listed with --rater-columns)"
    _check_header(header, (*CANDIDATE_FIELDS, *raters), (*REQUIRED_FIELDS, *raters), path, header_line, hint)
    if not raters:
        raise InputError(f"no rater columns{hint}", path=path, line=header_line)
    out: list[GoldRating] = []
    seen: dict[str, int] = {}
    for line, cells in rows:
        record = _record(header, cells, path, line)
        fields = _candidate_fields(record, path, line)
        cid = fields["id"]
        if cid in seen:
            raise InputError(f"duplicate id {cid!r} (first on line {seen[cid]})", path=path, line=line)
        seen[cid] = line
        scores = {r: _score(record[c], f"rater {r!r}", path, line) for c, r in raters.items()}
        out.append(_gold_row(fields, scores, path, line))
    if not out:
        raise InputError("the file holds no rated candidates", path=path)
    return out


# --------------------------------------------------------------------------- public sets


def _references(golden: str) -> list[str]:
    refs: dict[str, None] = {}
    for part in golden.split("/"):
        if part.strip():
            refs.setdefault(part.strip(), None)
    return list(refs)


def _evouna_verdict(value: Any, where: str, path: str) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("nan", "")):
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    raise InputError(f"{where}: expected true, false or null, got {value!r}", path=path)


def convert_evouna(path: str | Path, *, ability: Ability = "lesion_reasoning") -> list[GoldRating]:
    """EVOUNA ``NQ.json`` / ``TQ.json`` -> gold rows (one per judged (question, system) pair)."""
    p = Path(path)
    data = read_json_document(p)
    if not isinstance(data, list):
        raise InputError("expected a JSON array of questions", path=str(path))
    stem = p.stem
    out: list[GoldRating] = []
    for i, q in enumerate(data):
        where = f"question #{i}"
        if not isinstance(q, dict) or "question" not in q or "golden_answer" not in q:
            raise InputError(f"{where}: expected an object with `question` and `golden_answer`", path=str(path))
        if q.get("improper") is True:
            continue
        refs = _references(q["golden_answer"]) if isinstance(q["golden_answer"], str) else []
        if not refs or not isinstance(q["question"], str) or not q["question"].strip():
            continue
        for system in EVOUNA_SYSTEMS:
            score = _evouna_verdict(q.get(f"judge_{system}"), f"{where}, judge_{system}", str(path))
            answer = q.get(f"answer_{system}")
            if score is None or not isinstance(answer, str):
                continue
            out.append(
                GoldRating(
                    id=f"{stem}-{i:04d}-{system}",
                    ability=ability,
                    question_type="short_answer",
                    language="en",
                    question=q["question"],
                    reference=refs,
                    candidate=answer,
                    ratings={"human": score},
                )
            )
    if not out:
        raise InputError("no judged (question, system) pair found", path=str(path))
    return out


def convert_kqa(path: str | Path, *, ability: Ability = "suggestion_treatment") -> list[GoldRating]:
    """K-QA ``NLI_medical_annotator.csv`` -> gold rows with three physician raters."""
    rows = _csv_rows(path)
    try:
        header_line, header = next(rows)
    except StopIteration:
        raise InputError("the file is empty (expected a header line)", path=str(path)) from None
    header = [h.strip() for h in header]
    needed = ("Question", "llm_x", "answer", "claim", "label_0", "label_1", "label_2")
    missing = [c for c in needed if c not in header]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", path=str(path), line=header_line)
    out: list[GoldRating] = []
    seen: dict[str, int] = {}
    for n, (line, cells) in enumerate(rows):
        record = _record(header, cells, str(path), line)
        index = record.get("", "").strip() or str(n)
        cid = f"kqa-{int(index):03d}-{record['llm_x'].strip()}" if _ROW_NUMBER.fullmatch(index) else f"kqa-{index}"
        if cid in seen:
            raise InputError(f"duplicate row id {cid!r} (first on line {seen[cid]})", path=str(path), line=line)
        seen[cid] = line
        ratings: dict[str, float | None] = {}
        for rater, column in zip(KQA_RATERS, ("label_0", "label_1", "label_2"), strict=True):
            label = record[column].strip()
            if label and label.lower() not in KQA_LABELS:
                raise InputError(
                    f"{column}: unknown label {label!r}; expected Entailment, Neutral or Contradiction",
                    path=str(path),
                    line=line,
                )
            ratings[rater] = KQA_LABELS[label.lower()] if label else None
        fields = {
            "id": cid,
            "ability": ability,
            "question_type": "short_answer",
            "language": "en",
            "question": record["Question"],
            "reference": record["claim"],
            "candidate": record["answer"],
        }
        out.append(_gold_row(fields, ratings, str(path), line))
    if not out:
        raise InputError("the file holds no rows", path=str(path))
    return out


# --------------------------------------------------------------------------- writing


def write_gold_jsonl(rows: Iterable[GoldRating], path: str | Path) -> int:
    """Write gold rows as JSONL (UTF-8, unescaped; unset attribute / language omitted), atomically.

    Returns the number of rows written. The file reads back with :func:`judge.io.read_gold`.
    """
    target = Path(path)
    try:
        return _write_jsonl(rows, target)
    except OSError as exc:
        raise InputError(f"cannot write it: {exc.strerror or exc}", path=str(path)) from None


def _write_jsonl(rows: Iterable[GoldRating], target: Path) -> int:
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    n = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            for row in rows:
                data = row.model_dump(mode="json")
                for key in OPTIONAL_FIELDS:
                    if data.get(key) is None:
                        data.pop(key, None)
                fh.write(json.dumps(data, ensure_ascii=False) + "\n")
                n += 1
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n
