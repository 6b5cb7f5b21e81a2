"""``journeys validate | simulate | test | publish | versions | rollback | replay``: the
marketer's tools, thin over ``app.rules.tools`` and ``app.rules.versions``."""

from __future__ import annotations

import getpass
import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import AppGroup

from app.catalog.themes import look_problems
from app.core.clock import now, utc
from app.core.db import db
from app.core.errors import DomainError
from app.journeys.facts import AT_KEY
from app.journeys.language.checks.content import label_problems
from app.journeys.vocabulary import complete_fact
from app.rules.service import (
    Ruleset,
    RulesetError,
    decide,
    explain_fact,
    localise,
    template_names,
)
from app.rules.tools import (
    brand_catalogue,
    catalogue_problems,
    format_explanation,
    item_fact,
    parse_fact_assignments,
    product_contents,
    product_media_line,
    run_ruleset_tests,
    validate_files,
)
from app.rules.versions import (
    PublishRefused,
    check_brand,
    known_brands_or_none,
    list_versions,
    publish,
    replay,
    report_lines,
    rollback,
)
from app.verify.models import Tag
from app.verify.service import TagNotFound, find_tag

journeys_group = AppGroup(
    "journeys", help="Journeys: validate, simulate, test, publish and replay rulesets.")


def _templates() -> tuple[set[str], set[str]]:
    templates_dir = Path(current_app.root_path).parent / "templates"
    return template_names("experiences", templates_dir), template_names("messages", templates_dir)


def _paths(paths: tuple[Path, ...]) -> list[Path]:
    return list(paths) or [Path(current_app.config["RULESETS_DIR"])]


@journeys_group.command("validate", help="Check rulesets; print every problem as FILE:LINE:COL.")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def validate(paths: tuple[Path, ...]) -> None:
    reports = validate_files(_paths(paths), *_templates())
    brands = _brands()
    if brands is None:
        click.echo("(brands not checked: the database cannot be read; publish checks them)")
        click.echo("(product categories and GTINs not checked either: they come from the "
                   "database)")
    failed = 0
    for report in reports:
        problem = _brand_problem(report.ruleset, report.path, brands)
        if problem:
            failed += 1
            click.echo(problem)
            continue
        if report.ruleset is not None and brands is not None:
            catalogue = brand_catalogue(db.session, report.ruleset.brand)
            if catalogue is None:
                click.echo(f"({report.ruleset.brand} has no products yet: product categories "
                           "and GTINs not checked)")
            elif problems := catalogue_problems(report.ruleset, catalogue):
                failed += 1
                for line in problems:
                    click.echo(line)
                continue
        if report.ruleset is not None and (unlabelled := label_problems(report.ruleset.doc)):
            # A prize people can win needs the brand's words for it, never its identifier.
            failed += 1
            for line in unlabelled:
                click.echo(line)
            continue
        if report.ruleset is not None and (look := look_problems(
                current_app.config, report.ruleset.brand,
                [*((j.id, j.content) for j in report.ruleset.journeys),
                 *product_contents(report.ruleset.doc)])):
            # The brand's theme and the films its journeys name (app.catalog.themes).
            failed += 1
            for line in look:
                click.echo(product_media_line(line))
            continue
        if report.ruleset is None:
            failed += 1
            for line in report.problems:
                click.echo(line)
        else:
            click.echo(f"{report.path}: ok ({len(report.ruleset.journeys)} journeys, "
                       f"{len(report.ruleset.doc.tests)} tests)")
    if not reports:
        raise click.ClickException("no ruleset files found")
    if failed:
        raise SystemExit(1)


def _brands() -> set[str] | None:
    url = str(current_app.config["DATABASE_URL"])
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None  # a fresh clone: do not create an empty database file by asking
    return known_brands_or_none(db.session)


def _brand_problem(ruleset: Ruleset | None, path: str, brands: set[str] | None) -> str | None:
    if ruleset is None or brands is None:
        return None
    try:
        check_brand(ruleset, Path(path).read_text(encoding="utf-8"), brands)
    except RulesetError as exc:
        return str(exc)
    return None


