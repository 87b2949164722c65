"""The embedded clinical judge: one case, one rubric, one score with its reason (pure, deterministic).

Decision order (the rating guide's):

1. empty answer -> 0; text addressed to the grader -> 0; dangerous advice -> 0;
2. refusal with nothing committed outside the refusal -> 0;
3. judgment questions: opposite yes/no -> 0; both yes and no -> 0; right yes/no -> 1, or
   ``judgment_without_reason_credit`` when the question asks why and the reasoning is missing
   or contradicts the reference's;
4. other questions: the reference's parts (``compare.py``) against what the answer asserts -
   a contradicted required part -> 0 (so does asserting what the reference denies, "scaly" for
   "without scale"); all required parts -> 1; some right and none wrong -> 0.5 (also when the
   credits add up to ``partial_threshold``); a contradicted context part (one the question does not
   ask for, e.g. the lesion type in a colour question) caps at 0.5 - the main element is right;
   a missing side caps at 0.5 (a coarser answer), a wrong side is 0;
5. hedges: more than ``hedge_max_alternatives`` alternatives for the asked thing -> 0; two
   alternatives as equals, one of them not right -> at most 0.5;
6. any one reference suffices: the best score over the references.

A fill-in-the-blank question is read with the blank filled ("皮损边界____" + "不清" is 边界不清),
and so is a short candidate. Treatment references also carry conflicts (``lexicon.yaml``:
steroid alone where an antifungal is called for, topical-only where oral therapy is, reassurance
where a biopsy is) that score 0 like any contradiction.

Usage::

    outcome = judge_case(case, rubric)
    outcome.score, outcome.rationale
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from judge.clinical.compare import FOCUS, PART_CATS, Comparer, Part, build_parts, options_in
from judge.clinical.hedging import disease_answer, distinct_mentions, or_alternatives
from judge.clinical.lexicon import get_lexicon
from judge.clinical.mentions import Analysis, Mention, analyze
from judge.clinical.polarity import asked_predicate, echo_polarity, explicit_polarity, withdrawn_commitment
from judge.clinical.screens import addresses_grader, refusal_spans
from judge.clinical.tables import Compiled, compiled
from judge.clinical.text import has_content, normalize
from judge.models import Case
from judge.rubrics import Rubric

ENGINE = "clinical-local"
ENGINE_VERSION = "1.4.0"
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
_BLANK = re.compile(r"_{2,}|＿{2,}|\(\s*\)|（\s*）|\[\s*\]|【\s*】|\[blank\]|\{blank\}")
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


@lru_cache(maxsize=32768)
def _analyze_cached(text: str, ct_key: int) -> Analysis:
    return analyze(text, _CT_BY_KEY[ct_key])


_CT_BY_KEY: dict[int, Compiled] = {}


def _analysis(text: str, ct: Compiled) -> Analysis:
    """Analyses of references and questions repeat across candidates: cache them per compiled rubric."""
    key = id(ct)
    known = _CT_BY_KEY.get(key)
    if known is not ct:
        if known is not None:  # an old rubric's id reused: drop its analyses
            _analyze_cached.cache_clear()
        _CT_BY_KEY[key] = ct
    return _analyze_cached(text, key)


def judge_case(case: Case, rubric: Rubric) -> Outcome:
    """Score ``case`` under ``rubric`` (never raises on odd text; see the module docstring)."""
    ct = compiled(rubric)
    lex = get_lexicon()
    cmp = Comparer(ct, lex)
    candidate = case.candidate or ""
    if not has_content(candidate):
        return Outcome(0.0, "empty answer: nothing to score")
    norm = normalize(candidate)
    grader = addresses_grader(norm)
    if grader:
        return Outcome(0.0, f"answer addresses the grader ('{_short(grader)}'): scored 0 whatever else it says")
    refs = [r for r in case.references if r and r.strip()]
    if not refs:
        return Outcome(None, "no reference answer to compare with", unscored="no reference answer to compare with")
    blank = _BLANK.search(case.question or "") if case.question_type == "fill_blank" else None
    if blank is not None:  # fill the blank: "皮损边界____" + "不清" reads as 边界不清
        refs = [_fill(case.question, blank, r) for r in refs]
        if _short_answer_text(candidate):
            candidate = _fill(case.question, blank, candidate)
            norm = normalize(candidate)
    cand = analyze(candidate, ct)
    danger = _dangerous(cand, lex)
    if danger:
        return Outcome(0.0, f"dangerous advice: '{danger}'")
    asked = asked_predicate(normalize(case.question)) if case.question and case.question_type == "judgment" else ""
    spans = refusal_spans(norm, asked)
    refused = bool(spans)
    if refused:
        cand = _drop_spans(cand, spans)
    question_text = _BLANK.sub(" ", case.question or "") if blank is not None else (case.question or "")
    question = _analysis(question_text, ct) if question_text.strip() else None
    focus = focus_of(case)
    counts = "quantity" in focus and case.ability is not None
    if counts:
        cand = _with_numbers(cand)
    cmp.set_context(question, cand)
    ctx = _Ctx(ct, cmp, case, focus, question, _asks_why(case.question or ""))

    judgment = case.question_type == "judgment" or any(_polarity(_analysis(r, ct))[0] for r in refs)
    if judgment:
        sign, both = explicit_polarity(cand)
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
    refs = _with_gloss_variants(refs)
    for ref_text in refs:
        ref = _analysis(ref_text, ct)
        if counts:
            ref = _with_numbers(ref)
        out = _score_reference(ref, ref_text, cand, ctx, judgment)
        if shown:
            out.rationale = f"vs '{_short(ref_text, 40)}': {out.rationale}"
        if best is None or (out.score or 0.0) > (best.score or 0.0):
            best = out
        if (best.score or 0.0) >= 1.0:
            break
    assert best is not None
    if best.score == 0.0 and refused:
        best.rationale = "refusal / non-answer; " + best.rationale
    return best


# ---------------------------------------------------------------------------- one reference

_GLOSS = re.compile(r"\s*[(（]([^()（）]{1,40})[)）]\s*$")


def _with_gloss_variants(refs: list[str]) -> list[str]:
    """A short reference ending in a parenthetical gloss ("serpiginous (wavy linear)", "symmetric
    (both legs)") is met by either wording: the gloss is an alternative, not an extra required part."""
    out = list(refs)
    for r in refs:
        m = _GLOSS.search(r)
        if m is None:
            continue
        head = r[: m.start()].strip()
        if head and len(head.split()) <= 3 and len(head) <= 24:
            out += [v for v in (head, m.group(1).strip()) if v and v not in out]
    return out


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
    cmp.exempt = {id(m) for m in answer_diseases} if len(answer_diseases) >= 2 else set()
    for cat in {p.cat for p in parts if p.required and p.cat != "disease"}:
        alts = or_alternatives(view, cat, lex)
        if len(alts) >= 2:
            cmp.exempt |= {id(m) for m in view.by_cat.get(cat, []) if any(m.start == a.start for a in alts)}
    for p in parts:
        cmp.score_part(p, view, parts)
    cmp.exempt = set()
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
    ids = {id(m) for m in keep}
    related_keep = keep
    by_cat = dict(cand.by_cat)
    out = []
    for m in cand.by_cat.get("disease", []):
        if m.neg or id(m) in ids or any(k.ids & m.ids for k in related_keep):
            out.append(m)
        else:
            out.append(Mention(m.cat, m.ids, m.start, m.end, m.text, neg=m.neg, diff=True))
    by_cat["disease"] = out
    return Analysis(
        text=cand.text,
        norm=cand.norm,
        toks=cand.toks,
        mentions=cand.mentions,
        cues=cand.cues,
        numbers=cand.numbers,
        residual=cand.residual,
        covered=cand.covered,
        negated=cand.negated,
        by_cat=by_cat,
    )


def _treatment_conflict(ref: Analysis, cand: Analysis, lex) -> str | None:
    rt = [m for m in ref.by_cat.get("treatment", []) if not m.neg]
    ct_ = [m for m in cand.by_cat.get("treatment", []) if not m.neg]
    if not rt or not ct_:
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
    """The analysis without what lies inside refusal clauses."""

    def inside(m: Mention) -> bool:
        pos = a.toks[m.start].start if m.start < len(a.toks) else 0
        return any(s <= pos < e for s, e in spans)

    mentions = [m for m in a.mentions if not inside(m)]
    by_cat: dict[str, list[Mention]] = {}
    for m in mentions:
        by_cat.setdefault(m.cat, []).append(m)
    kept_toks = {i for i, t in enumerate(a.toks) if not any(s <= t.start < e for s, e in spans)}
    residual = tuple(w for w in a.residual if any(a.toks[i].norm == w for i in kept_toks))
    return Analysis(
        text=a.text,
        norm=a.norm,
        toks=a.toks,
        mentions=mentions,
        cues=a.cues,
        numbers=[m for m in a.numbers if not inside(m)],
        residual=residual,
        covered=a.covered,
        negated=a.negated,
        by_cat=by_cat,
    )


def _fill(question: str, blank: re.Match[str], answer: str) -> str:
    return question[: blank.start()] + " " + answer.strip() + " " + question[blank.end() :]


def _short_answer_text(text: str) -> bool:
    """A blank-filling answer (a few words), not a sentence of its own."""
    from judge.clinical.text import tokenize

    return sum(1 for t in tokenize(text) if t.kind != "p") <= 12


def _with_numbers(a: Analysis) -> Analysis:
    """For "how many" questions a bare number is a count ("3", "three", 6个)."""
    if not a.numbers:
        return a
    mentions = sorted([*a.mentions, *a.numbers], key=lambda m: (m.start, m.end))
    by_cat: dict[str, list[Mention]] = {}
    for m in mentions:
        by_cat.setdefault(m.cat, []).append(m)
    return Analysis(
        text=a.text,
        norm=a.norm,
        toks=a.toks,
        mentions=mentions,
        cues=a.cues,
        numbers=[],
        residual=a.residual,
        covered=a.covered,
        negated=a.negated,
        by_cat=by_cat,
    )


def _has_assertions(a: Analysis) -> bool:
    return any(m.cat in _CONTENT_CATS for m in a.mentions) or bool(a.residual)


# ---------------------------------------------------------------------------- judgment


def _infer_polarity(a: Analysis, ctx: _Ctx) -> int:
    """Polarity from the question's own terms: asserted (+1), denied or contradicted (-1), or 0."""
    q = ctx.question
    if q is None:
        return 0
    preds = [
        Part(m.cat, m, required=True)
        for m in q.mentions
        if m.cat in PART_CATS
        and not m.neg
        and m.cat not in ("relation",)
        and not (
            m.cat in ("site", "disease")
            and all((c := ctx.cmp.lex.get(m.cat, i)) is not None and c.generic for i in m.ids)
        )
    ]
    if not preds or options_in(q, ctx.cmp):
        return 0  # nothing to affirm, or a choice question ("benign or malignant?") rather than yes/no
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


def _judgment(ref: Analysis, rp: int, cand: Analysis, ctx: _Ctx) -> Outcome:
    params = ctx.ct.params
    cp, _ = explicit_polarity(cand)
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
