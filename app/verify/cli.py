"""``tags import|tap|revoke``, ``taps prune`` and ``sun inspect``: thin wrappers over the verify
services."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from app.catalog.brands import brand_for_import
from app.catalog.models import Brand
from app.catalog.service import InvalidIdentifier, normalize_gtin
from app.core.clock import now
from app.core.db import db
from app.core.errors import DomainError
from app.verify import keyring, quicktap
from app.verify.keys import KeyFileError, KeyVersion, load_key_versions
from app.verify.mint import find_sim_tag, mint_url
from app.verify.service import (
    IMPORT_OPTIONAL,
    IMPORT_REQUIRED,
    ImportRejected,
    TagNotFound,
    find_tag,
    import_tags,
    prune_failed_taps,
)
from app.verify.sun import MalformedSun, SimulationNotAllowed, inspect, parse_tap_url

tags_group = AppGroup("tags", help="The tag registry.")
sun_group = AppGroup("sun", help="SUN messages (tap URLs).")
taps_group = AppGroup("taps", help="The tap log.")


def read_tag_csv(path: Path) -> list[tuple[int, dict[str, str]]]:
    """Return ``(line, row)`` pairs from a tag CSV.

    Raises:
        click.ClickException: the header lacks a required column or names an unknown one.
    """
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in IMPORT_REQUIRED if c not in header]
        unknown = [c for c in header if c not in IMPORT_REQUIRED + IMPORT_OPTIONAL]
        if missing or unknown:
            raise click.ClickException(
                f"{path}: line 1: header must have {', '.join(IMPORT_REQUIRED)} "
                f"(optional {', '.join(IMPORT_OPTIONAL)})"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(unknown)}" if unknown else "")
            )
        reader.fieldnames = header
        return [(reader.line_num, row) for row in reader]


def _brand(slug: str | None, rows: list[tuple[int, dict[str, str]]]) -> Brand:
    gtins = []
    for _, row in rows:
        try:
            gtins.append(normalize_gtin(row.get("gtin") or ""))
        except InvalidIdentifier:
            continue  # import_tags reports it with its line
    try:
        return brand_for_import(db.session, slug, gtins)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None


@tags_group.command("import", help="Register tags from a CSV: uid,gtin,serial,key_version[,...].")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--brand", "brand_slug",
              help="Brand slug; needed unless every product in the file is already one brand's.")
def tags_import(csv_file: Path, brand_slug: str | None) -> None:
    keys = keyring(current_app)
    rows = read_tag_csv(csv_file)
    session = db.session
    try:
        summary = import_tags(session, keys, _brand(brand_slug, rows), rows)
    except ImportRejected as exc:
        session.rollback()
        for line, message in exc.problems:
            click.echo(f"{csv_file}:{line}: {message}", err=True)
        raise click.ClickException(
            f"nothing imported: {len(exc.problems)} bad row(s); fix them and import again"
        ) from None
    session.commit()
    click.echo(
        f"{summary.created} tag(s) registered, {summary.unchanged} already registered, "
        f"{summary.products_created} product(s) created"
    )


@tags_group.command("tap", help=quicktap.HELP)
@quicktap.tap_options
def tags_tap(serial: str, gtin: str | None, mode: str, form: str, base_url: str | None) -> None:
    # aftertap-tap (app.verify.quicktap) is this command without building the app; both mint
    # with app.verify.mint.
    # Before the database: a missing keys file is the first thing to say.
    keys = keyring(current_app)
    session = db.session
    try:
        conn = session.connection()
        tag = find_sim_tag(conn, serial, gtin)
        url = mint_url(conn, keys, tag, base_url or current_app.config["PUBLIC_BASE_URL"],
                       mode=mode, form=form)
    except (TagNotFound, SimulationNotAllowed) as exc:
        raise click.ClickException(str(exc)) from None
    session.commit()
    click.echo(url)


@tags_group.command("revoke", help="Revoke the tag of SERIAL: its taps answer 'revoked'.")
@click.argument("serial")
@click.option("--gtin")
@click.option("--reason", default="revoked by brand", show_default=True)
def tags_revoke(serial: str, gtin: str | None, reason: str) -> None:
    session = db.session
    try:
        tag = find_tag(session, serial, gtin)
    except TagNotFound as exc:
        raise click.ClickException(str(exc)) from None
    tag.revoked_at = now()
    tag.revoked_reason = reason[:200]
    session.commit()
    click.echo(f"tag {tag.uid} revoked")


@sun_group.command("inspect", help="Decode and verify a tap URL against every key version (JSON).")
@click.argument("url")
@click.option("--keys-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Verify against this keys file instead of AFTERTAP_KEYS_FILE.")
def sun_inspect(url: str, keys_file: Path | None) -> None:
    """Malformed input is reported without any key; verifying needs the key versions."""
    versions: Mapping[str, KeyVersion]
    if keys_file is not None:
        try:
            versions = load_key_versions(keys_file)
        except KeyFileError as exc:
            raise click.ClickException(str(exc)) from None
    else:
        try:
            parse_tap_url(url)
        except MalformedSun:
            # Malformed: no key could change the answer, so none is needed to give it.
            versions = {}
        else:
            versions = keyring(current_app)
    result = inspect(url, versions.values())
    click.echo(json.dumps(result, indent=2))
    if not result["valid"]:
        raise SystemExit(1)


_DAYS = re.compile(r"^([1-9][0-9]{0,4})d?$")


def _days(_ctx: click.Context, _param: click.Parameter, value: str) -> int:
    """Return the whole days in ``90d`` (or ``90``).

    Raises:
        click.BadParameter: anything else, or zero days.
    """
    match = _DAYS.match(value.strip())
    if match is None:
        raise click.BadParameter(f"{value!r}: give whole days, e.g. 90d")
    return int(match.group(1))


@taps_group.command("prune", help="Delete failed taps' detail rows older than a retention; "
                                  "genuine taps and hourly counts are kept.")
@click.option("--older-than", "days", default="90d", show_default=True, callback=_days,
              help="Retention in days, e.g. 90d.")
def taps_prune(days: int) -> None:
    before = now() - timedelta(days=days)
    session = db.session
    deleted = prune_failed_taps(session, before)
    session.commit()
    click.echo(f"{deleted} failed tap detail row(s) before {before:%Y-%m-%d %H:%M} UTC deleted")
