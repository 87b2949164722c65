"""Versioned rubrics: load, validate, hash and render.

A rubric is a YAML file ``rubrics/<name>/<version>.yaml`` validated by :class:`Rubric`.
Its equivalence tables (color, size, shape, boundary, quantity, distribution) are structured
fields: :func:`render_messages` writes them into the LLM prompt, and the embedded judge reads
the very same objects, so there is one source of truth.

A rubric's identity is the sha256 of its file bytes. Published rubrics are listed with their
sha in ``rubrics/PUBLISHED``; a published file never changes (a test checks every entry), and
changes go into a new version.

Rubrics are looked up in two folders, in order: the **bundled** ones (the checkout's ``rubrics/``
or the installed package's copy) and the **drafts** folder (``$JUDGE_RUBRICS_DIR``, by default
``$JUDGE_DATA_DIR/rubrics``), where ``judge calibrate`` writes its drafts - never into the source
tree or the installed package. Each folder keeps its own ``PUBLISHED`` ledger.

A rubric does one job (``kind``): a ``critic`` grades open-ended answers, an ``extraction``
rubric reads options out of MCQ answers; :func:`require_kind` refuses the other job.

Usage::

    rubric = load_rubric("v3")            # clinical/v3
    messages = render_messages(rubric, case)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from string import Template
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from judge.errors import RubricError
from judge.io import check_writable, describe_validation_error
from judge.models import Case

DEFAULT_RUBRIC = "clinical/v3"
DEFAULT_NAME = "clinical"
PUBLISHED_FILE = "PUBLISHED"
_VERSION = re.compile(r"^v(\d+)$")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
KIND_USE = {"critic": "grading open-ended answers", "extraction": "reading options out of MCQ answers"}
KIND_EXAMPLE = {"critic": DEFAULT_RUBRIC, "extraction": "mcq_extraction/v1"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Terms(_Strict):
    """Surface forms of one concept, per language."""

    en: list[str] = Field(default_factory=list, description="English terms (lower case).")
    zh: list[str] = Field(default_factory=list, description="Chinese terms.")

    def all(self) -> list[str]:
        """Every term, English first."""
        return [*self.en, *self.zh]


class Group(_Strict):
    """A class of equivalent terms (a color family, a shape, a boundary kind, ...)."""

    name: str = Field(description="Canonical name, used in rationales and in `adjacent` pairs.")
    terms: Terms = Field(description="Terms that all mean this group.")
    mm: tuple[float, float] | None = Field(
        default=None, description="Size descriptors only: the millimetre range the term stands for."
    )
    count: tuple[int, int | None] | None = Field(
        default=None, description="Quantity only: the count range (max None = unbounded)."
    )


class Table(_Strict):
    """One equivalence table: groups, which pairs earn partial credit, which are opposites."""

    description: str = Field(default="", description="One line on how the table is applied.")
    groups: list[Group] = Field(description="The equivalence classes.")
    full: list[tuple[str, str]] = Field(
        default_factory=list, description="Pairs of different groups that still earn full credit."
    )
    adjacent: list[tuple[str, str]] = Field(
        default_factory=list, description="Pairs of groups that earn partial credit (0.5)."
    )
    opposites: list[tuple[str, str]] = Field(
        default_factory=list, description="Pairs that contradict each other (0)."
    )
    partial_factor: float | None = Field(
        default=None, description="Size only: ranges within this factor of each other earn 0.5."
    )

    def group(self, name: str) -> Group:
        """The group called ``name``."""
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(name)


class Equivalences(_Strict):
    """The equivalence tables a rubric carries (v3 and later)."""

    color: Table | None = None
    size: Table | None = None
    shape: Table | None = None
    boundary: Table | None = None
    quantity: Table | None = None
    distribution: Table | None = None

    def tables(self) -> dict[str, Table]:
        """The tables present, by attribute name."""
        return {k: v for k, v in self if v is not None}


class Demo(_Strict):
    """A worked example shown to an LLM judge (few-shot)."""

    question: str
    reference: str
    candidate: str
    score: float
    rationale: str


class LocalParams(_Strict):
    """Parameters of the embedded judge that calibration may tune."""

    hedge_max_alternatives: int = Field(
        default=2, description="An answer offering more alternatives than this scores 0."
    )
    full_threshold: float = Field(
        default=0.999, description="Share of reference parts matched for full credit."
    )
    partial_threshold: float = Field(
        default=0.5, description="Share of reference parts matched for partial credit."
    )
    coarser_site_credit: float = Field(default=0.5, description="Credit for a correct but coarser site.")
    parent_disease_credit: float = Field(
        default=0.5, description="Credit for a correct but broader disease category."
    )
    adjacent_credit: float = Field(default=0.5, description="Credit for an adjacent table entry.")
    judgment_without_reason_credit: float = Field(
        default=0.5, description="Judgment: right yes/no, reasoning asked but missing or wrong."
    )
    overrides: dict[str, float] = Field(
        default_factory=dict,
        description="Calibrated credit for specific table pairs, keyed `attribute:a|b`.",
    )


class Rubric(_Strict):
    """A versioned judging rubric (a critic), or an MCQ extraction prompt."""

    name: str = Field(description="Rubric family, e.g. `clinical`.")
    version: str = Field(pattern=r"^v\d+$", description="`v1`, `v2`, ...")
    kind: Literal["critic", "extraction"] = Field(default="critic", description="What the rubric does.")
    status: Literal["draft", "published"] = Field(description="Only published rubrics are immutable.")
    derived_from: str | None = Field(default=None, description="The version this one was made from.")
    description: str = Field(description="What this version adds.")
    system: str = Field(description="System prompt ($-template).")
    template: str = Field(description="User prompt ($-template).")
    criteria: dict[str, str] = Field(default_factory=dict, description="Score tier -> what earns it.")
    rules: list[str] = Field(default_factory=list, description="General rules (hedging, negation, ...).")
    ability_criteria: dict[str, str] = Field(
        default_factory=dict, description="Ability -> what matters for that ability (v2+)."
    )
    equivalences: Equivalences = Field(
        default_factory=Equivalences, description="Equivalence tables (v3+)."
    )
    local: LocalParams = Field(default_factory=LocalParams, description="Embedded judge parameters.")
    demos: list[Demo] = Field(default_factory=list, description="Few-shot examples.")
    provenance: dict[str, Any] = Field(default_factory=dict, description="How this version was made.")
    sha256: str = Field(default="", description="sha256 of the file bytes (set on load).")
    path: str = Field(default="", description="Where the file was loaded from (set on load).")

    @property
    def id(self) -> str:
        """``name/version``."""
        return f"{self.name}/{self.version}"


def rubrics_dir() -> Path:
    """The bundled rubric directory: the checkout's ``rubrics/`` or the packaged copy."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "rubrics", here / "_rubrics"):
        if candidate.is_dir():
            return candidate
    raise RubricError("no bundled rubrics directory found: reinstall the package")