def _load_one(ruleset: str) -> Ruleset:
    path = Path(ruleset)
    if not path.exists():
        candidate = Path(current_app.config["RULESETS_DIR"]) / f"{ruleset}.yaml"
        if not candidate.exists():
            raise click.ClickException(f"no ruleset file {ruleset!r} (nor {candidate})")
        path = candidate
    (report,) = validate_files([path], *_templates())
    if report.ruleset is None:
        for line in report.problems:
            click.echo(line, err=True)
        raise click.ClickException(f"{path} does not validate")
    return report.ruleset


@journeys_group.command("simulate", help="Decide a fact and explain the decision.")
@click.argument("ruleset")
@click.option("--fact", "facts", multiple=True, metavar="PATH=VALUE",
              help="Set one fact, e.g. ownership.days=80 (repeatable).")
@click.option("--item", "serial", help="Start from this tagged item's real state.")
@click.option("--at", "at", help="The moment of the tap, in the ruleset's time zone unless an "
              "offset is given: a date (its midnight) or a date and time, e.g. 2026-12-24T18:30. "
              "Every date and count of days is taken then. Default: now.")
@click.option("--as", "as_", type=click.Choice(["owner", "stranger", "new-owner", "visitor"]),
              help="With --item: who is tapping: the owner at that moment, a stranger (a "
              "phone with no owner cookie; 'visitor' is the same), or a new owner (who has just "
              "become the owner: day 0, the next ordinal). Default: stranger.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def simulate(ruleset: str, facts: tuple[str, ...], serial: str | None, at: str | None,
             as_: str | None, as_json: bool) -> None:
    rs = _load_one(ruleset)
    try:
        given = parse_fact_assignments(facts)
        moment = _parse_at(at, rs.doc.timezone) if at else now()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    base: dict[str, object] = {AT_KEY: moment}
    if serial:
        try:
            tag = find_tag(db.session, serial)
        except TagNotFound as exc:
            raise click.ClickException(str(exc)) from None
        base.update(_item_fact(rs, tag, moment, as_))
    # The moment's dates in the ruleset's time zone; a --fact still says otherwise.
    fact = {**localise(complete_fact(base, rs.doc.reward_ids), rs.doc.timezone), **given}
    decision = decide(rs, fact)
    rows = explain_fact(rs, fact)
    if as_json:
        click.echo(json.dumps({
            "ruleset": rs.version,
            "decision": asdict(decision) if decision else None,
            "fact": {k: v for k, v in fact.items() if not k.startswith("_")},
            "explanation": [asdict(r) for r in rows],
        }, indent=2, default=str))
        return
    if decision:
        click.echo(f"journey: {decision.journey}  experience: {decision.experience}"
                   + (f"  reward: {decision.reward}" if decision.reward else ""))
    else:
        click.echo("no journey matches: the built-in page for the verdict is shown")
    click.echo(f"ruleset: {rs.version}")
    click.echo("why:")
    for line in format_explanation(rows):
        click.echo(line)


def _item_fact(rs: Ruleset, tag: Tag, moment: datetime, as_: str | None) -> dict[str, object]:
    """The fact a tap of ``tag``'s item at ``moment`` by ``as_`` would be built on, from the
    item's real state then (``app.tap.simulate``, registered by the tap package)."""
    brand = tag.item.product.brand.slug
    if brand != rs.brand:
        raise click.ClickException(
            f"{tag.item.serial} is an item of {brand}; this ruleset decides {rs.brand}'s taps")
    simulate_tap = current_app.extensions.get("aftertap.simulate_tap")
    if simulate_tap is None:  # an app built without the tap package
        return item_fact(tag, moment, "visitor" if as_ == "stranger" else as_)
    try:
        fact: dict[str, object] = simulate_tap(
            db.session, rs, tag, moment, "stranger" if as_ in (None, "visitor") else as_).fact
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    return fact


