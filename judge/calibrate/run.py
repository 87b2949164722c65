"""``judge calibrate``: split the gold set, optimize on train/dev, measure on held-out, write a draft rubric.

1. The gold set is split into train / dev / held-out (:mod:`judge.calibrate.split`), or taken as
   three files.
2. The optimizer sees **train and dev only**: the embedded judge's parameters are fitted by
   :mod:`judge.calibrate.local_fit`; an LLM judge's instructions and demos by
   :mod:`judge.calibrate.optimize` (DSPy).
3. The calibrated rubric is measured against the starting rubric on dev and on held-out through
   the normal path (backend + rubric renderer + store cache): Krippendorff's alpha (ordinal) with
   bootstrap 95 % CIs, and a paired bootstrap of the difference on held-out.
4. It is written as the next free version with ``status: draft``, ``derived_from`` and full
   provenance - ``improved: false`` when it does not beat the start on held-out gold. Publishing
   stays a separate, human step (``judge rubrics publish``).

Usage::

    result = calibrate("v3", gold="gold.jsonl", backend="local", store=store)
    print(result.table())
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from judge.agreement import Interval
from judge.backends import LOCAL, Backend, resolve_judge
from judge.calibrate.local_fit import content_sha
from judge.calibrate.measure import Figure, figure, gold_scores
from judge.calibrate.optimizers import Proposal, Recorder, make_optimizer
from judge.calibrate.split import GoldSplit, SplitBy, split_from_parts, split_gold
from judge.errors import InputError
from judge.io import file_sha256, read_gold
from judge.models import GoldRating
from judge.rubrics import Rubric, drafts_target, load_rubric, read_yaml, write_draft
from judge.settings import Settings
from judge.store import Store


class CalibrationResult(BaseModel):
    """What a calibration did and found."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="The new draft rubric file.")
    rubric: str = Field(description="Its id, e.g. `clinical/v4`.")
    base: str = Field(description="The rubric it was derived from, e.g. `clinical/v3`.")
    backend: str = Field(description="`local` or a litellm model string.")
    optimizer: str = Field(description="The optimizer used.")
    chosen: str = Field(description="What the optimizer kept (a candidate name, a path step, or `base`).")
    improved: bool = Field(description="True when held-out alpha after > before.")
    figures: dict[str, dict[str, Figure]] = Field(description="part (dev, test) -> before / after.")
    held_out_diff: dict[str, Any] = Field(description="Paired bootstrap alpha(after) - alpha(before) on held-out.")
    lm_calls: dict[str, Any] = Field(description="LM calls of the optimizer and of the measurement.")
    split: dict[str, int] = Field(description="Sizes of train, dev and held-out.")
    notes: list[str] = Field(default_factory=list, description="Anything the user should know.")
    program_state: str | None = Field(default=None, description="DSPy program state JSON written next to the rubric.")

    def table(self) -> str:
        """The before/after agreement table as text."""
        rows = [
            (
                "part",
                "n",
                f"alpha before ({self.base.split('/')[-1]})",
                f"alpha after ({self.rubric.split('/')[-1]})",
                "change",
            )
        ]
        labels = {"dev": "dev (used to select)", "test": "held-out"}
        for part in ("dev", "test"):
            b, a = self.figures[part]["before"], self.figures[part]["after"]
            change = (
                "n/a"
                if a.alpha_ordinal is None or b.alpha_ordinal is None
                else f"{a.alpha_ordinal - b.alpha_ordinal:+.3f}"
            )
            rows.append((labels[part], str(b.n), b.short(), a.short(), change))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        d = self.held_out_diff
        if d.get("alpha_diff") is not None:
            ci = d.get("alpha_diff_ci")
            lines.append(
                f"held-out paired difference: {d['alpha_diff']:+.3f}"
                + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "")
                + (
                    f", after > before in {d['share_positive']:.0%} of resamples"
                    if d.get("share_positive") is not None
                    else ""
                )
            )
        return "\n".join(lines)


def _yaml_data(base: Rubric) -> dict[str, Any]:
    """The base rubric file's own data (keeps its key order and wording)."""
    data = read_yaml(Path(base.path).read_bytes())
    assert isinstance(data, dict)
    return data


