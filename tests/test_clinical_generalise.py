"""Classes of errors found on an independent held-out set, each pinned with new examples.

The examples here are deliberately not the held-out items: different words, sites, diseases and
languages, so that they test the rule and not the string.
"""

from __future__ import annotations

import pytest
from test_local_judge import judge


def score(question, ref, cand, **kw):
    """The embedded judge's score under v3 (see ``test_local_judge.judge``)."""
    return judge(question, ref, cand, **kw).score


# ---------------------------------------------------------------- 1. judgment commitment


@pytest.mark.parametrize(
    ("question", "ref", "cand", "lang"),
    [
        ("这个结节是否位于耳垂？", "是，位于左侧耳垂", "是在耳垂上，不过也可能不在，照片不清楚。", "zh"),
        ("皮损是否累及甲床？", "否", "没有累及甲床，也有可能累及了，不好说。", "zh"),
        (
            "Is the plaque on the extensor surface of the elbow?",
            "Yes",
            "Yes, though it could equally be on the flexor side.",
            "en",
        ),
        (
            "Is this ulcer on the hard palate?",
            "No, it is on the soft palate",
            "No, but it might just as well be the hard palate.",
            "en",
        ),
        ("这是否为银屑病？", "是", "是银屑病还是脂溢性皮炎，我不能确定。", "zh"),
        (
            "Is this pityriasis rosea?",
            "Yes",
            "I can't tell whether this is pityriasis rosea or secondary syphilis.",
            "en",
        ),
    ],
)
def test_a_yes_or_no_taken_back_in_the_same_answer_is_a_hedge(question, ref, cand, lang):
    assert score(question, ref, cand, qtype="judgment", lang=lang) == 0.0


@pytest.mark.parametrize(
    ("question", "cand"),
    [
        ("Is this consistent with impetigo?", "Maybe impetigo, maybe eczema herpeticum, maybe contact dermatitis."),
        ("Is this consistent with impetigo?", "It could be impetigo or it could be tinea."),
        ("这是否符合带状疱疹？", "可能是带状疱疹，也可能是单纯疱疹，或者接触性皮炎。"),
    ],
)
def test_alternatives_instead_of_a_yes_or_no_commit_to_neither(question, cand):
    assert score(question, "Yes", cand, qtype="judgment") == 0.0


def test_a_plain_commitment_is_still_read_as_yes():
    assert score("Is this consistent with impetigo?", "Yes", "Yes, most likely impetigo.", qtype="judgment") == 1.0
    assert score("这是否为银屑病？", "是", "是的，考虑银屑病。", qtype="judgment", lang="zh") == 1.0


@pytest.mark.parametrize(
    ("question", "ref", "cand"),
    [
        (
            "Is the papule on the upper eyelid rather than on the eyebrow?",
            "Yes, it is on the upper eyelid",
            "It sits on the upper eyelid, just below the brow.",
        ),
        (
            "Is the erosion on the gingiva rather than on the buccal mucosa?",
            "Yes, on the gingiva",
            "It's on the gums.",
        ),
    ],
)
def test_stating_the_references_content_without_yes_reads_as_yes(question, ref, cand):
    assert score(question, ref, cand, qtype="judgment", ability="spatial_relation") == 1.0


# ---------------------------------------------------------------- opposite alternatives


@pytest.mark.parametrize(
    ("attribute", "question", "ref", "cand", "lang"),
    [
        ("boundary", "What is the border like?", "well-defined", "well-defined or ill-defined", "en"),
        ("boundary", "皮损边界如何？", "边界不清", "边界清楚或不清都有可能", "zh"),
        ("quantity", "Is it solitary or multiple?", "multiple", "Either solitary or multiple", "en"),
        ("quantity", "皮损单发还是多发？", "多发", "多发或者单发", "zh"),
    ],
)
def test_opposite_answers_offered_as_equals_score_0(attribute, question, ref, cand, lang):
    assert score(question, ref, cand, ability="attribute_recognition", attribute=attribute, lang=lang) == 0.0


def test_two_non_opposite_alternatives_are_still_half():
    assert score("What color is it?", "red", "red or purple", ability="attribute_recognition", attribute="color") == 0.5


# ---------------------------------------------------------------- 2. counts before number words


def qty(ref, cand, question="How many lesions are there?", lang="en"):
    return score(question, ref, cand, ability="attribute_recognition", attribute="quantity", lang=lang)


