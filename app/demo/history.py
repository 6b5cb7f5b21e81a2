"""A made-up but realistic history for the demo brands (``demo history``): what a year of
owners, taps, rewards and messages looks like, for the insights dashboard and its benches.

``generate_history`` writes, for the demo brands only (``demo seed`` creates them first):

* items sold through channels that activate at different speeds (a boutique sale is tapped the
  same day, a department-store gift waits for Christmas, a duty-free one often never), with a
  December peak of sales; some items still in a boutique, some whose sale is not known;
* owners, ownerships and resales (about 6 % of owners bought second hand: ownerships begun by
  transfer), and each item's tag (its counter, genuine taps and last tap kept consistent);
* genuine taps: a burst after the purchase, then a monthly routine (more in December) that
  some keep and some abandon after the burst; friends tapping; taps abroad;
* failed taps (invalid signatures, unknown chips) and replayed links, counted per hour too;
* grey market (owners living outside the item's market, duty-free buyers, travellers), clone
  cases (the same chip read in two countries closer in time than travel allows, and a counter
  replayed from another country) and stolen items tapped by strangers;
* service requests (with the brand's service events), reviews, reward exposures, grants,
  reveals, codes redeemed and the points they earned, and scheduled messages sent;
* the holdout of the review reward (``review-reveal``, 10 % held out) with a known effect: of
  owners first exposed, ``LIFT_DESIGN`` gives the share with a genuine tap of their items in
  the 30 days after (treatment 30 %, holdout 24 %), so the lift panel has a right answer.

Cohorts use ``app.rewards.limits.holdout_bucket``, the app's own split, so a later live tap
by the same owner lands in the same cohort. The journeys recorded follow the demo rulesets'
order (first match wins), simplified: no service-due, loyalty or refill journeys.

Deterministic for a seed on the same database: the same rows, ids included, except the
secrets nobody may predict (owners' ``public_id``, reward links' tokens, prize codes). Ids are
reserved up front (PostgreSQL: from each table's sequence; SQLite: above the highest id, under
the write lock the session holds) so rows are written in bulk, without a round trip each.

A second run refuses (``HistoryExists``): rows are never duplicated, and a history is never
half-appended to another. Made-up rows are recognisable: item serials start ``HIST-``, owners'
addresses end ``@history.example``; messages are written already sent (or failed or
suppressed), so no worker ever sends them.
"""

from __future__ import annotations

import bisect
import secrets
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate
from random import Random
from typing import Any

from sqlalchemy import Table, func, select, text, update
from sqlalchemy.orm import Session

from app.aftersales.models import ServiceEvent, ServiceRequest
from app.catalog.models import Brand, Item, Owner, Ownership, Product
from app.core.clock import now
from app.core.db import Base, dialect_insert
from app.core.errors import N_, Conflict, Forbidden, NotFound
from app.demo.service import DEMO_BRANDS, HISTORY_SERIAL_PREFIX
from app.insights.integrity import travel_time
from app.messages.models import Message
from app.rewards.limits import holdout_bucket
from app.rewards.models import (
    LoyaltyAccount,
    LoyaltyEntry,
    ProductReview,
    RewardExposure,
    RewardGrant,
    RewardPool,
    RewardPrize,
)
from app.rewards.pools import sync_ruleset
from app.rules.service import Ruleset
from app.verify.models import FailedTapHour, Tag, TapEvent

SERIAL_PREFIX = HISTORY_SERIAL_PREFIX
EMAIL_DOMAIN = "history.example"
# Rows per INSERT batch (and per COPY flush on PostgreSQL).
BATCH = 5000
# The designed effect of the review reward: the share of first-exposed owners with a genuine tap
# of their items within 30 days, per cohort.
LIFT_REWARD = "review-reveal"
LIFT_DESIGN: Mapping[str, float] = {"treatment": 0.30, "holdout": 0.24}
LIFT_WINDOW = timedelta(days=30)
RESALE_SHARE = 0.06

GENUINE, REPLAYED, INVALID, UNKNOWN_TAG = "genuine", "replayed", "invalid", "unknown_tag"


class NotDemo(Forbidden):
    """The app is not in demo mode and ``force`` was not given."""

    code = "not_demo"


class HistoryExists(Conflict):
    """A history was already generated in this database."""

    code = "history_exists"


class NotSeeded(NotFound):
    """A demo brand, its products or its ruleset is missing."""

    code = "not_seeded"


@dataclass(frozen=True)
class HistoryParams:
    """What to generate: ``owners`` owners over the ``days`` days before ``until`` (None: now)."""

    owners: int
    days: int
    key_version: str
    # The demo brands' live rulesets, by slug: their rewards' pools and the version taps record.
    rulesets: Mapping[str, Ruleset]
    seed: int = 0
    until: datetime | None = None
    force: bool = False


@dataclass(frozen=True)
class HistorySummary:
    """How many rows of each table were written (by table name), and the span covered."""

    counts: Mapping[str, int]
    start: datetime
    end: datetime


# --- the plan of each brand ------------------------------------------------------------------


@dataclass(frozen=True)
class _Channel:
    name: str
    weight: float
    same_day: float  # share activated within hours of the sale (tapped in the shop)
    mean_days: float  # otherwise, mean days from sale to first tap (exponential)
    never: float  # share never activated
    abroad: float  # share of buyers living outside the item's market (duty-free, travel)


@dataclass(frozen=True)
class _BrandPlan:
    share: float  # of the owners
    markets: Mapping[str, float]
    channels: tuple[_Channel, ...]
    products: Mapping[str, float]  # category -> weight
    claim: str
    resale_first: str | None
    review: str
    december: str
    film: tuple[str, str]  # (category, journey)
    care: str
    stranger: str
    stranger_abroad: str
    stolen: str
    winback: str | None
    rewards: Mapping[str, str]  # journey -> reward id