def apply_updates(base: Rubric, updates: dict[str, Any]) -> Rubric:
    """An in-memory rubric: ``base`` with ``updates``; its sha is a content hash so caches never mix it up."""
    data = base.model_dump(exclude={"sha256", "path"})
    data.update(updates)
    variant = Rubric.model_validate({**data, "sha256": "", "path": ""})
    return variant.model_copy(update={"sha256": content_sha(variant)})


def _load_parts(
    gold: str | None,
    train: str | None,
    dev: str | None,
    test: str | None,
    *,
    seed: int,
    split_by: SplitBy,
    dev_share: float,
    test_share: float,
) -> tuple[list[GoldRating], GoldSplit, dict[str, Any]]:
    files = {"train": train, "dev": dev, "test": test}
    if any(files.values()):
        missing = [k for k, v in files.items() if not v]
        if missing:
            raise InputError(f"give all three of --train, --dev and --test (missing: {', '.join(missing)})")
        rows, split = split_from_parts(*(read_gold(p) for p in files.values()))  # type: ignore[arg-type]
        if gold:
            known = {r.id for r in read_gold(gold)}
            unknown = [r.id for r in rows if r.id not in known]
            if unknown:
                raise InputError(f"{len(unknown)} ids of the split files are not in {gold}: {unknown[:5]}")
        source = {k: {"path": str(v), "sha256": file_sha256(v)} for k, v in files.items()}  # type: ignore[arg-type]
        if gold:
            source["gold"] = {"path": str(gold), "sha256": file_sha256(gold)}
        return rows, split, source
    if not gold:
        raise InputError("give --gold GOLD.jsonl, or --train, --dev and --test files")
    rows = read_gold(gold)
    split = split_gold(rows, seed=seed, dev=dev_share, test=test_share, by=split_by)
    return rows, split, {"gold": {"path": str(gold), "sha256": file_sha256(gold)}}


def _measure(
    rows: Sequence[GoldRating], backend: Any, rubric: Rubric, store: Store, concurrency: int
) -> tuple[list[float | None], int]:
    """Scores of ``rows`` under ``rubric`` through the store's cache, and the LM calls it cost."""
    from judge.agreement_run import judge_gold

    verdicts = judge_gold(rows, backend, rubric, store, concurrency=concurrency)
    calls = sum(v.usage.calls for v in verdicts if not v.cached)
    return [v.score for v in verdicts], calls


