"""Text normalisation and tokenisation for English and Chinese answers (pure, no I/O).

One token stream serves both languages: a Latin word is one token (lower-cased, British
spelling and simple plurals folded), a CJK ideograph is one token, a number is one token and
punctuation that matters (clause ends, commas, ``/``) is kept as a break token. Lexicon terms
are tokenised by the very same function, so matching is a plain tuple comparison.

Usage::

    toks = tokenize("Erythematous plaques, 约1.5厘米")
    [t.norm for t in toks]   # ['erythematous', 'plaque', ',', '约', '1.5', '厘', '米']
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

CACHE_CHARS = 2_000
"""Texts up to this long (terms, references, questions, short answers) are cached; longer ones are
normalised afresh, so a long run of long answers cannot fill memory. Nothing is ever truncated:
the judge reads the whole answer (its length is bounded by :data:`judge.limits.MAX_CANDIDATE_CHARS`)."""

# Traditional -> simplified for characters that occur in dermatology answers.
_TRAD = str.maketrans(
    "紅圓橢邊緣潰瘍結節癬皰膚顏黃藍點狀單發個對側頭臉額頸腳癢瘡無沒見鱗屑膿皺褶斑塊瘤腫脹淺較為與區"
    "門軀幹臂腿膝踝趾甲指齒齦腭顎舌頰唇喉鼻眼瞼眉顳頂枕肩肘腕掌背腹臀陰囊腋腺體質診斷療藥膏霜劑"
    "擦應該檢驗醫師避免曬傷燒燙凍亂規則類環線條帶狀散簇聚集廣泛瀰漫局限稱們還這種則變長寬約釐毫"
    "亞樣態壞難聯繫鬆緊縮擴張灰濕絲傳染細菌黴病毒後裡週衛乾燥潤膚劑護理術將經過說話個數兩雙",
    "红圆椭边缘溃疡结节癣疱肤颜黄蓝点状单发个对侧头脸额颈脚痒疮无没见鳞屑脓皱褶斑块瘤肿胀浅较为与区"
    "门躯干臂腿膝踝趾甲指齿龈腭颚舌颊唇喉鼻眼睑眉颞顶枕肩肘腕掌背腹臀阴囊腋腺体质诊断疗药膏霜剂"
    "擦应该检验医师避免晒伤烧烫冻乱规则类环线条带状散簇聚集广泛弥漫局限称们还这种则变长宽约厘毫"
    "亚样态坏难联系松紧缩扩张灰湿丝传染细菌霉病毒后里周卫干燥润肤剂护理术将经过说话个数两双",
)

_CONTRACTIONS = (
    (re.compile(r"\b(can)'?t\b"), r"\1 not"),
    (re.compile(r"\bwon'?t\b"), "will not"),
    (re.compile(r"\b(\w+)n't\b"), r"\1 not"),
    (re.compile(r"\b(it|that|there|what|this|he|she)'s\b"), r"\1 is"),
    (re.compile(r"'s\b"), ""),
    (re.compile(r"\b(i|you|we|they)'(re|ve|ll|m|d)\b"), r"\1"),
)

_BRITISH = {
    "colour": "color",
    "colours": "colors",
    "coloured": "colored",
    "discoloured": "discolored",
    "discolouration": "discoloration",
    "tumour": "tumor",
    "tumours": "tumors",
    "oedema": "edema",
    "oedematous": "edematous",
    "centre": "center",
    "centres": "centers",
    "centred": "centered",
    "localised": "localized",
    "generalised": "generalized",
    "naevus": "nevus",
    "naevi": "nevi",
    "haemorrhage": "hemorrhage",
    "haemorrhagic": "hemorrhagic",
    "haemangioma": "hemangioma",
    "leucoplakia": "leukoplakia",
    "favour": "favor",
    "favoured": "favored",
    "grey": "gray",
    "greyish": "grayish",
    "greyish-white": "grayish-white",
    "anaemia": "anemia",
    "seborrhoeic": "seborrheic",
    "seborrhoea": "seborrhea",
    "haematoma": "hematoma",
    "haemangiomas": "hemangiomas",
    "coeliac": "celiac",
    "diarrhoea": "diarrhea",
    "oesophagus": "esophagus",
    "behavioural": "behavioral",
    "counselling": "counseling",
    "oestrogen": "estrogen",
    "paediatric": "pediatric",
    "aetiology": "etiology",
    "circumscribe": "circumscribe",
    "ulceration": "ulceration",
    "hyperpigmentation": "hyperpigmentation",
    "orientated": "oriented",
    "behaviour": "behavior",
    "organisation": "organization",
    "pigmentated": "pigmented",
    "moisturiser": "moisturizer",
    "moisturisers": "moisturizers",
    "moisturising": "moisturizing",
    "sterilised": "sterilized",
    "specialised": "specialized",
    "emphasise": "emphasize",
    "demarcated": "demarcated",
    "melanocytic": "melanocytic",
}

_IRREGULAR = {
    "feet": "foot",
    "teeth": "tooth",
    "bullae": "bulla",
    "petechiae": "petechia",
    "axillae": "axilla",
    "nevi": "nevus",
    "mucosae": "mucosa",
    "gingivae": "gingiva",
    "papillae": "papilla",
    "striae": "stria",
    "telangiectasiae": "telangiectasia",
    "telangiectases": "telangiectasia",
    "children": "child",
    "lice": "louse",
    "fungi": "fungus",
    "ecchymoses": "ecchymosis",
    "diagnoses": "diagnosis",
    "keratoses": "keratosis",
    "dermatoses": "dermatosis",
    "mycoses": "mycosis",
    "lentigines": "lentigo",
    "hyperkeratoses": "hyperkeratosis",
    "metastases": "metastasis",
    "phalanges": "phalanx",
    "vesiculae": "vesicle",
    "milia": "milium",
    "comedones": "comedone",
    "women": "woman",
    "men": "man",
    "criteria": "criterion",
    "bacteria": "bacteria",
    "sequelae": "sequela",
    "maculae": "macule",
    "pustulae": "pustule",
    "verrucae": "verruca",
    "condylomata": "condyloma",
    "ephelides": "ephelis",
    "halves": "half",
    "knives": "knife",
    "lives": "life",
    "calves": "calf",
    "scarves": "scarf",
}
_KEEP = frozenset(
    "herpes scabies rabies series species diabetes measles mumps lupus pemphigus nevus fungus virus "
    "status corpus this his yes gas plus bus focus less unless was has does is its us thus various "
    "previous mucous pus callus bulbous numerous continuous cutaneous subcutaneous mucocutaneous "
    "always perhaps besides sometimes whereas across chronic alopecia areata pubis nodosum tinea "
    "versicolor rosacea vulgaris psoriasis mycosis unguium pedis cruris capitis corporis manuum faciei "
    "barbae rubra pilaris lichen planus simplex means news lens physics genus hiatus pruritus "
    "molluscum contagiosum scrotum pectus ductus sinus plexus meatus thorax anus penis glans pubes "
    "iris pelvis axis basis crisis ascites arthritis keratitis stomatitis dermatitis cellulitis "
    "folliculitis vasculitis gingivitis cheilitis paronychia onychomycosis pityriasis rosea alba "
    "pityrosporum mellitus gravis herpetiformis multiforme nodosa bullosa acquisita ichthyosis "
    "xerosis hyperhidrosis sarcoidosis sclerosis fibrosis necrosis keratosis acanthosis metastasis "
    "diagnosis prognosis erythrodermic dermatosis vitiligo ulcus naevus nevus plus minus its bias "
    "canvas atlas christmas cactus chorus stimulus tumultuous vs".split()
)

# Chinese numerals (only where a unit, classifier or size word follows).
_ZH_DIGIT = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_ZH_NUM = re.compile(
    r"(?<![零一二两三四五六七八九十点])[零一二两三四五六七八九十]++(?:点[零一二三四五六七八九]++)?"
    r"(?=\s*(?:毫米|厘米|公分|个|处|枚|颗|块|片|粒|只|条|mm|cm))"
)
# a whole answer that is a Chinese numeral ("三", "两个", "十二处"): a count
_ZH_NUM_ALONE = re.compile(r"^\s*[零一二两三四五六七八九十]{1,3}(?=\s*(?:[个处枚颗块片粒只条])?\s*[.。!！]?\s*$)")
_ZH_HALF = re.compile(r"半(?=(?:毫米|厘米|公分))")


def zh_number(text: str) -> float | None:
    """Value of a simple Chinese numeral (``三``, ``十二``, ``两``, ``一点五``); None if not one."""
    whole, _, frac = text.partition("点")
    value = 0
    if not whole:
        return None
    if "十" in whole:
        tens, _, ones = whole.partition("十")
        if (tens and tens not in _ZH_DIGIT) or (ones and ones not in _ZH_DIGIT):
            return None
        value = (_ZH_DIGIT[tens] if tens else 1) * 10 + (_ZH_DIGIT[ones] if ones else 0)
    elif all(c in _ZH_DIGIT for c in whole) and len(whole) == 1:
        value = _ZH_DIGIT[whole]
    else:
        return None
    if frac:
        if not all(c in _ZH_DIGIT for c in frac):
            return None
        return float(f"{value}.{''.join(str(_ZH_DIGIT[c]) for c in frac)}")
    return float(value)


def _zh_numerals(text: str) -> str:
    def sub(m: re.Match[str]) -> str:
        v = zh_number(m.group(0))
        if v is None:
            return m.group(0)
        return f"{v:g}"

    return _ZH_HALF.sub("0.5", _ZH_NUM.sub(sub, _ZH_NUM_ALONE.sub(sub, text)))


_DASHES = str.maketrans(
    {
        "–": "-",
        "—": "-",
        "‐": "-",
        "‑": "-",
        "−": "-",
        "’": "'",
        "‘": "'",
        "“": '"',
        "”": '"',
        "～": "~",
        "〜": "~",
        "﹣": "-",
        "·": " ",
        "•": "\n- ",
        "\u00a0": " ",
        "\u3000": " ",
    }
)
_SPACES = re.compile(r"[ \t\r\f\v]+")
_ACCENTED = re.compile(r"[\u00c0-\u00ff\u0100-\u024f]")


def _fold_accent(m: re.Match[str]) -> str:
    base = unicodedata.normalize("NFKD", m.group(0))[0]
    return base if base.isascii() else m.group(0)


_HAS_ZH_NUM = re.compile(r"[零一二两三四五六七八九十半]")
_ABBREV_DOTS = re.compile(r"\b(?:e\.g|i\.e|etc|vs|approx|ca)\.")
_SPACED_DASH = re.compile(r"(?<=\w)\s+-{1,2}\s+(?=\w)")


def normalize(text: str) -> str:
    """NFKC (full-width -> half-width), traditional -> simplified, lower case, contractions expanded.

    Case is folded here; :func:`tokenize` keeps an ``upper`` flag from the original text so
    that upper-case abbreviations (``MM``, ``AD``) can still be told from ordinary words.
    """
    if len(text) <= CACHE_CHARS:
        return _normalize_cached(text)
    return _normalize(text)


@lru_cache(maxsize=65536)
def _normalize_cached(text: str) -> str:
    return _normalize(text)


def _normalize(text: str) -> str:
    if not text:
        return ""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_DASHES).translate(_TRAD)
        if _ACCENTED.search(text):  # perlèche = perleche, café-au-lait = cafe-au-lait
            text = _ACCENTED.sub(_fold_accent, text)
    text = text.lower()
    if "'" in text:
        for pattern, repl in _CONTRACTIONS:
            text = pattern.sub(repl, text)
    if "." in text:
        text = _ABBREV_DOTS.sub(lambda m: m.group(0).replace(".", ""), text)
    if "-" in text:
        text = _SPACED_DASH.sub(", ", text)
    if not text.isascii() and _HAS_ZH_NUM.search(text):
        text = _zh_numerals(text)
    return _SPACES.sub(" ", text)


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Fold British spelling and simple English plurals (``papules`` -> ``papule``)."""
    word = _BRITISH.get(word, word)
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3 or word in _KEEP or not word.isascii():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is", "ous")):
        return word[:-1]
    return word


