"""The ``judge`` command line: thin commands over the library.

Each command parses options, calls :mod:`judge`, prints; a :class:`~judge.errors.JudgeError`
becomes a one-line ``Error: ...`` and exit code 2 instead of a traceback.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from judge.calibrate.optimizers import OPTIMIZERS
from judge.errors import JudgeError
from judge.limits import MAX_BOOTSTRAP_RESAMPLES
from judge.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
POSITIVE = click.FloatRange(min=0, min_open=True)


def handle_errors(fn: F) -> F:
    """Turn library errors (and OS errors on files) into ``Error: message`` and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except JudgeError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)
        except OSError as exc:  # a file the library does not check itself (a disk that filled up, ...)
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"Error: {where}{exc.strerror or exc}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def open_store(db: str | None) -> Any:
    """The store at ``db``, or the configured one."""
    from judge.store import Store

    return Store.open(db or Settings().store_path)


def make_progress(
    total: int, quiet: bool, desc: str, min_total: int = 200
) -> tuple[Any, Callable[[int, int, int], None]]:
    """A tqdm bar on stderr (at a terminal, for runs of ``min_total`` items or more) and its callback.

    The bar shows the rate, the ETA and the unscored count; it redraws at most ~10 times a second.
    """
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="item", disable=None if not quiet and total >= min_total else True,
               file=sys.stderr, dynamic_ncols=True)

    def update(done: int, total: int, unscored: int) -> None:
        if total != bar.total:  # a jury reports the sum over its judges
            bar.total = total
        bar.set_postfix(unscored=unscored, refresh=False)
        bar.update(done - bar.n)  # update(), not n= + refresh(): keeps the rate and ETA, throttles redraws

    return bar, update


def backend_options(
    api_base: str | None, api_key: str | None, timeout: float | None,
    rpm: float | None = None, router_config: str | None = None,
) -> dict[str, Any]:
    """Options passed to LLM backends (ignored by ``local``): the command's options over the ``JUDGE_*`` settings."""
    options = Settings().override(api_base=api_base, api_key=api_key, timeout=timeout, rpm=rpm).backend_options()
    return {**options, "router_config": router_config} if router_config else options


@click.group()
@click.version_option(package_name="lesion-judge")
def cli() -> None:
    """Lesion Judge: score clinical visual-QA benchmarks and measure judges against physicians."""


# ----------------------------------------------------------------------------- score


@cli.command()
@click.argument("benchmark", type=click.Path())
@click.argument("predictions", nargs=-1, type=click.Path())
@click.option("--backend", "backends", multiple=True, default=["local"], show_default=True,
              help="`local` (embedded judge) or a litellm model string, e.g. openai/gpt-4o. "
                   "Repeat for a jury (median of 3+, see docs/decisions/juries.md).")
@click.option("--rubric", default="clinical/v3", show_default=True, help="Rubric id (v3, clinical/v2) or YAML path.")
@click.option("--split", type=click.Choice(["val", "test"]), help="Score only this split.")
@click.option("--out", "out_dir", default="out", show_default=True, type=click.Path(),
              help="Where scores.md/.csv/.json and verdicts.jsonl are written.")
@click.option("--db", help="SQLite store (default $JUDGE_DATA_DIR/judge.db, i.e. .judge/judge.db).")
@click.option("--api-base", help="Base URL of an OpenAI-compatible server (or $JUDGE_API_BASE).")
@click.option("--api-key", help="API key (or $JUDGE_API_KEY, or the provider's usual variable).")
@click.option("--timeout", type=POSITIVE, help="Seconds per LLM call.")
@click.option("--concurrency", type=click.IntRange(min=1), default=16, show_default=True,
              help="LLM calls in flight at most.")
@click.option("--rpm", type=POSITIVE, help="LLM requests per minute at most, per judge (or $JUDGE_RPM).")
@click.option("--router-config", type=click.Path(dir_okay=False, exists=True),
              help="litellm Router config (YAML/JSON model_list + router_settings); --backend names a model_name in it.")
