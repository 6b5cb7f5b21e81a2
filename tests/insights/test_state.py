"""State metrics (``app.insights.state``) on hand-built catalogues, taps, ownerships, grants,
exposures, messages and orders: each metric's cells are what a person counting by hand finds, on
the brand's own calendar; a second refresh writes the same cells; one brand's refresh never
touches another's numbers; the funnel narrows for any lifecycle; lift's arms count the right
owners."""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.aftersales.models import ServiceEvent, ServiceRequest
from app.catalog.models import Brand, Item, Owner, Ownership, Product
from app.catalog.service import get_or_create_brand, get_or_create_product
from app.insights import metrics as m
from app.insights.lift import Verdict, measure, sentence
from app.insights.models import CommerceEvent, CubeCell
from app.insights.state import RECENT_DAYS, lift_report, refresh_state
from app.messages.models import Message
from app.provenance.models import ProvenanceRecord
from app.rewards.models import (
    LoyaltyEntry,
    ProductReview,
    RewardExposure,
    RewardGrant,
    RewardPool,
)
from app.verify.models import TapEvent
from tests.factories import gtin

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SETTINGS = {"INSIGHTS_STATE_MINUTES": 15}
CREATED = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)  # items made before anything happened
_n = itertools.count(1)


def at(text: str) -> datetime:
    """A UTC moment from ``2026-11-03 10:00``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class World:
    """Builds one brand's catalogue and history straight into the tables (flushed)."""

    def __init__(self, db: Any, slug: str, timezone: str = "Europe/Paris") -> None:
        self.db = db
        brand = get_or_create_brand(db, slug, slug.title())
        brand.timezone = timezone
        self.brand: Brand = brand
        self.products: dict[str, Product] = {}
        db.flush()

    def product(self, name: str) -> Product:
        if name not in self.products:
            self.products[name] = get_or_create_product(self.db, self.brand, gtin(), name=name,
                                                        category="watch")
        return self.products[name]

    def item(self, product: str = "p1", *, market: str | None = "FR",
             sold_at: datetime | None = None, channel: str | None = None,
             released: bool | None = True, created_at: datetime = CREATED) -> Item:
        item = Item(product=self.product(product), serial=f"S{next(_n):07d}", market=market,
                    released=released, sold_at=sold_at, channel=channel, created_at=created_at)
        return self._add(item)

    def owner(self, *, verified: bool = False) -> Owner:
        n = next(_n)
        return self._add(Owner(public_id=secrets.token_urlsafe(32), email=f"o{n}@example.com",
                               email_verified_at=at("2026-01-01 00:00") if verified else None))

    def own(self, item: Item, owner: Owner, started: datetime, *, ordinal: int = 1,
            ended: datetime | None = None) -> Ownership:
        return self._add(Ownership(item_id=item.id, owner_id=owner.id, ordinal=ordinal,
                                   began_by="first_tap" if ordinal == 1 else "transfer",
                                   started_at=started, ended_at=ended,
                                   ended_by="transfer" if ended else None))

    def tap(self, item: Item, moment: datetime, verdict: str = "genuine") -> TapEvent:
        return self._add(TapEvent(at=moment, verdict=verdict, item_id=item.id))

    def pool(self, reward: str) -> RewardPool:
        found = self.db.scalar(select(RewardPool).where(RewardPool.brand == self.brand.slug,
                                                        RewardPool.reward_id == reward))
        return found or self._add(RewardPool(brand=self.brand.slug, reward_id=reward,
                                             mechanic="scratch"))

    def grant(self, pool: RewardPool, item: Item, created: datetime, *, journey: str = "unbox",
              owner: Owner | None = None, revealed: datetime | None = None,
              outcome: str = "pending", prize: str | None = None,
              redeemed: datetime | None = None) -> RewardGrant:
        return self._add(RewardGrant(
            pool_id=pool.id, message_key=f"k{next(_n)}", owner_id=owner.id if owner else None,
            item_id=item.id, journey=journey, token=secrets.token_urlsafe(32)[:43],
            created_at=created, revealed_at=revealed, outcome=outcome, prize_id=prize,
            redeemed_at=redeemed))

    def expose(self, pool: RewardPool, owner: Owner, item: Item, moment: datetime,
               cohort: str, tap: TapEvent | None = None) -> RewardExposure:
        return self._add(RewardExposure(
            pool_id=pool.id, tap_event_id=tap.id if tap else None,
            message_key=None if tap else f"x{next(_n)}", owner_id=owner.id, item_id=item.id,
            cohort=cohort, at=moment))

    def points(self, owner: Owner, moment: datetime, kind: str, points: int) -> None:
        self._add(LoyaltyEntry(owner_id=owner.id, at=moment, kind=kind, points=points,
                               balance_after=1000, cause_type="admin", cause_id=str(next(_n)),
                               brand=self.brand.slug))

    def message(self, ownership: Ownership, slot: datetime, state: str, *,
                schedule: str = "care-30d", sent: datetime | None = None) -> None:
        self._add(Message(
            brand=self.brand.slug, schedule_id=schedule, ownership_id=ownership.id,
            owner_id=ownership.owner_id, slot=slot, channel="email", template="care",
            key=f"m{next(_n)}", state=state, attempts=1, created_at=slot, next_attempt_at=slot,
            give_up_at=slot + timedelta(days=1), sent_at=sent))

    def review(self, owner: Owner, item: Item, moment: datetime) -> None:
        self._add(ProductReview(owner_id=owner.id, product_id=item.product_id, item_id=item.id,
                                rating=5, text="Lovely", created_at=moment))

    def order(self, owner: Owner, moment: datetime, kind: str = "order",
              brand: Brand | None = None) -> None:
        self._add(CommerceEvent(
            brand_id=(brand or self.brand).id, event_id=f"e{next(_n)}", kind=kind,
            owner_id=owner.id, amount_minor=1000, currency="EUR", products=[],
            occurred_at=moment, received_at=moment))

    def service(self, item: Item, ownership: Ownership) -> None:
        self._add(ServiceRequest(item_id=item.id, ownership_id=ownership.id,
                                 created_at=at("2026-11-10 10:00"), kind="repair",
                                 message="Strap", under_warranty=True))

    def service_event(self, item: Item) -> None:
        self._add(ServiceEvent(item_id=item.id, at=at("2026-11-10 10:00"), kind="polish"))

    def provenance(self, item: Item) -> None:
        self._add(ProvenanceRecord(id=secrets.token_hex(16), item_id=item.id,
                                   issued_at=at("2026-11-10 10:00"),
                                   expires_at=at("2027-02-10 10:00"), key_id="k",
                                   document="{}", signature="s"))

    def _add(self, row: Any) -> Any:
        self.db.add(row)
        self.db.flush()
        return row


