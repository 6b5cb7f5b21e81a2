"""``commerce secret --brand SLUG [--drop-old]``: a brand's signing secret for commerce events,
a thin wrapper over ``app.insights.commerce``."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.core.clock import now
from app.core.db import db
from app.core.errors import DomainError
from app.insights.commerce import brand_id_of, drop_old_secrets, rotate_secret

commerce_group = AppGroup("commerce", help="Orders and refunds a brand's shop or CRM sends in.")


@commerce_group.command("secret", help="Create or rotate the brand's signing secret (printed "
                                       "once; the previous one keeps working until --drop-old).")
@click.option("--brand", "slug", required=True, help="The brand's slug.")
@click.option("--drop-old", is_flag=True, help="Keep only the newest secret.")
def secret(slug: str, drop_old: bool) -> None:
    session = db.session
    try:
        brand_id = brand_id_of(session, slug)
        if drop_old:
            dropped = drop_old_secrets(session, brand_id, now())
        else:
            made = rotate_secret(session, brand_id, now())
    except DomainError as exc:
        session.rollback()
        raise click.ClickException(exc.message) from None
    session.commit()
    if drop_old:
        click.echo(f"{dropped} older secret(s) dropped; only the newest verifies now")
        return
    click.echo(made)
    click.echo("Shown once: give it to the shop or CRM that signs the events. The previous "
               "secret (if any) still verifies until `--drop-old`.", err=True)
