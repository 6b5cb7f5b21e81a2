"""``service record | requests``: the workshop's command line, thin over the after-sales services
(``app.aftersales.events`` and ``app.aftersales.requests``)."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup

from app.aftersales.events import record_event
from app.aftersales.inputs import parse_moment
from app.aftersales.requests import REQUEST_STATUSES, list_requests, reference
from app.catalog.service import find_item
from app.core import clock
from app.core.db import db
from app.core.errors import DomainError

service_group = AppGroup("service", help="After-sales: service events and owners' requests.")


@service_group.command("record", help="Record service done on an item (counts into service.*).")
@click.argument("gtin")
@click.argument("serial")
@click.option("--kind", required=True, help='What was done, e.g. "full service" (max 40).')
@click.option("--at", "at_text", metavar="ISO",
              help="When it was done: 2026-03-14 or 2026-03-14T10:30:00Z (default: now).")
@click.option("--note", help="A note owners see in the item's history.")
@click.option("--location", help="Workshop or place, shown in the history.")
@click.option("--request", "request_id", type=int, metavar="ID",
              help="The service request this answers; it is marked done.")
def record(gtin: str, serial: str, kind: str, at_text: str | None, note: str | None,
           location: str | None, request_id: int | None) -> None:
    now = clock.now()
    try:
        at = parse_moment(at_text) if at_text is not None else now
    except DomainError as err:
        raise click.BadParameter(err.message, param_hint="--at") from None
    session = db.session
    try:
        with db.writer():
            item = find_item(session, gtin, serial)
            event = record_event(session, item, kind, at, note=note, location=location,
                                 request_id=request_id, settings=current_app.config, now=now)
            session.commit()
    except DomainError as err:
        session.rollback()
        raise click.ClickException(err.message) from None
    session.refresh(item)
    done = f", request {reference(request_id)} done" if request_id is not None else ""
    click.echo(
        f"recorded service event #{event.id} on {gtin}/{serial}: {event.kind} at "
        f"{event.at.isoformat()}{done}; serviced {item.service_count} time(s)"
    )


@service_group.command("requests", help="List owners' service requests, oldest first.")
@click.option("--status", type=click.Choice([*REQUEST_STATUSES, "all"]), default="open",
              show_default=True)
@click.option("--brand", "brand_slug", help="Only this brand's items.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def requests_(status: str, brand_slug: str | None, as_json: bool) -> None:
    try:
        rows = list_requests(db.session, None if status == "all" else status, brand_slug)
    except DomainError as err:
        raise click.ClickException(err.message) from None
    if as_json:
        click.echo(json.dumps([r.as_json() for r in rows], indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo(f"no {'' if status == 'all' else status + ' '}service requests")
        return
    for r in rows:
        warranty = "under warranty" if r.under_warranty else "no warranty"
        contact = r.contact_email or "no verified email"
        click.echo(f"{r.reference}  {r.created_at:%Y-%m-%d %H:%M}  {r.status:<9}  "
                   f"{r.gtin}/{r.serial}  {r.kind}  {warranty}  {contact}")
        click.echo(f"    {' '.join(r.message.split())[:200]}")
