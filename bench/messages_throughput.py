"""Scheduled messages at scale (issue 12): one tick over 1,000,000 ownerships, then delivery.

Creates a fresh PostgreSQL database, migrates it, publishes the demo ruleset (maison-aurelia, as
``journeys publish`` does) and generates ``--ownerships`` owned items with set-based SQL
(``INSERT ... SELECT generate_series``): one owner per ownership, ten products. ``--due`` of them
are serums owned for exactly 77 days at the slot, whose owners confirmed their email and opted
in: the ``refill-reminder`` tick of that slot selects them. The rest are other categories, serums
on other days, or owners without opt-in, so the SQL filter has work to do.

Then:

1. ``app.messages.ticks.tick`` for that slot, timed in one call; selection
   (``candidate_chunks``, wrapped here, app code untouched: the time spent producing the
   streamed chunks) and enqueue (the rest) apart. The
   process's RSS is sampled every 50 ms: "memory flat" means it grew by at most
   ``--max-rss-growth-mb`` during the tick.
2. A local SMTP sink (aiosmtpd, counts messages) and two worker processes, each calling
   ``app.messages.delivery.deliver_due`` until nothing is due. Only ``--deliver`` of the queued
   messages are made due (the others are moved a month later), so the run is bounded.

Targets: selection <= 10 s, enqueue of 50,000 <= 30 s with memory flat, two workers >= 300
messages/s. Prints a table, writes bench/results/messages-<UTC>.json (git-ignored), drops the
database unless ``--keep``, and exits 1 when a target is missed.

Usage: .venv/bin/python bench/messages_throughput.py [--ownerships 1000000] [--due 50000]
       [--deliver 10000] [--workers 2] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import queue
import resource
import socket
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import event, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from app.catalog.service import get_or_create_brand  # noqa: E402
from app.core.db import make_engine  # noqa: E402
from app.core.migrate import upgrade  # noqa: E402
from app.core.settings import defaults  # noqa: E402
from app.rules.service import template_names  # noqa: E402
from app.rules.versions import publish  # noqa: E402

RESULTS = REPO / "bench" / "results"
PG_ADMIN_URL = os.environ.get(
    "AFTERTAP_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BRAND = ("maison-aurelia", "Maison Aurelia")
SCHEDULE = "refill-reminder"
SLOT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 09:00 in Paris: the schedule's cron
DELIVER_AT = SLOT + timedelta(hours=1)  # 10:00 in Paris: outside the quiet hours
TARGET_SELECT_S = 10.0
TARGET_ENQUEUE_S = 30.0  # for 50,000 messages
TARGET_DELIVER_RATE = 300.0


def settings(smtp_port: int = 0) -> dict[str, Any]:
    config = defaults()
    config.update({"SECRET_KEY": "bench-" + "k" * 40, "PUBLIC_BASE_URL": "https://bench.invalid",
                   "SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_port})
    return config


# --- Database -----------------------------------------------------------------------------------


def create_database() -> str:
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"aftertap_bench_messages_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def publish_demo(session: Session) -> int:
    """Publish the repository's maison-aurelia ruleset as the live version (as the tests do)."""
    brand = get_or_create_brand(session, *BRAND)
    session.commit()
    publish(session, (REPO / "rulesets" / "maison-aurelia.yaml").read_text(),
            "maison-aurelia.yaml", author="bench", at=SLOT - timedelta(days=400),
            experiences=template_names("experiences"), messages=template_names("messages"))
    session.commit()
    return brand.id


