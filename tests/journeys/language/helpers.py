"""Shared by the journey-language tests: the registries they parse against, and short ways to
parse inline YAML and read its problems.

Each test writes its YAML inline; the expected line and column were counted by hand (1-based) and
point at the offending key or value.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.journeys.language import ACTIONS, Group, RulesetDoc, RulesetInvalid, parse_ruleset_text

JOURNEY_TESTS = Path(__file__).resolve().parents[1]
REPO = JOURNEY_TESTS.parents[1]
EXAMPLE_PATH = JOURNEY_TESTS / "ruleset-shape.yaml"
EXPERIENCES = {
    "page",
    "not_verified", "unboxing", "new_owner", "authenticity", "refill", "review", "service",
    "owner_film", "care",
}
MESSAGES = {"refill_email", "win_back_email"}


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump(data: Any, sort_keys: bool = True) -> str:
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=sort_keys)


def parse(text: str, source: str = "r.yaml") -> RulesetDoc:
    return parse_ruleset_text(
        textwrap.dedent(text), source, experiences=EXPERIENCES, messages=MESSAGES, actions=ACTIONS
    )


def problems(text: str) -> list[str]:
    with pytest.raises(RulesetInvalid) as info:
        parse(text)
    assert str(info.value) == "\n".join(str(p) for p in info.value.problems)
    return [str(p) for p in info.value.problems]


def one_problem(text: str) -> str:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


# A one-journey ruleset up to its ``when:``; the lines that follow are its conditions.
HEAD = "brand: b\njourneys:\n  - id: j\n    priority: 1\n    experience: care\n    when:\n"


def when_of(lines: str, extra: str = "") -> Group:
    doc = parse(HEAD + textwrap.indent(textwrap.dedent(lines), "      ") + extra)
    return doc.journeys[0].when


def journey_with(when_lines: str, extra: str = "") -> str:
    """A one-journey ruleset whose ``when`` lines start on line 7, column 7."""
    return HEAD + textwrap.indent(textwrap.dedent(when_lines), "      ") + extra