_CHANNELS = (
    _Channel("boutique", 40, 0.7, 3, 0.04, 0.03),
    _Channel("online", 30, 0.05, 5, 0.10, 0.02),
    _Channel("department-store", 15, 0.1, 20, 0.20, 0.03),
    _Channel("duty-free", 8, 0.2, 10, 0.25, 0.6),
    _Channel("marketplace", 7, 0.05, 7, 0.15, 0.1),
)
PLANS: Mapping[str, _BrandPlan] = {
    "maison-aurelia": _BrandPlan(
        share=0.7,
        markets={"FR": 40, "DE": 12, "GB": 10, "US": 12, "JP": 8, "CN": 8, "CH": 5, "IT": 5},
        channels=_CHANNELS,
        products={"bag": 25, "serum": 35, "whisky": 10, "sneakers": 20, "watch": 10},
        claim="unboxing", resale_first="new-owner-welcome", review="review-reveal",
        december="holiday-message", film=("watch", "watchmaker-film"), care="care",
        stranger="welcome-back", stranger_abroad="grey-market-check", stolen="stolen-item",
        winback="win-back",
        rewards={"unboxing": "welcome-points", "new-owner-welcome": "welcome-points",
                 "review-reveal": "review-reveal", "win-back": "comeback-gift"},
    ),
    "nordwand": _BrandPlan(
        share=0.3, markets={"CH": 45, "DE": 30, "FR": 15, "AT": 10},
        channels=(*_CHANNELS[:3], _Channel("mountain-shop", 15, 0.6, 4, 0.05, 0.02)),
        products={"jacket": 55, "boots": 45},
        claim="first-tap", resale_first=None, review="trail-review", december="winter-check",
        film=("jacket", "seam-film"), care="owner-care", stranger="visitor",
        stranger_abroad="visitor", stolen="visitor", winback=None,
        rewards={"first-tap": "summit-points", "trail-review": "trail-report"},
    ),
}
# Where owners who do not live in the item's market live (grey market, travellers).
_ELSEWHERE = ("HK", "CN", "RU", "AE", "US", "GB", "KR", "SG", "BR", "DE", "FR", "IT", "ES",
              "NL", "BE", "CH", "AT")
# Two countries no one travels between in a few hours (clone cases), by the item's region.
_FAR = {"EU": ("CN", "US", "JP", "BR", "AU"), "FAR": ("FR", "GB", "DE")}
_SHOPS = ("paris-saint-honore", "geneve-rhone", "online", "london-bond-street", "zurich-bahnhof")
_REVIEWS = ("Beautiful craftsmanship.", "Exactly as described, very happy.",
            "Lovely, but the delivery took a while.", "Worth every penny.",
            "Good quality, a little smaller than expected.")
_SERVICE = {"watch": ("adjustment", "The watch runs a few seconds fast each day."),
            "bag": ("repair", "A strap stitch has come loose."),
            "sneakers": ("cleaning", "Deep clean of the leather, please."),
            "jacket": ("repair", "A seam tape is peeling near the hood."),
            "boots": ("repair", "The sole is coming away at the toe.")}
_CONSOLATION_POINTS = 20


# --- what is planned, in memory ----------------------------------------------------------------


@dataclass(slots=True)
class _Tap:
    at: datetime
    verdict: str
    item: int | None  # index into _World.items
    country: str | None
    by_owner: bool = False
    ownership: int | None = None  # index into _World.ownerships: whose it was
    replay_of: _Tap | None = None
    counter: int | None = None
    journey: str | None = None
    reason: str | None = None
    facts: str | None = None
    id: int = 0


@dataclass(slots=True)
class _Item:
    brand: str
    product_id: int
    category: str
    warranty_months: int
    market: str
    released: bool | None
    created_at: datetime
    sold_at: datetime | None
    channel: str | None
    warranty_started_at: datetime | None = None
    warranty_ends_at: datetime | None = None
    stolen_at: datetime | None = None
    service_count: int = 0
    last_service_at: datetime | None = None
    taps: list[_Tap] = field(default_factory=list)
    id: int = 0
    serial: str = ""


@dataclass(slots=True)
class _Ownership:
    item: int
    owner: int  # index into owners
    ordinal: int
    began_by: str
    started_at: datetime
    home: str
    profile: str
    ended_at: datetime | None = None
    ended_by: str | None = None
    taps: list[_Tap] = field(default_factory=list)  # genuine taps while it lasted
    id: int = 0


@dataclass
class _World:
    start: datetime
    end: datetime
    rng: Random
    items: list[_Item] = field(default_factory=list)
    ownerships: list[_Ownership] = field(default_factory=list)
    owner_created: list[datetime] = field(default_factory=list)
    owner_brand: list[str] = field(default_factory=list)
    extra_taps: list[_Tap] = field(default_factory=list)  # failed, strangers, unowned items
    # (brand, reward id) -> the ruleset's holdout percentage.
    holdouts: dict[tuple[str, str], float] = field(default_factory=dict)


def generate_history(session: Session, settings: Mapping[str, Any],
                     params: HistoryParams) -> HistorySummary:
    """Write a history of ``params.owners`` owners over ``params.days`` days for the demo brands;
    return how many rows each table got. The caller commits.

    Raises:
        NotDemo: ``settings["DEMO"]`` is off and ``params.force`` is not set.
        HistoryExists: a history was generated in this database already (nothing is written).
        NotSeeded: a demo brand, product or live ruleset is missing (run ``demo seed``).
    """
    if not settings.get("DEMO") and not params.force:
        raise NotDemo(N_("The app is not in demo mode (AFTERTAP_DEMO): a made-up history is "
                         "only written to a demo database, unless forced."))
    if params.owners < 1 or params.days < 1:
        raise ValueError("owners and days must be positive")
    brands = _demo_brands(session, params)
    end = params.until or now()
    start = end - timedelta(days=params.days)
    world = _World(start=start, end=end, rng=Random(params.seed))
    world.holdouts = {(slug, rid): float(reward.holdout)
                      for slug, ruleset in params.rulesets.items()
                      for rid, reward in ruleset.doc.rewards.items()}
    _plan_items_and_owners(world, brands, params.owners)
    owner_ids = _reserve(session, Owner, params.owners)
    item_ids = _reserve(session, Item, len(world.items))
    for item, item_id in zip(world.items, item_ids, strict=True):
        item.id = item_id
    _plan_taps(world)
    _plan_strangers_and_failures(world)
    reviews, lift = _plan_reviews_and_lift(world, owner_ids)
    _plan_specials(world, lift)
    for item in world.items:
        item.taps.sort(key=lambda t: t.at)
    return _write(session, world, brands, owner_ids, reviews, params)


# --- brands ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Brand:
    id: int
    slug: str
    zone: zoneinfo.ZoneInfo
    products: Mapping[str, tuple[int, int]]  # category -> (product id, warranty months)
    version: str
    pools: Mapping[str, int]


