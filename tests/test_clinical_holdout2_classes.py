"""Error classes reported by a second independent held-out set, pinned with new examples of our own.

None of these strings come from that set: other words, sites, diseases and both languages.
"""

from __future__ import annotations

import pytest
from test_local_judge import judge


def score(question, ref, cand, **kw):
    """The embedded judge's score under v3 (see ``test_local_judge.judge``)."""
    return judge(question, ref, cand, **kw).score


@pytest.mark.parametrize(
    ("question", "ref", "cand"),
    [
        ("左手背可见____个疣状丘疹。", "4", "四"),
        ("左手背可见____个疣状丘疹。", "2", "两个"),
    ],
)
def test_chinese_numeral_is_a_count(question, ref, cand):
    assert (
        score(question, ref, cand, ability="lesion_recognition", qtype="fill_blank", attribute="quantity", lang="zh")
        == 1.0
    )


@pytest.mark.parametrize(
    ("question", "ref", "cand", "want"),
    [
        ("Is the nodule on the right ear tender?", "yes", "y", 1.0),
        ("Is the nodule on the right ear tender?", "no", "N.", 1.0),
        ("Is the nodule on the right ear tender?", "no", "Y", 0.0),
        ("Should the patient pop the blisters on his palm?", "no", "Not advisable.", 1.0),
        ("是否应自行刺破足底水疱？", "否", "不建议，应就医处理。", 1.0),
    ],
)
def test_yes_no_forms(question, ref, cand, want):
    assert score(question, ref, cand, qtype="judgment") == want


def test_attribute_answer_not_refusal():
    q = "颈部斑片的边界是否清楚？"
    assert score(q, "否，边界不清", "不清楚", qtype="judgment", lang="zh") == 1.0
    assert score(q, "是，边界清楚", "不清楚", qtype="judgment", lang="zh") == 0.0
    assert score(q, "否，边界不清", "我不清楚", qtype="judgment", lang="zh") == 0.0


@pytest.mark.parametrize(
    ("ref", "cand"),
    [
        ("necrobiosis lipoidica", "NLD"),
        ("pyoderma gangrenosum", "PG"),
        ("acanthosis nigricans", "AN"),
        ("angular cheilitis", "perlèche"),
        ("汗孔角化症", "DSAP"),
    ],
)
def test_abbreviations_and_eponyms(ref, cand):
    assert score("What is the diagnosis?", ref, cand, ability="disease_diagnosis") == 1.0


def test_unknown_all_caps_abbreviation_is_judged_not_empty():
    j = judge("What is the diagnosis?", "psoriasis", "XQZ", ability="disease_diagnosis")
    assert j.score == 0.0 and "empty" not in j.rationale


def test_lay_terms():
    assert (
        score("What primary lesions are on the chin?", "pustules", "little pus spots", ability="lesion_recognition")
        == 1.0
    )
    assert (
        score("Which finger has the wart?", "right middle finger", "right long finger", ability="location_recognition")
        == 1.0
    )


@pytest.mark.parametrize(
    ("ref", "cand", "want", "lang"),
    [
        ("ill-defined", "The redness merges into the surrounding skin.", 1.0, "en"),
        ("well-defined", "It has a sharp edge against normal skin.", 1.0, "en"),
        ("边界不清", "颜色向周围逐渐移行", 1.0, "zh"),
        ("边界清楚", "与周围皮肤分界明显", 1.0, "zh"),
    ],
)
def test_boundary_descriptions(ref, cand, want, lang):
    assert (
        score("Describe the border.", ref, cand, ability="attribute_recognition", attribute="boundary", lang=lang)
        == want
    )


@pytest.mark.parametrize(
    ("ref", "cand", "want"),
    [
        ("serpiginous (wavy linear)", "wavy", 1.0),
        ("target", "concentric rings like a dartboard", 1.0),
        ("靶形", "同心圆状", 1.0),
        ("annular (ring-shaped)", "ring-shaped", 1.0),
    ],
)
def test_shapes_and_glosses(ref, cand, want):
    assert score("What is the shape?", ref, cand, ability="attribute_recognition", attribute="shape") == want


def test_compound_direction():
    q = "皮损位于左侧乳头的____。"
    assert score(q, "外下方", "下外侧", ability="spatial_relation", qtype="fill_blank", lang="zh") == 1.0
    assert score(q, "外下方", "下方", ability="spatial_relation", qtype="fill_blank", lang="zh") == 0.5


def test_radial_vs_ulnar_nail_fold():
    q = "左手食指甲沟炎位于指甲哪一侧？"
    assert score(q, "尺侧甲襞", "桡侧甲襞", ability="spatial_relation", lang="zh") == 0.0
    assert score(q, "尺侧甲襞", "尺侧甲沟", ability="spatial_relation", lang="zh") == 1.0


def test_three_way_differential_with_biopsy_is_a_hedge():
    q = "前臂多发环状角化性丘疹，诊断？"
    assert (
        score(q, "汗孔角化症", "扁平苔藓、环状肉芽肿或汗孔角化症，建议活检。", ability="disease_diagnosis", lang="zh")
        == 0.0
    )
