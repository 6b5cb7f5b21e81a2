"""Print the mutation score per module after `mutmut run` (`make mutate`).

score = (killed + timeout) / mutants checked; a mutant that no selected test calls ("no tests")
counts as not killed, and mutants not checked yet (a partial run, `mutmut run GLOB`) are left
out. Reads `mutmut results --all true`, so it runs from the project root.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

COLUMNS = ["killed", "timeout", "survived", "no tests", "other", "not checked"]


def main() -> int:
    mutmut = Path(sys.executable).with_name("mutmut")
    out = subprocess.run(  # noqa: S603 (the venv's own mutmut, fixed arguments)
        [str(mutmut), "results", "--all", "true"], capture_output=True, text=True, check=True
    ).stdout
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if not sep or "__mutmut_" not in name:
            continue
        module = name.split(".x", 1)[0]  # app.verify.sun.x_parse_query__mutmut_3
        status = status.strip()
        counts[module][status if status in COLUMNS else "other"] += 1
    if not counts:
        print("no mutmut results: run `mutmut run` first", file=sys.stderr)
        return 1
    width = max(len(m) for m in counts)
    print(f"{'module':<{width}}  mutants  " + "  ".join(COLUMNS) + "  score")
    totals: Counter[str] = Counter()
    for module in sorted(counts):
        totals.update(counts[module])
        print(_row(module, counts[module], width))
    print(_row("all", totals, width))
    return 0


def _row(label: str, c: Counter[str], width: int) -> str:
    total = sum(c.values())
    checked = total - c["not checked"]
    score = (c["killed"] + c["timeout"]) / checked if checked else 0.0
    cells = "  ".join(f"{c[col]:>{len(col)}}" for col in COLUMNS)
    return f"{label:<{width}}  {total:>7}  {cells}  {score:6.1%}"


if __name__ == "__main__":
    sys.exit(main())
