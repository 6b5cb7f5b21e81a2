"""The brand-side isolation matrix: every role × every ``/admin`` route × own brand / other brand.

The rules below are the decision of who may use what (admin: everything; marketer: journeys
preview, rulesets, rewards read; service: items, service requests and events, stolen flags;
till: codes check and redeem; every signed-in role: the home page). The routes are enumerated
from ``app.url_map``: a new ``/admin`` route that is not given a rule here fails
``test_every_admin_route_has_a_rule``.

Expected answers: a role the route does not allow gets 403 whatever the brand (the route, not the
object, is refused); an allowed role gets the route's success on its own brand's object, and 404
on the other brand's, the answer for an object that does not exist. A write on another brand's
object leaves no audit entry; a write on its own leaves one naming the staff member.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.core.audit import AuditEntry
from app.core.staff import ADMIN, MARKETER, ROLES, SERVICE, TILL
from tests.admin.helpers import BRAND_A, BRAND_B, Seeded, seed_brand, sign_in_as, staff_member
from tests.factories import csrf

Req = Callable[[Seeded], tuple[str, str, dict[str, Any] | None]]
REPO = Path(__file__).resolve().parents[2]

# Sign-in pages: open to anyone (they are how one gets in).
PUBLIC = {"staff_auth.login", "staff_auth.logout", "staff_auth.reset_form", "staff_auth.reset",
          "staff_auth.password"}
# Owners' data requests span brands: only the all-brands (development) admin may make them; a
# brand's admin gets 403 on either brand.
ALL_BRANDS_ONLY = {"ownership_api.api_owner_export", "ownership_api.api_owner_erase"}


def _item(s: Seeded, tail: str = "") -> str:
    return f"/admin/api/items/{s.gtin}/{s.serial}{tail}"


# endpoint -> (roles besides admin, request against a brand's objects, own-brand status, writes)
RULES: dict[str, tuple[frozenset[str], Req, int, bool]] = {
    "brand.home": (frozenset({MARKETER, SERVICE, TILL}),
                   lambda s: ("GET", f"/admin/?brand={s.slug}", None), 200, False),
    "brand.items": (frozenset({SERVICE}),
                    lambda s: ("GET", f"/admin/items?q={s.serial}", None), 200, False),
    "brand.service_queue": (frozenset({SERVICE}),
                            lambda s: ("GET", f"/admin/service?brand={s.slug}", None), 200, False),
    "brand.stolen": (frozenset({SERVICE}),
                     lambda s: ("GET", f"/admin/stolen?brand={s.slug}", None), 200, False),
    "brand.rewards": (frozenset({MARKETER}),
                      lambda s: ("GET", f"/admin/rewards?brand={s.slug}", None), 200, False),
    "brand.rulesets": (frozenset({MARKETER}),
                       lambda s: ("GET", f"/admin/rulesets?brand={s.slug}", None), 200, False),
    "brand.messages": (frozenset({MARKETER}),
                       lambda s: ("GET", f"/admin/messages?brand={s.slug}", None), 200, False),
    "insights.dashboard": (frozenset({MARKETER}),
                           lambda s: ("GET", f"/admin/insights?brand={s.slug}", None), 200, False),
    "insights.table_csv": (frozenset({MARKETER}), lambda s: (
        "GET", f"/admin/insights/engagement.csv?brand={s.slug}", None), 200, False),
    "insights.failed_items_page": (frozenset({MARKETER}), lambda s: (
        "GET", f"/admin/insights/failed-items?brand={s.slug}", None), 200, False),
    # The other brand's item, asked for by its serial: not found.
    "insights.item_taps_page": (frozenset({MARKETER}), lambda s: (
        "GET", f"/admin/insights/item?serial={s.serial}", None), 200, False),
    "admin.preview": (frozenset({MARKETER}), lambda s: (
        "GET", f"/admin/preview?brand={s.slug}&item={s.serial}&moment=owner-day-30", None),
        200, False),
    "admin_alerts.alerts_list": (frozenset({MARKETER, SERVICE}),
                                 lambda s: ("GET", f"/admin/alerts?brand={s.slug}", None),
                                 200, False),
    # A form (CSRF token added below): the brand's alert acknowledged.
    "admin_alerts.acknowledge": (frozenset({SERVICE}), lambda s: (
        "FORM", f"/admin/alerts/{s.alert_id}/ack?brand={s.slug}", {}), 200, True),
    "admin.preview_page": (frozenset({MARKETER}), lambda s: (
        "GET", f"/admin/preview/page?brand={s.slug}&item={s.serial}&moment=owner-day-30", None),
        200, False),
    "ownership_api.api_item": (frozenset({SERVICE}), lambda s: ("GET", _item(s), None),
                               200, False),
    "ownership_api.api_stolen": (frozenset({SERVICE}), lambda s: (
        "POST", _item(s, "/stolen"), {"stolen": True, "reason": "reported at the boutique"}),
        200, True),
    "ownership_api.api_release": (frozenset(), lambda s: (
        "POST", _item(s, "/release"), {"source": "pos"}), 200, False),
    "ownership_api.api_reassign": (frozenset(), lambda s: (
        "POST", _item(s, "/reassign"), {"reason": "proof of purchase"}), 200, True),
    "ownership_api.api_take_back": (frozenset(), lambda s: (
        "POST", _item(s, "/take-back"), {"reason": "recycling"}), 200, True),
    "ownership_api.api_owner_export": (frozenset(), lambda s: (
        "POST", "/admin/api/owners/export", {"email": s.email}), 403, False),
    "ownership_api.api_owner_erase": (frozenset(), lambda s: (
        "POST", "/admin/api/owners/erase", {"email": s.email}), 403, False),
    "aftersales_api.api_record_event": (frozenset({SERVICE}), lambda s: (
        "POST", _item(s, "/service-events"), {"kind": "full service"}), 201, True),
    "aftersales_api.api_item_service": (frozenset({SERVICE}),
                                        lambda s: ("GET", _item(s, "/service"), None), 200, False),
    "aftersales_api.api_service_requests": (frozenset({SERVICE}), lambda s: (
        "GET", f"/admin/api/service-requests?status=all&brand={s.slug}", None), 200, False),
    "rewards_api.check": (frozenset({TILL}),
                          lambda s: ("GET", f"/admin/api/codes/{s.code}", None), 200, False),
    "rewards_api.redeem": (frozenset({TILL}), lambda s: (
        "POST", f"/admin/api/codes/{s.code}/redeem", {"shop": "Rivoli"}), 200, True),
    # The seeded owner won points: the own brand's till takes 10 of them, the other's gets 404.
    "rewards_api.debit_points": (frozenset({TILL}), lambda s: (
        "POST", _item(s, "/points/debit"), {"points": 10, "reference": "R-1"}), 200, True),
    "provenance_api.admin_revoke": (frozenset(), lambda s: (
        "POST", f"/admin/api/provenance/{s.record_id}/revoke", {"reason": "sold on"}),
        200, True),
    # A form (CSRF token added below): a draft ruleset for the brand, checked and replayed.
    "admin_drafts.draft": (frozenset({MARKETER}), lambda s: (
        "FORM", "/admin/preview/draft", {"text": _draft(s.slug), "days": "7"}), 200, False),
}
# The draft page refuses a draft naming a brand that is not the signer's as an invalid draft
# (422, the answer for a brand that does not exist), not 404.
OTHER_STATUS = {"admin_drafts.draft": 422}
BRANDS = ("own", "other")


def _draft(slug: str) -> str:
    text = (REPO / "rulesets" / f"{BRAND_A}.yaml").read_text()
    return text.replace(f"brand: {BRAND_A}", f"brand: {slug}", 1)
CASES = [(role, endpoint, brand) for role in ROLES for endpoint in sorted(RULES)
         for brand in BRANDS]


def test_every_admin_route_has_a_rule(app):
    admin_endpoints = {rule.endpoint for rule in app.url_map.iter_rules()
                       if rule.rule == "/admin" or rule.rule.startswith("/admin/")}
    assert admin_endpoints - PUBLIC == set(RULES), "give each new /admin route a rule above"
    assert admin_endpoints >= PUBLIC


def test_matrix_size():
    # 4 roles × 30 routes × 2 brands, per backend.
    assert len(CASES) == len(ROLES) * len(RULES) * len(BRANDS) == 240


def _expected(role: str, endpoint: str, brand: str) -> int:
    roles, _request, ok, _writes = RULES[endpoint]
    if role != ADMIN and role not in roles:
        return 403
    if endpoint in ALL_BRANDS_ONLY:
        return 403
    return ok if brand == "own" else OTHER_STATUS.get(endpoint, 404)


@pytest.mark.parametrize(("role", "endpoint", "brand"), CASES)
def test_isolation(app, db, role, endpoint, brand):
    own = seed_brand(app, db, BRAND_A, "AAA-0001")
    other = seed_brand(app, db, BRAND_B, "BBB-0001")
    user = staff_member(db, own.brand_id, role, password=None)  # signed in directly: no hash
    client = app.test_client()
    sign_in_as(client, user)
    target = own if brand == "own" else other
    method, path, body = RULES[endpoint][1](target)
    if method == "FORM":
        response = client.post(path, data={**(body or {}), "csrf_token": csrf(client)})
    else:
        response = client.open(path, method=method, json=body,
                               headers={"Accept": "application/json"} if "/api/" in path else {})
    expected = _expected(role, endpoint, brand)
    assert response.status_code == expected, (role, endpoint, brand, response.get_data(True)[:300])
    text = response.get_data(as_text=True)
    # Nothing of the other brand leaks into what a brand's staff sees (a 404 may repeat what
    # was asked for, as it does for a serial nobody has).
    if brand == "own":
        for secret in (other.serial, other.code, other.record_id, other.uid):
            assert secret not in text
    actors = set(db.scalars(select(AuditEntry.actor).where(AuditEntry.action != "staff_add")
                            .where(AuditEntry.actor.like("staff:%"))
                            .where(AuditEntry.action != "staff_password_set")))
    if expected == 200 or expected == 201:
        if RULES[endpoint][3]:
            assert actors == {f"staff:{user.id}"}
    else:
        assert actors == set()


def test_the_preview_offers_and_renders_only_the_brands_own_items(app, db):
    own = seed_brand(app, db, BRAND_A, "AAA-0001")
    other = seed_brand(app, db, BRAND_B, "BBB-0001")
    client = app.test_client()
    sign_in_as(client, staff_member(db, own.brand_id, MARKETER, password=None))
    page = client.get("/admin/preview").get_data(as_text=True)
    assert own.serial in page and other.serial not in page
    asked = client.get(f"/admin/preview?item={other.serial}").get_data(as_text=True)
    nobody = client.get("/admin/preview?item=NOBODY-1").get_data(as_text=True)
    assert f"no tagged item has serial &#39;{other.serial}&#39;" in asked
    assert asked.replace(other.serial, "NOBODY-1") == nobody