@dataclass(slots=True)
class Token:
    """One token of the stream."""

    norm: str
    """Matching form: stemmed lower-case word, a CJK character, a number, or punctuation."""
    start: int
    """Character offset in the normalised text."""
    end: int
    """End offset in the normalised text."""
    kind: str
    """``w`` word, ``c`` CJK character, ``n`` number, ``p`` punctuation."""
    upper: bool = False
    """The original word was written in capitals (``BCC``, ``MM``): abbreviations need this."""
    paren: bool = False
    """Inside brackets: a gloss or an example of what precedes ("oral antifungal (e.g. terbinafine)")."""


_TOKEN = re.compile(
    r"(?P<c>[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])"
    r"|(?P<n>\d+(?:\.\d+)?)"
    r"|(?P<w>[^\W\d_]+)"
    r"|(?P<o>[(\[【〔])|(?P<x>[)\]】〕])"
    r"|(?P<p>[.;!?:,/<>~=+*×\n%|&\"{}#@$^\\、。；！？：，]|[^\s\w'\-])"
)
_ARTICLES = frozenset({"the", "a", "an", "his", "her", "their", "its", "your", "my", "our", "的"})
HARD_BREAKS = frozenset({".", ";", "!", "?", "\n", ":", "。", "；", "！", "？", "：", "{", "}", "|"})
SOFT_BREAKS = frozenset({",", "、", "，"})


