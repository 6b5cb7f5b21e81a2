"""Schemathesis against the live app, on SQLite and on PostgreSQL.

Every operation of ``app/api/openapi.yaml`` gets a bounded number of generated requests,
deterministic (Hypothesis derandomised): schema-valid ones with any path values, schema-valid
ones aimed at seeded data (an owned item with service history, a prize code, a provenance
record), schema-invalid ones, and the document's own examples. Each response must not be a
5xx, must have a documented status and content type, documented headers, and a body that
matches the document. The counts are written to ``test-artifacts/openapi-fuzz-<backend>.json``.
"""

from __future__ import annotations

import base64
import collections
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.aftersales.events import record_event
from app.aftersales.requests import create_request
from app.catalog.holdings import current_holding
from app.catalog.models import Owner
from app.catalog.views import item_view
from app.ownership.lifecycle import claim
from app.provenance import KEY_EXTENSION
from app.provenance.records import issue_record
from tests.factories import tagged_item
from tests.rewards.helpers import give, ruleset

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
# Per operation and per kind of generation; about 1,100 requests per backend in all.
MAX_EXAMPLES = 25
ADMIN_PASSWORD = "fuzz-admin-password"
# The seeded owner's verified address: the one the document's examples use.
EMAIL = "alice@example.com"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Rate limits are documented (429) and tested in tests/core/test_limits.py; here they would only
# turn the later cases of an operation into 429s that test nothing else.
GENEROUS = "100000 per minute"


def _seed(app, db) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Create what the path values aim at; return them by path parameter name."""
    at = datetime.now(UTC) - timedelta(days=30)
    tag = tagged_item(db, category="watch", attributes={"warranty_months": 24})
    item = item_view(tag.item)
    new_owner, _ownership_id = claim(db, item, None, at)
    owner = db.get_one(Owner, new_owner.id)
    owner.email, owner.email_verified_at = EMAIL, at
    holding = current_holding(db, item.id)
    service_request = create_request(db, item, holding, "repair", "The clasp is loose.", at)
    record_event(db, item.id, "strap change", at + timedelta(days=1), note="done",
                 settings=app.config)
    record = issue_record(db, app.extensions[KEY_EXTENSION], app.config, item, holding.id,
                          datetime.now(UTC))
    db.commit()
    doc = ruleset("gift: {prizes: [{id: p, code: generated}], expires: 10d}")
    grant = give(db, doc, "gift", owner.id, item.id, datetime.now(UTC))
    assert service_request.id and grant.code
    return {"gtin": item.product.gtin, "serial": item.serial, "code": grant.code,
            "record_id": record.id}


def _strategies(schema, operation, seeded: dict[str, str]) -> list[tuple[str, Any]]:  # type: ignore[no-untyped-def]
    """Return ``(kind, strategy)`` pairs for ``operation``."""
    has_input = bool(operation.path_parameters or operation.query or operation.body)
    kinds: list[tuple[str, Any]] = [
        ("positive", operation.as_strategy(schemathesis.GenerationMode.POSITIVE)),
    ]
    names = [p.name for p in operation.path_parameters]
    if names:
        kinds.append(("seeded", operation.as_strategy(
            schemathesis.GenerationMode.POSITIVE,
            path_parameters={name: seeded[name] for name in names})))
    if has_input:
        kinds.append(("negative", operation.as_strategy(schemathesis.GenerationMode.NEGATIVE)))
    kinds += [("example", s) for s in schema.get_strategies_from_examples(operation)]
    return kinds


def _fuzz(strategy, headers: dict[str, str], seen) -> str | None:  # type: ignore[no-untyped-def]
    """Run up to ``MAX_EXAMPLES`` cases of ``strategy``; return the first failure, if any."""

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
        suppress_health_check=list(HealthCheck), print_blob=False,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    @hypothesis.given(case=strategy)
    def check(case) -> None:  # type: ignore[no-untyped-def]
        response = case.call(headers=headers)
        seen(response.status_code)
        case.validate_response(response, checks=CHECKS, headers=headers)

    try:
        check()
    except Exception as exc:
        return str(exc)
    return None


@pytest.mark.timeout(600)
def test_no_server_error_and_every_response_as_documented(app, db, request):
    backend = request.node.callspec.params["database_url"]
    app.config["ADMIN_PASSWORD"] = ADMIN_PASSWORD
    app.config["TILL_PASSWORD"] = "fuzz-till-password"
    app.config["RATE_LIMITS"] = {**app.config["RATE_LIMITS"], "TAP_PER_ADDRESS": GENEROUS,
                                 "TILL_PER_ADDRESS": GENEROUS, "TILL_PER_ACCOUNT": GENEROUS}
    seeded = _seed(app, db)
    # The served document, every operation in it: loaded from its address, Schemathesis would
    # leave out the operation that serves it.
    schema = schemathesis.openapi.from_dict(app.test_client().get("/api/openapi.json").get_json())
    schema.app = app
    token = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    # Accept JSON, so error bodies are JSON and are checked against the document too.
    headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}

    started = time.monotonic()
    operations = 0
    cases: collections.Counter[str] = collections.Counter()
    statuses: collections.Counter[int] = collections.Counter()
    by_operation: dict[str, collections.Counter[int]] = {}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        answered = by_operation.setdefault(operation.label, collections.Counter())
        for kind, strategy in _strategies(schema, operation, seeded):
            problem = _fuzz(strategy, headers, lambda status, kind=kind, answered=answered: (
                cases.update([kind]), statuses.update([status]), answered.update([status])))
            if problem is not None:
                failures.append(f"{operation.label} ({kind}): {problem}")
    elapsed = time.monotonic() - started

    ARTIFACTS.mkdir(exist_ok=True)
    summary = {
        "backend": backend,
        "operations": operations,
        "cases": sum(cases.values()),
        "cases_by_kind": dict(cases),
        "server_errors": sum(n for status, n in statuses.items() if status >= 500),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "failures": len(failures),
        "statuses_by_operation": {label: {str(k): v for k, v in sorted(counts.items())}
                                  for label, counts in by_operation.items()},
        "max_examples": MAX_EXAMPLES,
        "seconds": round(elapsed, 1),
    }
    (ARTIFACTS / f"openapi-fuzz-{backend}.json").write_text(json.dumps(summary, indent=2) + "\n")
    assert not failures, "\n\n".join(failures)
    assert operations == len(schema.raw_schema["paths"])  # one method per path today
    assert summary["server_errors"] == 0
