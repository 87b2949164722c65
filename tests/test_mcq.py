"""MCQ rules: option extraction from raw model output (English and Chinese) and partial-credit scoring."""

from __future__ import annotations

import pytest

from judge.mcq import Extraction, extract_choices, parse_gold, score_mcq

EN = {"A": "Papule", "B": "Plaque", "C": "Macule", "D": "Nodule"}
ZH = {"A": "丘疹", "B": "斑块", "C": "斑疹", "D": "结节"}
COLOURS = {"A": "Red", "B": "Red-brown", "C": "White", "D": "Yellow"}
NOTA_EN = {"A": "Papule", "B": "Plaque", "C": "Macule", "D": "None of the above"}
NOTA_ZH = {"A": "丘疹", "B": "斑块", "C": "斑疹", "D": "以上都不是"}
ALL_EN = {"A": "Scale", "B": "Crust", "C": "Erosion", "D": "All of the above"}
ALL_ZH = {"A": "鳞屑", "B": "结痂", "C": "糜烂", "D": "以上都是"}
CANNOT = {"A": "Papule", "B": "Plaque", "C": "Cannot be determined from the image"}
TREATMENT_ZH = {"A": "皮损内注射曲安奈德", "B": "外用强效糖皮质激素", "C": "口服抗生素", "D": "手术切除"}
TEN = {letter: f"Finding {n}" for n, letter in enumerate("ABCDEFGHIJ", start=1)}


def _set(letters: str) -> frozenset[str]:
    return frozenset(letters)