def calibrate(
    rubric: str,
    *,
    store: Store,
    gold: str | None = None,
    train: str | None = None,
    dev: str | None = None,
    test: str | None = None,
    backend: str | Backend = LOCAL,
    backend_options: dict[str, Any] | None = None,
    optimizer: str | None = None,
    budget: int | None = None,
    seed: int = 0,
    split_by: SplitBy = "candidate",
    dev_share: float = 0.2,
    test_share: float = 0.2,
    n_boot: int = 1000,
    concurrency: int = 16,
    settings: Settings | None = None,
    record: Recorder | None = None,
    log: Callable[[str], None] | None = None,
    report_html: str | None = None,
) -> CalibrationResult:
    """Calibrate ``rubric`` against a gold set and write the result as a new draft rubric:
    split -> propose (train, dev) -> measure (dev, held-out) -> write.

    ``record`` is told the gold ids of every case the optimizer judges (never the held-out ones);
    ``log`` gets progress lines. See the module docstring for the steps.
    """
    settings = settings or Settings()
    say = log or (lambda _m: None)
    judge, base = resolve_judge(backend, rubric, **(backend_options or {}))
    drafts_target()  # where the draft will go must take it: find out now, not after the search
    if budget is not None and budget < 0:
        raise InputError("--budget must be >= 0")
    chosen_optimizer = make_optimizer(optimizer, judge, budget=budget, seed=seed, cache_dir=settings.data_dir / "dspy_cache",
                                      concurrency=concurrency, record=record, log=say)
    rows, split, source = _load_parts(
        gold, train, dev, test, seed=seed, split_by=split_by, dev_share=dev_share, test_share=test_share
    )
    train_rows, dev_rows, test_rows = split.parts(rows)
    say(
        f"calibrating {base.id} with {judge.spec}: train {len(train_rows)}, dev {len(dev_rows)}, "
        f"held-out {len(test_rows)} (split: {split.method}, by {split.by}, seed {split.seed})"
    )
    run_args = {"rubric": base.id, "backend": judge.spec, "optimizer": optimizer, "budget": budget, "seed": seed, **source}
    started = time.time()
    with store.run("calibrate", run_args, len(rows)) as run:
        proposal = chosen_optimizer.propose(base, train_rows, dev_rows)
        calibrated = apply_updates(base, proposal.updates) if proposal.updates else base
        measured = _measure_parts(judge, base, calibrated, dev_rows, test_rows, store, concurrency, n_boot, seed)
        notes = [*split.notes, *proposal.notes, *_verdict_notes(base, proposal, measured)]
        lm_calls = {
            "optimizer": proposal.calls,
            "measurement": measured.calls,
            "total_sent": int(proposal.calls.get("sent", 0)) + measured.calls,
        }
        provenance = {
            "calibrated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "command": "judge calibrate",
            "base": {"id": base.id, "sha256": base.sha256}, "backend": judge.spec, "backend_params": judge.params,
            "optimizer": chosen_optimizer.name, "chosen": proposal.chosen, "seed": seed, "budget": budget,
            "gold": source, "split": split.model_dump(mode="json"), "agreement": measured.provenance(n_boot),
            "improved": measured.improved, "lm_calls": lm_calls, "search": proposal.search, "notes": notes,
            "seconds": round(time.time() - started, 1),
        }
        path, state_path = _write(base, proposal, provenance, judge.spec, chosen_optimizer.name, seed, source, measured)
        result = CalibrationResult(
            path=str(path), rubric=load_rubric(str(path)).id, base=base.id, backend=judge.spec,
            optimizer=chosen_optimizer.name, chosen=proposal.chosen, improved=measured.improved,
            figures=measured.figures, held_out_diff=measured.held_out_diff, lm_calls=lm_calls,
            split=split.counts(), notes=notes, program_state=str(state_path) if state_path else None,
        )
        if report_html:
            write_report(report_html, result, test_rows, measured.preds["test"], source)
        run.summary = {"rubric": result.rubric, "improved": measured.improved,
                       "held_out_alpha": {"before": measured.before, "after": measured.after}}
    return result


@dataclass
class _Measured:
    """The base and the calibrated rubric measured on dev and held-out."""

    figures: dict[str, dict[str, Figure]]
    preds: dict[str, dict[str, list[float | None]]]
    held_out_diff: dict[str, Any]
    diff_ci: Interval | None
    calls: int

    @property
    def before(self) -> float | None:
        return self.figures["test"]["before"].alpha_ordinal

    @property
    def after(self) -> float | None:
        return self.figures["test"]["after"].alpha_ordinal

    @property
    def improved(self) -> bool:
        """Held-out alpha after > before."""
        return self.after is not None and self.before is not None and self.after > self.before

    def provenance(self, n_boot: int) -> dict[str, Any]:
        return {
            "metric": "Krippendorff's alpha, ordinal, judge vs gold consensus; 95% percentile bootstrap CI",
            "n_boot": n_boot,
            "dev": {k: v.model_dump(mode="json") for k, v in self.figures["dev"].items()},
            "held_out": {k: v.model_dump(mode="json") for k, v in self.figures["test"].items()},
            "held_out_paired_difference": self.held_out_diff,
        }


def _measure_parts(
    judge: Backend, base: Rubric, calibrated: Rubric, dev_rows: Sequence[GoldRating], test_rows: Sequence[GoldRating],
    store: Store, concurrency: int, n_boot: int, seed: int,
) -> _Measured:
    """Dev, then held-out - the held-out part is judged only here, after the search - before and after."""
    from judge.agreement import paired_difference

    figures: dict[str, dict[str, Figure]] = {}
    preds: dict[str, dict[str, list[float | None]]] = {}
    calls = 0
    for part, part_rows in (("dev", dev_rows), ("test", test_rows)):
        golds = gold_scores(part_rows)
        figures[part], preds[part] = {}, {}
        for when, r in (("before", base), ("after", calibrated)):
            scores, sent = _measure(part_rows, judge, r, store, concurrency)
            calls += sent
            preds[part][when] = scores
            figures[part][when] = figure(scores, golds, n_boot=n_boot, seed=seed, key=part)
    diff = paired_difference(
        gold_scores(test_rows), preds["test"]["before"], preds["test"]["after"], n_boot=n_boot, seed=seed,
        labels=(base.id, "calibrated"),
    )
    held_out_diff = {
        "n": diff.n,
        "alpha_diff": diff.alpha_diff,
        "share_positive": diff.share_positive,
        "alpha_diff_ci": [round(diff.alpha_diff_ci.low, 4), round(diff.alpha_diff_ci.high, 4)]
        if diff.alpha_diff_ci
        else None,
    }
    return _Measured(figures, preds, held_out_diff, diff.alpha_diff_ci, calls)


