"""Limits that hold under load: the database decides, with no Python lock on PostgreSQL.

On SQLite every transaction takes the write lock at BEGIN, so each thread takes this process's
writer turn (``Database.writer``) around its transaction, as requests do.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from app.rewards import draws, grants, ledger
from app.rewards.limits import RewardUnavailable
from app.rewards.models import RewardDraw, RewardGrant, RewardPrize
from tests.factories import tagged_item
from tests.rewards.helpers import BRAND, T0, owner, ruleset, tap_event


def in_own_session(app, work):  # type: ignore[no-untyped-def]
    database = app.extensions["aftertap.db"]
    with database.writer(), database.sessionmaker() as session:
        result = work(session)
        session.commit()
        return result


def test_200_reveals_race_for_a_stock_of_10(app, db):
    doc = ruleset("race:\n  mechanic: click_to_reveal\n  prizes: [{id: top, stock: 10}]\n"
                  "  consolation: {id: thanks}")
    item = tagged_item(db).item_id
    grant_ids = [grants.grant(db, doc, BRAND, "race", tap_event_id=tap_event(db, item),
                              owner_id=None, item_id=item, journey="all", at=T0).id
                 for _ in range(200)]
    db.commit()
    start = threading.Event()

    def reveal(grant_id: int) -> str:
        start.wait()
        return in_own_session(app, lambda s: grants.reveal(s, grant_id, None, T0).outcome)

    with ThreadPoolExecutor(40) as pool:
        futures = [pool.submit(reveal, g) for g in grant_ids]
        start.set()
        outcomes = Counter(f.result() for f in futures)
    assert outcomes == Counter({"prize": 10, "consolation": 190})
    assert db.scalar(select(RewardPrize.given).where(RewardPrize.prize_id == "top")) == 10
    assert db.scalar(select(func.count()).select_from(RewardDraw)) == 200


def test_reveals_that_lose_the_last_unit_log_what_they_got(app, db):
    # One prize, so every draw picks it while it looks in stock: most reveals read a unit that a
    # racer takes first, and must fall back to the consolation in the same statement that logs
    # the draw (PostgreSQL) and keep the draw log, the grants and the audit in agreement.
    doc = ruleset("race:\n  mechanic: click_to_reveal\n  prizes: [{id: top, stock: 5}]\n"
                  "  consolation: {id: thanks, code: generated}")
    item = tagged_item(db).item_id
    grant_ids = [grants.grant(db, doc, BRAND, "race", tap_event_id=tap_event(db, item),
                              owner_id=None, item_id=item, journey="all", at=T0).id
                 for _ in range(60)]
    db.commit()
    start = threading.Event()

    def reveal(grant_id: int) -> tuple[str, str | None]:
        start.wait()
        view = in_own_session(app, lambda s: grants.reveal(s, grant_id, None, T0))
        return view.outcome, view.code

    with ThreadPoolExecutor(20) as pool:
        futures = [pool.submit(reveal, g) for g in grant_ids]
        start.set()
        results = [f.result() for f in futures]
    assert Counter(outcome for outcome, _ in results) == Counter({"prize": 5, "consolation": 55})
    assert all(code for outcome, code in results if outcome == "consolation")
    logged = db.execute(select(RewardDraw.picked, RewardDraw.stock_taken,
                               RewardDraw.outcome_prize, RewardGrant.prize_id)
                        .join(RewardGrant, RewardGrant.id == RewardDraw.grant_id)).all()
    assert sum(1 for row in logged if row.stock_taken) == 5
    assert all(row.outcome_prize == ("top" if row.stock_taken else "thanks") == row.prize_id
               for row in logged)
    assert draws.audit_day(db, "race", T0.date()).ok


def test_a_double_click_reveals_once(app, db):
    doc = ruleset("gift:\n  mechanic: unwrap_gift\n  prizes: [{id: a}, {id: b}]\n"
                  "  consolation: {id: c, points: 3}")
    me, item = owner(db), tagged_item(db).item_id
    for _ in range(5):
        view = grants.grant(db, doc, BRAND, "gift", tap_event_id=tap_event(db, item),
                            owner_id=me, item_id=item, journey="all", at=T0)
        db.commit()
        barrier = threading.Barrier(2)

        def click(view=view, barrier=barrier):  # type: ignore[no-untyped-def]
            barrier.wait()
            return in_own_session(app, lambda s: grants.reveal(s, view.token, me, T0))

        with ThreadPoolExecutor(2) as pool:
            a, b = pool.map(lambda _: click(), range(2))
        assert a == b and a.outcome == "prize"
    assert db.scalar(select(func.count()).select_from(RewardDraw)) == 5


def test_one_owner_two_phones_per_owner_1(app, db):
    doc = ruleset("once: {points: 5, limit: {per_owner: 1}}")
    for _ in range(5):
        me = owner(db)
        taps = [tap_event(db, tagged_item(db).item_id) for _ in range(2)]
        barrier = threading.Barrier(2)

        def phone(tap_id: int, me: int = me, barrier=barrier) -> str:  # type: ignore[no-untyped-def]
            from app.verify.models import TapEvent

            def work(session):  # type: ignore[no-untyped-def]
                item_id = session.get(TapEvent, tap_id).item_id
                try:
                    grants.grant(session, doc, BRAND, "once", tap_event_id=tap_id, owner_id=me,
                                 item_id=item_id, journey="all", at=T0)
                    return "granted"
                except RewardUnavailable as exc:
                    return exc.reason

            barrier.wait()
            return in_own_session(app, work)

        with ThreadPoolExecutor(2) as pool:
            results = Counter(pool.map(phone, taps))
        assert results == Counter({"granted": 1, "per_owner": 1})
        assert ledger.balance(db, me, BRAND) == 5
