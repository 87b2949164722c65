"""Worst-case time of the judges against input length, per class of hostile input.

    python bench/worst_case.py                         # 10K, 50K, 200K, 2M characters; 20 s per call
    python bench/worst_case.py --sizes 10000,50000 --timeout 5 --only mcq
    python bench/worst_case.py --service               # also: one full-size POST /score per class

For every input class it builds inputs of each length and times, **bypassing the input limits**
(so that the growth is visible), a direct call of

* ``judge.mcq.extract_choices`` (MCQ classes), or
* ``judge.clinical.judge.judge_case`` (open-ended classes; the case is built with
  ``Case.model_construct``, which skips validation).

Each call runs in a forked child with a deadline (``--timeout``), so quadratic code cannot run
for hours: a call past the deadline is killed and printed as ``> T s (timeout)``; the larger
lengths of that class are then not run but **extrapolated** from the growth between the last
two lengths that finished (``~ X s (extrapolated, n^k)``), and marked as such. A class lists the
slowest of its variants at each length. The ``growth`` column is the exponent ``k`` of
``time ~ n^k`` between the two largest measured lengths (1 = linear, 2 = quadratic).

With ``--service`` it then sends, per class, one ``POST /score`` body at the limits of
:mod:`judge.limits` (what a client may actually send) to an in-process app with the embedded
judge, and prints the time of that request.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from judge.limits import MAX_CANDIDATE_CHARS, MAX_QUESTION_CHARS, MAX_REFERENCE_CHARS, MAX_REFERENCES

OPTIONS_EN = {"A": "Papule", "B": "Plaque", "C": "Nodule", "D": "Vesicle"}
OPTIONS_ZH = {"A": "丘疹", "B": "斑块", "C": "结节", "D": "水疱"}
SIZES = (10_000, 50_000, 200_000, 2_000_000)


def fill(unit: str, n: int) -> str:
    """``unit`` repeated to exactly ``n`` characters."""
    return (unit * (n // len(unit) + 1))[:n]


@dataclass(frozen=True)
class Variant:
    """One way to build an input of ``n`` characters for one call."""

    name: str
    build: Callable[[int], dict[str, Any]]
    """``n`` -> keyword arguments of the call (see :func:`_call`)."""


@dataclass(frozen=True)
class InputClass:
    """A class of hostile input: its variants are timed and the slowest is printed."""

    kind: str  # "mcq" | "open"
    name: str
    variants: tuple[Variant, ...]


def _mcq(text: Callable[[int], str], options: dict[str, str] = OPTIONS_EN, lang: str = "en") -> Callable[[int], dict[str, Any]]:
    return lambda n: {"candidate": text(n), "options": options, "language": lang}


def _open(
    candidate: Callable[[int], str] | str,
    references: Callable[[int], list[str]] | list[str],
    question: Callable[[int], str] | str = "What color is the lesion?",
    lang: str = "en",
    **extra: Any,
) -> Callable[[int], dict[str, Any]]:
    def build(n: int) -> dict[str, Any]:
        return {
            "candidate": candidate(n) if callable(candidate) else candidate,
            "references": references(n) if callable(references) else references,
            "question": question(n) if callable(question) else question,
            "language": lang, **extra,
        }

    return build


CLASSES: tuple[InputClass, ...] = (
    # ------------------------------------------------------------------------------- MCQ
    InputClass("mcq", "repeated statements", (
        Variant("Answer: B. ...", _mcq(lambda n: fill("Answer: B. ", n))),
        Variant("The answer is B.\\n ...", _mcq(lambda n: fill("The answer is B.\n", n))),
        Variant("A is correct. B is correct. ...", _mcq(lambda n: fill("A is correct. B is correct. ", n))),
    )),
    InputClass("mcq", "letters", (
        Variant("A B C D ...", _mcq(lambda n: fill("A B C D ", n))),
        Variant("B, B, ...", _mcq(lambda n: fill("B, ", n))),
        Variant("(A)(B)(C) lines", _mcq(lambda n: fill("(A)\n(B)\n(C)\n", n))),
    )),
    InputClass("mcq", "negations", (
        Variant("Not A. ...", _mcq(lambda n: fill("Not A. ", n))),
        Variant("A is incorrect, not B ...", _mcq(lambda n: fill("A is incorrect, not B; ", n) + " Answer: C")),
    )),
    InputClass("mcq", "option texts", (
        Variant("Papule Plaque ...", _mcq(lambda n: fill("Papule Plaque Nodule Vesicle ", n))),
        Variant("it is not a papule, ...", _mcq(lambda n: fill("it is not a papule, maybe a plaque; ", n))),
    )),
    InputClass("mcq", "one long line", (
        Variant("words, no newline, answer last", _mcq(lambda n: fill("the lesion looks raised and red ", max(0, n - 9)) + "Answer: B")),
        Variant("no spaces", _mcq(lambda n: fill("x", n))),
    )),
    InputClass("mcq", "Chinese", (
        Variant("答案是B。...", _mcq(lambda n: fill("答案是B。", n), OPTIONS_ZH, "zh")),
        Variant("不是A，排除C ...", _mcq(lambda n: fill("不是A，排除C，", n) + "选B", OPTIONS_ZH, "zh")),
        Variant("丘疹斑块 ...", _mcq(lambda n: fill("丘疹斑块结节水疱", n), OPTIONS_ZH, "zh")),
    )),
    # ------------------------------------------------------------------------ open-ended
    InputClass("open", "Chinese without spaces", (
        Variant("皮损呈红色边界不清 ...", _open(lambda n: fill("皮损呈红色边界不清，", n), ["红色"], "皮损是什么颜色？", "zh")),
        Variant("红色红色 ...", _open(lambda n: fill("红色", n), ["红色"], "皮损是什么颜色？", "zh")),
    )),
    InputClass("open", "repeated words", (
        Variant("red red ...", _open(lambda n: fill("red ", n), ["red"])),
        Variant("not pink but red ...", _open(lambda n: fill("not pink but red, ", n), ["pink"])),
    )),
    InputClass("open", "huge numbers", (
        Variant("one n-digit number", _open(lambda n: "about " + fill("9", n) + " mm", ["5 mm"], "How large is it?")),
        Variant("many sizes", _open(lambda n: fill("3.5 cm x 12 mm, ", n), ["5 mm"], "How large is it?")),
    )),
    InputClass("open", "many references", (
        Variant("['red'] * n/5", _open("red", lambda n: ["red"] * max(1, n // 5))),
        Variant("distinct references", _open("red", lambda n: [f"shade {i} of red" for i in range(max(1, n // 16))])),
    )),
    InputClass("open", "long question", (
        Variant("question of n characters", _open("red", ["red"], lambda n: fill("What color is the lesion? ", n))),
        Variant("judgment, n-character question", _open(
            "yes", ["yes"], lambda n: fill("Is the lesion red? ", n), question_type="judgment")),
    )),
)


# ----------------------------------------------------------------------------- one call, timed


def _call(kind: str, args: dict[str, Any]) -> None:
    if kind == "mcq":
        from judge.mcq import extract_choices

        extract_choices(args["candidate"], args["options"], args["language"])
        return
    from judge.clinical.judge import judge_case
    from judge.models import Case
    from judge.rubrics import load_rubric

    case = Case.model_construct(
        question=args["question"], references=args["references"], candidate=args["candidate"], ability=None,
        question_type=args.get("question_type", "short_answer"), attribute=None, language=args["language"],
        options=None,
    )
    judge_case(case, load_rubric("clinical/v3"))


def _child(kind: str, variant: Variant, n: int, conn: Connection) -> None:
    args = variant.build(n)  # built in the child: the parent never holds a 2 MB input per call
    t0 = time.perf_counter()
    try:
        _call(kind, args)
        conn.send(("ok", time.perf_counter() - t0))
    except BaseException as exc:  # a crash is a result too
        conn.send(("error", f"{type(exc).__name__}: {str(exc)[:80]}"))
    conn.close()


def timed(kind: str, variant: Variant, n: int, timeout: float) -> tuple[str, float | str]:
    """``("ok", seconds)``, ``("timeout", timeout)`` or ``("error", message)``; runs in a forked child."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(kind, variant, n, child), daemon=True)
    proc.start()
    child.close()
    try:
        if parent.poll(timeout):
            return parent.recv()  # type: ignore[no-any-return]
        return "timeout", timeout
    except EOFError:
        return "error", f"child died (exit {proc.exitcode})"
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        parent.close()


