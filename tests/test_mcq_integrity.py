"""MCQ score integrity: an answer that does not commit cannot raise a score (mcq-rules-2).

The benchmark's rule: the chosen options are what the answer names, and the answer scores 0 if
any chosen option is wrong. Each class of non-committal answer is pinned here in English and
Chinese: the examples the rule was specified with first, then new ones of the same class.
"""

from __future__ import annotations

from itertools import permutations

import pytest

from judge.limits import MAX_CANDIDATE_CHARS
from judge.mcq import Extraction, extract_choices, score_mcq

EN = {"A": "Papule", "B": "Plaque", "C": "Macule", "D": "Nodule"}
ZH = {"A": "丘疹", "B": "斑块", "C": "斑疹", "D": "结节"}
COLOURS = {"A": "Red", "B": "Red-brown", "C": "White", "D": "Yellow"}


def _expect(options: dict[str, str], output: str, letters: str, method: str) -> None:
    assert extract_choices(output, options) == Extraction(frozenset(letters), method)


# ------------------------------------------------------------------------------ hedges

HEDGES = [
    # as specified
    pytest.param(EN, "C or D", "CD", id="or"),
    pytest.param(EN, "A or B", "AB", id="or-2"),
    pytest.param(EN, "maybe C, but could be D", "CD", id="maybe-but-could-be"),
    pytest.param(EN, "Either A or C.", "AC", id="either-or"),
    pytest.param(EN, "A/B", "AB", id="slash"),
    pytest.param(EN, "B? or C?", "BC", id="question-marks"),
    pytest.param(ZH, "C还是D", "CD", id="zh-haishi"),
    pytest.param(ZH, "A或B", "AB", id="zh-huo"),
    pytest.param(ZH, "可能是A，也可能是B", "AB", id="zh-keneng-ye-keneng"),
    pytest.param(ZH, "要么A要么C", "AC", id="zh-yaome"),
    # new examples of the class
    pytest.param(EN, "The answer is B or possibly C.", "BC", id="answer-or-possibly"),
    pytest.param(EN, "I'd go with A or D.", "AD", id="go-with-or"),
    pytest.param(EN, "Answer: A/C", "AC", id="answer-slash"),
    pytest.param(EN, "Probably B, possibly D.", "BD", id="probably-possibly"),
    pytest.param(EN, "C? D?", "CD", id="bare-question-marks"),
    pytest.param(EN, "The answer could be B or D.", "BD", id="could-be"),
    pytest.param(EN, "B or Option C", "BC", id="or-option"),
    pytest.param(EN, "The answer is C, or maybe a nodule.", "CD", id="letter-or-option-text"),
    pytest.param(EN, "Either a nodule or a plaque.", "BD", id="option-texts"),
    pytest.param(EN, "papule/plaque", "AB", id="option-texts-slash"),
    pytest.param(COLOURS, "It looks red, maybe red-brown.", "AB", id="option-texts-maybe"),
    pytest.param(ZH, "答案可能是B，也可能是D", "BD", id="zh-answer-keneng"),
    pytest.param(ZH, "B或者C", "BC", id="zh-huozhe"),
    pytest.param(ZH, "应该是B还是C呢", "BC", id="zh-yinggai-haishi"),
    pytest.param(ZH, "答案：A或是D", "AD", id="zh-huoshi"),
    pytest.param(ZH, "丘疹还是斑块不好说", "AB", id="zh-option-texts"),
]


@pytest.mark.parametrize(("options", "output", "letters"), HEDGES)
def test_a_hedge_chooses_every_option_it_names(options: dict[str, str], output: str, letters: str) -> None:
    _expect(options, output, letters, "hedge")


