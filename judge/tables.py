"""The per-model accuracy table a paper prints: AVG, the 7 abilities, and question types.

Scores are percentages of the mean item score (MCQ partial credit and 0.5 critic scores
count as they are). AVG is the mean over all scored items of a model. Unscored items are
never counted as 0: they are left out of every mean and shown in their own column, so a
table with unscored items says so.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from judge.models import ABILITIES, ABILITY_LABELS, QUESTION_TYPES, Verdict

QTYPE_LABELS = {"mcq": "MCQ", "judgment": "Judgment", "fill_blank": "Fill-blank", "short_answer": "Short ans."}


class Cell(BaseModel):
    """One mean with its counts."""

    model_config = ConfigDict(extra="forbid")

    score: float | None = Field(description="Mean score x 100 over scored items; None when none.")
    n: int = Field(description="Items in this cell.")
    unscored: int = Field(description="Items left unscored (not in the mean).")


class ModelRow(BaseModel):
    """One model's row."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="Model name.")
    avg: Cell = Field(description="All items.")
    abilities: dict[str, Cell] = Field(description="Per ability.")
    question_types: dict[str, Cell] = Field(description="Per question type.")
    languages: dict[str, Cell] = Field(description="Per language.")
    unscored_reasons: dict[str, int] = Field(description="Unscored reason -> count.")


class ScoreTable(BaseModel):
    """The table for a whole run."""

    model_config = ConfigDict(extra="forbid")

    rows: list[ModelRow] = Field(description="One row per model, in input order.")
    provenance: dict[str, Any] = Field(default_factory=dict, description="Rubric, backend, run id, files.")


def _cell(scores: Sequence[float | None]) -> Cell:
    scored = [s for s in scores if s is not None]
    mean = 100.0 * sum(scored) / len(scored) if scored else None
    return Cell(score=round(mean, 2) if mean is not None else None, n=len(scores), unscored=len(scores) - len(scored))


def _reason_key(reason: str) -> str:
    """The head of a reason ("MCQ answer not decided (rules: ...)" -> "MCQ answer not decided")."""
    return re.split(r"[:;(]", reason, maxsplit=1)[0].strip()[:80] or "unscored"


def build_table(verdicts: Iterable[Verdict], provenance: dict[str, Any] | None = None) -> ScoreTable:
    """Summarise verdicts per model (models in order of first appearance)."""
    by_model: dict[str, list[Verdict]] = defaultdict(list)
    for v in verdicts:
        by_model[v.model].append(v)
    rows = []
    for model, vs in by_model.items():
        def group(attr: str, keys: Sequence[str], vs: list[Verdict] = vs) -> dict[str, Cell]:
            out = {}
            for key in keys:
                scores = [v.score for v in vs if getattr(v, attr) == key]
                if scores:
                    out[key] = _cell(scores)
            return out

        reasons: dict[str, int] = defaultdict(int)
        for v in vs:
            if v.score is None:
                reasons[_reason_key(v.unscored_reason or "unscored")] += 1
        rows.append(
            ModelRow(
                model=model,
                avg=_cell([v.score for v in vs]),
                abilities=group("ability", ABILITIES),
                question_types=group("question_type", QUESTION_TYPES),
                languages=group("language", ("en", "zh")),
                unscored_reasons=dict(reasons),
            )
        )
    return ScoreTable(rows=rows, provenance=provenance or {})


def _fmt(cell: Cell | None) -> str:
    if cell is None or cell.score is None:
        return "-"
    return f"{cell.score:.1f}"


def _grid(table: ScoreTable) -> tuple[list[list[str]], list[list[str]]]:
    main = [["Model", "AVG", *(ABILITY_LABELS[a] for a in ABILITIES), "N", "Unscored"]]
    types = [["Model", *(QTYPE_LABELS[q] for q in QUESTION_TYPES), "EN", "ZH"]]
    for r in table.rows:
        main.append(
            [r.model, _fmt(r.avg), *(_fmt(r.abilities.get(a)) for a in ABILITIES), str(r.avg.n), str(r.avg.unscored)]
        )
        types.append(
            [r.model, *(_fmt(r.question_types.get(q)) for q in QUESTION_TYPES),
             _fmt(r.languages.get("en")), _fmt(r.languages.get("zh"))]
        )
    return main, types


def _plain(grid: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in grid) for i in range(len(grid[0]))]
    lines = []
    for n, row in enumerate(grid):
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _md(grid: list[list[str]]) -> str:
    head, *rows = grid
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(":--" if i == 0 else "--:" for i in range(len(head))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _unscored_note(table: ScoreTable) -> str:
    notes = []
    for r in table.rows:
        if r.unscored_reasons:
            parts = ", ".join(f"{n} {reason}" for reason, n in sorted(r.unscored_reasons.items(), key=lambda x: -x[1]))
            notes.append(f"{r.model}: {r.avg.unscored} unscored ({parts}) - left out of the means, not counted as 0")
    return "\n".join(notes)


def render_text(table: ScoreTable) -> str:
    """Fixed-width text for the terminal."""
    main, types = _grid(table)
    parts = [_plain(main), "", "By question type and language:", _plain(types)]
    note = _unscored_note(table)
    if note:
        parts += ["", note]
    return "\n".join(parts)


def render_markdown(table: ScoreTable) -> str:
    """Markdown tables, with provenance."""
    main, types = _grid(table)
    prov = table.provenance
    parts = [
        "# Scores", "",
        f"Rubric `{prov.get('rubric', '?')}` (sha256 `{str(prov.get('rubric_sha', ''))[:12]}`), "
        f"backend `{prov.get('backend', '?')}`, run `{prov.get('run_id', '?')}`. "
        "Mean item score x 100; unscored items are excluded from the means and counted separately.",
        "", _md(main), "", "## By question type and language", "", _md(types),
    ]
    note = _unscored_note(table)
    if note:
        parts += ["", "## Unscored", "", *(f"- {line}" for line in note.splitlines())]
    return "\n".join(parts) + "\n"


def render_csv(table: ScoreTable) -> str:
    """One CSV row per model and cell group."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["model", "group", "key", "score", "n", "unscored"])
    for r in table.rows:
        w.writerow([r.model, "all", "AVG", r.avg.score, r.avg.n, r.avg.unscored])
        for group, cells in (("ability", r.abilities), ("question_type", r.question_types), ("language", r.languages)):
            for key, c in cells.items():
                w.writerow([r.model, group, key, c.score, c.n, c.unscored])
    return buf.getvalue()


def render_json(table: ScoreTable) -> str:
    """The whole table as JSON."""
    return json.dumps(table.model_dump(), indent=2, ensure_ascii=False) + "\n"
