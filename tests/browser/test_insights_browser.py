"""A brand's marketer opens the insights dashboard on a phone and on a laptop: every chart and
table is there, the filters fold away on the phone, and nothing scrolls the page sideways."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from playwright.sync_api import expect

from app.catalog.service import get_or_create_brand, get_or_create_product
from app.core import staff
from app.core.clock import now
from app.insights import metrics as m
from app.insights.models import CubeCell, RefreshMark
from tests.admin.helpers import BRAND_A, PASSWORD, staff_member
from tests.browser.conftest import DESKTOP, PHONE, assert_fits_phone, backend_of
from tests.factories import gtin

pytestmark = pytest.mark.browser

PRODUCTS = (("Weekender Bag", "bag"), ("Classic Tote", "bag"), ("Pilot Watch", "watch"),
            ("Night Cream", "skincare"))
# A reward of the repository's ruleset with a 10% holdout: its lift is measured.
REWARD = "review-reveal"
COUNTRIES = ("FR", "DE", "US", "JP", "GB", "IT")


def seed_cube(db: Any, brand_id: int, product_ids: list[int], today: date) -> None:
    """Ninety days of plausible cells for every panel (fixed seed: the same screenshot)."""
    rng = random.Random(14)
    cells: dict[tuple[Any, ...], int] = {}

    def add(metric: str, day: date, value: int, product: int = 0, market: str = "",
            country: str = "", journey: str = "", bucket: str = "") -> None:
        key = (metric, day, product, market, country, journey, bucket)
        cells[key] = cells.get(key, 0) + value

    for back in range(90):
        day = today - timedelta(days=back)
        items_all = 0
        for index, product in enumerate(product_ids):
            base = 30 - 6 * index + (8 if day.weekday() >= 5 else 0)
            for country in COUNTRIES[: 6 - index]:
                add(m.TAPS, day, max(0, base // (1 + COUNTRIES.index(country)) + rng.randint(0, 3)),
                    product, "FR", country, "welcome" if country == "FR" else "care", "genuine")
            add(m.TAPS, day, rng.randint(0, 3), product, "FR", "FR", "", "invalid")
            add(m.TAPS, day, rng.randint(0, 2), product, "FR", "US", "", "replayed")
            items = base // 2 + rng.randint(0, 3)
            items_all += items
            add(m.ITEMS_DAY, day, items, product)
            add(m.OWNERS_DAY, day, items - 1, product)
            add(m.SOLD, day, rng.randint(1, 6), product, "FR", bucket="boutique")
            add(m.SOLD, day, rng.randint(0, 4), product, "FR", bucket="online")
            for lag in (0, 1, 3, 9, 40):
                add(m.ACTIVATION_LAG, day, rng.randint(0, 1), product, "FR",
                    bucket=f"boutique|{lag}")
            add(m.ACTIVATION_LAG, day, rng.randint(0, 1), product, "FR", bucket="online|2")
            add(m.FUNNEL, day, 8, product, "FR", bucket="sold")
            add(m.FUNNEL, day, 5, product, "FR", bucket="claimed")
            add(m.FUNNEL, day, 3, product, "FR", bucket="confirmed")
            add(m.FUNNEL, day, 2, product, "FR", bucket="repeat")
            add(m.FUNNEL, day, rng.randint(0, 1), product, "FR", bucket="service")
            add(m.SERVICE_REQUESTS, day, rng.randint(0, 1), product)
            add(m.RESALES, day, int(rng.random() < 0.1), product)
            if rng.random() < 0.05:
                add(m.OFF_MARKET, day, 1, product, "FR", "CN")
        add(m.ITEMS_DAY, day, items_all - 3)
        add(m.OWNERS_DAY, day, items_all - 6)
        add(m.DECISIONS, day, 60 + rng.randint(0, 10), journey="welcome", bucket="v3")
        add(m.DECISIONS, day, 20 + rng.randint(0, 5), journey="care", bucket="v3")
        add(m.JOURNEY_OWNERS, day, 50, journey="welcome", bucket="v3")
        add(m.JOURNEY_NEXT, day, rng.randint(5, 12), journey="welcome", bucket="review")
        add(m.JOURNEY_NEXT, day, rng.randint(2, 6), journey="welcome", bucket="reveal")
        add(m.JOURNEY_NEXT, day, rng.randint(0, 2), journey="care", bucket="service")
        add(m.REWARD_GRANTS, day, 12, journey="welcome", bucket=REWARD)
        add(m.REWARD_REVEALS, day, rng.randint(6, 11), journey="welcome", bucket=REWARD)
        add(m.REWARD_WINS, day, rng.randint(0, 2), journey="welcome", bucket=f"{REWARD}|ten-off")
        add(m.REWARD_WINS, day, 5, journey="welcome", bucket=f"{REWARD}|thank-you")
        add(m.REWARD_REDEEMED, day, rng.randint(0, 2), journey="welcome", bucket=REWARD)
        add(m.POINTS, day, 200, bucket="earn")
        add(m.POINTS, day, rng.randint(0, 150), bucket="spend")
        add(m.MESSAGES, day, 30, journey="refill-reminder", bucket="sent")
        add(m.MESSAGES, day, rng.randint(0, 4), journey="refill-reminder", bucket="deferred")
        add(m.MESSAGES, day, rng.randint(0, 3), journey="refill-reminder", bucket="suppressed")
        add(m.MESSAGES_FOLLOWED, day, rng.randint(3, 9), journey="refill-reminder",
            bucket="tap")
        add(m.LIFT, day, 18, journey=REWARD, bucket="treatment")
        add(m.LIFT, day, 2, journey=REWARD, bucket="holdout")
        add(m.LIFT, day, rng.randint(7, 10), journey=REWARD, bucket="treatment|repeat_tap_30d")
        add(m.LIFT, day, rng.randint(0, 1), journey=REWARD, bucket="holdout|repeat_tap_30d")
        add(m.LIFT, day, rng.randint(1, 3), journey=REWARD, bucket="treatment|review")
        add(m.LIFT, day, rng.randint(0, 1), journey=REWARD, bucket="holdout|review")
        if rng.random() < 0.2:
            add(m.ALERTS, day, 1, product_ids[0], bucket="clone_suspect")
    for week in range(14):
        monday = today - timedelta(days=today.weekday() + 7 * week)
        add(m.ITEMS_WEEK, monday, 260 + rng.randint(0, 30))
        add(m.OWNERS_WEEK, monday, 230 + rng.randint(0, 30))
    for month in range(4):
        first = (today.replace(day=1) - timedelta(days=31 * month)).replace(day=1)
        for product in product_ids:
            add(m.ROUTINE_OWNERS, first, 120, product, "FR")
            add(m.OWNERS_MONTH, first, 140, product)
            for owned in range(14):
                add(m.LIFECYCLE_TAPS, first, max(1, 90 - abs(owned - 3) * 12), product, "FR",
                    bucket=str(owned))
            add(m.ABANDONMENT, first, 40, product, "FR", bucket="burst")
            add(m.ABANDONMENT, first, 9, product, "FR", bucket="stopped")
        add(m.ITEMS_MONTH, first, 900)
        add(m.OWNERS_MONTH, first, 820)
    for (metric, day, product, market, country, journey, bucket), value in cells.items():
        db.add(CubeCell(brand_id=brand_id, metric=metric, day=day, product_id=product,
                        market=market, country=country, journey=journey, bucket=bucket,
                        value=value))
    at = datetime.now(UTC) - timedelta(minutes=2)
    for metric in {key[0] for key in cells}:
        db.add(RefreshMark(name=metric, last_id=1, refreshed_at=at))
    db.commit()


def test_the_dashboard_on_a_phone_and_a_laptop(
    app: Any, db: Any, live_server: str, browser: Any, artifacts: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(staff, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))
    brand = get_or_create_brand(db, BRAND_A, "Maison Aurelia")
    product_ids = [get_or_create_product(db, brand, gtin(), name=name, category=category).id
                   for name, category in PRODUCTS]
    db.commit()
    seed_cube(db, brand.id, product_ids, now().date())
    staff_member(db, brand.id, "marketer", "ines@brand.example")
    backend = backend_of(app)

    for name, device in (("phone", PHONE), ("desktop", DESKTOP)):
        context = browser.new_context(**device)
        context.set_default_timeout(15_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda msg, errors=errors: errors.append(msg.text)
                if msg.type == "error" else None)
        page.goto(f"{live_server}/admin/insights")
        page.get_by_label("Email").fill("ines@brand.example")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Insights")
        for title in ("Engagement over time", "Activation", "Geography", "Lift", "Integrity"):
            expect(page.get_by_role("heading", name=title, level=2)).to_be_visible()
        charts = page.locator("figure.chart svg")
        assert charts.count() >= 12
        for index in range(charts.count()):
            charts.nth(index).scroll_into_view_if_needed()
            expect(charts.nth(index)).to_be_visible()
            box = charts.nth(index).bounding_box()
            assert box is not None and box["width"] <= device["viewport"]["width"]
        expect(page.get_by_role("table", name="Taps by country")).to_be_visible()
        expect(page.get_by_text("Updated 2 minutes ago.").first).to_be_visible()
        # The filters are folded away until asked for.
        expect(page.get_by_label("From", exact=True)).to_be_hidden()
        assert_fits_phone(page)
        page.screenshot(path=str(artifacts / f"insights-{name}-{backend}.png"), full_page=True)
        page.get_by_text("Filters").click()
        expect(page.get_by_label("From", exact=True)).to_be_visible()
        assert_fits_phone(page)
        page.screenshot(path=str(artifacts / f"insights-{name}-filters-{backend}.png"))
        page.get_by_label("By", exact=True).select_option("day")
        page.get_by_role("button", name="Show").click()
        expect(page.get_by_text("Unique items and owners are exact per day.")).to_be_visible()
        assert_fits_phone(page)
        if name == "phone":
            # A table wider than the phone scrolls inside its own box, not the page.
            wide = page.locator(".scroll").first
            assert wide.evaluate("e => e.scrollWidth > e.clientWidth")
        # Only the signed-out first visit's 401, which is the sign-in page itself.
        assert [text for text in errors if "401" not in text] == []
        context.close()