@pytest.mark.parametrize(
    ("options", "output", "letters"),
    [
        pytest.param(EN, "Answer: C?", "C", id="question-mark"),  # as the rules read it before
        pytest.param(EN, "C, maybe.", "C", id="maybe-after"),
        pytest.param(EN, "B? I'm not sure.", "B", id="unsure-after"),
        pytest.param(ZH, "可能是B。", "B", id="zh-keneng"),
    ],
)
def test_one_tentative_option_is_that_option(options: dict[str, str], output: str, letters: str) -> None:
    assert extract_choices(output, options).letters == frozenset(letters)


HEDGE_TEMPLATES = [
    "{x} or {y}",
    "Answer: {x} or {y}",
    "The answer is either {x} or {y}.",
    "{x}/{y}",
    "{x}? or {y}?",
    "maybe {x}, but it could be {y}",
    "{x}还是{y}",
    "答案是{x}或{y}",
    "可能是{x}，也可能是{y}",
    "要么{x}要么{y}",
]


@pytest.mark.parametrize("template", HEDGE_TEMPLATES)
def test_hedging_never_scores_above_committing(template: str) -> None:
    """For every pair of options and every single gold: a hedge is scored as naming both options,
    so it scores 0, while committing to the right option scores 1."""
    for x, y in permutations("ABCD", 2):
        hedge = extract_choices(template.format(x=x, y=y), EN)
        assert hedge == Extraction(frozenset((x, y)), "hedge"), template.format(x=x, y=y)
        assert hedge.letters == extract_choices(f"{x} and {y}", EN).letters
        for gold in "ABCD":
            assert score_mcq(hedge.letters or frozenset(), frozenset(gold)) == 0.0
    assert score_mcq(extract_choices("B", EN).letters or frozenset(), frozenset("B")) == 1.0


def test_a_model_that_always_hedges_scores_no_more_than_one_that_guesses() -> None:
    """The case that motivated the rule: answering "C or D" to three items whose gold is B
    scored 100 while answering "C" scored 25 (hedges were left out of the mean)."""
    golds = [frozenset("B")] * 3 + [frozenset("C")]
    hedger = ["C or D", "C还是D", "B or C", "C or D"]
    guesser = ["C", "C", "C", "C"]

    def mean(outputs: list[str]) -> float:
        results = [extract_choices(o, EN) for o in outputs]
        assert all(r.decided for r in results)
        return sum(score_mcq(r.letters or frozenset(), g) for r, g in zip(results, golds, strict=True)) / len(golds)

    assert mean(hedger) == 0.0
    assert mean(guesser) == 0.25


def test_a_hedge_whose_alternative_names_nothing_is_undecided() -> None:
    result = extract_choices("B or something else", EN)
    assert not result.decided and result.reason is not None and "hedges" in result.reason


# ------------------------------------------------------------------------------ conflicting answers

CONFLICTING = [
    pytest.param(EN, "The answer is B … The answer is C", "BC", id="two-answer-statements"),
    pytest.param(EN, "Answer: A\nThe lesion is raised.\nAnswer: D", "AD", id="answer-lines-apart"),
    pytest.param(EN, "Final answer: B. Final answer: D.", "BD", id="two-final-answers"),
    pytest.param(EN, "B\nD", "BD", id="two-letter-lines"),
    pytest.param(ZH, "答案是A。皮损隆起。答案是C。", "AC", id="zh-two-answers"),
    pytest.param(ZH, "我选B。我选C。", "BC", id="zh-two-choices"),
]


@pytest.mark.parametrize(("options", "output", "letters"), CONFLICTING)
def test_two_different_answers_choose_both(options: dict[str, str], output: str, letters: str) -> None:
    _expect(options, output, letters, "conflicting")


@pytest.mark.parametrize(
    ("options", "output", "letters"),
    [
        pytest.param(EN, "The correct option is C. The lesion is raised. Thus the answer is D.", "D", id="thus"),
        pytest.param(ZH, "答案是A。因此答案是C。", "C", id="zh-yinci"),
        pytest.param(EN, "Answer: B\nAnswer: B", "B", id="same-answer-twice"),
    ],
)
def test_a_final_answer_or_a_repeated_one_is_not_a_conflict(options: dict[str, str], output: str, letters: str) -> None:
    _expect(options, output, letters, "answer_prefix")


