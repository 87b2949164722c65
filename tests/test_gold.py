"""Gold CSV import (long and wide), the EVOUNA and K-QA converters, and the JSONL writer.

Every fixture is written to tmp_path in the upstream format; nothing here reads /work/shared.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from judge.errors import InputError
from judge.gold import convert_evouna, convert_kqa, read_gold_csv, write_gold_jsonl
from judge.io import read_gold


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


LONG = """id,rater,score,ability,question_type,attribute,language,question,reference,candidate
c1,alice,1,attribute_recognition,short_answer,color,en,What colour?,"[""red"", ""erythematous""]",Red.
c1,bob,0.5,,,,,,,
c2,alice,0,disease_diagnosis,short_answer,,,"Which disease?
(one word)",psoriasis,eczema
c2,bob,,disease_diagnosis,short_answer,,,"Which disease?
(one word)",psoriasis,eczema
"""


def test_long_layout(tmp_path):
    rows = read_gold_csv(_write(tmp_path / "long.csv", LONG))
    assert [r.id for r in rows] == ["c1", "c2"]
    c1, c2 = rows
    assert c1.ratings == {"alice": 1.0, "bob": 0.5}
    assert c1.reference == ["red", "erythematous"] and c1.attribute == "color" and c1.language == "en"
    assert c2.ratings == {"alice": 0.0, "bob": None}  # empty cell = missing rating
    assert c2.attribute is None and c2.language is None and c2.question == "Which disease?\n(one word)"


WIDE = """id,ability,question_type,question,reference,candidate,rating_alice,rating_bob
w1,lesion_recognition,short_answer,What lesion?,papule,a papule,1,1
w2,lesion_recognition,judgment,Is it raised?,yes,no,0,
"""


def test_wide_layout_with_rating_prefix(tmp_path):
    rows = read_gold_csv(_write(tmp_path / "wide.csv", WIDE))
    assert [(r.id, r.ratings) for r in rows] == [
        ("w1", {"alice": 1.0, "bob": 1.0}),
        ("w2", {"alice": 0.0, "bob": None}),
    ]


def test_wide_layout_with_named_rater_columns(tmp_path):
    text = "id,ability,question_type,question,reference,candidate,Dr A,Dr B\nx,spatial_relation,fill_blank,Q?,left,left,1,0.5\n"
    (row,) = read_gold_csv(_write(tmp_path / "named.csv", text), rater_columns=["Dr A", "Dr B"])
    assert row.ratings == {"Dr A": 1.0, "Dr B": 0.5}


def test_layout_can_be_forced(tmp_path):
    # a wide file whose rater happens to be called "score" is still read as wide when asked
    text = (
        "id,ability,question_type,question,reference,candidate,rater,score\nx,spatial_relation,fill_blank,Q?,a,a,1,1\n"
    )
    path = _write(tmp_path / "forced.csv", text)
    (row,) = read_gold_csv(path, layout="wide", rater_columns=["rater", "score"])
    assert row.ratings == {"rater": 1.0, "score": 1.0}


HEADER_WIDE = "id,ability,question_type,question,reference,candidate,rating_a\n"


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("x,lesion_recognition,short_answer,Q?,r,c,2\n", 2, "score '2' is not 0, 0.5 or 1"),
        ("x,lesion_recognition,short_answer,Q?,r,c,good\n", 2, "score 'good'"),
        ("x,lesion_recognition,short_answer,Q?,r,c,1\ny,dermatology,short_answer,Q?,r,c,1\n", 3, "ability"),
        (
            "x,lesion_recognition,short_answer,Q?,r,c,1\nx,lesion_recognition,short_answer,Q?,r,c,0\n",
            3,
            "duplicate id 'x'",
        ),
        (
            'x,lesion_recognition,short_answer,"multi\nline",r,c,1\ny,lesion_recognition,short_answer,Q?,r,c,7\n',
            4,
            "'7'",
        ),
        ("x,lesion_recognition,short_answer,Q?,r,c\n", 2, "6 cells but the header has 7 columns"),
        ("x,lesion_recognition,short_answer,Q?,r,c,\n", 2, "at least one rating"),
        ("x,lesion_recognition,short_answer,Q?,[oops,c,1\n", 2, "not valid JSON"),
    ],
)
def test_bad_wide_rows_name_file_and_line(tmp_path, body, line, message):
    path = _write(tmp_path / "bad.csv", HEADER_WIDE + body)
    with pytest.raises(InputError, match=message) as err:
        read_gold_csv(path)
    assert str(err.value).startswith(f"{path}:{line}: ")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("id,ability,question_type,question,reference,candidate,notes,rating_a\n", 1, "unknown column.*notes"),
        ("id,ability,question,reference,candidate,rating_a\n", 1, "missing column.*question_type"),
        ("id,ability,question_type,question,reference,candidate\n", 1, "no rater columns"),
        ("id,ability,question_type,question,reference,candidate,rating_a,rating_a\n", 1, "duplicate column"),
    ],
)
def test_bad_headers(tmp_path, text, line, message):
    path = _write(tmp_path / "bad.csv", text + "x,lesion_recognition,short_answer,Q?,r,c,1\n")
    with pytest.raises(InputError, match=message) as err:
        read_gold_csv(path)
    assert str(err.value).startswith(f"{path}:{line}: ")


HEADER_LONG = "id,rater,score,ability,question_type,question,reference,candidate\n"
ROW_LONG = "c1,alice,1,lesion_recognition,short_answer,Q?,papule,a papule\n"


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("c1,alice,0,,,,,\n", 3, "rater 'alice' rates id 'c1' twice"),
        ("c1,bob,0,,,,macule,\n", 3, "reference differs from the first row"),
        (",bob,0,,,,,\n", 3, "empty id"),
        ("c1,,0,,,,,\n", 3, "empty rater"),
        ("c1,bob,0.25,,,,,\n", 3, "'0.25'"),
    ],
)
def test_bad_long_rows_name_file_and_line(tmp_path, body, line, message):
    path = _write(tmp_path / "bad_long.csv", HEADER_LONG + ROW_LONG + body)
    with pytest.raises(InputError, match=message) as err:
        read_gold_csv(path)
    assert str(err.value).startswith(f"{path}:{line}: ")


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_gold_csv(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="empty"):
        read_gold_csv(_write(tmp_path / "empty.csv", ""))


# --------------------------------------------------------------------------- EVOUNA


def _evouna_question(question, golden, improper=False, **systems):
    q = {"question": question, "golden_answer": golden, "improper": improper}
    for s in ("fid", "gpt35", "chatgpt", "gpt4", "newbing"):
        answer, judge = systems.get(s, (f"{s} answer", None))
        q[f"answer_{s}"] = answer
        q[f"judge_{s}"] = judge
    return q


def test_convert_evouna(tmp_path):
    data = [
        _evouna_question(
            "who wrote hamlet",
            "William Shakespeare/Shakespeare/ Shakespeare",
            fid=("Shakespeare", True),
            gpt4=("It was written by Christopher Marlowe.", False),
            newbing=(None, False),  # no answer text: dropped
        ),
        _evouna_question("dropped question", "x", improper=True, fid=("x", True)),
        _evouna_question("nan verdicts", "y", fid=("y", "nan"), gpt35=("y!", True)),
    ]
    path = _write(tmp_path / "NQ.json", json.dumps(data))
    rows = convert_evouna(path)
    assert [r.id for r in rows] == ["NQ-0000-fid", "NQ-0000-gpt4", "NQ-0002-gpt35"]
    first = rows[0]
    assert first.reference == ["William Shakespeare", "Shakespeare"]  # split on "/", stripped, deduplicated
    assert first.ratings == {"human": 1.0} and rows[1].ratings == {"human": 0.0}
    assert (first.ability, first.question_type, first.language, first.attribute) == (
        "lesion_reasoning",
        "short_answer",
        "en",
        None,
    )
    assert first.candidate == "Shakespeare" and first.question == "who wrote hamlet"
    assert convert_evouna(path, ability="disease_diagnosis")[0].ability == "disease_diagnosis"


def test_convert_evouna_errors(tmp_path):
    bad = _write(tmp_path / "TQ.json", json.dumps([_evouna_question("q", "a", fid=("a", "yes"))]))
    with pytest.raises(InputError, match="question #0, judge_fid: expected true, false or null"):
        convert_evouna(bad)
    with pytest.raises(InputError, match="JSON array"):
        convert_evouna(_write(tmp_path / "obj.json", "{}"))
    with pytest.raises(InputError, match="invalid JSON"):
        convert_evouna(_write(tmp_path / "broken.json", "[{"))


# --------------------------------------------------------------------------- K-QA

KQA_HEADER = [
    "",
    "Question",
    "llm_x",
    "answer",
    "claim",
    "category_x",
    "majority_label",
    "label_0",
    "label_1",
    "label_2",
]


def _kqa_file(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(KQA_HEADER)
        writer.writerows(rows)
    return path


def test_convert_kqa(tmp_path):
    path = _kqa_file(
        tmp_path / "NLI_medical_annotator.csv",
        [
            [
                "0",
                "What is Lexapro?",
                "gpt35",
                "An SSRI.\nAsk your doctor.",
                "Escitalopram is an SSRI",
                "Must_have",
                "Entailment",
                "Entailment",
                "Entailment",
                "Neutral",
            ],
            [
                "1",
                "What is Lexapro?",
                "gpt4",
                "An antidepressant.",
                "Side effects include headache",
                "Nice_to_have",
                "Neutral",
                "Neutral",
                "Contradiction",
                "",
            ],
        ],
    )
    rows = convert_kqa(path)
    assert [r.id for r in rows] == ["kqa-000-gpt35", "kqa-001-gpt4"]
    first, second = rows
    assert first.ratings == {"physician_0": 1.0, "physician_1": 1.0, "physician_2": 0.0}
    assert second.ratings == {"physician_0": 0.0, "physician_1": 0.0, "physician_2": None}
    assert (first.question, first.reference, first.candidate) == (
        "What is Lexapro?",
        "Escitalopram is an SSRI",
        "An SSRI.\nAsk your doctor.",
    )
    assert (first.ability, first.question_type, first.language) == ("suggestion_treatment", "short_answer", "en")


def test_convert_kqa_bad_label_names_line(tmp_path):
    path = _kqa_file(
        tmp_path / "kqa.csv",
        [
            [
                "0",
                "Q?",
                "bard",
                "multi\nline\nanswer",
                "claim",
                "Must_have",
                "Neutral",
                "Neutral",
                "Neutral",
                "Neutral",
            ],
            ["1", "Q?", "bard", "a", "claim", "Must_have", "Neutral", "Neutral", "Maybe", "Neutral"],
        ],
    )
    with pytest.raises(InputError, match="label_1: unknown label 'Maybe'") as err:
        convert_kqa(path)
    assert str(err.value).startswith(f"{path}:5: ")  # the multi-line answer spans lines 2-4


def test_convert_kqa_missing_column(tmp_path):
    path = _write(tmp_path / "kqa.csv", "Question,answer\nq,a\n")
    with pytest.raises(InputError, match="missing column"):
        convert_kqa(path)


# --------------------------------------------------------------------------- writer


def test_write_gold_jsonl_round_trips(tmp_path):
    rows = read_gold_csv(_write(tmp_path / "long.csv", LONG))
    zh = read_gold_csv(
        _write(tmp_path / "zh.csv", HEADER_WIDE + "z1,disease_diagnosis,short_answer,诊断是什么？,银屑病,银屑病,1\n")
    )
    out = tmp_path / "sub" / "gold.jsonl"
    assert write_gold_jsonl([*rows, *zh], out) == 3
    text = out.read_text(encoding="utf-8")
    assert "银屑病" in text  # stored unescaped
    assert '"attribute"' in text.splitlines()[0] and '"attribute"' not in text.splitlines()[1]
    assert read_gold(out) == [*rows, *zh]
    assert not list(out.parent.glob(".*tmp"))
