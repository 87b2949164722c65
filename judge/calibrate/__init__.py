"""Calibrating a judge against a human-rated gold set (``judge calibrate``).

* :mod:`judge.calibrate.split` - seeded, stratified train / dev / held-out splits;
* :mod:`judge.calibrate.measure` - the ordinal objective and the reported alpha with its CI;
* :mod:`judge.calibrate.local_fit` - the embedded judge's thresholds, credits and table overrides;
* :mod:`judge.calibrate.optimize` - an LLM judge's instructions and demos with DSPy (the only
  module that imports dspy, and only when an LLM calibration runs);
* :mod:`judge.calibrate.run` - the orchestration: split, optimize, measure, write a draft rubric.

Importing this package imports neither dspy nor litellm.
"""