# ------------------------------------------------------------------------------ corrections and retractions

CORRECTIONS = [
    # as specified
    pytest.param(ZH, "答案：B，不对，是A", "A", id="zh-budui-shi"),
    pytest.param(EN, "B. No wait, A.", "A", id="no-wait"),
    pytest.param(EN, "The answer is B. Actually, it's A.", "A", id="actually"),
    pytest.param(EN, "Answer: B — correction: A", "A", id="correction"),
    pytest.param(EN, "I said B, but the answer is A", "A", id="i-said-but"),
    pytest.param(ZH, "选B。不，应该选A。", "A", id="zh-bu-yinggai"),
    pytest.param(ZH, "B，错了，应为A", "A", id="zh-cuole-yingwei"),
    # new examples of the class
    pytest.param(EN, "Answer: C. Sorry, I meant B.", "B", id="sorry-meant"),
    pytest.param(EN, "D. Correction: the answer is B.", "B", id="correction-sentence"),
    pytest.param(EN, "The answer is B, I mean C.", "C", id="i-mean"),
    pytest.param(EN, "It's not B but D.", "D", id="not-but"),
    pytest.param(EN, "Answer: A. Hmm, no. Answer: C.", "C", id="hmm-no"),
    pytest.param(EN, "Final answer: B. No wait, A.", "A", id="after-final"),
    pytest.param(EN, "B. Actually no, A.", "A", id="actually-no"),
    pytest.param(EN, "Answer: A or B. Actually, it's B.", "B", id="hedge-then-correction"),
    pytest.param(ZH, "选C，说错了，是B。", "B", id="zh-shuocuole"),
    pytest.param(ZH, "答案B。更正：答案为D。", "D", id="zh-gengzheng"),
    pytest.param(ZH, "我选A，其实应该选C", "C", id="zh-qishi"),
    pytest.param(ZH, "答案不是B而是D", "D", id="zh-bushi-ershi"),
    pytest.param(ZH, "答案：A或B。其实是B。", "B", id="zh-hedge-then-correction"),
    pytest.param(
        EN, "Answer: C\nWait, the lesion is raised, so C is wrong. The answer is B.", "B", id="rejected-then-new"
    ),
    pytest.param(ZH, "答案：C。等等，皮损隆起，C不对，答案是B。", "B", id="zh-rejected-then-new"),
]


@pytest.mark.parametrize(("options", "output", "letters"), CORRECTIONS)
def test_a_correction_binds_to_the_corrected_answer(options: dict[str, str], output: str, letters: str) -> None:
    result = extract_choices(output, options)
    assert result.letters == frozenset(letters)
    assert result.method in ("correction", "answer_prefix")


@pytest.mark.parametrize(
    ("options", "output"),
    [
        pytest.param(ZH, "答案：A，不对。", id="zh-budui"),
        pytest.param(EN, "Answer: B. No.", id="no"),
        pytest.param(EN, "Answer: B. That's wrong.", id="thats-wrong"),
        pytest.param(EN, "Answer: B. B is incorrect.", id="chosen-then-rejected"),
        pytest.param(ZH, "答案：B。B错误。", id="zh-chosen-then-rejected"),
        pytest.param(
            EN, "The lesion is raised. It is a papule.\nA is incorrect because it is small.", id="text-then-rejected"
        ),
        pytest.param(ZH, "这是斑块。B错误。", id="zh-text-then-rejected"),
    ],
)
def test_an_answer_withdrawn_chooses_nothing(options: dict[str, str], output: str) -> None:
    _expect(options, output, "", "retracted")


