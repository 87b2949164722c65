"""Yes/no polarity of an answer to a judgment question (pure).

Two sources, in order:

1. an explicit answer word: "Yes", "No.", "Correct", 是的, 不是, 否, 对 - at a clause start and
   standing on its own ("No, ..." answers; "No scale is seen" negates scale instead);
2. otherwise the question's own terms: "Is the border well-defined?" answered "ill-defined",
   "The lesion is not raised" or 无鳞屑 carries its polarity in what it asserts or denies.

Usage::

    explicit_polarity(analyze("No, it is benign.", ct))   # (-1, False)
"""

from __future__ import annotations

import re

from judge.clinical.mentions import Analysis
from judge.clinical.text import HARD_BREAKS, SOFT_BREAKS

_EN_POS = frozenset(
    {
        "y",
        "yup",
        "yea",
        "yes",
        "yeah",
        "yep",
        "correct",
        "true",
        "affirmative",
        "indeed",
        "certainly",
        "definitely",
        "absolutely",
        "right",
    }
)
_EN_NEG = frozenset({"n", "nah", "no", "nope", "false", "incorrect", "negative", "wrong"})
_EN_LETTER = frozenset({"y", "n"})
"""Single letters answer only as the whole answer ("Y", "N.")."""
# advice declined answers no: "Not recommended.", "Not advisable - ...", 不建议, 不推荐, 没必要
_EN_ADVICE_NO = re.compile(
    r"^\W*(?:no[,.]?\s+)?(?:it is\s+|this is\s+|that is\s+)?(?:not|never)\s+(?:recommended|advised|advisable|"
    r"necessary|needed|required|indicated|safe|appropriate|a good idea|suggested)\b"
)
_ZH_ADVICE_NO = re.compile(
    r"^\W*(?:不建议|不推荐|不宜|不适合|不适宜|不可取|不应|不应该|没必要|没有必要|无需|无须|不必要|不需|不主张)"
)
# a "no" that answers is followed by a pause or a clause of its own, not by the noun it negates
_EN_AFTER_NO = frozenset(
    {
        "it",
        "this",
        "that",
        "there",
        "they",
        "these",
        "those",
        "i",
        "not",
        "the",
        "he",
        "she",
        "we",
        "you",
        "because",
        "since",
        "as",
        "but",
        "however",
        "definitely",
        "absolutely",
        "certainly",
    }
)
_ZH = re.compile(
    r"(?P<neg>不是的?|不对|不正确|否|不会|不能|不需要|不用|不必|不可以|不存在|不属于|不应该|没有|无|不)"
    r"|(?P<pos>是的|是|对的|对|正确|没错|有的|有|会的|会|能|可以|需要|存在|属于|应该|要)"
)
_ZH_STANDALONE_END = frozenset({",", ".", "。", "!", "?", ";", "、", "的", "啊", "呀", "吧", "了"})
_BOTH_EN = re.compile(
    r"\byes\s*(?:and|or|/)\s*no\b|\bno\s*(?:and|or|/)\s*yes\b|\bboth yes and no\b|\beither yes or no\b"
)
_BOTH_ZH = re.compile(
    r"(?:可能)?是(?:的)?[,，]?\s*也(?:可能)?不是|是也不是|是或否|是或不是|也许是也许不是|可能是可能不是|可能有也可能没有|有也可能没有"
)


def explicit_polarity(a: Analysis) -> tuple[int, bool]:
    """``(sign, both)``: the first explicit yes (+1) / no (-1) / none (0), and whether both occur."""
    toks = a.toks
    n = len(toks)
    found: list[int] = []
    if _BOTH_EN.search(a.norm) or _BOTH_ZH.search(a.norm):
        return 0, True
    if _EN_ADVICE_NO.match(a.norm) or _ZH_ADVICE_NO.match(a.norm):
        return -1, False
    words = [t for t in toks if t.kind != "p"]
    if len(words) == 1 and words[0].norm in _EN_LETTER:
        return (1 if words[0].norm == "y" else -1), False
    clause_start = True
    for i, t in enumerate(toks):
        if t.kind == "p":
            clause_start = clause_start or t.norm in HARD_BREAKS or t.norm in SOFT_BREAKS
            continue
        nxt = toks[i + 1] if i + 1 < n else None
        standalone = nxt is None or (nxt.kind == "p" and nxt.norm in HARD_BREAKS | SOFT_BREAKS)
        if t.kind == "w":
            if t.norm in _EN_LETTER:
                pass
            elif t.norm in _EN_POS and (clause_start or standalone) and (t.norm != "right" or standalone):
                if t.norm in ("yes", "yeah", "yep", "yup", "yea") or standalone:
                    found.append(1)
            elif t.norm in _EN_NEG and (standalone or (clause_start and nxt is not None and nxt.norm in _EN_AFTER_NO)):
                if t.norm != "negative" or standalone:
                    found.append(-1)
        elif t.kind == "c" and clause_start:
            sign = _zh_standalone(toks, i)
            if sign:
                found.append(sign)
        clause_start = False
    if not found:
        return 0, False
    return found[0], (1 in found and -1 in found)