@click.option("--processes", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default="CPU count",
              help="Processes for the embedded judge on large runs (LLM backends use --concurrency).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@handle_errors
def score(
    benchmark: str, predictions: tuple[str, ...], backends: tuple[str, ...], rubric: str, split: str | None,
    out_dir: str, db: str | None, api_base: str | None, api_key: str | None, timeout: float | None,
    concurrency: int, rpm: float | None, router_config: str | None, processes: int, quiet: bool,
) -> None:
    """Score a benchmark's predictions and print the per-ability table.

    BENCHMARK is a JSONL file of items; PREDICTIONS are JSONL files of {id, model, prediction}
    (several files, several models: shown side by side). A benchmark whose lines carry
    `prediction` and `model` can be scored alone.
    """
    from judge.score_run import check_out_dir, score_staged, write_outputs
    from judge.score_table import render_text
    from judge.staging import StagedInputs

    # bad input stops the run before anything is written; the files are validated in one streaming pass
    with StagedInputs.from_files(benchmark, predictions, split) as staged:
        check_out_dir(out_dir)  # an unwritable --out: stop before scoring, not after
        store = open_store(db)
        llm = any(b != "local" for b in backends)
        bar, update = make_progress(staged.counts()[0] * len(backends), quiet, "scoring", min_total=1 if llm else 200)
        try:
            result = score_staged(
                staged, benchmark=benchmark, predictions=predictions, store=store, backends=list(backends),
                rubric=rubric, split=split,
                backend_options=backend_options(api_base, api_key, timeout, rpm, router_config),
                concurrency=concurrency, workers=processes, progress=update, out_dir=out_dir,
            )
        finally:
            bar.close()
    click.echo(render_text(result.table))
    if result.jury is not None:
        from judge.jury import render_agreement

        click.echo("\n" + render_agreement(result.jury))
    files = write_outputs(result, out_dir)
    click.echo(f"\nrubric {result.provenance['rubric']} ({result.provenance['rubric_sha'][:12]}), "
               f"backend {result.provenance['backend']}, run {result.run_id}: "
               f"{result.stats.summary(result.missing * len(result.provenance.get('judges') or [None]))}"
               + (" (every judge's verdicts, summed)" if result.jury is not None else ""))
    if result.usage.calls:
        from judge.usage import render_usage

        click.echo(render_usage(result.usage))
    if result.missing:
        click.echo(f"{result.missing} (item, model) pairs have no prediction: each counted as 0", err=True)
    if not result.table.complete:
        click.echo(
            f"INCOMPLETE: {result.table.unscored} answers unscored (judge failures); rerun the same command to resume",
            err=True,
        )
    click.echo("wrote " + ", ".join(str(f) for f in files))


# ------------------------------------------------------------------------- agreement


@cli.command()
@click.argument("gold", type=click.Path())
@click.option("--backend", "backends", multiple=True, help="Judge backend(s); repeat to compare. Default: local.")
@click.option("--rubric", "rubrics_", multiple=True, help="Rubric(s); repeat to compare. Default: clinical/v3.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--out", "html_out", type=click.Path(), help="Also write a self-contained HTML report here.")
@click.option("--disagreements", type=click.Path(), help="Write every judge/gold disagreement to this CSV.")
@click.option("--n-boot", type=click.IntRange(0, MAX_BOOTSTRAP_RESAMPLES), default=1000, show_default=True,
              help="Bootstrap resamples for the CIs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--db", help="SQLite store (default $JUDGE_DATA_DIR/judge.db).")
@click.option("--api-base", help="Base URL of an OpenAI-compatible server (or $JUDGE_API_BASE).")
@click.option("--api-key", help="API key (or $JUDGE_API_KEY, or the provider's usual variable).")
@click.option("--timeout", type=POSITIVE, help="Seconds per LLM call.")
@click.option("--concurrency", type=click.IntRange(min=1), default=16, show_default=True,
              help="LLM calls in flight at most.")
@handle_errors
def agreement(
    gold: str, backends: tuple[str, ...], rubrics_: tuple[str, ...], fmt: str, html_out: str | None,
    disagreements: str | None, n_boot: int, seed: int, db: str | None, api_base: str | None,
    api_key: str | None, timeout: float | None, concurrency: int,
) -> None:
    """Measure how well a judge agrees with a human-rated gold set.

    Prints n, Krippendorff's alpha (ordinal, interval, nominal), Cohen's kappa, exact agreement,
    bias, confusion matrices and per-slice figures with bootstrap 95% CIs. Several --backend
    and/or --rubric values are compared side by side (every backend with every rubric), with the
    paired bootstrap difference in alpha against the first.
    """
    from judge.agreement_run import run_agreement
    from judge.io import check_writable
    from judge.report import render_html, render_json, render_markdown, render_text, write_disagreements

    for option, path in (("--out", html_out), ("--disagreements", disagreements)):
        if path:
            check_writable(path, option=option, directory=False)  # before any judging, not after
    judges = [(b, r) for b in (backends or ("local",)) for r in (rubrics_ or ("clinical/v3",))]
    report, gold_rows, judged = run_agreement(
        gold, judges, store=open_store(db), backend_options=backend_options(api_base, api_key, timeout),
        concurrency=concurrency, n_boot=n_boot, seed=seed,
    )
    render = {"text": render_text, "json": render_json, "markdown": render_markdown}[fmt]
    click.echo(render(report))
    if html_out:
        Path(html_out).write_text(render_html(report), encoding="utf-8")
        click.echo(f"wrote {html_out}", err=True)
    if disagreements:
        first = next(iter(judged.values()))
        n = write_disagreements(disagreements, gold_rows, first)
        click.echo(f"wrote {n} disagreements of {next(iter(judged))} to {disagreements}", err=True)


# ------------------------------------------------------------------------ robustness


@cli.command()
@click.argument("gold", type=click.Path(dir_okay=False))
@click.option("--backend", "backends", multiple=True, help="Judge backend(s); repeat to compare. Default: local.")
@click.option("--rubric", default="clinical/v3", show_default=True, help="Rubric id or YAML path.")
@click.option("--repeats", type=click.IntRange(min=1), default=2, show_default=True,
              help="Times each gold candidate is judged for the stability figures (after the first, uncached).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--out", "html_out", type=click.Path(dir_okay=False), help="Also write a self-contained HTML report here.")
@click.option("--n-boot", type=int, default=1000, show_default=True, help="Bootstrap resamples for the length-bias CIs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the derivation and the bootstrap.")
@click.option("--db", help="SQLite store (default $JUDGE_DATA_DIR/judge.db).")
@click.option("--api-base", help="Base URL of an OpenAI-compatible server (or $JUDGE_API_BASE).")
@click.option("--api-key", help="API key (or $JUDGE_API_KEY, or the provider's usual variable).")
@click.option("--timeout", type=float, help="Seconds per LLM call.")
@click.option("--concurrency", type=int, default=16, show_default=True, help="LLM calls in flight at most.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@handle_errors
def robustness(
    gold: str, backends: tuple[str, ...], rubric: str, repeats: int, fmt: str, html_out: str | None, n_boot: int,
    seed: int, db: str | None, api_base: str | None, api_key: str | None, timeout: float | None, concurrency: int,
    quiet: bool,
) -> None:
    """Test a judge with answers whose right score is known: no rater needed.

    From every question of GOLD it derives answers that must score 0 (nonsense, the question
    echoed, refusals, digit padding, negated or "anything but" references, "the reference is X
    but...", every value listed, grader-directed text, MCQ hedges and non-answers), answers that
    must score 1 (the reference itself), and changes that must not move a score (a case number in
    the question, whitespace, letter case, pleasantries around a correct answer); it reports how
    many held per class, the share of scores that flip between repeated judgings, and whether the
    judge favours long answers.
    """
    from judge.robustness import render_html, render_json, render_markdown, render_text, run_robustness

    bar, update = make_progress(0, quiet, "probing", min_total=1)
    try:
        report = run_robustness(
            gold, [(b, rubric) for b in (backends or ("local",))], store=open_store(db),
            backend_options=backend_options(api_base, api_key, timeout), repeats=repeats, concurrency=concurrency,
            n_boot=n_boot, seed=seed, progress=update,
        )
    finally:
        bar.close()
    render = {"text": render_text, "json": render_json, "markdown": render_markdown}[fmt]
    click.echo(render(report))
    if html_out:
        Path(html_out).write_text(render_html(report), encoding="utf-8")
        click.echo(f"wrote {html_out}", err=True)


# ------------------------------------------------------------------------- calibrate


@cli.command()
@click.option("--rubric", default="clinical/v3", show_default=True, help="Rubric to start from (id or YAML path).")
@click.option("--gold", type=click.Path(), help="Gold JSONL to split into train / dev / held-out.")
@click.option("--backend", default="local", show_default=True, help="`local` or a litellm model string.")
@click.option("--optimizer", type=click.Choice(list(OPTIMIZERS)),
              help="local: coordinate (default). LLM: instruct-search (default), bootstrap-rs, mipro, gepa (DSPy).")
@click.option("--budget", type=click.IntRange(min=0), help="LM calls the optimizer may issue, cached ones included (default: unbounded).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split, the search and the bootstrap.")
@click.option("--train", type=click.Path(), help="Explicit train part (gold JSONL); needs --dev and --test.")
@click.option("--dev", type=click.Path(), help="Explicit dev part (used to select).")
@click.option("--test", type=click.Path(), help="Explicit held-out part (only for the final figure).")
@click.option("--split-by", type=click.Choice(["candidate", "question"]), default="candidate", show_default=True,
              help="Split unit; `question` keeps all candidates of a question in one part.")
@click.option("--report", "report_html", type=click.Path(), help="Also write an HTML agreement report.")
@click.option("--n-boot", type=click.IntRange(0, MAX_BOOTSTRAP_RESAMPLES), default=1000, show_default=True,
              help="Bootstrap resamples for the CIs.")
@click.option("--db", help="SQLite store (default $JUDGE_DATA_DIR/judge.db).")
@click.option("--api-base", help="Base URL of an OpenAI-compatible server (or $JUDGE_API_BASE).")
@click.option("--api-key", help="API key (or $JUDGE_API_KEY, or the provider's usual variable).")
@click.option("--timeout", type=POSITIVE, help="Seconds per LLM call.")
@click.option("--concurrency", type=click.IntRange(min=1), default=16, show_default=True,
              help="LLM calls in flight at most.")
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
@handle_errors
def calibrate(
    rubric: str, gold: str | None, backend: str, optimizer: str | None, budget: int | None, seed: int,
    train: str | None, dev: str | None, test: str | None, split_by: str, report_html: str | None, n_boot: int,
    db: str | None, api_base: str | None, api_key: str | None, timeout: float | None, concurrency: int, quiet: bool,
) -> None:
    """Calibrate a rubric against a gold set and write the result as a new draft rubric.

    Splits the gold set into train / dev / held-out (stratified by ability and gold score), tunes
    the embedded judge's parameters (--backend local) or an LLM judge's instructions and demos
    (DSPy), and prints alpha (ordinal) before and after on dev and held-out. The result is the next
    free version with status draft; publish it with `judge rubrics publish` after review.
    """
    from judge.calibrate.run import calibrate as run_calibration
    from judge.io import check_writable

    if report_html:
        check_writable(report_html, option="--report", directory=False)  # before any judging, not after
    result = run_calibration(
        rubric, store=open_store(db), gold=gold, train=train, dev=dev, test=test, backend=backend,
        backend_options=backend_options(api_base, api_key, timeout), optimizer=optimizer, budget=budget, seed=seed,
        split_by=split_by, n_boot=n_boot, concurrency=concurrency, report_html=report_html,  # type: ignore[arg-type]
        log=None if quiet else (lambda m: click.echo(m, err=True)),
    )
    click.echo(result.table())
    for note in result.notes:
        click.echo(f"note: {note}")
    calls, opt = result.lm_calls, result.lm_calls["optimizer"]
    if opt.get("issued") or calls["measurement"]:
        click.echo(f"LM calls: optimizer {opt.get('issued', 0)} issued ({opt.get('sent', 0)} sent, "
                   f"{opt.get('issued', 0) - opt.get('sent', 0)} from cache), measurement {calls['measurement']} sent")
    click.echo(f"improved on held-out: {'yes' if result.improved else 'NO'}")
    then = ("review, then: " if result.improved else "it did not improve, so publishing it needs --force: ")
    click.echo(f"wrote {result.path} ({result.rubric}, status draft); {then}judge rubrics publish {result.rubric}")
    if report_html:
        click.echo(f"wrote {report_html}")


# ----------------------------------------------------------------------------- serve


@cli.command()
@click.option("--host", help="Bind address (default $JUDGE_HOST, i.e. 127.0.0.1).")
@click.option("--port", type=int, help="Port (default $JUDGE_PORT, i.e. 8000).")
@click.option("--rubric", help="Rubric every request uses (default $JUDGE_RUBRIC, i.e. clinical/v3).")
@click.option("--backend", help="Backend every request uses (default $JUDGE_BACKEND, i.e. local).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]), default="info",
              show_default=True, help="Server log level.")
@click.option("--access-log/--no-access-log", default=True, show_default=True, help="Log every request.")
@handle_errors
def serve(host: str | None, port: int | None, rubric: str | None, backend: str | None, workers: int,
          log_level: str, access_log: bool) -> None:
    """Run the HTTP service: POST /score, /jobs, /rubrics, /healthz, /metrics; OpenAPI at /docs.

    Configured by JUDGE_* variables (JUDGE_API_KEYS, JUDGE_MAX_BATCH, JUDGE_DATA_DIR, ...); the
    options here override them. The store is the CLI's, so both share one cache.
    """
    from judge.rubrics import load_rubric, require_kind

    settings = Settings().override(host=host, port=port, rubric=rubric, backend=backend)
    require_kind(load_rubric(settings.rubric), "critic")  # fail here, in one line, not in every request
    from service.app import serve as run_server

    run_server(settings, workers=workers, log_level=log_level, access_log=access_log)


# ------------------------------------------------------------------------------ gold


@cli.group()
def gold() -> None:
    """Import and convert human-rated gold sets into the gold JSONL format."""


@gold.command("import-csv")
@click.argument("csv_path", type=click.Path())
@click.argument("out", type=click.Path())
@click.option("--layout", type=click.Choice(["auto", "long", "wide"]), default="auto", show_default=True,
              help="long: one row per rating (id, rater, score); wide: one column per rater.")
@click.option("--rater-column", "rater_columns", multiple=True, help="Wide layout: a rater column (repeat).")
@handle_errors
def gold_import_csv(csv_path: str, out: str, layout: str, rater_columns: tuple[str, ...]) -> None:
    """Convert a CSV of ratings into a gold JSONL file."""
    from judge.gold import read_gold_csv, write_gold_jsonl

    rows = read_gold_csv(csv_path, layout=layout, rater_columns=list(rater_columns) or None)  # type: ignore[arg-type]
    click.echo(f"wrote {write_gold_jsonl(rows, out)} rated candidates to {out}")


@gold.command("convert-evouna")
@click.argument("json_path", type=click.Path())
@click.argument("out", type=click.Path())
@handle_errors
def gold_convert_evouna(json_path: str, out: str) -> None:
    """Convert an EVOUNA file (NQ.json / TQ.json, human-judged QA answers) into a gold set."""
    from judge.gold import convert_evouna, write_gold_jsonl

    click.echo(f"wrote {write_gold_jsonl(convert_evouna(json_path), out)} rated candidates to {out}")


@gold.command("convert-kqa")
@click.argument("csv_path", type=click.Path())
@click.argument("out", type=click.Path())
@handle_errors
def gold_convert_kqa(csv_path: str, out: str) -> None:
    """Convert K-QA's physician NLI annotations (NLI_medical_annotator.csv) into a gold set."""
    from judge.gold import convert_kqa, write_gold_jsonl

    click.echo(f"wrote {write_gold_jsonl(convert_kqa(csv_path), out)} rated candidates to {out}")


# --------------------------------------------------------------------------- rubrics


@cli.group()
def rubrics() -> None:
    """List, show, verify and publish rubric versions."""


@rubrics.command("list")
@handle_errors
def rubrics_list() -> None:
    """List the rubric versions with status and sha256."""
    from judge.rubrics import list_rubrics, load_rubric

    for rid in list_rubrics():
        r = load_rubric(rid)
        click.echo(f"{rid:24} {r.status:9} {r.sha256[:12]}  {r.description.strip().splitlines()[0][:70]}")


@rubrics.command("show")
@click.argument("rubric")
@click.option("--render", is_flag=True, help="Print the rendered LLM prompt for a sample case instead of the file.")
@handle_errors
def rubrics_show(rubric: str, render: bool) -> None:
    """Print a rubric file (or its rendered prompt)."""
    from judge.models import Case
    from judge.rubrics import load_rubric, render_messages

    r = load_rubric(rubric)
    if not render:
        click.echo(Path(r.path).read_text(encoding="utf-8"))
        return
    case = Case(question="What color is the lesion?", references=["pink"], candidate="skin-toned",
                ability="attribute_recognition", attribute="color")
    for m in render_messages(r, case):
        click.echo(f"--- {m['role']}\n{m['content']}\n")


@rubrics.command("verify")
@handle_errors
def rubrics_verify() -> None:
    """Check that no published rubric file has changed."""
    from judge.rubrics import verify_published

    problems = verify_published()
    for p in problems:
        click.echo(p, err=True)
    if problems:
        sys.exit(1)
    click.echo("all published rubrics unchanged")


@rubrics.command("publish")
@click.argument("rubric")
@click.option("--force", is_flag=True, help="Publish even a draft whose provenance says it did not improve on held-out gold.")
@handle_errors
def rubrics_publish(rubric: str, force: bool) -> None:
    """Publish a reviewed draft rubric (it becomes immutable).

    A calibrated draft that did not beat its base on held-out gold (provenance `improved: false`)
    is refused, with its held-out alpha before and after, unless --force is given.
    """
    from judge.rubrics import held_out_change, publish

    r = publish(rubric, force=force)
    if r.provenance.get("improved") is False:
        click.echo(f"warning: published with --force although it did not improve: {held_out_change(r)}", err=True)
    click.echo(f"published {r.id} sha256 {r.sha256} in {Path(r.path).parent.parent}")


def main() -> None:
    """Console-script entry point."""
    cli()


if __name__ == "__main__":
    main()
