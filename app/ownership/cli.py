"""``items release|stolen|reassign|show`` and ``owners export|erase``: the brand's side."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

import click
from flask.cli import AppGroup

from app.catalog.holdings import find_one_owner_by_email, find_owners_by_email
from app.catalog.service import find_item
from app.core import privacy as registry
from app.core.audit import audit_trail
from app.core.clock import iso, now
from app.core.db import db
from app.core.errors import DomainError
from app.ownership import brand, lifecycle, privacy

T = TypeVar("T")

items_group = AppGroup("items", help="Items: sale, theft, ownership.")
owners_group = AppGroup("owners", help="Owners' data: export and erasure.")


def _run(action: Callable[[], T]) -> T:
    """Run ``action`` in a transaction and return its result.

    Raises:
        click.ClickException: a domain error, as a clear message (exit 1); nothing is kept.
    """
    try:
        with db.writer():
            result = action()
            db.session.commit()
        return result
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from exc


@items_group.command("release", help="Mark an item sold (e.g. from a POS export).")
@click.argument("gtin")
@click.argument("serial")
@click.option("--source", default="cli", show_default=True, help="Where the sale came from.")
def release(gtin: str, serial: str, source: str) -> None:
    changed = _run(lambda: brand.release(db.session, find_item(db.session, gtin, serial),
                                         now(), actor="admin", source=source))
    click.echo(f"{gtin}/{serial}: " + ("released" if changed else "already released"))


@items_group.command("stolen", help="Flag an item as stolen (or --clear it); blocks transfers.")
@click.argument("gtin")
@click.argument("serial")
@click.option("--reason", required=True)
@click.option("--clear", is_flag=True, help="The item was recovered.")
def stolen(gtin: str, serial: str, reason: str, clear: bool) -> None:
    _run(lambda: brand.set_stolen(db.session, find_item(db.session, gtin, serial),
                                  not clear, now(), actor="admin", reason=reason))
    click.echo(f"{gtin}/{serial}: " + ("cleared" if clear else "flagged stolen"))


@items_group.command("reassign", help="Move an item to another owner, audited.")
@click.argument("gtin")
@click.argument("serial")
@click.option("--email", help="Verified email of the new owner (default: a new, unnamed owner).")
@click.option("--reason", required=True, help="Why; kept in the audit log.")
def reassign(gtin: str, serial: str, email: str | None, reason: str) -> None:
    def action() -> int:
        item = find_item(db.session, gtin, serial)
        to = find_one_owner_by_email(db.session, email) if email else None
        return brand.reassign(db.session, item, to, now(), actor="admin", reason=reason)[1]

    ordinal = _run(action)
    click.echo(f"{gtin}/{serial}: now with owner #{ordinal}")


@items_group.command("show", help="Print an item's sale, warranty, ownership history and audit.")
@click.argument("gtin")
@click.argument("serial")
def show(gtin: str, serial: str) -> None:
    try:
        item = find_item(db.session, gtin, serial)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    data = {
        "released": item.released,
        "stolen": item.stolen_at is not None,
        "warranty_ends_at": iso(item.warranty_ends_at),
        "history": [
            {"ordinal": h.ordinal, "began_by": h.began_by, "started_at": h.started_at.isoformat(),
             "ended_at": iso(h.ended_at), "ended_by": h.ended_by}
            for h in lifecycle.history(db.session, item.id)
        ],
        "audit": audit_trail(db.session, item.id),
    }
    click.echo(json.dumps(data, indent=2))


@owners_group.command("export", help="Print everything held about each owner with EMAIL (JSON).")
@click.argument("email")
def export(email: str) -> None:
    try:
        owners = find_owners_by_email(db.session, email)
        # The API's shape, so a script can read either.
        data = {"owners": len(owners),
                "exports": [registry.export_owner(db.session, owner.id) for owner in owners]}
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(json.dumps(data, indent=2))


@owners_group.command("erase", help="Erase every owner with EMAIL; tap history stays, anonymous.")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase(email: str, yes: bool) -> None:
    if not yes:
        click.confirm("Erase the personal data of every owner with this address and end their "
                      "ownerships?", abort=True)

    def action() -> tuple[int, int]:
        at = now()
        owners = find_owners_by_email(db.session, email)
        ended = sum(privacy.erase_owner(db.session, owner.id, at, actor="admin")
                    for owner in owners)
        return len(owners), ended

    erased, ended = _run(action)
    click.echo(f"erased {erased} owner(s); {ended} ownership(s) ended")
