"""Parsing a ruleset: compose the YAML, run every section's check, then raise or give the document.

The checks report into one ``Context``. Once the text is a readable mapping, nothing is raised
before every section has been checked, so the marketer sees every problem of the file at once.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from yaml.nodes import MappingNode

from app.journeys.language.checks.document import check_header
from app.journeys.language.checks.guardrails import check_guardrails
from app.journeys.language.checks.journeys import check_journeys
from app.journeys.language.checks.points import check_points
from app.journeys.language.checks.priorities import check_priorities
from app.journeys.language.checks.products import check_products
from app.journeys.language.checks.rewards import check_rewards
from app.journeys.language.checks.schedules import check_schedules
from app.journeys.language.checks.shapes import entries, required
from app.journeys.language.checks.tests import check_tests
from app.journeys.language.context import Context
from app.journeys.language.syntax import RulesetDoc
from app.journeys.language.words import ACTIONS, TOP_FIELDS
from app.journeys.language.yamlnodes import UnreadableYaml, compose, cycle, show


def parse_ruleset_text(
    text: str,
    source: str,
    *,
    experiences: Collection[str],
    messages: Collection[str],
    actions: Collection[str] = ACTIONS,
) -> RulesetDoc:
    """Parse and check one ruleset file's text.

    ``experiences`` and ``messages`` are the template names that exist (under
    ``templates/experiences`` and ``templates/messages``); ``actions`` the names ``do`` may use.

    Raises:
        RulesetInvalid: with every problem found, in line order.
    """
    ctx = Context(source, set(experiences), set(messages), set(actions))
    root = _root(ctx, text)
    top = entries(ctx, root, None, TOP_FIELDS, what="section")
    required(ctx, root, top, ("brand", "journeys"), None)

    # Order matters: rewards make their ids known to journeys, conditions and tests; journeys make
    # theirs known to tests. Problems at the same line and column are listed in this order too.
    header = check_header(ctx, top)
    ctx.timezone = header.timezone
    ctx.locales = header.locales
    guardrails = check_guardrails(ctx, top.get("guardrails"))
    rewards = check_rewards(ctx, top.get("rewards"))
    points = check_points(ctx, top.get("points"))
    journeys = check_journeys(ctx, top.get("journeys"))
    schedules = check_schedules(ctx, top.get("schedules"))
    tests = check_tests(ctx, top.get("tests"))
    products = check_products(ctx, top.get("products"))
    check_priorities(ctx, journeys)
    ctx.fail_if_problems()

    ordered = sorted(journeys, key=lambda j: (-j.doc.priority, j.order))
    return RulesetDoc(
        source=source,
        brand=header.brand,
        title=header.title,
        timezone=header.timezone,
        locale=header.locale,
        guardrails=guardrails,
        journeys=tuple(j.doc for j in ordered),
        rewards=rewards,
        schedules=schedules,
        tests=tests,
        points=points,
        locales=header.locales,
        products=products,
    )


def parse_ruleset_file(
    path: Path | str,
    *,
    experiences: Collection[str],
    messages: Collection[str],
    actions: Collection[str] = ACTIONS,
) -> RulesetDoc:
    """Read and parse the ruleset at ``path``; problems name the file as given.

    Raises:
        RulesetInvalid: with every problem found, in line order.
    """
    text = Path(path).read_text(encoding="utf-8")
    return parse_ruleset_text(
        text, str(path), experiences=experiences, messages=messages, actions=actions
    )


def _root(ctx: Context, text: str) -> MappingNode:
    """Return the document's top-level mapping.

    Raises:
        RulesetInvalid: the text is not YAML, is empty, loops through an alias, or is not a
            mapping; nothing else can be checked then.
    """
    try:
        root = compose(text)
    except UnreadableYaml as exc:
        ctx.fatal(exc.where, exc.message)
    if root is None:
        ctx.fatal((1, 1), "the file is empty: a ruleset needs 'brand' and 'journeys'")
    looped = cycle(root)
    if looped is not None:
        ctx.fatal(looped, "an alias (*name) refers to the block it is in: it never ends")
    if not isinstance(root, MappingNode):
        ctx.fatal(root, f"a ruleset is a mapping with 'brand' and 'journeys', not {show(root)}")
    return root