def refresh(db: Any, now: datetime = NOW, **settings_: Any) -> dict[str, int]:
    written = refresh_state(db, {**SETTINGS, **settings_}, now)
    db.commit()
    return written


def cube(db: Any, brand: Brand | int, metric: str) -> dict[tuple[Any, ...], int]:
    """The brand's cells of ``metric``: (day, product, market, journey, bucket) -> value."""
    brand_id = brand if isinstance(brand, int) else brand.id
    rows = db.execute(select(CubeCell).where(CubeCell.brand_id == brand_id,
                                             CubeCell.metric == metric)).scalars()
    out = {}
    for c in rows:
        assert c.country == ""
        out[(c.day, c.product_id, c.market, c.journey, c.bucket)] = c.value
    return out


def everything(db: Any) -> list[tuple[Any, ...]]:
    return sorted(tuple(r) for r in db.execute(select(
        CubeCell.brand_id, CubeCell.metric, CubeCell.day, CubeCell.product_id, CubeCell.market,
        CubeCell.country, CubeCell.journey, CubeCell.bucket, CubeCell.value)))


D = date


# --- sold and activation ------------------------------------------------------------------------


def test_sold_and_activation_lag_count_items_by_local_sale_day_and_channel(db):
    a = World(db, "brand-a")  # Paris: UTC+1 in winter, UTC+2 in summer
    p1, p2 = a.product("p1").id, a.product("p2").id
    # Sold at 00:30 in Paris on 3 November (23:30 UTC the day before); first tapped two local
    # days later. A boutique's genuine check before the sale and an invalid tap do not count.
    i1 = a.item(sold_at=at("2026-11-02 23:30"), channel="boutique")
    a.tap(i1, at("2026-11-01 10:00"))
    a.tap(i1, at("2026-11-03 09:00"), "invalid")
    a.tap(i1, at("2026-11-05 10:00"))
    a.tap(i1, at("2026-11-06 10:00"))
    i2 = a.item(sold_at=at("2026-11-03 08:00"), channel="online")
    a.tap(i2, at("2026-11-03 20:00"))  # the same local day: 0 days
    a.item(sold_at=at("2026-11-03 09:00"))  # sold, never tapped, channel unknown
    # Summer time: 22:30 UTC on 1 July is 00:30 on 2 July in Paris.
    i4 = a.item(sold_at=at("2026-07-01 22:30"), channel="boutique")
    a.tap(i4, at("2026-07-01 23:00"))
    # Sold three years ago, first tapped now: the last bucket, 730 days.
    i5 = a.item("p2", market=None, sold_at=at("2023-10-01 10:00"), channel="boutique")
    a.tap(i5, at("2026-11-20 10:00"))
    a.item(sold_at=None)  # no sale day: not in SOLD
    db.commit()

    written = refresh(db)

    assert cube(db, a.brand, m.SOLD) == {
        (D(2026, 11, 3), p1, "FR", "", "boutique"): 1,
        (D(2026, 11, 3), p1, "FR", "", "online"): 1,
        (D(2026, 11, 3), p1, "FR", "", ""): 1,
        (D(2026, 7, 2), p1, "FR", "", "boutique"): 1,
        (D(2023, 10, 1), p2, "", "", "boutique"): 1,
    }
    assert cube(db, a.brand, m.ACTIVATION_LAG) == {
        (D(2026, 11, 3), p1, "FR", "", "boutique|2"): 1,
        (D(2026, 11, 3), p1, "FR", "", "online|0"): 1,
        (D(2026, 7, 2), p1, "FR", "", "boutique|0"): 1,
        (D(2023, 10, 1), p2, "", "", "boutique|730"): 1,
    }
    assert written[m.SOLD] == 5 and written[m.ACTIVATION_LAG] == 4


