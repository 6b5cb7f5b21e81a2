"""``flask messages ...`` and ``flask schedules dry-run``: thin wrappers over the services."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from app.catalog.models import Item, Ownership
from app.core.clock import now, utc
from app.core.db import db
from app.core.errors import DomainError
from app.messages import delivery, endpoints, zones
from app.messages.schedules import live_schedule
from app.messages.ticks import message_key, select_candidates

messages_group = AppGroup("messages", help="Scheduled messages: CRM endpoints and previews.")
schedules_group = AppGroup("schedules", help="Schedules of the live rulesets.")
endpoint_group = AppGroup("endpoint", help="A brand's CRM webhook endpoint and secret.")
messages_group.add_command(endpoint_group)


@endpoint_group.command("set", help="Set BRAND's CRM webhook URL (prints a new secret once).")
@click.argument("brand")
@click.argument("url")
def endpoint_set(brand: str, url: str) -> None:
    try:
        secret = endpoints.set_endpoint(db.session, brand, url, now())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"endpoint of {brand} set")
    if secret:
        click.echo(f"signing secret (shown once): {secret}")


@endpoint_group.command("rotate-secret", help="Add a new signing secret; the previous one "
                                              "still signs until the next rotation.")
@click.argument("brand")
def endpoint_rotate(brand: str) -> None:
    try:
        secret = endpoints.rotate_secret(db.session, brand, now())
    except DomainError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"new signing secret (shown once): {secret}")


@messages_group.command("preview", help="Render SCHEDULE's message as the owner of the item "
                                        "would get it.")
@click.argument("schedule")
@click.option("--brand", required=True)
@click.option("--item", "serial", required=True, help="The item's serial.")
def preview(schedule: str, brand: str, serial: str) -> None:
    session = db.session
    try:
        live = live_schedule(session, brand, schedule)
    except DomainError as exc:
        raise click.ClickException(str(exc)) from exc
    ownership_id = session.scalar(select(Ownership.id).join(Item, Item.id == Ownership.item_id)
                                  .where(Item.serial == serial, Ownership.ended_at.is_(None)))
    if ownership_id is None:
        raise click.ClickException(f"item {serial} has no owner")
    at = now()
    key = message_key(brand, schedule, ownership_id, at, live.schedule.channel[0])
    rendered = delivery.render(session, current_app.config, live.schedule.message, brand,
                               ownership_id, key)
    click.echo(f"Subject: {rendered.subject}\n")
    click.echo(rendered.text)


@schedules_group.command("dry-run", help="Print how many owners SCHEDULE would reach at --at "
                                         "(ruleset time) and the first few items, each with "
                                         "when it is due in its owner's time zone; sends "
                                         "nothing.")
@click.argument("schedule")
@click.option("--brand", required=True)
@click.option("--at", "at_text", required=True, help="e.g. 2026-12-01T09:00")
@click.option("--show", default=5, show_default=True)
def dry_run(schedule: str, brand: str, at_text: str, show: int) -> None:
    session = db.session
    try:
        live = live_schedule(session, brand, schedule)
        at = datetime.fromisoformat(at_text)
    except (DomainError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(live.doc.timezone))
    slot = utc(at)
    candidates = select_candidates(session, brand, live.schedule, slot)
    listed = candidates[:show]
    owner_zones = zones.zones_of(session, [c.ownership_id for c in listed])
    session.rollback()
    click.echo(f"{schedule} at {at.isoformat()}: {len(candidates)} owner(s), "
               f"channels {', '.join(live.schedule.channel)}")
    for candidate in listed:
        zone = zones.effective_zone(*owner_zones.get(candidate.ownership_id, (None, None)),
                                    live.doc.timezone)
        due = zones.local_due(slot, live.doc.timezone, zone).astimezone(zone)
        click.echo(f"  {candidate.serial}  due {due:%Y-%m-%d %H:%M} {zone.key} "
                   f"({utc(due).isoformat()})")
