"""Hostile input files: whatever bytes arrive, every reader stops with one line naming the file and
the line (an InputError), in bounded time and memory, and the CLI writes nothing.

Each class of problem is tried on every reader (benchmark, predictions, gold JSONL, gold CSV, the
EVOUNA converter) with English and Chinese text.
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import item

from judge.cli import cli
from judge.errors import InputError
from judge.gold import convert_evouna, read_gold_csv
from judge.io import read_benchmark, read_gold, read_predictions
from judge.limits import MAX_LINE_BYTES

EN = "What color is the lesion?"
ZH = "皮损是什么颜色？"


def gold_row(id: str, question: str = EN, candidate: str = "pink") -> dict:
    return {"id": id, "ability": "attribute_recognition", "question_type": "short_answer", "question": question,
            "reference": "pink", "candidate": candidate, "ratings": {"a": 1}}


def _lines(rows: list[dict], ensure_ascii: bool = False) -> str:
    return "".join(json.dumps(r, ensure_ascii=ensure_ascii) + "\n" for r in rows)


# Each kind: valid records -> (reader, text of two valid records in that file's format).
KINDS: dict[str, tuple[Callable, Callable[[str], str]]] = {
    "benchmark": (read_benchmark, lambda q: _lines([item("1", question=q), item("2", question=q, answer="red")])),
    "predictions": (read_predictions, lambda q: _lines([{"id": "1", "model": "m", "prediction": q},
                                                        {"id": "2", "model": "m", "prediction": q}])),
    "gold": (read_gold, lambda q: _lines([gold_row("1", q), gold_row("2", q)])),
    "gold-csv": (read_gold_csv, lambda q: (
        "id,ability,question_type,question,reference,candidate,rating_a\r\n"
        f"1,attribute_recognition,short_answer,{q},pink,red,0.5\r\n"
        f"2,attribute_recognition,short_answer,{q},pink,pink,1\r\n"
    )),
}

# (name, bytes of the file from the valid text, expected line, what the message says);
# line -1 = the first record's line, 0 = the line after the valid records
HOSTILE: list[tuple[str, Callable[[str], bytes], int, str]] = [
    ("binary", lambda t: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, 1, "not UTF-8 text (byte 0x89)"),
    ("gzip", lambda t: gzip.compress(t.encode()), 1, "not UTF-8 text"),
    ("utf-16", lambda t: t.encode("utf-16"), 1, "UTF-16 text (byte-order mark)"),
    ("utf-16-be", lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be"), 1, "UTF-16 text"),
    ("utf-16-no-bom", lambda t: t.encode("utf-16-le"), 1, "NUL byte"),
    ("utf-32", lambda t: t.encode("utf-32"), 1, "UTF-32 text"),
    ("latin-1", lambda t: t.replace(EN, "Quelle est la couleur de la lésion ?").encode("latin-1"), -1, "not UTF-8 text (byte 0xe9)"),
    ("gbk", lambda t: t.encode("gbk"), -1, "not UTF-8 text"),
    ("big5", lambda t: t.replace(ZH, "皮損是什麼顏色").encode("big5"), -1, "not UTF-8 text"),
    ("nul", lambda t: t.encode() + b'3,\x00"x"\n', 0, "NUL byte at byte 3 of the line"),
    ("huge-line", lambda t: t.encode() + b"x" * (MAX_LINE_BYTES + 10), 0, f"line longer than {MAX_LINE_BYTES:,} bytes"),
]


def _where(path: Path, text: str, line: int) -> str:
    """The ``file:line:`` prefix; line -1 = the first record's, 0 = the one after the valid records."""
    if line == -1:
        line = 2 if text.startswith("id,") else 1  # a CSV's first record follows its header
    return f"{path}:{line or text.count(chr(10)) + 1}: "


ONE_LANGUAGE = {"latin-1": EN, "gbk": ZH, "big5": ZH}
"""Encodings that can only hold one of the two languages."""


