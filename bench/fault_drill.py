"""Fault drill: taps, reveals and owner pages under load while workers are killed and the
database restarts; afterwards every invariant is checked from the database.

    .venv/bin/python bench/fault_drill.py [--seconds 60] [--workers 3] [--clients 6] [--kills 4]
                                          [--keep] [--seed N] [--tags 1500]

What it does:

1. Starts a private PostgreSQL cluster (``initdb`` in a temp folder, a free port, its unix
   socket in that folder; as the ``postgres`` user when run as root, which ``initdb`` refuses),
   runs the Alembic migrations, makes the instance's keys (tag keys, secret, provenance key) and
   seeds a drill brand: sold, tagged items and a ruleset (written to the temp folder) whose
   owners get welcome points on their first tap and a click-to-reveal reward, drawn from a small
   prize stock that runs out during the drill, on their next taps.
2. Serves it with gunicorn (sync workers, as in production) and runs ``--clients`` threads that
   behave like phones, one phone after another: each phone has its own cookie jar, claims two
   fresh items with genuine first taps, taps them again with strictly increasing SUN counters
   (the chip's), reveals the rewards it was given by following the page's form and CSRF token
   as a browser does (a reveal whose answer was lost is sent again, as a person reloads), opens
   its owner pages, resends an accepted URL (a copied link: it must be refused) and sometimes
   taps another phone's item (a friend's tap, or a race for an item not yet claimed). For one
   phone in five, a rival phone taps its first item at the same moment: a race for the claim.
3. Meanwhile injects faults: ``--kills`` SIGKILLs of a random gunicorn worker (the master
   respawns it), spread over the run, and one immediate (crash) restart of PostgreSQL mid-run.
4. After the load: genuine taps and replays against the recovered service, then gunicorn stops
   and the invariants below are checked from the database with SQL.

Every response is counted by kind and status. A request that fails at the connection level
(its worker was killed, or the server closed the socket) is counted apart as *lost*: the client
cannot know whether it committed. Every tap carries a unique (tag, counter), so the drill looks
each one up afterwards and knows exactly which lost requests committed.

The invariants (each PASS/FAIL with its numbers; exit status 1 when any fails):

- **genuine taps**: every tap the server acknowledged as genuine (a 200) is one genuine tap
  event, and every genuine tap event is either acknowledged or a tap whose answer was lost (a
  connection failure or a 5xx): acknowledged <= recorded <= acknowledged + lost. The recorded
  taps that nobody saw acknowledged are reported: a worker killed after its commit, or a commit
  the crashing database made durable but never confirmed (answered 503).
- **counters**: per tag, genuine events' counters strictly increase in the order they were
  recorded, none was accepted twice, the tag's stored ``last_counter`` is their maximum and
  ``genuine_taps`` their number; every resent (replayed) URL was refused with 409, during the
  faults and after them.
- **owners**: no item has two current ownerships, and each item's ownerships are numbered
  1..n with only the last one current.
- **stock and limits**: no prize was given past its stock and its ``given`` count equals the
  grants that won it; each pool's ``given`` equals its grants and stays within its budget; no
  owner or item got more grants than the reward's limit.
- **ledger**: every owner's points balance equals the sum of their ledger entries and the last
  entry's balance, and every settled grant's points are in the ledger exactly once.
- **recovery**: without any manual action the service answered genuine taps again after every
  fault (seconds from the database restart to the next genuine 200 are reported), the
  post-drill taps were all genuine, no 5xx was answered outside the database's outage, and
  none was a 500: while the database restarts, 503 ("try again") is the designed answer.

Figures go to stdout and to ``bench/results/drill-<UTC time>.json`` (git-ignored). The temp
folder (cluster, logs, keys) is deleted at the end unless ``--keep``. Loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import tap_throughput as bench  # noqa: E402  (it also puts the repository on sys.path)
from sqlalchemy import create_engine, text  # noqa: E402

from app.core.db import make_engine  # noqa: E402
from app.core.migrate import upgrade  # noqa: E402
from app.provenance.keys import write_key_file  # noqa: E402
from app.verify.keys import KeyVersion, write_demo_keys_file  # noqa: E402
from app.verify.sun import mint_query  # noqa: E402

PG_BIN = Path(os.environ.get("AFTERTAP_PG_BIN", "/usr/lib/postgresql/15/bin"))
KEY_VERSION = bench.KEY_VERSION  # the tags bench.seed makes are under it
BRAND = ("fault-drill", "Fault Drill")
PRIZE_STOCK = 25
POOL_BUDGET = 600
PER_OWNER = 3
# The demo ruleset only offers a reveal 14 days into an ownership, which a drill cannot wait
# for; this one gives one on an owner's next taps, from a prize stock small enough to run out.
RULESET = f"""\
brand: {BRAND[0]}
title: Fault drill
timezone: UTC
locale: en
journeys:
  - id: not-verified
    priority: 1000
    when:
      tap.verdict: {{in: [invalid, replayed, revoked, unknown_tag]}}
    experience: not_verified
  - id: unboxing
    priority: 900
    when:
      tap.verdict: genuine
      ownership.state: unclaimed
      item.released: true
    do: [claim_ownership, activate_warranty]
    experience: unboxing
    reward: welcome-points
  - id: drill-reveal
    priority: 500
    when:
      owner.is_current: true
      reward.drill-reveal.available: true
    experience: care
    reward: drill-reveal
  - id: care
    priority: 100
    when:
      owner.is_current: true
    experience: care
  - id: visitor
    priority: 0
    when: {{}}
    experience: authenticity
