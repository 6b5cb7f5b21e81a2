"""The syntax tree's problems and the language's words."""

from __future__ import annotations

from app.journeys.language import ACTIONS, Problem, RulesetInvalid


def test_actions_registry() -> None:
    assert set(ACTIONS) == {
        "claim_ownership", "confirm_ownership", "activate_warranty", "record_signal",
        "offer_service", "start_transfer",
    }


def test_problem_format() -> None:
    assert str(Problem("r.yaml", 3, 7, "oops")) == "r.yaml:3:7: oops"
    error = RulesetInvalid([Problem("a", 1, 2, "x"), Problem("a", 3, 4, "y")])
    assert str(error) == "a:1:2: x\na:3:4: y"
    assert len(error.problems) == 2
