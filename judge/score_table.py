"""The per-model accuracy table a paper prints: AVG, the 7 abilities, and question types.

Scores are percentages of the mean item score (MCQ partial credit and 0.5 critic scores
count as they are). AVG is the mean over all scored items of a model.

A model's failure counts 0 in every mean: a missing prediction, an empty answer, a hedge, an
answer no rule can read (``docs/decisions/score_integrity.md``); each row shows its coverage
(items answered / items). Only a judge's failure is unscored: left out of the means, counted in
its own column, and the whole table is marked incomplete until a rerun resumes and fills it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from judge.models import ABILITIES, ABILITY_LABELS, NOT_ANSWERED, QUESTION_TYPES, Verdict

QTYPE_LABELS = {"mcq": "MCQ", "judgment": "Judgment", "fill_blank": "Fill-blank", "short_answer": "Short ans."}


class Cell(BaseModel):
    """One mean with its counts."""

    model_config = ConfigDict(extra="forbid")

    score: float | None = Field(description="Mean score x 100 over scored items; None when none.")
    n: int = Field(description="Items in this cell.")
    unscored: int = Field(description="Items the judge failed on (not in the mean; the table is incomplete).")
    answered: int = Field(default=0, description="Items the model answered (not missing, not empty).")


class ModelRow(BaseModel):
    """One model's row."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="Model name.")
    avg: Cell = Field(description="All items.")
    abilities: dict[str, Cell] = Field(description="Per ability.")
    question_types: dict[str, Cell] = Field(description="Per question type.")
    languages: dict[str, Cell] = Field(description="Per language.")
    unscored_reasons: dict[str, int] = Field(description="Why the judge failed -> count (unscored items).")
    non_answers: dict[str, int] = Field(
        default_factory=dict,
        description="Model non-answers scored 0 without a judge, by method (`missing`, `empty`, `over_limit`, ...).",
    )


class ScoreTable(BaseModel):
    """The table for a whole run."""

    model_config = ConfigDict(extra="forbid")

    rows: list[ModelRow] = Field(description="One row per model, in input order.")
    complete: bool = Field(default=True, description="False while any item is unscored (a judge failure).")
    unscored: int = Field(default=0, description="Unscored items over all rows; rerun to resume them.")
    provenance: dict[str, Any] = Field(default_factory=dict, description="Rubric, backend, run id, files.")


def _reason_key(reason: str) -> str:
    """The head of a reason ("MCQ answer not decided (rules: ...)" -> "MCQ answer not decided")."""
    return re.split(r"[:;(]", reason, maxsplit=1)[0].strip()[:80] or "unscored"


@dataclass
class _Tally:
    """Running counts of one cell."""

    total: float = 0.0
    n: int = 0
    scored: int = 0
    answered: int = 0

    def add(self, v: Verdict) -> None:
        self.n += 1
        self.answered += v.method not in NOT_ANSWERED
        if v.score is not None:
            self.total += v.score
            self.scored += 1

    def cell(self) -> Cell:
        mean = 100.0 * self.total / self.scored if self.scored else None
        return Cell(score=round(mean, 2) if mean is not None else None, n=self.n, unscored=self.n - self.scored,
                    answered=self.answered)


@dataclass
class _ModelTally:
    """Running counts of one model's row."""

    avg: _Tally = field(default_factory=_Tally)
    groups: dict[tuple[str, str], _Tally] = field(default_factory=lambda: defaultdict(_Tally))
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    non_answers: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, v: Verdict) -> None:
        self.avg.add(v)
        for attr in _GROUPS:
            key = getattr(v, attr)
            if key is not None:
                self.groups[(attr, key)].add(v)
        if v.score is None:
            self.reasons[_reason_key(v.unscored_reason or "unscored")] += 1
        elif v.rubric.startswith("non_answer/") or v.method in NOT_ANSWERED:
            self.non_answers[v.method] += 1

    def row(self, model: str) -> ModelRow:
        def group(attr: str, keys: Sequence[str]) -> dict[str, Cell]:
            return {k: self.groups[(attr, k)].cell() for k in keys if (attr, k) in self.groups}

        return ModelRow(
            model=model, avg=self.avg.cell(), abilities=group("ability", ABILITIES),
            question_types=group("question_type", QUESTION_TYPES), languages=group("language", ("en", "zh")),
            unscored_reasons=dict(self.reasons), non_answers=dict(self.non_answers),
        )


_GROUPS = ("ability", "question_type", "language")