def test_activation_lag_splits_channels_of_one_day(db):
    a = World(db, "brand-a", "UTC")
    p1 = a.product("p1").id
    for channel, lags in (("boutique", (0, 0, 1)), ("online", (3, 3))):
        for lag in lags:
            item = a.item(sold_at=at("2026-11-10 09:00"), channel=channel)
            a.tap(item, at("2026-11-10 10:00") + timedelta(days=lag))
    db.commit()

    refresh(db)

    assert cube(db, a.brand, m.ACTIVATION_LAG) == {
        (D(2026, 11, 10), p1, "FR", "", "boutique|0"): 2,
        (D(2026, 11, 10), p1, "FR", "", "boutique|1"): 1,
        (D(2026, 11, 10), p1, "FR", "", "online|3"): 2,
    }
    assert cube(db, a.brand, m.SOLD) == {
        (D(2026, 11, 10), p1, "FR", "", "boutique"): 3,
        (D(2026, 11, 10), p1, "FR", "", "online"): 2,
    }


# --- the funnel ---------------------------------------------------------------------------------


def test_the_funnel_counts_each_item_at_every_stage_up_to_its_furthest(db):
    a = World(db, "brand-a", "UTC")
    p1 = a.product("p1").id
    sold = at("2026-11-02 10:00")
    day = at("2026-11-05 10:00")

    def lifecycle(*, verified: bool = False, taps: int = 0) -> tuple[Item, Ownership]:
        item = a.item(sold_at=sold)
        held = a.own(item, a.owner(verified=verified), day)
        for n in range(taps):
            a.tap(item, day + timedelta(hours=n))
        return item, held

    a.item(sold_at=sold)  # sold only
    lifecycle(taps=1)  # claimed
    lifecycle(verified=True, taps=1)  # confirmed
    lifecycle(verified=True, taps=2)  # repeat
    item, held = lifecycle(taps=1)  # service, not confirmed: a funnel counts it at confirmed too
    a.service(item, held)
    item, _ = lifecycle()
    a.service_event(item)  # work the brand recorded is a service too
    item, _ = lifecycle(verified=True, taps=2)
    a.provenance(item)  # provenance
    item, first = lifecycle(taps=1)
    first.ended_at = day + timedelta(days=3)
    a.own(item, a.owner(), day + timedelta(days=3), ordinal=2)  # transfer, no tap since
    a.tap(item, day + timedelta(days=10), "replayed")  # not genuine: not active
    item, first = lifecycle(taps=1)
    first.ended_at = day + timedelta(days=3)
    a.own(item, a.owner(), day + timedelta(days=3), ordinal=2)
    a.tap(item, day + timedelta(days=4))  # second_active
    # Never sold, claimed anyway (no sales feed): filed under the day it was created.
    unsold = a.item(sold_at=None, released=None, created_at=at("2026-10-10 10:00"))
    a.own(unsold, a.owner(), day)
    a.item(sold_at=None, released=False)  # in a boutique, untouched: nowhere
    db.commit()

    refresh(db)

    nov2 = {bucket: n for (d, _, _, _, bucket), n in cube(db, a.brand, m.FUNNEL).items()
            if d == D(2026, 11, 2)}
    assert nov2 == {"sold": 9, "claimed": 8, "confirmed": 7, "repeat": 6, "service": 5,
                    "provenance": 3, "transfer": 2, "second_active": 1}
    assert {k: v for k, v in cube(db, a.brand, m.FUNNEL).items() if k[0] != D(2026, 11, 2)} == {
        (D(2026, 10, 10), p1, "FR", "", "sold"): 1, (D(2026, 10, 10), p1, "FR", "", "claimed"): 1}


Lifecycle = tuple[bool, int, bool, tuple[int, ...], bool, bool]
lifecycles = st.tuples(
    st.booleans(),  # sold
    st.integers(0, 3),  # ownerships
    st.booleans(),  # the first owner's email verified
    st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),  # taps per ownership
    st.booleans(),  # a service request
    st.booleans(),  # a provenance record
)
_worlds = itertools.count(1)


def _furthest(life: Lifecycle) -> int:
    """The stage a person reads off one item's story (-1: none)."""
    sold, owners, verified, taps, service, provenance = life
    owned_taps = taps[:owners]
    reached = [sold, owners >= 1, owners >= 1 and verified, sum(owned_taps) >= 2,
               owners >= 1 and service, provenance, owners >= 2, any(owned_taps[1:])]
    return max((i for i, hit in enumerate(reached) if hit), default=-1)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(lifecycles, min_size=1, max_size=6))