def _verdict_notes(base: Rubric, proposal: Proposal, measured: _Measured) -> list[str]:
    """What the user should know about the outcome: nothing kept, a gain within noise, no improvement."""
    notes = []
    if not proposal.updates:
        notes.append(f"the optimizer kept {base.id} unchanged: nothing it tried beat it on dev")
    ci = measured.diff_ci
    if measured.improved and ci is not None and ci.low <= 0:
        notes.append(
            f"the held-out gain is within noise: the paired 95% CI of the alpha difference is "
            f"[{ci.low:+.3f}, {ci.high:+.3f}] and includes 0"
        )
    if not measured.improved:
        notes.append(
            f"NOT IMPROVED: the calibrated rubric does not beat {base.id} on held-out gold "
            f"(alpha {_f(measured.before)} -> {_f(measured.after)}); it is written only as a draft for review - "
            "do not publish it as is"
        )
    return notes


def _write(
    base: Rubric, proposal: Proposal, provenance: dict[str, Any], backend: str, optimizer: str, seed: int,
    source: dict[str, Any], measured: _Measured,
) -> tuple[Path, Path | None]:
    """The draft (and DSPy's program state next to it) in the drafts folder: never the source tree."""
    data = _yaml_data(base)
    data.update(proposal.updates)
    data["derived_from"] = base.version
    data["description"] = (
        f"{base.version} calibrated with {backend} / {optimizer} (seed {seed}) on "
        f"{Path(next(iter(source.values()))['path']).parent.name or 'gold'}: held-out alpha "
        f"{_f(measured.before)} -> {_f(measured.after)}"
        + ("" if measured.improved else " (NOT an improvement)")
        + ". Draft: review before `judge rubrics publish`."
    )
    data["provenance"] = provenance
    path = write_draft(data)
    if proposal.program_state is None:
        return path, None
    state_path = path.with_suffix(".dspy.json")
    state_path.write_text(
        json.dumps(proposal.program_state, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8"
    )
    return path, state_path


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def write_report(
    path: str,
    result: CalibrationResult,
    test_rows: Sequence[GoldRating],
    preds: dict[str, list[float | None]],
    source: dict[str, Any],
) -> None:
    """An HTML agreement report of before vs after on the held-out part, with the calibration summary on top."""
    import html

    from judge.agreement import JudgedScore, build_report
    from judge.report import render_html

    before, after = f"{result.backend} · {result.base}", f"{result.backend} · {result.rubric} (draft)"
    judged = {
        label: [JudgedScore(id=r.id, score=s) for r, s in zip(test_rows, scores, strict=True)]
        for label, scores in ((before, preds["before"]), (after, preds["after"]))
    }
    gold = source.get("gold") or source["test"]
    report = build_report(
        test_rows,
        judged,
        gold_path=f"{gold['path']} (held-out part)",
        gold_sha256=gold["sha256"],
        provenance={before: {"rubric": result.base}, after: {"rubric": result.rubric, "path": result.path}},
    )
    verdict = "improved" if result.improved else "NOT improved"
    summary = (
        f"<h1>Calibration {html.escape(result.base)} → {html.escape(result.rubric)} (draft): {verdict}</h1>"
        f"<pre>{html.escape(result.table())}</pre>" + "".join(f"<p>{html.escape(n)}</p>" for n in result.notes)
    )
    page = render_html(report).replace("<body>", "<body>" + summary, 1)
    Path(path).write_text(page, encoding="utf-8")
