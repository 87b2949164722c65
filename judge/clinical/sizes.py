"""Sizes as millimetre ranges: parse measurements and compare two ranges (pure).

A plain value is an estimate read off a photograph, so it stands for +-10 %; "about X" (约, 左右)
for +-25 %; "1-2 mm" for exactly 1-2; "< 1 cm" (小于1厘米) for 0-10; "> 1 cm" for 10-30;
"about 5-6 cm" for 4.5-6.6 (a range is an estimate already); "1.5 x 2 cm" for 15-20 (the
lesion's extent); "a few mm" (数毫米) for 2-9. Size descriptors
("pinpoint", 米粒大小) come from the rubric's size table, not from here.

Usage::

    parse_sizes(normalize("about 5 mm"))     # [Size(lo=3.75, hi=6.25, start=0, end=10, text='about 5 mm')]
    compare_ranges((3, 5), (6, 10), 2.0)     # 0.5-band ("partial"): no overlap, within x2
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD_NUM = {
    "one": 1.0,
    "two": 2.0,
    "three": 3.0,
    "four": 4.0,
    "five": 5.0,
    "six": 6.0,
    "seven": 7.0,
    "eight": 8.0,
    "nine": 9.0,
    "ten": 10.0,
    "eleven": 11.0,
    "twelve": 12.0,
    "fifteen": 15.0,
    "twenty": 20.0,
    "half": 0.5,
    "half a": 0.5,
    "a": 1.0,
    "an": 1.0,
}
_UNIT_MM = {
    "mm": 1.0,
    "millimeter": 1.0,
    "millimetre": 1.0,
    "毫米": 1.0,
    "cm": 10.0,
    "centimeter": 10.0,
    "centimetre": 10.0,
    "厘米": 10.0,
    "公分": 10.0,
    "inch": 25.4,
}

_NUM = (
    r"(?:\d+(?:\.\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|half a|half|an|a)"
)
_UNIT = r"(?:mm|millimet(?:er|re)s?|cm|centimet(?:er|re)s?|毫米|厘米|公分|inch(?:es)?)(?![a-z])"
_RANGE = r"\s*(?:-|~|to|至|到|or)\s*"
_DIM = r"\s*(?:x|×|\*|by|乘)\s*"
_MEAS = rf"{_NUM}(?:\s*{_UNIT})?(?:{_RANGE}{_NUM}(?:\s*{_UNIT})?)?"
_APPROX = r"about|approximately|approx\.?|around|roughly|~|nearly|almost|circa|ca\.?|estimated|约|大约|大概|估计|接近|直径约|约为"
_LESS = r"less than|smaller than|under|below|<=|<|≤|up to|no more than|not more than|not exceeding|at most|no larger than|小于|不到|不足|低于|不超过|<"
_MORE = r"more than|greater than|larger than|bigger than|over|above|>=|>|≥|exceeding|at least|大于|超过|逾|不小于"
_POST_APPROX = r"左右|上下|许|or so"
_POST_LESS = r"以内|以下|or less|or smaller"
_POST_MORE = r"以上|or more|or larger|or greater|and above|or bigger"

# the qualifier's trailing \s* sits inside its optional group: a run of blanks is then scanned once,
# not once from each of its positions (linear on "\n" * 50_000 + "mm")
_SIZE = re.compile(
    rf"(?:(?:(?P<approx>{_APPROX})|(?P<less>{_LESS})|(?P<more>{_MORE}))\s*)?"
    rf"(?<![\d.])(?P<body>{_MEAS}(?:{_DIM}{_MEAS})*)"
    rf"\s*(?:(?P<papprox>{_POST_APPROX})|(?P<pless>{_POST_LESS})|(?P<pmore>{_POST_MORE}))?"
)
_PART = re.compile(rf"(?P<n>{_NUM})(?:\s*(?P<u>{_UNIT}))?")
_VAGUE = re.compile(
    r"(?:several|a few|few|some|数|几)\s*(?P<u>mm|millimet(?:er|re)s?|cm|centimet(?:er|re)s?|毫米|厘米|公分)(?![a-z])"
)


@dataclass(frozen=True, slots=True)
class Size:
    """A size mention as a millimetre range, with its span in the normalised text."""

    lo: float
    hi: float
    start: int
    end: int
    text: str
    core: tuple[float, float] = (0.0, 0.0)
    """The stated values before the estimate's tolerance ("about 8 mm" -> 8-8)."""