def test_the_funnel_narrows_for_any_lifecycles(db, lives):
    n = next(_worlds)
    a = World(db, f"funnel-{n}", "UTC")
    start = at("2026-06-01 10:00")
    for sold, owners, verified, taps, service, provenance in lives:
        item = a.item(sold_at=start if sold else None, released=sold or None,
                      created_at=start)
        held = None
        for ordinal in range(1, owners + 1):
            begin = start + timedelta(days=10 * ordinal)
            if held is not None:
                held.ended_at = begin
            held = a.own(item, a.owner(verified=verified and ordinal == 1), begin,
                         ordinal=ordinal)
            for k in range(taps[ordinal - 1]):
                a.tap(item, begin + timedelta(days=1 + k))
        if service and held is not None:
            a.service(item, held)
        if provenance:
            a.provenance(item)
    db.commit()

    refresh(db, NOW + timedelta(hours=n))  # an hour later each time: the funnel is due

    reached = {bucket: value for (_, _, _, _, bucket), value in cube(db, a.brand,
                                                                     m.FUNNEL).items()}
    counts = [reached.get(stage, 0) for stage in m.FUNNEL_STAGES]
    assert all(later <= earlier for earlier, later in itertools.pairwise(counts))
    expected = [sum(1 for life in lives if _furthest(life) >= i)
                for i in range(len(m.FUNNEL_STAGES))]
    assert counts == expected


# --- abandonment --------------------------------------------------------------------------------


def test_abandonment_counts_burst_owners_and_those_who_stopped_by_local_month(db):
    a = World(db, "brand-a")
    p1 = a.product("p1").id
    x, y, z = a.owner(), a.owner(), a.owner()
    # X: three taps in the first 30 days, none in the last 60: burst and stopped. The ownership
    # began at 00:30 on 1 June in Paris (22:30 UTC on 31 May): a June cohort.
    i1 = a.item()
    a.own(i1, x, at("2026-05-31 22:30"))
    for d in ("2026-06-01 10:00", "2026-06-10 10:00", "2026-06-29 10:00"):
        a.tap(i1, at(d))
    # Y: three in the first 30 days and one lately: burst, not stopped.
    i2 = a.item()
    a.own(i2, y, at("2026-06-20 10:00"))
    for d in ("2026-06-20 10:00", "2026-06-21 10:00", "2026-07-19 10:00", "2026-11-20 10:00"):
        a.tap(i2, at(d))
    # Z: two genuine taps and an invalid one in the first 30 days, the third on day 31.
    i3 = a.item()
    a.own(i3, z, at("2026-06-12 10:00"))
    for d in ("2026-06-12 10:00", "2026-06-13 10:00", "2026-07-13 10:00"):
        a.tap(i3, at(d))
    a.tap(i3, at("2026-06-14 10:00"), "invalid")
    # X again, a second watch, burst and still tapping: X counts once, and as stopped.
    i4 = a.item()
    a.own(i4, x, at("2026-06-25 10:00"))
    for d in ("2026-06-25 10:00", "2026-06-26 10:00", "2026-06-27 10:00", "2026-11-25 10:00"):
        a.tap(i4, at(d))
    # Taps after an ownership ended are the next owner's: the first owner had only two.
    i5 = a.item()
    first = a.own(i5, z, at("2026-06-02 10:00"), ended=at("2026-06-05 10:00"))
    a.own(i5, y, first.ended_at, ordinal=2)
    for d in ("2026-06-02 11:00", "2026-06-03 10:00", "2026-06-06 10:00"):
        a.tap(i5, at(d))
    db.commit()

    refresh(db)

    assert cube(db, a.brand, m.ABANDONMENT) == {
        (D(2026, 6, 1), p1, "FR", "", "burst"): 2,
        (D(2026, 6, 1), p1, "FR", "", "stopped"): 1,
    }


# --- rewards, points, messages ------------------------------------------------------------------


