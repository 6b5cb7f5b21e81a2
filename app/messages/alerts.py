"""Integrity alerts to the brand: an email to its administrators and an event to its CRM.

Insights raises an alert (``signals.alert_raised``, inside the transaction that inserts it);
``on_alert_raised`` queues, in that same transaction, one email per enabled administrator of
the brand in the mail outbox (``app.core.outbox``): the alert and its emails commit together or
not at all, and the outbox's worker sends them with retries and a Message-ID fixed at queueing,
so a copy re-sent after a crash is the same message to the receiving side. Brands have no alert
address of their own: their administrators' staff addresses are where alerts go.

A brand with a CRM endpoint (``message_endpoints``) also gets a Standard Webhooks event of type
``integrity.alert``. A call cannot be made inside a transaction, and the messages table is per
owner, so the listener answers that a call waits; insights keeps the alert not notified and asks
again (``signals.alert_delivery_due``) until ``on_alert_delivery_due`` has made the call. Each
call carries the same ``webhook-id`` (``alert_<id>``): a receiver drops a repeat.

The words are staff-facing English: what was seen (the item's serial and product, countries,
time), never who tapped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.catalog.models import Brand, Item, Product
from app.core import outbox, signals
from app.core.staff import ADMIN, StaffUser
from app.messages.delivery import NotDelivered, send_webhook
from app.messages.models import Endpoint

log = logging.getLogger(__name__)

EVENT_TYPE = "integrity.alert"
MAIL_KIND = "integrity_alert"


def _about(session: Session, item_id: int) -> Any:
    """Return the alert's item as staff know it: serial, product, brand (one query)."""
    return session.execute(
        select(Item.serial, Product.name.label("product"), Brand.id.label("brand_id"),
               Brand.slug, Brand.name.label("brand_name"))
        .join(Product, Product.id == Item.product_id).join(Brand, Brand.id == Product.brand_id)
        .where(Item.id == item_id)).one()


def recipients(session: Session, brand_id: int) -> list[str]:
    """Return the addresses alerts of ``brand_id`` go to: its enabled administrators'."""
    return list(session.scalars(
        select(StaffUser.email).where(StaffUser.brand_id == brand_id, StaffUser.role == ADMIN,
                                      StaffUser.disabled_at.is_(None))
        .order_by(StaffUser.id)))


def page_url(settings: Mapping[str, Any], kind: str) -> str:
    """Return the alerts page's address, showing the open alerts of ``kind``."""
    base = str(settings["PUBLIC_BASE_URL"]).rstrip("/")
    return f"{base}/admin/alerts?kind={kind}&state=open"


def email_text(settings: Mapping[str, Any], about: Any, title: str, summary: str, kind: str,
               at: datetime) -> tuple[str, str]:
    """Return the alert email's subject and plain text."""
    subject = f"{about.brand_name}: {title} ({about.serial})"
    when = at.strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"An integrity alert for {about.brand_name}.\n\n"
        f"What: {title}\n"
        f"Item: {about.product}, serial {about.serial}\n"
        f"Seen: {summary}\n"
        f"When: {when}\n\n"
        "The alert is about the item; it does not say who tapped it.\n"
        f"See it and acknowledge it on the alerts page: {page_url(settings, kind)}\n\n"
        f"You get this email as an administrator of {about.brand_name} on Aftertap.\n"
    )
    return subject, text


def payload(settings: Mapping[str, Any], about: Any, alert_id: int, kind: str, title: str,
            summary: str, at: datetime) -> dict[str, Any]:
    """Return the CRM event of an alert (nothing personal)."""
    return {"type": EVENT_TYPE, "id": webhook_id(alert_id), "brand": about.slug, "kind": kind,
            "title": title, "summary": summary, "at": at.isoformat(),
            "item": {"serial": about.serial, "product": about.product},
            "url": page_url(settings, kind)}


def webhook_id(alert_id: int) -> str:
    """Return the alert's ``webhook-id``: the same on every call."""
    return f"alert_{alert_id}"


def on_alert_raised(session: Session, *, settings: Mapping[str, Any], item_id: int,
                    kind: str, title: str, summary: str, at: datetime, now: datetime,
                    **_: Any) -> bool:
    """Queue the alert's emails in ``session``'s transaction; return False when the brand has
    a CRM endpoint (a call waits), True otherwise."""
    about = _about(session, item_id)
    subject, text = email_text(settings, about, title, summary, kind, at)
    for address in recipients(session, about.brand_id):
        # Queued at the scan's moment: the outbox gives up MAIL_GIVE_UP_HOURS after it.
        outbox.enqueue(session, settings, to=address, subject=subject, text=text,
                       kind=MAIL_KIND, at=now)
    return session.get(Endpoint, about.slug) is None


def on_alert_delivery_due(session: Session, *, settings: Mapping[str, Any], alert_id: int,
                          item_id: int, kind: str, title: str, summary: str, at: datetime,
                          now: datetime, **_: Any) -> bool:
    """Send the alert's event to the brand's CRM, signed (Standard Webhooks) with every current
    secret; return True once it took it, or when the brand has no endpoint any more."""
    about = _about(session, item_id)
    row = session.get(Endpoint, about.slug)
    if row is None or not row.secrets:
        return True
    # A copy outside the session: no transaction stays open while the CRM answers.
    endpoint = Endpoint(brand=row.brand, url=row.url, secrets=list(row.secrets))
    event = payload(settings, about, alert_id, kind, title, summary, at)
    session.rollback()
    try:
        send_webhook(settings, endpoint, event, webhook_id(alert_id), now)
    except NotDelivered as exc:
        log.warning("alert %d: CRM call failed (%s)", alert_id, exc.kind)
        return False
    return True


def init_app(_app: Flask) -> None:
    """Listen to insights' alerts."""
    signals.alert_raised.connect(on_alert_raised, weak=False)
    signals.alert_delivery_due.connect(on_alert_delivery_due, weak=False)
