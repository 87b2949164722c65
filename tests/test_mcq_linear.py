"""MCQ rules on hostile input: linear time, no crash, and the cached entry point.

The timing test measures CPU time (not wall time: the machine is shared) for each hostile shape at
N and 4N characters, 4N being the longest answer the judges read, and fails when the time grows
like N**2 (a ratio of 16) rather than N (4): the threshold is 8.
"""

from __future__ import annotations

import random
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest

import judge.mcq as mcq
from judge.limits import MAX_CANDIDATE_CHARS, MAX_OPTION_CHARS
from judge.mcq import Extraction, extract_choices, extract_choices_cached

EN = {"A": "Papule", "B": "Plaque", "C": "Macule", "D": "Nodule"}
ZH = {"A": "丘疹", "B": "斑块", "C": "斑疹", "D": "结节"}
_RNG = random.Random(20240611)
LONG = {  # 26 options of MAX_OPTION_CHARS characters, sharing most of their words
    chr(65 + i): " ".join(_RNG.choice(["red", "scaly", "plaque", "papule", "border", "x"]) for _ in range(300))[
        :MAX_OPTION_CHARS
    ]
    for i in range(26)
}
_BYTES = bytes(_RNG.getrandbits(8) for _ in range(MAX_CANDIDATE_CHARS)).decode("latin-1")
_WORDS = [
    "Answer:",
    "B",
    "C",
    "not",
    "or",
    "is",
    "wrong",
    "plaque",
    "papule",
    "Actually,",
    "答案",
    "选",
    "不对",
    ".",
    "\n",
]
_SOUP = " ".join(_RNG.choice(_WORDS) for _ in range(MAX_CANDIDATE_CHARS // 3))


def _repeat(unit: str) -> Callable[[int], str]:
    return lambda n: (unit * (n // len(unit) + 1))[:n]


SHAPES: dict[str, tuple[dict[str, str], Callable[[int], str]]] = {
    "answer statements": (EN, _repeat("Answer: B. ")),
    "answers in one sentence": (EN, _repeat("the answer is B ")),
    "one letter list": (EN, _repeat("A B C D ")),
    "letters between stops": (EN, _repeat("B.")),
    "rejections": (EN, _repeat("not A ")),
    "option text": (EN, _repeat("Plaque ")),
    "short lines": (EN, _repeat("The answer is B\n")),
    "chinese without spaces": (ZH, _repeat("答案是B选C斑块丘疹")),
    "chinese corrections": (ZH, _repeat("答案：B，不对，是A")),
    "a cue on every character": (ZH, _repeat("选")),
    "unclosed boxed": (EN, _repeat("\\boxed{")),
    "unclosed think": (EN, _repeat("<think>")),
    "26 long options": (LONG, _repeat(" or ".join(LONG.values()) + " ")),
    "hedges": (EN, _repeat("A or B or ")),
    "option list repeated": (EN, _repeat("A. Papule\nB. Plaque\nC. Macule\nD. Nodule\n")),
    "complements": (EN, _repeat("anything but B ")),
    "negated texts": (EN, _repeat("not a papule or a plaque, ")),
    "random bytes as latin-1": (EN, lambda n: _BYTES[:n]),
    "random cue soup": (EN, lambda n: _SOUP[:n]),
}


def _cpu_seconds(output: str, options: dict[str, str]) -> float:
    runs = []
    for _ in range(3):
        start = time.process_time()
        extract_choices(output, options)
        runs.append(time.process_time() - start)
    return statistics.median(runs)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_time_grows_linearly_with_the_output(shape: str) -> None:
    options, make = SHAPES[shape]
    large = MAX_CANDIDATE_CHARS
    small = large // 4
    t_small = _cpu_seconds(make(small), options)
    t_large = _cpu_seconds(make(large), options)
    assert t_large < 2.0, f"{shape}: {t_large:.2f} s for {large} characters"
    assert t_large < 8 * max(t_small, 0.002), f"{shape}: {t_small * 1000:.1f} ms -> {t_large * 1000:.1f} ms for 4x"


@pytest.mark.parametrize(
    "output",
    [
        pytest.param("\ud800B\udfff", id="lone-surrogates"),
        pytest.param("\x00B\x00", id="nul"),
        pytest.param("\ufeff\u200bB\u200e", id="invisible"),
        pytest.param("\u202eAnswer: B", id="right-to-left-override"),
        pytest.param("B\u0301\u0301\u0301", id="combining-marks"),
        pytest.param("🙂" * 1000 + "\nB", id="emoji"),
        pytest.param("\r" * 1000 + "B", id="carriage-returns"),
        pytest.param("x" * MAX_CANDIDATE_CHARS, id="one-long-word"),
        pytest.param(" " * (MAX_CANDIDATE_CHARS - 1) + "B", id="spaces"),
        pytest.param("</think>" * 1000 + "B", id="closing-tags"),
        pytest.param("<answer>" * 1000 + "B</answer>", id="nested-answer-tags"),
        pytest.param("(" * 1000 + "B" + ")" * 1000, id="brackets"),
    ],
)
def test_odd_characters_neither_crash_nor_hide_the_answer(output: str) -> None:
    result = extract_choices(output, EN)
    assert isinstance(result, Extraction)
    if output.endswith("B") or "B</answer>" in output or "Answer: B" in output:
        assert result.letters == frozenset("B")


def test_every_gated_pattern_lists_the_characters_its_matches_start_with() -> None:
    """mcq._gated puts a one-character lookahead before a pattern to make scanning fast; a
    character missing from it would silently switch an alternative off."""
    parser = pytest.importorskip("re._parser")
    constants = pytest.importorskip("re._constants")
    gated = [p for p in vars(mcq).values() if isinstance(p, re.Pattern) and p.pattern.startswith("(?=[")]
    gated += [p for p in mcq._ALL_BUT_RES if p.pattern.startswith("(?=[")]
    assert len(gated) >= 7
    for pattern in gated:
        tree = list(parser.parse(pattern.pattern, pattern.flags))
        gate_op, gate_av = tree[0]
        assert gate_op is constants.ASSERT
        ((_, gate_items),) = list(gate_av[1])
        gate = _class_chars(gate_items, constants)
        starts, _ = _first_chars(tree[1:], constants)
        folded = bool(pattern.flags & re.IGNORECASE)
        missing = {c for c in starts if c not in gate and not (folded and (c.lower() in gate or c.upper() in gate))}
        assert not missing, f"{pattern.pattern[:60]!r} can start with {sorted(missing)} outside its gate"


def _first_chars(items: list[Any], c: Any) -> tuple[set[str], bool]:
    """(characters a match of ``items`` can start with, whether it can match empty); ``items`` are
    nodes of a parsed pattern and ``c`` is ``re._constants``."""
    chars: set[str] = set()
    for op, av in items:
        found, empty = _first_of(op, av, c)
        chars |= found
        if not empty:
            return chars, False
    return chars, True


def _first_of(op: Any, av: Any, c: Any) -> tuple[set[str], bool]:
    if op is c.LITERAL:
        return {chr(av)}, False
    if op is c.IN:
        return _class_chars(av, c), False
    if op is c.BRANCH:
        chars: set[str] = set()
        empty = False
        for branch in av[1]:
            found, can_be_empty = _first_chars(list(branch), c)
            chars, empty = chars | found, empty or can_be_empty
        return chars, empty
    if op is c.SUBPATTERN:
        return _first_chars(list(av[-1]), c)
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
        found, empty = _first_chars(list(av[2]), c)
        return found, empty or av[0] == 0
    if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
        return set(), True
    raise AssertionError(f"a gated pattern may start with any character ({op})")


def _class_chars(items: Any, c: Any) -> set[str]:
    chars: set[str] = set()
    for op, av in items:
        if op is c.LITERAL:
            chars.add(chr(av))
        elif op is c.RANGE:
            chars.update(map(chr, range(av[0], av[1] + 1)))
        else:
            raise AssertionError(f"a gate or a first character class holds {op}")
    return chars


# ------------------------------------------------------------------------------ the cached entry point


def test_the_cached_entry_point_gives_the_same_results() -> None:
    outputs = ["B", "C or D", "答案：B，不对，是A", "It is a plaque.", "The correct answer is B: Papule", ""]
    for output in outputs:
        assert extract_choices_cached(output, EN) == extract_choices(output, EN)
        assert extract_choices_cached(output, ZH, language="zh") == extract_choices(output, ZH)


def test_the_cache_is_keyed_by_options_as_well_as_output() -> None:
    swapped = {"A": "Plaque", "B": "Papule", "C": "Macule", "D": "Nodule"}
    assert extract_choices_cached("It is a plaque.", EN).letters == frozenset("B")
    assert extract_choices_cached("It is a plaque.", swapped).letters == frozenset("A")


def test_the_cache_is_bounded_and_keeps_the_most_recent(monkeypatch: pytest.MonkeyPatch) -> None:
    small = mcq._Lru(4)
    monkeypatch.setattr(mcq, "_EXTRACTIONS", small)
    first = extract_choices_cached("Answer: A", EN)
    assert extract_choices_cached("Answer: A", EN) is first  # served from the cache
    for letter in "BCDE":
        extract_choices_cached(f"Answer: {letter}", EN)
    assert len(small) == 4
    assert extract_choices_cached("Answer: A", EN) is not first  # the oldest was dropped


def test_bad_options_are_an_error_every_time_not_a_cached_result() -> None:
    for _ in range(2):
        with pytest.raises(ValueError, match="single letters"):
            extract_choices_cached("B", {"A1": "Papule", "B": "Plaque"})


def test_hostile_option_sets_do_not_accumulate_in_memory() -> None:
    """Large option sets (about 1 MB prepared) are not cached, and reasons quote option texts
    shortened, so the extraction cache holds small results whatever the options."""
    before = mcq._cached_options.cache_info().currsize
    result = extract_choices_cached(" ".join(LONG.values()), LONG)
    assert mcq._cached_options.cache_info().currsize == before
    assert result.reason is not None and len(result.reason) < 26 * 80