def test_rewards_points_and_messages_by_local_day(db):
    a = World(db, "brand-a", "UTC")
    scratch = a.pool("scratch")
    item = a.item()
    owner = a.owner()
    held = a.own(item, owner, at("2026-11-01 10:00"))
    a.grant(scratch, item, at("2026-11-20 10:00"), owner=owner,
            revealed=at("2026-11-21 10:00"), outcome="prize", prize="tote",
            redeemed=at("2026-11-25 10:00"))
    a.grant(scratch, item, at("2026-11-20 11:00"), revealed=at("2026-11-20 12:00"),
            outcome="consolation", prize="sticker")
    a.grant(scratch, item, at("2026-11-20 12:00"), revealed=at("2026-11-20 12:05"),
            outcome="nothing")
    a.grant(scratch, item, at("2026-11-21 10:00"), journey="care")  # pending
    a.points(owner, at("2026-11-20 10:00"), "earn", 100)
    a.points(owner, at("2026-11-20 11:00"), "spend", -30)
    a.points(owner, at("2026-11-20 12:00"), "expire", -10)
    a.points(owner, at("2026-11-21 10:00"), "reverse", -20)
    # Sent on its slot; the item was tapped two days later: followed by a tap.
    a.message(held, at("2026-11-10 09:00"), "sent", sent=at("2026-11-10 09:00"))
    # Sent a day late (quiet hours): a reveal 6 days after sending follows it, and so would
    # a tap within 7 days of the sending, not of the slot.
    a.message(held, at("2026-11-10 09:00"), "accepted", sent=at("2026-11-11 09:00"),
              schedule="winback")
    a.message(held, at("2026-11-10 09:30"), "suppressed")
    a.message(held, at("2026-11-29 09:00"), "scheduled")
    a.tap(item, at("2026-11-12 10:00"))
    # 7 days and an hour after the first message went out, 6 days after the second.
    a.grant(scratch, item, at("2026-11-17 08:00"), owner=owner,
            revealed=at("2026-11-17 10:00"), outcome="nothing")
    a.tap(item, at("2026-11-18 10:00"))  # 8 days after the first message was sent
    # A reward of another brand revealed by the same owner follows no message of this one.
    b = World(db, "brand-b", "UTC")
    b.grant(b.pool("spin"), b.item(), at("2026-11-12 10:00"), owner=owner,
            revealed=at("2026-11-12 10:00"), outcome="nothing")
    db.commit()

    refresh(db)

    assert cube(db, a.brand, m.REWARD_GRANTS) == {
        (D(2026, 11, 20), 0, "", "unbox", "scratch"): 3,
        (D(2026, 11, 21), 0, "", "care", "scratch"): 1,
        (D(2026, 11, 17), 0, "", "unbox", "scratch"): 1,
    }
    assert cube(db, a.brand, m.REWARD_REVEALS) == {
        (D(2026, 11, 21), 0, "", "unbox", "scratch"): 1,
        (D(2026, 11, 20), 0, "", "unbox", "scratch"): 2,
        (D(2026, 11, 17), 0, "", "unbox", "scratch"): 1,
    }
    assert cube(db, a.brand, m.REWARD_WINS) == {
        (D(2026, 11, 21), 0, "", "unbox", "scratch|tote"): 1,
        (D(2026, 11, 20), 0, "", "unbox", "scratch|sticker"): 1,
    }
    assert cube(db, a.brand, m.REWARD_REDEEMED) == {
        (D(2026, 11, 25), 0, "", "unbox", "scratch"): 1}
    assert cube(db, a.brand, m.POINTS) == {
        (D(2026, 11, 20), 0, "", "", "earn"): 100, (D(2026, 11, 20), 0, "", "", "spend"): 30,
        (D(2026, 11, 20), 0, "", "", "expire"): 10, (D(2026, 11, 21), 0, "", "", "reverse"): -20}
    assert cube(db, a.brand, m.MESSAGES) == {
        (D(2026, 11, 10), 0, "", "care-30d", "sent"): 1,
        (D(2026, 11, 10), 0, "", "winback", "accepted"): 1,
        (D(2026, 11, 10), 0, "", "care-30d", "suppressed"): 1,
        (D(2026, 11, 29), 0, "", "care-30d", "scheduled"): 1,
    }
    assert cube(db, a.brand, m.MESSAGES_FOLLOWED) == {
        (D(2026, 11, 10), 0, "", "care-30d", "tap"): 1,
        (D(2026, 11, 10), 0, "", "winback", "tap"): 1,
        (D(2026, 11, 10), 0, "", "winback", "reveal"): 1,
    }


# --- lift ---------------------------------------------------------------------------------------


def _exposed_owners(w: World, pool: RewardPool, cohort: str, n: int,
                    exposed: datetime) -> list[tuple[Owner, Item]]:
    """``n`` owners who each hold a watch since October 1st and were exposed by a tap of it."""
    out = []
    for _ in range(n):
        owner, item = w.owner(), w.item()
        w.own(item, owner, at("2026-10-01 10:00"))
        w.expose(pool, owner, item, exposed, cohort, w.tap(item, exposed))
        out.append((owner, item))
    return out


