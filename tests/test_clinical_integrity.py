"""Trust in the number: the embedded judge credits only the candidate's own words, all of them, fast.

Each class of attack that once raised a score is pinned with new examples in English and Chinese
(none taken from a gold set): the question read as the answer, the question's numbers and listed
alternatives, every value listed, a rejected or superseded reference, an answer that only echoes the
question, text past the first 20,000 characters, numbers of any length. Invariance checks: the
question's numbering, spacing and case, and polite padding around a correct answer, change no score.
The last test fails when the judge's time grows faster than linearly with the answer.
"""

from __future__ import annotations

import statistics
import time

import pytest
from test_local_judge import judge

from judge.backends.local import LocalBackend
from judge.clinical.judge import ENGINE_VERSION
from judge.clinical.reading import blank_of, echo_of, strip_labels
from judge.limits import MAX_CANDIDATE_CHARS, MAX_REFERENCE_CHARS, MAX_REFERENCES
from judge.models import Case
from judge.rubrics import load_rubric

V3 = load_rubric("v3")
FILL = {"qtype": "fill_blank"}
ZH = {"lang": "zh"}
COLOR = {"ability": "attribute_recognition", "attribute": "color"}
SIZE = {"ability": "attribute_recognition", "attribute": "size"}
SHAPE = {"ability": "attribute_recognition", "attribute": "shape"}
COUNT = {"ability": "attribute_recognition", "attribute": "quantity"}
BORDER = {"ability": "attribute_recognition", "attribute": "boundary"}
SPREAD = {"ability": "attribute_recognition", "attribute": "distribution"}


def score(question, ref, cand, **kw):
    return judge(question, ref, cand, **kw).score


# ---------------------------------------------------------------- 1. the question is context, never the answer

MOLLUSCUM = "The lesion of molluscum contagiosum is typically ____ in the centre."
KERION = "For a kerion in tinea capitis, the first-line treatment is oral ____."
ZOSTER = "带状疱疹的水疱沿一侧____分布。"
MARGIN = "皮损与周围皮肤分界____。"


@pytest.mark.parametrize(
    ("question", "ref", "cand", "kw"),
    [
        (MOLLUSCUM, "umbilicated", "pineapple", {"ability": "lesion_recognition"}),
        (MOLLUSCUM, "umbilicated", "it depends", {"ability": "lesion_recognition"}),
        (KERION, "griseofulvin", "watermelon", {"ability": "suggestion_treatment"}),
        (KERION, "griseofulvin", "left alone", {"ability": "suggestion_treatment"}),
        (KERION, "griseofulvin", "kerion", {}),
        (ZOSTER, "神经", "西瓜", ZH),  # 带状 (dermatomal) is the stem's word, not the answer's
        (MARGIN, "清楚", "西瓜", ZH | BORDER),
        ("口腔扁平苔藓的白色网纹位于颊黏膜的____。", "表面", "苹果", ZH),
    ],
)
def test_a_fill_blank_stem_is_not_the_answer(question, ref, cand, kw):
    assert score(question, ref, cand, **FILL, **kw) == 0.0


@pytest.mark.parametrize(
    ("question", "ref", "cand", "kw", "expected"),
    [
        (MOLLUSCUM, "umbilicated", "umbilicated", {"ability": "lesion_recognition"}, 1.0),
        (MOLLUSCUM, "umbilicated", "dimpled", {"ability": "lesion_recognition"}, 1.0),  # same table group
        (KERION, "griseofulvin", "griseofulvin", {"ability": "suggestion_treatment"}, 1.0),
        (ZOSTER, "神经", "神经", ZH, 1.0),
        (MARGIN, "清楚", "清楚", ZH | BORDER, 1.0),
        (MARGIN, "清楚", "不清", ZH | BORDER, 0.0),  # read with the stem: 分界不清, the opposite
        ("皮损边界____。", "模糊", "不清", ZH | BORDER, 1.0),  # 边界不清 = 边界模糊
        ("The plaque on the elbow does not show any ____.", "scale", "scale", {"ability": "lesion_recognition"}, 1.0),
        ("The plaque on the elbow does not show any ____.", "scale", "crust", {"ability": "lesion_recognition"}, 0.0),
    ],
)
def test_a_blank_is_still_read_in_its_context(question, ref, cand, kw, expected):
    assert score(question, ref, cand, **FILL, **kw) == expected