def drafts_dir() -> Path:
    """The writable rubric folder (``$JUDGE_RUBRICS_DIR``, default ``$JUDGE_DATA_DIR/rubrics``)."""
    return _drafts_dir(os.environ.get("JUDGE_RUBRICS_DIR"), os.environ.get("JUDGE_DATA_DIR"))


@lru_cache(maxsize=8)
def _drafts_dir(_rubrics_dir: str | None, _data_dir: str | None) -> Path:
    """``Settings().drafts_dir``, built again only when a variable it depends on changes (building
    the settings costs ~1 ms, and every rubric lookup needs the folder)."""
    from judge.settings import Settings

    return Settings().drafts_dir


def drafts_target() -> Path:
    """The drafts folder, checked to be one drafts may be written to (call it before long work)."""
    target = drafts_dir()
    if target.resolve() == rubrics_dir().resolve():
        raise RubricError(
            f"the drafts folder {target} is the bundled rubrics folder: drafts never go there; "
            "set JUDGE_RUBRICS_DIR to another folder"
        )
    check_writable(target, option="the drafts folder (JUDGE_RUBRICS_DIR)", directory=True)
    return target


def rubric_roots() -> list[Path]:
    """The folders searched for a rubric id, in order: bundled, then drafts."""
    bundled, drafts = rubrics_dir(), drafts_dir()
    return [bundled] if drafts.resolve() == bundled.resolve() else [bundled, drafts]