@pytest.mark.parametrize(
    ("options", "output", "letters"),
    [
        pytest.param(EN, "Final answer: A, C. On second thought C is wrong.", "A", id="part-withdrawn"),
        pytest.param(ZH, "答案：AD。D错误。", "A", id="zh-part-withdrawn"),
        pytest.param(EN, "A or B? B is wrong.", "A", id="hedge-narrowed"),
        pytest.param(EN, "It could be a papule or a plaque. A is wrong.", "B", id="text-hedge-narrowed"),
    ],
)
def test_a_letter_rejected_after_it_was_chosen_is_not_chosen(
    options: dict[str, str], output: str, letters: str
) -> None:
    _expect(options, output, letters, "correction")


@pytest.mark.parametrize(
    ("options", "output"),
    [
        pytest.param(EN, "The answer is B. No, A is not correct because it is too small.", id="no-then-reason"),
        pytest.param(EN, "Answer: B. No other option fits.", id="no-other"),
        pytest.param(EN, "Answer: B. B is not a papule.", id="description"),
        pytest.param(EN, "The answer is B. B is not flat, so it is not a macule.", id="description-2"),
        pytest.param(ZH, "答案：B。B不是丘疹。", id="zh-description"),
        pytest.param(EN, "The answer is B, not D.", id="not-another"),
        pytest.param(ZH, "选B，不选C", id="zh-not-another"),
        pytest.param(ZH, "不是A，是B", id="zh-not-but-is"),
        pytest.param(EN, "It's not A but B.", id="not-but"),
    ],
)
def test_what_does_not_withdraw_the_answer(options: dict[str, str], output: str) -> None:
    """ "No" that starts a reason, "B is not a papule" (a description), or a rejection of another
    option keeps B."""
    _expect(options, output, "B", "answer_prefix")


@pytest.mark.parametrize(
    ("output", "letters"),
    [
        pytest.param("A is wrong. It is a papule.", "A", id="rejected-before-the-text"),
        pytest.param("It is a plaque, not A.", "B", id="text-then-another-rejected"),
    ],
)
def test_a_rejection_before_the_answer_or_of_another_option_keeps_it(output: str, letters: str) -> None:
    _expect(EN, output, letters, "option_text")


@pytest.mark.parametrize(
    "template",
    [
        "Answer: {x}. Actually, it's {y}.",
        "{x}. No wait, {y}.",
        "The answer is {x}, I mean {y}.",
        "答案：{x}，不对，是{y}",
        "选{x}。不，应该选{y}。",
        "答案{x}。更正：答案为{y}。",
    ],
)
def test_every_corrected_pair_reads_the_correction(template: str) -> None:
    for x, y in permutations("ABCD", 2):
        assert extract_choices(template.format(x=x, y=y), EN).letters == frozenset(y), template.format(x=x, y=y)


