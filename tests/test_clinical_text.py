"""Pure building blocks of the embedded judge: normalisation, sizes, the lexicon, negation scopes."""

from __future__ import annotations

import pytest

from judge.clinical.lexicon import CATEGORIES, build_lexicon, get_lexicon
from judge.clinical.mentions import analyze
from judge.clinical.sizes import compare_ranges, parse_sizes
from judge.clinical.tables import compiled
from judge.clinical.text import normalize, stem, tokenize, zh_number
from judge.rubrics import load_rubric

CT = compiled(load_rubric("v3"))


def norms(text: str) -> list[str]:
    return [t.norm for t in tokenize(text) if t.kind != "p"]


def mentions(text: str) -> list[tuple[str, tuple[str, ...], bool]]:
    return [(m.cat, tuple(sorted(m.ids)), m.neg) for m in analyze(text, CT).mentions]


# ---------------------------------------------------------------------------- normalisation


def test_full_width_traditional_and_case_are_folded():
    assert normalize("ＰＩＮＫ，紅色") == "pink,红色"
    assert norms("Vesicles") == norms("vesicle") == ["vesicle"]
    assert norms("bullae") == ["bulla"] and norms("feet") == ["foot"] and norms("nevi") == ["nevus"]
    assert norms("psoriasis") == ["psoriasis"] and norms("herpes") == ["herpes"]  # not plurals


def test_contractions_and_british_spelling():
    assert norms("It isn't pink") == ["it", "is", "not", "pink"]
    assert norms("colour of the tumour") == ["color", "of", "tumor"]  # articles dropped


def test_chinese_is_one_token_per_character_and_simple_numerals_become_digits():
    assert norms("红色丘疹") == ["红", "色", "丘", "疹"]
    assert normalize("两个丘疹，约三厘米") == "2个丘疹,约3厘米"
    assert zh_number("十二") == 12 and zh_number("一点五") == 1.5 and zh_number("手") is None


def test_brackets_mark_a_gloss_instead_of_breaking_the_text():
    toks = tokenize("oral antifungal (e.g. terbinafine)")
    assert [t.paren for t in toks if t.kind != "p"] == [False, False, True, True]


def test_stem_is_cached_and_idempotent():
    assert stem(stem("papules")) == "papule"


# ---------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("text", "lo", "hi"),
    [
        ("about 5 mm", 3.75, 6.25),
        ("1-2 mm", 1.0, 2.0),
        ("<1 cm", 0.0, 10.0),
        ("less than 1 cm", 0.0, 10.0),
        ("1.5cm x 2cm", 15.0, 20.0),
        ("约1.5厘米", 11.25, 18.75),
        ("5毫米左右", 3.75, 6.25),
        ("小于1厘米", 0.0, 10.0),
        ("几毫米", 2.0, 9.0),
        ("roughly 5-6 cm", 45.0, 66.0),
    ],
)
def test_sizes_parse_to_millimetre_ranges(text, lo, hi):
    (s,) = parse_sizes(normalize(text))
    assert (round(s.lo, 2), round(s.hi, 2)) == (lo, hi)


def test_numbers_without_units_are_not_sizes():
    assert parse_sizes(normalize("5-FU cream twice daily for 3 weeks")) == []


def test_size_comparison_overlap_near_far():
    assert compare_ranges((3, 5), (4, 4), 2.0) == "same"
    assert compare_ranges((3, 5), (6, 10), 2.0, (3, 5), (8, 8)) == "near"
    assert compare_ranges((3, 5), (18, 22), 2.0, (3, 5), (20, 20)) == "far"
    assert compare_ranges((3, 5), (6, 10), None) == "far"  # no size table: no partial band


# ---------------------------------------------------------------------------- lexicon


def test_lexicon_is_bilingual_and_large():
    lex = get_lexicon()
    for cat in CATEGORIES:
        for c in lex.concepts[cat].values():
            assert c.en and c.zh, f"{cat}:{c.id} needs English and Chinese terms"
    assert len(lex.concepts["disease"]) >= 200 and len(lex.concepts["site"]) >= 100
    assert len(lex.terms) >= 3000


def test_site_and_disease_trees():
    lex = get_lexicon()
    assert {"hand", "upper_limb"} <= lex.concept("site", "dorsal_hand").ancestors
    assert {"nail", "finger"} <= lex.concept("site", "fingernail").ancestors
    assert "dermatophytosis" in lex.concept("disease", "tinea_corporis").ancestors
    assert "skin_cancer" in lex.concept("disease", "bcc").ancestors
    assert lex.related("disease", "dermatitis", "atopic_dermatitis")


def test_a_lexicon_with_a_dangling_parent_is_rejected():
    with pytest.raises(ValueError, match="unknown parent"):
        build_lexicon({"site": [{"id": "a", "parents": ["nowhere"], "en": ["a"], "zh": ["甲"]}]})


# ---------------------------------------------------------------------------- mentions and negation


def test_longest_match_wins_and_chinese_needs_no_spaces():
    assert ("site", ("dorsal_hand",), False) in mentions("左手背")
    assert ("side", ("left",), False) in mentions("左手背")
    assert ("disease", ("herpes_zoster",), False) in mentions("带状疱疹")  # not 带状 (linear shape)
    assert not any(cat == "shape" for cat, _, _ in mentions("带状疱疹"))


def test_negation_scope_en_and_zh():
    assert ("lesion", ("scale",), True) in mentions("no scale, crust or erosion")
    assert ("lesion", ("crust",), True) in mentions("no scale, crust or erosion")
    got = mentions("无鳞屑，红色斑块")
    assert ("lesion", ("scale",), True) in got and ("lesion", ("plaque",), False) in got
    assert ("lesion", ("scale",), True) in mentions("scale is absent")
    assert ("color", ("pink",), True) in mentions("It is not pink, it is red")
    assert ("color", ("red",), False) in mentions("It is not pink, it is red")
    # 不 inside a term is not a negation: 边界不清 is "ill-defined"
    assert ("boundary", ("ill_defined",), False) in mentions("边界不清")


def test_side_words_count_only_next_to_a_site():
    assert ("side", ("right",), False) in mentions("back of the right hand")
    assert not any(cat == "side" for cat, _, _ in mentions("That is right, the lesion was left untreated."))
    assert not any(cat == "side" for cat, _, _ in mentions("5毫米左右"))


def test_upper_case_abbreviations_only():
    assert ("disease", ("melanoma",), False) in mentions("Suspect MM")
    assert not any(cat == "disease" for cat, _, _ in mentions("about 5 mm"))