# Product 1 is the serum the schedule looks for; 2 is another serum; the rest other categories.
PRODUCTS_SQL = """
INSERT INTO products (id, brand_id, gtin, name, category, attributes)
SELECT p, :brand_id, lpad((3770000000000 + p)::text, 14, '0'), 'Bench product ' || p,
       CASE WHEN p <= 2 THEN 'serum' WHEN p <= 6 THEN 'cream' ELSE 'fragrance' END,
       '{"volume_ml": 30}'::json
FROM generate_series(1, 10) AS p
"""
# Row i is due (serum, day 77, opted in, confirmed) when i % step = 0. Otherwise: a product by
# i % 10 (serums too), owned 1..700 days but never 77, and half the owners opted in.
ITEMS_SQL = """
INSERT INTO items (id, product_id, serial, market, released, created_at, service_count)
SELECT i, CASE WHEN i % :step = 0 THEN 1 ELSE 1 + i % 10 END, 'B' || lpad(i::text, 12, '0'),
       'FR', true, :slot - interval '800 days', 0
FROM generate_series(1, :n) AS i
"""
OWNERS_SQL = """
INSERT INTO owners (id, public_id, email, email_verified_at, email_opt_in, created_at)
SELECT i, 'bench-owner-' || lpad(i::text, 12, '0'), 'o' || i || '@example.com',
       CASE WHEN i % :step = 0 OR i % 2 = 0 THEN :slot - interval '100 days' END,
       i % :step = 0 OR i % 2 = 0, :slot - interval '800 days'
FROM generate_series(1, :n) AS i
"""
OWNERSHIPS_SQL = """
INSERT INTO ownerships (id, item_id, owner_id, ordinal, began_by, started_at, owner_taps,
                        month_streak)
SELECT i, i, i, 1, 'claim',
       CASE WHEN i % :step = 0 THEN :slot - interval '77 days 1 hour'
            ELSE :slot - make_interval(days => 78 + i % 600, hours => 1) END, 0, 0
FROM generate_series(1, :n) AS i
"""


def generate(url: str, brand_id: int, n: int, due: int) -> dict[str, float]:
    step = max(1, n // due)
    engine = make_engine(url)
    timings = {}
    params = {"brand_id": brand_id, "step": step, "n": n, "slot": SLOT}
    with engine.begin() as conn:
        for table, sql in (("products", PRODUCTS_SQL), ("items", ITEMS_SQL),
                           ("owners", OWNERS_SQL), ("ownerships", OWNERSHIPS_SQL)):
            started = time.perf_counter()
            conn.execute(text(sql), params)
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 - our table names
                              f"(SELECT max(id) FROM {table}))"))
            timings[table] = time.perf_counter() - started
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    timings["vacuum_analyze"] = time.perf_counter() - started
    engine.dispose()
    return timings


# --- Tick ---------------------------------------------------------------------------------------


class RssSampler(threading.Thread):
    """Samples this process's resident set size (MB) every ``period`` seconds."""

    def __init__(self, period: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.period = period
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()
        self.page = os.sysconf("SC_PAGE_SIZE")

    def rss_mb(self) -> float:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * self.page / 2**20

    def run(self) -> None:
        start = time.perf_counter()
        while not self.stop.is_set():
            self.samples.append((time.perf_counter() - start, self.rss_mb()))
            self.stop.wait(self.period)


def count_queries(engine: Any) -> list[int]:
    counter = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*_args: Any) -> None:
        counter[0] += 1

    return counter


def run_tick(url: str) -> dict[str, Any]:
    from app.messages import ticks

    engine = make_engine(url)
    queries = count_queries(engine)
    marks: dict[str, float] = {}
    original = ticks.candidate_chunks
    marks["select_s"] = 0.0
    marks["select_queries"] = 0

    def timed_chunks(*args: Any, **kwargs: Any) -> Any:
        # The tick streams its selection: time (and queries) spent producing chunks is
        # selection, the rest enqueue.
        chunks = original(*args, **kwargs)
        while True:
            started, before = time.perf_counter(), queries[0]
            chunk = next(chunks, None)
            marks["select_s"] += time.perf_counter() - started
            marks["select_queries"] += queries[0] - before
            if chunk is None:
                marks["rss_after_select_mb"] = sampler.rss_mb()
                return
            yield chunk

    sampler = RssSampler()
    rss_before = sampler.rss_mb()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ticks.candidate_chunks = timed_chunks  # type: ignore[assignment]
    sampler.start()
    try:
        with Session(engine) as session:
            queries[0] = 0
            started = time.perf_counter()
            report = ticks.tick(session, settings(), BRAND[0], SCHEDULE, SLOT, SLOT)
            session.commit()
            total = time.perf_counter() - started
    finally:
        ticks.candidate_chunks = original  # type: ignore[assignment]
        sampler.stop.set()
        sampler.join()
    rss_peak = max(mb for _, mb in sampler.samples)
    result = {
        "selected": report.selected, "enqueued": report.enqueued,
        "suppressed": report.suppressed, "total_s": total, "select_s": marks["select_s"],
        "enqueue_s": total - marks["select_s"],
        "select_queries": marks["select_queries"],
        "enqueue_queries": queries[0] - marks["select_queries"],
        "rss_before_mb": rss_before, "rss_after_select_mb": marks["rss_after_select_mb"],
        "rss_peak_mb": rss_peak, "rss_after_mb": sampler.rss_mb(),
        "rss_growth_mb": rss_peak - rss_before,
        "maxrss_before_mb": maxrss_before,
        "maxrss_after_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    engine.dispose()
    return result


def explain_selection(url: str) -> list[str]:
    """EXPLAIN ANALYZE of the tick's candidate query (the SQL part of the selection)."""
    from app.messages import ticks
    from app.messages.schedules import live_schedule

    engine = make_engine(url)
    with Session(engine) as session:
        schedule = live_schedule(session, BRAND[0], SCHEDULE).schedule
        query = ticks._candidates_query(BRAND[0], schedule.when, SLOT)
        compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
        rows = session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}")).scalars().all()
    engine.dispose()
    return list(rows)