@pytest.mark.parametrize(
    ("question", "ref", "cand", "kw"),
    [
        ("Does the plaque involve the proximal nail fold?", "Yes", None, {"qtype": "judgment"}),
        ("皮损是否累及甲襞？", "是", None, {"qtype": "judgment", "lang": "zh"}),
        ("Where on the forearm is the nodule located?", "the ulnar border", None, {}),
        ("What colour is the plaque on the shin?", "violaceous", None, COLOR),
        ("丘疹是散在还是簇集？", "簇集", None, ZH | SPREAD),
        (MOLLUSCUM, "umbilicated", None, FILL),
        ("The ulcer lies on the ____ of the lower lip.", "mucosal surface", None, FILL),
    ],
)
def test_an_answer_that_only_echoes_the_question_scores_0(question, ref, cand, kw):
    assert score(question, ref, question, **kw) == 0.0


def test_an_echoed_question_followed_by_an_answer_is_judged_on_the_answer():
    q = "Does the plaque involve the proximal nail fold?"
    assert score(q, "Yes", q + " Yes.", qtype="judgment") == 1.0
    assert score(q, "Yes", q + " No.", qtype="judgment") == 0.0
    assert score("丘疹是散在还是簇集？", "簇集", "丘疹是散在还是簇集？簇集。", **ZH, **SPREAD) == 1.0


@pytest.mark.parametrize(
    ("question", "ref", "cand", "lang"),
    [
        ("Is the border of the brown macule irregular?", "No", "a blue elephant", "en"),
        ("Is the border of the brown macule irregular?", "Yes", "brown macule", "en"),
        ("面部褐色斑片边界是否清楚？", "否", "蓝色的大象", "zh"),
    ],
)
def test_echoing_or_contradicting_the_subject_of_a_yes_no_question_answers_nothing(question, ref, cand, lang):
    """Only the predicate asked (the question's last) is read for an implied yes/no."""
    assert score(question, ref, cand, qtype="judgment", lang=lang) == 0.0


@pytest.mark.parametrize(
    ("question", "ref", "cand", "kw", "expected"),
    [
        ("The vesicles are ____ (scattered / clustered / dermatomal).", "clustered", "clustered", FILL | SPREAD, 1.0),
        ("The vesicles are ____ (scattered / clustered / dermatomal).", "clustered", "kiwi", FILL | SPREAD, 0.0),
        ("溃疡为____（单发/多发）。", "单发", "单发", FILL | ZH | COUNT, 1.0),
        ("溃疡为____（单发/多发）。", "单发", "梨", FILL | ZH | COUNT, 0.0),
        ("Are the erosions single or multiple?", "multiple", "multiple", COUNT, 1.0),
        ("糜烂是单发还是多发？", "多发", "多发", ZH | COUNT, 1.0),
    ],
)
def test_the_questions_own_alternatives_are_neither_stated_nor_a_hedge(question, ref, cand, kw, expected):
    assert score(question, ref, cand, **kw) == expected


# ---------------------------------------------------------------- 2. numbers: the question's are not credited, any length is text

PUSTULES = "There are ____ pustules on the chin."
ZH_PUSTULES = "下颌有____个脓疱。"


