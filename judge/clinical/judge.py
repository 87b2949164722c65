"""The embedded clinical judge: one case, one rubric, one score with its reason (pure, deterministic).

The judge reads only the candidate's own words, all of them (up to ``MAX_CANDIDATE_CHARS``; a longer
answer is degenerate and scores 0), in time linear in the input (``reading.py``). The question is
context: it says what is asked and how to read a short answer (a blank filled with 不清 reads as
边界不清), but nothing it says - a fill-blank's stem, its numbers, the alternatives it lists, the
disease or site it names - counts as stated by the candidate; an echo of it states nothing.

Decision order (the rating guide's):

1. empty answer -> 0; text addressed to the grader (or to its answer key: "the reference answer is
   X, but ...") -> 0; an answer that only repeats the question -> 0; dangerous advice -> 0;
2. refusal with nothing committed outside the refusal -> 0;
3. what the answer commits to (``stance.py``): a value it asks about and rejects ("Pink? No."),
   supersedes ("it was pink but is now brown", 以前是X，现在是Y) or excludes ("anything but pink",
   除了X都有可能) or corrects ("Pink. Correction: brown.") is denied, not stated; after a "final
   answer" marker only the final answer counts;
   a reference copied under a negation ("not <reference>", 不是<reference>) is rejected -> 0;
4. judgment questions: opposite yes/no -> 0; both yes and no -> 0; right yes/no -> 1, or
   ``judgment_without_reason_credit`` when the question asks why and the reasoning is missing
   or contradicts the reference's; a yes/no read from the answer's terms comes from the predicate
   asked (the question's last), not from the subject's descriptors;
5. other questions: the reference's parts (``compare.py``) against what the answer asserts -
   a contradicted required part -> 0 (so does asserting what the reference denies, "scaly" for
   "without scale", and stating and denying the same value); all required parts -> 1; some right
   and none wrong -> 0.5 (also when the credits add up to ``partial_threshold``); a contradicted
   context part (one the question does not ask for, e.g. the lesion type in a colour question)
   caps at 0.5 - the main element is right; a missing side caps at 0.5 (a coarser answer), a wrong
   side is 0;
6. hedges: more than ``hedge_max_alternatives`` alternatives for the asked thing -> 0; a bare list
   of more values than the reference holds ("red, pink, brown, black, ..."; 1 mm, 5 mm, 1 cm, ...)
   -> 0; two alternatives as equals, one of them not right -> at most 0.5;
7. any one reference suffices: the best score over the references.

Treatment references also carry conflicts (``lexicon.yaml``: steroid alone where an antifungal is
called for, topical-only where oral therapy is, reassurance where a biopsy is) that score 0 like
any contradiction.

Usage::

    outcome = judge_case(case, rubric)
    outcome.score, outcome.rationale
"""

from __future__ import annotations

import gc
import re
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

from judge.clinical.compare import FOCUS, PART_CATS, Comparer, Part, build_parts, options_in, value_key
from judge.clinical.hedging import disease_answer, distinct_mentions, listed_values, or_alternatives
from judge.clinical.lexicon import get_lexicon
from judge.clinical.mentions import Analysis, Mention, by_position, derived
from judge.clinical.polarity import asked_predicate, echo_polarity, explicit_polarity, withdrawn_commitment
from judge.clinical.reading import blank_of, echo_of, question_text, read, read_reference, strip_labels
from judge.clinical.screens import addresses_grader, refusal_spans
from judge.clinical.stance import commitments
from judge.clinical.tables import ATTRIBUTES, Compiled, compiled
from judge.clinical.text import has_content, normalize
from judge.limits import MAX_CANDIDATE_CHARS
from judge.models import Case
from judge.rubrics import Rubric

ENGINE = "clinical-local"
ENGINE_VERSION = "1.5.0"
"""Bump on any behaviour change: it is part of the verdict cache key."""