def _parse_at(text: str, timezone: str) -> datetime:
    """Return the moment ``text`` names, in UTC; without an offset it is in ``timezone``."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--at {text!r}: write a date like 2026-12-24 or 2026-12-24T18:30") \
            from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return utc(moment)


@journeys_group.command("test", help="Run every ruleset's own tests.")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def test(paths: tuple[Path, ...]) -> None:
    reports = validate_files(_paths(paths), *_templates())
    failed = passed = 0
    for report in reports:
        if report.ruleset is None:
            failed += 1
            for line in report.problems:
                click.echo(line)
            continue
        for outcome in run_ruleset_tests(report.ruleset):
            if outcome.passed:
                passed += 1
                click.echo(f"PASS {report.path}:{outcome.line}: {outcome.name}")
                continue
            failed += 1
            click.echo(f"FAIL {report.path}:{outcome.line}: {outcome.name}")
            click.echo(f"  expected: {_fmt(outcome.expected)}")
            click.echo(f"  actual:   {_fmt({k: outcome.actual[k] for k in outcome.expected})}")
            for line in format_explanation(outcome.explanation):
                click.echo(line)
    click.echo(f"{passed} passed, {failed} failed")
    if failed:
        raise SystemExit(1)


def _fmt(values: Mapping[str, object]) -> str:
    return ", ".join(f"{k} {v if v is not None else '(none)'}" for k, v in values.items())


def _author(author: str | None) -> str:
    if author:
        return author
    try:
        return f"{getpass.getuser()} (cli)"
    except (KeyError, OSError):
        return "cli"


@journeys_group.command("publish", help="Validate, test and publish rulesets as new live "
                                       "versions; every server switches within seconds.")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--author", help="Who publishes (default: this system user).")
@click.option("--skip-invalid", is_flag=True,
              help="Report files that are refused and go on, exiting 0 (make run).")
def publish_command(paths: tuple[Path, ...], author: str | None, skip_invalid: bool) -> None:
    files = [p for p in _paths(paths)]
    expanded = [f for p in files for f in (sorted(p.glob("*.yaml")) if p.is_dir() else [p])]
    if not expanded:
        raise click.ClickException("no ruleset files found")
    refused = 0
    for path in expanded:
        try:
            text = path.read_text(encoding="utf-8")
            result = publish(db.session, text, path.name, author=_author(author), at=now(),
                             experiences=_templates()[0], messages=_templates()[1])
            db.session.commit()
        except PublishRefused as exc:
            db.session.rollback()
            refused += 1
            click.echo(f"{path}: refused, not published ({exc.message}):", err=True)
            for line in exc.problems:
                click.echo(f"  {line}", err=True)
            continue
        except (OSError, UnicodeDecodeError) as exc:
            refused += 1
            click.echo(f"{path}: cannot read the file: {exc}", err=True)
            continue
        if result.created:
            click.echo(f"{path}: published {result.brand} version {result.id} ({result.digest})")
            if result.diff:
                click.echo(result.diff.rstrip("\n"))
        else:
            click.echo(f"{path}: unchanged, {result.brand} version {result.id} stays live")
    if refused and not skip_invalid:
        raise SystemExit(1)


@journeys_group.command("versions", help="List a brand's published versions, newest first.")
@click.argument("brand")
@click.option("--diff", "show_diff", is_flag=True, help="Show each version's diff.")
def versions_command(brand: str, show_diff: bool) -> None:
    rows = list_versions(db.session, brand)
    if not rows:
        raise click.ClickException(f"{brand} has no published ruleset version")
    for i, row in enumerate(rows):
        live = "  LIVE" if i == 0 else ""
        note = f"  ({row.note})" if row.note else ""
        click.echo(f"{row.id:>5}  {row.created_at:%Y-%m-%d %H:%M}  {row.author}  {row.source}  "
                   f"{row.digest}{note}{live}")
        if show_diff and row.diff:
            click.echo(row.diff.rstrip("\n"))


@journeys_group.command("rollback", help="Publish an old version's text again, as a new "
                                        "version (checked and tested again).")
@click.argument("brand")
@click.argument("version", type=int)
@click.option("--author", help="Who rolls back (default: this system user).")
def rollback_command(brand: str, version: int, author: str | None) -> None:
    try:
        result = rollback(db.session, brand, version, author=_author(author), at=now(),
                          experiences=_templates()[0], messages=_templates()[1])
        db.session.commit()
    except PublishRefused as exc:
        db.session.rollback()
        for line in exc.problems:
            click.echo(line, err=True)
        raise click.ClickException(f"version {version} cannot go live again: {exc.message}") \
            from None
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{brand}: version {result.id} published (the text of version {version}); live")


@journeys_group.command("replay", help="What if: re-decide the recorded taps of the last days "
                                      "with a draft, and count the journeys that would change.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True)
def replay_command(path: Path, days: int) -> None:
    rs = _load_one(str(path))
    report = replay(db.session, rs, now() - timedelta(days=days))
    for line in report_lines(report):
        click.echo(line)
