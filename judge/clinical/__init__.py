"""The embedded clinical judge: lexicon, normalisation, tables, sizes, hedging and the rules.

Modules, one concern each: ``text`` (normalise, tokenise), ``lexicon`` (+ ``lexicon.yaml``),
``cues`` (negation and hedge words), ``sizes`` (millimetre ranges), ``tables`` (the rubric's
equivalence tables compiled), ``mentions`` (what a text asserts), ``reading`` (the candidate's
own words, the question as context), ``stance`` (values asked about, superseded or rejected),
``compare`` (reference parts and credits), ``polarity`` (yes/no), ``hedging`` (alternatives,
lists), ``screens`` (grader-directed text, refusals) and ``judge`` (the decision order).
"""

from judge.clinical.judge import ENGINE, ENGINE_VERSION, Outcome, judge_case

__all__ = ["ENGINE", "ENGINE_VERSION", "Outcome", "judge_case"]
