"""``/admin/insights``: the dashboard page and its CSVs, for the brand's marketers only, with
nothing of another brand, bad filters a 400 page."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from app.catalog.service import get_or_create_brand, get_or_create_product
from app.core.clock import now
from app.core.staff import MARKETER, SERVICE, TILL
from app.insights import metrics as m
from app.insights.models import CubeCell
from tests.admin.helpers import sign_in_as, staff_member
from tests.factories import gtin

SECRET = 987_654_321  # brand B's number: never on brand A's pages


@pytest.fixture
def brands(db):
    a = get_or_create_brand(db, "brand-a", "Brand A")
    b = get_or_create_brand(db, "brand-b", "Brand B")
    watch = get_or_create_product(db, a, gtin(), name="-Watch=1+1", category="watch")
    other = get_or_create_product(db, b, gtin(), name="Secret Product", category="watch")
    db.commit()
    today = now().date()
    for offset in range(10):
        day = today - timedelta(days=offset)
        db.add(CubeCell(brand_id=a.id, metric=m.TAPS, day=day, product_id=watch.id,
                        market="FR", country="FR", journey="welcome", bucket="genuine",
                        value=40 + offset))
        db.add(CubeCell(brand_id=a.id, metric=m.TAPS, day=day, product_id=watch.id,
                        market="FR", country="DE", journey="", bucket="invalid", value=2))
        db.add(CubeCell(brand_id=a.id, metric=m.DECISIONS, day=day, product_id=0, market="",
                        country="", journey="=HYPERLINK(\"http://x\")", bucket="v1", value=7))
        db.add(CubeCell(brand_id=b.id, metric=m.TAPS, day=day, product_id=other.id,
                        market="US", country="US", journey="", bucket="genuine",
                        value=SECRET))
    db.commit()
    return {"a": a, "b": b, "watch": watch.id, "other": other.id}


def client_as(app, db, brand, role=MARKETER):
    client = app.test_client()
    sign_in_as(client, staff_member(db, brand.id, role, password=None))
    return client


def test_the_dashboard_shows_every_panel_with_charts_tables_and_freshness(app, db, brands):
    client = client_as(app, db, brands["a"])
    response = client.get("/admin/insights?grain=day")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for title in ("Engagement over time", "Activation", "Routine and abandonment",
                  "Lifecycle funnel", "Geography", "Products", "Journeys", "Rewards",
                  "Messages", "Lift", "Integrity"):
        assert f">{title}</h2>" in html
    assert html.count("<svg") >= 3 and "<script" not in html
    assert '<th scope="col"' in html and '<th scope="row"' in html
    assert '<caption class="sr">Taps by country</caption>' in html
    assert "Not refreshed yet." in html
    # The 10 days' genuine taps: 40 + ... + 49.
    assert ">445<" in html
    assert "Insights" in html and 'href="/admin/insights"' in html  # in the staff nav
    assert str(SECRET) not in html and "Secret Product" not in html
    assert "Server-Timing" in response.headers and response.headers["Cache-Control"] == "no-store"


def test_csv_has_the_tables_numbers_and_defuses_formulas(app, db, brands):
    client = client_as(app, db, brands["a"])
    response = client.get("/admin/insights/geography.csv?grain=day")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["country", "genuine_taps", "failed_taps", "share_genuine"]
    assert rows[1] == ["FR", "445", "0", "1"]
    assert rows[2] == ["DE", "0", "20", "0"]
    products = list(csv.reader(io.StringIO(
        client.get("/admin/insights/products.csv").get_data(as_text=True))))
    assert products[1][0] == "'-Watch=1+1"
    journeys = client.get("/admin/insights/journeys.csv").get_data(as_text=True)
    assert "'=HYPERLINK" in journeys and "\n=HYPERLINK" not in journeys
    assert str(SECRET) not in client.get("/admin/insights/geography.csv").get_data(True)


def test_csv_keeps_the_page_filters(app, db, brands):
    client = client_as(app, db, brands["a"])
    start = (now().date() - timedelta(days=1)).isoformat()
    rows = list(csv.reader(io.StringIO(client.get(
        f"/admin/insights/engagement.csv?grain=day&start={start}").get_data(as_text=True))))
    assert [r[1] for r in rows[1:]] == ["41", "40"]


def test_another_brand_is_a_404_and_its_product_a_400(app, db, brands):
    client = client_as(app, db, brands["a"])
    assert client.get("/admin/insights?brand=brand-b").status_code == 404
    assert client.get("/admin/insights/geography.csv?brand=brand-b").status_code == 404
    refused = client.get(f"/admin/insights?product={brands['other']}")
    assert refused.status_code == 400
    assert "no such product" in refused.get_data(as_text=True)
    assert "Secret Product" not in refused.get_data(as_text=True)
    # Brand B's marketer sees B's number, and not A's products.
    theirs = client_as(app, db, brands["b"]).get("/admin/insights").get_data(as_text=True)
    assert f"{SECRET * 10:,}" in theirs and "-Watch=1+1" not in theirs


@pytest.mark.parametrize("query", ["start=2026-13-01", "grain=year", "start=2026-11-01%00",
                                   "end=2020-01-01&start=2026-01-01", "market=FRANCE",
                                   "product=1&category=watch"])
def test_bad_filters_are_a_clear_400_page(app, db, brands, query):
    client = client_as(app, db, brands["a"])
    for path in ("/admin/insights", "/admin/insights/engagement.csv"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400, (path, query)
        assert "<svg" not in response.get_data(as_text=True)


def test_unknown_table_is_404(app, db, brands):
    client = client_as(app, db, brands["a"])
    assert client.get("/admin/insights/nothing.csv").status_code == 404
    assert client.get("/admin/insights/engagement-nothing.csv").status_code == 404


@pytest.mark.parametrize("role", [SERVICE, TILL])
def test_other_roles_are_refused(app, db, brands, role):
    client = client_as(app, db, brands["a"], role)
    assert client.get("/admin/insights").status_code == 403
    assert client.get("/admin/insights/engagement.csv").status_code == 403


def test_signed_out_gets_the_sign_in_page(app, db, brands):
    staff_member(db, brands["a"].id, MARKETER, password=None)  # an account exists
    for path in ("/admin/insights", "/admin/insights/engagement.csv"):
        response = app.test_client().get(path)
        assert response.status_code == 401
        assert "Sign in" in response.get_data(as_text=True)
        assert "445" not in response.get_data(as_text=True)


def test_a_warm_page_reuses_the_drawn_charts(app, db, brands):
    from app.insights import charts

    client = client_as(app, db, brands["a"])
    client.get("/admin/insights")
    before = charts._render.cache_info()
    client.get("/admin/insights")
    after = charts._render.cache_info()
    assert after.misses == before.misses and after.hits > before.hits


def test_dates_default_to_the_last_90_days_of_the_brand(app, db, brands):
    client = client_as(app, db, brands["a"])
    html = client.get("/admin/insights").get_data(as_text=True)
    first = now().date() - timedelta(days=89)
    assert (first - timedelta(days=first.weekday())).isoformat() in html


def test_a_long_list_shows_its_top_rows_and_the_csv_has_them_all(app, db, brands):
    # 25 countries: the page lists the first 20 (largest first) and says the CSV has the rest.
    countries = [f"{chr(65 + n // 26)}{chr(65 + n % 26)}" for n in range(25)]
    for n, country in enumerate(countries):
        db.add(CubeCell(brand_id=brands["a"].id, metric=m.TAPS, day=now().date(),
                        product_id=brands["watch"], market="FR", country=country,
                        journey="", bucket="genuine", value=1000 + n))
    db.commit()
    client = client_as(app, db, brands["a"])
    html = client.get("/admin/insights?grain=day").get_data(as_text=True)
    geography = html.split("Taps by country</caption>")[1].split("</table>")[0]
    assert geography.count('<th scope="row">') == 20
    assert ">1,024<" in geography and ">1,004<" not in geography  # the top 20 by taps
    assert "Showing the first 20 of 27 rows; the CSV has them all." in html
    rows = list(csv.reader(io.StringIO(
        client.get("/admin/insights/geography.csv?grain=day").get_data(as_text=True))))
    assert len(rows) == 1 + 27  # FR and DE from the fixture, and the 25


def test_failed_taps_drill_down_lists_items_and_each_items_taps(app, db, brands):
    from app.verify.models import TapEvent
    from tests.factories import tagged_item

    mine = tagged_item(db, brand="brand-a", serial="A-77")
    theirs = tagged_item(db, brand="brand-b", serial="B-77")
    at = now() - timedelta(days=2)
    db.add_all([TapEvent(at=at, verdict="replayed", item_id=mine.item_id, country="IT",
                         reason="counter already used"),
                TapEvent(at=at, verdict="invalid", item_id=theirs.item_id, country="US")])
    db.commit()
    client = client_as(app, db, brands["a"])
    dashboard = client.get("/admin/insights").get_data(as_text=True)
    assert "/admin/insights/failed-items?" in dashboard  # linked from the integrity panel
    page = client.get("/admin/insights/failed-items").get_data(as_text=True)
    assert "A-77" in page and "B-77" not in page
    assert "Only the last 92 days" not in page
    taps = client.get("/admin/insights/item?serial=A-77")
    assert taps.status_code == 200
    html = taps.get_data(as_text=True)
    assert "Link used again" in html and "counter already used" in html and "IT" in html
    # Another brand's item is not found; no serial is a bad request.
    assert client.get("/admin/insights/item?serial=B-77").status_code == 404
    assert client.get("/admin/insights/item").status_code == 400
    # A year of dashboard dates: the drill-down reads the last 92 days and says so.
    start = (now().date() - timedelta(days=365)).isoformat()
    longer = client.get(f"/admin/insights/failed-items?start={start}").get_data(as_text=True)
    assert "Only the last 92 days of the dates chosen are read here." in longer
    assert "A-77" in longer