@pytest.mark.parametrize(
    ("unit", "correction"),
    [("Answer: B. ", "No wait, the answer is A."), ("答案：B。", "不对，是A。")],
)
def test_the_whole_output_is_read_so_a_correction_at_the_end_counts(unit: str, correction: str) -> None:
    body = unit * ((MAX_CANDIDATE_CHARS - len(correction)) // len(unit))
    output = body + correction
    assert len(output) <= MAX_CANDIDATE_CHARS
    assert MAX_CANDIDATE_CHARS - len(output) < len(unit)
    assert extract_choices(output, EN) == Extraction(frozenset("A"), "correction")
    assert extract_choices(body, EN) == Extraction(frozenset("B"), "answer_prefix")


# ------------------------------------------------------------------------------ complements and bare rejections

COMPLEMENTS = [
    pytest.param(EN, "anything but B", "ACD", id="anything-but"),
    pytest.param(ZH, "除了B都行", "ACD", id="zh-chule-douxing"),
    pytest.param(EN, "Any option except C.", "ABD", id="any-except"),
    pytest.param(EN, "All except A and B are correct.", "CD", id="all-except-correct"),
    pytest.param(EN, "The answer is anything but B", "ACD", id="answer-anything-but"),
    pytest.param(ZH, "除了A以外都正确", "BCD", id="zh-yiwai-zhengque"),
    pytest.param(EN, "All options other than D are wrong.", "D", id="all-other-wrong"),
    pytest.param(ZH, "A以外都不对", "A", id="zh-yiwai-budui"),
    pytest.param(ZH, "除了C，其他都是错的", "C", id="zh-qita-cuode"),
]


@pytest.mark.parametrize(("options", "output", "letters"), COMPLEMENTS)
def test_all_but_chooses_the_other_options(options: dict[str, str], output: str, letters: str) -> None:
    _expect(options, output, letters, "all_but")


def test_all_but_is_right_only_when_gold_is_all_the_others() -> None:
    chosen = extract_choices("anything but B", EN).letters or frozenset()
    assert score_mcq(chosen, frozenset("ACD")) == 1.0
    assert score_mcq(chosen, frozenset("A")) == 0.0


@pytest.mark.parametrize(
    ("options", "output"),
    [
        pytest.param(EN, "not B", id="not"),
        pytest.param(EN, "Definitely not D.", id="definitely-not"),
        pytest.param(EN, "Not A, not B.", id="not-not"),
        pytest.param(EN, "It cannot be C.", id="cannot-be"),
        pytest.param(ZH, "肯定不是D。", id="zh-bushi"),
        pytest.param(ZH, "排除A和C", id="zh-paichu"),
        pytest.param(EN, "This is not a macule or a nodule.", id="option-texts-negated"),
        pytest.param(EN, "It is neither a papule nor a plaque.", id="neither-nor"),
    ],
)
def test_rejections_alone_are_no_answer(options: dict[str, str], output: str) -> None:
    """A rejection names no positive choice; reading "not B" as A, C, D would give full credit
    on an item whose gold is A, C, D to a model that only excluded one option."""
    _expect(options, output, "", "no_answer")


def test_a_rejection_next_to_an_unread_letter_stays_undecided() -> None:
    result = extract_choices("Not A. C it is.", EN)
    assert not result.decided


# ------------------------------------------------------------------------------ the option list repeated


@pytest.mark.parametrize(
    ("options", "output", "letters", "method"),
    [
        pytest.param(EN, "A. Papule\nB. Plaque\nC. Macule\nD. Nodule", "", "no_answer", id="echo-only"),
        pytest.param(ZH, "A. 丘疹\nB. 斑块\nC. 斑疹\nD. 结节", "", "no_answer", id="zh-echo-only"),
        pytest.param(
            EN,
            "Options:\nA) Papule\nB) Plaque\nC) Macule\nD) Nodule\nMy answer: B",
            "B",
            "answer_prefix",
            id="echo-then-answer",
        ),
        pytest.param(ZH, "A. 丘疹\nB. 斑块\nC. 斑疹\nD. 结节\n答案：C", "C", "answer_prefix", id="zh-echo-then-answer"),
        pytest.param(
            EN, "A. Papule\nB. Plaque\nC. Macule\nD. Nodule\nB. Plaque", "B", "letter_with_text", id="echo-then-line"
        ),
        pytest.param(
            EN, "A. Papule\nB. Plaque\nC. Macule\nD. Nodule\nIt is a plaque.", "B", "option_text", id="echo-then-text"
        ),
    ],
)
def test_a_repeated_option_list_is_not_an_answer(
    options: dict[str, str], output: str, letters: str, method: str
) -> None:
    _expect(options, output, letters, method)


# ------------------------------------------------------------------------------ still undecided


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        pytest.param("The correct answer is B: Papule", "text of option A", id="letter-and-text-disagree"),
        pytest.param("Answer: E", "not an option", id="not-an-option"),
        pytest.param("It is a papule and a plaque.", "without marking one", id="two-texts-no-hedge"),
        pytest.param("B or something else", "hedges", id="unnamed-alternative"),
    ],
)
def test_undecided_means_a_reader_could_not_tell(output: str, reason: str) -> None:
    result = extract_choices(output, EN)
    assert result.letters is None and result.reason is not None and reason in result.reason
