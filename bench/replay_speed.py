"""Speed of ``journeys replay``: recorded facts re-decided per second under a draft of N journeys.

    .venv/bin/python bench/replay_speed.py [--journeys 200] [--facts 20000]

Decides JSON facts shaped like those taps record (``tap_events.facts``) with
``app.rules.versions.replay_rows``: the JSON parsing, the time zone and the engine. The database
read (``replay``'s one streamed query) is not included.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.rules.service import parse_ruleset
from app.rules.versions import replay_rows

CATEGORIES = [f"cat{i}" for i in range(20)]


def ruleset_text(journeys: int, rng: random.Random) -> str:
    lines = ["brand: bench", "journeys:"]
    for i in range(journeys - 1):
        # Both ends grow with i, so no journey's range contains a lower one's (never shadowed).
        low = 3 * i
        lines += [
            f"  - id: j{i}",
            f"    priority: {journeys - i}",
            "    when:",
            f"      product.category: {rng.choice(CATEGORIES)}",
            f"      ownership.days: {{between: [{low}, {low + 150}]}}",
            f"      owner.is_current: {rng.choice(['true', 'false'])}",
            "    experience: care",
        ]
    lines += ["  - id: catch-all", "    priority: 0", "    when: {}", "    experience: care"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--journeys", type=int, default=200)
    parser.add_argument("--facts", type=int, default=20000)
    args = parser.parse_args()
    rng = random.Random(7)
    ruleset = parse_ruleset(ruleset_text(args.journeys, rng), "bench.yaml", {"care"}, set())
    start = datetime(2026, 11, 1, tzinfo=UTC)
    rows = [
        (i, start + timedelta(minutes=i), "j1", json.dumps({
            "tap.verdict": "genuine", "tap.number": rng.randint(1, 50),
            "product.category": rng.choice(CATEGORIES), "ownership.days": rng.randint(0, 900),
            "owner.is_current": rng.random() < 0.5, "ownership.state": "owned",
            "item.released": True, "service.count": 0}, separators=(",", ":")), "S1")
        for i in range(args.facts)
    ]
    replay_rows(ruleset, rows[:500])  # warm-up
    began = time.perf_counter()
    taps, _examples, counts = replay_rows(ruleset, rows)
    elapsed = time.perf_counter() - began
    print(f"{taps} facts re-decided at {args.journeys} journeys in {elapsed:.2f} s: "
          f"{taps / elapsed:,.0f} facts/s ({sum(counts.values())} changed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