def _demo_brands(session: Session, params: HistoryParams) -> list[_Brand]:
    slugs = [names[0] for names, _catalogue, _care in DEMO_BRANDS]
    found = []
    for slug in slugs:
        brand = session.scalar(select(Brand).where(Brand.slug == slug))
        if brand is None:
            raise NotSeeded(N_("The demo brand %(brand)s does not exist: run `demo seed` "
                               "first."), brand=slug)
        ruleset = params.rulesets.get(slug)
        if ruleset is None:
            raise NotSeeded(N_("The demo brand %(brand)s has no live ruleset: publish it "
                               "(`journeys publish`) first."), brand=slug)
        products = {p.category: (p.id, int(p.attributes.get("warranty_months", 0) or 0))
                    for p in session.scalars(select(Product).where(Product.brand_id == brand.id)
                                             .order_by(Product.gtin))}
        missing = set(PLANS[slug].products) - set(products)
        if missing:
            raise NotSeeded(N_("The demo brand %(brand)s lacks products: run `demo seed` "
                               "first."), brand=slug)
        exists = session.scalar(select(Item.id).join(Product).where(
            Product.brand_id == brand.id, Item.serial.startswith(SERIAL_PREFIX)).limit(1))
        if exists is not None:
            raise HistoryExists(N_("A history was already generated in this database: a "
                                   "second one would mix two made-up years. Start from a "
                                   "fresh demo database."))
        pools = sync_ruleset(session, ruleset.doc, slug)
        found.append(_Brand(brand.id, slug, zoneinfo.ZoneInfo(brand.timezone), products,
                            ruleset.version, pools))
    return found


# --- planning ------------------------------------------------------------------------------------