def test_lift_counts_each_owners_first_exposure_and_its_outcomes_within_30_days(db):
    a, b = World(db, "brand-a", "UTC"), World(db, "brand-b", "UTC")
    scratch = a.pool("scratch")
    day = at("2026-10-20 10:00")
    treated = _exposed_owners(a, scratch, "treatment", 10, day)
    held = _exposed_owners(a, scratch, "holdout", 5, day)
    # Repeat taps: six exposed owners and two held-out ones within 30 days; one exposed owner
    # only on day 31; the exposing taps themselves never count.
    for _owner, item in treated[:6] + held[:2]:
        a.tap(item, at("2026-11-10 10:00"))
    a.tap(treated[6][1], at("2026-11-19 10:01"))
    a.tap(treated[7][1], at("2026-11-01 10:00"), "replayed")
    # Owner 8 sold their watch on October 25th: the next owner's tap is not theirs.
    [ownership] = db.scalars(select(Ownership).where(Ownership.item_id == treated[8][1].id))
    ownership.ended_at = at("2026-10-25 10:00")
    a.own(treated[8][1], a.owner(), ownership.ended_at, ordinal=2)
    a.tap(treated[8][1], at("2026-11-01 10:00"))
    # Owner 0 is exposed again later: still one first exposure.
    a.expose(scratch, treated[0][0], treated[0][1], at("2026-11-02 10:00"), "treatment",
             a.tap(treated[0][1], at("2026-11-02 10:00")))
    # Reviews: two exposed owners and one held out within 30 days, one exposed on day 31.
    for owner, item in treated[:2] + held[:1]:
        a.review(owner, item, at("2026-11-05 10:00"))
    a.review(treated[2][0], treated[2][1], at("2026-11-19 11:00"))
    # Orders: one exposed owner and one held out; a refund, an order from another brand and
    # one made before the exposure are no purchase.
    a.order(treated[0][0], at("2026-11-01 10:00"))
    a.order(held[1][0], at("2026-11-18 10:00"))
    a.order(treated[1][0], at("2026-11-01 10:00"), "refund")
    a.order(treated[2][0], at("2026-11-01 10:00"), brand=b.brand)
    a.order(treated[3][0], at("2026-10-19 10:00"))
    # First exposed in September, exposed again on October 20th: a September cohort.
    early, item = a.owner(), a.item()
    a.own(item, early, at("2026-08-01 10:00"))
    a.expose(scratch, early, item, at("2026-09-01 10:00"), "holdout",
             a.tap(item, at("2026-09-01 10:00")))
    a.expose(scratch, early, item, day, "holdout", a.tap(item, day + timedelta(minutes=5)))
    # Nobody to follow: an exposure of an anonymous tap.
    a._add(RewardExposure(pool_id=scratch.id, tap_event_id=a.tap(item, day).id, owner_id=None,
                          item_id=item.id, cohort="treatment", at=day))
    # Another brand's watch tapped and product reviewed by exposed owners: not this reward's.
    other = b.item()
    b.own(other, treated[9][0], at("2026-10-01 10:00"))
    b.tap(other, at("2026-11-01 10:00"))
    b.review(treated[3][0], other, at("2026-11-01 10:00"))
    # Brand B's reward of the same name.
    _exposed_owners(b, b.pool("scratch"), "treatment", 3, day)
    db.commit()

    refresh(db)

    oct20 = D(2026, 10, 20)
    assert cube(db, a.brand, m.LIFT) == {
        (oct20, 0, "", "scratch", "treatment"): 10,
        (oct20, 0, "", "scratch", "treatment|repeat_tap_30d"): 6,
        (oct20, 0, "", "scratch", "treatment|review"): 2,
        (oct20, 0, "", "scratch", "treatment|purchase"): 1,
        (oct20, 0, "", "scratch", "holdout"): 5,
        (oct20, 0, "", "scratch", "holdout|repeat_tap_30d"): 2,
        (oct20, 0, "", "scratch", "holdout|review"): 1,
        (oct20, 0, "", "scratch", "holdout|purchase"): 1,
        (D(2026, 9, 1), 0, "", "scratch", "holdout"): 1,
    }
    assert cube(db, b.brand, m.LIFT) == {(oct20, 0, "", "scratch", "treatment"): 3}

    rows = {r.outcome: r for r in lift_report(db, a.brand.id, D(2026, 10, 1), D(2026, 10, 31),
                                              {"scratch": 33.3})}
    assert list(rows) == list(m.LIFT_OUTCOMES)
    repeat = rows["repeat_tap_30d"]
    assert (repeat.reward, repeat.exposed_successes, repeat.exposed, repeat.held_out_successes,
            repeat.held_out, repeat.holdout_percent) == ("scratch", 6, 10, 2, 5, 33.3)
    assert repeat.lift == measure((6, 10), (2, 5), 33.3)
    assert repeat.sentence == sentence(repeat.lift)
    assert (rows["purchase"].exposed_successes, rows["purchase"].held_out_successes) == (1, 1)
    # September: held-out owners only.
    [september, *_] = lift_report(db, a.brand.id, D(2026, 9, 1), D(2026, 9, 30),
                                  {"scratch": 33.3})
    assert (september.exposed, september.held_out, september.lift) == (0, 1, None)
    assert september.sentence.startswith("Not enough evidence yet")


def test_a_known_effect_of_a_reward_is_found(db):
    a = World(db, "brand-a", "UTC")
    scratch = a.pool("scratch")
    day = at("2026-11-02 10:00")
    treated = _exposed_owners(a, scratch, "treatment", 60, day)
    held = _exposed_owners(a, scratch, "holdout", 20, day)
    # The reward makes three owners in four come back; one in five does anyway.
    for _owner, item in treated[:45] + held[:4]:
        a.tap(item, day + timedelta(days=3))
    db.commit()

    refresh(db)

    rows = lift_report(db, a.brand.id, D(2026, 11, 1), D(2026, 11, 30), {"scratch": 25})
    repeat = next(r for r in rows if r.outcome == "repeat_tap_30d")
    assert (repeat.exposed_successes, repeat.exposed) == (45, 60)
    assert (repeat.held_out_successes, repeat.held_out) == (4, 20)
    assert repeat.lift is not None and repeat.lift.verdict is Verdict.BETTER
    assert repeat.lift.difference == pytest.approx(0.75 - 0.20)
    assert repeat.sentence.startswith("Exposed owners did 55.0 points better")
    review = next(r for r in rows if r.outcome == "review")
    assert review.lift is not None and review.lift.verdict is Verdict.NO_DIFFERENCE
    # Without the declared holdout (the reward left the ruleset) or with none: counts only.
    [unknown, *_] = lift_report(db, a.brand.id, D(2026, 11, 1), D(2026, 11, 30))
    assert (unknown.exposed, unknown.lift) == (60, None)
    assert "not known" in unknown.sentence
    [none, *_] = lift_report(db, a.brand.id, D(2026, 11, 1), D(2026, 11, 30), {"scratch": 0})
    assert none.lift is None and "holds no owner out" in none.sentence