# --- Delivery -----------------------------------------------------------------------------------


class Counter:
    """aiosmtpd handler: counts the messages it is given and keeps nothing."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def worker(url: str, smtp_port: int, go: Any, out: Any, profile: bool = False) -> None:
    import cProfile
    import io
    import pstats

    from app.messages.delivery import deliver_due

    engine = make_engine(url)
    queries = count_queries(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    config = settings(smtp_port)
    go.wait()
    queries[0] = 0
    started = time.perf_counter()
    cpu = time.process_time()
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    report = deliver_due(sessions, config, at=DELIVER_AT)
    if profiler is not None:
        profiler.disable()
        text_out = io.StringIO()
        # Wall-clock time per function: where a worker waits (sockets) shows, not only CPU.
        pstats.Stats(profiler, stream=text_out).sort_stats("tottime").print_stats(18)
        print("\n".join(line for line in text_out.getvalue().splitlines()[6:] if line.strip()))
    out.put({"pid": os.getpid(), "seconds": time.perf_counter() - started,
             "cpu_s": time.process_time() - cpu, "queries": queries[0],
             "delivered": report.delivered, "retrying": report.retrying,
             "failed": report.failed, "deferred": report.deferred,
             "suppressed": report.suppressed})
    engine.dispose()


def run_delivery(url: str, deliver: int, workers: int, profile: bool = False) -> dict[str, Any]:
    from aiosmtpd.controller import Controller

    engine = make_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE messages"))  # as autovacuum would after 50,000 inserts
    with engine.begin() as conn:
        # Only the first ``deliver`` queued messages are due; the rest wait a month.
        conn.execute(text(
            "UPDATE messages SET next_attempt_at = :later WHERE state = 'scheduled' AND id > "
            "(SELECT id FROM messages WHERE state = 'scheduled' ORDER BY id "
            " OFFSET :n - 1 LIMIT 1)"), {"later": DELIVER_AT + timedelta(days=30), "n": deliver})
        due = conn.scalar(text("SELECT count(*) FROM messages WHERE state = 'scheduled' "
                               "AND next_attempt_at <= :at"), {"at": DELIVER_AT})
    handler = Counter()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port,
                            loop=asyncio.new_event_loop())
    controller.start()
    ctx = multiprocessing.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(url, port, go, out, profile and n == 0))
             for n in range(workers)]
    try:
        for proc in procs:
            proc.start()
        time.sleep(3.0)  # imports and connections, outside the timing
        started = time.perf_counter()
        go.set()
        reports: list[dict[str, Any]] = []
        while len(reports) < len(procs):
            try:
                reports.append(out.get(timeout=1.0))
            except queue.Empty:
                crashed = [p for p in procs if p.exitcode not in (None, 0)]
                if crashed:  # a worker died without reporting: stop here, count what went
                    reports += [{"pid": p.pid, "exitcode": p.exitcode, "seconds": None,
                                 "cpu_s": 0.0, "queries": 0, "delivered": 0} for p in crashed]
                    break
        seconds = time.perf_counter() - started
        for proc in procs:
            proc.join(timeout=30)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
        controller.stop()
    with engine.connect() as conn:
        states = dict(conn.execute(text(
            "SELECT state, count(*) FROM messages WHERE next_attempt_at <= :at "
            "OR state <> 'scheduled' GROUP BY state"), {"at": DELIVER_AT}).all())
    engine.dispose()
    # The workers' own count is lost when one crashed: the database's is the truth.
    delivered = states.get("accepted", 0)
    return {"due": due, "workers": workers, "seconds": seconds, "delivered": delivered,
            "smtp_received": handler.count, "states": states,
            "per_second": delivered / seconds if seconds else 0.0,
            "crashed_workers": sum(1 for r in reports if r.get("exitcode")),
            "queries_per_message": sum(r["queries"] for r in reports) / max(1, delivered),
            "worker_cpu_ms_per_message": 1000 * sum(r["cpu_s"] for r in reports)
            / max(1, delivered), "reports": reports}


# --- Main ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ownerships", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=50_000,
                        help="ownerships the tick selects (serums on day 77, opted in)")
    parser.add_argument("--deliver", type=int, default=10_000,
                        help="queued messages the workers deliver (<= --due)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-rss-growth-mb", type=float, default=100.0,
                        help="'memory flat': the tick's RSS may grow by at most this")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--profile", action="store_true",
                        help="profile the first delivery worker and print its top functions")
    args = parser.parse_args()
    if not 0 < args.due <= args.ownerships or not 0 < args.deliver <= args.due:
        parser.error("need 0 < --deliver <= --due <= --ownerships")

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    url = create_database()
    print(f"database {make_url(url).database}")
    result: dict[str, Any] = {"started": stamp, "args": vars(args),
                              "machine": {"python": platform.python_version(),
                                          "cpus": os.cpu_count(),
                                          "load_before": os.getloadavg()}}
    try:
        upgrade(url)
        engine = make_engine(url)
        with Session(engine) as session:
            brand_id = publish_demo(session)
        with engine.connect() as conn:
            result["postgresql"] = conn.scalar(text("SHOW server_version"))
        engine.dispose()
        started = time.perf_counter()
        result["generate"] = generate(url, brand_id, args.ownerships, args.due)
        result["generate"]["total_s"] = time.perf_counter() - started
        print(f"generated {args.ownerships:,} ownerships in "
              f"{result['generate']['total_s']:.1f} s")

        tick_result = run_tick(url)
        result["tick"] = tick_result
        print(f"tick: {tick_result['selected']:,} selected in {tick_result['select_s']:.2f} s, "
              f"{tick_result['enqueued']:,} enqueued in {tick_result['enqueue_s']:.2f} s")
        result["explain"] = explain_selection(url)

        delivery = run_delivery(url, args.deliver, args.workers, args.profile)
        result["delivery"] = delivery
        result["machine"]["load_after"] = os.getloadavg()
    finally:
        if args.keep:
            print(f"kept database {url}")
        else:
            drop_database(url)

    enqueue_target = TARGET_ENQUEUE_S * tick_result["enqueued"] / 50_000
    checks = {
        "selection <= 10 s": tick_result["select_s"] <= TARGET_SELECT_S,
        f"enqueue {tick_result['enqueued']:,} <= {enqueue_target:.1f} s":
            tick_result["enqueue_s"] <= enqueue_target,
        f"memory flat (RSS growth <= {args.max_rss_growth_mb:.0f} MB)":
            tick_result["rss_growth_mb"] <= args.max_rss_growth_mb,
        "every selected owner enqueued": tick_result["enqueued"] == args.due,
        f"{args.workers} workers >= 300 messages/s": delivery["per_second"]
        >= TARGET_DELIVER_RATE,
        "every due message delivered once": delivery["delivered"] == delivery["due"]
        == delivery["smtp_received"] and not delivery["crashed_workers"],
    }
    result["checks"] = checks
    t, d = tick_result, delivery
    rows = [
        ("tick: selection", f"{t['selected']:,} owners", f"{t['select_s']:.2f} s",
         f"{t['select_queries']} queries"),
        ("tick: enqueue", f"{t['enqueued']:,} messages", f"{t['enqueue_s']:.2f} s",
         f"{t['enqueue_queries'] / max(1, t['selected']):.1f} queries/owner, "
         f"{t['enqueued'] / max(t['enqueue_s'], 1e-9):,.0f}/s"),
        ("tick: RSS", f"{t['rss_before_mb']:.0f} -> {t['rss_peak_mb']:.0f} MB peak",
         f"+{t['rss_growth_mb']:.0f} MB", f"after selection {t['rss_after_select_mb']:.0f} MB"),
        ("delivery", f"{d['delivered']:,} of {d['due']:,} due", f"{d['seconds']:.2f} s",
         f"{d['per_second']:.0f} messages/s, {d['queries_per_message']:.1f} queries and "
         f"{d['worker_cpu_ms_per_message']:.1f} ms worker CPU per message"),
    ]
    print()
    for row in rows:
        print(f"{row[0]:<18} {row[1]:<26} {row[2]:>10}  {row[3]}")
    print(f"SMTP sink received {d['smtp_received']:,}; states {d['states']}")
    print()
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"messages-{stamp}.json"
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nwrote {out.relative_to(REPO)}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
