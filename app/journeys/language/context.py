"""The state one parse shares between its section checks: what exists, and the problems found."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn

from yaml.nodes import Node

from app.journeys.language.syntax import Problem, RulesetInvalid
from app.journeys.language.yamlnodes import mark


@dataclass
class Context:
    """What the checks of one ruleset file know and find.

    The section checks are functions that take this and report into it, so every problem of the
    file is collected before anything is raised.
    """

    source: str
    experiences: set[str]  # template names under templates/experiences
    messages: set[str]  # template names under templates/messages
    actions: set[str]  # names ``do`` may use
    problems: list[Problem] = field(default_factory=list)
    # The ruleset's own reward ids, known before journeys, conditions and tests refer to them.
    reward_ids: tuple[str, ...] = ()
    journey_ids: set[str] = field(default_factory=set)  # every well-formed id, even of a faulty one
    # The ruleset's time zone, known before journeys read their ``from`` / ``until`` in it.
    timezone: str = "UTC"
    # The locales its words are written in, the first the default (known before any text).
    locales: tuple[str, ...] = ()

    def problem(self, where: Node | tuple[int, int], message: str) -> None:
        """Report a problem at a node, or at a (line, column)."""
        line, column = mark(where) if isinstance(where, Node) else where
        self.problems.append(Problem(self.source, line, column, message))

    def fail_if_problems(self) -> None:
        """Raise every problem found so far, in line order."""
        if self.problems:
            raise RulesetInvalid(self._in_line_order())

    def fatal(self, where: Node | tuple[int, int], message: str) -> NoReturn:
        """Report a problem after which nothing else can be checked, and raise them all."""
        self.problem(where, message)
        raise RulesetInvalid(self._in_line_order())

    def _in_line_order(self) -> list[Problem]:
        # A stable sort: problems at the same line and column stay in the order they were found.
        return sorted(self.problems, key=lambda p: (p.line, p.column))
