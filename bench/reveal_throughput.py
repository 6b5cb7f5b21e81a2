"""Reveal throughput and latency on PostgreSQL: concurrent reveals racing for a finite prize.

    .venv/bin/python bench/reveal_throughput.py [--grants 2000] [--threads 4] [--stock 100]

Creates a throwaway database, a pool with one prize of ``--stock`` and a consolation, and
``--grants`` pending click-to-reveal grants; then ``--threads`` threads, each with its own
session, reveal them all at once (``app.rewards.grants.reveal``: the draw from the day's seed,
the conditional stock UPDATE, the draw log, the commit). Prints reveals/s, p50/p99 latency and
checks that exactly ``--stock`` prizes were won. Service level, in one process: it measures
the database work and its contention, not HTTP.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from app.core.db import make_engine
from app.core.migrate import upgrade
from app.rewards import grants as reward_grants
from app.rewards import pools as reward_pools
from app.rules.service import parse_ruleset
from app.verify.models import TapEvent
from tests.factories import tagged_item

PG_URL = os.environ.get(
    "AFTERTAP_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BRAND = "bench-brand"
RULESET = f"""brand: {BRAND}
journeys:
  - {{id: all, priority: 0, when: {{}}, experience: care}}
rewards:
  race:
    mechanic: click_to_reveal
    prizes: [{{id: top, stock: STOCK}}]
    consolation: {{id: thanks}}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grants", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--stock", type=int, default=100)
    args = parser.parse_args()
    name = f"aftertap_reveal_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        engine = make_engine(url, pool_size=args.threads + 2)
        doc = parse_ruleset(RULESET.replace("STOCK", str(args.stock)), "bench.yaml").doc
        at = datetime.now(UTC)
        with Session(engine) as session:
            reward_pools.sync_ruleset(session, doc, BRAND)
            item = tagged_item(session, brand=BRAND).item_id
            taps = session.connection().execute(
                insert(TapEvent.__table__).returning(TapEvent.id),
                [{"at": at, "verdict": "genuine", "item_id": item}] * args.grants,
            ).scalars().all()
            grants = [reward_grants.grant(session, doc, BRAND, "race", tap_event_id=t,
                                          owner_id=None, item_id=item, journey="all",
                                          at=at).id for t in taps]
            session.commit()
        sessions = sessionmaker(engine)
        start = threading.Event()
        latencies: list[float] = []
        lock = threading.Lock()

        def reveal(grant_id: int) -> str:
            start.wait()
            began = time.perf_counter()
            with sessions() as session:
                outcome = reward_grants.reveal(session, grant_id, None, at).outcome
                session.commit()
            with lock:
                latencies.append((time.perf_counter() - began) * 1000)
            return outcome

        with ThreadPoolExecutor(args.threads) as pool:
            futures = [pool.submit(reveal, g) for g in grants]
            began = time.perf_counter()
            start.set()
            outcomes = Counter(f.result() for f in futures)
            elapsed = time.perf_counter() - began
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    latencies.sort()
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    ok = outcomes == Counter({"prize": args.stock, "consolation": args.grants - args.stock})
    print(f"postgresql: {args.grants} reveals by {args.threads} threads in {elapsed:.2f} s = "
          f"{args.grants / elapsed:.0f} reveals/s; p50 {statistics.median(latencies):.1f} ms, "
          f"p99 {p99:.1f} ms; outcomes {dict(outcomes)} -> {'OK' if ok else 'WRONG'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