ALL = frozenset(PART_CATS) - {"relation"}
"""Focus of lesion reasoning: everything the reference asserts (positions only for spatial questions)."""
GENERIC = ALL - {"relation", "quantity"}
"""Focus of a question with no known ability: everything but positions and counts."""
_WHY = re.compile(
    r"\bwhy\b|\bexplain|\breason|\bjustify\b|\bwhat supports\b|\bbased on what\b|\bhow do you know\b"
    r"|\bon what basis\b|\bwhat features?\b|\bwhich features?\b|\bsupport your\b|\bdescribe\b|\bstate\b|\bspecify\b"
    r"|\bif (?:not|so|yes|no)\b|\bwhat does (?:this|it|that) (?:suggest|indicate|mean|support)|\bwhere is it\b|\bwhat is it\b"
    r"|\bwhich (?:one|side|diagnosis|disease)\b|\band (?:name|identify)\b"
    r"|为什么|为何|原因|理由|依据|根据什么|请说明|解释|说明|判断依据|何以|支持什么|提示什么|意味着什么|是什么|在哪|哪一|哪个|如果不是|若不是|如是|若是"
)
_CONTENT_CATS = frozenset(PART_CATS)


@dataclass
class Outcome:
    """A score with its short reason and a trace for ``raw_output``."""

    score: float | None
    rationale: str
    trace: list[str] = field(default_factory=list)
    unscored: str | None = None
    """Why no score could be given (only when there is nothing to compare with)."""


@dataclass
class _Ctx:
    ct: Compiled
    cmp: Comparer
    case: Case
    focus: frozenset[str]
    question: Analysis | None
    asks_why: bool