@pytest.mark.parametrize(
    ("name", "make", "line", "says", "lang"),
    [(*h, lang) for h in HOSTILE for lang in (EN, ZH) if ONE_LANGUAGE.get(h[0], lang) == lang],
    ids=[f"{h[0]}-{tag}" for h in HOSTILE for lang, tag in ((EN, "en"), (ZH, "zh")) if ONE_LANGUAGE.get(h[0], lang) == lang],
)
@pytest.mark.parametrize("kind", list(KINDS))
def test_hostile_bytes_stop_with_file_line_and_problem(tmp_path, kind, name, make, line, says, lang):
    reader, valid = KINDS[kind]
    text = valid(lang)
    path = tmp_path / "f"
    path.write_bytes(make(text))
    with pytest.raises(InputError) as exc:
        reader(path)
    message = str(exc.value)
    if name == "huge-line" and kind == "gold-csv":
        # the CSV reader sees the line only once it is complete: same prefix, same problem
        line = text.count("\n") + 1
    assert message.startswith(_where(path, text, line)), message
    assert says in message and "\n" not in message


@pytest.mark.parametrize("lang", [EN, ZH], ids=["en", "zh"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_the_same_records_in_utf8_with_bom_and_crlf_are_read(tmp_path, kind, lang):
    reader, valid = KINDS[kind]
    path = tmp_path / "f"
    path.write_bytes(codecs.BOM_UTF8 + valid(lang).replace("\r\n", "\n").replace("\n", "\r\n").encode())
    assert len(reader(path)) == 2


JSON_KINDS = ["benchmark", "predictions", "gold"]

# JSON text problems: (name, a third record as JSON text, what the message says)
JSON_HOSTILE = [
    ("nested-lists", "[" * 100_000 + "]" * 100_000, "nested deeper than 32 levels"),
    ("nested-objects", '{"a":' * 100_000 + "1" + "}" * 100_000, "nested deeper than 32 levels"),
    ("huge-int", '{"id": ' + "7" * 5000 + "}", "an integer of 5000 digits (at most 4300)"),
    ("lone-high-surrogate", '{"id": "3", "model": "m", "prediction": "pink \\ud800"}', "lone surrogate (\\ud800)"),
    ("lone-low-surrogate", '{"id": "3", "model": "m", "prediction": "\\uDC00 red"}', "lone surrogate (\\udc00)"),
    ("cut-emoji-zh", '{"id": "3", "model": "m", "prediction": "粉红色\\ud83d"}', "lone surrogate (\\ud83d)"),
    ("swapped-pair", '{"id": "3", "model": "m", "prediction": "\\ude00\\ud83d"}', "lone surrogate"),
    ("surrogate-key", '{"id": "3", "\\ud800": "x"}', "a key of the record holds a lone surrogate"),
    ("surrogate-nested", '{"id": "3", "options": {"A": "ok", "B": ["\\udfff"]}}', "options.B[0]: holds a lone surrogate"),
]


@pytest.mark.parametrize(("name", "line", "says"), JSON_HOSTILE, ids=[h[0] for h in JSON_HOSTILE])
@pytest.mark.parametrize("kind", JSON_KINDS)
def test_hostile_json_stops_with_file_line_and_problem(tmp_path, kind, name, line, says):
    reader, valid = KINDS[kind]
    path = tmp_path / "f.jsonl"
    path.write_text(valid(ZH) + line + "\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        reader(path)
    message = str(exc.value)
    assert message.startswith(f"{path}:3: ") and says in message and "\n" not in message, message


def test_a_surrogate_pair_is_a_character_and_is_read(tmp_path):
    """Escaped emoji (json.dumps' default ensure_ascii output) are valid: only lone halves are refused."""
    path = tmp_path / "p.jsonl"
    path.write_text(_lines([{"id": "1", "model": "m", "prediction": "粉红色 🙂 pink"}], ensure_ascii=True))
    assert "\\ud83d" in path.read_text()
    assert read_predictions(path)[0].prediction == "粉红色 🙂 pink"


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


NOT_FILES: list[tuple[str, Callable[[Path], Path], str]] = [
    ("directory", lambda tmp: tmp, "is a directory, not a file"),
    ("fifo", _fifo, "is a FIFO (named pipe), not a file"),
    ("dev-zero", lambda tmp: Path("/dev/zero"), "is a character device, not a file"),
    ("dev-null", lambda tmp: Path("/dev/null"), "is a character device, not a file"),
    ("missing", lambda tmp: tmp / "nope.jsonl", "file not found"),
]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="FIFOs and /dev/zero")
@pytest.mark.parametrize(("name", "make", "says"), NOT_FILES, ids=[n[0] for n in NOT_FILES])
@pytest.mark.parametrize("reader", [read_benchmark, read_predictions, read_gold, read_gold_csv, convert_evouna])
def test_paths_that_are_not_files_are_refused_without_reading(tmp_path, reader, name, make, says):
    """A FIFO with no writer is refused at once (never waited on); /dev/zero is never read."""
    path = make(tmp_path)
    started = time.monotonic()
    with pytest.raises(InputError) as exc:
        reader(path)
    assert str(exc.value) == f"{path}: {says}" + ("" if name == "missing" else ": give the path of a UTF-8 text file")
    assert time.monotonic() - started < 1


def test_a_50_mb_single_line_is_refused_after_reading_the_limit_only(tmp_path):
    path = tmp_path / "p.jsonl"
    with open(path, "wb") as fh:
        fh.write(b'{"id": "1", "model": "m", "prediction": "')
        for _ in range(50):
            fh.write(b"a" * (1 << 20))
        fh.write(b'"}\n')
    started = time.monotonic()
    with pytest.raises(InputError, match=rf"p.jsonl:1: line longer than {MAX_LINE_BYTES:,} bytes"):
        read_predictions(path)
    assert time.monotonic() - started < 5


def test_a_long_degenerate_answer_under_the_line_limit_is_read_not_refused(tmp_path):
    """An answer far over the judges' limit is the model's failure (it scores 0), not an input error."""
    path = tmp_path / "p.jsonl"
    path.write_text(_lines([{"id": "1", "model": "m", "prediction": "粉红" * 500_000}]), encoding="utf-8")
    assert len(read_predictions(path)[0].prediction) == 1_000_000


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "1: not UTF-8 text (byte 0x89)"),
        (("[" * 100_000).encode(), "1: nested deeper than 32 levels"),
        (b'[{"question": "q",\n "golden_answer": "a\\udc00"}]', "2: [0].golden_answer: holds a lone surrogate"),
        ('[\n{"question": "皮损是什么颜色"}]'.encode("gbk"), "2: not UTF-8 text"),
        ("[]".encode("utf-16"), "1: the file is UTF-16 text"),
        (b"[" + b" " * 300 + b"\n" * 3 + b'"\x00"]', "4: NUL byte at byte 2 of the line"),
    ],
    ids=["binary", "deep", "surrogate", "gbk", "utf-16", "nul"],
)
def test_evouna_json_that_is_not_json_text(tmp_path, content, says):
    path = tmp_path / "f.json"
    path.write_bytes(content)
    with pytest.raises(InputError) as exc:
        convert_evouna(path)
    assert str(exc.value).startswith(f"{path}:{says}"), str(exc.value)