def _unit_mm(unit: str) -> float:
    u = unit.rstrip("s") if unit.endswith(("ers", "res", "es")) and not unit.startswith(("毫", "厘")) else unit
    if u.startswith("inch"):
        return 25.4
    if u.startswith("millimet"):
        return 1.0
    if u.startswith("centimet"):
        return 10.0
    return _UNIT_MM.get(u, 0.0)


_MAX_DIGITS = 7
"""A number written with more digits than this is text, not a measurement."""


def _num(text: str) -> float:
    text = text.strip()
    if text in _WORD_NUM:
        return _WORD_NUM[text]
    if len(text) > _MAX_DIGITS:
        return 0.0
    try:
        return float(text)
    except ValueError:
        return 0.0


def parse_sizes(norm: str) -> list[Size]:
    """Every measurement with a unit in ``norm`` (already :func:`~judge.clinical.text.normalize`d)."""
    if not any(u in norm for u in ("mm", "cm", "毫米", "厘米", "公分", "millimet", "centimet", "inch")):
        return []
    out: list[Size] = []
    for m in _SIZE.finditer(norm):
        body = m.group("body")
        parts = [(p.group("n"), p.group("u")) for p in _PART.finditer(body)]
        if not any(u for _, u in parts):
            continue
        # the unit written last applies to the unit-less numbers before it ("1-2 mm", "1.5 x 2 cm")
        values: list[float] = []
        pending: list[float] = []
        for n, u in parts:
            v = _num(n)
            if u:
                factor = _unit_mm(u)
                values.extend(x * factor for x in pending)
                values.append(v * factor)
                pending = []
            else:
                pending.append(v)
        if pending and values:  # a trailing unit-less number is not part of the size
            pass
        values = [v for v in values if v > 0]
        if not values:
            continue
        head = m.group(0)
        # a bare article ("a", "an") must be followed directly by its unit to count as 1
        if parts[0][0] in ("a", "an") and not parts[0][1]:
            continue
        lo, hi = min(values), max(values)
        core = (lo, hi)
        ranged = lo != hi
        if m.group("less") or m.group("pless"):
            lo, hi = 0.0, hi
        elif m.group("more") or m.group("pmore"):
            lo, hi = lo, lo * 3.0
        elif (m.group("approx") or m.group("papprox")) and ranged:
            lo, hi = lo * 0.9, hi * 1.1  # "about 5-6 cm": the range already carries the estimate
        elif m.group("approx") or m.group("papprox"):
            lo, hi = lo * 0.75, hi * 1.25
        elif not ranged:
            lo, hi = lo * 0.9, hi * 1.1
        start = m.start() + (len(head) - len(head.lstrip()))
        if m.group("less") or m.group("pless"):
            core = (0.0, hi)
        elif m.group("more") or m.group("pmore"):
            core = (lo, lo * 3.0)
        out.append(Size(round(lo, 4), round(hi, 4), start, m.end(), head.strip(), core))
    for m in _VAGUE.finditer(norm):
        f = _unit_mm(m.group("u"))
        if any(s.start <= m.start() < s.end for s in out):
            continue
        out.append(Size(2.0 * f, 9.0 * f, m.start(), m.end(), m.group(0), (2.0 * f, 9.0 * f)))
    out.sort(key=lambda s: s.start)
    return out


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """True when the two ranges share a point."""
    return a[0] <= b[1] and b[0] <= a[1]


def gap_ratio(a: tuple[float, float], b: tuple[float, float]) -> float:
    """How far apart two disjoint ranges are: upper range's low end / lower range's high end (1 = touching)."""
    if overlap(a, b):
        return 1.0
    low, high = (a, b) if a[1] < b[0] else (b, a)
    if low[1] <= 0:
        return float("inf")
    return high[0] / low[1]


def compare_ranges(
    ref: tuple[float, float],
    cand: tuple[float, float],
    partial_factor: float | None,
    ref_core: tuple[float, float] | None = None,
    cand_core: tuple[float, float] | None = None,
) -> str:
    """``"same"`` (the ranges, tolerance included, overlap), ``"near"`` (the stated values lie within
    ``partial_factor`` of each other), or ``"far"``."""
    if overlap(ref, cand):
        return "same"
    if partial_factor and gap_ratio(ref_core or ref, cand_core or cand) <= partial_factor:
        return "near"
    return "far"


def fmt_range(lo: float, hi: float) -> str:
    """``3-5 mm``."""
    return f"{lo:g}-{hi:g} mm" if lo != hi else f"{lo:g} mm"
