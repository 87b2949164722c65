"""Lesion Judge: judge calibration and critic-model service for clinical visual-QA benchmarks.

Importing :mod:`judge` never touches the network: litellm (imported only by the LLM backend)
is told to use its bundled cost map instead of fetching one, and to send no telemetry.
"""

import os as _os

_os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
_os.environ.setdefault("LITELLM_TELEMETRY", "False")

__version__ = "0.1.0"
