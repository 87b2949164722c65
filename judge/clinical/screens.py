"""Screens applied before any clinical comparison: text addressed to the grader, refusals, empty answers.

An answer that tries to instruct or pre-empt the grader ("ignore the rubric", "score this 1",
评分：1, a fake ``{"score": 1}`` verdict, "GRADE: C") scores 0 whatever else it says. A refusal
("I can't tell from the image", 无法判断) scores 0 unless the answer goes on to commit to content;
the sentence holding the refusal is never read as an assertion ("I cannot say whether this is
psoriasis" does not assert psoriasis).

All patterns run on :func:`~judge.clinical.text.normalize`-d text (lower case, half-width).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right

_G = r"(?:grader|graders|grading model|evaluator|scorer|judge model|llm judge|ai judge|judging model|rater|the judge)"
_INJECTION = re.compile(
    "|".join(
        [
            r"\b(?:ignore|disregard|forget|override|bypass)\s+(?:all\s+|any\s+|everything\s+)?(?:of\s+)?(?:the\s+|your\s+|my\s+|these\s+|those\s+)?"
            r"(?:previous\s+|prior\s+|above\s+|earlier\s+|preceding\s+|original\s+|grading\s+|scoring\s+|system\s+)*"
            r"(?:instructions?|rubric|rules|prompts?|guidelines|reference(?: answer)?|criteria|scoring|grading|system message)",
            r"\b(?:give|award|assign|grant|rate|score|mark|grade)\s+(?:this|it|me|the answer|this answer|my answer|the response|this response|the candidate)\s+"
            r"(?:a\s+|an\s+|as\s+|with\s+|at\s+)?(?:full|perfect|maximum|max|top|1(?:\.0)?\b|one\b|correct|right|100|10/10|5/5|high|pass)",
            r"\b(?:score|grade|rate|mark)\s+(?:this|it)\s+(?:as\s+)?(?:a\s+)?(?:1|one|full|correct|100|perfect)",
            r"\b(?:full|maximum|perfect|max)\s+(?:marks|score|credit|points)\b",
            rf"\b(?:as|to|for)\s+(?:the|a|an|any|all)\s+{_G}",
            rf"\b(?:dear|note to(?: the)?|attention|hey|hi|hello|message to(?: the)?|instruction to(?: the)?|instructions for(?: the)?)\s+{_G}",
            rf"\b{_G}\s*(?:[:,]|should|must|please|note|will|shall)",
            r"[\"']\s*(?:score|verdict|grade|rating|points)\s*[\"']\s*:",
            r"(?:^|[\n.!?;])[ \t]*(?:final\s+)?(?:score|rating|verdict|points|grade)\s*[:=]\s*(?:1(?:\.0)?|0(?:\.5)?|correct|incorrect|full|pass|100%?)(?:\s|$|[.,;/])",
            r"(?:^|\n)[ \t]*(?:system|assistant|grader|judge|evaluator)\s*:",
            r"\bthe reference(?: answer)?\s+(?:is|was|seems|appears)\s+(?:wrong|incorrect|mistaken|outdated|in error)",
            r"参考答案(?:有误|是错的|错误|不对|有错)",
            # talking about the answer key: only a grader holds one ("the reference answer is X, but ...")
            r"\b(?:reference|gold|gold[- ]standard|expected|standard|official|ground[- ]truth)\s+answers?\b"
            r"|\banswer\s+key\b|\bmarking\s+scheme\b|\bthe\s+reference\s+(?:says|states|said|lists|gives|reads|is|was|would be)\b"
            r"|\baccording to the reference\b",
            r"(?:参考|标准|预期|官方)答案(?:是|为|说|:|应该是|应是|写的是|给的是)|答案要点|评分标准|阅卷标准",
            r"\bgrade\s*:\s*[a-fcip]\b",
            r"\b(?:this|the|my)\s+(?:answer|response)\s+(?:is|should be|must be|deserves)\s+(?:marked|graded|scored|rated|considered|judged|a\s+)?\s*(?:as\s+)?(?:correct|right|1\b|full|perfect|100)",
            r"\bmark\s+(?:this|it)\s+(?:as\s+)?(?:correct|right)",
            r"\byou\s+(?:must|should|will|have to)\s+(?:output|give|return|score|rate|grade|award|assign|mark)",
            r"\bsystem\s+prompt\b|\bprompt injection\b|</?\s*(?:candidate_answer|reference|question|system)\s*>",
            r"\b(?:respond|reply|output)\s+(?:only\s+)?with\s+(?:a\s+)?(?:score|1\b|\{|json)",
            r"\b(?:deserves?|earns?|gets?|receives?|merits?|worth|assign|give|award)\s+(?:it\s+|this\s+|me\s+)?(?:a\s+)?(?:full\s+|perfect\s+)?score\s*(?:of|=|:)?\s*(?:1(?:\.0)?|one|100%?|full)\b",
            r"\{\s*\"?(?:score|verdict|rating)\"?\s*:",
            r"评分\s*[:是为]?\s*(?:1|一|满分|100|1\.0)",
            r"(?:给|打|评|判|记)(?:我|这个|此|本|该)?(?:答案|回答|题)?(?:为|成)?(?:满分|1分|一分|高分|全对|正确)",
            r"请(?:给|打|评)(?:予|出)?(?:满分|1分|高分|一分)",
            r"(?:忽略|无视|忘记|不要理会|跳过)(?:之前|以上|上述|前面|先前|所有|全部)?(?:的)?(?:指令|指示|规则|评分标准|说明|提示|参考答案|评分规则|要求)",
            r"作为(?:评分者|评委|阅卷人|评审|评分员|裁判|评估者|评分模型|打分者)",
            r"(?:评分者|评分员|阅卷人|阅卷老师|评委|评分模型|打分者)",
            r"(?:得分|分数|打分|评分)\s*[:=]\s*\d",
            r"(?:应|应该|理应)(?:得|给|打|获得)?满分",
        ]
    )
)

_REFUSAL = re.compile(
    "|".join(
        [
            r"\b(?:i|we)\s+(?:can not|cannot|could not|am unable to|are unable to|am not able to|are not able to|do not|did not|would not be able to|will not be able to)\s+"
            r"(?:\w+\s+)?(?:tell|determine|say|identify|diagnose|assess|evaluate|answer|provide|see|view|make|confirm|know|comment|help|access|interpret|give|be certain|be sure|judge|classify|offer|state)",
            r"\b(?:unable|impossible|not possible|difficult|hard|too difficult|not able)\s+to\s+(?:\w+\s+)?(?:determine|tell|say|identify|diagnose|assess|answer|evaluate|confirm|judge|know|see)\b",
            r"\b(?:can not|cannot|could not|can't)\s+be\s+(?:reliably\s+|accurately\s+|definitively\s+)?(?:determined|assessed|evaluated|identified|answered|diagnosed|confirmed|made|told)",
            r"\bi\s+am\s+(?:sorry|not sure|not a doctor|not a dermatologist|an ai|unable|not certain|not able)",
            r"\bas an ai\b|\bas a language model\b|\bai language model\b",
            r"\b(?:insufficient|not enough|inadequate|limited)\s+(?:information|detail|details|context|clinical information|data|image quality)",
            r"\b(?:more|additional|further)\s+(?:information|details|context|clinical information|history)\s+(?:is|are|would be)?\s*(?:needed|required|necessary)",
            r"\bi do not know\b|\bno idea\b|\bnot sure\b|\bunsure\b|\buncertain\b|\bcannot answer\b|\bcan not answer\b",
            r"\bno image\b|\bimage\s+(?:is\s+)?(?:not\s+(?:provided|available|visible|shown|clear|loaded)|unavailable|missing|unclear|blurry)\b|\b(?:can not|cannot)\s+(?:see|view|access|open)\s+(?:the\s+)?(?:image|photo|picture)",
            r"\bwithout\s+(?:an?\s+)?(?:in[- ]person|physical|clinical|proper|further)\s+(?:examination|exam|evaluation|assessment)",
            r"无法(?:确定|判断|诊断|回答|识别|看到|看清|提供|评估|确认|得知|给出|分辨|区分|判定|辨别|作答|明确)",
            r"不能(?:确定|判断|诊断|回答|识别|确认|明确)",
            r"(?:^|[,.;!?\s]|我|也|还|实在)(?:不确定|不清楚|不知道)|难以判断|难以确定|不好说|说不准|无从判断|无法判断|难以辨认|难以识别",
            r"需要(?:更多|进一步的?|补充)(?:的)?(?:信息|资料|临床信息|病史)",
            r"抱歉|对不起|作为(?:一个)?(?:ai|人工智能|语言模型|ai助手)",
            r"(?:图片|图像|照片)(?:不清|模糊|无法|看不清|不够清晰)",
            r"信息不足|资料不足|缺乏足够",
        ]
    )
)
_BARE_REFUSAL = re.compile(
    r"^\s*(?:n/?a|none|nil|unknown|not sure|unsure|no answer|no comment|idk|\?+|-+|\.+|不知道|无|未知)\s*[.!。]?\s*$"
)
_SUBORDINATE = re.compile(r"\s*(?:while|whilst|although|though|even though|even if|虽然|尽管|虽)")
_CERTAINTY = re.compile(r"certain|sure|definitive|definitively|100|confirm|确定|确诊|肯定")
_COMMA = re.compile(r"[,，]")
_CLAUSE_END = re.compile(
    r"[.;!?\n。；！？]|\b(?:but|however|although|though|yet|nevertheless|still|that said)\b|但是|但|不过|然而|可是"
)


def addresses_grader(norm: str) -> str | None:
    """The text that addresses the grader, if any."""
    m = _INJECTION.search(norm)
    return m.group(0).strip() if m else None


_ATTRIBUTE_NEG = re.compile(r"^[,.;!?\s]*不(清楚|清晰|确定)$")


def refusal_spans(norm: str, asked: str = "") -> list[tuple[int, int]]:
    """Character spans of refusal clauses (from the refusal phrase's clause start to its end), sorted.

    ``asked``: the predicate a yes/no question asks about; "边界是否清楚？" answered "不清楚" is the
    attribute answer "not clear", not a refusal ("我不清楚" still is). Linear: clause ends are found
    once, and each refusal looks its clause up by bisection.
    """
    if _BARE_REFUSAL.match(norm):
        return [(0, len(norm))]
    matches = list(_REFUSAL.finditer(norm))
    if not matches:
        return []
    ends = [(x.start(), x.end()) for x in _CLAUSE_END.finditer(norm)]
    end_starts = [a for a, _ in ends]
    end_ends = [b for _, b in ends]
    out: list[tuple[int, int]] = []
    for m in matches:
        attr = _ATTRIBUTE_NEG.match(m.group(0)) if asked else None
        if attr is not None and asked.startswith(attr.group(1)[:1]) and attr.group(1) in asked:
            continue
        start = m.start()
        k = bisect_right(end_ends, start) - 1  # the last clause end at or before the refusal
        back = end_ends[k] if k >= 0 else 0
        j = bisect_left(end_starts, m.end())
        end = end_starts[j] if j < len(end_starts) else len(norm)
        # "While I cannot be certain, the features suggest X" / "不能确定，但...": a reservation in a
        # subordinate clause, or about certainty only, ends at its comma
        if _SUBORDINATE.match(norm, back) or _CERTAINTY.search(m.group(0)):
            comma = _COMMA.search(norm, m.end(), end)
            if comma:
                end = comma.start()
        if out and back < out[-1][1]:  # overlapping clauses (two refusals in one): one span
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((back, end))
    return out