@pytest.mark.parametrize(
    ("question", "ref", "cand", "kw", "expected"),
    [
        (PUSTULES, "three", "melon", {}, 0.0),
        (PUSTULES, "three", "3", {}, 1.0),
        (PUSTULES, "three", "four", {}, 0.0),
        (ZH_PUSTULES, "3", "西瓜", ZH, 0.0),
        (ZH_PUSTULES, "3", "三", ZH, 1.0),
        (ZH_PUSTULES, "3", "2", ZH, 0.0),
    ],
)
@pytest.mark.parametrize("label", ["", " (case 4)", " (Case 3)", "（病例3）", " [image 2]"])
def test_numbers_in_the_question_are_not_the_candidates(question, ref, cand, kw, expected, label):
    assert score(question + label, ref, cand, **FILL, **COUNT, **kw) == expected


@pytest.mark.parametrize(
    "cand",
    [
        "brown " + "8" * 6000,
        "0123456789" * 500,
        "褐色" + "9" * 5000,
        "3" * 4301 + " papules",
        "about " + "1" * 4400 + " mm",
    ],
)
def test_numbers_of_any_length_are_text_and_score_0(cand):
    for kw in (COLOR, COUNT, SIZE):
        j = judge("Describe the lesion.", "pink", cand, **kw)
        assert j.score == 0.0, j.unscored_reason


# ---------------------------------------------------------------- 3. invariance: numbering, spacing, case, padding

INVARIANT_CASES = [
    ("What colour is the nodule on the scalp?", "skin-coloured", COLOR, "en"),
    ("How many comedones are on the nose?", "five", COUNT, "en"),
    ("The wheals are ____ in shape.", "annular", FILL | SHAPE, "en"),
    ("Does the rash spare the palms? Explain.", "Yes, the palms are spared", {"qtype": "judgment"}, "en"),
    ("What is the most likely diagnosis?", "pityriasis rosea", {"ability": "disease_diagnosis"}, "en"),
    ("头皮结节是什么颜色？", "肤色", COLOR, "zh"),
    ("鼻部有几个粉刺？", "5个", COUNT, "zh"),
    ("风团呈____。", "环形", FILL | SHAPE, "zh"),
    ("皮疹是否累及掌跖？", "否，掌跖未受累", {"qtype": "judgment"}, "zh"),
]
CANDIDATES = {
    "en": ["the reference", "banana", "I am not sure", "violet", "2", "no"],
    "zh": ["the reference", "香蕉", "不确定", "紫色", "2个", "否"],
}


def _variants(question: str) -> list[str]:
    return [
        question + " (case 12)",
        question + "（病例3）",
        "Question 7: " + question,
        "Q3. " + question,
        "  " + question.replace(" ", "   ") + "\n",
        question.upper(),
        question.lower(),
    ]


@pytest.mark.parametrize(("question", "ref", "kw", "lang"), INVARIANT_CASES)
def test_question_numbering_spacing_and_case_change_no_score(question, ref, kw, lang):
    for cand in CANDIDATES[lang]:
        cand = ref if cand == "the reference" else cand
        base = score(question, ref, cand, lang=lang, **kw)
        for variant in _variants(question):
            assert score(variant, ref, cand, lang=lang, **kw) == base, (variant, cand)


@pytest.mark.parametrize(("question", "ref", "kw", "lang"), INVARIANT_CASES)
def test_polite_padding_keeps_a_correct_answers_score(question, ref, kw, lang):
    base = score(question, ref, ref, lang=lang, **kw)
    assert base == 1.0
    padded = (
        f"谢谢你的提问。{ref}。希望这对你有帮助。"
        if lang == "zh"
        else f"Thanks for the question. {ref}. I hope this helps."
    )
    assert score(question, ref, padded, lang=lang, **kw) == base


# ---------------------------------------------------------------- 4. hedges: every value listed

