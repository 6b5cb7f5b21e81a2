"""``flask staff add|list|disable`` and ``flask staff token create|revoke|list``: thin wrappers
over ``app.admin.accounts`` and ``app.core.staff``. Audited as actor ``cli``."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.admin import accounts
from app.catalog.models import Brand
from app.core import staff
from app.core.clock import iso, now
from app.core.db import db
from app.core.errors import DomainError

staff_group = AppGroup("staff", help="Brand staff accounts and API tokens.")
token_group = AppGroup("token", help="API tokens for machine clients (a till, a CRM).")
staff_group.add_command(token_group)
CLI = "cli"
ROLE = click.Choice(staff.ROLES)


def _fail(err: DomainError) -> click.ClickException:
    return click.ClickException(err.message)


@staff_group.command("add", help="Open an account; print its one-time set-password link, or "
                                 "--send it by email.")
@click.argument("email")
@click.option("--brand", "brand_slug", required=True, help="Brand slug.")
@click.option("--role", required=True, type=ROLE)
@click.option("--send", is_flag=True, help="Email the link (through the outbox) instead of "
                                           "printing it.")
def add(email: str, brand_slug: str, role: str, send: bool) -> None:
    assert db.sessionmaker is not None
    with db.sessionmaker() as session:
        try:
            brand = accounts.find_brand(session, brand_slug)
            invitation = accounts.invite(session, current_app.config, email=email, brand=brand,
                                         role=role, at=now(), actor=CLI, send=send)
        except DomainError as err:
            raise _fail(err) from None
        session.commit()
    if send:
        click.echo(f"staff #{invitation.staff_id}: set-password link emailed "
                   f"(valid until {iso(invitation.expires_at)})")
    else:
        click.echo(f"staff #{invitation.staff_id}: set-password link, valid once until "
                   f"{iso(invitation.expires_at)}:\n{invitation.link}")


def _brand_filter(session: Session, brand_slug: str | None) -> int | None:
    """Return the id of the brand ``--brand`` names, or None without one.

    Raises:
        click.ClickException: no such brand.
    """
    try:
        return accounts.find_brand(session, brand_slug).id if brand_slug else None
    except DomainError as err:
        raise _fail(err) from None


@staff_group.command("list", help="List staff accounts (of one brand with --brand).")
@click.option("--brand", "brand_slug", default=None)
def list_(brand_slug: str | None) -> None:
    assert db.sessionmaker is not None
    with db.sessionmaker() as session:
        brand_id = _brand_filter(session, brand_slug)
        slugs = {row.id: row.slug for row in session.execute(select(Brand.id, Brand.slug))}
        for user in staff.list_staff(session, brand_id):
            state = ("disabled" if user.disabled_at else
                     "active" if user.password_hash else "invited")
            click.echo(f"{user.id}\t{user.email}\t{slugs.get(user.brand_id)}\t{user.role}\t"
                       f"{state}")


@staff_group.command("disable", help="Disable an account: its sign-ins, sessions and links stop.")
@click.argument("email")
def disable(email: str) -> None:
    assert db.sessionmaker is not None
    with db.sessionmaker() as session:
        try:
            user = staff.disable_staff(session, email, now(), actor=CLI)
        except DomainError as err:
            raise _fail(err) from None
        staff_id = user.id
        session.commit()
    click.echo(f"staff #{staff_id} disabled")


@token_group.command("create", help="Create an API token; it is printed once, never stored.")
@click.option("--brand", "brand_slug", required=True)
@click.option("--role", required=True, type=ROLE)
@click.option("--name", required=True, help="Who uses it, e.g. 'Rivoli till'.")
def token_create(brand_slug: str, role: str, name: str) -> None:
    assert db.sessionmaker is not None
    with db.sessionmaker() as session:
        try:
            brand = accounts.find_brand(session, brand_slug)
            token_id, token = staff.create_token(session, brand.id, role, name, now(), actor=CLI)
        except DomainError as err:
            raise _fail(err) from None
        session.commit()
    click.echo(f"token #{token_id} (shown once; send it as 'Authorization: Bearer <token>'):")
    click.echo(token)


@token_group.command("revoke", help="Revoke an API token by its number: it gets 401 at once.")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    assert db.sessionmaker is not None
    with db.sessionmaker() as session:
        try:
            changed = staff.revoke_token(session, token_id, now(), actor=CLI)
        except DomainError as err:
            raise _fail(err) from None
        session.commit()
    click.echo(f"token #{token_id} {'revoked' if changed else 'was already revoked'}")


@token_group.command("list", help="List API tokens (never the tokens themselves).")
@click.option("--brand", "brand_slug", default=None)
def token_list(brand_slug: str | None) -> None:
    assert db.sessionmaker is not None
    with db.sessionmaker() as session:
        brand_id = _brand_filter(session, brand_slug)
        for row in staff.list_tokens(session, brand_id):
            click.echo(f"{row.id}\t{row.name}\t{row.role}\t"
                       f"{'revoked' if row.revoked_at else 'live'}")
