"""Render an :class:`~judge.agreement.AgreementReport` as text, Markdown, JSON or one HTML file.

The text, Markdown and HTML renderers share one list of tables (:func:`report_tables`), so they
always show the same figures; JSON is the full report, every figure. The HTML file is
self-contained: tables, confusion-matrix heatmaps and per-slice alpha bars with CI whiskers drawn
with matplotlib (Agg, imported only when HTML is rendered) and embedded as base64 PNG, and the
provenance (gold file and sha256, rubric shas, backends, date).

:func:`write_disagreements` writes a CSV of every candidate where one judge and the gold
consensus differ, or the judge left it unscored, largest gaps first.

Usage::

    from judge.report import render_html, render_text, write_disagreements

    print(render_text(report))
    Path("report.html").write_text(render_html(report), encoding="utf-8")
    write_disagreements("disagreements.csv", gold, verdicts)
"""

from __future__ import annotations

import base64
import csv
import html
import importlib.util
import io
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judge.agreement import (
    MISSING_VERDICT,
    AgreementReport,
    Interval,
    JudgedScore,
    JudgeReport,
    MetricSet,
    SliceReport,
    align_verdicts,
    consensus,
)
from judge.models import ABILITY_LABELS, GoldRating

DISAGREEMENT_COLUMNS = (
    "id",
    "ability",
    "question_type",
    "attribute",
    "language",
    "question",
    "reference",
    "candidate",
    "gold_ratings",
    "gold_consensus",
    "judge_score",
    "gap",
    "rationale",
    "unscored_reason",
)
_DASH = "—"