@pytest.mark.parametrize(
    ("question", "ref", "cand", "kw"),
    [
        ("What colour are the papules?", "violaceous", "violet, red, pink, brown, yellow, white", COLOR),
        ("丘疹是什么颜色？", "褐色", "红色、褐色、白色、黄色、紫色", ZH | COLOR),
        ("How large is the nodule?", "about 4 mm", "2 mm, 4 mm, 8 mm, 2 cm", SIZE),
        ("结节多大？", "约5毫米", "3毫米、5毫米、1厘米、3厘米", ZH | SIZE),
        ("What shape is the patch?", "oval", "round, oval, annular, linear, irregular", SHAPE),
        ("斑片是什么形状？", "椭圆形", "圆形、椭圆形、环形、线状、不规则形", ZH | SHAPE),
        ("How are the papules distributed?", "clustered", "scattered, clustered, linear, generalized", SPREAD),
        # the same list in other clothes: questions, numbering, lines, hedging words, sentences
        ("What colour is the macule?", "tan", "Tan? Grey? Black? Blue?", COLOR),
        ("What colour is the macule?", "tan", "1. tan 2. grey 3. black 4. blue", COLOR),
        ("What colour is the macule?", "tan", "- tan\n- grey\n- black\n- blue", COLOR),
        ("What colour is the macule?", "tan", "perhaps tan, perhaps grey, perhaps black or blue", COLOR),
        ("What colour is the macule?", "tan", "It is tan. It is grey. It is black. It is blue.", COLOR),
        ("斑疹是什么颜色？", "褐色", "可能是褐色，也可能是灰色，也可能是黑色，或者蓝色", ZH | COLOR),
        ("斑疹是什么颜色？", "褐色", "褐色\n灰色\n黑色\n蓝色", ZH | COLOR),
        ("How many nodules are there?", "2", "2 or 3 or 4 or 5", COUNT),
    ],
)
def test_listing_every_value_scores_0(question, ref, cand, kw):
    assert score(question, ref, cand, **kw) == 0.0


@pytest.mark.parametrize(
    ("question", "ref", "cand", "kw"),
    [
        ("What colours does the lesion show?", "brown and black", "brown and black", COLOR),
        ("What colour is the plaque?", "red", "Red, scaly plaques with white, yellow and brown areas.", COLOR),
        ("皮损是什么颜色？", "红色", "红色斑块，表面有白色、黄色和褐色的痂", ZH | COLOR),
    ],
)
def test_several_values_that_describe_the_lesion_are_no_hedge(question, ref, cand, kw):
    """A list counts as a hedge only when it holds the answer among more values than the reference has."""
    assert score(question, ref, cand, **kw) == 1.0


# ---------------------------------------------------------------- 5. a rejected, negated or superseded reference

ANNULAR = ("What shape is the plaque?", "annular")
CRUST = ("皮损表面可见什么继发改变？", "结痂")


@pytest.mark.parametrize(
    ("question", "ref", "cand", "lang"),
    [
        (*ANNULAR, "anything except annular", "en"),
        (*ANNULAR, "Any shape other than annular.", "en"),
        (*ANNULAR, "Annular? No.", "en"),
        (*ANNULAR, "Annular? Not at all, it is oval.", "en"),
        (*ANNULAR, "It used to be annular, but now it is round.", "en"),
        (*ANNULAR, "Initially annular; currently not any more.", "en"),
        (*ANNULAR, "The expected answer is annular, but I'd say oval.", "en"),
        (*ANNULAR, "Annular is wrong.", "en"),
        (*ANNULAR, "Annular. On reflection it is oval, not annular.", "en"),
        (*CRUST, "除了结痂以外都有可能", "zh"),
        (*CRUST, "结痂？不是。", "zh"),
        (*CRUST, "以前有结痂，现在是糜烂", "zh"),
        (*CRUST, "原来是结痂，现在不是了。", "zh"),
        (*CRUST, "标准答案是结痂，但我认为是糜烂", "zh"),
        (*CRUST, "不是结痂", "zh"),
        (*CRUST, "结痂。不过仔细想想，是糜烂，不是结痂。", "zh"),
        (*ANNULAR, "Annular. Correction: oval.", "en"),
        (*ANNULAR, "Annular, I mean oval.", "en"),
        (*CRUST, "结痂。说错了，是糜烂。", "zh"),
        ("Describe the surface.", "honey-coloured crusts on an erythematous base",
         "Not honey-coloured crusts on an erythematous base.", "en"),
        ("Describe the surface.", "honey-coloured crusts on an erythematous base",
         "Anything but honey-coloured crusts on an erythematous base.", "en"),
        ("描述皮损表面。", "红斑基础上的蜜黄色痂", "不是红斑基础上的蜜黄色痂", "zh"),
        ("描述皮损表面。", "红斑基础上的蜜黄色痂", "红斑基础上的蜜黄色痂？不对。", "zh"),
    ],
)
def test_a_rejected_or_superseded_reference_scores_0(question, ref, cand, lang):
    assert score(question, ref, cand, lang=lang, ability="lesion_recognition") == 0.0