def tokenize(text: str) -> tuple[Token, ...]:
    """The match stream of ``text`` (normalised here): articles and ``的`` dropped."""
    if len(text) <= CACHE_CHARS:
        return _tokenize_cached(text)
    return tokens_of(normalize(text), upper_words(text))


@lru_cache(maxsize=65536)
def _tokenize_cached(text: str) -> tuple[Token, ...]:
    return tokens_of(normalize(text), upper_words(text))


def tokens_of(norm: str, upper: frozenset[str]) -> tuple[Token, ...]:
    """The match stream of an already :func:`normalize`-d text; ``upper``: words written in capitals
    in the original (:func:`upper_words`)."""
    upper_words = upper
    out: list[Token] = []
    depth = 0
    for m in _TOKEN.finditer(norm):
        kind = m.lastgroup or "p"
        tok = m.group(0)
        if kind == "o":  # brackets are not tokens: terms match across them, tokens inside are marked
            depth += 1
            continue
        if kind == "x":
            depth = max(0, depth - 1)
            continue
        paren = depth > 0
        if kind == "w":
            if tok in _ARTICLES and not (tok == "an" and tok in upper_words):  # "AN" is acanthosis nigricans
                continue
            out.append(Token(stem(tok), m.start(), m.end(), "w", tok in upper_words, paren))
        elif kind == "c":
            if tok in _ARTICLES:
                continue
            out.append(Token(tok, m.start(), m.end(), "c", False, paren))
        else:
            out.append(Token(tok, m.start(), m.end(), kind, False, paren))
    return tuple(out)