def _zh_standalone(toks: tuple, i: int) -> int:
    """Sign of a clause-initial Chinese yes/no word that stands on its own (是。/ 不是，...)."""
    text = "".join(t.norm for t in toks[i : i + 4] if t.kind == "c")
    m = _ZH.match(text)
    if not m:
        return 0
    k = len(m.group(0))
    after = toks[i + k] if i + k < len(toks) else None
    if after is not None and after.kind == "c" and after.norm not in _ZH_STANDALONE_END:
        return 0
    return -1 if m.group("neg") else 1


_ZH_ASKED = re.compile(
    r"(?:是否|是不是|有没有|有无|能否|可否)([\u4e00-\u9fff]{1,4}?)(?:[?？。,，]|吗|$)|([\u4e00-\u9fff]{2})吗[?？]?\s*$"
)
_ZH_ECHO_NEG = ("不", "没有", "没", "未", "无", "非")


def echo_polarity(question_norm: str, cand_norm: str) -> int:
    """A Chinese answer that echoes the predicate asked: 边界是否清楚？ 不清楚 (-1) / 清楚 (+1)."""
    m = _ZH_ASKED.search(question_norm)
    if not m:
        return 0
    pred = (m.group(1) or m.group(2) or "")[:2]
    if not pred:
        return 0
    ans = cand_norm.lstrip(" ,.;:!?，。：")
    head = pred[:2] if len(pred) >= 2 else pred
    for neg in _ZH_ECHO_NEG:
        if ans.startswith(neg + head):
            return -1
    if ans.startswith(head):
        return 1
    return 0


def asked_predicate(question_norm: str) -> str:
    """The Chinese predicate a yes/no question asks about (边界是否清楚 -> 清楚), or ''."""
    m = _ZH_ASKED.search(question_norm)
    return ((m.group(1) or m.group(2) or "")[:2]) if m else ""


# A yes/no taken back in the same answer: the other answer offered as just as likely ("Yes, though it
# could equally be X"), "也可能不是", or the choice itself left open ("是A还是B我没法确定").
_WITHDRAWN = re.compile(
    r"\b(?:could|might|may|can)\s+(?:just\s+)?(?:equally|as\s+well|as\s+easily|as\s+likely)\s+(?:well\s+)?(?:be|not)\b"
    r"|\bequally\s+(?:likely|possible|probable|plausible)\b|\bjust\s+as\s+(?:likely|possible|probable)\b"
    r"|\b(?:or|but)\s+(?:maybe|perhaps|possibly|it\s+(?:may|might|could)(?:\s+well)?)\s+not\b"
    r"|\b(?:can not|cannot|could not|unable to|impossible to|hard to|difficult to|no way to)\s+"
    r"(?:\w+\s+)?(?:tell|say|determine|decide|know|distinguish)\s+(?:whether|if)\b"
    r"|也(?:有)?(?:可能|许)(?:不|没)|或许(?:不|没)|说不定(?:不|没)"
    r"|(?:是|有).{0,16}还是.{0,16}(?:没法|无法|不能|难以|不好|说不|不)(?:确定|判断|说|区分|分辨|准|清)"
)


def withdrawn_commitment(norm: str) -> str | None:
    """The phrase that takes a yes/no answer back, if any (``norm``: normalised text)."""
    m = _WITHDRAWN.search(norm)
    return m.group(0) if m else None