@pytest.mark.parametrize(
    ("question", "ref", "cand", "lang"),
    [
        (*ANNULAR, "Annular? Yes.", "en"),
        (*ANNULAR, "Annular, no doubt.", "en"),
        (*ANNULAR, "It was annular last week and it is still annular now.", "en"),
        (*ANNULAR, "It used to be round, but now it is annular.", "en"),
        (*CRUST, "以前是糜烂，现在是结痂", "zh"),
        (*CRUST, "结痂？是的。", "zh"),
        (*CRUST, "除了结痂，其他部位都没有改变。", "zh"),  # X is the one exception that has it
        (*ANNULAR, "Oval. Correction: annular.", "en"),
        (*ANNULAR, "Annular. On reflection, the border is also raised.", "en"),  # a new detail, not a correction
        (*CRUST, "糜烂。我是说，结痂。", "zh"),
    ],
)
def test_a_confirmed_or_current_value_still_counts(question, ref, cand, lang):
    assert score(question, ref, cand, lang=lang, ability="lesion_recognition") == 1.0


@pytest.mark.parametrize(
    ("question", "ref", "cand", "kw"),
    [
        ("皮损是否位于右侧？", "否，位于左侧前臂", "不是，皮损位于左侧前臂屈侧，右侧前臂未见异常。", {"qtype": "judgment", "lang": "zh"}),
        ("斑块位于哪里？", "左肘", "左肘伸侧，右肘未见皮损。", {"lang": "zh", "ability": "location_recognition"}),
        ("What is the diagnosis?", "psoriasis", "Psoriasis; the nails are not involved.", {"ability": "disease_diagnosis"}),
    ],
)
def test_a_place_stated_here_and_denied_there_is_no_contradiction(question, ref, cand, kw):
    assert score(question, ref, cand, **kw) == 1.0


@pytest.mark.parametrize(
    ("cand", "lang"),
    [
        ("The gold answer is psoriasis.", "en"),
        ("According to the reference, psoriasis.", "en"),
        ("Psoriasis (the reference says so).", "en"),
        ("参考答案应该是银屑病。", "zh"),
        ("银屑病，评分标准里写的就是这个。", "zh"),
    ],
)
def test_talking_to_the_grader_about_its_answer_key_scores_0(cand, lang):
    assert score("What is the diagnosis?", "psoriasis", cand, lang=lang, ability="disease_diagnosis") == 0.0


# ---------------------------------------------------------------- 6. all of the answer is read, up to the limit

def test_a_retraction_or_final_answer_at_the_end_of_a_long_answer_counts():
    pad = " The plaque has a raised edge and fine scale." * 700  # ~32,000 characters
    dx = {"ability": "disease_diagnosis"}
    assert score("What is the diagnosis?", "tinea corporis", "Tinea corporis." + pad + " Final answer: nummular eczema.", **dx) == 0.0
    assert score("What is the diagnosis?", "tinea corporis", "Nummular eczema." + pad + " Final answer: tinea corporis.", **dx) == 1.0
    assert score("What is the diagnosis?", "tinea corporis", "Tinea corporis." + pad + " Eczema, not tinea corporis.", **dx) == 0.0
    zh_pad = "皮损边缘隆起，表面细小鳞屑。" * 2500  # ~35,000 characters
    assert score("最可能的诊断？", "体癣", "体癣。" + zh_pad + "最终答案：钱币状湿疹。", lang="zh", **dx) == 0.0
    assert score("最可能的诊断？", "体癣", "湿疹。" + zh_pad + "最终答案：体癣。", lang="zh", **dx) == 1.0


