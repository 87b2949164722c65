"""List the longest and most complex functions of the package, and fail when one is over the bounds.

Lines are a function's source lines (decorators and docstring included); complexity is McCabe's
cyclomatic complexity as ruff's C901 rule computes it (the same number CI's lint would report).

Usage::

    python scripts/function_sizes.py                 # judge/ and service/, the 20 largest, bounds 80 / 30
    python scripts/function_sizes.py --top 50 judge/clinical
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 80
MAX_COMPLEXITY = 30


@dataclass(frozen=True)
class Function:
    path: str
    name: str
    line: int
    lines: int
    complexity: int


def complexities(paths: list[Path]) -> dict[tuple[str, int], int]:
    """``(file, line) -> complexity`` of every function, from ``ruff check --select C901``."""
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "C901", "--config", "lint.mccabe.max-complexity=0",
         "--output-format", "json", "--no-cache", "--exit-zero", *map(str, paths)],
        capture_output=True, text=True, check=True,
    )
    out = {}
    for finding in json.loads(done.stdout):
        number = re.search(r"\((\d+) > 0\)", finding["message"])
        if number:
            where = (str(Path(finding["filename"]).resolve().relative_to(ROOT)), finding["location"]["row"])
            out[where] = int(number.group(1))
    return out


def functions(paths: list[Path]) -> list[Function]:
    cc = complexities(paths)
    found = []
    for base in paths:
        for path in sorted(base.rglob("*.py")) if base.is_dir() else [base]:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for n in ast.walk(tree):
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    start = min([n.lineno, *(d.lineno for d in n.decorator_list)])
                    assert n.end_lineno is not None
                    rel = str(path.relative_to(ROOT))
                    found.append(Function(rel, n.name, n.lineno, n.end_lineno - start + 1, cc.get((rel, n.lineno), 1)))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, default=[ROOT / "judge", ROOT / "service"])
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    found = functions([p.resolve() for p in args.paths])
    print(f"{'lines':>5}  {'cc':>3}  function")
    for f in sorted(found, key=lambda f: (-f.lines, -f.complexity))[: args.top]:
        print(f"{f.lines:>5}  {f.complexity:>3}  {f.path}:{f.line} {f.name}")
    over = [f for f in found if f.lines > MAX_LINES or f.complexity > MAX_COMPLEXITY]
    print(f"\n{len(found)} functions; {len(over)} over {MAX_LINES} lines or complexity {MAX_COMPLEXITY}")
    for f in over:
        print(f"  OVER: {f.path}:{f.line} {f.name} ({f.lines} lines, complexity {f.complexity})")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