# (options, raw output, chosen letters, deciding rule)
DECIDED = [
    # bare letters
    pytest.param(EN, "B", "B", "bare_letters", id="bare"),
    pytest.param(EN, "b", "B", "bare_letters", id="bare-lowercase"),
    pytest.param(EN, "B.", "B", "bare_letters", id="bare-period"),
    pytest.param(EN, "B)", "B", "bare_letters", id="bare-paren"),
    pytest.param(EN, "(B)", "B", "bare_letters", id="bare-parens"),
    pytest.param(EN, "[B]", "B", "bare_letters", id="bare-brackets"),
    pytest.param(EN, "**B**", "B", "bare_letters", id="bare-markdown-bold"),
    pytest.param(EN, "  B\n", "B", "bare_letters", id="bare-whitespace"),
    pytest.param(EN, "Ｂ", "B", "bare_letters", id="bare-fullwidth"),
    pytest.param(EN, "（Ｂ）", "B", "bare_letters", id="bare-fullwidth-parens"),
    pytest.param(EN, "A, C", "AC", "bare_letters", id="multi-comma-space"),
    pytest.param(EN, "A,C", "AC", "bare_letters", id="multi-comma"),
    pytest.param(EN, "AC", "AC", "bare_letters", id="multi-concatenated"),
    pytest.param(EN, "A and C", "AC", "bare_letters", id="multi-and"),
    pytest.param(EN, "A & C", "AC", "bare_letters", id="multi-ampersand"),
    pytest.param(EN, "B D", "BD", "bare_letters", id="multi-space"),
    pytest.param(EN, "B, C, and D", "BCD", "bare_letters", id="multi-oxford-comma"),
    pytest.param(EN, "Options: A and C", "AC", "bare_letters", id="multi-options-label"),
    pytest.param(ZH, "A、C", "AC", "bare_letters", id="zh-multi-dunhao"),
    pytest.param(ZH, "A和C", "AC", "bare_letters", id="zh-multi-he"),
    pytest.param(ZH, "A 与 C", "AC", "bare_letters", id="zh-multi-yu"),
    pytest.param(ZH, "A，C", "AC", "bare_letters", id="zh-multi-fullwidth-comma"),
    pytest.param(ZH, "C选项", "C", "bare_letters", id="zh-letter-xuanxiang"),
    pytest.param(EN, "B, because the lesion is raised and 2 cm wide.", "B", "bare_letters", id="bare-then-reason"),
    pytest.param(ZH, "B，因为皮损隆起", "B", "bare_letters", id="zh-bare-then-reason"),
    pytest.param(EN, "B\n\nThe lesion is raised and wider than 1 cm.", "B", "bare_letters", id="letter-line-first"),
    pytest.param(EN, "<think>Maybe A? No.</think>\nC", "C", "bare_letters", id="reasoning-block-ignored"),
    # answer prefixes
    pytest.param(EN, "Answer: B", "B", "answer_prefix", id="answer-colon"),
    pytest.param(EN, "answer: b", "B", "answer_prefix", id="answer-lowercase"),
    pytest.param(EN, "The answer is (B).", "B", "answer_prefix", id="answer-is-parens"),
    pytest.param(EN, "The answer is a.", "A", "answer_prefix", id="answer-is-lowercase-a"),
    pytest.param(EN, "Final answer: A, D", "AD", "answer_prefix", id="final-answer-multi"),
    pytest.param(EN, "Correct options: A and C", "AC", "answer_prefix", id="correct-options"),
    pytest.param(EN, "The correct answer is B: Plaque", "B", "answer_prefix", id="correct-answer-with-text"),
    pytest.param(EN, "The best answer is: (D) Nodule", "D", "answer_prefix", id="best-answer-parens-text"),
    pytest.param(EN, "**Answer:** C", "C", "answer_prefix", id="answer-markdown"),
    pytest.param(EN, "Answer: AC", "AC", "answer_prefix", id="answer-concatenated"),
    pytest.param(EN, "I choose C", "C", "answer_prefix", id="i-choose"),
    pytest.param(EN, "I think it's B", "B", "answer_prefix", id="i-think"),
    pytest.param(EN, "The answer is B, not A.", "B", "answer_prefix", id="answer-with-rejection"),
    pytest.param(EN, "The answer is plaque.", "B", "answer_prefix", id="answer-is-option-text"),
    pytest.param(EN, "$\\boxed{C}$", "C", "answer_prefix", id="latex-boxed"),
    pytest.param(EN, "<answer>A, C</answer>", "AC", "answer_prefix", id="answer-tags"),
    pytest.param(
        EN, "I can't be certain, but the answer is B.", "B", "answer_prefix", id="hedged-preamble-then-answer"
    ),
    pytest.param(ZH, "答案：B", "B", "answer_prefix", id="zh-answer-colon"),
    pytest.param(ZH, "答案：Ｂ", "B", "answer_prefix", id="zh-answer-fullwidth"),
    pytest.param(ZH, "答案是 B", "B", "answer_prefix", id="zh-answer-shi"),
    pytest.param(ZH, "正确答案为A、C", "AC", "answer_prefix", id="zh-correct-answer-multi"),
    pytest.param(ZH, "选B", "B", "answer_prefix", id="zh-xuan"),
    pytest.param(ZH, "选择 C 和 D", "CD", "answer_prefix", id="zh-xuanze-multi"),
    pytest.param(ZH, "故选D", "D", "answer_prefix", id="zh-gu-xuan"),
    pytest.param(ZH, "最终答案：A、C", "AC", "answer_prefix", id="zh-final-answer"),
    pytest.param(ZH, "正确选项是B和D", "BD", "answer_prefix", id="zh-correct-options"),
    pytest.param(ZH, "答案为：b", "B", "answer_prefix", id="zh-answer-lowercase"),
    pytest.param(ZH, "答案：斑块", "B", "answer_prefix", id="zh-answer-option-text"),
    pytest.param(ZH, "正确答案是：B. 斑块", "B", "answer_prefix", id="zh-answer-letter-and-text"),
    pytest.param(ZH, "排除A，选C", "C", "answer_prefix", id="zh-exclude-then-choose"),
    pytest.param(
        TREATMENT_ZH,
        "局限性斑秃首选皮损内注射曲安奈德，也可外用强效糖皮质激素。答案：A、B",
        "AB",
        "answer_prefix",
        id="zh-shouxuan-first-line-is-not-an-answer-cue",
    ),
    pytest.param(
        EN,
        "I cannot see the image, but lesions around the lips are often crusted, so maybe B.",
        "B",
        "answer_prefix",
        id="refusal-preamble-then-tentative-answer",
    ),
    # affirmations
    pytest.param(EN, "Option C is correct.", "C", "answer_affirmation", id="option-is-correct"),
    pytest.param(EN, "Thus option B is most likely.", "B", "answer_affirmation", id="thus-option-most-likely"),
    pytest.param(ZH, "C正确", "C", "answer_affirmation", id="zh-letter-correct"),
    pytest.param(ZH, "选项A不正确，选项C正确", "C", "answer_affirmation", id="zh-one-wrong-one-right"),
    # letter with option text
    pytest.param(EN, "B. Plaque", "B", "letter_with_text", id="letter-dot-text"),
    pytest.param(EN, "B: Plaque", "B", "letter_with_text", id="letter-colon-text"),
    pytest.param(EN, "(B) Plaque", "B", "letter_with_text", id="parens-letter-text"),
    pytest.param(EN, "Plaque (B)", "B", "letter_with_text", id="text-then-letter"),
    pytest.param(ZH, "B. 斑块", "B", "letter_with_text", id="zh-letter-dot-text"),
    pytest.param(ZH, "斑块（B）", "B", "letter_with_text", id="zh-text-fullwidth-parens-letter"),
    # option text instead of the letter
    pytest.param(EN, "Plaque", "B", "option_text", id="text-exact"),
    pytest.param(EN, "plaques", "B", "option_text", id="text-plural-lowercase"),
    pytest.param(EN, "It is a plaque.", "B", "option_text", id="text-in-sentence"),
    pytest.param(EN, "the lesion is most consistent with a papule", "A", "option_text", id="text-consistent-with"),
    pytest.param(EN, "A papule is seen", "A", "option_text", id="article-a-is-not-letter-a"),
    pytest.param(EN, "It is not a papule; it is a plaque.", "B", "option_text", id="text-negated-other"),
    pytest.param(EN, "Ｐｌａｑｕｅ", "B", "option_text", id="text-fullwidth"),
    pytest.param(ZH, "这是斑块", "B", "option_text", id="zh-text"),
    pytest.param(ZH, "不是丘疹，是斑块", "B", "option_text", id="zh-text-negated-other"),
    pytest.param(COLOURS, "Red-brown", "B", "option_text", id="longest-text-wins"),
    pytest.param(COLOURS, "The nail is red", "A", "option_text", id="shorter-text-alone"),
    pytest.param(COLOURS, "It is red-brown, not white", "B", "option_text", id="longest-text-with-negation"),
    # chain of thought: bind to the final answer
    pytest.param(
        EN,
        "Let's analyse. Option A is unlikely because it is flat. Therefore the answer is C.",
        "C",
        "answer_prefix",
        id="cot-therefore",
    ),
    pytest.param(EN, "A is incorrect, B is incorrect, so C.", "C", "answer_prefix", id="cot-so"),
    pytest.param(
        EN,
        "The answer is A.\nWait, A is flat. Therefore the answer is C.",
        "C",
        "answer_prefix",
        id="cot-final-overrides-earlier",
    ),
    pytest.param(
        EN,
        "A. Papule\nB. Plaque\nC. Macule\nD. Nodule\n\nAnswer: B",
        "B",
        "answer_prefix",
        id="cot-echoed-options-then-answer",
    ),
    pytest.param(EN, "Answer: C\nA is wrong, B is wrong, D is wrong.", "C", "answer_prefix", id="cot-rejections-after"),
    pytest.param(EN, "Vitamin D is not relevant here. Answer: C", "C", "answer_prefix", id="cot-letter-in-term"),
    pytest.param(EN, "The lesion is 3 cm, so it is a plaque.", "B", "answer_prefix", id="cot-so-option-text"),
    pytest.param(
        EN,
        "Step 1: a papule is under 1 cm.\nThe lesion is 3 cm across. It is a plaque.",
        "B",
        "option_text",
        id="cot-last-line-option-text",
    ),
    pytest.param(ZH, "A选项错误。B选项正确。", "B", "answer_affirmation", id="zh-cot-affirmation"),
    pytest.param(ZH, "皮损直径3厘米，因此是斑块。", "B", "answer_prefix", id="zh-cot-yinci-text"),
    pytest.param(ZH, "答案：A\n解析：B错误，C错误", "A", "answer_prefix", id="zh-cot-rejections-after"),
    pytest.param(ZH, "分析：A是丘疹，太小。因此，答案为C。", "C", "answer_prefix", id="zh-cot-yinci-answer"),
    # letters beyond D, and the pronoun I
    pytest.param(TEN, "Answer: I", "I", "answer_prefix", id="letter-i"),
    pytest.param(TEN, "I think the answer is J", "J", "answer_prefix", id="pronoun-i-is-not-letter-i"),
    # none / all of the above
    pytest.param(NOTA_EN, "None of the above.", "D", "none_of_the_above", id="nota"),
    pytest.param(NOTA_EN, "The answer is none of the above.", "D", "none_of_the_above", id="nota-answer-prefix"),
    pytest.param(NOTA_ZH, "以上都不是", "D", "none_of_the_above", id="zh-nota"),
    pytest.param(NOTA_ZH, "都不对", "D", "none_of_the_above", id="zh-nota-dou-bu-dui"),
    pytest.param(ALL_EN, "All of the above", "D", "all_of_the_above", id="all"),
    pytest.param(ALL_ZH, "以上都是", "D", "all_of_the_above", id="zh-all"),
    pytest.param(CANNOT, "I cannot determine this from the image.", "C", "option_text", id="cannot-determine-option"),
    # Outcomes changed on purpose in mcq-rules-2 (these were undecided, which let a hedge raise a
    # score): a hedge chooses every option it names; two uncorrected answers choose their union;
    # a choice rejected afterwards is withdrawn; rejections alone and a repeated option list
    # choose nothing. tests/test_mcq_integrity.py has the new classes in full.
    pytest.param(EN, "A or B", "AB", "hedge", id="hedge-or"),
    pytest.param(EN, "either B or C", "BC", "hedge", id="hedge-either"),
    pytest.param(EN, "A? or maybe C", "AC", "hedge", id="hedge-question"),
    pytest.param(EN, "A, B, or C", "ABC", "hedge", id="hedge-list-or"),
    pytest.param(EN, "A/B", "AB", "hedge", id="hedge-slash"),
    pytest.param(EN, "The answer is A and/or C", "AC", "hedge", id="hedge-and-or"),
    pytest.param(EN, "The answer is either A or C.", "AC", "hedge", id="hedge-answer-either"),
    pytest.param(ZH, "答案是A或B", "AB", "hedge", id="zh-hedge-huo"),
    pytest.param(ZH, "A还是C", "AC", "hedge", id="zh-hedge-haishi"),
    pytest.param(ZH, "可能是A或B", "AB", "hedge", id="zh-hedge-keneng"),
    pytest.param(EN, "maybe C, but could be D", "CD", "hedge", id="hedge-but-could-be"),
    pytest.param(EN, "The answer is C, but it could be D", "CD", "hedge", id="hedge-answer-but-could-be"),
    pytest.param(EN, "It could be a papule or a plaque.", "AB", "hedge", id="two-option-texts"),
    pytest.param(ZH, "可能是丘疹或斑块", "AB", "hedge", id="zh-two-option-texts"),
    pytest.param(EN, "The answer is papule or plaque.", "AB", "hedge", id="answer-names-two-texts"),
    pytest.param(EN, "The answer is A. The answer is C.", "AC", "conflicting", id="two-answers"),
    pytest.param(EN, "Answer: B\nAnswer: C", "BC", "conflicting", id="two-answer-lines"),
    pytest.param(EN, "B\nC", "BC", "conflicting", id="two-letter-lines"),
    pytest.param(EN, "Final answer: A\nFinal answer: C", "AC", "conflicting", id="two-final-answers"),
    pytest.param(ZH, "最终答案：A。最终答案：C。", "AC", "conflicting", id="zh-two-final-answers"),
    pytest.param(EN, "Answer: B. B is incorrect.", "", "retracted", id="chosen-and-rejected"),
    pytest.param(ZH, "答案：B。B错误。", "", "retracted", id="zh-chosen-and-rejected"),
    pytest.param(EN, "A is unlikely because of its size.", "", "no_answer", id="only-a-rejection"),
    pytest.param(EN, "The answer is not A.", "", "no_answer", id="negated-answer"),
    pytest.param(ZH, "排除A", "", "no_answer", id="zh-only-a-rejection"),
    pytest.param(EN, "A. Papule\nB. Plaque\nC. Macule\nD. Nodule", "", "no_answer", id="echoed-options-only"),
]


