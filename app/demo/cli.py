"""``demo seed`` and ``demo links``."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from app.core.db import db
from app.demo.service import demo_links, seed_demo
from app.verify import keyring


def _demo_key_version() -> str:
    names = [name for name, kv in keyring(current_app).items() if kv.simulate and not kv.retired]
    if not names:
        raise click.ClickException("no key version allows simulation; the demo needs one")
    return sorted(names)[0]


demo_group = AppGroup("demo", help="The demo brands.")


@demo_group.command("seed", help="Create the demo brands, catalogues and tags (idempotent).")
def demo_seed() -> None:
    summary = seed_demo(db.session, _demo_key_version())
    db.session.commit()
    click.echo(f"demo brands ready: {summary.products} products, {summary.tags_created} new tag(s)")


@demo_group.command("links", help="Print a fresh demo tap link per product.")
@click.option("--base-url", help="Defaults to AFTERTAP_PUBLIC_BASE_URL.")
def demo_links_cmd(base_url: str | None) -> None:
    session = db.session
    links = demo_links(
        session,
        keyring(current_app),
        base_url or current_app.config["PUBLIC_BASE_URL"],
    )
    session.commit()
    notes = {False: ", still in the boutique", None: ", sale not known"}
    for tag, url in links:
        note = notes.get(tag.item.released, "")
        click.echo(f"  {tag.item.product.name} ({tag.item.serial}{note}):\n    {url}")