@pytest.mark.parametrize(
    ("ref", "cand", "expected"),
    [
        ("a single ulcer", "Three, one of them larger than the others.", 0.0),
        ("solitary", "2 - one on the upper and one on the lower eyelid", 0.0),
        ("one", "One, about 5 mm.", 1.0),
        ("multiple", "five, one of them crusted", 1.0),
        ("multiple", "Four.", 1.0),
        ("numerous", "several", 1.0),
    ],
)
def test_the_count_answered_comes_first(ref, cand, expected):
    assert qty(ref, cand) == expected


@pytest.mark.parametrize(
    ("ref", "cand", "expected"),
    [
        ("单发", "两个，左右各一个", 0.0),
        ("多发", "多颗", 1.0),
        ("多发", "数处", 1.0),
        ("3", "多枚", 0.5),
    ],
)
def test_chinese_counts_and_any_classifier(ref, cand, expected):
    assert qty(ref, cand, question="皮损有几个？", lang="zh") == expected


# ---------------------------------------------------------------- 3. descriptor morphology


def attr(attribute, ref, cand, question="Describe it.", lang="en"):
    return score(question, ref, cand, ability="attribute_recognition", attribute=attribute, lang=lang)


@pytest.mark.parametrize(
    ("attribute", "ref", "cand", "lang"),
    [
        ("size", "黄豆大小", "像黄豆一样大", "zh"),
        ("size", "硬币大小", "差不多一枚硬币那么大", "zh"),
        ("size", "鸡蛋大小", "有鸡蛋那么大", "zh"),
        ("shape", "环状", "环样", "zh"),
        ("shape", "钱币状", "像钱币一样", "zh"),
        ("shape", "线状", "线样的", "zh"),
        ("size", "coin-sized", "about the size of a coin", "en"),
        ("size", "palm-sized", "roughly the size of his palm", "en"),
        ("shape", "ring-shaped", "ring-like", "en"),
        ("shape", "line-like", "shaped like a line", "en"),
    ],
)
def test_descriptor_variants_are_the_same_group(attribute, ref, cand, lang):
    assert attr(attribute, ref, cand, lang=lang) == 1.0


def test_a_variant_never_joins_another_group():
    assert attr("size", "黄豆大小", "像鸡蛋一样大", lang="zh") == 0.0
    assert attr("shape", "annular", "oval-shaped") == 0.0


# ---------------------------------------------------------------- 5-8. lexicon classes


def dx(ref, cand, question="What is the diagnosis?", lang="en"):
    return score(question, ref, cand, ability="disease_diagnosis", lang=lang)


def test_temple_is_the_temporal_region_in_lay_words():
    q = "Where is the patch?"
    assert score(q, "right temporal region", "right temple", ability="location_recognition") == 1.0
    assert score("皮损在哪里？", "左颞部", "左边太阳穴", ability="location_recognition", lang="zh") == 1.0


def test_an_unqualified_parent_disease_earns_parent_credit():
    assert dx("mucous membrane pemphigoid", "pemphigoid") == 0.5
    assert dx("mucous membrane pemphigoid", "cicatricial pemphigoid") == 1.0
    assert dx("bullous pemphigoid", "BP") == 1.0


def test_a_site_bound_class_is_a_broader_category_not_the_site_form():
    # glossitis is itself a tongue disease: naming it for geographic tongue is the broader category
    assert dx("benign migratory glossitis", "glossitis", question="What is this tongue condition?") == 0.5
    assert dx("geographic tongue", "oral thrush", question="What is this tongue condition?") == 0.0


def test_fungal_infection_is_a_broad_class_even_when_the_site_is_named():
    assert (
        dx("onychomycosis", "a fungal infection", question="What is the diagnosis of the thickened fingernail?") == 0.5
    )


def test_british_spellings_fold():
    assert dx("seborrheic keratosis", "seborrhoeic keratosis") == 1.0
    assert dx("seborrheic dermatitis", "seborrhoeic eczema") == 1.0


def test_behavioural_therapies_form_a_tree():
    q = "How should this nail-biting habit be managed?"
    assert score(q, "habit reversal training", "behavioural therapy", ability="suggestion_treatment") == 0.5
    assert score(q, "cognitive behavioral therapy", "psychotherapy", ability="suggestion_treatment") == 0.5
    assert score(q, "behavioral therapy", "habit-reversal therapy", ability="suggestion_treatment") == 1.0
    assert score(q, "行为治疗", "习惯逆转训练", ability="suggestion_treatment", lang="zh") == 1.0


def test_on_top_of_is_on_the_surface_not_above():
    q = "Where are the scales relative to the plaque?"
    assert score(q, "on the surface of the plaque", "on top of it", ability="spatial_relation") == 1.0
    assert score(q, "overlying the plaque", "sitting atop the plaque", ability="spatial_relation") == 1.0
