"""The marketer's journey language: parse and check a ruleset, each problem at FILE:LINE:COLUMN.

A ruleset is YAML. It is composed into nodes (which keep their line and column), checked field by
field against the fact vocabulary (``app.journeys.vocabulary``), the templates and actions that
exist, and the ruleset's own rewards; then journeys are checked against each other (priority ties,
journeys that can never be chosen). Every problem is collected; a ruleset with any problem raises
``RulesetInvalid`` listing them all in line order, and one without gives a typed ``RulesetDoc``.

Conditions become trees of ``Condition`` leaves and ``Group`` nodes (all / any / not), the shape
``app.rules.compiler.compile_tree`` and ``app.rules.explain`` consume. Durations are normalised to
whole days, ``between`` to a ``(low, high)`` tuple, ``in`` / ``not_in`` to tuples.

Pure Python: no Flask, no database, no rules engine.

The modules:

- ``words``: the language's words (sections, fields, actions, operators, patterns);
- ``syntax``: the typed tree a ruleset parses to, and ``Problem`` / ``RulesetInvalid``;
- ``parser``: the entry points, which run the section checks of ``checks`` over the YAML nodes
  (``yamlnodes``), collecting problems in a ``context.Context``;
- ``conditions``: what conditions mean (``holds``, ``implies``, ...) and back to YAML data;
- ``cron``: cron expressions and time zones;
- ``schema``: the JSON Schema of a ruleset file for editors.

This package re-exports the names code outside it uses.
"""

from app.journeys.language.conditions import (
    condition_data,
    covers,
    disjoint,
    exclusive,
    holds,
    implies,
    journey_when,
    leaf_holds,
    when_data,
    window_conditions,
)
from app.journeys.language.parser import parse_ruleset_file, parse_ruleset_text
from app.journeys.language.schema import ruleset_json_schema
from app.journeys.language.syntax import (
    CatalogueItemDoc,
    Condition,
    Group,
    Guardrails,
    JourneyDoc,
    LimitDoc,
    PointsDoc,
    PointsWorth,
    PrizeDoc,
    Problem,
    QuietHours,
    Rate,
    RewardDoc,
    RulesetDoc,
    RulesetInvalid,
    ScheduleDoc,
    TestCase,
    Window,
)
from app.journeys.language.words import (
    ACTIONS,
    CHANNELS,
    CONSOLATION_FIELDS,
    CRON_RE,
    DURATION_RE,
    EXPECT_FIELDS,
    GROUPS,
    GUARDRAIL_FIELDS,
    HOLDOUT_RE,
    ID_RE,
    JOURNEY_FIELDS,
    LIMIT_FIELDS,
    LOCALE_RE,
    MECHANICS,
    NAME_RE,
    OPERATORS,
    PRIZE_FIELDS,
    QUIET_HOURS_FIELDS,
    RATE_FIELDS,
    REWARD_FIELDS,
    SCHEDULE_FIELDS,
    TEST_FIELDS,
    TIME_RE,
    TOP_FIELDS,
)

__all__ = [
    "ACTIONS",
    "CHANNELS",
    "CONSOLATION_FIELDS",
    "CRON_RE",
    "DURATION_RE",
    "EXPECT_FIELDS",
    "GROUPS",
    "GUARDRAIL_FIELDS",
    "HOLDOUT_RE",
    "ID_RE",
    "JOURNEY_FIELDS",
    "LIMIT_FIELDS",
    "LOCALE_RE",
    "MECHANICS",
    "NAME_RE",
    "OPERATORS",
    "PRIZE_FIELDS",
    "QUIET_HOURS_FIELDS",
    "RATE_FIELDS",
    "REWARD_FIELDS",
    "SCHEDULE_FIELDS",
    "TEST_FIELDS",
    "TIME_RE",
    "TOP_FIELDS",
    "CatalogueItemDoc",
    "Condition",
    "Group",
    "Guardrails",
    "JourneyDoc",
    "LimitDoc",
    "PointsDoc",
    "PointsWorth",
    "PrizeDoc",
    "Problem",
    "QuietHours",
    "Rate",
    "RewardDoc",
    "RulesetDoc",
    "RulesetInvalid",
    "ScheduleDoc",
    "TestCase",
    "Window",
    "condition_data",
    "covers",
    "disjoint",
    "exclusive",
    "holds",
    "implies",
    "journey_when",
    "leaf_holds",
    "parse_ruleset_file",
    "parse_ruleset_text",
    "ruleset_json_schema",
    "when_data",
    "window_conditions",
]
