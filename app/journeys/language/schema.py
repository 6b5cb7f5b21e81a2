"""The JSON Schema of a ruleset file (docs/ruleset.schema.json), for editors.

It gives editors completion and early warnings; the checks remain the authority (they also know
the templates, the actions and the ruleset's own rewards and journeys). It is built from the same
words and vocabulary as the checks, so the two move together; a test keeps the file in step.
"""

from __future__ import annotations

from typing import Any

from app.journeys import vocabulary
from app.journeys.language.words import (
    ACTIONS,
    BLOCKS,
    CHANNELS,
    COMPARATORS,
    CRON_RE,
    CTA_TARGETS,
    DATE_RE,
    DATETIME_RE,
    DURATION_RE,
    FULL_WEEKDAYS,
    LOCALE_RE,
    MECHANICS,
    NAME_RE,
    PRODUCT_WORDS_FIELDS,
    REQUIREMENTS,
    WORTH_RE,
)
from app.journeys.vocabulary import FactField


def _count() -> dict[str, Any]:
    """A whole number of times, 0 or more (a new dict each time: callers may change theirs)."""
    return {"type": "integer", "minimum": 0}


def ruleset_json_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of a ruleset file: docs/ruleset.schema.json."""
    # The definitions keep the order they have in the file.
    defs: dict[str, Any] = {
        "slug": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]*$"},
        "duration": {
            "description": "Days: a whole number, or 30d, 12w, 6m (30 days each), 1y (365 days).",
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": DURATION_RE},
            ],
        },
        "moment": {
            "description": "A date like 2026-12-01, or a date and time like 2026-12-01T09:00, "
            "in the ruleset's time zone.",
            "type": "string",
            "pattern": f"^(?:{DATE_RE.pattern}|{DATETIME_RE.pattern})$",
        },
        "text": {
            "description": "Words people read: text in the ruleset's first locale, or text per "
            "locale like {en: ..., fr: ...} giving every locale of 'locales'.",
            "anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "object", "minProperties": 1,
                 "propertyNames": {"pattern": "^" + LOCALE_RE.pattern + "$"},
                 "additionalProperties": {"type": "string", "minLength": 1}},
            ],
        },
        "content": _content_def(),
        **_condition_defs(),
        "journey": _journey_def(),
        **_reward_defs(),
        **_schedule_defs(),
        **_guardrail_defs(),
        "test": _test_def(),
    }
    for f in (*vocabulary.FACTS.values(), *vocabulary.WILDCARDS):
        defs[f"fact.{f.path}"] = _fact_condition_schema(f)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Aftertap ruleset",
        "description": "One brand's post-purchase journeys. See docs/journeys.md.",
        "type": "object",
        "required": ["brand", "journeys"],
        "additionalProperties": False,
        "properties": _top_properties(),
        "$defs": defs,
    }


def _condition_defs() -> dict[str, Any]:
    """Fact paths, conditions, groups of conditions and ``when``."""
    return {
        "factPath": {
            "description": "A fact a condition or a test may use.",
            "anyOf": [
                {"enum": list(vocabulary.FACTS)},
                {"type": "string", "pattern": "^" + vocabulary.PRODUCT_PATTERN.pattern + "$"},
                {"type": "string", "pattern": "^" + vocabulary.REWARD_PATTERN.pattern + "$"},
            ],
        },
        "conditions": {
            "description": "Conditions that must all hold: fact: value, or any / all / not.",
            "type": "object",
            "properties": {
                "any": {"$ref": "#/$defs/group", "description": "At least one of these holds."},
                "all": {"$ref": "#/$defs/group", "description": "Every one of these holds."},
                "not": {"$ref": "#/$defs/group", "description": "These do not all hold."},
                **{
                    path: {"$ref": f"#/$defs/fact.{path}", "description": f.doc}
                    for path, f in vocabulary.FACTS.items()
                },
            },
            "patternProperties": {
                "^" + vocabulary.PRODUCT_PATTERN.pattern + "$": {
                    "$ref": "#/$defs/fact.product.<name>"
                },
                "^" + vocabulary.REWARD_PATTERN.pattern + "$": {
                    "$ref": "#/$defs/fact.reward.<reward-id>.available"
                },
            },
            "additionalProperties": False,
        },
        "group": {
            "anyOf": [
                {
                    "type": "array",
                    "minItems": 1,
                    "items": {"$ref": "#/$defs/conditions", "minProperties": 1},
                },
                {"$ref": "#/$defs/conditions", "minProperties": 1},
            ]
        },
        "when": {
            "description": "When the journey applies; leave it out or write {} for always.",
            "anyOf": [{"type": "null"}, {"$ref": "#/$defs/conditions"}],
        },
    }


def _journey_def() -> dict[str, Any]:
    """One journey of the ``journeys`` list."""
    return {
        "type": "object",
        "required": ["id", "priority", "experience"],
        "additionalProperties": False,
        "properties": {
            "id": {"$ref": "#/$defs/slug"},
            "priority": {"type": "integer", "description": "Higher is tried first."},
            "from": {
                "$ref": "#/$defs/moment",
                "description": "First day (or moment) the journey runs, in the ruleset's "
                "time zone.",
            },
            "until": {
                "$ref": "#/$defs/moment",
                "description": "Last day the journey runs, included (or, with a time, the moment "
                "it stops), in the ruleset's time zone.",
            },
            "when": {"$ref": "#/$defs/when"},
            "do": {
                "type": "array",
                "items": {"enum": sorted(ACTIONS)},
                "description": "Actions carried out when this journey is chosen.",
            },
            "experience": {
                "type": "string",
                "description": "Template name under templates/experiences/.",
            },
            "content": {"$ref": "#/$defs/content"},
            "reward": {"$ref": "#/$defs/slug"},
            "signal": {"type": "string", "pattern": "^" + NAME_RE.pattern + "$"},
        },
    }


def _words() -> dict[str, Any]:
    """A reward's or prize's words: label, description and terms (Markdown for the last two)."""
    return {
        "label": {"$ref": "#/$defs/text", "description": "What people read it is called."},
        "description": {"$ref": "#/$defs/text", "description": "What it is (Markdown)."},
        "terms": {"$ref": "#/$defs/text", "description": "Its conditions (Markdown)."},
    }


def _content_def() -> dict[str, Any]:
    """A journey's content: its page's words, media and blocks."""
    text = {"$ref": "#/$defs/text"}
    file = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]*$"}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "heading": {**text, "description": "The page's heading."},
            "body": {**text, "description": "The page's text (Markdown, no raw HTML)."},
            "cta": {
                "type": "object", "required": ["label", "to"], "additionalProperties": False,
                "properties": {
                    "label": text,
                    "to": {"anyOf": [{"enum": list(CTA_TARGETS)},
                                     {"type": "string", "pattern": "^/(?!/)"}]},
                },
            },
            "media": {
                "type": "object", "required": ["alt"], "additionalProperties": False,
                "oneOf": [{"required": ["image"]}, {"required": ["video"]}],
                "properties": {"image": file, "video": file, "poster": file, "alt": text},
            },
            "blocks": {"type": "array", "minItems": 1, "uniqueItems": True,
                       "items": {"enum": list(BLOCKS)}},
            "note": {**text, "description": "A short closing line."},
            "title": text, "text": text, "film": file, "poster": file,
        },
    }


def _reward_defs() -> dict[str, Any]:
    """Prize codes, prizes and rewards."""
    return {
        "code": {
            "anyOf": [
                {"const": "generated"},
                {
                    "type": "object",
                    "required": ["list"],
                    "additionalProperties": False,
                    "properties": {"list": {"type": "string"}},
                },
                {"type": "null"},
            ]
        },
        "prize": {
            "type": "object",
            "required": ["id"],
            "additionalProperties": False,
            "properties": {
                "id": {"$ref": "#/$defs/slug"},
                "weight": {"type": "number", "exclusiveMinimum": 0},
                "stock": _count(),
                "code": {"$ref": "#/$defs/code"},
                "points": _count(),
                "min_plays": _count(),
                **_words(),
            },
        },
        "reward": {
            "type": "object",
            "additionalProperties": False,
            "anyOf": [{"required": ["points"]}, {"required": ["prizes"]}],
            "properties": {
                "points": _count(),
                "mechanic": {"enum": list(MECHANICS)},
                "prizes": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/prize"}},
                "consolation": {
                    "type": "object",
                    "required": ["id"],
                    "additionalProperties": False,
                    "properties": {
                        "id": {"$ref": "#/$defs/slug"},
                        "points": _count(),
                        "code": {"$ref": "#/$defs/code"},
                        **_words(),
                    },
                },
                "limit": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "per_item": _count(),
                        "per_owner": _count(),
                        "per_day": _count(),
                        "per": {"$ref": "#/$defs/duration"},
                    },
                },
                "expires": {"$ref": "#/$defs/duration"},
                "holdout": {
                    "anyOf": [
                        {"type": "number", "minimum": 0, "maximum": 100},
                        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*%\s*$"},
                    ]
                },
                "budget": {"type": "integer", "minimum": 1},
                **_words(),
                "requires": {
                    "anyOf": [
                        {"enum": list(REQUIREMENTS)},
                        {"type": "array", "minItems": 1, "items": {"enum": list(REQUIREMENTS)}},
                    ]
                },
            },
        },
    }


def _schedule_defs() -> dict[str, Any]:
    """Channels and schedules."""
    return {
        "channel": {"enum": list(CHANNELS)},
        "schedule": {
            "type": "object",
            "required": ["id", "cron", "message"],
            "additionalProperties": False,
            "properties": {
                "id": {"$ref": "#/$defs/slug"},
                "cron": {
                    "type": "string",
                    "pattern": CRON_RE,
                    "description": "minute hour day-of-month month weekday",
                },
                "when": {"$ref": "#/$defs/when"},
                "message": {
                    "type": "string",
                    "description": "Template name under templates/messages/.",
                },
                "channel": {
                    "anyOf": [
                        {"$ref": "#/$defs/channel"},
                        {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/channel"}},
                    ]
                },
                "reward": {
                    "$ref": "#/$defs/slug",
                    "description": "A reward of rewards: whose private link each message carries.",
                },
            },
        },
    }


def _guardrail_defs() -> dict[str, Any]:
    """Rates and times of the guardrails."""
    return {
        "rate": {
            "type": "object",
            "required": ["max", "per"],
            "additionalProperties": False,
            "properties": {"max": _count(), "per": {"$ref": "#/$defs/duration"}},
        },
        "time": {"type": "string", "pattern": r"^([01]?\d|2[0-3]):[0-5]\d$"},
    }


def _test_def() -> dict[str, Any]:
    """One test of the ``tests`` list."""
    return {
        "type": "object",
        "required": ["name", "given", "expect"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string"},
            "given": {
                "type": "object",
                "propertyNames": {"$ref": "#/$defs/factPath"},
                "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
            },
            "expect": {
                "type": "object",
                "required": ["journey"],
                "additionalProperties": False,
                "properties": {
                    "journey": {"anyOf": [{"$ref": "#/$defs/slug"}, {"type": "null"}]},
                    "experience": {"type": "string"},
                    "reward": {"anyOf": [{"$ref": "#/$defs/slug"}, {"type": "null"}]},
                },
            },
        },
    }


def _top_properties() -> dict[str, Any]:
    """The top-level sections."""
    return {
        "brand": {"$ref": "#/$defs/slug"},
        "title": {"type": "string"},
        "timezone": {"type": "string", "description": "Like Europe/Paris."},
        "locale": {"type": "string", "pattern": "^" + LOCALE_RE.pattern + "$"},
        "locales": {
            "type": "array", "minItems": 1, "uniqueItems": True,
            "items": {"type": "string", "pattern": "^" + LOCALE_RE.pattern + "$"},
            "description": "The languages the brand's words are written in; the first is the "
            "default.",
        },
        "guardrails": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {
                "rewards_per_owner": {"$ref": "#/$defs/rate"},
                "messages_per_owner": {"$ref": "#/$defs/rate"},
                "points_expire_after": {"$ref": "#/$defs/duration"},
                "quiet_hours": {
                    "type": "object",
                    "required": ["from", "to"],
                    "additionalProperties": False,
                    "properties": {
                        "from": {"$ref": "#/$defs/time"},
                        "to": {"$ref": "#/$defs/time"},
                    },
                },
            },
        },
        "journeys": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/journey"}},
        "rewards": {
            "type": ["object", "null"],
            "propertyNames": {"$ref": "#/$defs/slug"},
            "additionalProperties": {"$ref": "#/$defs/reward"},
        },
        "points": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {
                "worth": {"type": "string", "pattern": "^" + WORTH_RE.pattern + "$",
                          "description": "Like 100 points = 5 EUR."},
                "catalogue": {
                    "type": ["array", "null"],
                    "items": {
                        "type": "object",
                        "required": ["id", "label", "cost", "code"],
                        "additionalProperties": False,
                        "properties": {
                            "id": {"$ref": "#/$defs/slug"},
                            "label": _words()["label"],
                            "description": _words()["description"],
                            "cost": {"type": "integer", "minimum": 1},
                            "code": {"$ref": "#/$defs/code"},
                            "stock": _count(),
                            "budget": {"type": "integer", "minimum": 1},
                            "expires": {"$ref": "#/$defs/duration"},
                        },
                    },
                },
            },
        },
        "schedules": {"type": ["array", "null"], "items": {"$ref": "#/$defs/schedule"}},
        "tests": {"type": ["array", "null"], "items": {"$ref": "#/$defs/test"}},
        "products": {
            "type": ["object", "null"],
            "description": "Care guidance and owner-only content per product category, or per "
            "product (its GTIN, which wins over its category).",
            "additionalProperties": {
                "type": "object", "minProperties": 1, "additionalProperties": False,
                "properties": {part: {
                    "type": "object", "additionalProperties": False,
                    "properties": {"heading": {"$ref": "#/$defs/text"},
                                   "body": {"$ref": "#/$defs/text",
                                            "description": "Markdown, no raw HTML."},
                                   "media": {"$ref": "#/$defs/content/properties/media"}},
                } for part in PRODUCT_WORDS_FIELDS},
            },
        },
    }


def _fact_condition_schema(f: FactField) -> dict[str, Any]:
    """A fact's condition: a value (equals) or one operator."""
    value: dict[str, Any]
    number: dict[str, Any] | None = None
    if f.values is not None:
        extra = list(FULL_WEEKDAYS) if f.type == "weekday" else []
        value = {"enum": [*f.values, *extra]}
    elif f.type == "str":
        value = {"type": ["string", "number"]}
    elif f.type == "country":
        value = {"type": "string", "pattern": "^[A-Za-z]{2}$"}
    elif f.type == "bool":
        value = {"type": "boolean"}
    elif f.type == "days":
        value = number = {"$ref": "#/$defs/duration"}
    elif f.type == "hour":
        value = number = {"type": "integer", "minimum": 0, "maximum": 23}
    elif f.type == "month":
        value = number = {"type": "integer", "minimum": 1, "maximum": 12}
    elif f.type == "date":
        value = {"type": "string", "pattern": "^" + DATE_RE.pattern + "$"}
    elif f.type == "int":
        value = number = {"type": "integer"}
    else:  # any
        value = {"type": ["string", "number", "boolean"]}
        number = {"type": "number"}
    operators: dict[str, Any] = {
        "in": {"type": "array", "minItems": 1, "items": value},
        "not_in": {"type": "array", "minItems": 1, "items": value},
        "exists": {"type": "boolean"},
        "not": {"$ref": f"#/$defs/fact.{f.path}"},
    }
    if number is not None:
        operators.update({op: number for op in COMPARATORS})
        operators["between"] = {
            "type": "array", "minItems": 2, "maxItems": 2, "items": number,
        }
    return {
        "description": f.doc,
        "anyOf": [
            value,
            {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "additionalProperties": False,
                "properties": operators,
            },
        ],
    }
