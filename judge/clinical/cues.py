"""Function-word cues: negation, scope terminators, differential and primary markers, "or" (pure data).

Cues are matched on the same token stream as the lexicon, longest first, and only on tokens
no lexicon or table term has taken (so 不 in 不规则 "irregular" or 边界不清 "ill-defined" is not
a negation). Kinds:

``pre``   negates what follows in its clause ("no", "without", 无, 未见, "avoid", "rather than")
``post``  negates what precedes in its clause ("absent", "ruled out", 阴性, 不明显)
``term``  ends a negation scope either way ("but", "however", 但, 而)
``termv`` ends a forward negation scope only ("is", "with", 有, 是)
``none``  shields a phrase that looks like a cue but is not ("not only", "no doubt", "can not rule out")
``diff``  starts a differential ("differential", "rule out", 鉴别, "less likely")
``prim``  marks the primary answer ("most likely", "consistent with", 考虑, 最可能)
``or``    joins alternatives ("or", "/", 或, 还是)
``unc``   marks uncertainty ("could be", "possibly", 可能)
``eg``    introduces examples of what precedes ("e.g.", "such as", 如, 例如)
"""

from __future__ import annotations

from functools import lru_cache

from judge.clinical.lexicon import TermIndex
from judge.clinical.text import term_key

CUES: dict[str, tuple[str, ...]] = {
    "pre": (
        "no", "not", "without", "non", "never", "neither", "nor", "absence of", "absent", "lack of", "lacks",
        "lacking", "lack", "free of", "negative for", "deny", "denies", "rather than", "instead of", "unlike",
        "unlikely", "unlikely to be", "less likely to be", "inconsistent with", "exclude", "excluding", "excluded",
        "avoid", "avoiding", "stop using", "stop taking", "stop applying", "discontinue", "cease", "refrain from",
        "no evidence of",
        "no sign of", "no signs of", "nothing", "none", "nil", "do not use", "should not", "must not",
        "contraindicated", "not recommended", "never use",
        "无", "没有", "没", "未见", "未", "不", "非", "不是", "并非", "并无", "否认", "缺乏", "不伴", "不伴有",
        "未伴", "未伴有", "不存在", "不属于", "而非", "避免", "勿", "不要", "禁用", "停用", "不宜", "不建议", "忌",
        "别", "无需", "不需要", "不用", "不必", "不应", "切勿", "禁止", "不能用", "不可",
    ),
    "post": (
        "absent", "not seen", "not present", "not observed", "not visible", "not evident", "not noted",
        "ruled out", "is ruled out", "excluded", "is excluded", "unlikely", "is unlikely", "less likely",
        "is less likely", "negative", "not identified", "not found", "not detected", "not appreciated",
        "not apparent", "not recommended", "not indicated", "not necessary", "not needed", "not required",
        "is not present", "are absent", "is absent", "are not present", "not seen here", "not involved",
        "is not involved", "are not involved", "not affected", "is not affected", "are not affected", "spared",
        "is spared", "are spared",
        "阴性", "不明显", "未见", "不典型", "可能性小", "可能性不大", "不太可能", "不考虑", "可排除", "已排除", "除外",
        "不受累", "未受累", "未累及", "不累及",
    ),
    "term": (
        "but", "however", "although", "though", "yet", "whereas", "while", "except", "which", "who", "instead",
        "apart from", "other than", "also", "plus",
        "但", "但是", "而", "然而", "却", "不过", "可见", "伴", "伴有",
    ),
    "termv": (
        "with", "and there is", "and is", "it is", "this is", "is", "are", "has", "have", "shows", "show",
        "appears", "appear", "looks", "presents", "有", "是", "呈", "为", "见",
    ),
    "none": (
        "not only", "not just", "no doubt", "no matter", "not necessarily", "not sure", "not certain",
        "no longer", "not uncommon", "not unusual", "can not rule out", "cannot rule out", "can not exclude",
        "cannot exclude", "not to be missed", "not be excluded", "can not be excluded", "can not be ruled out",
        "no more than", "not more than", "no larger than", "not exceeding", "nothing else", "not as",
        "with or without", "whether or not", "no matter whether", "not always", "not all",
        "不仅", "不只", "不同", "不一", "不等", "不适", "不断", "不久", "不少", "不论", "不管", "无论", "无法",
        "无关", "非常", "除非", "未来", "不能排除", "不除外", "不排除", "不确定", "不一定", "不到", "不足", "不超过",
        "没什么", "不对称", "不均匀", "不规则", "不清", "不整齐", "不光滑", "不平", "不痛", "不痒", "不红",
    ),
    "diff": (
        "differential", "differential diagnosis", "differential diagnoses", "differentials", "ddx", "rule out",
        "r/o", "also consider", "consider also", "other possibilities", "other possibility", "alternatively",
        "alternative diagnosis", "alternative diagnoses", "less likely", "mimic", "mimics",
        "should be distinguished from", "distinguish from", "differentiate from", "differentiated from",
        "can be confused with", "confused with", "other consideration", "other considerations",
        "can not rule out", "cannot rule out", "can not exclude", "to exclude", "to rule out",
        "should be considered", "should also be considered", "is also possible", "also possible",
        "worth considering", "to be considered", "may also be considered",
        "鉴别", "鉴别诊断", "需排除", "需与", "需要与", "应与", "排除", "其他可能", "也可能是", "不能排除",
        "不除外", "需鉴别", "鉴别包括", "其次考虑", "其次",
    ),
    "prim": (
        "most likely", "most probably", "most likely diagnosis", "most consistent with", "consistent with",
        "likely", "probably", "suggestive of", "diagnosis is", "diagnosis of", "the diagnosis is",
        "this is", "it is", "appears to be", "looks like", "favor", "favour", "i think", "my diagnosis",
        "represents", "compatible with", "typical of", "characteristic of", "indicative of", "in keeping with",
        "points to", "point to", "suggests", "suggest", "indicates", "the answer is", "diagnosed as",
        "最可能", "最有可能", "考虑", "首先考虑", "倾向", "倾向于", "诊断为", "符合", "提示", "应该是",
        "考虑为", "诊断", "初步诊断", "临床诊断", "最可能的诊断是", "为",
    ),
    "or": ("or", "/", "either", "versus", "vs", "或", "或者", "还是", "或是", "抑或", "and/or"),
    "eg": (
        "eg", "such as", "for example", "for instance", "including", "ie", "namely", "e g",
        "如", "例如", "比如", "包括", "诸如", "即",
    ),
    "unc": (
        "could be", "might be", "may be", "possibly", "possible", "perhaps", "maybe", "can be", "either",
        "可能", "可能是", "或许", "也许", "也可能",
    ),
}


@lru_cache(maxsize=1)
def cue_index() -> TermIndex:
    """The cue index: payloads are cue kinds."""
    idx = TermIndex()
    for kind, words in CUES.items():
        for w in words:
            idx.add(term_key(w), kind)
    return idx.freeze()
