"""``rewards audit|import-codes|redeem|balance|seeds``: thin wrappers over the rewards services."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from app.catalog.holdings import find_owners_by_email
from app.core.clock import now
from app.core.db import db
from app.core.errors import DomainError
from app.rewards import codes, draws, ledger
from app.rewards.pools import sync_ruleset

rewards_group = AppGroup("rewards", help="Loyalty points, prize pools, codes and draw audits.")


def _fail(exc: DomainError) -> click.ClickException:
    return click.ClickException(exc.message)


def _sync_all() -> None:
    """Bring every loaded ruleset's pools into the database (seeds are made per pool)."""
    rules = current_app.extensions.get("aftertap.rules")
    if rules is None:
        return
    for brand, ruleset in rules.registry.rulesets().items():
        sync_ruleset(db.session, ruleset.doc, brand)


@rewards_group.command("audit", help="Recompute a pool's draws of one UTC day from its seed.")
@click.argument("pool")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
def audit(pool: str, day: datetime) -> None:
    try:
        report = draws.audit_day(db.session, pool, day.date())
    except DomainError as exc:
        raise _fail(exc) from exc
    click.echo(f"pool {report.brand}/{report.reward_id}, day {report.day.isoformat()}")
    click.echo(f"commitment {report.commitment or '(none)'}; seed "
               f"{'revealed' if report.seed_revealed else 'not revealed yet'}")
    for m in report.mismatches:
        where = f"draw {m.draw_id} (grant {m.grant_id})" if m.draw_id else "day"
        click.echo(f"MISMATCH {where}: {m.reason}")
    if not report.ok:
        click.echo(f"{report.draws} draw(s), {len(report.mismatches)} mismatch(es)")
        raise SystemExit(1)
    click.echo(f"{report.draws} draw(s) recomputed: all match")


@rewards_group.command("import-codes", help="Add single-use codes (one per line) to a list.")
@click.argument("list_name", metavar="LIST")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--brand", help="Brand the list belongs to (default: AFTERTAP_DEFAULT_BRAND).")
def import_codes(list_name: str, file: Path, brand: str | None) -> None:
    brand = brand or current_app.config.get("DEFAULT_BRAND") or ""
    lines = [line for line in file.read_text(encoding="utf-8").splitlines()
             if not line.lstrip().startswith("#")]
    try:
        result = codes.import_codes(db.session, brand, list_name, lines, now())
    except DomainError as exc:
        raise _fail(exc) from exc
    db.session.commit()
    click.echo(f"{result.added} code(s) added to {brand}/{list_name}, {result.skipped} skipped")


@rewards_group.command("redeem", help="Redeem a prize code once (as a shop's till would).")
@click.argument("code")
@click.option("--shop", default="cli", show_default=True, help="Who redeems it.")
def redeem(code: str, shop: str) -> None:
    try:
        view = codes.redeem(db.session, code, now(), shop=shop)
    except DomainError as exc:
        raise _fail(exc) from exc
    db.session.commit()
    click.echo(f"redeemed {view.code}: {view.brand}/{view.reward_id} prize {view.prize_id}")


@rewards_group.command("balance", help="Show an owner's points and ledger (by verified email).")
@click.argument("email")
def balance(email: str) -> None:
    try:
        owners = find_owners_by_email(db.session, email)
    except DomainError as exc:
        raise _fail(exc) from exc
    # Several phones can confirm one address; each owner keeps their own ledger.
    for owner in owners:
        # Points are kept per brand: one balance and one ledger per brand.
        for brand, points in ledger.balances(db.session, owner.id).items():
            click.echo(f"owner {owner.id} balance: {points} points ({brand})")
            for e in ledger.ledger(db.session, owner.id, brand):
                click.echo(f"{e.at:%Y-%m-%d %H:%M} {e.kind:7} {e.points:+6d} = "
                           f"{e.balance_after:6d}  {e.cause_type}:{e.cause_id}")


@rewards_group.command("seeds", help="publish: commit to today's and tomorrow's seeds; "
                                     "reveal: reveal the seeds of days that have ended.")
@click.argument("action", type=click.Choice(["publish", "reveal"]))
def seeds(action: str) -> None:
    at = now()
    if action == "publish":
        _sync_all()
        for c in draws.publish_commitments(db.session, at):
            click.echo(f"{c.brand}/{c.reward_id} {c.day.isoformat()} sha256 {c.commitment}")
    else:
        for c in draws.reveal_seeds(db.session, at):
            click.echo(f"{c.brand}/{c.reward_id} {c.day.isoformat()} seed {c.seed} "
                       f"(sha256 {c.commitment})")
    db.session.commit()