# ------------------------------------------------------------------------------ the CLI


def _one_line_error(result, prefix: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {prefix}"), result.output
    assert "Traceback" not in result.output


CLI_HOSTILE = [
    *(h for h in HOSTILE if ONE_LANGUAGE.get(h[0], ZH) == ZH),
    ("surrogate", lambda t: (t + '{"id": "3", "model": "m", "prediction": "红\\ud800"}\n').encode(), 3, "lone surrogate"),
    ("deep", lambda t: (t + "[" * 100_000 + "\n").encode(), 3, "nested deeper than 32 levels"),
]


@pytest.mark.parametrize(("name", "make", "line", "says"), CLI_HOSTILE, ids=[h[0] for h in CLI_HOSTILE])
def test_score_stops_with_one_line_and_writes_nothing(tmp_path, name, make, line, says):
    bench = tmp_path / "b.jsonl"
    bench.write_text(_lines([item(str(i), question=ZH) for i in range(1, 4)]), encoding="utf-8")
    text = KINDS["predictions"][1](ZH)
    preds = tmp_path / "p.jsonl"
    preds.write_bytes(make(text))
    result = CliRunner().invoke(cli, ["score", str(bench), str(preds), "--out", str(tmp_path / "out"),
                                      "--db", str(tmp_path / "data" / "j.db")])
    _one_line_error(result, _where(preds, text, line))
    assert says in result.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "data").exists()  # not even the store


@pytest.mark.parametrize(("name", "make", "line", "says"), CLI_HOSTILE[:-2], ids=[h[0] for h in CLI_HOSTILE[:-2]])
def test_gold_import_csv_stops_with_one_line_and_writes_nothing(tmp_path, name, make, line, says):
    text = KINDS["gold-csv"][1](ZH)
    src = tmp_path / "g.csv"
    src.write_bytes(make(text))
    result = CliRunner().invoke(cli, ["gold", "import-csv", str(src), str(tmp_path / "out" / "g.jsonl")])
    if name == "huge-line":
        line = text.count("\n") + 1
    _one_line_error(result, _where(src, text, line))
    assert says in result.output and not (tmp_path / "out").exists()


