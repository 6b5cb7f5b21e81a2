"""``GET /api/openapi.json``: the hand-written ``openapi.yaml`` served as JSON."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, Response, current_app
from flask.typing import ResponseReturnValue

bp = Blueprint("openapi", __name__)

SPEC_FILE = Path(__file__).with_name("openapi.yaml")
PATH = "/api/openapi.json"
# Public and the same for everyone; it changes only with a deploy.
CACHE = "public, max-age=3600"


@cache
def document() -> dict[str, Any]:
    """Return the OpenAPI document, parsed once per process."""
    # libyaml's safe loader when PyYAML was built with it: ten times the pure-Python one.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loaded = yaml.load(SPEC_FILE.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - safe loader
    if not isinstance(loaded, dict):
        raise ValueError(f"{SPEC_FILE} does not hold an OpenAPI document")
    return loaded


@cache
def _document_json() -> str:
    return json.dumps(document(), ensure_ascii=False, separators=(",", ":"))


@bp.get(PATH)
def openapi() -> ResponseReturnValue:
    response: Response = current_app.response_class(_document_json(), mimetype="application/json")
    response.headers["Cache-Control"] = CACHE
    # Public, without credentials: API tools on other origins may read it.
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