def resolve_path(spec: str, root: Path | None = None) -> Path:
    """Map ``v3``, ``clinical/v3`` or a file path to a rubric file (``root``: search only there)."""
    roots = [root] if root else rubric_roots()
    as_path = Path(spec)
    if spec.endswith((".yaml", ".yml")) and as_path.is_file():
        return as_path
    name, _, version = spec.rpartition("/")
    name = name or DEFAULT_NAME
    if _NAME.match(name) and _VERSION.match(version):
        for r in roots:
            path = r / name / f"{version}.yaml"
            if path.is_file():
                return path
    known = ", ".join(list_rubrics(root)) or "none"
    raise RubricError(f"unknown rubric {spec!r} (known: {known})")


def list_rubrics(root: Path | None = None) -> list[str]:
    """Every rubric id (in the bundled and drafts folders, or under ``root``), in version order."""
    roots = [root] if root else rubric_roots()

    def order(rid: str) -> tuple[str, int]:
        name, _, version = rid.partition("/")
        return (name, int(version[1:]))

    ids = {f"{p.parent.name}/{p.stem}" for r in roots for p in r.glob("*/v*.yaml") if _VERSION.match(p.stem)}
    return sorted(ids, key=order)


def require_kind(rubric: Rubric, kind: str) -> Rubric:
    """``rubric`` when it was written for ``kind``'s job, else a RubricError (before any call is made)."""
    if rubric.kind != kind:
        raise RubricError(
            f"{rubric.id} is {_a(rubric.kind)} rubric (for {KIND_USE[rubric.kind]}), not {_a(kind)} rubric: "
            f"{KIND_USE[kind]} needs {_a(kind)} rubric such as {KIND_EXAMPLE[kind]}"
        )
    return rubric


def _a(kind: str) -> str:
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def load_rubric(spec: str = DEFAULT_RUBRIC, root: Path | None = None) -> Rubric:
    """Load and validate a rubric by id or path."""
    path = resolve_path(spec, root)
    return _load(str(path.resolve()), path.stat().st_mtime_ns)


def resolve_rubric(rubric: str | Rubric) -> Rubric:
    """``rubric`` itself, or the rubric its id or path loads."""
    return load_rubric(rubric) if isinstance(rubric, str) else rubric


class _PlainLoader(yaml.SafeLoader):
    """YAML without aliases: ten nested anchors of nine aliases each (a "billion laughs") load as a
    small shared structure, then expand to billions of nodes when the rubric is dumped or hashed.
    A rubric has no use for aliases, so one is an error where it stands."""

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in a rubric file", mark)
        return super().compose_node(parent, index)  # type: ignore[arg-type]


def read_yaml(data: bytes | str) -> Any:
    """Parse rubric YAML (safe types, no aliases)."""
    return yaml.load(data, Loader=_PlainLoader)  # a SafeLoader subclass: safe types only


