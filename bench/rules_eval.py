"""Rules engine figures: evaluation time per fact with 10, 200 and 1,000 journeys, and compile
time for 500 journeys.

Targets (journey-language issue): median evaluation <= 0.2 ms at 200 journeys; 1,000 journeys cost
at most 3x what 10 cost; compiling 500 journeys <= 1 s. The first ``--check`` facts of each run are
also decided by the reference evaluator (the explainer): any difference fails the run.

    .venv/bin/python bench/rules_eval.py [--facts 5000] [--check 1000]

Synthetic rulesets look like real ones: each journey has two to four conditions over the fact
vocabulary (equality, in, ranges, nested any), a catch-all journey closes the list, and the facts
are drawn so that matches land throughout the list, not only at the top.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.rules.service import decide, expected_journey, parse_ruleset

CATEGORIES = ["bag", "serum", "whisky", "sneakers", "watch", "scarf", "perfume", "belt"]
COUNTRIES = ["FR", "JP", "US", "DE", "CN", "GB", "IT", "CH"]


def ruleset_text(n: int, seed: int) -> str:
    """Return a ruleset of ``n`` journeys (the last one a catch-all)."""
    rnd = random.Random(seed)
    lines = [f"brand: bench-{n}-{seed}", "journeys:"]
    for i in range(n - 1):
        # Within a category the tap.number windows are disjoint, so no journey shadows another
        # (the validator refuses rulesets with unreachable journeys).
        low = (i // len(CATEGORIES)) * 3 + 1
        conds = [
            "tap.verdict: genuine",
            f"product.category: {CATEGORIES[i % len(CATEGORIES)]}",
            f"tap.number: {{between: [{low}, {low + 2}]}}",
        ]
        if rnd.random() < 0.5:
            conds.append(f"tap.country: {{in: [{', '.join(rnd.sample(COUNTRIES, 3))}]}}")
        if rnd.random() < 0.3:
            conds.append(
                f"any: [{{tap.local_hour: {{gte: {rnd.randint(0, 20)}}}}}, "
                f"{{item.released: {str(rnd.random() < 0.5).lower()}}}]"
            )
        lines.append(f"  - id: j{i}")
        lines.append(f"    priority: {n - i}")
        lines.append("    experience: welcome_back")
        lines.append("    when: {" + ", ".join(conds) + "}")
    lines += ["  - id: catch-all", "    priority: 0", "    experience: authenticity"]
    return "\n".join(lines) + "\n"


def facts(count: int, seed: int, journeys: int) -> list[dict[str, object]]:
    rnd = random.Random(seed)
    top = (journeys // len(CATEGORIES)) * 3 + 3
    return [
        {
            "tap.verdict": "genuine",
            "tap.number": rnd.randint(1, top),
            "tap.country": rnd.choice(COUNTRIES),
            "tap.local_hour": rnd.randint(0, 23),
            "item.released": rnd.random() < 0.8,
            "item.serial": f"S{i:07d}",
            "product.category": rnd.choice(CATEGORIES),
        }
        for i in range(count)
    ]


def median_eval_ms(sizes: tuple[int, ...], count: int, check: int) -> dict[int, tuple[float, int]]:
    """Return, per ruleset size, the median time to decide one fact (ms) and how many of the
    first ``check`` facts were decided otherwise than by the reference evaluator (the explainer).

    The sizes take turns fact by fact, so a change in the machine's load (the bench machine is
    shared) hits every size alike and the ratio between them holds.
    """
    rulesets = {n: parse_ruleset(ruleset_text(n, 1), f"bench-{n}.yaml") for n in sizes}
    samples = {n: facts(count, 2, n) for n in sizes}
    for n in sizes:
        for fact in samples[n][:200]:
            decide(rulesets[n], fact)
    times: dict[int, list[float]] = {n: [] for n in sizes}
    decided: dict[int, list[str | None]] = {n: [] for n in sizes}
    for i in range(count):
        for n in sizes:
            t = time.perf_counter()
            decision = decide(rulesets[n], samples[n][i])
            times[n].append(time.perf_counter() - t)
            decided[n].append(decision.journey if decision else None)
    out = {}
    for n in sizes:
        wrong = sum(
            got != expected_journey(rulesets[n], fact)
            for fact, got in zip(samples[n][:check], decided[n], strict=False)
        )
        out[n] = (statistics.median(times[n]) * 1000, wrong)
    return out


def compile_seconds(n: int) -> float:
    text = ruleset_text(n, 3)
    t = time.perf_counter()
    parse_ruleset(text, f"compile-{n}.yaml")
    return time.perf_counter() - t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--facts", type=int, default=5000)
    parser.add_argument("--check", type=int, default=1000,
                        help="facts per ruleset whose decision is checked against the explainer")
    args = parser.parse_args()
    runs = median_eval_ms((10, 200, 1000), args.facts, args.check)
    evals = {n: ms for n, (ms, _) in runs.items()}
    wrong = sum(w for _, w in runs.values())
    compile_500 = compile_seconds(500)
    ratio = evals[1000] / evals[10]
    checks = {
        "median eval at 200 journeys <= 0.2 ms": evals[200] <= 0.2,
        "1000 journeys <= 3x 10 journeys": ratio <= 3,
        "compile 500 journeys <= 1 s": compile_500 <= 1.0,
        "every checked decision equals the explainer's": wrong == 0,
    }
    for n, ms in evals.items():
        print(f"median evaluation, {n:>5} journeys: {ms:.4f} ms")
    print(f"1000/10 ratio: {ratio:.2f}")
    print(f"compile 500 journeys: {compile_500:.3f} s")
    for label, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {label}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (out / f"rules-{stamp}.json").write_text(json.dumps(
        {"eval_median_ms": evals, "ratio_1000_10": ratio, "compile_500_s": compile_500,
         "facts": args.facts, "checked": args.check, "wrong_decisions": wrong, "checks": checks},
        indent=2))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