rewards:
  welcome-points:
    points: 100
    limit: {{per_item: 1}}
  drill-reveal:
    mechanic: click_to_reveal
    prizes:
      - {{id: drill-prize, weight: 1, stock: {PRIZE_STOCK}, code: generated}}
      - {{id: drill-points, weight: 3, points: 15}}
    consolation: {{id: thank-you, points: 5}}
    limit: {{per_owner: {PER_OWNER}}}
    budget: {POOL_BUDGET}
"""

HTML_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
REQUEST_TIMEOUT = 15.0
# A phone's life: two first taps, then this many actions (taps, reveals, owner pages...).
ACTIONS_PER_PHONE = 20
# After an error page or a dropped connection a person waits a moment before trying again;
# without it the phones would spin on fast 503s while the database is down.
BACK_OFF_S = 0.5
# Share of phones whose first item a rival phone taps at the same moment (a claim race).
CONTESTED = 0.2
REVEAL_LINK = re.compile(r'href="(/rewards/[A-Za-z0-9_-]{43})"')
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
YOUR_OWNERSHIP = 'aria-label="Your ownership"'
# 5xx answered this long after the database is back still count as its outage: a worker may
# still be finishing a request that began before.
OUTAGE_GRACE_S = 2.0


# --- A private PostgreSQL cluster --------------------------------------------------------------


@dataclass
class Cluster:
    """A throwaway PostgreSQL cluster: data, unix socket and log all under ``home``."""

    home: Path
    port: int

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def log(self) -> Path:
        return self.home / "postgres.log"

    def url(self, database: str) -> str:
        return (f"postgresql+psycopg://postgres@/{database}"
                f"?host={self.home}&port={self.port}")

    def run(self, *argv: str, timeout: float = 120) -> None:
        """Run a PostgreSQL program as the cluster's owner (``postgres`` when we are root)."""
        user = "postgres" if os.geteuid() == 0 else None
        subprocess.run([str(PG_BIN / argv[0]), *argv[1:]], user=user, group=user, check=True,
                       timeout=timeout, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)

    def start(self) -> None:
        self.run("pg_ctl", "start", "-w", "-D", str(self.data), "-l", str(self.log))

    def stop(self, mode: str) -> None:
        self.run("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.data))


@contextlib.contextmanager
def private_cluster(root: Path) -> Iterator[Cluster]:
    """Create, start and finally stop a cluster in ``root/pg``; yield it."""
    home = root / "pg"
    home.mkdir()
    if os.geteuid() == 0:
        # initdb refuses to run as root: the cluster belongs to the postgres user, who must be
        # able to reach it through the (root-owned, private) temp folder.
        shutil.chown(home, "postgres", "postgres")
        root.chmod(0o711)
    cluster = Cluster(home, bench._free_port())
    cluster.run("initdb", "-D", str(cluster.data), "-U", "postgres", "--auth=trust",
                "-E", "UTF8", "--no-sync")
    with (cluster.data / "postgresql.conf").open("a") as conf:
        conf.write(
            f"\nport = {cluster.port}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{home}'\nmax_connections = 40\n"
            # Durability is what the drill checks: keep fsync and synchronous commit on.
            "fsync = on\nsynchronous_commit = on\nshared_buffers = 64MB\n"
        )
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            cluster.stop("fast")


# --- The instance ---------------------------------------------------------------------------------


def set_up(root: Path, cluster: Cluster, n_tags: int) -> tuple[bench.Instance, KeyVersion, Path]:
    """Create the database, migrate it, make the keys, write the ruleset and seed the brand.

    The app's secret is the one more key an instance needs: ``bench.gunicorn`` makes a random one.
    """
    admin = create_engine(cluster.url("postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE drill"))
    finally:
        admin.dispose()
    url = cluster.url("drill")
    upgrade(url)
    keys_file = root / "keys.toml"
    kv = write_demo_keys_file(keys_file, name=KEY_VERSION)
    # bench.gunicorn hands the server this file; it refuses to start without one.
    write_key_file(root / "provenance_ed25519.pem")
    rulesets = root / "rulesets"
    rulesets.mkdir()
    (rulesets / f"{BRAND[0]}.yaml").write_text(RULESET)
    tags = bench.seed(url, n_tags, BRAND)
    # Only published versions serve (as in production); the file above is its draft.
    bench.publish_ruleset(url, RULESET, BRAND[0])
    return bench.Instance("postgresql", url, root, keys_file, tags), kv, rulesets


# --- Phones ---------------------------------------------------------------------------------------


@dataclass
class Record:
    """One request: what it was, when, and its status (None: lost at the connection level)."""

    kind: str
    status: int | None
    sent: float
    answered: float
    tag: int | None = None  # taps: index into the tag list, and the counter they carried
    counter: int | None = None


class TagBook:
    """The chips: each tag's counter only moves up, whoever taps it (as a real chip's does)."""

    def __init__(self, kv: KeyVersion, tags: list[tuple[str, str, str]]) -> None:
        self.kv = kv
        self.tags = tags
        self.counters = [0] * len(tags)
        # tag -> (counter, path) of its highest tap acknowledged as genuine
        self.accepted: dict[int, tuple[int, str]] = {}
        self.fresh: deque[int] = deque(range(len(tags)))
        self.recent: deque[int] = deque(maxlen=20)  # items lately handed to phones
        self.lock = threading.Lock()

    def take_fresh(self) -> int | None:
        with self.lock:
            if not self.fresh:
                return None
            tag = self.fresh.popleft()
            self.recent.append(tag)
            return tag

    def someone_elses(self, rng: random.Random, mine: list[int]) -> int | None:
        with self.lock:
            others = [t for t in self.recent if t not in mine]
        return rng.choice(others) if others else None

    def next_tap(self, tag: int) -> tuple[int, str]:
        """The chip's next SUN URL: its counter goes up by one on every read."""
        with self.lock:
            self.counters[tag] += 1
            counter = self.counters[tag]
        uid, gtin, serial = self.tags[tag]
        query = mint_query(self.kv, bytes.fromhex(uid), counter)
        return counter, f"/01/{gtin}/21/{serial}?{query}"

    def acknowledged(self, tag: int, counter: int, path: str) -> None:
        """Remember the tag's highest URL the server answered as genuine (to replay later)."""
        with self.lock:
            known = self.accepted.get(tag)
            if known is None or known[0] < counter:
                self.accepted[tag] = (counter, path)


class Phone:
    """One browser: its own cookie jar, requests one at a time, every one recorded."""

    def __init__(self, port: int, records: list[Record], t0: float) -> None:
        self.port = port
        self.records = records
        self.t0 = t0
        self.jar: dict[str, str] = {}

    def request(
        self, kind: str, method: str, path: str, form: dict[str, str] | None = None,
        tag: int | None = None, counter: int | None = None,
    ) -> tuple[int, str, str] | None:
        """Send one request; return (status, Location, body) or None when it was lost."""
        headers = {"Accept": HTML_ACCEPT, "User-Agent": "aftertap-fault-drill"}
        if self.jar:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        # A new connection per request: sync workers close it after each answer anyway.
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        sent = time.monotonic() - self.t0
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            page = resp.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            self.records.append(Record(kind, None, sent, time.monotonic() - self.t0, tag, counter))
            time.sleep(BACK_OFF_S)
            return None
        finally:
            conn.close()
        self.records.append(
            Record(kind, resp.status, sent, time.monotonic() - self.t0, tag, counter))
        if resp.status >= 500:
            time.sleep(BACK_OFF_S)
        for value in resp.headers.get_all("Set-Cookie") or []:
            self._keep(value)
        return resp.status, resp.headers.get("Location", ""), page

    def _keep(self, set_cookie: str) -> None:
        pair, _, attributes = set_cookie.partition(";")
        name, _, value = pair.strip().partition("=")
        lowered = attributes.lower()
        if "max-age=0" in lowered or "1970" in lowered:
            self.jar.pop(name, None)
        else:
            self.jar[name] = value


@dataclass
class PhoneLife:
    """What one phone does, driven by a client thread until the drill ends."""

    phone: Phone
    book: TagBook
    rng: random.Random
    stop: threading.Event
    mine: list[int] = field(default_factory=list)
    owned: set[int] = field(default_factory=set)
    pending: list[str] = field(default_factory=list)  # reveal pages of rewards not yet revealed
    last_accepted: str | None = None

    def tap(self, tag: int, kind: str) -> None:
        counter, path = self.book.next_tap(tag)
        answer = self.phone.request(kind, "GET", path, tag=tag, counter=counter)
        if answer is None or answer[0] != 200:
            return
        self.book.acknowledged(tag, counter, path)
        page = answer[2]
        if tag in self.mine:
            self.last_accepted = path
            if YOUR_OWNERSHIP in page:
                self.owned.add(tag)
            else:
                self.owned.discard(tag)  # someone else's tap took a provisional claim over
        self.pending.extend(m for m in REVEAL_LINK.findall(page) if m not in self.pending)

    def reveal(self) -> None:
        page_path = self.pending[0]
        answer = self.phone.request("reveal_page", "GET", page_path)
        if answer is None or answer[0] >= 500:
            return  # lost or "try again": the person comes back to it later
        if answer[0] != 200:
            self.pending.pop(0)  # refused (tap session gone, another owner): give up on it
            return
        token = CSRF_FIELD.search(answer[2])
        if token is None:  # already revealed (a lost answer's reveal had committed)
            self.pending.pop(0)
            return
        answer = self.phone.request("reveal", "POST", f"{page_path}/reveal",
                                    form={"csrf_token": token.group(1)})
        if answer is None or answer[0] >= 500:
            return  # the same: reload the reward page and press the button again
        self.pending.pop(0)
        if answer[0] == 303:
            self.phone.request("reveal_result", "GET", answer[1] or page_path)

    def contest(self, tag: int) -> None:
        """Tap ``tag`` first at the same moment as a rival phone: at most one may own it."""
        rival = PhoneLife(Phone(self.phone.port, self.phone.records, self.phone.t0), self.book,
                          random.Random(self.rng.random()), self.stop)
        together = threading.Barrier(2)

        def rival_taps() -> None:
            together.wait()
            rival.tap(tag, "rival_tap")

        thread = threading.Thread(target=rival_taps)
        thread.start()
        together.wait()
        self.tap(tag, "first_tap")
        thread.join()

    def live(self) -> None:
        for n in range(2):
            tag = self.book.take_fresh()
            if tag is None:
                break
            self.mine.append(tag)
            if n == 0 and self.rng.random() < CONTESTED:
                self.contest(tag)
            else:
                self.tap(tag, "first_tap")
        if not self.mine:
            return
        for _ in range(ACTIONS_PER_PHONE):
            if self.stop.is_set():
                return
            if self.pending:
                self.reveal()
                continue
            roll = self.rng.random()
            if roll < 0.55:
                self.tap(self.rng.choice(self.mine), "repeat_tap")
            elif roll < 0.80 and self.owned:
                gtin_serial = self.book.tags[self.rng.choice(sorted(self.owned))]
                self.phone.request("owner_page", "GET",
                                   f"/items/{gtin_serial[1]}/{gtin_serial[2]}/owner")
            elif roll < 0.92 and self.last_accepted is not None:
                # A copied link: the exact URL the server already accepted, sent again.
                self.phone.request("replay", "GET", self.last_accepted)
            else:
                other = self.book.someone_elses(self.rng, self.mine)
                if other is not None:
                    self.tap(other, "friend_tap")


def client(port: int, book: TagBook, seed: int, stop: threading.Event, t0: float,
           records: list[Record]) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        life = PhoneLife(Phone(port, records, t0), book, rng, stop)
        life.live()
        if not life.mine:
            return  # every item has been handed out


# --- Faults ---------------------------------------------------------------------------------------


@dataclass
class Fault:
    kind: str  # kill | db_restart
    at: float  # seconds into the load
    detail: str = ""
    # kill: until gunicorn had its full set of workers again; db_restart: until it accepted
    # connections again.
    back_after_s: float | None = None
    recovery_s: float | None = None  # until the next genuine 200 (sent after the fault)


def inject_faults(
    server: bench.Server, cluster: Cluster, workers: int, kills: int, seconds: float,
    rng: random.Random, stop: threading.Event, t0: float, faults: list[Fault],
) -> None:
    """SIGKILL a worker ``kills`` times and restart the database once, spread over the run."""
    events = ["kill"] * kills
    events.insert(len(events) // 2, "db_restart")
    for i, kind in enumerate(events):
        due = t0 + seconds * (i + 1) / (len(events) + 1)
        if stop.wait(max(0.0, due - time.monotonic())):
            return
        at = time.monotonic()
        if kind == "kill":
            pids = server.worker_pids()
            if not pids:
                continue
            victim = rng.choice(pids)
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
            fault = Fault("kill", at - t0, "SIGKILL of one of the gunicorn workers")
            while time.monotonic() - at < 30:
                pids = server.worker_pids()
                if victim not in pids and len(pids) >= workers:
                    fault.back_after_s = round(time.monotonic() - at, 2)
                    break
                time.sleep(0.05)
        else:
            # -m immediate is a crash: no checkpoint, in-flight transactions die, the start
            # replays the WAL. The pause makes the outage long enough for requests to meet it.
            cluster.stop("immediate")
            time.sleep(1.0)
            cluster.start()
            fault = Fault("db_restart", at - t0, "pg_ctl stop -m immediate, 1 s down, start",
                          back_after_s=round(time.monotonic() - at, 2))
        faults.append(fault)


# --- After the load -------------------------------------------------------------------------------


def probe(port: int, book: TagBook, t0: float, records: list[Record]) -> None:
    """Against the recovered service: fresh genuine taps, then every accepted URL resent."""
    phone = Phone(port, records, t0)
    with book.lock:
        accepted = dict(book.accepted)
    for tag in list(accepted)[:10]:
        counter, path = book.next_tap(tag)
        answer = phone.request("probe_tap", "GET", path, tag=tag, counter=counter)
        if answer is not None and answer[0] == 200:
            book.acknowledged(tag, counter, path)
    with book.lock:
        accepted = dict(book.accepted)
    # Each tag's highest accepted URL: the one a replay defence most easily gets wrong.
    for _counter, path in list(accepted.values())[:300]:
        phone.request("probe_replay", "GET", path)


@dataclass
class Check:
    name: str
    passed: bool
    detail: str
    evidence: list[dict[str, Any]] = field(default_factory=list)  # written to the JSON only


def check_database(url: str, book: TagBook, records: list[Record],
                   faults: list[Fault]) -> list[Check]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return _checks(conn, book, records, faults)
    finally:
        engine.dispose()


def _checks(conn: Any, book: TagBook, records: list[Record], faults: list[Fault]) -> list[Check]:
    def q(sql: str, **params: Any) -> list[Any]:
        return list(conn.execute(text(sql), params).all())

    checks: list[Check] = []
    uid_index = {uid: i for i, (uid, _g, _s) in enumerate(book.tags)}

    # A drill that claimed, granted or revealed nothing proves nothing about those invariants
    # (a ruleset that no longer serves, a page that changed): it fails rather than passes.
    claims = q("select count(*) from ownerships")[0][0]
    grants = q("select count(*) from reward_grants g join reward_pools p on p.id = g.pool_id "
               "where p.reward_id = 'drill-reveal'")[0][0]
    revealed = sum(1 for r in records if r.kind == "reveal" and r.status == 303)
    prize_left = q("select coalesce(sum(stock - given), 0) from reward_prizes "
                   "where stock is not null")[0][0]
    checks.append(Check(
        "the drill exercised every path", claims > 0 and grants > 0 and revealed > 0,
        f"{claims} ownerships claimed, {grants} reveal rewards granted, {revealed} revealed "
        f"through the page's form; prize stock left: {prize_left} of {PRIZE_STOCK}"))

    # Genuine taps: compare (tag, counter) sets, so lost requests that committed are known.
    recorded = [(uid_index[uid], counter) for uid, counter in q(
        "select t.uid, e.counter from tap_events e join tags t on t.id = e.tag_id "
        "where e.verdict = 'genuine'")]
    recorded_set = set(recorded)
    taps = [r for r in records if r.tag is not None]
    acked = {(r.tag, r.counter) for r in taps if r.status == 200}
    lost = {(r.tag, r.counter) for r in taps if r.status is None or r.status >= 500}
    committed_unseen = recorded_set & lost
    # Which answers were lost after their commit, and when: the evidence for the report.
    unseen = [asdict(r) for r in taps if (r.tag, r.counter) in committed_unseen]
    checks.append(Check(
        "genuine 200s = genuine events",
        acked <= recorded_set and recorded_set <= acked | lost and len(recorded) == len(
            recorded_set),
        f"{len(acked)} acknowledged 200s, {len(recorded)} genuine events recorded "
        f"({len(committed_unseen)} of {len(lost)} lost/5xx taps had committed; "
        f"acknowledged but missing: {len(acked - recorded_set)}, "
        f"recorded but never sent or refused: {len(recorded_set - acked - lost)})",
        evidence=unseen))

    # Counters: never backwards, never twice, the tag row agrees with its events.
    backwards = q(
        "select count(*) from (select counter, lag(counter) over "
        "(partition by tag_id order by id) as prev from tap_events "
        "where verdict = 'genuine') s where prev is not null and counter <= prev")[0][0]
    disagree = q(
        "select count(*) from (select t.id from tags t left join tap_events e on "
        "e.tag_id = t.id and e.verdict = 'genuine' group by t.id, t.last_counter, "
        "t.genuine_taps having t.last_counter is distinct from max(e.counter) "
        "or t.genuine_taps <> count(e.id)) s")[0][0]
    replays = [r for r in records if r.kind in ("replay", "probe_replay")]
    replay_ok = sum(1 for r in replays if r.status == 409)
    replay_accepted = sum(1 for r in replays if r.status == 200)
    probe_replays = [r for r in replays if r.kind == "probe_replay"]
    tags_tapped = q("select count(*) from tags where last_counter is not null")[0][0]
    checks.append(Check(
        "no counter went backwards",
        backwards == 0 and disagree == 0 and replay_accepted == 0
        and all(r.status == 409 for r in probe_replays),
        f"{tags_tapped} tags tapped; {backwards} genuine events at or below the tag's previous "
        f"counter; {disagree} tags whose last_counter/genuine_taps disagree with their events; "
        f"replayed URLs: {replay_ok} refused with 409, {replay_accepted} accepted "
        f"(of {len(replays)}; {len(probe_replays)} after the faults)"))

    # Owners: one current ownership per item, numbered 1..n, only the last one current.
    two_current = q("select count(*) from (select item_id from ownerships where ended_at is null "
                    "group by item_id having count(*) > 1) s")[0][0]
    misnumbered = q(
        "select count(*) from (select item_id from ownerships group by item_id having "
        "min(ordinal) <> 1 or max(ordinal) <> count(*) or count(*) filter "
        "(where ended_at is null and ordinal < (select max(o2.ordinal) from ownerships o2 "
        "where o2.item_id = ownerships.item_id)) > 0) s")[0][0]
    owned, ownerships = q("select count(distinct item_id), count(*) from ownerships")[0]
    contested = {r.tag for r in taps if r.kind == "rival_tap"}
    both = sum(1 for tag in contested if sum(
        1 for r in taps if r.tag == tag and r.kind in ("first_tap", "rival_tap")
        and r.status == 200) == 2)
    checks.append(Check(
        "no item had two owners", two_current == 0 and misnumbered == 0,
        f"{owned} items owned through {ownerships} ownerships; {len(contested)} first taps "
        f"raced by two phones ({both} with both answered genuine); {two_current} items with two "
        f"current owners; {misnumbered} with gaps or an earlier ownership still current"))

    # Stock, budget and limits.
    prize_rows = q(
        "select p.prize_id, p.stock, p.given, (select count(*) from reward_grants g where "
        "g.pool_id = p.pool_id and g.outcome = 'prize' and g.prize_id = p.prize_id) "
        "from reward_prizes p where p.stock is not null")
    pool_rows = q(
        "select p.reward_id, p.budget, p.given, (select count(*) from reward_grants g "
        "where g.pool_id = p.id) from reward_pools p order by p.reward_id")
    over_owner = q(
        "select count(*) from (select owner_id from reward_grants g join reward_pools p on "
        "p.id = g.pool_id where p.reward_id = 'drill-reveal' group by owner_id "
        "having count(*) > :most) s", most=PER_OWNER)[0][0]
    over_item = q(
        "select count(*) from (select item_id from reward_grants g join reward_pools p on "
        "p.id = g.pool_id where p.reward_id = 'welcome-points' group by item_id "
        "having count(*) > 1) s")[0][0]
    outcomes = dict(q("select outcome, count(*) from reward_grants g join reward_pools p on "
                      "p.id = g.pool_id where p.reward_id = 'drill-reveal' group by outcome"))
    stock_ok = all(given <= stock and given == won for _p, stock, given, won in prize_rows)
    pools_ok = all(given == grants and (budget is None or given <= budget)
                   for _r, budget, given, grants in pool_rows)
    prizes = "; ".join(f"{p}: {won} won, given {given}, stock {stock}"
                       for p, stock, given, won in prize_rows)
    pools = "; ".join(f"{r}: {grants} grants, given {given}"
                      + (f", budget {budget}" if budget is not None else "")
                      for r, budget, given, grants in pool_rows)
    checks.append(Check(
        "no prize went past its stock",
        stock_ok and pools_ok and over_owner == 0 and over_item == 0,
        f"{prizes}; {pools}; drill-reveal outcomes "
        f"{dict(sorted(outcomes.items()))}; owners over per_owner {PER_OWNER}: {over_owner}; "
        f"items with two welcome grants: {over_item}"))

    # Ledger: balance = sum of entries = last entry's balance; grants' points posted once.
    accounts, bad_sum, bad_last = q(
        "select count(*), count(*) filter (where a.balance <> coalesce(s.total, 0)), "
        "count(*) filter (where a.balance <> coalesce(s.last_balance, 0)) "
        "from loyalty_accounts a left join (select owner_id, sum(points) as total, "
        "(array_agg(balance_after order by id desc))[1] as last_balance "
        "from loyalty_entries group by owner_id) s on s.owner_id = a.owner_id")[0]
    orphans = q("select count(distinct owner_id) from loyalty_entries e where not exists "
                "(select 1 from loyalty_accounts a where a.owner_id = e.owner_id)")[0][0]
    unposted = q(
        "select count(*) from reward_grants g where g.owner_id is not null and g.points > 0 "
        "and (select coalesce(sum(e.points), 0) from loyalty_entries e where "
        "e.cause_type = 'reward' and e.cause_id = cast(g.id as varchar)) <> g.points")[0][0]
    entries, points = q("select count(*), coalesce(sum(points), 0) from loyalty_entries")[0]
    checks.append(Check(
        "every balance equalled its ledger",
        bad_sum == 0 and bad_last == 0 and orphans == 0 and unposted == 0,
        f"{accounts} accounts, {entries} entries, {points} points; balances off their ledger "
        f"sum: {bad_sum}, off the last entry: {bad_last}; entries without an account: "
        f"{orphans}; grants whose points are not in the ledger exactly once: {unposted}"))

    # Recovery: a genuine 200 after every fault, all post-drill taps genuine, no stray 5xx.
    genuine_after = sorted((r.sent, r.answered) for r in taps if r.status == 200)
    for fault in faults:
        nxt = next((answered for sent, answered in genuine_after if sent >= fault.at), None)
        fault.recovery_s = None if nxt is None else round(nxt - fault.at, 2)
    outages = [(f.at, f.at + (f.back_after_s or 0) + OUTAGE_GRACE_S)
               for f in faults if f.kind == "db_restart"]
    errors = [r for r in records if r.status is not None and r.status >= 500]
    during = Counter(f"{r.kind} {r.status}" for r in errors
                     if any(a <= r.sent <= b or a <= r.answered <= b for a, b in outages))
    stray = Counter(f"{r.kind} {r.status}" for r in errors) - during
    # 503 is the designed answer while the database is away (nothing was acknowledged, try
    # again); a 500 is a bug wherever it happens, and so is any 5xx outside the outage.
    five_hundreds = Counter(f"{r.kind} {r.status}" for r in errors if r.status != 503)
    probes = [r for r in records if r.kind == "probe_tap"]
    restart = next((f for f in faults if f.kind == "db_restart"), None)
    checks.append(Check(
        "recovery needed no manual action",
        all(f.recovery_s is not None for f in faults) and bool(probes)
        and all(r.status == 200 for r in probes) and not stray and not five_hundreds,
        (f"database restart -> next genuine 200 in {restart.recovery_s} s "
         f"(the database accepted connections again after {restart.back_after_s} s); "
         if restart else "no database restart; ")
        + "after each kill: " + ", ".join(f"{f.recovery_s} s" for f in faults if f.kind == "kill")
        + f"; post-drill taps: {sum(r.status == 200 for r in probes)}/{len(probes)} genuine; "
        f"5xx during the database outage: {dict(during) or 'none'}, outside it: "
        f"{dict(stray) or 'none'}; answers other than 503 among them: "
        f"{dict(five_hundreds) or 'none'}",
        evidence=[asdict(r) for r in errors if r.status != 503 or r.kind in stray]))
    return checks


# --- Report ---------------------------------------------------------------------------------------


def logged_errors(log: Path) -> Counter[str]:
    """Count the server log's error lines by their first words (types, never messages)."""
    found: Counter[str] = Counter()
    with contextlib.suppress(OSError):
        for line in log.read_text(errors="replace").splitlines():
            # The app's own lines (a 503's cause, a bug's type), gunicorn's for a worker killed
            # or an exception that escaped the app (answered 500), Flask's for one in a handler.
            for marker in ("database unavailable:", "unhandled ", "was sent SIGKILL",
                           "Error handling request", "Exception on "):
                if marker in line:
                    # Types only: what follows a path or pid would split the counts.
                    rest = line[line.index(marker) + len(marker):].split()
                    typed = marker in ("database unavailable:", "unhandled ") and rest
                    found[f"{marker.strip()} {rest[0]}" if typed else marker.strip()] += 1
                    break
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the load")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers")
    parser.add_argument("--clients", type=int, default=6, help="phones acting at once")
    parser.add_argument("--kills", type=int, default=4, help="SIGKILLs of a random worker")
    parser.add_argument("--tags", type=int, default=1500, help="tagged items seeded")
    parser.add_argument("--seed", type=int, default=None, help="random seed (phones, victims)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder and cluster")
    args = parser.parse_args(argv)
    if not 5 <= args.seconds <= 600 or not 1 <= args.workers <= 8 or not 1 <= args.clients <= 32:
        parser.error("--seconds 5..600, --workers 1..8, --clients 1..32")
    if not (PG_BIN / "initdb").exists():
        parser.error(f"no PostgreSQL binaries in {PG_BIN} (set AFTERTAP_PG_BIN)")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    rng = random.Random(seed)

    root = Path(tempfile.mkdtemp(prefix="aftertap-drill-"))
    records: list[Record] = []
    faults: list[Fault] = []
    try:
        with private_cluster(root) as cluster:
            t_setup = time.monotonic()
            inst, kv, rulesets = set_up(root, cluster, args.tags)
            print(f"cluster on port {cluster.port} in {root}; migrated and seeded "
                  f"{len(inst.tags)} tags in {time.monotonic() - t_setup:.1f} s", flush=True)
            book = TagBook(kv, inst.tags)
            env = {
                "AFTERTAP_RULESETS_DIR": str(rulesets),
                "AFTERTAP_ADMIN_PASSWORD_FILE": str(root / "no-admin"),
                "AFTERTAP_MAIL_OUTBOX_DIR": str(root / "outbox"),
            }
            cfg = bench.ServerConfig(args.workers, 1, "sync")
            # --capture-output: the app's own log lines (a 503's cause) go to gunicorn.log.
            with bench.gunicorn(inst, cfg, env, ("--capture-output",)) as server:
                port = int(server.base.rsplit(":", 1)[1])
                stop = threading.Event()
                t0 = time.monotonic()
                per_client: list[list[Record]] = [[] for _ in range(args.clients)]
                threads = [threading.Thread(
                    target=client, args=(port, book, rng.randrange(1 << 30), stop, t0, mine))
                    for mine in per_client]
                chaos = threading.Thread(target=inject_faults, args=(
                    server, cluster, args.workers, args.kills, args.seconds,
                    random.Random(rng.randrange(1 << 30)), stop, t0, faults))
                for t in [*threads, chaos]:
                    t.start()
                print(f"load: {args.clients} phones at a time against {cfg.describe()} for "
                      f"{args.seconds:.0f} s, {args.kills} kills and a database restart...",
                      flush=True)
                try:
                    time.sleep(args.seconds)
                finally:
                    # Also on Ctrl-C: the phones and the fault thread end before the server does.
                    stop.set()
                    for t in [*threads, chaos]:
                        t.join()
                elapsed = time.monotonic() - t0
                for mine in per_client:
                    records.extend(mine)
                probes: list[Record] = []
                probe(port, book, t0, probes)
                records.extend(probes)
            # gunicorn has exited: every request it took is committed or rolled back.
            checks = check_database(inst.url, book, records, faults)
            errors = logged_errors(root / "gunicorn.log")
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    by_kind: dict[str, Counter[str]] = {}
    for r in records:
        by_kind.setdefault(r.kind, Counter())["lost" if r.status is None else str(r.status)] += 1
    load = [r for r in records if not r.kind.startswith("probe")]
    print(f"\nfault drill: {args.seconds:.0f} s, {cfg.describe()}, {args.clients} phones at a "
          f"time, seed {seed}; {len(load)} requests ({len(load) / elapsed:.0f}/s), "
          f"{len(records) - len(load)} after the faults; {len(book.tags) - len(book.fresh)} "
          "items handed out")
    print("requests by kind and status (lost: failed at the connection level):")
    for kind in sorted(by_kind):
        print(f"  {kind:<14} " + ", ".join(f"{s} {n}" for s, n in sorted(by_kind[kind].items())))
    print("faults:")
    for f in faults:
        back = f"back after {f.back_after_s} s" if f.back_after_s is not None else "not back"
        print(f"  {f.at:5.1f} s  {f.kind:<10} {f.detail}; {back}; next genuine 200 after "
              f"{f.recovery_s} s")
    print("server log: " + (", ".join(f"{k!r} x{n}" for k, n in errors.items()) or "quiet"))
    print("invariants:")
    for c in checks:
        print(f"  {'PASS' if c.passed else 'FAIL'}  {c.name}: {c.detail}")
    passed = all(c.passed for c in checks)
    print(f"=> {'PASS' if passed else 'FAIL'}")

    bench.RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = bench.RESULTS / f"drill-{stamp}.json"
    out.write_text(json.dumps({
        "at": stamp, "args": vars(args), "seed": seed, "cores": os.cpu_count(),
        "seconds": round(elapsed, 1), "requests": {k: dict(v) for k, v in by_kind.items()},
        "faults": [asdict(f) for f in faults], "server_log": dict(errors),
        "invariants": [asdict(c) for c in checks], "passed": passed,
    }, indent=2))
    print(f"wrote {out.relative_to(bench.REPO)}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