# --- brands, recomputing, cadence ---------------------------------------------------------------


def _history(w: World, shift: timedelta = timedelta(0)) -> None:
    """A little of everything, ``shift`` later."""
    owner = w.owner(verified=True)
    item = w.item(sold_at=at("2026-11-02 10:00") + shift, channel="boutique")
    held = w.own(item, owner, at("2026-11-03 10:00") + shift)
    for k in range(3):
        w.tap(item, at("2026-11-03 10:00") + shift + timedelta(days=k))
    pool = w.pool("scratch")
    w.grant(pool, item, at("2026-11-04 10:00") + shift, owner=owner,
            revealed=at("2026-11-04 11:00") + shift, outcome="prize", prize="tote")
    w.expose(pool, owner, item, at("2026-11-03 10:00") + shift, "treatment")
    w.points(owner, at("2026-11-04 10:00") + shift, "earn", 50)
    w.message(held, at("2026-11-04 10:00") + shift, "sent", sent=at("2026-11-04 10:00") + shift)


def test_a_brand_counts_only_its_own_things_on_its_own_calendar(db):
    a, b = World(db, "brand-a", "UTC"), World(db, "brand-b", "Pacific/Auckland")
    _history(a)
    _history(b)
    _history(b, timedelta(days=1))
    other = CubeCell(brand_id=a.brand.id, metric=m.TAPS, day=D(2026, 11, 3), product_id=0,
                     market="", country="", journey="", bucket="genuine", value=7)
    db.add(other)
    db.commit()

    refresh(db)

    # B did everything twice, A once.
    for metric in (m.SOLD, m.ACTIVATION_LAG, m.FUNNEL, m.ABANDONMENT, m.REWARD_GRANTS,
                   m.REWARD_REVEALS, m.REWARD_WINS, m.POINTS, m.MESSAGES, m.MESSAGES_FOLLOWED,
                   m.LIFT):
        assert sum(cube(db, b.brand, metric).values()) == 2 * sum(
            cube(db, a.brand, metric).values()) > 0, metric
    assert cube(db, a.brand, m.SOLD) == {
        (D(2026, 11, 2), a.product("p1").id, "FR", "", "boutique"): 1}
    # Auckland is 13 hours ahead in November: 10:00 UTC is 23:00 the same day.
    assert set(cube(db, b.brand, m.SOLD)) == {
        (D(2026, 11, 2), b.product("p1").id, "FR", "", "boutique"),
        (D(2026, 11, 3), b.product("p1").id, "FR", "", "boutique")}
    assert cube(db, a.brand, m.TAPS) == {(D(2026, 11, 3), 0, "", "", "genuine"): 7}


def test_a_second_refresh_writes_the_same_cells(db):
    a, b = World(db, "brand-a"), World(db, "brand-b", "America/New_York")
    _history(a)
    _history(b, timedelta(days=-60))  # older than the recent days
    db.commit()

    first = refresh(db)
    cells = everything(db)
    soon = refresh(db, NOW + timedelta(minutes=1))
    assert everything(db) == cells
    later = refresh(db, NOW + timedelta(minutes=20))
    assert everything(db) == cells

    assert set(first) == set(later) == {m.SOLD, m.ACTIVATION_LAG,
                                        m.FUNNEL, m.ABANDONMENT, m.REWARD_GRANTS,
                                        m.REWARD_REVEALS, m.REWARD_WINS, m.REWARD_REDEEMED,
                                        m.POINTS, m.MESSAGES, m.MESSAGES_FOLLOWED, m.LIFT}
    # Nothing changed: nothing rewritten.
    assert m.SOLD not in soon and set(soon.values()) == set(later.values()) == {0}
    assert first[m.POINTS] == 2 and first[m.SOLD] == 2


def test_cohorts_wait_for_their_interval_and_recent_days_follow_every_refresh(db):
    a = World(db, "brand-a", "UTC")
    _history(a)
    db.commit()
    refresh(db)
    a.item(sold_at=at("2026-11-20 10:00"), channel="online")
    owner = a.owner()
    a.points(owner, at("2026-11-29 10:00"), "earn", 5)
    db.commit()

    written = refresh(db, NOW + timedelta(minutes=14))

    assert m.SOLD not in written
    assert sum(cube(db, a.brand, m.SOLD).values()) == 1
    assert cube(db, a.brand, m.POINTS)[(D(2026, 11, 29), 0, "", "", "earn")] == 5
    written = refresh(db, NOW + timedelta(minutes=15))
    assert written[m.SOLD] == 1  # the new item's cell; the other is as it was
    assert sum(cube(db, a.brand, m.SOLD).values()) == 2
    # A shorter interval from the settings; a clock set back does not stop the recompute.
    a.item(sold_at=at("2026-11-21 10:00"))
    db.commit()
    assert m.SOLD in refresh(db, NOW + timedelta(minutes=16), INSIGHTS_STATE_MINUTES=1)
    a.item(sold_at=at("2026-11-22 10:00"))
    db.commit()
    assert m.SOLD in refresh(db, NOW - timedelta(days=1))
    assert sum(cube(db, a.brand, m.SOLD).values()) == 4


