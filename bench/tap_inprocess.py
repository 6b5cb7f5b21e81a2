"""In-process cost of a tap, without HTTP or load: first taps (which register an owner) against
repeat taps, with ``/healthz`` for scale, and where the time goes.

    .venv/bin/python bench/tap_inprocess.py [--items 300] [--backend sqlite|postgresql]
                                            [--profile 60] [--top 20]

Each call is ``app(environ, start_response)`` on one thread: this isolates what the tap itself
costs (SUN verification, the counter UPDATE, ownership reads and writes, rules, page, session
cookie), which ``bench/tap_throughput.py`` measures under load through gunicorn.

After the timed passes, ``--profile`` more items are tapped (first tap, first return, repeat
tap) with the database round trips of each call counted (statements and commits), and the first
and repeat taps under cProfile: the top frames by own time, then the project's own functions by
cumulative time. The timings above them are taken without the profiler or the counter.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app import create_app
from app.core.db import make_engine
from app.core.migrate import upgrade
from app.provenance.keys import write_key_file
from app.verify.keys import write_demo_keys_file
from app.verify.service import mint_tap_url
from bench.tap_throughput import REPO, publish_ruleset
from tests.factories import tagged_item

PG_URL = os.environ.get("AFTERTAP_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _environ(path: str, cookie: str = "") -> dict[str, Any]:
    route, _, query = path.partition("?")
    return {"REQUEST_METHOD": "GET", "PATH_INFO": route, "QUERY_STRING": query,
            "SERVER_NAME": "bench", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
            "wsgi.input": None, "HTTP_ACCEPT": "text/html", "HTTP_COOKIE": cookie,
            "REMOTE_ADDR": "127.0.0.1"}


def _call(app: Any, path: str, cookie: str = "") -> str:
    """Call ``app`` for ``path`` with ``cookie`` (a Cookie header); return the Cookie header the
    browser sends next: ``cookie`` updated with what the response set or deleted."""
    statuses: list[str] = []
    headers: list[tuple[str, str]] = []

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        statuses.append(status)
        headers.extend(response_headers)

    b"".join(app(_environ(path, cookie), start_response))
    if not statuses[0].startswith("200"):
        raise SystemExit(f"{path}: {statuses[0]}")
    jar = dict(part.split("=", 1) for part in cookie.split("; ") if "=" in part)
    for name, value in headers:
        if name != "Set-Cookie":
            continue
        pair, _, attributes = value.partition(";")
        key, _, val = pair.partition("=")
        if "Max-Age=0" in attributes or "1970" in attributes:
            jar.pop(key, None)
        else:
            jar[key] = val
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def _per_call_ms(app: Any, calls: list[tuple[str, str]], rounds: int = 3) -> float:
    """Median over ``rounds`` slices of the mean milliseconds per ``(path, cookie)`` call."""
    size = len(calls) // rounds
    means = []
    for i in range(rounds):
        chunk = calls[i * size:(i + 1) * size]
        start = time.perf_counter()
        for path, cookie in chunk:
            _call(app, path, cookie)
        means.append((time.perf_counter() - start) / len(chunk) * 1000)
    return statistics.median(means)


class RoundTrips:
    """Counts what an engine sends to the database: each statement and each commit is one
    round trip."""

    def __init__(self, engine: Any) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._one)
        event.listen(engine, "commit", self._one)

    def _one(self, *_: Any) -> None:
        self.count += 1


def _counted(
    app: Any, calls: list[tuple[str, str]], trips: RoundTrips,
    profiler: cProfile.Profile | None = None,
) -> tuple[list[str], list[int]]:
    """Call each ``(path, cookie)``, under ``profiler`` if given; return the cookies after each
    call and the round trips each made."""
    cookies, per_call = [], []
    for path, cookie in calls:
        before = trips.count
        if profiler is not None:
            profiler.enable()
        cookies.append(_call(app, path, cookie))
        if profiler is not None:
            profiler.disable()
        per_call.append(trips.count - before)
    return cookies, per_call


def profile_report(profiler: cProfile.Profile, calls: int, top: int) -> str:
    """The top ``top`` frames by own time, then the project's own by cumulative time."""
    by_own, by_cumulative = io.StringIO(), io.StringIO()
    pstats.Stats(profiler, stream=by_own).sort_stats("tottime").print_stats(top)
    pstats.Stats(profiler, stream=by_cumulative).sort_stats("cumulative").print_stats(
        str(REPO / "app"), top)
    return (f"{calls} calls; divide seconds by {calls} and multiply by 1000 for ms per call\n"
            f"{_trim(by_own.getvalue())}\n-- the project's functions, by cumulative time --\n"
            f"{_trim(by_cumulative.getvalue())}")


def _trim(report: str) -> str:
    """pstats' table from its column header on, with paths shortened."""
    lines = report.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().startswith("ncalls")), 0)
    return "\n".join(re.sub(r"\S*site-packages/", "", line.replace(str(REPO) + "/", ""))
                     for line in lines[start:] if line.strip())


