"""``demo seed`` and ``demo links``."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import click
from flask import current_app
from flask.cli import AppGroup

from app.core.db import db
from app.core.errors import DomainError
from app.demo.history import HistoryExists, HistoryParams, generate_history
from app.demo.service import DEMO_BRANDS, demo_links, seed_demo
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


@demo_group.command("history", help="Write a made-up history (items, owners, taps, rewards, "
                                    "messages) for the demo brands; run after `demo seed`. "
                                    "Refused outside demo mode (AFTERTAP_DEMO) unless --force, "
                                    "and refused once a history exists.")
@click.option("--owners", type=click.IntRange(1, 2_000_000), default=20000, show_default=True)
@click.option("--days", type=click.IntRange(1, 3650), default=365, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True,
              help="The same seed writes the same history (on the same database).")
@click.option("--until", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Last day of the history, YYYY-MM-DD (UTC); default: up to now.")
@click.option("--force", is_flag=True, help="Write it even outside demo mode.")
@click.option("--if-absent", is_flag=True,
              help="Say so and succeed when a history is already there (`make run` each time).")
def demo_history(owners: int, days: int, seed: int, until: datetime | None,
                 force: bool, if_absent: bool) -> None:
    rules = current_app.extensions.get("aftertap.rules")
    live = rules.registry.rulesets() if rules is not None else {}
    slugs = [names[0] for names, _catalogue, _care in DEMO_BRANDS]
    params = HistoryParams(
        owners=owners, days=days, seed=seed, force=force, key_version=_demo_key_version(),
        rulesets={slug: live[slug] for slug in slugs if slug in live},
        until=until.replace(tzinfo=UTC) + timedelta(days=1) if until is not None else None,
    )
    started = time.perf_counter()
    try:
        summary = generate_history(db.session, current_app.config, params)
    except HistoryExists as err:
        if not if_absent:
            raise click.ClickException(err.message) from None
        click.echo("a demo history is already there; nothing written")
        return
    except DomainError as err:
        raise click.ClickException(err.message) from None
    db.session.commit()
    seconds = time.perf_counter() - started
    rows = ", ".join(f"{n} {name}" for name, n in summary.counts.items())
    click.echo(f"history {summary.start:%Y-%m-%d} to {summary.end:%Y-%m-%d} written in "
               f"{seconds:.1f} s: {rows}")
