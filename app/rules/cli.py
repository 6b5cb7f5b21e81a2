"""``journeys validate | simulate | test``: the marketer's tools, thin over ``app.rules.tools``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from app.core.clock import now, utc
from app.core.db import db
from app.journeys.vocabulary import complete_fact
from app.rules.service import Ruleset, decide, explain_fact, template_names
from app.rules.tools import (
    format_explanation,
    item_fact,
    parse_fact_assignments,
    run_ruleset_tests,
    validate_files,
)
from app.verify.service import TagNotFound, find_tag

journeys_group = AppGroup("journeys", help="Journeys: validate, simulate and test rulesets.")


def _templates() -> tuple[set[str], set[str]]:
    templates_dir = Path(current_app.root_path).parent / "templates"
    return template_names("experiences", templates_dir), template_names("messages", templates_dir)


def _paths(paths: tuple[Path, ...]) -> list[Path]:
    return list(paths) or [Path(current_app.config["RULESETS_DIR"])]


@journeys_group.command("validate", help="Check rulesets; print every problem as FILE:LINE:COL.")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def validate(paths: tuple[Path, ...]) -> None:
    reports = validate_files(_paths(paths), *_templates())
    failed = 0
    for report in reports:
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
@click.option("--at", "at", help="With --item: the moment of the tap (ISO date or datetime).")
@click.option("--as", "as_", type=click.Choice(["owner", "visitor"]),
              help="With --item: who is tapping.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def simulate(ruleset: str, facts: tuple[str, ...], serial: str | None, at: str | None,
             as_: str | None, as_json: bool) -> None:
    rs = _load_one(ruleset)
    try:
        given = parse_fact_assignments(facts)
        moment = _parse_at(at) if at else now()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    base: dict[str, object] = {}
    if serial:
        try:
            tag = find_tag(db.session, serial)
        except TagNotFound as exc:
            raise click.ClickException(str(exc)) from None
        base = item_fact(tag, moment, as_)
    fact = complete_fact({**base, **given}, rs.doc.reward_ids)
    decision = decide(rs, fact)
    rows = explain_fact(rs, fact)
    if as_json:
        click.echo(json.dumps({
            "ruleset": rs.version,
            "decision": asdict(decision) if decision else None,
            "fact": fact,
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


def _parse_at(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--at {text!r}: write a date like 2026-12-24 or 2026-12-24T18:30") \
            from None
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