@dataclass
class Table:
    """A titled table of already formatted cells, shared by the text, Markdown and HTML views."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""
    key: str = field(default="")


# --------------------------------------------------------------------------- formatting


def _num(value: float | None, digits: int = 3, signed: bool = False) -> str:
    if value is None:
        return _DASH
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _ci(value: float | None, ci: Interval | None, digits: int = 3, signed: bool = False) -> str:
    text = _num(value, digits, signed)
    if value is None or ci is None:
        return text
    return f"{text} [{_num(ci.low, digits, signed)}, {_num(ci.high, digits, signed)}]"


def _pct(value: float | None) -> str:
    return _DASH if value is None else f"{100 * value:.1f} %"


def _slice_label(dimension: str, value: str) -> str:
    return ABILITY_LABELS.get(value, value) if dimension == "ability" else value


def _headline_row(label: str, m: MetricSet) -> list[str]:
    return [
        label,
        str(m.n),
        str(m.n_scored),
        f"{m.n_unscored} ({_pct(m.unscored_share)})",
        _ci(m.alpha_ordinal, m.ci.get("alpha_ordinal")),
        _ci(m.exact_agreement, m.ci.get("exact_agreement")),
        _ci(m.mean_abs_diff, m.ci.get("mean_abs_diff")),
        _ci(m.bias, m.ci.get("bias"), signed=True),
    ]


def _coefficient_row(label: str, m: MetricSet) -> list[str]:
    return [label] + [_ci(getattr(m, name), m.ci.get(name)) for name in _COEFFICIENTS]


_HEADLINE = ["judge", "n", "scored", "unscored", "α ordinal", "exact", "mean |diff|", "bias"]
_COEFFICIENTS = ("alpha_ordinal", "alpha_interval", "alpha_nominal", "kappa", "kappa_linear", "kappa_quadratic")
_COEFFICIENT_HEADERS = ["judge", "α ordinal", "α interval", "α nominal", "κ", "κ linear", "κ quadratic"]


def report_tables(report: AgreementReport) -> list[Table]:
    """Every table of the report, formatted, in reading order."""
    tables = [_headline_table(report), _coefficient_table(report)]
    for extra in (_inter_rater_table(report), _binary_table(report), _vs_raters_table(report),
                  _comparison_table(report)):
        if extra is not None:
            tables.append(extra)
    for j in report.judges:
        tables += _slice_tables(j)
        if j.unscored_reasons:
            tables.append(Table(
                f"{j.label} · unscored verdicts", ["reason", "count"],
                [[reason, str(count)] for reason, count in j.unscored_reasons.items()], key=f"unscored:{j.label}",
            ))
    return tables


def _headline_table(report: AgreementReport) -> Table:
    return Table(
        "Headline: judge vs gold consensus", _HEADLINE, [_headline_row(j.label, j.overall) for j in report.judges],
        note="95 % bootstrap CIs in brackets; bias < 0 = judge stricter than the humans.", key="headline",
    )


def _coefficient_table(report: AgreementReport) -> Table:
    return Table(
        "Agreement coefficients: judge vs gold consensus", _COEFFICIENT_HEADERS,
        [_coefficient_row(j.label, j.overall) for j in report.judges],
        note="Krippendorff's α (judge and consensus as two coders) and Cohen's κ over 0 / 0.5 / 1.",
        key="coefficients",
    )


def _inter_rater_table(report: AgreementReport) -> Table | None:
    irr = report.inter_rater
    if irr is None:
        return None
    return Table(
        "Human raters among themselves (the ceiling)",
        ["raters", "units rated ≥ 2×", "α ordinal", "α interval", "α nominal"],
        [[", ".join(irr.raters), str(irr.n_units), _ci(irr.alpha_ordinal, irr.ci.get("alpha_ordinal")),
          _num(irr.alpha_interval), _num(irr.alpha_nominal)]],
        key="inter_rater",
    )


def _binary_table(report: AgreementReport) -> Table | None:
    if not report.binary_gold:
        return None
    rows = [
        [j.label, str(b.n), str(b.n_tied), _ci(b.kappa_eq1, b.ci.get("kappa_eq1")),
         _ci(b.accuracy_eq1, b.ci.get("accuracy_eq1")), _ci(b.kappa_ge05, b.ci.get("kappa_ge05")),
         _ci(b.accuracy_ge05, b.ci.get("accuracy_ge05"))]
        for j in report.judges if (b := j.overall.binary) is not None
    ]
    return Table(
        "Binary gold (humans rate 0 / 1): where does the judge's 0.5 belong?",
        ["judge", "n", "tied (left out)", "κ judge = 1", "acc judge = 1", "κ judge ≥ 0.5", "acc judge ≥ 0.5"],
        rows, key="binary",
    )


def _vs_raters_table(report: AgreementReport) -> Table | None:
    rows = [
        [j.label, r.rater, str(r.n), _num(r.alpha_ordinal), _num(r.kappa_quadratic), _num(r.exact_agreement),
         _num(r.bias, signed=True)]
        for j in report.judges
        for r in j.vs_raters
    ]
    if not rows:
        return None
    return Table("Judge vs each rater", ["judge", "rater", "n", "α ordinal", "κ quadratic", "exact", "bias"], rows,
                 key="vs_raters")


def _comparison_table(report: AgreementReport) -> Table | None:
    if not report.comparisons:
        return None
    return Table(
        "Paired comparison with the first judge (same resamples)",
        ["baseline", "other", "n", "α baseline", "α other", "Δα", "P(Δα > 0)", "Δ exact"],
        [[c.baseline, c.other, str(c.n), _num(c.alpha_baseline), _num(c.alpha_other),
          _ci(c.alpha_diff, c.alpha_diff_ci, signed=True), _num(c.share_positive, 2),
          _ci(c.exact_diff, c.exact_diff_ci, signed=True)]
         for c in report.comparisons],
        key="comparisons",
    )


def _slice_tables(j: JudgeReport) -> list[Table]:
    """One table per slice dimension of one judge (with the raters' own alpha when they overlap)."""
    human = any(s.inter_rater is not None for s in j.slices)
    tables = []
    for dim in ("ability", "attribute", "question_type", "language"):
        rows = [_slice_row(dim, s, human) for s in j.slices if s.dimension == dim]
        if not rows:
            continue
        headers = [dim.replace("_", " "), "n", "scored", "unscored", "α ordinal", "κ quadratic", "exact"]
        headers += ["mean |diff|", "bias"] + (["human α"] if human else [])
        tables.append(Table(
            f"{j.label} · by {dim.replace('_', ' ')}", headers, rows,
            note="(small) = fewer than 30 scored; no CI below 5.", key=f"slices:{j.label}:{dim}",
        ))
    return tables


def _slice_row(dim: str, s: SliceReport, human: bool) -> list[str]:
    m = s.metrics
    row = [
        _slice_label(dim, s.value) + (" (small)" if m.small else ""), str(m.n), str(m.n_scored), str(m.n_unscored),
        _ci(m.alpha_ordinal, m.ci.get("alpha_ordinal")), _num(m.kappa_quadratic),
        _ci(m.exact_agreement, m.ci.get("exact_agreement")), _num(m.mean_abs_diff),
        _ci(m.bias, m.ci.get("bias"), signed=True),
    ]
    if human:
        row.append(_num(s.inter_rater.alpha_ordinal if s.inter_rater else None))
    return row


def _provenance_lines(report: AgreementReport) -> list[str]:
    lines = [
        f"gold: {report.gold_path} (sha256 {report.gold_sha256}), {report.n_gold} candidates, "
        f"raters: {', '.join(report.raters) or _DASH}",
        f"consensus: {report.consensus_rule}",
        f"bootstrap: {report.n_boot} resamples, seed {report.seed}; built {report.created}",
    ]
    for j in report.judges:
        details = ", ".join(f"{k}={_short(v)}" for k, v in j.provenance.items()) or "no provenance given"
        lines.append(f"judge {j.label}: {details}")
    return lines


def _short(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


# --------------------------------------------------------------------------- text, markdown, json


def render_tables_text(tables: Sequence[Table]) -> str:
    """Titled tables with aligned columns, each followed by its note and a blank line."""
    out: list[str] = []
    for t in tables:
        widths = [max(len(h), *(len(r[i]) for r in t.rows)) if t.rows else len(h) for i, h in enumerate(t.headers)]
        out.append(t.title)
        out.append("  ".join(h.ljust(w) for h, w in zip(t.headers, widths, strict=True)).rstrip())
        out.append("  ".join("-" * w for w in widths))
        out.extend("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in t.rows)
        if t.note:
            out.append(t.note)
        out.append("")
    return "\n".join(out) + "\n"


def render_text(report: AgreementReport) -> str:
    """A plain-text report with aligned columns, for the terminal."""
    return render_tables_text(report_tables(report)) + "\n".join(["Provenance", *_provenance_lines(report)]) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_tables_markdown(tables: Sequence[Table]) -> str:
    """Each table as a `##` section with a GitHub table and its note."""
    out: list[str] = []
    for t in tables:
        out.append(f"## {t.title}")
        out.append("")
        out.append("| " + " | ".join(_md_cell(h) for h in t.headers) + " |")
        out.append("|" + "|".join("---" for _ in t.headers) + "|")
        out.extend("| " + " | ".join(_md_cell(c) for c in r) + " |" for r in t.rows)
        if t.note:
            out.extend(["", f"_{t.note}_"])
        out.append("")
    return "\n".join(out) + "\n"


def render_markdown(report: AgreementReport) -> str:
    """A Markdown report (GitHub tables), e.g. for a pull request or docs page."""
    head = f"# Judge agreement: {report.gold_path}\n\n"
    provenance = "\n".join(["## Provenance", "", *(f"- {_md_cell(line)}" for line in _provenance_lines(report))])
    return head + render_tables_markdown(report_tables(report)) + provenance + "\n"


def render_json(report: AgreementReport) -> str:
    """The whole report as one JSON object (every figure; undefined figures are null)."""
    return report.model_dump_json(indent=2) + "\n"


# --------------------------------------------------------------------------- html


def _png(fig: Any) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _confusion_png(judge: JudgeReport) -> str:
    from matplotlib.figure import Figure

    matrix = judge.overall.confusion
    fig = Figure(figsize=(3.6, 3.2))
    ax = fig.add_subplot()
    top = max(1, max(max(row) for row in matrix))
    ax.imshow(matrix, cmap="Blues", vmin=0, vmax=top)
    ticks = ["0", "0.5", "1"]
    ax.set_xticks(range(3), ticks)
    ax.set_yticks(range(3), ticks)
    ax.set_xlabel("judge")
    ax.set_ylabel("gold consensus")
    ax.set_title(judge.label, fontsize=9)
    for i in range(3):
        for k in range(3):
            value = matrix[i][k]
            ax.text(k, i, str(value), ha="center", va="center", color="white" if value > top / 2 else "black")
    return _png(fig)


def _slice_alpha_png(judge: JudgeReport) -> str | None:
    from matplotlib.figure import Figure

    slices = [s for s in judge.slices if s.metrics.alpha_ordinal is not None]
    if not slices:
        return None
    labels = [f"{s.dimension}: {_slice_label(s.dimension, s.value)}" for s in slices]
    values = [s.metrics.alpha_ordinal or 0.0 for s in slices]
    lows, highs = [], []
    for s, v in zip(slices, values, strict=True):
        ci = s.metrics.ci.get("alpha_ordinal")
        lows.append(v - ci.low if ci else 0.0)
        highs.append(ci.high - v if ci else 0.0)
    colors = ["#9ecae1" if s.metrics.small else "#3182bd" for s in slices]
    fig = Figure(figsize=(6.4, 0.32 * len(slices) + 1.2))
    ax = fig.add_subplot()
    y = list(range(len(slices)))
    ax.barh(y, values, xerr=[lows, highs], color=colors, ecolor="#333333", capsize=3)
    human = [
        (i, s.inter_rater.alpha_ordinal)
        for i, s in enumerate(slices)
        if s.inter_rater and s.inter_rater.alpha_ordinal is not None
    ]
    if human:
        ax.scatter(
            [h for _, h in human],
            [i for i, _ in human],
            marker="|",
            s=160,
            color="#d62728",
            zorder=3,
            label="human α (raters)",
        )
        ax.legend(loc="lower right", fontsize=8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="#999999", linewidth=0.8)
    if judge.overall.alpha_ordinal is not None:
        ax.axvline(judge.overall.alpha_ordinal, color="#555555", linestyle="--", linewidth=0.8)
    ax.set_xlabel("Krippendorff's α (ordinal), judge vs gold; whiskers = 95 % CI; pale = small; dashed = overall")
    ax.set_title(judge.label, fontsize=9)
    return _png(fig)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f2f2f2}
.note{color:#666;font-size:12px;margin-top:-1em}
.figs img{margin:0 1em 1em 0;vertical-align:top}
code{font-size:12px}
"""


def html_page(title: str, subtitle: str, tables: Sequence[Table]) -> str:
    """A self-contained HTML page of titled tables."""
    return "".join([
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p>",
        *(_html_table(t) for t in tables),
        "</body></html>\n",
    ])


def _html_table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t.headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in t.rows)
    note = f'<p class="note">{html.escape(t.note)}</p>' if t.note else ""
    return f"<h3>{html.escape(t.title)}</h3><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


def render_html(report: AgreementReport) -> str:
    """One self-contained HTML file: tables, heatmaps and slice bars as inline PNG, provenance."""
    tables = report_tables(report)
    top = [t for t in tables if not t.key.startswith(("slices:", "unscored:"))]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Judge agreement · {html.escape(report.gold_path)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Judge agreement · {html.escape(report.gold_path)}</h1>",
        f"<p>{report.n_gold} gold candidates · built {html.escape(report.created)}</p>",
        "<h2>Overall</h2>",
        *(_html_table(t) for t in top),
    ]
    charts = importlib.util.find_spec("matplotlib") is not None
    if charts:
        parts += [
            "<h2>Confusion matrices (rows = gold consensus, columns = judge)</h2><div class='figs'>",
            *(
                f'<img src="data:image/png;base64,{_confusion_png(j)}" alt="confusion matrix {html.escape(j.label)}">'
                for j in report.judges
            ),
            "</div>",
        ]
    else:
        parts.append("<p class='note'>Charts left out: they need matplotlib "
                     "(<code>pip install 'lesion-judge[report]'</code>).</p>")
    for j in report.judges:
        parts.append(f"<h2>Slices · {html.escape(j.label)}</h2>")
        bars = _slice_alpha_png(j) if charts else None
        if bars:
            parts.append(f'<div class="figs"><img src="data:image/png;base64,{bars}" alt="alpha by slice"></div>')
        parts.extend(_html_table(t) for t in tables if t.key.startswith((f"slices:{j.label}:", f"unscored:{j.label}")))
    parts.append("<h2>Provenance</h2><ul>")
    parts.append(
        f"<li>gold file <code>{html.escape(report.gold_path)}</code>, sha256 "
        f"<code>{html.escape(report.gold_sha256)}</code>, raters {html.escape(', '.join(report.raters))}</li>"
    )
    parts.append(f"<li>consensus: {html.escape(report.consensus_rule)}</li>")
    parts.append(
        f"<li>bootstrap: {report.n_boot} resamples, seed {report.seed}; built {html.escape(report.created)}</li>"
    )
    for j in report.judges:
        items = "".join(
            f"<li><b>{html.escape(str(k))}</b>: <code>{html.escape(_short(v))}</code></li>"
            for k, v in j.provenance.items()
        )
        parts.append(f"<li>judge {html.escape(j.label)}<ul>{items or '<li>no provenance given</li>'}</ul></li>")
    parts.append("</ul></body></html>\n")
    return "".join(parts)


# --------------------------------------------------------------------------- disagreements


def disagreement_rows(gold: Sequence[GoldRating], judged: Sequence[JudgedScore]) -> list[dict[str, str]]:
    """Rows of :func:`write_disagreements`, in order: largest |judge - consensus| first, then unscored.

    Ties keep the gold file's order.
    """
    verdicts = align_verdicts(gold, judged)
    gaps: list[tuple[float, int, dict[str, str]]] = []
    for pos, (row, v) in enumerate(zip(gold, verdicts, strict=True)):
        gold_score = consensus(row.ratings.values())
        gap = None if v.score is None or gold_score is None else v.score - gold_score
        if gap == 0:
            continue
        record = {
            "id": row.id,
            "ability": row.ability,
            "question_type": row.question_type,
            "attribute": row.attribute or "",
            "language": row.lang,
            "question": row.question,
            "reference": row.reference
            if isinstance(row.reference, str)
            else json.dumps(row.reference, ensure_ascii=False),
            "candidate": row.candidate,
            "gold_ratings": json.dumps(row.ratings, ensure_ascii=False),
            "gold_consensus": "" if gold_score is None else f"{gold_score:g}",
            "judge_score": "" if v.score is None else f"{v.score:g}",
            "gap": "" if gap is None else f"{gap:+g}",
            "rationale": v.rationale,
            "unscored_reason": "" if v.score is not None else (v.unscored_reason or MISSING_VERDICT),
        }
        gaps.append((-abs(gap) if gap is not None else 1.0, pos, record))
    gaps.sort(key=lambda item: (item[0], item[1]))
    return [record for _, _, record in gaps]


def write_disagreements(path: str | Path, gold: Sequence[GoldRating], judged: Sequence[JudgedScore]) -> int:
    """Write the disagreement CSV for one judge (atomically); return the number of rows written."""
    rows = disagreement_rows(gold, judged)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=DISAGREEMENT_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(rows)
