"""Dashboard panels read the cube: cells inserted directly, each panel's numbers, filters, grain
and what it says is exact; bad filters are refused before anything is read."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.catalog.service import get_or_create_brand, get_or_create_product
from app.insights import metrics as m
from app.insights.models import CubeCell, RefreshMark
from app.insights.panels import (
    MAX_DAYS,
    PANELS,
    BadFilter,
    Filters,
    activation,
    all_panels,
    engagement,
    failed_items,
    funnel,
    geography,
    has_item,
    integrity,
    item_taps,
    journeys,
    lift,
    messages,
    parse_filters,
    period_start,
    products,
    rewards,
    routine,
)
from app.rewards.models import RewardPool, RewardPrize
from tests.factories import gtin, tagged_item

D1 = date(2026, 11, 2)  # a Monday
TODAY = date(2026, 11, 30)


@pytest.fixture
def shop(db):
    """Brand A with two watches and a bag, brand B with one product; committed."""
    a = get_or_create_brand(db, "brand-a", "Brand A")
    b = get_or_create_brand(db, "brand-b", "Brand B")
    w1 = get_or_create_product(db, a, gtin(), name="Watch One", category="watch")
    w2 = get_or_create_product(db, a, gtin(), name="Watch Two", category="watch")
    bag = get_or_create_product(db, a, gtin(), name="Bag", category="bag")
    other = get_or_create_product(db, b, gtin(), name="Other", category="watch")
    db.commit()
    return {"a": a.id, "b": b.id, "w1": w1.id, "w2": w2.id, "bag": bag.id, "other": other.id}


def put(db, brand_id, metric, day, value, *, product=0, market="", country="", journey="",
        bucket=""):
    db.add(CubeCell(brand_id=brand_id, metric=metric, day=day, product_id=product, market=market,
                    country=country, journey=journey, bucket=bucket, value=value))


def flt(brand_id, **kw):
    return Filters(**{"brand_id": brand_id, "start": D1, "end": D1 + timedelta(days=13),
                      "grain": "day", **kw})


def col(panel_or_table, key):
    table = panel_or_table.tables[0] if hasattr(panel_or_table, "tables") else panel_or_table
    index = [c.key for c in table.columns].index(key)
    return [row[index] for row in table.rows]


def notes(panel):
    return " ".join(message % params if params else message for message, params in panel.notes)


# --- engagement --------------------------------------------------------------------------------


def _engagement_cells(db, s):
    a = s["a"]
    for offset, (genuine, failed) in enumerate([(5, 1), (7, 0), (3, 2)]):
        day = D1 + timedelta(days=offset)
        put(db, a, m.TAPS, day, genuine, product=s["w1"], market="FR", country="FR",
            bucket="genuine")
        put(db, a, m.TAPS, day, failed, product=s["w1"], market="FR", country="US",
            bucket="invalid")
        put(db, a, m.TAPS, day, 1, product=s["bag"], market="US", country="US",
            bucket="genuine")
        put(db, a, m.ITEMS_DAY, day, 4, product=0)
        put(db, a, m.ITEMS_DAY, day, 3, product=s["w1"])
        put(db, a, m.ITEMS_DAY, day, 1, product=s["bag"])
        put(db, a, m.OWNERS_DAY, day, 2, product=0)
        put(db, a, m.OWNERS_DAY, day, 2, product=s["w1"])
        put(db, a, m.OWNERS_DAY, day, 1, product=s["bag"])
    put(db, a, m.ITEMS_WEEK, D1, 6, product=0)
    put(db, a, m.OWNERS_WEEK, D1, 3, product=0)
    # Outside the range, and another brand's: never read.
    put(db, a, m.TAPS, D1 - timedelta(days=1), 100, product=s["w1"], bucket="genuine")
    put(db, s["b"], m.TAPS, D1, 1000, product=s["other"], bucket="genuine")
    put(db, s["b"], m.ITEMS_DAY, D1, 1000, product=0)
    db.commit()


def test_engagement_by_day_reads_the_every_product_row_for_distinct_counts(db, shop):
    _engagement_cells(db, shop)
    panel = engagement(db, flt(shop["a"]))
    assert col(panel, "period") == [D1, D1 + timedelta(days=1), D1 + timedelta(days=2)]
    assert col(panel, "days") == [1, 1, 1]
    assert col(panel, "genuine_taps") == [6, 8, 4]
    assert col(panel, "failed_taps") == [1, 0, 2]
    # The product-0 row, not 3 + 1: a person tapping a watch and the bag is one owner.
    assert col(panel, "unique_items") == [4, 4, 4]
    assert col(panel, "unique_owners") == [2, 2, 2]
    assert "exact per day" in notes(panel)
    assert panel.figures[0][1] == 18


def test_engagement_by_week_sums_taps_and_reads_the_week_cells(db, shop):
    _engagement_cells(db, shop)
    panel = engagement(db, flt(shop["a"], grain="week"))
    assert panel.rows == ((D1, 18, 3, 6, 3, 7),)
    assert panel.columns[0].label == "Week starting"
    # From Wednesday: the week's taps on its last five days, its owners over the whole week.
    partial = engagement(db, flt(shop["a"], grain="week", start=D1 + timedelta(days=2)))
    assert partial.rows == ((D1, 4, 2, 6, 3, 5),)
    assert "days counted only" in notes(partial)
    # The partial week stays in the table and out of the chart (its dip is not news).
    assert panel.tables[0].values() != [] and partial.tables[0].values() == []


def test_one_product_is_exact_and_several_are_an_upper_bound(db, shop):
    _engagement_cells(db, shop)
    one = engagement(db, flt(shop["a"], product_ids=(shop["w1"],)))
    assert col(one, "genuine_taps") == [5, 7, 3]
    assert col(one, "unique_owners") == [2, 2, 2]
    assert "exact" in notes(one)
    both = engagement(db, flt(shop["a"], product_ids=(shop["w1"], shop["bag"])))
    assert col(both, "unique_owners") == [3, 3, 3]
    assert "upper bound" in notes(both)


def test_a_filter_a_metric_lacks_is_said_not_silently_dropped(db, shop):
    _engagement_cells(db, shop)
    panel = engagement(db, flt(shop["a"], market="FR", country="US"))
    # French watches tapped in the US: only the failed taps.
    assert col(panel, "genuine_taps") == [0, 0, 0]
    assert col(panel, "failed_taps") == [1, 0, 2]
    text = notes(panel)
    # The distinct counts have no market or country: the page says they are not split.
    panel = engagement(db, flt(shop["a"], market="FR"))
    assert col(panel, "genuine_taps") == [5, 7, 3]
    assert "Not split by market" in notes(panel) and "Not split by country" in text


# --- activation --------------------------------------------------------------------------------


def test_activation_share_median_p90_and_distribution(db, shop):
    a = shop["a"]
    put(db, a, m.SOLD, D1, 10, product=shop["w1"], market="FR", bucket="boutique")
    put(db, a, m.SOLD, D1, 5, product=shop["w1"], market="FR", bucket="online")
    # Boutique: 6 of 10 tapped after 0, 0, 1, 3, 3, 40 days.
    for days, n in ((0, 2), (1, 1), (3, 2), (40, 1)):
        put(db, a, m.ACTIVATION_LAG, D1, n, product=shop["w1"], market="FR",
            bucket=f"boutique|{days}")
    put(db, a, m.ACTIVATION_LAG, D1, 1, product=shop["w1"], market="FR", bucket="online|730")
    put(db, shop["b"], m.SOLD, D1, 99, product=shop["other"], bucket="boutique")
    db.commit()
    panel = activation(db, flt(a))
    rows = {row[0]: row for row in panel.rows}
    assert rows["boutique"] == ("boutique", 10, 6, 0.6, 1, 40)
    assert rows["online"] == ("online", 5, 1, 0.2, 730, 730)
    assert rows["All channels"][1:4] == (15, 7, 7 / 15)
    assert rows["All channels"][4] == 3  # nearest rank: the 4th of 7 is 3 days
    lag = dict((label, n) for label, n, _share in panel.tables[1].rows)
    assert lag == {"0": 2, "1": 1, "2-3": 2, "4-7": 0, "8-14": 0, "15-30": 0, "31-90": 1,
                   "91-365": 0, "366+": 1}
    assert "exact" in notes(panel)
    # Filtered on a market nobody bought in: nothing.
    assert activation(db, flt(a, market="US")).rows[-1][1] == 0


# --- routine and abandonment -------------------------------------------------------------------


def test_routine_taps_per_owner_month_lifecycle_peak_season_and_abandonment(db, shop):
    a = shop["a"]
    nov, dec = date(2026, 11, 1), date(2026, 12, 1)
    put(db, a, m.TAPS, date(2026, 11, 3), 30, product=shop["w1"], market="FR", country="FR",
        bucket="genuine")
    put(db, a, m.TAPS, date(2026, 12, 3), 10, product=shop["w1"], market="FR", country="FR",
        bucket="genuine")
    put(db, a, m.TAPS, date(2026, 12, 3), 99, product=shop["w1"], market="FR", country="FR",
        bucket="replayed")
    put(db, a, m.ROUTINE_OWNERS, nov, 10, product=shop["w1"], market="FR")
    put(db, a, m.ROUTINE_OWNERS, dec, 10, product=shop["w1"], market="FR")
    for months, n in (("0", 5), ("1", 12), ("2", 3)):
        put(db, a, m.LIFECYCLE_TAPS, nov, n, product=shop["w1"], market="FR", bucket=months)
    put(db, a, m.ABANDONMENT, nov, 8, product=shop["w1"], market="FR", bucket="burst")
    put(db, a, m.ABANDONMENT, nov, 2, product=shop["w1"], market="FR", bucket="stopped")
    db.commit()
    f = Filters(a, date(2026, 11, 15), date(2026, 12, 31), grain="month")
    panel = routine(db, f)
    # From the 15th: whole months are read (the owners are per month).
    assert panel.rows == (("Watch One", "FR", 40, 20, 2.0),)
    assert panel.figures[0][1] == "1"
    season = dict(panel.tables[2].rows)
    assert season == {"Nov": 30, "Dec": 10}  # only the months the dates cover
    year = routine(db, Filters(a, date(2026, 3, 1), date(2027, 2, 28), grain="month"))
    assert [month for month, _n in year.tables[2].rows][:3] == ["Jan", "Feb", "Mar"]
    assert panel.tables[3].rows == ((nov, 8, 2, 0.25),)


def test_routine_chart_compares_products_adding_markets_before_dividing(db, shop):
    a = shop["a"]
    nov = date(2026, 11, 1)
    for market, taps, owners in (("FR", 40, 20), ("DE", 6, 2)):
        put(db, a, m.TAPS, date(2026, 11, 3), taps, product=shop["w1"], market=market,
            country=market, bucket="genuine")
        put(db, a, m.ROUTINE_OWNERS, nov, owners, product=shop["w1"], market=market)
    db.commit()
    panel = routine(db, Filters(a, nov, date(2026, 11, 30), grain="month"))
    # Per market on the page: 2.0 in France, 3.0 in Germany; the chart's one bar per product
    # is 46 / 22, not 5.0 (rates stacked).
    assert panel.tables[0].chart is None
    assert panel.tables[4].chart is not None
    assert panel.tables[4].rows == (("Watch One", 46, 22, 46 / 22),)


# --- funnel, geography, products ---------------------------------------------------------------


def test_funnel_in_stage_order_with_shares(db, shop):
    a = shop["a"]
    for stage, n in (("sold", 100), ("claimed", 60), ("confirmed", 30), ("transfer", 3)):
        put(db, a, m.FUNNEL, D1, n, product=shop["w1"], market="FR", bucket=stage)
    db.commit()
    panel = funnel(db, flt(a))
    assert [r[1] for r in panel.rows] == [100, 60, 30, 0, 0, 0, 3, 0]
    assert panel.rows[1][2:] == (0.6, 0.6)
    assert panel.rows[2][2:] == (0.3, 0.5)
    assert panel.rows[0][3] is None


def test_geography_by_country_genuine_first(db, shop):
    a = shop["a"]
    put(db, a, m.TAPS, D1, 3, product=shop["w1"], country="FR", bucket="genuine")
    put(db, a, m.TAPS, D1, 9, product=shop["w1"], country="JP", bucket="genuine")
    put(db, a, m.TAPS, D1, 4, product=shop["w1"], country="JP", bucket="invalid")
    put(db, a, m.TAPS, D1, 1, product=shop["w1"], country="", bucket="genuine")
    db.commit()
    panel = geography(db, flt(a))
    assert panel.rows == (("JP", 9, 4, 9 / 13), ("FR", 3, 0, 3 / 13), ("—", 1, 0, 1 / 13))
    assert geography(db, flt(a, country="FR")).rows == (("FR", 3, 0, 1.0),)


def test_products_taps_owners_service_resales(db, shop):
    a = shop["a"]
    put(db, a, m.TAPS, D1, 12, product=shop["w1"], bucket="genuine")
    put(db, a, m.TAPS, D1, 5, product=shop["w1"], bucket="invalid")
    put(db, a, m.OWNERS_MONTH, date(2026, 11, 1), 6, product=shop["w1"])
    put(db, a, m.OWNERS_MONTH, date(2026, 11, 1), 50, product=0)
    put(db, a, m.SERVICE_REQUESTS, D1, 2, product=shop["bag"])
    put(db, a, m.RESALES, D1, 1, product=shop["w1"])
    db.commit()
    panel = products(db, flt(a))
    assert panel.rows == (("Watch One", 12, 6.0, 0, 1), ("Bag", 0, 0.0, 2, 0))
    only = products(db, flt(a, product_ids=(shop["bag"],)))
    assert only.rows == (("Bag", 0, 0.0, 2, 0),)


# --- journeys, rewards, messages, lift, integrity ----------------------------------------------


def test_journeys_by_version_and_what_followed(db, shop):
    a = shop["a"]
    put(db, a, m.DECISIONS, D1, 80, journey="welcome", bucket="v1")
    put(db, a, m.DECISIONS, D1, 20, journey="welcome", bucket="v2")
    put(db, a, m.DECISIONS, D1, 10, journey="care", bucket="v2")
    put(db, a, m.JOURNEY_OWNERS, D1, 70, journey="welcome", bucket="v1")
    put(db, a, m.JOURNEY_NEXT, D1, 25, journey="welcome", bucket="review")
    put(db, a, m.JOURNEY_NEXT, D1, 5, journey="care", bucket="service")
    db.commit()
    panel = journeys(db, flt(a))
    assert panel.rows == (("welcome", "v1", 80, 70), ("welcome", "v2", 20, 0),
                          ("care", "v2", 10, 0))
    following = {r[0]: r for r in panel.tables[1].rows}
    assert following["welcome"] == ("welcome", 100, 25, 0.25, 0, 0.0, 0, 0.0)
    assert following["care"][6:] == (5, 0.5)
    assert journeys(db, flt(a, journey="care")).rows == (("care", "v2", 10, 0),)


def test_rewards_participation_wins_points_and_live_stock(db, shop):
    a = shop["a"]
    put(db, a, m.REWARD_GRANTS, D1, 40, journey="welcome", bucket="gift")
    put(db, a, m.REWARD_REVEALS, D1, 30, journey="welcome", bucket="gift")
    put(db, a, m.REWARD_WINS, D1, 4, journey="welcome", bucket="gift|tote")
    put(db, a, m.REWARD_WINS, D1, 26, journey="welcome", bucket="gift|thanks")
    put(db, a, m.REWARD_REDEEMED, D1, 3, journey="welcome", bucket="gift")
    put(db, a, m.POINTS, D1, 500, bucket="earn")
    put(db, a, m.POINTS, D1, 120, bucket="spend")
    pool = RewardPool(brand="brand-a", reward_id="gift", mechanic="scratch_off", budget=100,
                      given=45)
    theirs = RewardPool(brand="brand-b", reward_id="gift", mechanic="instant", budget=5,
                        given=1)
    db.add_all([pool, theirs])
    db.flush()
    db.add_all([RewardPrize(pool_id=pool.id, prize_id="tote", weight=1, stock=10, given=6),
                RewardPrize(pool_id=theirs.id, prize_id="secret", weight=1, stock=9, given=0)])
    db.commit()
    panel = rewards(db, flt(a))
    assert panel.rows == (("gift", 40, 30, 0.75, 30, 3, 55),)
    prizes = {r[1]: r for r in panel.tables[1].rows}
    assert prizes["tote"] == ("gift", "tote", 4, 6, 10, 4)
    assert prizes["thanks"] == ("gift", "thanks", 26, None, None, None)
    assert "secret" not in prizes  # brand B's prize
    assert dict(panel.tables[2].rows) == {"Earned": 500, "Spent": 120, "Expired": 0,
                                          "Taken back": 0}
    assert [v for _label, v, _kind in panel.figures] == [500, 120]


def test_messages_by_schedule_and_followed(db, shop):
    a = shop["a"]
    put(db, a, m.MESSAGES, D1, 50, journey="refill", bucket="sent")
    put(db, a, m.MESSAGES, D1, 7, journey="refill", bucket="deferred")
    put(db, a, m.MESSAGES, D1, 3, journey="refill", bucket="suppressed")
    put(db, a, m.MESSAGES, D1, 2, journey="refill", bucket="queued")
    # Emails end "accepted" (the mail server took them): they went out as sent ones did.
    put(db, a, m.MESSAGES, D1, 30, journey="refill", bucket="accepted")
    put(db, a, m.MESSAGES_FOLLOWED, D1, 16, journey="refill", bucket="tap")
    put(db, a, m.MESSAGES_FOLLOWED, D1, 4, journey="refill", bucket="reveal")
    db.commit()
    panel = messages(db, flt(a))
    assert panel.rows == (("refill", 80, 7, 3, 0, 2, 16, 4, 0.2),)
    # The journey filter is a journey, not a schedule: it does not apply, and says so.
    assert messages(db, flt(a, journey="welcome")).rows == panel.rows
    assert "Not split by journey" in notes(messages(db, flt(a, journey="welcome")))


def test_lift_measures_each_outcome_with_the_declared_holdout(app, db, shop):
    a = shop["a"]
    put(db, a, m.LIFT, D1, 900, journey="gift", bucket="treatment")
    put(db, a, m.LIFT, D1, 100, journey="gift", bucket="holdout")
    put(db, a, m.LIFT, D1, 450, journey="gift", bucket="treatment|repeat_tap_30d")
    put(db, a, m.LIFT, D1, 20, journey="gift", bucket="holdout|repeat_tap_30d")
    db.commit()
    with app.test_request_context():
        panel = lift(db, flt(a), {"gift": 10})
        counts_only = lift(db, flt(a))
    row = panel.rows[0]
    assert row[:2] + row[3:9] == ("gift", "Tapped again within 30 days", 450, 900, 0.5, 20, 100,
                                  0.2)
    assert row[9] == pytest.approx(0.3)
    assert row[10] > 0.2 and row[11] < 0.4
    assert row[2].startswith("Exposed owners did 30.0 points better")
    assert len(panel.rows) == 3  # one per outcome
    assert counts_only.rows[0][9:] == (None, None, None)
    assert "not known" in counts_only.rows[0][2]


def test_lift_leaves_out_rewards_that_hold_no_one_out_and_names_them(app, db, shop):
    a = shop["a"]
    put(db, a, m.LIFT, D1, 900, journey="gift", bucket="treatment")
    put(db, a, m.LIFT, D1, 100, journey="gift", bucket="holdout")
    put(db, a, m.LIFT, D1, 300, journey="welcome-points", bucket="treatment")
    put(db, a, m.LIFT, D1, 120, journey="welcome-points", bucket="treatment|repeat_tap_30d")
    db.commit()
    with app.test_request_context():
        panel = lift(db, flt(a), {"gift": 10, "welcome-points": 0})
    assert {row[0] for row in panel.rows} == {"gift"}
    assert "Not measured, as they hold no owner out: welcome-points." in notes(panel)


def test_integrity_failed_taps_off_market_and_alerts(db, shop):
    a = shop["a"]
    put(db, a, m.TAPS, D1, 4, product=shop["w1"], bucket="invalid")
    put(db, a, m.TAPS, D1 + timedelta(days=1), 2, product=shop["w1"], bucket="replayed")
    put(db, a, m.TAPS, D1, 9, product=shop["w1"], bucket="genuine")
    put(db, a, m.OFF_MARKET, D1, 5, product=shop["w1"], market="FR", country="CN")
    put(db, a, m.ALERTS, D1, 2, product=shop["w1"], bucket="clone_suspect")
    db.commit()
    panel = integrity(db, flt(a, grain="week"))
    assert panel.rows == ((D1, 4, 2, 0, 7),)
    assert panel.tables[1].rows == (("FR", "CN", 5),)
    assert dict(panel.tables[2].rows) == {"Clone suspected": 2, "Off market": 0,
                                          "Stolen item seen": 0}


def test_item_taps_is_bounded_and_stays_within_the_brand(db, shop):
    tag = tagged_item(db, brand="brand-b", serial="B-1")
    from app.verify.models import TapEvent

    db.add(TapEvent(at=datetime(2026, 11, 3, 10, tzinfo=UTC), verdict="invalid",
                    item_id=tag.item_id, country="FR", reason="bad MAC"))
    db.commit()
    assert [t.verdict for t in item_taps(db, shop["b"], "B-1", D1, D1 + timedelta(days=5))] == [
        "invalid"]
    assert item_taps(db, shop["a"], "B-1", D1, D1 + timedelta(days=5)) == []
    with pytest.raises(BadFilter):
        item_taps(db, shop["b"], "B-1", D1, D1 + timedelta(days=200))


def test_failed_items_counts_each_items_failed_taps_most_first_within_the_brand(db, shop):
    from app.verify.models import TapEvent

    worst = tagged_item(db, brand="brand-a", serial="A-WORST")
    other = tagged_item(db, brand="brand-a", serial="A-ONCE")
    theirs = tagged_item(db, brand="brand-b", serial="B-9")
    at = datetime(2026, 11, 3, 10, tzinfo=UTC)
    for tag, verdicts in ((worst, ("invalid", "replayed", "replayed", "genuine", "tampered")),
                          (other, ("invalid",)), (theirs, ("invalid",) * 9)):
        for n, verdict in enumerate(verdicts):
            db.add(TapEvent(at=at + timedelta(minutes=n), verdict=verdict, item_id=tag.item_id))
    # Outside the dates: not counted.
    db.add(TapEvent(at=at - timedelta(days=30), verdict="invalid", item_id=other.item_id))
    db.commit()
    rows = failed_items(db, shop["a"], D1, D1 + timedelta(days=5))
    assert [(r.serial, r.invalid, r.replayed, r.other) for r in rows] == [
        ("A-WORST", 1, 2, 1), ("A-ONCE", 1, 0, 0)]
    assert rows[0].last_at == at + timedelta(minutes=4)
    assert has_item(db, shop["a"], "A-ONCE") and not has_item(db, shop["a"], "B-9")
    with pytest.raises(BadFilter):
        failed_items(db, shop["a"], D1, D1 + timedelta(days=200))


# --- freshness, the list, the boundary ---------------------------------------------------------


def test_freshness_is_the_oldest_mark_of_the_panels_metrics(db, shop):
    assert engagement(db, flt(shop["a"])).fresh_at is None
    old, new = datetime(2026, 11, 30, 9, tzinfo=UTC), datetime(2026, 11, 30, 10, tzinfo=UTC)
    db.add_all([RefreshMark(name=m.TAPS, last_id=1, refreshed_at=new),
                RefreshMark(name=m.ITEMS_DAY, last_id=1, refreshed_at=old),
                RefreshMark(name=m.SOLD, last_id=1, refreshed_at=new)])
    db.commit()
    assert engagement(db, flt(shop["a"])).fresh_at == old
    assert funnel(db, flt(shop["a"])).fresh_at == old  # no mark of its own: the oldest of all


def test_all_panels_in_page_order(db, shop):
    panels = all_panels(db, flt(shop["a"]))
    assert [p.key for p in panels] == list(PANELS) == [
        "engagement", "activation", "routine", "funnel", "geography", "products", "journeys",
        "rewards", "messages", "lift", "integrity"]
    keys = [t.key for p in panels for t in p.tables]
    assert len(keys) == len(set(keys)) and all(k.split("-")[0] in PANELS for k in keys)


def parse(db, shop, pairs, brand="a"):
    return parse_filters(db, shop[brand], pairs, TODAY)


def test_parse_defaults_and_round_trip(db, shop):
    f = parse(db, shop, [])
    # About 90 days, from a Monday: only the week still going on is partial.
    assert (f.start, f.end, f.grain) == (date(2026, 8, 31), TODAY, "week")
    assert parse(db, shop, [("grain", "month")]).start == date(2026, 9, 1)
    assert parse(db, shop, [("grain", "day")]).start == TODAY - timedelta(days=89)
    f = parse(db, shop, [("start", "2026-10-01"), ("end", "2026-10-31"), ("grain", "month"),
                         ("category", "watch"), ("market", "fr"), ("country", "us"),
                         ("journey", "welcome")])
    assert f.product_ids == (shop["w1"], shop["w2"]) and (f.market, f.country) == ("FR", "US")
    pairs = [(k, v) for k, vs in f.query().items() for v in ([vs] if isinstance(vs, str) else vs)]
    assert parse(db, shop, pairs) == f
    chosen = parse(db, shop, [("product", f"{shop['w1']},{shop['bag']}")])
    assert chosen.product_ids == tuple(sorted((shop["w1"], shop["bag"])))


@pytest.mark.parametrize(("pairs", "words"), [
    ([("start", "2026-11-01\x00")], "NUL"),
    ([("journey\x00", "x")], "NUL"),
    ([("start", "yesterday")], "2026-11-30"),
    ([("start", "2026-11-30"), ("end", "2026-11-01")], "comes after"),
    ([("start", "2020-01-01"), ("end", "2026-11-30")], f"at most {MAX_DAYS}"),
    ([("grain", "year")], "day, week or month"),
    ([("product", "abc")], "by its number"),
    ([("product", "OTHER")], "no such product"),
    ([("category", "shoes")], "no product in that category"),
    ([("category", "watch"), ("product", "W1")], "not both"),
    ([("market", "FRA")], "two-letter"),
    ([("country", "1x")], "two-letter"),
    ([("journey", "<script>")], "no journey"),
    ([("grain", "day"), ("grain", "week")], "once"),
])
def test_bad_filters_are_refused_saying_why(db, shop, pairs, words):
    # Another brand's product is refused like one that does not exist.
    pairs = [(k, v.replace("OTHER", str(shop["other"])).replace("W1", str(shop["w1"])))
             for k, v in pairs]
    with pytest.raises(BadFilter) as refused:
        parse(db, shop, pairs)
    assert refused.value.status == 400
    assert words in refused.value.message


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
       st.sampled_from(["day", "week", "month"]))
def test_a_period_starts_on_or_before_its_day_and_is_its_own_start(day, grain):
    first = period_start(day, grain)
    assert first <= day and period_start(first, grain) == first
    assert (day - first).days < {"day": 1, "week": 7, "month": 31}[grain]
    if grain == "week":
        assert first.weekday() == 0
