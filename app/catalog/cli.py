"""``brands create|list`` and ``products import``: thin wrappers over the catalogue services."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from app.catalog.brands import BrandInput, brand_for_import, create_brand, list_brands
from app.catalog.products import ProductsRejected, import_products, read_products_file, row_gtin
from app.catalog.themes import THEME_FILE, brand_assets, look_problems
from app.core.db import db
from app.core.errors import DomainError

brands_group = AppGroup("brands", help="Brands: create one, list them, check their look.")
products_group = AppGroup("products", help="A brand's products (catalogue).")


@brands_group.command("create", help="Create the brand SLUG (lowercase letters, digits, '-').")
@click.argument("slug")
@click.option("--name", required=True, help="The brand's name as customers see it.")
@click.option("--timezone", default="UTC", show_default=True,
              help="IANA time zone, e.g. Europe/Zurich.")
@click.option("--locale", default="en", show_default=True, help="Language, e.g. en or fr-FR.")
@click.option("--market", help="Home market, ISO 3166 two-letter code, e.g. CH.")
def brands_create(slug: str, name: str, timezone: str, locale: str, market: str | None) -> None:
    session = db.session
    try:
        brand = create_brand(session, BrandInput(slug, name, timezone, locale, market))
    except DomainError as exc:
        session.rollback()
        raise click.ClickException(exc.message) from None
    session.commit()
    click.echo(f"brand {brand.slug} created ({brand.name}, {brand.timezone}, {brand.locale}"
               f"{', ' + brand.market if brand.market else ''})")


@brands_group.command("list", help="List the brands and how many products each has.")
def brands_list() -> None:
    brands = list_brands(db.session)
    if not brands:
        click.echo("no brand yet: create one with `flask brands create SLUG --name NAME`")
    for b in brands:
        click.echo(f"{b.slug}\t{b.name}\t{b.timezone}\t{b.locale}\t{b.market or '-'}\t"
                   f"{b.products} product(s)")


@brands_group.command("check-theme", help="Check the brand's look (theme.yaml, logo, fonts, "
                                           "contrast) in its asset folder.")
@click.argument("slug")
def brands_check_theme(slug: str) -> None:
    folder = brand_assets(current_app.config, slug)
    if not (folder / THEME_FILE).is_file():
        raise click.ClickException(f"{folder / THEME_FILE} does not exist: the brand's pages "
                                   "use the default look")
    problems = look_problems(current_app.config, slug)
    for line in problems:
        click.echo(line)
    if problems:
        raise SystemExit(1)
    click.echo(f"{folder}: ok")


@products_group.command("import", help="Create or update products from a CSV or JSON file "
                                       "(docs/onboarding.md lists the fields).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--brand", "brand_slug",
              help="Brand slug; needed unless every product in the file is already one brand's.")
def products_import(file: Path, brand_slug: str | None) -> None:
    session = db.session
    try:
        rows = read_products_file(file)
        brand = brand_for_import(
            session, brand_slug, [g for _, fields in rows if (g := row_gtin(fields))]
        )
        summary = import_products(session, current_app.config, brand, rows)
    except ProductsRejected as exc:
        session.rollback()
        for line, message in exc.problems:
            click.echo(f"{file}:{line}: {message}", err=True)
        raise click.ClickException(
            f"nothing imported: {len(exc.problems)} problem(s); fix them and import again"
        ) from None
    except DomainError as exc:
        session.rollback()
        raise click.ClickException(exc.message) from None
    session.commit()
    click.echo(f"{brand.slug}: {summary.created} product(s) created, {summary.updated} updated, "
               f"{summary.unchanged} unchanged")
