"""What the API contract test knows beyond the OpenAPI document, in one place (not a test module).

Imported by ``tests/test_api_contract.py`` for its in-process runs, and loaded by Schemathesis's
command line (``hooks`` in :func:`config_toml`) for the run against a real ``judge serve``, so
both runs fuzz with the same seed, limits, checks, hook and custom check.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import schemathesis

from judge.limits import MAX_REFERENCE_CHARS

HOOKS_FILE = Path(__file__).resolve()
SEED = 20260518
EXAMPLES = 20
"""Fuzzing examples per operation (the examples and coverage phases add their own cases)."""
POSITIVE_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
"""Schemathesis's default for ``positive_data_acceptance``."""
NEGATIVE_STATUSES = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx"]
"""Schemathesis's default for ``negative_data_rejection``."""


def config_toml(key: str | None, *, hooks: bool = False) -> str:
    """The Schemathesis configuration of every contract run (``hooks``: load this file's hook and check,
    for the command line; in process, importing this module registers them)."""
    auth = f'\n[auth.openapi.HTTPBearer]\nbearer = "{key}"\n' if key else ""
    load = f"hooks = {json.dumps(str(HOOKS_FILE))}\n" if hooks else ""
    return f"""{load}
seed = {SEED}
suppress-health-check = ["too_slow"]

[generation]
max-examples = {EXAMPLES}
database = "none"

[checks.negative_data_rejection]
expected-statuses = {json.dumps([*NEGATIVE_STATUSES, "413"])}
{auth}
[[operations]]
include-name = "POST /jobs"
checks.positive_data_acceptance.expected-statuses = {json.dumps([*POSITIVE_STATUSES, "422"])}
"""


# ------------------------------------------------------------------- what JSON Schema cannot say


def _fix_item(item: Any) -> None:
    if not isinstance(item, dict):
        return
    options, answer = item.get("options"), item.get("answer")
    if isinstance(options, dict) and options and answer is not None:
        letters = answer if isinstance(answer, list) else re.findall(r"[A-Z]", str(answer))
        kept = [x for x in letters if x in options] or [min(options)]
        item["answer"] = kept if isinstance(answer, list) else ",".join(kept)
    reference = item.get("reference")
    if isinstance(reference, list):
        while len(reference) > 1 and sum(len(r.strip()) for r in reference) > MAX_REFERENCE_CHARS:
            reference.pop()


def obey_cross_field_rules(body: Any) -> Any:
    """A ``POST /score`` body made to obey the three rules its document states but JSON Schema cannot:
    references together at most MAX_REFERENCE_CHARS, MCQ answers naming only option letters, and
    ids unique within a batch. Everything else about the body is left as generated."""
    if not isinstance(body, dict):
        return body
    items = body.get("items")
    if isinstance(items, list):
        seen: set[Any] = set()
        for n, item in enumerate(items):
            _fix_item(item)
            if isinstance(item, dict) and item.get("id") is not None:
                if item["id"] in seen:
                    item["id"] = f"{str(item['id'])[:200]}#{n}"
                seen.add(item["id"])
    else:
        _fix_item(body)
    return body


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    """Positive ``POST /score`` cases obey the rules stated beyond the schema (negative ones are left alone)."""
    meta = case.meta
    if case.operation.label == "POST /score" and meta is not None and meta.generation.mode.is_positive:
        case.body = obey_cross_field_rules(case.body)
    return case


@schemathesis.check
def job_files_only(ctx: Any, response: Any, case: Any) -> bool | None:
    """``POST /jobs`` refuses schema-valid data with 422 only for a file problem (``name:line: problem``,
    no field listed in ``errors``), never for a field of the request."""
    meta = case.meta
    if case.operation.label != "POST /jobs" or meta is None or not meta.generation.mode.is_positive:
        return None
    if response.status_code != 422:
        return None
    body = json.loads(response.content)
    assert not body.get("errors"), f"schema-valid job request refused for its fields: {body['detail']}"
    return None
