"""``provenance verify|export|keys|rotate-key``: thin wrappers over the provenance services."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from app.catalog.models import Brand
from app.core import clock
from app.core.db import db
from app.core.errors import NotFound
from app.provenance import brand_keys
from app.provenance.keys import ProvenanceKeyError, rotate_brand_key
from app.provenance.records import get_record
from app.provenance.verification import (
    MAX_FILE_BYTES,
    PublicKeyError,
    describe,
    public_jwks,
    public_keys_from_text,
    signed_document,
    verify_document,
)

provenance_group = AppGroup(
    "provenance", help="Brand-signed provenance records for resale listings."
)


def read_public_keys(key_file: Path | None, key_url: str | None) -> dict[str, bytes]:
    """Return ``{key_id: raw public key}`` from a saved key file and/or a downloaded JWK set.

    Raises:
        click.ClickException: neither was given, or what was given holds no usable key.
    """
    if key_file is None and key_url is None:
        raise click.ClickException(
            "give --key-file (the saved /.well-known/aftertap-provenance-keys.json, or an "
            "Ed25519 public key PEM) or --key-url (the brand's published key set)"
        )
    keys: dict[str, bytes] = {}
    try:
        if key_file is not None:
            keys.update(public_keys_from_text(key_file.read_text(encoding="utf-8")))
        if key_url is not None:
            keys.update(public_keys_from_text(_download(key_url)))
    except PublicKeyError as exc:
        raise click.ClickException(f"public key: {exc}") from exc
    return keys


def _download(url: str) -> str:
    # urllib would also open file: and ftp: addresses; a key set is published over the web.
    if not url.startswith(("https://", "http://")):
        raise click.ClickException("--key-url must be an http(s) address")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            body: bytes = response.read(MAX_FILE_BYTES)
            return body.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot download {url}: {exc}") from exc


@provenance_group.command(
    "verify", help="Check an exported record offline with the brand's public key only."
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Saved key set (aftertap-provenance-keys.json) or an Ed25519 public key PEM.")
@click.option("--key-url", help="Download the key set from this address instead.")
def verify(file: Path, key_file: Path | None, key_url: str | None) -> None:
    keys = read_public_keys(key_file, key_url)
    result = verify_document(file.read_bytes(), keys, clock.now())
    if not result.ok:
        click.echo(f"INVALID: {result.reason}")
        raise SystemExit(1)
    assert result.record is not None
    click.echo(f"valid: {describe(result.record)}")
    click.echo("(signature and expiry checked offline; the record's public page says whether "
               "the brand has withdrawn it)")


@provenance_group.command("export", help="Write a record's signed file (for a resale listing).")
@click.argument("record_id")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File to write.")
def export(record_id: str, out: Path) -> None:
    try:
        record = get_record(db.session, record_id)
    except NotFound as exc:
        raise click.ClickException(exc.message) from exc
    # Indented for people; the signed text travels verbatim inside it, so layout cannot matter.
    out.write_text(json.dumps(signed_document(record), indent=2, ensure_ascii=False)
                   + "\n", encoding="utf-8")
    click.echo(f"wrote {out}")


@provenance_group.command("keys", help="Print the public key set to publish (JWK set): the "
                                         "house key and every brand's current and retired keys.")
def keys() -> None:
    click.echo(json.dumps(public_jwks(brand_keys(current_app).published()), indent=2))


@provenance_group.command("rotate-key", help="Give BRAND a new signing key; its previous key "
                                             "stays published as retired, so its records stay "
                                             "verifiable. Web processes switch within seconds.")
@click.argument("brand")
def rotate_key(brand: str) -> None:
    if db.session.scalar(select(Brand.id).where(Brand.slug == brand)) is None:
        raise click.ClickException(f"no brand {brand!r} (see `flask brands list`)")
    try:
        key = rotate_brand_key(Path(current_app.config["PROVENANCE_KEYS_DIR"]), brand)
    except ProvenanceKeyError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{brand} now signs with {key.key_id}")