_WORD = re.compile(r"[A-Za-z]+")
_SHOUTING_WORDS = 3
"""A text of at least this many words, none of them in lower case, is written in capitals
throughout: its capitals mark no abbreviation ("DORSUM OF THE LEFT HAND", an upper-cased question)."""


def upper_words(text: str) -> frozenset[str]:
    """Words written with two or more capitals (``BCC``, ``MM``, ``PsA``) - abbreviation candidates -
    unless the whole text is in capitals."""
    if not text or not any(c.isupper() for c in text):
        return frozenset()
    found = _WORD.findall(unicodedata.normalize("NFKC", text) if not text.isascii() else text)
    if len(found) >= _SHOUTING_WORDS and not any(c.islower() for w in found for c in w):
        return frozenset()
    return frozenset(w.lower() for w in found if sum(c.isupper() for c in w) >= 2)


def term_key(term: str) -> tuple[str, ...]:
    """The token tuple a lexicon or table term matches (same pipeline as answers)."""
    # not through tokenize's cache: the lexicon's thousands of terms are keyed once and need no tokens
    toks = tokens_of(normalize(term), upper_words(term))
    return tuple(t.norm for t in toks if t.kind != "p" or t.norm in {"/", "+", ","})


_CONTENT = re.compile(r"[^\W_]")


def has_content(text: str) -> bool:
    """True when the text has at least one letter, digit or ideograph."""
    return _CONTENT.search(text) is not None