@pytest.mark.parametrize(("options", "output", "letters", "method"), DECIDED)
def test_extracts_the_chosen_options(options: dict[str, str], output: str, letters: str, method: str) -> None:
    result = extract_choices(output, options)
    assert result == Extraction(_set(letters), method)
    assert result.decided


# (options, raw output, a phrase the reason must contain)
UNDECIDED = [
    pytest.param(EN, "Answer: E", "not an option", id="letter-not-an-option"),
    pytest.param(EN, "The answer is plaque (E).", "not an option", id="bracketed-letter-not-an-option"),
    pytest.param(EN, "The correct answer is B: Papule", "text of option A (Papule)", id="letter-text-mismatch"),
    pytest.param(ZH, "答案是B：丘疹", "text of option A (丘疹)", id="zh-letter-text-mismatch"),
    pytest.param(EN, "B. Papule", "text of option A (Papule)", id="letter-text-line-mismatch"),
    pytest.param(EN, "The answer is plaque (A).", "disagree", id="text-bracket-letter-mismatch"),
    pytest.param(EN, "None of the above.", "no such option", id="nota-not-offered"),
    pytest.param(ZH, "以上都不是", "no such option", id="zh-nota-not-offered"),
    pytest.param(EN, "All of the above", "no such option", id="all-not-offered"),
    pytest.param(ZH, "以上都是", "no such option", id="zh-all-not-offered"),
    pytest.param(EN, "I can't be certain, but it looks like a plaque.", "declines", id="refusal-plus-option-text"),
    pytest.param(EN, "Hepatitis C is the correct diagnosis", "no option letter", id="letter-inside-a-term"),
    pytest.param(EN, "BCC", "no option letter", id="acronym-not-letters"),
    pytest.param(EN, "The lesion looks inflamed.", "no option letter", id="nothing-recognisable"),
]