def test_days_older_than_the_recent_window_are_left_as_they_were(db):
    a = World(db, "brand-a")
    owner = a.owner()
    a.item()  # made in 2024: the history starts there
    # 22:30 UTC is 00:30 the next day in Paris in summer, 23:30 the same day in winter.
    a.points(owner, at("2026-07-01 22:30"), "earn", 3)
    a.points(owner, at("2026-01-15 22:30"), "earn", 4)
    a.points(owner, at("2023-06-01 10:00"), "earn", 5)  # points given before any item existed
    a.points(owner, NOW - timedelta(days=RECENT_DAYS + 5), "earn", 10)
    a.points(owner, NOW - timedelta(days=2), "earn", 20)
    db.commit()
    refresh(db)  # the first refresh fills the whole history
    old_day = (NOW - timedelta(days=RECENT_DAYS + 5)).date()
    recent_day = (NOW - timedelta(days=2)).date()
    assert cube(db, a.brand, m.POINTS) == {(D(2023, 6, 1), 0, "", "", "earn"): 5,
                                           (D(2026, 1, 15), 0, "", "", "earn"): 4,
                                           (D(2026, 7, 2), 0, "", "", "earn"): 3,
                                           (old_day, 0, "", "", "earn"): 10,
                                           (recent_day, 0, "", "", "earn"): 20}
    # Both days gain an entry; a refresh a minute later reads only the recent days.
    a.points(owner, NOW - timedelta(days=RECENT_DAYS + 5), "earn", 1)
    a.points(owner, NOW - timedelta(days=2), "earn", 2)
    db.commit()

    refresh(db, NOW + timedelta(minutes=1))

    assert cube(db, a.brand, m.POINTS) == {(D(2023, 6, 1), 0, "", "", "earn"): 5,
                                           (D(2026, 1, 15), 0, "", "", "earn"): 4,
                                           (D(2026, 7, 2), 0, "", "", "earn"): 3,
                                           (old_day, 0, "", "", "earn"): 10,
                                           (recent_day, 0, "", "", "earn"): 22}


def test_ids_too_long_for_the_cube_are_cut_not_refused(db):
    # Reward and prize ids may each be 64 characters; the cube's bucket holds 80. PostgreSQL
    # would refuse the longer text and with it every later refresh.
    a = World(db, "brand-a", "UTC")
    reward, prize = "r" * 64, "p" * 64
    a.grant(a.pool(reward), a.item(), at("2026-11-20 10:00"), revealed=at("2026-11-20 10:00"),
            outcome="prize", prize=prize)
    db.commit()

    refresh(db)

    assert cube(db, a.brand, m.REWARD_WINS) == {
        (D(2026, 11, 20), 0, "", "unbox", (reward + "|" + prize)[:80]): 1}


def test_a_brand_whose_time_zone_is_unknown_is_counted_in_utc(db):
    a = World(db, "brand-a", "Mars/Olympus_Mons")
    a.item(sold_at=at("2026-11-02 23:30"))
    db.commit()

    refresh(db)

    assert cube(db, a.brand, m.SOLD) == {(D(2026, 11, 2), a.product("p1").id, "FR", "", ""): 1}


def test_lift_report_refuses_to_measure_cells_caught_between_two_refreshes(db):
    a = World(db, "brand-a", "UTC")
    for bucket, value in (("treatment", 10), ("treatment|review", 12), ("holdout", 5)):
        db.add(CubeCell(brand_id=a.brand.id, metric=m.LIFT, day=D(2026, 11, 2), product_id=0,
                        market="", country="", journey="scratch", bucket=bucket, value=value))
    db.commit()

    rows = {r.outcome: r for r in lift_report(db, a.brand.id, D(2026, 11, 1), D(2026, 11, 30),
                                              {"scratch": 30})}

    assert rows["review"].lift is None and "being updated" in rows["review"].sentence
    assert rows["purchase"].lift is not None


def test_a_cell_that_changed_is_updated_and_one_that_emptied_is_removed(db):
    a = World(db, "brand-a", "UTC")
    item, owner = a.item(), a.owner()
    held = a.own(item, owner, at("2026-11-01 10:00"))
    a.message(held, at("2026-11-20 09:00"), "scheduled")
    a.message(held, at("2026-11-20 10:00"), "scheduled")
    db.commit()
    refresh(db)
    assert cube(db, a.brand, m.MESSAGES) == {(D(2026, 11, 20), 0, "", "care-30d", "scheduled"): 2}
    # One of them went out: the scheduled cell drops to 1 and a sent cell appears; then both.
    for n, message in enumerate(db.scalars(select(Message).order_by(Message.id))):
        message.state, message.sent_at = "sent", at("2026-11-20 10:00")
        db.commit()
        written = refresh(db, NOW + timedelta(minutes=n + 1))

        if n == 0:
            assert written[m.MESSAGES] == 2
            assert cube(db, a.brand, m.MESSAGES) == {
                (D(2026, 11, 20), 0, "", "care-30d", "scheduled"): 1,
                (D(2026, 11, 20), 0, "", "care-30d", "sent"): 1}
    assert written[m.MESSAGES] == 2
    assert cube(db, a.brand, m.MESSAGES) == {(D(2026, 11, 20), 0, "", "care-30d", "sent"): 2}
