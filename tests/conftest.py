"""Shared fixtures. Every test runs offline with its own data directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path, monkeypatch):
    """Point JUDGE_DATA_DIR at a fresh folder so no test touches another's store."""
    monkeypatch.setenv("JUDGE_DATA_DIR", str(tmp_path / "data"))
    for var in ("JUDGE_API_KEY", "JUDGE_API_BASE", "JUDGE_API_KEYS", "JUDGE_DB_PATH", "JUDGE_RUBRICS_DIR"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def store():
    from judge.store import Store

    s = Store.open(":memory:")
    yield s
    s.close()


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """Write rows as JSONL and return the path."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def item(id: str, **kw) -> dict:
    """A valid open-ended benchmark item, overridable."""
    base = {
        "id": id, "split": "test", "ability": "attribute_recognition", "question_type": "short_answer",
        "question": "What color is the lesion?", "answer": "pink", "attribute": "color",
    }
    base.update(kw)
    return base


def mcq_item(id: str, **kw) -> dict:
    """A valid multiple-choice benchmark item, overridable."""
    base = {
        "id": id, "split": "test", "ability": "lesion_recognition", "question_type": "mcq",
        "question": "Which lesions are present?",
        "options": {"A": "Papule", "B": "Plaque", "C": "Vesicle", "D": "None of the above"},
        "answer": ["A", "C"],
    }
    base.update(kw)
    return base


def make_read_only(path: Path) -> Callable[[], None]:
    """Make a file or directory read-only - for root too, who ignores permission bits (then it
    is made immutable with chattr, or the test is skipped) - and return what undoes it."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        return lambda: path.chmod(mode)
    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("running as root without chattr +i: cannot make a path read-only")
    return lambda: subprocess.run(["chattr", "-i", str(path)], capture_output=True, check=True)