@lru_cache(maxsize=64)
def _load(path: str, _mtime: int) -> Rubric:
    data = Path(path).read_bytes()
    try:
        raw = read_yaml(data)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        problem = "; ".join(part for part in (exc.context, exc.problem) if part)
        raise RubricError(f"{where}: not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise RubricError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(raw, dict):
        raise RubricError(f"{path}: a rubric file must hold a mapping")
    try:
        rubric = Rubric.model_validate(
            {**raw, "sha256": hashlib.sha256(data).hexdigest(), "path": path}
        )
    except ValidationError as exc:
        raise RubricError(f"{path}: invalid rubric: {describe_validation_error(exc)}") from None
    if Path(path).stem != rubric.version:
        raise RubricError(f"{path}: file name says {Path(path).stem} but the rubric says {rubric.version}")
    return rubric


def published(root: Path | None = None) -> dict[str, str]:
    """``rubric id -> sha256`` of every published rubric, from the ``PUBLISHED`` ledger(s)."""
    entries: dict[str, str] = {}
    for r in reversed([root] if root else rubric_roots()):  # the bundled ledger wins
        entries.update(_ledger(r))
    return entries


def _ledger(root: Path) -> dict[str, str]:
    path = root / PUBLISHED_FILE
    if not path.is_file():
        return {}
    entries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            rid, sha = line.split()
            entries[rid] = sha
    return entries


def verify_published(root: Path | None = None) -> list[str]:
    """Problems with published rubrics (changed, missing, unlisted); empty when all is well."""
    problems = []
    for r in [root] if root else rubric_roots():
        listed = _ledger(r)
        for rid, sha in listed.items():
            path = r / f"{rid}.yaml"
            if not path.is_file():
                problems.append(f"{rid}: published but the file is missing")
                continue
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
            if actual != sha:
                problems.append(f"{rid}: published file changed (sha {actual[:12]} != {sha[:12]}); make a new version")
        for rid in list_rubrics(r):
            if rid not in listed and load_rubric(rid, r).status == "published":
                problems.append(f"{rid}: says status published but is not listed in {r / PUBLISHED_FILE}")
    return problems


def next_version(name: str, root: Path | None = None) -> str:
    """The next free version of a rubric family (over every folder searched, or ``root``)."""
    roots = [root] if root else rubric_roots()
    used = [int(m.group(1)) for r in roots for p in (r / name).glob("v*.yaml") if (m := _VERSION.match(p.stem))]
    return f"v{max(used, default=0) + 1}"


class _ReviewDumper(yaml.SafeDumper):
    """Drafts are read by reviewers: multi-line text as ``|`` blocks, lists of plain values on one line."""


def _str_block(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text and not any(line != line.rstrip() for line in text.splitlines()) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


def _flat_list(dumper: yaml.SafeDumper, items: list[Any]) -> yaml.Node:
    flat = all(isinstance(x, (str, int, float, bool)) and "\n" not in str(x) and len(str(x)) <= 60 for x in items)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=flat or None)


_ReviewDumper.add_representer(str, _str_block)
_ReviewDumper.add_representer(list, _flat_list)


def write_draft(rubric_data: dict[str, Any], root: Path | None = None) -> Path:
    """Write a new draft rubric as the next free version of its family; never overwrites.

    By default drafts go to the drafts folder (:func:`drafts_dir`) as the next version free in
    every folder searched, so a draft never shadows a bundled rubric. With ``root`` (a
    self-contained rubric tree, e.g. a test's), only ``root`` counts.
    """
    target = root or drafts_target()
    name = rubric_data["name"]
    for _ in range(100):  # another calibration may take the same version at the same moment
        version = next_version(name, root)
        data = {**rubric_data, "version": version, "status": "draft"}
        data.pop("sha256", None)
        data.pop("path", None)
        Rubric.model_validate(data)
        path = target / name / f"{version}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(path, "x", encoding="utf-8") as fh:  # "x": fail rather than overwrite
                yaml.dump(data, fh, Dumper=_ReviewDumper, allow_unicode=True, sort_keys=False, width=100)
        except FileExistsError:
            continue
        return path
    raise RubricError(f"could not find a free version of {name} in {target}")


def held_out_change(rubric: Rubric) -> str | None:
    """``held-out alpha 0.712 -> 0.698`` from a calibrated rubric's provenance, if it has one."""
    held_out = rubric.provenance.get("agreement", {}).get("held_out", {})
    if not isinstance(held_out, dict) or not held_out:
        return None

    def alpha(when: str) -> str:
        value = (held_out.get(when) or {}).get("alpha_ordinal")
        return "n/a" if not isinstance(value, int | float) else f"{value:.3f}"

    base = rubric.provenance.get("base", {}).get("id") or rubric.derived_from or "its base"
    return f"held-out alpha (ordinal) {alpha('before')} ({base}) -> {alpha('after')} ({rubric.id})"


def publish(spec: str, root: Path | None = None, *, force: bool = False) -> Rubric:
    """Turn a reviewed draft into a published version and record its sha in its folder's ledger.

    A draft whose provenance says ``improved: false`` (it did not beat its base on held-out gold)
    is refused unless ``force``: publishing it would ship a judge measured to be no better.
    """
    path = resolve_path(spec, root)
    rubric = load_rubric(str(path), root)
    if rubric.status == "published":
        raise RubricError(f"{rubric.id} is already published")
    if rubric.provenance.get("improved") is False and not force:
        change = held_out_change(rubric)
        raise RubricError(
            f"{rubric.id} did not improve on held-out gold"
            + (f" ({change})" if change else "")
            + "; its provenance says improved: false. Publish it anyway with --force"
        )
    text = path.read_text(encoding="utf-8")
    new_text, n = re.subn(r"(?m)^status:\s*draft\s*$", "status: published", text, count=1)
    if n != 1:
        raise RubricError(f"{path}: could not find the `status: draft` line")
    path.write_text(new_text, encoding="utf-8")
    rubric = load_rubric(str(path), root)
    with open(path.parent.parent / PUBLISHED_FILE, "a", encoding="utf-8") as fh:
        fh.write(f"{rubric.id} {rubric.sha256}\n")
    return rubric


# ---------------------------------------------------------------------------- rendering

_TAGS = ("question", "reference", "candidate_answer", "options")


def _fence(text: str) -> str:
    """Neutralise our block delimiters inside user text so it cannot close a block."""
    for tag in _TAGS:
        text = re.sub(rf"</?\s*{tag}\s*>", lambda m: m.group(0).replace("<", "‹").replace(">", "›"), text, flags=re.I)
    return text


def render_table(attribute: str, table: Table) -> str:
    """One equivalence table as prompt text."""
    lines = [f"{attribute.upper()}" + (f" - {table.description}" if table.description else "")]
    for g in table.groups:
        extra = ""
        if g.mm:
            extra = f" (~{g.mm[0]:g}-{g.mm[1]:g} mm)"
        elif g.count:
            hi = "+" if g.count[1] is None else f"-{g.count[1]}"
            extra = f" (count {g.count[0]}{hi})"
        lines.append(f"  - {g.name}{extra}: " + " = ".join(g.terms.all()))
    if table.full:
        lines.append("  full credit across groups: " + "; ".join(f"{a} ~ {b}" for a, b in table.full))
    if table.adjacent:
        lines.append("  adjacent (0.5): " + "; ".join(f"{a} ~ {b}" for a, b in table.adjacent))
    if table.opposites:
        lines.append("  contradictory (0): " + "; ".join(f"{a} vs {b}" for a, b in table.opposites))
    if table.partial_factor:
        lines.append(f"  sizes that do not overlap but lie within x{table.partial_factor:g} of each other: 0.5")
    return "\n".join(lines)


def render_criteria(rubric: Rubric, ability: str | None) -> str:
    """The score tiers, general rules and ability criteria as prompt text."""
    parts = [f"Score {tier}: {text.strip()}" for tier, text in rubric.criteria.items()]
    if rubric.rules:
        parts.append("Rules:\n" + "\n".join(f"- {r.strip()}" for r in rubric.rules))
    if ability and ability in rubric.ability_criteria:
        parts.append(f"For this ability ({ability}): {rubric.ability_criteria[ability].strip()}")
    return "\n".join(parts)


def render_equivalences(rubric: Rubric, attribute: str | None = None) -> str:
    """The equivalence tables as prompt text (all of them; the asked attribute first)."""
    tables = rubric.equivalences.tables()
    if not tables:
        return ""
    order = sorted(tables, key=lambda k: (k != attribute, list(tables).index(k)))
    return "Equivalence criteria:\n" + "\n".join(render_table(k, tables[k]) for k in order)


def render_demos(rubric: Rubric) -> str:
    """Few-shot demonstrations as prompt text."""
    if not rubric.demos:
        return ""
    out = ["Examples:"]
    for d in rubric.demos:
        out.append(
            json.dumps(
                {"question": d.question, "reference": d.reference, "candidate": d.candidate,
                 "verdict": {"rationale": d.rationale, "score": d.score}},
                ensure_ascii=False,
            )
        )
    return "\n".join(out)


def render_messages(rubric: Rubric, case: Case) -> list[dict[str, str]]:
    """Chat messages asking an LLM to judge ``case`` under ``rubric``."""
    refs = case.references
    reference = refs[0] if len(refs) == 1 else "\n".join(f"- {r}" for r in refs) + "\n(any one of these suffices)"
    options = "\n".join(f"{k}. {v}" for k, v in (case.options or {}).items())
    values = {
        "question": _fence(case.question),
        "reference": _fence(reference),
        "candidate": _fence(case.candidate),
        "options": _fence(options),
        "ability": case.ability or "unspecified",
        "question_type": case.question_type,
        "attribute": case.attribute or "none",
        "language": case.language,
        "criteria": render_criteria(rubric, case.ability),
        "equivalences": render_equivalences(rubric, case.attribute),
        "demos": render_demos(rubric),
    }
    system = Template(rubric.system).safe_substitute(values).strip()
    user = Template(rubric.template).safe_substitute(values)
    user = re.sub(r"\n{3,}", "\n\n", user).strip()
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