@pytest.mark.parametrize(("options", "output", "reason"), UNDECIDED)
def test_undecidable_outputs_say_why(options: dict[str, str], output: str, reason: str) -> None:
    result = extract_choices(output, options)
    assert result.letters is None
    assert not result.decided
    assert result.method == "undecided"
    assert result.reason is not None and reason in result.reason


NO_ANSWER = [
    pytest.param("", id="empty"),
    pytest.param("   \n\t ", id="whitespace"),
    pytest.param("...", id="punctuation-only"),
    pytest.param("I cannot determine the answer from this image.", id="cannot-determine"),
    pytest.param("I'm sorry, I can't help with that.", id="sorry"),
    pytest.param("I cannot determine whether this is A or B.", id="refusal-naming-letters"),
    pytest.param("无法判断", id="zh-cannot-judge"),
    pytest.param("根据图片无法确定。", id="zh-cannot-determine"),
    pytest.param("不确定", id="zh-not-sure"),
    pytest.param("我看不到图片，无法回答。", id="zh-cannot-see-image"),
    pytest.param("I cannot see the image.", id="cannot-see-image"),
]


@pytest.mark.parametrize("output", NO_ANSWER)
def test_empty_output_or_refusal_is_an_explicit_no_answer(output: str) -> None:
    result = extract_choices(output, EN)
    assert result == Extraction(frozenset(), "no_answer")
    assert result.decided
    assert score_mcq(result.letters or frozenset(), frozenset("B")) == 0.0