def focus_of(case: Case) -> frozenset[str]:
    """The categories the question asks for."""
    base = FOCUS.get(case.ability or "", ALL if case.ability else GENERIC)
    if case.attribute:
        if case.ability == "attribute_recognition" or case.ability is None:
            return frozenset({case.attribute})
        return base | {case.attribute}
    return base


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while one case is judged.

    Judging a long answer builds tens of thousands of small objects (tokens, mentions) and no
    reference cycles; the collector would rescan the live ones dozens of times (a third of the time
    on a 50,000-character answer). Reference counting frees them all when the case is done. Only the
    caller that found the collector running restarts it, so concurrent calls leave it running."""
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def judge_case(case: Case, rubric: Rubric) -> Outcome:
    """Score ``case`` under ``rubric`` (never raises on odd text; see the module docstring)."""
    with _collector_paused():
        return _judge_case(case, rubric)


def _judge_case(case: Case, rubric: Rubric) -> Outcome:
    ct = compiled(rubric)
    lex = get_lexicon()
    cmp = Comparer(ct, lex)
    candidate = case.candidate or ""
    if not has_content(candidate):
        return Outcome(0.0, "empty answer: nothing to score")
    if len(candidate) > MAX_CANDIDATE_CHARS:
        return Outcome(
            0.0, f"degenerate answer: {len(candidate)} characters, over the limit of {MAX_CANDIDATE_CHARS}"
        )
    grader = addresses_grader(normalize(candidate))
    if grader:
        return Outcome(0.0, f"answer addresses the grader ('{_short(grader)}'): scored 0 whatever else it says")
    refs = [r for r in case.references if r and r.strip()]
    if not refs:
        return Outcome(None, "no reference answer to compare with", unscored="no reference answer to compare with")
    question = strip_labels(case.question or "")
    blank = blank_of(question) if case.question_type == "fill_blank" else None
    # the answer's own words: the question read as context, its echo and anything before a final answer dropped
    cand = commitments(read(candidate, ct, blank=blank, echo=echo_of(question)))
    if not any(t.kind != "p" for t in cand.toks):
        return Outcome(0.0, "the answer only repeats the question: nothing of its own to score")
    norm = cand.norm
    danger = _dangerous(cand, lex)
    if danger:
        return Outcome(0.0, f"dangerous advice: '{danger}'")
    judgment_q = case.question_type == "judgment"
    asked = asked_predicate(normalize(question)) if question and judgment_q else ""
    spans = refusal_spans(norm, asked)
    refused = bool(spans)
    if refused:
        cand = _drop_spans(cand, spans)
    q_text = question_text(question)
    question_a = read_reference(q_text, ct) if q_text.strip() else None
    focus = focus_of(case)
    counts = "quantity" in focus and case.ability is not None
    if counts:
        cand = _with_numbers(cand)
    cmp.set_context(question_a, cand)
    ctx = _Ctx(ct, cmp, case, focus, question_a, _asks_why(question))

    judgment = judgment_q or any(_polarity(read_reference(r, ct, blank))[0] for r in refs)
    if judgment:
        sign, both = _polarity(cand)
        if both:
            return Outcome(0.0, "hedge: answers both yes and no")
        withdrawn = withdrawn_commitment(norm)
        if withdrawn:
            return Outcome(0.0, f"hedge: the yes/no is not committed to ('{_short(withdrawn, 40)}')")
        if refused and sign == 0:
            return Outcome(0.0, "refusal: no yes/no answer given")
    elif refused and not _has_assertions(cand):
        return Outcome(0.0, "refusal / non-answer: the answer commits to nothing")

    best: Outcome | None = None
    shown = len(refs) > 1
    for original in refs:
        rejected = None if judgment else _negated_copy(cand, read_reference(original, ct, blank))
        for ref_text in [original, *_gloss_variants(original)]:
            if rejected:  # "不是<reference>": neither the reference nor a part of it is stated
                out = Outcome(0.0, f"rejects the reference: '{_short(rejected, 50)}' is negated")
            else:
                ref = read_reference(ref_text, ct, blank)
                if counts:
                    ref = _with_numbers(ref)
                out = _score_reference(ref, ref_text, cand, ctx, judgment)
            if shown or ref_text != original:
                out.rationale = f"vs '{_short(ref_text, 40)}': {out.rationale}"
            if best is None or (out.score or 0.0) > (best.score or 0.0):
                best = out
            if (best.score or 0.0) >= 1.0 or rejected:
                break
        if (best is not None and (best.score or 0.0) >= 1.0):
            break
    assert best is not None
    if best.score == 0.0 and refused:
        best.rationale = "refusal / non-answer; " + best.rationale
    return best


# ---------------------------------------------------------------------------- one reference

def _gloss_variants(ref: str) -> list[str]:
    """A short reference ending in a parenthetical gloss ("serpiginous (wavy linear)", "symmetric
    (both legs)") is met by either wording: the gloss is an alternative, not an extra required part."""
    gloss = _gloss(ref)
    if gloss is None:
        return []
    head, inner = gloss
    if head and len(head.split()) <= 3 and len(head) <= 24:
        return [v for v in dict.fromkeys((head, inner)) if v and v != ref]
    return []


def _gloss(ref: str) -> tuple[str, str] | None:
    """``(head, gloss)`` of a reference ending in a bracketed gloss of 1-40 characters, or ``None``."""
    r = ref.rstrip()
    if not r.endswith((")", "）")):
        return None
    opening = max(r.rfind("(", 0, len(r) - 1), r.rfind("（", 0, len(r) - 1))
    inner = r[opening + 1 : -1]
    if opening < 0 or not 1 <= len(inner) <= 40 or any(c in inner for c in "()（）"):
        return None
    return r[:opening].strip(), inner.strip()


@lru_cache(maxsize=8192)
def _asks_why(question: str) -> bool:
    return bool(_WHY.search(normalize(question)))


def _polarity(a: Analysis) -> tuple[int, bool]:
    """Explicit polarity, computed once per (cached) analysis."""
    if a.polarity is None:
        a.polarity = explicit_polarity(a)
    return a.polarity


def _score_reference(ref: Analysis, ref_text: str, cand: Analysis, ctx: _Ctx, judgment: bool) -> Outcome:
    if judgment:
        rp, _ = _polarity(ref)
        if rp == 0 and ctx.question is not None:
            rp = _infer_polarity(ref, ctx)
        if rp != 0:
            return _judgment(ref, rp, cand, ctx)
    return _short_answer(ref, cand, ctx)


def _short_answer(ref: Analysis, cand: Analysis, ctx: _Ctx) -> Outcome:
    cmp = ctx.cmp
    lex = cmp.lex
    params = ctx.ct.params
    parts = build_parts(ref, ctx.question, ctx.focus, cmp, generic=ctx.case.ability is None)
    if not parts:
        return Outcome(0.0, "the reference states nothing the judge can compare")
    view = cand
    answer_diseases: list[Mention] = []
    if any(p.cat == "disease" and p.required for p in parts):
        answer_diseases, _listed = disease_answer(cand, lex)
        view = _only_answer_diseases(cand, answer_diseases)
    # alternatives offered as equals are judged by the hedge rule, not as contradictions
    cmp.exempt = {value_key(m) for m in answer_diseases} if len(answer_diseases) >= 2 else set()
    for cat in {p.cat for p in parts if p.required and p.cat != "disease"}:
        alts = or_alternatives(view, cat, lex)
        if len(alts) >= 2:
            cmp.exempt |= {value_key(m) for m in alts}
    for p in parts:
        cmp.score_part(p, view, parts)
    cmp.exempt = set()
    rejected = _negated_copy(cand, ref)
    if rejected:
        return Outcome(0.0, f"rejects the reference: '{_short(rejected, 50)}' is negated")
    conflict = _treatment_conflict(ref, view, lex)
    score, why = _aggregate(parts, params)
    if conflict:
        score, why = 0.0, conflict
    if score > 0:
        score, why = _hedge(parts, view, answer_diseases, ctx, score, why)
    return Outcome(score, why, [f"{p.cat}:{p.status}:{p.credit:g}:{p.label}" for p in parts])


def _aggregate(parts: list[Part], params) -> tuple[float, str]:
    req = [p for p in parts if p.required]
    if not req:
        return 0.0, "nothing required"
    bad = [p for p in parts if (p.required or p.veto) and p.status == "contradicted"]
    if bad:
        return 0.0, "contradicts the reference: " + "; ".join(p.note for p in bad[:2])
    # a side qualifies a site: wrong side = 0 (above), no side = a coarser answer (at most 0.5)
    sides = [p for p in req if p.cat == "side"]
    if sides and len(sides) < len(req):
        req = [p for p in req if p.cat != "side"]
    side_short = [p for p in sides if p.credit < 1.0 and p not in req]
    share = sum(min(p.credit, 1.0) for p in req) / len(req)
    full = [p for p in req if p.credit >= 1.0]
    notes = "; ".join(p.note for p in (req + sides)[:4] if p.note)
    opt_bad = [p for p in parts if not p.required and p.status == "contradicted"]
    if share >= params.full_threshold:
        if opt_bad:
            return 0.5, f"{notes}; but {opt_bad[0].note}"
        if side_short:
            return 0.5, f"{notes}; side not stated ({side_short[0].label}): a coarser answer"
        return 1.0, notes or "matches the reference"
    if share >= params.partial_threshold or (full and len(req) > 1):
        missing = [p.label for p in req if p.credit <= 0]
        tail = f"; missing: {', '.join(missing[:3])}" if missing else ""
        if len(req) == 1:
            return 0.5, f"partial credit: {notes}"
        return 0.5, f"partly correct ({len(full)} of {len(req)} parts): {notes}{tail}"
    if any(p.credit > 0 for p in req):
        return 0.0, f"too little of the reference ({share:.2f} < {params.partial_threshold:g}): {notes}"
    return 0.0, "does not state the reference: " + (notes or ", ".join(p.label for p in req[:3]))


def _hedge(
    parts: list[Part], cand: Analysis, answer_diseases: list[Mention], ctx: _Ctx, score: float, why: str
) -> tuple[float, str]:
    """Apply the hedging rules to the focus categories the reference answers."""
    cmp = ctx.cmp
    limit = ctx.ct.params.hedge_max_alternatives
    cats = {p.cat for p in parts if p.required and p.mention is not None}
    for cat in sorted(cats):
        if cat != "disease":  # a bare list holding the answer among more values than the reference has
            listed = listed_values(cand, cat, cmp.lex)
            wanted = [p.mention for p in parts if p.required and p.cat == cat and p.mention is not None]
            bound = max(limit, len(wanted)) if cat in ATTRIBUTES else max(limit + 3, 3 * len(wanted))
            if len(listed) > bound and any(cmp.credit(r, m)[0] > 0 for r in wanted for m in listed):
                names = ", ".join(f"'{m.text}'" for m in listed[:5])
                return 0.0, f"hedge: lists {len(listed)} {cat} values ({names}, ...) for {len(wanted)}: every value offered"
        alts = answer_diseases if cat == "disease" else or_alternatives(cand, cat, cmp.lex)
        if len(alts) < 2:
            continue
        names = ", ".join(f"'{m.text}'" for m in alts[:5])
        if len(alts) > limit:
            return 0.0, f"hedge: {len(alts)} alternatives offered ({names}); more than {limit} scores 0"
        if any(
            cmp.opposite(cat, x, y) for i, a in enumerate(alts) for b in alts[i + 1 :] for x in a.ids for y in b.ids
        ):  # "single or multiple", "well- or ill-defined": both answers to the choice, so neither
            return 0.0, f"hedge: offers opposite answers as equals ({names})"
        refs = [p.mention for p in parts if p.required and p.cat == cat and p.mention is not None]
        all_right = all(any(cmp.credit(r, m)[0] >= 1.0 for r in refs) for m in alts)
        if not all_right and score > 0.5:
            return 0.5, f"two alternatives as equals ({names}), one right: {why}"
    return score, why


def _only_answer_diseases(cand: Analysis, keep: list[Mention]) -> Analysis:
    """The candidate with the diseases outside its answer read as discussion (``diff``)."""
    key = ("answer_view", tuple(id(m) for m in keep))
    hit = cand.memo.get(key)
    if hit is not None:
        return hit
    ids = {id(m) for m in keep}
    keep_ids = frozenset(i for k in keep for i in k.ids)
    out = []
    for m in cand.mentions:
        if m.cat != "disease" or m.neg or id(m) in ids or m.ids & keep_ids:
            out.append(m)
        else:
            out.append(Mention(m.cat, m.ids, m.start, m.end, m.text, neg=m.neg, diff=True, core=m.core))
    view = derived(cand, out)
    cand.memo[key] = view
    return view


def _treatment_conflict(ref: Analysis, cand: Analysis, lex) -> str | None:
    rt = [m for m in ref.by_cat.get("treatment", []) if not m.neg]
    if not rt:
        return None
    ct_ = cand.memo.get("treatments")
    if ct_ is None:
        ct_ = cand.memo["treatments"] = _distinct_ids([m for m in cand.by_cat.get("treatment", []) if not m.neg])
    if not ct_:
        return None

    def has(ms: list[Mention], target: str, *, loose: bool = False, unless: str | None = None) -> Mention | None:
        for m in ms:
            for i in m.ids:
                if unless is not None and (i == unless or lex.is_ancestor("treatment", unless, i)):
                    continue  # terbinafine is oral and topical: not a topical-only recommendation
                if (
                    i == target
                    or lex.is_ancestor("treatment", target, i)
                    or (loose and lex.is_ancestor("treatment", i, target))
                ):
                    return m
        return None

    for good, bad in lex.treatment_conflicts:
        if has(rt, good) and not has(rt, bad, unless=good):
            cb = has(ct_, bad)
            if cb is not None and has(ct_, good, loose=True) is None:
                return f"contradicting treatment: '{cb.text}' where the reference calls for {lex.concept('treatment', good).label}"
    return None


def _distinct_ids(ms: list[Mention]) -> list[Mention]:
    """The first mention of each set of ids (a long answer repeats its treatments)."""
    seen: set[frozenset[str]] = set()
    out = []
    for m in ms:
        if m.ids not in seen:
            seen.add(m.ids)
            out.append(m)
    return out


def _dangerous(cand: Analysis, lex) -> str | None:
    toks = cand.toks
    for i in range(len(toks)):
        k, payloads = lex.dangerous.longest(toks, i)
        if not k:
            continue
        if any(cand.negated[x] for x in range(i, i + k)):
            continue
        before = {t.norm for t in toks[max(0, i - 3) : i]}
        if before & {
            "not",
            "never",
            "avoid",
            "no",
            "do",
            "don",
            "勿",
            "不要",
            "避免",
            "别",
            "切勿",
            "禁止",
            "不",
            "不可",
        }:
            continue
        return str(payloads[0][1])
    return None


def _drop_spans(a: Analysis, spans: list[tuple[int, int]]) -> Analysis:
    """The analysis without what lies inside refusal clauses (``spans``: sorted character spans)."""
    span_starts = [s for s, _ in spans]

    def inside(pos: int) -> bool:
        k = bisect_right(span_starts, pos) - 1
        return k >= 0 and pos < spans[k][1]

    def at(m: Mention) -> int:
        return a.toks[m.start].start if m.start < len(a.toks) else 0

    kept_words = {t.norm for t in a.toks if not inside(t.start)}
    return derived(
        a,
        [m for m in a.mentions if not inside(at(m))],
        numbers=[m for m in a.numbers if not inside(at(m))],
        residual=tuple(w for w in a.residual if w in kept_words),
    )


def _with_numbers(a: Analysis) -> Analysis:
    """For "how many" questions a bare number is a count ("3", "three", 6个)."""
    if not a.numbers:
        return a
    mentions = sorted([*a.mentions, *a.numbers], key=by_position)
    return derived(a, mentions, numbers=[])


def _negated_copy(cand: Analysis, ref: Analysis) -> str | None:
    """The reference's words copied into the answer under a negation ("not <reference>", 不是<reference>,
    "<reference>? No."), if any: the answer rejects the reference however many of its words it repeats.
    Linear: one search of the answer's words (joined once per answer) per reference."""
    words = [t.norm for t in ref.toks if t.kind != "p"]
    if len(words) < 2:
        return None  # one word is one value: its negation is read on the value itself
    index = cand.memo.get("words")
    if index is None:
        positions = [i for i, t in enumerate(cand.toks) if t.kind != "p"]
        offsets, pos = [], 1
        for i in positions:
            offsets.append(pos)
            pos += len(cand.toks[i].norm) + 1
        joined = "\x1f" + "\x1f".join(cand.toks[i].norm for i in positions) + "\x1f"
        index = cand.memo["words"] = (joined, offsets, positions)
    joined, offsets, positions = index
    needle = "\x1f" + "\x1f".join(words) + "\x1f"
    at = joined.find(needle)
    while at >= 0:
        w = bisect_right(offsets, at + 1) - 1
        first = positions[w]
        before = positions[w - 1] if w > 0 else first  # the word before the copy, and the gap after it
        if cand.negated[first] or any(_is_pre(cand, i) for i in range(before, first)):
            return " ".join(words)
        at = joined.find(needle, at + 1)
    return None


def _is_pre(a: Analysis, i: int) -> bool:
    """True when token ``i`` ends a forward negation cue ("Not <...>", "anything but <...>")."""
    ends = a.memo.get("pre_ends")
    if ends is None:
        ends = a.memo["pre_ends"] = {c.end - 1 for c in a.cues if "pre" in c.kinds and "none" not in c.kinds}
    return i in ends


def _has_assertions(a: Analysis) -> bool:
    return any(m.cat in _CONTENT_CATS for m in a.mentions) or bool(a.residual)


# ---------------------------------------------------------------------------- judgment


def _infer_polarity(a: Analysis, ctx: _Ctx) -> int:
    """Polarity from the question's own terms: asserted (+1), denied or contradicted (-1), or 0."""
    q = ctx.question
    if q is None:
        return 0
    preds = [Part(m.cat, m, required=True) for m in _asked(q, ctx.cmp)]
    if not preds:
        return 0
    votes = set()
    for p in preds:
        ctx.cmp.score_part(p, a, [p])
        if p.status == "matched":
            votes.add(1)
        elif p.status == "contradicted":
            votes.add(-1)
    if len(votes) == 1:
        return votes.pop()
    return 0


def _asked(q: Analysis, cmp: Comparer) -> list[Mention]:
    """The predicate a yes/no question asks about (computed once per question): its last term -
    "Is the border of the white plaque clear?", 斑块边界是否清楚 - the subject's descriptors before
    it are context, and echoing or contradicting them answers nothing. None for a choice question
    ("benign or malignant?") or a question with nothing to affirm."""
    hit = q.memo.get("asked")
    if hit is None:
        terms = [
            m
            for m in q.mentions
            if m.cat in PART_CATS
            and not m.neg
            and m.cat not in ("relation",)
            and not (
                m.cat in ("site", "disease")
                and all((c := cmp.lex.get(m.cat, i)) is not None and c.generic for i in m.ids)
            )
        ]
        if not terms or options_in(q, cmp):
            hit = []
        else:
            last = max(m.start for m in terms)
            hit = [m for m in terms if m.start == last]
        q.memo["asked"] = hit
    return hit


def _judgment(ref: Analysis, rp: int, cand: Analysis, ctx: _Ctx) -> Outcome:
    params = ctx.ct.params
    cp, _ = _polarity(cand)
    if cp == 0 and ctx.case.question:
        cp = echo_polarity(normalize(ctx.case.question), cand.norm)
    inferred = False
    word = {1: "yes", -1: "no"}
    if cp == 0:
        alts, _listed = disease_answer(cand, ctx.cmp.lex)
        if len(alts) < 2 and not any("prim" in c.kinds for c in cand.cues):
            # "可能是A，也可能是B，或者C": with no primary answer, a differential is a list of equals
            offered = [m for m in cand.by_cat.get("disease", []) if not m.neg]
            alts = alts if len(offered) < 3 else distinct_mentions(ctx.cmp.lex, "disease", offered)
            alts = alts if len(alts) >= 3 else []
        if len(alts) >= 2:  # "could be A, could be B" to "is this A?" commits to neither yes nor no
            names = ", ".join(f"'{m.text}'" for m in alts[:4])
            return Outcome(0.0, f"no commitment: {len(alts)} alternatives offered ({names}) instead of a yes/no")
    built = build_parts(ref, ctx.question, ALL, ctx.cmp)
    parts = [p for p in built if p.mention is not None and not p.given]
    if not parts and ctx.asks_why:
        # the reasoning restates the question's terms ("exclamation-mark hairs are characteristic of
        # alopecia areata"): the answer must restate them; failing any concept, the reference's words
        parts = [p for p in built if p.mention is not None] or [p for p in built if p.mention is None]
    for p in parts:
        p.required = True
        ctx.cmp.score_part(p, cand, parts)
    reasons = [p for p in parts if p.mention is not None or p.words]
    bad = [p for p in reasons if p.status == "contradicted"]
    # a reason in plain words is stated when most of its words are (paraphrase is common)
    got = [p for p in reasons if p.credit >= 1.0 or (p.mention is None and p.credit >= params.partial_threshold)]
    complete = bool(reasons) and (
        len(got) == len(reasons) or (len(reasons) >= 2 and len(got) / len(reasons) >= params.partial_threshold)
    )
    if cp == 0 and reasons and not bad and complete:
        cp = rp  # it states what the reference asserts: the yes/no is implied
        inferred = True
    if cp == 0:
        cp = _infer_polarity(cand, ctx)
        inferred = cp != 0
    if cp == 0:
        if reasons and not bad and got:
            return Outcome(
                params.judgment_without_reason_credit,
                f"no explicit yes/no, but states part of the reference's content ({_notes(got)})",
            )
        else:
            return Outcome(0.0, f"no clear yes/no answer (reference: {word[rp]})")
    if cp != rp:
        return Outcome(
            0.0,
            f"opposite judgment: answers {word[cp]}, reference {word[rp]}"
            + (" (read from what it asserts)" if inferred else ""),
        )
    head = f"right judgment ({word[rp]})"
    if not reasons:
        return Outcome(1.0, head)
    if bad:
        return Outcome(
            params.judgment_without_reason_credit, f"{head} but its reasoning contradicts the reference: {bad[0].note}"
        )
    if ctx.asks_why and not complete:
        missing = [p.label for p in reasons if p.credit < 1.0]
        return Outcome(
            params.judgment_without_reason_credit,
            f"{head} but the reasoning asked for is missing or incomplete ({', '.join(missing[:3])})",
        )
    return Outcome(1.0, head + (f" with the reference's reasoning ({_notes(got)})" if got else ""))


def _notes(parts: list[Part]) -> str:
    return "; ".join(p.note for p in parts[:3] if p.note)


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


__all__ = ["ENGINE", "ENGINE_VERSION", "Outcome", "focus_of", "judge_case"]