def _pick(rng: Random, weights: Mapping[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _sale_days(world: _World) -> tuple[list[datetime], list[float]]:
    """Each day of the span and its cumulative weight for sales: a December peak before
    Christmas, a busier November, a quiet January and summer."""
    days, weights = [], []
    day = world.start
    while day < world.end - timedelta(hours=6):
        w = 1.0
        if day.month == 12 and day.day <= 24:
            w = 2.6
        elif day.month == 11:
            w = 1.4
        elif day.month in (1, 7, 8):
            w = 0.8
        days.append(day)
        weights.append(w)
        day += timedelta(days=1)
    return days, list(accumulate(weights))


def _at_shop_hours(rng: Random, day: datetime) -> datetime:
    return day.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
        hours=rng.uniform(8, 19))


def _plan_items_and_owners(world: _World, brands: Sequence[_Brand], owners: int) -> None:
    """Plan every item sold (with or without an owner) and every ownership."""
    rng = world.rng
    days, cum = _sale_days(world)
    total = cum[-1] if cum else 0.0
    resale_buyers = min(round(owners * RESALE_SHARE), owners - 1) if owners > 1 else 0
    primary = owners - resale_buyers
    by_slug = {b.slug: b for b in brands}
    shares = {b.slug: PLANS[b.slug].share for b in brands}

    def sale_day() -> datetime:
        if not days:
            return world.start
        return days[min(bisect.bisect(cum, rng.random() * total), len(days) - 1)]

    def new_item(slug: str, sold: datetime | None, channel: _Channel | None,
                 released: bool | None) -> int:
        plan = PLANS[slug]
        category = _pick(rng, plan.products)
        product_id, months = by_slug[slug].products[category]
        market = _pick(rng, plan.markets)
        created = (sold or world.start) - timedelta(days=rng.uniform(10, 90))
        world.items.append(_Item(slug, product_id, category, months, market, released,
                                 created, sold, channel.name if channel else None))
        return len(world.items) - 1

    for owner in range(primary):
        slug = _pick(rng, shares)
        plan = PLANS[slug]
        world.owner_brand.append(slug)
        purchases = 1 + (rng.random() < 0.10) + (rng.random() < 0.02)
        first_claim: datetime | None = None
        for n in range(purchases):
            while True:
                unknown_sale = rng.random() < 0.05
                channel = None if unknown_sale else plan.channels[rng.choices(
                    range(len(plan.channels)), weights=[c.weight for c in plan.channels])[0]]
                sold = _at_shop_hours(rng, sale_day())
                if channel is not None and rng.random() < channel.never:
                    # Sold, never tapped: an item with no owner (the activation funnel's gap).
                    new_item(slug, sold, channel, True)
                    continue
                claim = _activation(rng, sold, channel)
                if claim < world.end or n > 0:
                    break
            if claim >= world.end:
                continue  # a later purchase not activated yet: the item stays unowned
            index = new_item(slug, None if unknown_sale else sold, channel,
                             None if unknown_sale else True)
            item = world.items[index]
            abroad = channel.abroad if channel else 0.03
            home = (rng.choice([c for c in _ELSEWHERE if c != item.market])
                    if rng.random() < abroad + 0.03 else item.market)
            world.ownerships.append(_Ownership(
                index, owner, 1, "confirmed" if unknown_sale else "first_tap", claim, home,
                _pick(rng, {"abandon": 30, "routine": 50, "occasional": 20})))
            first_claim = claim if first_claim is None else min(first_claim, claim)
            if item.released and item.warranty_months:
                item.warranty_started_at = claim
                item.warranty_ends_at = claim + timedelta(days=round(item.warranty_months
                                                                     * 30.44))
        world.owner_created.append(first_claim or world.start)
    # Items still in a boutique: they only authenticate (staff and visitors tap them).
    for _ in range(max(1, primary // 30)):
        slug = _pick(rng, shares)
        new_item(slug, None, None, False)
    _plan_resales(world, primary, resale_buyers)


def _activation(rng: Random, sold: datetime, channel: _Channel | None) -> datetime:
    """When the buyer first taps an item sold at ``sold`` through ``channel``."""
    if channel is None:
        return sold + timedelta(days=rng.expovariate(1 / 6))
    if channel.name == "department-store" and sold.month == 12 and sold.day <= 24:
        # A gift: opened on Christmas Eve or Day.
        eve = sold.replace(day=24, hour=18, minute=0)
        return eve + timedelta(hours=rng.uniform(0, 30))
    if rng.random() < channel.same_day:
        return sold + timedelta(minutes=rng.uniform(2, 240))
    return sold + timedelta(days=rng.expovariate(1 / channel.mean_days), hours=rng.uniform(1, 6))


def _plan_resales(world: _World, primary: int, buyers: int) -> None:
    rng = world.rng
    candidates = [i for i, o in enumerate(world.ownerships)
                  if o.started_at < world.end - timedelta(days=40)]
    rng.shuffle(candidates)
    for buyer in range(primary, primary + buyers):
        seller = world.ownerships[candidates.pop()] if candidates else None
        if seller is None:  # a span too short for resales: buy new instead
            index = rng.randrange(len(world.items))
            seller = next((o for o in world.ownerships if o.item == index), None)
        slug = world.items[seller.item].brand if seller else world.owner_brand[0]
        world.owner_brand.append(slug)
        if seller is None or seller.ended_at is not None:
            world.owner_created.append(world.start)
            continue
        low = seller.started_at + timedelta(days=30)
        high = world.end - timedelta(days=3)
        at = low + (high - low) * rng.random() if high > low else seller.started_at
        seller.ended_at, seller.ended_by = at, "transfer"
        item = world.items[seller.item]
        home = (item.market if rng.random() < 0.8
                else rng.choice([c for c in _ELSEWHERE if c != item.market]))
        world.ownerships.append(_Ownership(seller.item, buyer, 2, "transfer", at, home,
                                           _pick(rng, {"abandon": 25, "routine": 55,
                                                       "occasional": 20})))
        world.owner_created.append(at)


def _plan_taps(world: _World) -> None:
    """Each ownership's genuine taps by its owner: a burst, then a routine, maybe abandoned."""
    rng = world.rng
    for index, own in enumerate(world.ownerships):
        until = min(own.ended_at or world.end, world.end)
        first = own.started_at if own.ordinal == 1 else own.started_at + timedelta(
            hours=rng.uniform(0.2, 48))
        times = [(first, False)]  # (when, a routine tap that may be made abroad)
        for _ in range(rng.choices((1, 2, 3, 4, 5), weights=(10, 30, 35, 15, 10))[0]):
            times.append((first + timedelta(days=min(rng.expovariate(1 / 3), 14),
                                            hours=rng.uniform(0, 12)), False))
        monthly = {"abandon": 0.0, "routine": 0.75, "occasional": 0.25}[own.profile]
        month_start = first + timedelta(days=15)
        while monthly and month_start < until:
            december = (month_start + timedelta(days=15)).month == 12
            p = min(0.95, monthly * 1.5) if december else monthly
            if rng.random() < p:
                times.append((month_start + timedelta(days=rng.uniform(0, 30)), True))
            if december and rng.random() < 0.4:
                times.append((month_start + timedelta(days=rng.uniform(0, 30)), False))
            if rng.random() < 0.04:
                break  # lost interest
            month_start += timedelta(days=30)
        times.sort()
        for n, (at, routine) in enumerate(times):
            if at >= until:
                continue
            # A routine tap far from any other may be made on a trip abroad (grey-market
            # noise); never one hours from another, which would look like a cloned chip.
            alone = all(abs(times[k][0] - at) > timedelta(days=3)
                        for k in (n - 1, n + 1) if 0 <= k < len(times))
            country: str | None = (rng.choice(_ELSEWHERE)
                                   if routine and alone and rng.random() < 0.05 else own.home)
            if rng.random() < 0.02:
                country = None  # no country header on that request
            own.taps.append(_Tap(at, GENUINE, own.item, country, by_owner=True,
                                 ownership=index))


def _plan_strangers_and_failures(world: _World) -> None:
    """Friends tapping an owner's item; visitors tapping boutique stock; failed taps."""
    rng = world.rng
    for index, own in enumerate(world.ownerships):
        for tap in list(own.taps):
            if rng.random() < 0.05:
                at = tap.at + timedelta(hours=rng.uniform(0.1, 72))
                if at < min(own.ended_at or world.end, world.end):
                    # A friend taps it where the owner is.
                    own.taps.append(_Tap(at, GENUINE, own.item, tap.country, ownership=index))
        own.taps.sort(key=lambda t: t.at)
    for index, item in enumerate(world.items):
        if item.released is False:
            for _ in range(rng.randint(0, 3)):
                at = world.start + (world.end - world.start) * rng.random()
                world.extra_taps.append(_Tap(at, GENUINE, index, item.market))
    genuine = sum(len(o.taps) for o in world.ownerships)
    span = world.end - world.start
    for _ in range(max(1, genuine // 80)):
        index = rng.randrange(len(world.items))
        world.extra_taps.append(_Tap(world.start + span * rng.random(), INVALID, index,
                                     rng.choice(_ELSEWHERE),
                                     reason="signature does not verify"))
    for _ in range(max(1, genuine // 300)):
        world.extra_taps.append(_Tap(world.start + span * rng.random(), UNKNOWN_TAG, None,
                                     rng.choice(_ELSEWHERE), reason="unknown tag"))


@dataclass(frozen=True)
class _Exposure:
    """An owner's first exposure to the holdout reward (the lift's unit)."""

    ownership: int
    tap: _Tap
    cohort: str


def _review_window(own: _Ownership, tap: _Tap) -> bool:
    return tap.by_owner and timedelta(days=14) <= tap.at - own.started_at <= timedelta(days=120)


def _plan_reviews_and_lift(
    world: _World, owner_ids: Sequence[int],
) -> tuple[dict[int, datetime], dict[int, _Exposure]]:
    """Decide who reviews (by ownership: when) and give the holdout reward its designed effect.

    An owner's first review-window tap, over all their items, is their first exposure to the
    review reward. Returns the review times by ownership and, for the reward with a holdout,
    the first exposures by owner index.
    """
    rng = world.rng
    reviews: dict[int, datetime] = {}
    first: dict[int, _Exposure] = {}
    by_owner: dict[int, list[int]] = {}
    for index, own in enumerate(world.ownerships):
        by_owner.setdefault(own.owner, []).append(index)
    for owner, holdings in by_owner.items():
        exposed = min(((t.at, i, t) for i in holdings for t in world.ownerships[i].taps
                       if _review_window(world.ownerships[i], t)),
                      key=lambda e: (e[0], e[1]), default=None)
        if exposed is None:
            continue
        _at, index, tap = exposed
        item = world.items[world.ownerships[index].item]
        plan = PLANS[item.brand]
        cohort = "treatment"
        if plan.rewards.get(plan.review) == LIFT_REWARD:
            # The app's own split (by owner), so the cohort is the one a live tap would get.
            bucket = holdout_bucket(item.brand, LIFT_REWARD, owner_ids[owner], item.id)
            cohort = "holdout" if bucket < _holdout_percent(world, item.brand) else "treatment"
            first[owner] = _Exposure(index, tap, cohort)
        if rng.random() < (0.45 if cohort == "treatment" else 0.20):
            at = tap.at + timedelta(minutes=rng.uniform(2, 60 * 48))
            if at < world.end:
                reviews[index] = at
    for owner, exposure in first.items():
        _give_designed_outcome(world, [world.ownerships[i] for i in by_owner[owner]], exposure)
    return reviews, first


def _holdout_percent(world: _World, brand: str) -> float:
    return world.holdouts.get((brand, LIFT_REWARD), 0.0)


def _give_designed_outcome(world: _World, holdings: Sequence[_Ownership],
                           exposure: _Exposure) -> None:
    """Make the owner's items have a genuine tap in the 30 days after the exposure with the
    cohort's designed chance, and none otherwise."""
    rng = world.rng
    start = exposure.tap.at
    stop = min(start + LIFT_WINDOW, world.end)
    succeed = rng.random() < LIFT_DESIGN[exposure.cohort]
    inside = [(own, t) for own in holdings for t in own.taps if start < t.at <= stop]
    if succeed and not inside:
        own = world.ownerships[exposure.ownership]
        at = start + timedelta(days=rng.uniform(1, 29))
        if at < min(stop, own.ended_at or world.end):
            own.taps.append(_Tap(at, GENUINE, own.item, exposure.tap.country, by_owner=True,
                                 ownership=exposure.ownership))
            own.taps.sort(key=lambda t: t.at)
    elif not succeed:
        for own in holdings:
            own.taps = [t for t in own.taps if not start < t.at <= stop]


def _plan_specials(world: _World, lift: Mapping[int, _Exposure]) -> None:
    """Add replayed links; grey-market owners exist already; add clone cases and stolen items,
    at least one each, on ownerships the lift does not measure (its designed effect stays
    exact)."""
    rng = world.rng
    for own in world.ownerships:
        for tap in own.taps:
            if tap.by_owner and rng.random() < 0.01:
                # The owner's link opened again (shared, or a browser's history): a replay.
                at = tap.at + timedelta(minutes=rng.uniform(1, 60 * 72))
                if at < world.end:
                    world.extra_taps.append(_Tap(at, REPLAYED, own.item, tap.country,
                                                 replay_of=tap, reason="counter already seen"))
    measured = {i for i, o in enumerate(world.ownerships) if o.owner in lift}
    pool = [i for i, o in enumerate(world.ownerships)
            if i not in measured and o.ended_at is None and len(o.taps) >= 2
            and o.taps[0].country is not None]
    rng.shuffle(pool)
    clones = max(1, len(world.ownerships) // 500)
    stolen = max(1, len(world.ownerships) // 300)
    for index in pool[:clones]:
        own = world.ownerships[index]
        seen = next(t for t in own.taps if t.country is not None)
        assert seen.country is not None
        region = "EU" if seen.country in PLANS["maison-aurelia"].markets and seen.country not in (
            "US", "JP", "CN") else "FAR"
        far = rng.choice(_FAR[region])
        needed = travel_time(seen.country, far) or timedelta(hours=10)
        clone = _Tap(seen.at + needed * rng.uniform(0.15, 0.5), GENUINE, own.item, far,
                     ownership=index)
        replay = _Tap(seen.at + timedelta(hours=rng.uniform(1, 72)), REPLAYED, own.item,
                      rng.choice(_FAR[region]), replay_of=seen, reason="counter already seen")
        own.taps.append(clone)
        own.taps.sort(key=lambda t: t.at)
        world.extra_taps.append(replay)
    for index in pool[clones:clones + stolen]:
        own = world.ownerships[index]
        item = world.items[own.item]
        at = own.taps[0].at + (min(world.end, own.ended_at or world.end)
                               - own.taps[0].at) * rng.uniform(0.3, 0.7)
        item.stolen_at = at
        own.taps = [t for t in own.taps if t.at < at]
        for _ in range(rng.randint(1, 3)):
            seen_at = at + timedelta(days=rng.uniform(0.5, 40))
            if seen_at < world.end:
                own.taps.append(_Tap(seen_at, GENUINE, own.item, rng.choice(_ELSEWHERE),
                                     ownership=index, facts='{"owner.is_current":false}'))
        own.taps.sort(key=lambda t: t.at)


# --- writing ---------------------------------------------------------------------------------


def _reserve(session: Session, model: type[Base], n: int) -> list[int]:
    """Reserve ``n`` new ids of ``table``'s ``id`` column, in increasing order.

    PostgreSQL hands them out from the sequence (safe beside concurrent writers); on SQLite the
    session's transaction holds the write lock (BEGIN IMMEDIATE), so ids above the highest are
    free until it commits.
    """
    if n <= 0:
        return []
    table = _table(model)
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        rows = conn.execute(text(
            "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"
        ), {"t": table.name, "n": n})
        return sorted(r[0] for r in rows)
    top = conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
    return list(range(top + 1, top + 1 + n))


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _bulk(session: Session, model: type[Base], columns: Sequence[str],
          rows: Sequence[tuple[Any, ...]]) -> int:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table``; return how many.

    PostgreSQL: COPY (binary-free text COPY through psycopg, a few times faster than INSERT);
    SQLite: multi-row executemany, ``BATCH`` rows at a time.
    """
    if not rows:
        return 0
    table = _table(model)
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None
        names = ", ".join(f'"{c}"' for c in columns)
        sql = f'COPY "{table.name}" ({names}) FROM STDIN'
        with raw.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
        return len(rows)
    # SQLite: each column's own bind processing (UTCDateTime's UTC text, dates, booleans), then
    # the driver's executemany; SQLAlchemy's per-row dictionaries would double the time.
    dialect = conn.dialect
    processors = [table.c[c].type.dialect_impl(dialect).bind_processor(dialect)
                  for c in columns]
    compiled = table.insert().compile(dialect=dialect, column_keys=list(columns))
    # The statement lists its parameters in the table's column order.
    order = [columns.index(name) for name in compiled.positiontup or ()]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        for i in range(0, len(rows), BATCH):
            cursor.executemany(str(compiled), [
                tuple(row[k] if processors[k] is None or row[k] is None
                      else processors[k](row[k]) for k in order)  # type: ignore[misc]
                for row in rows[i:i + BATCH]])
    finally:
        cursor.close()
    return len(rows)


def _month_number(at: datetime) -> int:
    return at.year * 12 + at.month - 1


def _streak(months: Sequence[int]) -> int:
    if not months:
        return 0
    streak, last = 1, months[-1]
    for m in reversed(months[:-1]):
        if m == last:
            continue
        if m != last - 1:
            break
        streak, last = streak + 1, m
    return streak


def _write(session: Session, world: _World, brands: Sequence[_Brand], owner_ids: Sequence[int],
           reviews: Mapping[int, datetime], params: HistoryParams) -> HistorySummary:
    """Reserve ids, settle the counters, journeys, rewards, services and messages, and write
    every row in bulk; return the counts."""
    rng = world.rng
    by_slug = {b.slug: b for b in brands}
    counts: dict[str, int] = {}
    end = world.end

    # Items and tags.
    for own in world.ownerships:
        world.items[own.item].taps.extend(own.taps)
    for tap in world.extra_taps:
        if tap.item is not None:
            world.items[tap.item].taps.append(tap)
    unknown = [t for t in world.extra_taps if t.item is None]
    tag_ids = _reserve(session, Tag, len(world.items))
    tag_rows = []
    for n, (item, tag_id) in enumerate(zip(world.items, tag_ids, strict=True)):
        item.taps.sort(key=lambda t: (t.at, t.verdict))
        counter = rng.randint(1, 5)
        genuine, last_at = 0, None
        for tap in item.taps:
            if tap.verdict == GENUINE:
                counter += 1 if rng.random() < 0.97 else 2
                tap.counter = counter
                genuine, last_at = genuine + 1, tap.at
        for tap in item.taps:
            if tap.verdict == REPLAYED and tap.replay_of is not None:
                tap.counter = tap.replay_of.counter
            elif tap.verdict == INVALID:
                tap.counter = rng.randint(1, counter + 1)
        uid = f"04{rng.getrandbits(48):012X}"
        tag_rows.append((tag_id, uid, item.id, params.key_version,
                         counter if genuine else None, genuine, last_at, counter,
                         item.created_at))
        item.serial = f"{SERIAL_PREFIX}{n + 1:07d}"
    # Owners.
    emails: dict[int, tuple[str | None, bool]] = {}
    owner_rows = []
    for index, owner_id in enumerate(owner_ids):
        has_email = rng.random() < 0.55
        email = f"owner{owner_id}@{EMAIL_DOMAIN}" if has_email else None
        opt_in = has_email and rng.random() < 0.6
        emails[index] = (email, opt_in)
        created = world.owner_created[index]
        owner_rows.append((owner_id, secrets.token_urlsafe(32), email,
                           created + timedelta(minutes=5) if has_email else None, opt_in,
                           created))
    # Ownerships and journeys.
    ownership_ids = _reserve(session, Ownership, len(world.ownerships))
    ownership_rows = []
    for own, own_id in zip(world.ownerships, ownership_ids, strict=True):
        own.id = own_id
        months = [_month_number(t.at) for t in own.taps if t.by_owner]
        ownership_rows.append((
            own_id, world.items[own.item].id, owner_ids[own.owner], own.ordinal, own.began_by,
            own.started_at, own.ended_at, own.ended_by, len(months),
            _streak(months), months[-1] if months else None,
            own.started_at + timedelta(seconds=rng.uniform(5, 120))))
    _assign_journeys(world, by_slug, reviews)
    # Taps.
    all_taps = sorted((t for item in world.items for t in item.taps),
                      key=lambda t: (t.at, t.verdict, t.counter or 0))
    all_taps = sorted(all_taps + unknown, key=lambda t: (t.at, t.verdict, t.counter or 0))
    tap_ids = _reserve(session, TapEvent, len(all_taps))
    tap_rows = []
    failed_hours: dict[tuple[datetime, str], int] = {}
    for tap, tap_id in zip(all_taps, tap_ids, strict=True):
        tap.id = tap_id
        known = world.items[tap.item] if tap.item is not None else None
        version = by_slug[known.brand].version if known is not None else None
        tap_rows.append((
            tap_id, tap.at, tap.verdict, tag_ids[tap.item] if tap.item is not None else None,
            known.id if known else None, tap.counter,
            "lrp" if known is not None and known.id % 20 == 0 else "aes", tap.country,
            tap.reason, version if tap.journey else None, tap.journey, tap.facts))
        if tap.verdict != GENUINE:
            hour = tap.at.replace(minute=0, second=0, microsecond=0)
            failed_hours[(hour, tap.verdict)] = failed_hours.get((hour, tap.verdict), 0) + 1
    reward_rows = _rewards(session, world, by_slug, params.rulesets, owner_ids, reviews,
                           all_taps)
    service_rows, event_rows = _service(session, world)
    messages = _messages(session, world, emails, owner_ids)

    counts["items"] = _bulk(session, Item, (
        "id", "product_id", "serial", "market", "released", "created_at", "sold_at", "channel",
        "warranty_started_at", "warranty_ends_at", "stolen_at", "service_count",
        "last_service_at"),
        [(i.id, i.product_id, i.serial, i.market, i.released,
          i.created_at, i.sold_at, i.channel, i.warranty_started_at, i.warranty_ends_at,
          i.stolen_at, i.service_count, i.last_service_at) for i in world.items])
    counts["tags"] = _bulk(session, Tag, (
        "id", "uid", "item_id", "key_version", "last_counter", "genuine_taps",
        "last_genuine_at", "sim_counter", "created_at"), tag_rows)
    counts["owners"] = _bulk(session, Owner, (
        "id", "public_id", "email", "email_verified_at", "email_opt_in", "created_at"),
        owner_rows)
    counts["ownerships"] = _bulk(session, Ownership, (
        "id", "item_id", "owner_id", "ordinal", "began_by", "started_at", "ended_at",
        "ended_by", "owner_taps", "month_streak", "last_tap_month", "confirmed_at"),
        ownership_rows)
    counts["tap_events"] = _bulk(session, TapEvent, (
        "id", "at", "verdict", "tag_id", "item_id", "counter", "mode", "country", "reason",
        "ruleset_version", "journey", "facts"), tap_rows)
    _add_failed_hours(session, failed_hours)
    counts["failed_tap_hours"] = len(failed_hours)
    for name, (model, columns, rows) in reward_rows.items():
        counts[name] = _bulk(session, model, columns, rows)
    counts["service_requests"] = _bulk(session, ServiceRequest, (
        "id", "item_id", "ownership_id", "created_at", "kind", "message", "under_warranty",
        "status"), service_rows)
    counts["service_events"] = _bulk(session, ServiceEvent, (
        "id", "item_id", "at", "kind", "note", "request_id", "location"), event_rows)
    counts["messages"] = _bulk(session, Message, (
        "id", "brand", "schedule_id", "ownership_id", "owner_id", "slot", "channel", "template",
        "key", "state", "reason", "attempts", "created_at", "next_attempt_at", "counted_at",
        "give_up_at", "sent_at"), messages)
    _count_given(session, reward_rows)
    return HistorySummary(counts=counts, start=world.start, end=end)


def _assign_journeys(world: _World, brands: Mapping[str, _Brand],
                     reviews: Mapping[int, datetime]) -> None:
    """Record on each tap the journey the brand's ruleset would have chosen (first match)."""
    for index, own in enumerate(world.ownerships):
        item = world.items[own.item]
        plan, zone = PLANS[item.brand], brands[item.brand].zone
        reviewed = reviews.get(index)
        first_done = False
        last_owner_tap: datetime | None = None
        for tap in own.taps:
            if not tap.by_owner:
                if item.stolen_at is not None and tap.at >= item.stolen_at:
                    tap.journey = plan.stolen
                elif tap.country is not None and tap.country != item.market:
                    tap.journey = plan.stranger_abroad
                else:
                    tap.journey = plan.stranger
                continue
            if not first_done:
                first_done = True
                if own.ordinal == 1:
                    tap.journey = plan.claim if item.released else "confirm-unknown-sale"
                elif plan.resale_first:
                    tap.journey = plan.resale_first
            if tap.journey is None:
                if _review_window(own, tap) and (reviewed is None or tap.at < reviewed):
                    tap.journey = plan.review
                elif (plan.winback and last_owner_tap is not None
                      and tap.at - last_owner_tap >= timedelta(days=180)):
                    tap.journey = plan.winback
                elif tap.at.astimezone(zone).month == 12:
                    tap.journey = plan.december
                elif item.category == plan.film[0]:
                    tap.journey = plan.film[1]
                else:
                    tap.journey = plan.care
            last_owner_tap = tap.at
    for tap in world.extra_taps:
        if tap.item is None:
            continue  # a chip no brand knows: no ruleset decided it
        tap.journey = "visitor" if tap.verdict == GENUINE else "not-verified"


_Rows = dict[str, tuple[type[Base], tuple[str, ...], list[tuple[Any, ...]]]]


def _rewards(session: Session, world: _World, brands: Mapping[str, _Brand],
             rulesets: Mapping[str, Ruleset], owner_ids: Sequence[int],
             reviews: Mapping[int, datetime], taps: Sequence[_Tap]) -> _Rows:
    """Exposures, grants (and their reveals and redemptions), reviews and points of the rewards
    the journeys offered, in tap order, within each reward's limits."""
    rng = world.rng
    exposures: list[tuple[Any, ...]] = []
    grants: list[list[Any]] = []
    earns: list[tuple[int, str, datetime, int, int]] = []  # owner, brand, at, points, grant
    used: dict[tuple[str, str, int], datetime] = {}
    won: dict[tuple[int, str], int] = {}
    review_rows = []
    for tap in taps:
        if tap.ownership is None or not tap.by_owner or tap.journey is None:
            continue
        own = world.ownerships[tap.ownership]
        item = world.items[own.item]
        reward_id = PLANS[item.brand].rewards.get(tap.journey)
        if reward_id is None:
            continue
        reward = rulesets[item.brand].doc.rewards[reward_id]
        pool = brands[item.brand].pools[reward_id]
        owner_id = owner_ids[own.owner]
        cohort = ("holdout" if reward.holdout and holdout_bucket(
            item.brand, reward_id, owner_id, item.id) < float(reward.holdout) else "treatment")
        exposures.append((pool, tap.id, owner_id, item.id, cohort, tap.at))
        if cohort == "holdout":
            continue
        key = (item.brand, reward_id, item.id if reward.limit.per_item else owner_id)
        if key in used and (reward.limit.per is None
                            or tap.at - used[key] < timedelta(days=reward.limit.per)):
            continue  # a limit says no: exposed, nothing given
        used[key] = tap.at
        grant: list[Any] = [pool, tap.id, owner_id, item.id, tap.journey, secrets.token_urlsafe(32),
                 tap.at, None, "pending", None, 0, None, None, None, None]
        grants.append(grant)
        if reward.mechanic == "instant":
            revealed: datetime | None = tap.at
        elif reward.requires:
            reviewed = reviews.get(tap.ownership)
            revealed = (reviewed + timedelta(minutes=rng.uniform(1, 15))
                        if reviewed is not None else None)
        else:
            revealed = (tap.at + timedelta(hours=rng.uniform(0, 48))
                        if rng.random() < 0.6 else None)
        if revealed is None or revealed >= world.end:
            continue
        grant[7] = revealed
        _settle(rng, grant, reward, won, world.end)
        if grant[10]:
            earns.append((owner_id, item.brand, revealed, grant[10], len(grants) - 1))
    for index, at in sorted(reviews.items()):
        own = world.ownerships[index]
        item = world.items[own.item]
        review_rows.append((owner_ids[own.owner], item.product_id, item.id,
                            rng.choices((5, 4, 3, 2, 1), weights=(50, 30, 12, 5, 3))[0],
                            rng.choice(_REVIEWS), at))
    grant_ids = _reserve(session, RewardGrant, len(grants))
    entries, accounts = _ledger(session, earns, grant_ids)
    return {
        "reward_exposures": (RewardExposure, (
            "id", "pool_id", "tap_event_id", "owner_id", "item_id", "cohort", "at"),
            [(i, *row) for i, row in zip(_reserve(session, RewardExposure,
                                                  len(exposures)), exposures, strict=True)]),
        "reward_grants": (RewardGrant, (
            "id", "pool_id", "tap_event_id", "owner_id", "item_id", "journey", "token",
            "created_at", "revealed_at", "outcome", "prize_id", "points", "code", "expires_at",
            "redeemed_at", "redeemed_shop"),
            [(i, *row) for i, row in zip(grant_ids, grants, strict=True)]),
        "loyalty_entries": (LoyaltyEntry, (
            "id", "owner_id", "at", "kind", "points", "balance_after", "cause_type", "cause_id",
            "brand"), entries),
        "loyalty_accounts": (LoyaltyAccount, (
            "owner_id", "brand", "balance", "updated_at"), accounts),
        "product_reviews": (ProductReview, (
            "id", "owner_id", "product_id", "item_id", "rating", "text", "created_at"),
            [(i, *row) for i, row in zip(_reserve(session, ProductReview,
                                                  len(review_rows)), review_rows, strict=True)]),
    }


def _settle(rng: Random, grant: list[Any], reward: Any, won: dict[tuple[int, str], int],
            end: datetime) -> None:
    """Fill a revealed grant's outcome: its points, or a prize in stock (a code, maybe
    redeemed), or the consolation, or nothing."""
    pool, revealed = grant[0], grant[7]
    if reward.points:
        grant[8], grant[10] = "points", reward.points
        return
    plays = sum(n for (p, _prize), n in won.items() if p == pool)
    prizes = [p for p in reward.prizes if p.code != "list"  # no imported codes in a demo
              and (p.stock is None or won.get((pool, p.id), 0) < p.stock)
              and (p.min_plays is None or plays >= p.min_plays)]
    # The consolation is what a draw gives when a prize's weight is not drawn.
    total = sum(p.weight for p in reward.prizes)
    roll = rng.random() * total if total else 0.0
    picked = None
    for prize in reward.prizes:
        roll -= prize.weight
        if roll < 0:
            picked = prize if prize in prizes else None
            break
    if picked is None and reward.consolation is not None:
        grant[8], grant[9] = "consolation", reward.consolation.id
        grant[10] = reward.consolation.points or 0
        won[(pool, reward.consolation.id)] = won.get((pool, reward.consolation.id), 0) + 1
        return
    if picked is None:
        grant[8] = "nothing"
        return
    won[(pool, picked.id)] = won.get((pool, picked.id), 0) + 1
    grant[8], grant[9], grant[10] = "prize", picked.id, picked.points or 0
    if picked.code:
        body = "".join(secrets.choice("0123456789ABCDEFGHJKMNPQRSTVWXYZ") for _ in range(12))
        grant[11] = f"AT-{body[:4]}-{body[4:8]}-{body[8:]}"
    expires = revealed + timedelta(days=reward.expires) if reward.expires else None
    grant[12] = expires
    if grant[11] and rng.random() < 0.35:
        last = min(expires or end, end)
        at = revealed + (last - revealed) * rng.random()
        grant[13], grant[14] = at, rng.choice(_SHOPS)


def _ledger(session: Session, earns: Sequence[tuple[int, str, datetime, int, int]],
            grant_ids: Sequence[int]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Ledger lines for the points earned, in time order per account, and the accounts."""
    ordered = sorted(earns, key=lambda e: (e[2], e[0], e[1]))
    ids = _reserve(session, LoyaltyEntry, len(ordered))
    balances: dict[tuple[int, str], tuple[int, datetime]] = {}
    entries = []
    for entry_id, (owner_id, brand, at, points, grant) in zip(ids, ordered, strict=True):
        balance = balances.get((owner_id, brand), (0, at))[0] + points
        balances[(owner_id, brand)] = (balance, at)
        entries.append((entry_id, owner_id, at, "earn", points, balance, "reward",
                        str(grant_ids[grant]), brand))
    accounts = [(owner_id, brand, balance, at)
                for (owner_id, brand), (balance, at) in sorted(balances.items())]
    return entries, accounts


def _service(session: Session, world: _World) -> tuple[list[tuple[Any, ...]],
                                                     list[tuple[Any, ...]]]:
    """Service requests of some owners (after two months of use) and the work the brand did."""
    rng = world.rng
    requests: list[tuple[Any, ...]] = []
    done: list[tuple[int, datetime, str, int]] = []  # request index, at, kind, item index
    for own in world.ownerships:
        item = world.items[own.item]
        if item.category not in _SERVICE or rng.random() >= 0.05:
            continue
        until = min(own.ended_at or world.end, world.end)
        low = own.started_at + timedelta(days=60)
        if until <= low:
            continue
        at = low + (until - low) * rng.random()
        kind, message = _SERVICE[item.category]
        status = rng.choices(("done", "open", "cancelled"), weights=(70, 25, 5))[0]
        requests.append((item.id, own.id, at, kind, message,
                         item.warranty_ends_at is not None and at < item.warranty_ends_at,
                         status))
        if status == "done":
            finished = at + timedelta(days=rng.uniform(10, 40))
            if finished < world.end:
                done.append((len(requests) - 1, finished, kind, own.item))
    request_ids = _reserve(session, ServiceRequest, len(requests))
    events = []
    for event_id, (request, at, kind, item_index) in zip(
            _reserve(session, ServiceEvent, len(done)), done, strict=True):
        item = world.items[item_index]
        item.service_count += 1
        item.last_service_at = max(item.last_service_at or at, at)
        location = "Le Locle workshop" if item.brand == "maison-aurelia" else "Sion workshop"
        events.append((event_id, item.id, at, kind, None, request_ids[request], location))
    return ([(i, *row) for i, row in zip(request_ids, requests, strict=True)], events)


def _messages(session: Session, world: _World, emails: Mapping[int, tuple[str | None, bool]],
              owner_ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """The demo schedules' messages, already delivered (or failed, or suppressed): the serum
    refill reminder on day 77 and the win-back of owners dormant for 180 days."""
    rng = world.rng
    planned: list[tuple[str, int, datetime, str, str, bool]] = []
    for own in world.ownerships:
        item = world.items[own.item]
        if item.brand != "maison-aurelia":
            continue
        until = min(own.ended_at or world.end, world.end)
        email, opt_in = emails[own.owner]
        day77 = (own.started_at + timedelta(days=77)).replace(hour=8, minute=0, second=0,
                                                              microsecond=0)
        if item.category == "serum" and email and opt_in and day77 < until:
            planned.append(("refill-reminder", own.id, day77, "email", "refill_email", True))
        taps = [t.at for t in own.taps if t.by_owner]
        for last, following in zip(taps, [*taps[1:], until], strict=False):
            dormant = last + timedelta(days=180)
            if dormant < following:
                monday = (dormant + timedelta(days=(7 - dormant.weekday()) % 7 or 7)).replace(
                    hour=9, minute=0, second=0, microsecond=0)
                if monday < until:
                    for channel in ("email", "crm_webhook"):
                        planned.append(("dormant-win-back", own.id, monday, channel,
                                        "win_back_email", channel != "email" or opt_in))
                break
    ids = _reserve(session, Message, len(planned))
    rows = []
    owner_of = {o.id: owner_ids[o.owner] for o in world.ownerships}
    for message_id, (schedule, own_id, slot, channel, template, consent) in zip(
            ids, planned, strict=True):
        roll = rng.random()
        state, reason = ("sent", None) if roll < 0.92 else (
            ("failed", "550 mailbox unavailable") if roll < 0.95 else ("suppressed", "cap"))
        if not consent:
            state, reason = "suppressed", "no_consent"
        sent = slot + timedelta(minutes=rng.uniform(0.1, 20)) if state == "sent" else None
        rows.append((message_id, "maison-aurelia", schedule, own_id, owner_of[own_id], slot,
                     channel, template, f"<history.{message_id}@{EMAIL_DOMAIN}>", state, reason,
                     0 if state == "suppressed" else 1, slot, slot,
                     slot if state in ("sent", "failed") else None, slot + timedelta(hours=24),
                     sent))
    return rows


def _add_failed_hours(session: Session, hours: Mapping[tuple[datetime, str], int]) -> None:
    """Add the failed taps to the hourly counts (which other taps may share)."""
    table = _table(FailedTapHour)
    rows = [{"hour": h, "verdict": v, "count": n} for (h, v), n in sorted(hours.items())]
    insert = dialect_insert(session)
    for i in range(0, len(rows), BATCH):
        statement = insert(table).values(rows[i:i + BATCH])
        session.execute(statement.on_conflict_do_update(
            index_elements=[table.c.hour, table.c.verdict],
            set_={"count": table.c.count + statement.excluded.count}))


def _count_given(session: Session, rows: _Rows) -> None:
    """Count the grants into their pools and the prizes won into their prizes' ``given``."""
    grants: dict[int, int] = {}
    prizes: dict[tuple[int, str], int] = {}
    for row in rows["reward_grants"][2]:
        grants[row[1]] = grants.get(row[1], 0) + 1
        if row[10]:
            prizes[(row[1], row[10])] = prizes.get((row[1], row[10]), 0) + 1
    for pool, n in sorted(grants.items()):
        session.execute(update(RewardPool).where(RewardPool.id == pool)
                        .values(given=RewardPool.given + n))
    for (pool, prize), n in sorted(prizes.items()):
        session.execute(update(RewardPrize).where(RewardPrize.pool_id == pool,
                                                  RewardPrize.prize_id == prize)
                        .values(given=RewardPrize.given + n))
