"""docs/ruleset.schema.json: generated from the language, valid, and in step with the checker."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from app.journeys import vocabulary
from app.journeys.language import RulesetInvalid, parse_ruleset_text, ruleset_json_schema

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCHEMA_PATH = REPO / "docs" / "ruleset.schema.json"
EXAMPLE = yaml.safe_load((HERE / "ruleset-shape.yaml").read_text(encoding="utf-8"))
EXPERIENCES = {
    "not_verified", "unboxing", "new_owner", "authenticity", "refill", "review", "service",
    "owner_film", "care",
}
MESSAGES = {"refill_email", "win_back_email"}


def schema_text() -> str:
    return json.dumps(ruleset_json_schema(), indent=2) + "\n"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def test_schema_file_is_up_to_date() -> None:
    """Regenerate with: python -c 'import tests.journeys.test_schema as t; t.write()'."""
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text()


def write() -> None:
    SCHEMA_PATH.write_text(schema_text(), encoding="utf-8")


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_knows_every_fact() -> None:
    schema = ruleset_json_schema()
    assert schema["$defs"]["factPath"]["anyOf"][0]["enum"] == list(vocabulary.FACTS)
    properties = schema["$defs"]["conditions"]["properties"]
    assert set(properties) == {"any", "all", "not", *vocabulary.FACTS}


@pytest.mark.parametrize(
    "path",
    [HERE / "ruleset-shape.yaml", *sorted((REPO / "rulesets").glob("*.yaml"))],
    ids=lambda p: p.name,
)
def test_rulesets_validate(validator: jsonschema.Draft202012Validator, path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert [e.message for e in validator.iter_errors(data)] == []


def test_variations_the_language_allows_validate(
    validator: jsonschema.Draft202012Validator,
) -> None:
    data = copy.deepcopy(EXAMPLE)
    data["journeys"][-1]["when"] = None
    data["journeys"][0]["when"] = {
        "tap.verdict": {"not": {"in": ["genuine"]}},
        "tap.country": {"not_in": ["FR", "MC"]},
        "tap.weekday": {"in": ["sat", "sunday"]},
        "tap.local_hour": {"between": [9, 17]},
        "product.vintage": {"gte": 2010},
        "reward.welcome-points.available": True,
        "not": [{"owner.points": {"lt": 10}}, {"tap.tamper": {"exists": False}}],
        "all": {"ownership.days": {"gte": "6m"}, "item.market": "NO"},
    }
    data["schedules"][0]["channel"] = "sms"
    data["rewards"]["welcome-points"]["budget"] = 1000
    data["rewards"]["welcome-points"]["holdout"] = 12.5
    data["tests"][0]["expect"] = {"journey": None, "reward": None}
    data["tests"][0]["given"]["tap.tamper"] = None
    data["guardrails"]["points_expire_after"] = "365d"
    assert [e.message for e in validator.iter_errors(data)] == []
    # ...and the checker agrees.
    parse_ruleset_text(
        yaml.safe_dump(data, sort_keys=False), "r.yaml", experiences=EXPERIENCES,
        messages=MESSAGES,
    )


def _set(data: dict[str, Any], place: tuple[Any, ...], value: Any) -> None:
    for step in place[:-1]:
        data = data[step]
    if value is _DELETE:
        del data[place[-1]]
    else:
        data[place[-1]] = value


_DELETE = object()
INVALID = [
    ("missing brand", ("brand",), _DELETE),
    ("missing journeys", ("journeys",), _DELETE),
    ("empty journeys", ("journeys",), []),
    ("unknown section", ("jouneys",), []),
    ("brand not a slug", ("brand",), "Maison Aurelia"),
    ("journey id not a slug", ("journeys", 0, "id"), "Counterfeit_Warning"),
    ("journey without priority", ("journeys", 0, "priority"), _DELETE),
    ("journey without experience", ("journeys", 0, "experience"), _DELETE),
    ("priority not a number", ("journeys", 0, "priority"), "high"),
    ("unknown journey field", ("journeys", 0, "experiance"), "care"),
    ("unknown action", ("journeys", 1, "do"), ["claim_owner"]),
    ("unknown fact", ("journeys", 2, "when", "owner.is_curent"), True),
    ("value outside a closed set", ("journeys", 0, "when", "tap.verdict"), "genuin"),
    ("bad duration", ("journeys", 4, "when", "ownership.days"), {"gte": "soon"}),
    ("comparing text", ("journeys", 4, "when", "product.category"), {"gte": "serum"}),
    ("unknown operator", ("journeys", 4, "when", "ownership.days"), {"gtee": 3}),
    ("two operators", ("journeys", 4, "when", "ownership.days"), {"gte": 1, "lte": 5}),
    ("a list instead of in", ("journeys", 0, "when", "tap.verdict"), ["invalid", "revoked"]),
    ("empty any", ("journeys", 6, "when", "any"), []),
    ("bool given as text", ("journeys", 2, "when", "owner.is_current"), "yes please"),
    ("hour out of range", ("journeys", 2, "when", "tap.local_hour"), 24),
    ("bad country", ("journeys", 2, "when", "tap.country"), "France"),
    ("unknown reward field", ("rewards", "welcome-points", "limits"), {"per_item": 1}),
    ("unknown mechanic", ("rewards", "review-reveal", "mechanic"), "click_to_revel"),
    ("reward gives nothing", ("rewards", "welcome-points", "points"), _DELETE),
    ("prize without id", ("rewards", "review-reveal", "prizes", 0, "id"), _DELETE),
    ("bad code", ("rewards", "review-reveal", "prizes", 0, "code"), "typed"),
    ("bad holdout", ("rewards", "review-reveal", "holdout"), "ten percent"),
    ("unknown limit field", ("rewards", "review-reveal", "limit", "per_owners"), 1),
    ("cron with four fields", ("schedules", 0, "cron"), "0 9 * *"),
    ("unknown channel", ("schedules", 1, "channel"), ["email", "fax"]),
    ("schedule without message", ("schedules", 0, "message"), _DELETE),
    ("bad rate", ("guardrails", "rewards_per_owner"), {"max": 3}),
    ("bad quiet hours", ("guardrails", "quiet_hours", "to"), "25:00"),
    ("test with unknown fact", ("tests", 0, "given", "tap.verdit"), "genuine"),
    ("test without expect", ("tests", 0, "expect"), _DELETE),
    ("test expects an unknown field", ("tests", 0, "expect", "rewrd"), "x"),
]


@pytest.mark.parametrize(("rule", "place", "value"), INVALID, ids=[i[0] for i in INVALID])
def test_invalid_documents_are_refused_by_schema_and_checker(
    validator: jsonschema.Draft202012Validator, rule: str, place: tuple[Any, ...], value: Any
) -> None:
    data = copy.deepcopy(EXAMPLE)
    _set(data, place, value)
    assert list(validator.iter_errors(data)), f"the schema accepts: {rule}"
    with pytest.raises(RulesetInvalid):
        parse_ruleset_text(
            yaml.safe_dump(data, sort_keys=False), "r.yaml", experiences=EXPERIENCES,
            messages=MESSAGES,
        )