def test_an_answer_over_the_limit_is_degenerate_and_scores_0():
    j = judge("What is the diagnosis?", "psoriasis", "psoriasis " * (MAX_CANDIDATE_CHARS // 10 + 1))
    assert j.score == 0.0 and "degenerate" in j.rationale


# ---------------------------------------------------------------- 7. helpers

def test_question_labels_are_stripped_and_the_rest_kept():
    assert strip_labels("What colour is it? (case 12)") == "What colour is it?"
    assert strip_labels("Q7. How many papules are there?") == "How many papules are there?"
    assert strip_labels("皮损呈____。（病例3）") == "皮损呈____。"
    assert strip_labels("第2题 皮损呈什么颜色？") == "皮损呈什么颜色？"
    assert strip_labels("Are there 3 (three) papules?") == "Are there 3 (three) papules?"


def test_a_blank_keeps_the_words_of_its_clause_around_it():
    blank = blank_of("Look closely. The lesion of molluscum is ____ in the centre. Answer briefly.")
    assert blank is not None
    assert blank.pre == "lesion of molluscum is" and blank.post == "in the centre"
    assert blank_of("What colour is it?") is None


def test_echo_segments_are_the_questions_clauses_with_and_without_the_blank():
    segments = echo_of("The ulcer is located on the ____ of the tongue.")
    assert "\x1f".join(["ulcer", "is", "located", "on"]) in segments
    assert "\x1f".join(["ulcer", "is", "located", "on", "of", "tongue"]) in segments


def test_engine_version_moved_on():
    assert ENGINE_VERSION != "1.4.0"
    assert LocalBackend().params["engine_version"] == ENGINE_VERSION


# ---------------------------------------------------------------- 8. linear time on hostile input

def _hostile(kind: str, n: int) -> str:
    units = {
        "zh_terms": "皮肤红斑鳞屑边界清楚手足口腔溃疡丘疹不是",
        "one_word": "pink ",
        "one_zh": "红",
        "punct": "!?.,;:/()[]{}<>-_'\"|~*&^%$#@a红",
        "refusal": "不知道，",
        "newlines": "\n",
        "or_list": "pink or red or ",
        "negated": "no pink papule, ",
    }
    text = (units[kind] * (n // len(units[kind]) + 1))[:n]
    return text[:-2] + "mm" if kind == "newlines" else text


_REFS = ["pink", "红色", "annular", "3", "约5毫米", "psoriasis", "left cheek", "边界清楚"] * 32


def _cpu_seconds(case: Case, runs: int = 3) -> float:
    backend = LocalBackend()
    times = []
    for _ in range(runs):
        t = time.process_time()
        j = backend.judge_sync(case, V3)
        times.append(time.process_time() - t)
        assert j.score is not None, j.unscored_reason
    return statistics.median(times)


@pytest.mark.parametrize("kind", ["zh_terms", "one_word", "one_zh", "punct", "refusal", "newlines", "or_list", "negated"])
def test_judging_time_grows_linearly_with_the_answer(kind):
    assert len(_REFS) == MAX_REFERENCES and sum(map(len, _REFS)) <= MAX_REFERENCE_CHARS
    cases = [
        Case(question=q, references=refs, candidate=_hostile(kind, n), question_type=qt, language="zh")
        for n in (5_000, 20_000)
        for q, refs, qt in [("皮损边界____。", ["不清"], "fill_blank"), ("Describe the lesion.", _REFS, "short_answer")]
    ]
    small = _cpu_seconds(cases[0]) + _cpu_seconds(cases[1])
    large = _cpu_seconds(cases[2]) + _cpu_seconds(cases[3])
    assert large < 8 * max(small, 0.005), (kind, small, large)  # 4x the text: ~4x the time, never ~16x