def test_language_hint_does_not_switch_rules_off() -> None:
    """Models answer in either language whatever the question's language was."""
    assert extract_choices("答案：B", EN, language="en") == extract_choices("Answer: B", ZH, language="zh")
    assert extract_choices("答案：B", EN, language="en").letters == frozenset("B")


def test_option_keys_are_normalised_and_validated() -> None:
    assert extract_choices("Answer: b", {"a": "Papule", "b": "Plaque"}).letters == frozenset("B")
    with pytest.raises(ValueError, match="single letters"):
        extract_choices("B", {"A1": "Papule", "B": "Plaque"})
    with pytest.raises(ValueError, match="must not be empty"):
        extract_choices("B", {})


def test_extraction_cannot_be_built_inconsistently() -> None:
    with pytest.raises(ValueError):
        Extraction(None, "bare_letters", "why")
    with pytest.raises(ValueError):
        Extraction(None, "undecided")
    with pytest.raises(ValueError):
        Extraction(frozenset("A"), "bare_letters", "a decided extraction has no reason")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        pytest.param("A,C", "AC", id="comma"),
        pytest.param("A, C", "AC", id="comma-space"),
        pytest.param("AC", "AC", id="concatenated"),
        pytest.param(["A", "C"], "AC", id="list"),
        pytest.param("A and C", "AC", id="and"),
        pytest.param("A和C", "AC", id="zh-he"),
        pytest.param("A、C", "AC", id="zh-dunhao"),
        pytest.param("a; c", "AC", id="lowercase-semicolon"),
        pytest.param("(B)", "B", id="parens"),
        pytest.param(" D ", "D", id="padded"),
        pytest.param("Ｂ", "B", id="fullwidth"),
    ],
)
def test_parse_gold_formats(answer: str | list[str], expected: str) -> None:
    assert parse_gold(answer, EN) == _set(expected)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        pytest.param("E", "E, which is not an option", id="letter-not-an-option"),
        pytest.param(["A", "E"], "E, which is not an option", id="list-letter-not-an-option"),
        pytest.param("", "names no option", id="empty"),
        pytest.param([], "names no option", id="empty-list"),
        pytest.param("Papule", "cannot read 'Papule'", id="option-text-not-letters"),
        pytest.param("A or C", "cannot read 'or'", id="hedge"),
    ],
)
def test_parse_gold_rejects_bad_answers_clearly(answer: str | list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_gold(answer, EN)


@pytest.mark.parametrize(
    ("chosen", "gold", "score"),
    [
        pytest.param("A", "AC", 0.5, id="correct-subset-partial-credit"),
        pytest.param("AC", "AC", 1.0, id="all-correct"),
        pytest.param("CA", "AC", 1.0, id="order-irrelevant"),
        pytest.param("AB", "AC", 0.0, id="one-wrong-option-zeroes"),
        pytest.param("ABC", "AC", 0.0, id="superset-zeroes"),
        pytest.param("", "AC", 0.0, id="nothing-chosen"),
        pytest.param("B", "B", 1.0, id="single-correct"),
        pytest.param("D", "B", 0.0, id="single-wrong"),
        pytest.param("AB", "ABCD", 0.5, id="half-of-four"),
        pytest.param("A", "ABC", 1 / 3, id="third"),
    ],
)
def test_score_mcq(chosen: str, gold: str, score: float) -> None:
    assert score_mcq(_set(chosen), _set(gold)) == pytest.approx(score)


def test_score_mcq_needs_a_gold_answer() -> None:
    with pytest.raises(ValueError, match="gold"):
        score_mcq(frozenset("A"), frozenset())


def test_extract_then_score_end_to_end() -> None:
    gold = parse_gold("A, C", EN)
    assert score_mcq(extract_choices("Final answer: A", EN).letters or frozenset(), gold) == 0.5
    assert score_mcq(extract_choices("正确答案为A、C", ZH).letters or frozenset(), parse_gold("AC", ZH)) == 1.0
    assert score_mcq(extract_choices("A and B", EN).letters or frozenset(), gold) == 0.0
    assert score_mcq(extract_choices("A or C", EN).letters or frozenset(), gold) == 1.0  # a hedge names both
    assert score_mcq(extract_choices("A or B", EN).letters or frozenset(), gold) == 0.0
