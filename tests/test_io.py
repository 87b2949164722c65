"""Malformed input stops with file:line and the problem; good input round-trips."""

from __future__ import annotations

import pytest
from conftest import item, mcq_item, write_jsonl

from judge.errors import InputError
from judge.io import read_benchmark, read_gold, read_predictions


def test_reads_items_and_normalises_mcq_answers(tmp_path):
    path = write_jsonl(tmp_path / "b.jsonl", [item("1"), mcq_item("2", answer="A, C"), item("3", question="皮损是什么颜色？", answer="粉红色")])
    items = read_benchmark(path)
    assert [i.id for i in items] == ["1", "2", "3"]
    assert items[1].gold_letters == {"A", "C"}
    assert items[0].lang == "en" and items[2].lang == "zh"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"id": "2", "split": "test",', "invalid JSON"),
        ('["not", "an", "object"]', "expected a JSON object"),
        (None, "ability"),  # unknown ability, filled below
        ('{"id": "2", "split": "test", "ability": "lesion_recognition", "question_type": "short_answer", "question": "q"}', "answer"),
        ('{"id": "1", "split": "test", "ability": "lesion_recognition", "question_type": "short_answer", "question": "q", "answer": "x"}', "duplicate id '1'"),
        ('{"id": "2", "split": "test", "ability": "lesion_recognition", "question_type": "short_answer", "question": "q", "answer": "x", "colour": "red"}', "colour: unknown field"),
        ('{"id": "2", "split": "test", "ability": "lesion_recognition", "question_type": "mcq", "question": "q", "options": {"A": "x", "B": "y"}, "answer": "E"}', "must name option letters"),
    ],
)
def test_malformed_benchmark_line_names_file_line_and_problem(tmp_path, line, problem):
    if line is None:
        line = '{"id": "2", "split": "test", "ability": "lesion_recognitoin", "question_type": "short_answer", "question": "q", "answer": "x"}'
    path = tmp_path / "bench.jsonl"
    path.write_text(
        '{"id": "1", "split": "test", "ability": "lesion_recognition", "question_type": "short_answer", "question": "q", "answer": "x"}\n'
        "\n" + line + "\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as exc:
        read_benchmark(path)
    message = str(exc.value)
    assert message.startswith(f"{path}:3: "), message
    assert problem in message


def test_predictions_must_answer_known_ids_once(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"id": "1", "model": "m", "prediction": "pink"}, {"id": "9", "model": "m", "prediction": "red"}])
    with pytest.raises(InputError, match=r"p.jsonl:2: id '9' is not in the benchmark"):
        read_predictions(path, known_ids={"1"})
    dup = write_jsonl(tmp_path / "d.jsonl", [{"id": "1", "model": "m", "prediction": "a"}, {"id": "1", "model": "m", "prediction": "b"}])
    with pytest.raises(InputError, match=r"d.jsonl:2: model 'm' already answered id '1' at .*d.jsonl:1"):
        read_predictions(dup)


def test_prediction_missing_field(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"id": "1", "prediction": "pink"}])
    with pytest.raises(InputError, match=r"p.jsonl:1: model: Field required"):
        read_predictions(path)


def test_gold_ratings_must_be_on_scale(tmp_path):
    row = {"id": "g1", "ability": "attribute_recognition", "question_type": "short_answer", "question": "q",
           "reference": "pink", "candidate": "red", "ratings": {"a": 0.7}}
    path = write_jsonl(tmp_path / "g.jsonl", [row])
    with pytest.raises(InputError, match=r"g.jsonl:1: ratings: .*not on the scale"):
        read_gold(path)
    row["ratings"] = {"a": 0.5, "b": None}
    assert read_gold(write_jsonl(tmp_path / "ok.jsonl", [row]))[0].ratings == {"a": 0.5, "b": None}


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "e.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="holds no records"):
        read_benchmark(tmp_path / "e.jsonl")
    with pytest.raises(InputError, match="file not found"):
        read_benchmark(tmp_path / "nope.jsonl")