def _warm() -> None:
    """Load the lexicon and compile the rubric once in the parent, so children start warm."""
    _call("open", _open("red", ["red"])(0))
    _call("mcq", _mcq(lambda n: "Answer: B")(0))


# ------------------------------------------------------------------------------- reporting


def growth(points: list[tuple[int, float]]) -> float | None:
    """Exponent k of time ~ n^k between the two largest measured points (None when unknown)."""
    usable = [(n, t) for n, t in points if t > 0.002]  # below ~2 ms the timer measures noise
    if len(usable) < 2:
        return None
    (n1, t1), (n2, t2) = usable[-2], usable[-1]
    return math.log(t2 / t1) / math.log(n2 / n1)


def fmt_seconds(t: float) -> str:
    if t < 1:
        return f"{t * 1000:.1f} ms"
    if t < 120:
        return f"{t:.2f} s"
    if t < 7200:
        return f"{t / 60:.0f} min"
    return f"{t / 3600:.1f} h"


def run_class(cls: InputClass, sizes: list[int], timeout: float) -> list[str]:
    """Time every variant at every size; one cell per size: the slowest variant there."""
    worst: dict[int, tuple[float, str]] = {}  # n -> (seconds, cell) of the slowest variant

    def note(n: int, seconds: float, cell: str) -> None:
        if seconds > worst.get(n, (-1.0, ""))[0]:
            worst[n] = (seconds, cell)

    for variant in cls.variants:
        points: list[tuple[int, float]] = []
        cells: list[str] = []
        stopped = False
        for n in sizes:
            if stopped:  # past a timeout: extrapolate from the growth measured so far
                k = growth(points) or 2.0
                base_n, base_t = points[-1] if points else (sizes[0], timeout)
                est = max(timeout, base_t * (n / base_n) ** k)
                cell = f"~ {fmt_seconds(est)} (extrapolated, n^{k:.1f})"
                note(n, est, cell)
                cells.append(cell)
                continue
            status, value = timed(cls.kind, variant, n, timeout)
            if status == "ok":
                assert isinstance(value, float)
                points.append((n, value))
                cell = fmt_seconds(value)
                note(n, value, cell)
            elif status == "timeout":
                stopped = True
                cell = f"> {timeout:g} s (timeout)"
                note(n, timeout, cell)
            else:
                cell = f"error: {str(value)[:40]}"
                note(n, float("inf"), cell)
            cells.append(cell)
        k = growth(points)
        print(f"    {cls.name:24} {variant.name:34} " + " | ".join(cells) + (f"  (n^{k:.1f})" if k is not None else ""),
              flush=True)
    return [worst.get(n, (0.0, "-"))[1] for n in sizes]