def test_gold_import_csv_onto_a_directory_is_one_line(tmp_path):
    src = tmp_path / "g.csv"
    src.write_text(KINDS["gold-csv"][1](EN), encoding="utf-8")
    (tmp_path / "out").mkdir()
    result = CliRunner().invoke(cli, ["gold", "import-csv", str(src), str(tmp_path / "out")])
    _one_line_error(result, f"{tmp_path / 'out'}: cannot write it: is a directory")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="FIFOs and /dev/zero")
@pytest.mark.parametrize("target", ["fifo", "/dev/zero", "dir"])
def test_the_real_command_never_waits_on_what_is_not_a_file(tmp_path, target):
    """Run as a process with a deadline: a FIFO with no writer or /dev/zero must not stall it."""
    bench = tmp_path / "b.jsonl"
    bench.write_text(_lines([item("1")]), encoding="utf-8")
    path = {"fifo": lambda: _fifo(tmp_path), "/dev/zero": lambda: Path("/dev/zero"), "dir": lambda: tmp_path}[target]()
    env = {**os.environ, "JUDGE_DATA_DIR": str(tmp_path / "data")}
    for args in (["score", str(bench), str(path)], ["gold", "import-csv", str(path), str(tmp_path / "g.jsonl")]):
        done = subprocess.run([sys.executable, "-m", "judge.cli", *args], env=env, capture_output=True, text=True,
                              timeout=60, cwd=tmp_path)
        assert done.returncode == 2 and done.stderr.strip().startswith(f"Error: {path}: is a"), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "data").exists()


KQA_HEADER = ",Question,llm_x,answer,claim,label_0,label_1,label_2\n"


@pytest.mark.parametrize(
    ("index", "outcome"),
    [
        ("²", "kqa-²"),  # "²".isdigit() is True, int("²") raises
        ("٣", "kqa-٣"),  # an Arabic-Indic digit: not a row number of ours
        ("7" * 5000, "id: String should have at most 256 characters"),  # int() refuses over 4300 digits
        ("12", "kqa-012-gpt4"),
    ],
    ids=["superscript", "arabic-indic", "5000-digits", "plain"],
)
def test_kqa_row_numbers_int_cannot_read_are_ids_or_one_line_errors(tmp_path, index, outcome):
    from judge.gold import convert_kqa

    path = tmp_path / "k.csv"
    path.write_text(KQA_HEADER + f"{index},皮疹怎么办？,gpt4,an answer,a claim,Entailment,Neutral,\n", encoding="utf-8")
    if outcome.startswith("kqa-"):
        assert [r.id for r in convert_kqa(path)] == [outcome]
    else:
        with pytest.raises(InputError, match=rf"^{re.escape(str(path))}:2: {outcome}"):
            convert_kqa(path)


def test_messages_stay_short_whatever_the_input_holds(tmp_path):
    """A huge value or a huge header is named, not echoed: the error stays one readable line."""
    path = tmp_path / "b.jsonl"
    path.write_text(json.dumps(item("1", ability="皮" * 1_000_000)) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        read_benchmark(path)
    assert "ability: Input should be" in str(exc.value) and len(str(exc.value)) < 1000
    csv_path = tmp_path / "g.csv"
    csv_path.write_text(KINDS["gold-csv"][1](EN).replace("rating_a", ",".join(f"x{i}" for i in range(100_000))),
                        encoding="utf-8")
    with pytest.raises(InputError, match=r"unknown column\(s\) x0, .*x9 \(and 99990 more\)") as exc:
        read_gold_csv(csv_path)
    assert len(str(exc.value)) < 1000


@pytest.mark.parametrize("duplicated", [False, True])
def test_a_wide_header_is_read_in_linear_time(tmp_path, duplicated):
    """Doubling the header's columns roughly doubles the time (the duplicate check was quadratic:
    100,000 columns took over a minute)."""
    def timed(n: int) -> float:
        names = [f"rating_r{i}" for i in range(n)] + (["rating_r0"] if duplicated else [])
        path = tmp_path / f"h{n}.csv"
        path.write_text("id,ability,question_type,question,reference,candidate," + ",".join(names) + "\n",
                        encoding="utf-8")
        started = time.perf_counter()
        with pytest.raises(InputError):
            read_gold_csv(path)
        return time.perf_counter() - started

    small, large = min(timed(100_000) for _ in range(3)), min(timed(200_000) for _ in range(3))
    assert large < 4 * small + 0.05, (small, large)