class TableBuilder:
    """The table built as verdicts come, a chunk at a time: memory grows with models and cells, not verdicts."""

    def __init__(self) -> None:
        self._models: dict[str, _ModelTally] = {}

    def add(self, verdicts: Iterable[Verdict]) -> None:
        """Count ``verdicts`` (models keep the order of their first verdict)."""
        for v in verdicts:
            tally = self._models.get(v.model)
            if tally is None:
                tally = self._models[v.model] = _ModelTally()
            tally.add(v)

    def table(self, provenance: dict[str, Any] | None = None) -> ScoreTable:
        """The table of everything added so far."""
        rows = [t.row(model) for model, t in self._models.items()]
        unscored = sum(r.avg.unscored for r in rows)
        return ScoreTable(rows=rows, complete=unscored == 0, unscored=unscored, provenance=provenance or {})


def build_table(verdicts: Iterable[Verdict], provenance: dict[str, Any] | None = None) -> ScoreTable:
    """Summarise verdicts per model (models in order of first appearance)."""
    builder = TableBuilder()
    builder.add(verdicts)
    return builder.table(provenance)


def _fmt(cell: Cell | None) -> str:
    if cell is None or cell.score is None:
        return "-"
    return f"{cell.score:.1f}"


def _grid(table: ScoreTable) -> tuple[list[list[str]], list[list[str]]]:
    main = [["Model", "AVG", *(ABILITY_LABELS[a] for a in ABILITIES), "Answered", "Unscored"]]
    types = [["Model", *(QTYPE_LABELS[q] for q in QUESTION_TYPES), "EN", "ZH"]]
    for r in table.rows:
        main.append(
            [r.model, _fmt(r.avg), *(_fmt(r.abilities.get(a)) for a in ABILITIES), f"{r.avg.answered}/{r.avg.n}",
             str(r.avg.unscored)]
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


NON_ANSWER_LABELS = {
    "missing": "no prediction", "empty": "empty answer", "over_limit": "answer over the length limit",
    "mcq:unreadable": "MCQ answer naming no readable option",
}


def _counts(counts: dict[str, int], labels: dict[str, str] | None = None) -> str:
    ordered = sorted(counts.items(), key=lambda x: (-x[1], x[0]))
    return ", ".join(f"{n} {(labels or {}).get(key, key)}" for key, n in ordered)


def _non_answer_note(table: ScoreTable) -> str:
    """Per model: the non-answers counted as 0 without a judge."""
    notes = []
    for r in table.rows:
        if r.non_answers:
            total = sum(r.non_answers.values())
            notes.append(f"{r.model}: {total} counted as 0 ({_counts(r.non_answers, NON_ANSWER_LABELS)})")
    return "\n".join(notes)


def _unscored_note(table: ScoreTable) -> str:
    """The incompleteness warning: judge failures, per model, and how to resume."""
    if table.complete:
        return ""
    notes = [
        f"INCOMPLETE: {table.unscored} answers unscored because the judge failed on them; they are left out of "
        "the means. Rerun the same command to resume: finished judgments come from the cache."
    ]
    for r in table.rows:
        if r.unscored_reasons:
            notes.append(f"{r.model}: {r.avg.unscored} unscored ({_counts(r.unscored_reasons)})")
    return "\n".join(notes)


def render_text(table: ScoreTable) -> str:
    """Fixed-width text for the terminal."""
    main, types = _grid(table)
    parts = [_plain(main), "", "By question type and language:", _plain(types)]
    for note in (_non_answer_note(table), _unscored_note(table)):
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
        "Mean item score x 100; a model's non-answers (missing, empty, hedged, unreadable) count 0; "
        "items the judge failed on are unscored, excluded from the means and counted separately.",
        "", _md(main), "", "## By question type and language", "", _md(types),
    ]
    non_answers = _non_answer_note(table)
    if non_answers:
        parts += ["", "## Counted as 0", "", *(f"- {line}" for line in non_answers.splitlines())]
    note = _unscored_note(table)
    if note:
        head, *rest = note.splitlines()
        parts += ["", "## Unscored", "", f"**{head}**", "", *(f"- {line}" for line in rest)]
    return "\n".join(parts) + "\n"


def render_csv(table: ScoreTable) -> str:
    """One CSV row per model and cell group."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["model", "group", "key", "score", "n", "answered", "unscored"])
    for r in table.rows:
        w.writerow([r.model, "all", "AVG", r.avg.score, r.avg.n, r.avg.answered, r.avg.unscored])
        for group, cells in (("ability", r.abilities), ("question_type", r.question_types), ("language", r.languages)):
            for key, c in cells.items():
                w.writerow([r.model, group, key, c.score, c.n, c.answered, c.unscored])
    return buf.getvalue()


def render_json(table: ScoreTable) -> str:
    """The whole table as JSON."""
    return json.dumps(table.model_dump(), indent=2, ensure_ascii=False) + "\n"