def service_bodies() -> list[tuple[str, str, dict[str, Any]]]:
    """``(class, variant, body)``: each variant as one POST /score body, as large as the limits allow."""
    bodies = []
    for cls in CLASSES:
        for variant in cls.variants:
            args = variant.build(MAX_CANDIDATE_CHARS)
            if cls.kind == "mcq":
                body: dict[str, Any] = {"question": "Which lesion is shown?", "options": args["options"], "answer": "B",
                                        "candidate": args["candidate"][:MAX_CANDIDATE_CHARS]}
            else:
                refs = args["references"][:MAX_REFERENCES]
                while sum(map(len, refs)) > MAX_REFERENCE_CHARS:
                    refs = refs[: len(refs) // 2]
                body = {"question": args["question"][:MAX_QUESTION_CHARS], "reference": refs,
                        "candidate": args["candidate"][:MAX_CANDIDATE_CHARS]}
                if args.get("question_type"):
                    body["question_type"] = args["question_type"]
            bodies.append((cls.name, variant.name, body))
    return bodies


def _service_child(body: dict[str, Any], conn: Connection) -> None:
    from fastapi.testclient import TestClient

    from judge.settings import Settings
    from service.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(data_dir=Path(tmp), backend="local", max_body_bytes=10_000_000))
        with TestClient(app) as client:
            t0 = time.perf_counter()
            r = client.post("/score", json=body)
            conn.send(("ok", time.perf_counter() - t0, r.status_code))
    conn.close()


def run_service(timeout: float) -> None:
    print(f"\nservice: one POST /score at the limits (candidate {MAX_CANDIDATE_CHARS}, question {MAX_QUESTION_CHARS}, "
          f"references {MAX_REFERENCES} / {MAX_REFERENCE_CHARS} chars), embedded judge, in-process app; "
          "the slowest variant per class")
    ctx = multiprocessing.get_context("fork")
    slowest: dict[str, tuple[float, str]] = {}
    for cls_name, variant_name, body in service_bodies():
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_service_child, args=(body, child), daemon=True)
        proc.start()
        child.close()
        size = sum(len(str(v)) for v in body.values())
        if parent.poll(timeout + 30):  # + the app's start
            _, seconds, code = parent.recv()
            shown = f"{fmt_seconds(seconds):>9}  HTTP {code}"
        else:
            seconds, shown = timeout, f"> {timeout:g} s (timeout)"
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        if seconds > slowest.get(cls_name, (-1.0, ""))[0]:
            slowest[cls_name] = (seconds, f"{size:>8} chars  {shown}  ({variant_name})")
    for name, (_, line) in slowest.items():
        print(f"  {name:24} {line}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="Input lengths in characters, comma-separated.")
    ap.add_argument("--timeout", type=float, default=20.0, help="Seconds per call before it is killed.")
    ap.add_argument("--only", choices=("mcq", "open"), help="Only the MCQ or only the open-ended classes.")
    ap.add_argument("--service", action="store_true", help="Also time one full-size POST /score per class.")
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    _warm()
    print(f"worst case per input class, {os.cpu_count()} CPUs, timeout {args.timeout:g} s per call; "
          "each variant's times by length, then the slowest variant per class")
    table: list[tuple[str, str, list[str]]] = []
    for cls in CLASSES:
        if args.only and cls.kind != args.only:
            continue
        table.append((cls.kind, cls.name, run_class(cls, sizes, args.timeout)))
    head = f"\n{'':5} {'class':24} " + "  ".join(f"{n:>30,}" for n in sizes)
    print(head)
    for kind, name, cells in table:
        print(f"{kind:5} {name:24} " + "  ".join(f"{c:>30}" for c in cells))
    if args.service:
        run_service(args.timeout)


if __name__ == "__main__":
    main()
