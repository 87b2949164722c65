"""Train / dev / held-out splits of a gold set, stratified by ability and gold score.

A candidate's stratum is ``"<ability>|<gold consensus>"`` (consensus = median of its ratings, see
:func:`judge.agreement.consensus`). Two seeded ``sklearn.model_selection.train_test_split`` calls
cut train from the rest, then dev from held-out, each stratified on that combined label.

Tiny strata cannot be stratified (scikit-learn needs at least two members per class in every
cut), so a stratum with fewer than ``min_stratum`` members falls back to its gold score alone
(``"*|0.5"``), and one that is still too small to ``"*"``; a cut that still cannot be stratified
is made unstratified and says so in :attr:`GoldSplit.notes`.

``by="question"`` keeps every candidate of one question (same question text and references) in
one part - the unit split is then the question, stratified by its ability and its candidates'
median gold score - so that no held-out candidate shares its question and reference with a
training example (few-shot demos would otherwise show the grader the answer key).

Usage::

    split = split_gold(rows, seed=0)               # 60 / 20 / 20 by candidate
    train, dev, test = split.parts(rows)
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from judge.errors import InputError
from judge.models import GoldRating

SplitBy = Literal["candidate", "question"]


class GoldSplit(BaseModel):
    """Which gold ids are in which part, and how the split was made."""

    model_config = ConfigDict(extra="forbid")

    method: str = Field(description="`stratified` (ability x gold score), or `files` (given by the user).")
    by: SplitBy = Field(default="candidate", description="Unit of the split: a candidate or a whole question.")
    seed: int | None = Field(default=None, description="Seed of the split (None for `files`).")
    fractions: dict[str, float] = Field(default_factory=dict, description="Requested dev / test shares.")
    train: list[str] = Field(description="Ids the optimizer fits on.")
    dev: list[str] = Field(description="Ids the optimizer selects on.")
    test: list[str] = Field(description="Held-out ids: never shown to the optimizer; the final figure only.")
    notes: list[str] = Field(default_factory=list, description="Strata merged, cuts left unstratified, ...")

    def parts(self, rows: Sequence[GoldRating]) -> tuple[list[GoldRating], list[GoldRating], list[GoldRating]]:
        """``rows`` cut into (train, dev, test), each in gold-file order."""
        where = {i: "train" for i in self.train} | {i: "dev" for i in self.dev} | {i: "test" for i in self.test}
        out: dict[str, list[GoldRating]] = {"train": [], "dev": [], "test": []}
        for row in rows:
            if row.id in where:
                out[where[row.id]].append(row)
        return out["train"], out["dev"], out["test"]

    def counts(self) -> dict[str, int]:
        """Size of each part."""
        return {"train": len(self.train), "dev": len(self.dev), "test": len(self.test)}


def gold_score(row: GoldRating) -> float:
    """The gold consensus of a candidate (median of its ratings, on the scale)."""
    from judge.agreement import consensus

    value = consensus(row.ratings.values())
    assert value is not None  # GoldRating guarantees at least one rating
    return value


def stratum(row: GoldRating) -> str:
    """The combined stratum ``"<ability>|<gold score>"``."""
    return f"{row.ability}|{gold_score(row):g}"


def question_key(row: GoldRating) -> str:
    """Candidates with the same question and references belong to one question."""
    return row.question.strip() + "\x00" + "\x00".join(sorted(row.references))


def _coarsen(labels: list[str], min_stratum: int) -> tuple[list[str], list[str]]:
    """Merge strata smaller than ``min_stratum``: into their gold score, then into ``*``, then into the largest."""
    notes = []
    counts = Counter(labels)
    small = sorted(k for k, n in counts.items() if n < min_stratum and "|" in k and not k.startswith("*|"))
    if small:
        notes.append(f"merged into their gold score (too small): {', '.join(small)}")
        labels = ["*|" + lab.partition("|")[2] if lab in small else lab for lab in labels]
    counts = Counter(labels)
    small = sorted(k for k, n in counts.items() if n < min_stratum and k != "*")
    if small:
        notes.append(f"merged into one stratum (still too small): {', '.join(small)}")
        labels = ["*" if lab in small else lab for lab in labels]
    counts = Counter(labels)
    if 0 < counts.get("*", 0) < min_stratum and len(counts) > 1:
        largest = max((k for k in counts if k != "*"), key=lambda k: (counts[k], k))
        notes.append(f"merged the leftovers into {largest}")
        labels = [largest if lab == "*" else lab for lab in labels]
    return labels, notes


def _cut(
    units: list[str], labels: list[str], size: float, seed: int, what: str
) -> tuple[list[str], list[str], list[str]]:
    """One stratified cut (falls back to unstratified with a note)."""
    from sklearn.model_selection import train_test_split

    labels, notes = _coarsen(labels, 2)
    try:
        keep, take = train_test_split(units, test_size=size, random_state=seed, stratify=labels)
    except ValueError as exc:
        notes.append(f"could not stratify ({exc}); cut unstratified")
        keep, take = train_test_split(units, test_size=size, random_state=seed, stratify=None)
    return list(keep), list(take), [f"{what}: {n}" for n in notes]


def split_gold(
    rows: Sequence[GoldRating],
    *,
    seed: int = 0,
    dev: float = 0.2,
    test: float = 0.2,
    by: SplitBy = "candidate",
    min_stratum: int = 3,
) -> GoldSplit:
    """Seeded train / dev / held-out split stratified by ability x gold score.

    ``dev`` and ``test`` are shares of the whole set; train gets the rest. Each part gets at least
    one unit; a set too small for three parts raises :class:`InputError`.
    """
    if not 0 < dev < 1 or not 0 < test < 1 or dev + test >= 1:
        raise InputError(f"dev ({dev}) and test ({test}) must be shares in (0, 1) that leave room for train")
    ids = [r.id for r in rows]
    if len(set(ids)) != len(ids):
        raise InputError("gold ids must be unique to split them")

    members: dict[str, list[str]] = defaultdict(list)
    if by == "question":
        abilities: dict[str, str] = {}
        scores: dict[str, list[float]] = defaultdict(list)
        for r in rows:
            key = question_key(r)
            members[key].append(r.id)
            abilities.setdefault(key, r.ability)
            scores[key].append(gold_score(r))
        from judge.agreement import consensus

        units = list(members)
        labels = [f"{abilities[u]}|{consensus(scores[u]):g}" for u in units]
    else:
        units = ids
        labels = [stratum(r) for r in rows]
        for i in ids:
            members[i] = [i]
    if len(units) < 3:
        raise InputError(f"{len(units)} {by}s cannot be split into train, dev and held-out; give --train/--dev/--test")

    labels, notes = _coarsen(labels, min_stratum)
    label_of = dict(zip(units, labels, strict=True))
    train_u, rest_u, n1 = _cut(units, labels, dev + test, seed, "train vs rest")
    dev_u, test_u, n2 = _cut(rest_u, [label_of[u] for u in rest_u], test / (dev + test), seed, "dev vs held-out")
    order = {i: n for n, i in enumerate(ids)}

    def expand(us: list[str]) -> list[str]:
        return sorted((i for u in us for i in members[u]), key=order.__getitem__)

    return GoldSplit(
        method="stratified",
        by=by,
        seed=seed,
        fractions={"dev": dev, "test": test},
        train=expand(train_u),
        dev=expand(dev_u),
        test=expand(test_u),
        notes=notes + n1 + n2,
    )


def split_from_parts(
    train: Sequence[GoldRating], dev: Sequence[GoldRating], test: Sequence[GoldRating]
) -> tuple[list[GoldRating], GoldSplit]:
    """A split given as three gold files; ids must be unique across them. Returns all rows and the split."""
    seen: dict[str, str] = {}
    for name, part in (("train", train), ("dev", dev), ("test", test)):
        if not part:
            raise InputError(f"the {name} file holds no candidates")
        for r in part:
            if r.id in seen:
                raise InputError(f"id {r.id!r} is in both the {seen[r.id]} and the {name} file")
            seen[r.id] = name
    split = GoldSplit(
        method="files", by="candidate", train=[r.id for r in train], dev=[r.id for r in dev], test=[r.id for r in test]
    )
    return [*train, *dev, *test], split