def _spread(counts: list[int]) -> str:
    return (f"{statistics.mean(counts):.1f}" if min(counts) == max(counts)
            else f"{statistics.mean(counts):.1f} (min {min(counts)}, max {max(counts)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--profile", type=int, default=60,
                        help="items to count round trips and profile after the timed passes")
    parser.add_argument("--top", type=int, default=20, help="frames to print per profile")
    args = parser.parse_args()
    args.profile = max(1, args.profile)
    work = Path(tempfile.mkdtemp(prefix="aftertap-bench-"))
    admin = None
    if args.backend == "sqlite":
        url = f"sqlite:///{work / 'bench.db'}"
    else:
        name = f"aftertap_inproc_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        engine = make_engine(url, sqlite_begin=None)
        with Session(engine) as session:
            tagged_item(session)  # the brand exists before its ruleset is published
        engine.dispose()
        publish_ruleset(url, (REPO / "rulesets" / "maison-aurelia.yaml").read_text(),
                        "maison-aurelia")
        write_demo_keys_file(work / "keys.toml", name="test-2026")
        write_key_file(work / "provenance.pem")
        app = create_app({
            "DATABASE_URL": url, "SECRET_KEY": "bench-" + "x" * 40,
            "KEYS_FILE": str(work / "keys.toml"),
            "PROVENANCE_KEY_FILE": str(work / "provenance.pem"),
            "ADMIN_PASSWORD_FILE": str(work / "none"), "RULESETS_RELOAD_SECONDS": -1,
            # One address taps everything here: keep the limiter (its cost is part of a tap)
            # but never let it refuse a bench tap.
            "RATE_LIMITS": {"TAP_PER_ADDRESS": "1000000 per minute"},
        })
        engine = make_engine(url, sqlite_begin=None)
        with Session(engine) as session:
            keyring = app.extensions["aftertap.keys"]
            tags = [tagged_item(session) for _ in range(args.items + 30 + args.profile)]

            def path_for(tag: Any) -> str:
                parts = urlsplit(mint_tap_url(session, keyring, tag, "http://bench"))
                session.commit()
                return f"{parts.path}?{parts.query}"

            first = [path_for(t) for t in tags]
            back = [path_for(t) for t in tags]
            again = [path_for(t) for t in tags]
        engine.dispose()
        # The last ``--profile`` items are tapped only in the counted, profiled pass.
        timed = args.items + 30
        first, pf_first = first[:timed], first[timed:]
        back, pf_back = back[:timed], back[timed:]
        again, pf_again = again[:timed], again[timed:]
        for path in first[:30]:  # warm-up: imports, caches, the rules engine
            _call(app, path)
        # The first taps, timed, each from a new phone; each phone keeps the cookies it got.
        cookies: list[str] = []
        start, cpu = time.perf_counter(), time.process_time()
        for path in first[30:]:
            cookies.append(_call(app, path))
        claim_ms = (time.perf_counter() - start) / len(first[30:]) * 1000
        claim_cpu = (time.process_time() - cpu) / len(first[30:]) * 1000
        # The owner comes back with the same phone: its first return confirms the provisional
        # claim (once per ownership, its own commit); later taps are the steady state.
        start = time.perf_counter()
        cookies = [_call(app, path, cookie)
                   for path, cookie in zip(back[30:], cookies, strict=True)]
        return_ms = (time.perf_counter() - start) / len(back[30:]) * 1000
        cpu = time.process_time()
        repeat_ms = _per_call_ms(app, list(zip(again[30:], cookies, strict=True)))
        repeat_cpu = (time.process_time() - cpu) / len(again[30:]) * 1000
        healthz_ms = _per_call_ms(app, [("/healthz", "")] * 3000)

        trips = RoundTrips(app.extensions["aftertap.db"].engine)
        first_profile, repeat_profile = cProfile.Profile(), cProfile.Profile()
        cookies, first_trips = _counted(app, [(p, "") for p in pf_first], trips, first_profile)
        cookies, return_trips = _counted(app, list(zip(pf_back, cookies, strict=True)), trips)
        _, repeat_trips = _counted(app, list(zip(pf_again, cookies, strict=True)), trips,
                                   repeat_profile)
        app.extensions["aftertap.db"].engine.dispose()
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    print(f"{args.backend}: first tap (registers the owner) {claim_ms:.2f} ms, "
          f"owner's first return {return_ms:.2f} ms, repeat tap by the owner {repeat_ms:.2f} ms, "
          f"/healthz {healthz_ms:.2f} ms "
          f"({args.items} items, in-process, one thread)")
    print(f"CPU of this process per tap (the database server's not included): first tap "
          f"{claim_cpu:.2f} ms, repeat tap {repeat_cpu:.2f} ms; first/repeat wall "
          f"{claim_ms / repeat_ms:.2f} (target <= 2)")
    print(f"database round trips per tap (statements and commits): first tap "
          f"{_spread(first_trips)}, owner's first return {_spread(return_trips)}, "
          f"repeat tap {_spread(repeat_trips)}")
    print(f"\n== profile: first taps ==\n{profile_report(first_profile, len(pf_first), args.top)}")
    print(f"\n== profile: repeat taps ==\n"
          f"{profile_report(repeat_profile, len(pf_again), args.top)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
