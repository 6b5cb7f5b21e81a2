"""Domain errors reach people in the page's language (issue 13, item 3): the error page and a
JSON ``message`` are translated where the error is mapped; the JSON ``error`` code stays English.
"""

from __future__ import annotations

import ast
from html import unescape
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from app.core import i18n
from app.core.errors import N_, DomainError, NotFound
from app.rewards.limits import RewardUnavailable

FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}
JSON = {"Accept": "application/json"}
REPO = Path(__file__).resolve().parents[2]

# The services whose errors consumers read (tap, owner, transfer, provenance, rewards, wallet,
# service requests, unsubscribe, time zone). Staff-only ones (brands, products import, staff
# accounts, the till's and workshop's APIs) keep English words.
CONSUMER_MODULES = [
    "app/aftersales/feedback.py", "app/aftersales/inputs.py", "app/aftersales/requests.py",
    "app/catalog/access.py", "app/catalog/service.py", "app/core/mail.py", "app/core/ratings.py",
    "app/messages/unsubscribe.py", "app/messages/zones.py", "app/ownership/email.py",
    "app/ownership/lifecycle.py", "app/ownership/location.py", "app/ownership/transfers.py",
    "app/ownership/views.py", "app/provenance/records.py", "app/rewards/actions.py",
    "app/rewards/grants.py", "app/rewards/limits.py", "app/rewards/loyalty.py",
    "app/rewards/wallet.py",
]
# (RewardUnavailable's first argument is its reason code; its words default to a marked one.)
ERRORS = {"DomainError", "NotFound", "Conflict", "Forbidden", "Gone", "NeedsTap", "NotOwner",
          "SoldOut", "InsufficientPoints", "ActionRequired"}
# Functions only staff, the workshop's or the till's API reach, English on purpose; and
# ``clean_text``'s "must be text", which only an API client can get (forms send text).
STAFF_ONLY = {
    ("app/aftersales/inputs.py", "clean_text"),
    ("app/aftersales/inputs.py", "parse_moment"),
    ("app/aftersales/requests.py", "list_requests"),
    ("app/catalog/service.py", "get_or_create_product"),
    ("app/rewards/wallet.py", "till_debit"),
}


def _unmarked(path: str) -> list[str]:
    """Return the raises in ``path`` whose words are a bare string (not ``N_`` marked)."""
    tree = ast.parse((REPO / path).read_text(encoding="utf-8"))
    out = []
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef) or (path, func.name) in STAFF_ONLY:
            continue
        for node in ast.walk(func):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ERRORS and node.args
                    and isinstance(node.args[0], ast.Constant | ast.JoinedStr)):
                out.append(f"{path}:{node.lineno}")
    return out


def test_every_error_consumers_read_is_marked_for_the_catalogue():
    unmarked = [where for path in CONSUMER_MODULES for where in _unmarked(path)]
    assert unmarked == [], "wrap the words in N_(...) and run make translations"


def test_every_marked_error_has_its_french():
    """Each ``N_`` message raised in those modules is in the French catalogue, translated."""
    with (i18n.TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        french = {m.id: m.string for m in read_po(fh, locale="fr") if m.id}
    marked = []
    for path in CONSUMER_MODULES:
        for node in ast.walk(ast.parse((REPO / path).read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "N_" and isinstance(node.args[0], ast.Constant)):
                marked.append(node.args[0].value)
    assert len(marked) > 60
    assert [m for m in marked if not french.get(m)] == []


def test_a_domain_error_page_and_json_speak_french_with_an_english_code(app):
    client = app.test_client()
    page = client.get("/rewards/not-a-real-token", headers=FRENCH)
    assert page.status_code == 404
    assert "Ce lien de récompense n’est pas valide." in unescape(page.get_data(as_text=True))
    as_json = client.get("/rewards/not-a-real-token", headers={**FRENCH, **JSON})
    assert as_json.get_json() == {"error": "not_found",
                                  "message": "Ce lien de récompense n’est pas valide."}
    # The phone's English still gets English.
    english = client.get("/rewards/not-a-real-token", headers=JSON).get_json()
    assert english == {"error": "not_found", "message": "This reward link is not valid."}


def test_an_error_with_values_is_translated_then_filled(app):
    err = NotFound(N_("No item %(gtin)s/%(serial)s is registered."), gtin="0400", serial="S1")
    assert err.message == "No item 0400/S1 is registered."  # logs and CLI: English
    with app.test_request_context(headers=FRENCH):
        assert err.words() == "Aucun article 0400/S1 n’est enregistré."
    # A message with a literal percent sign and no values is left as written.
    assert DomainError("100% sure").words() == "100% sure"


def test_a_refused_reward_names_no_identifier(app):
    err = RewardUnavailable("owner_required")
    assert err.reason == "owner_required" and "owner_required" not in err.message
    with app.test_request_context(headers=FRENCH):
        assert err.words() == "Cette récompense ne peut pas être offerte pour le moment."


@pytest.mark.parametrize(("path", "french"), [
    ("/transfer/not-a-token", "Ce lien de transfert n’est pas valide."),
])
def test_consumer_links_refused_in_french(app, path, french):
    page = app.test_client().get(path, headers=FRENCH)
    assert page.status_code in (400, 404, 410)
    assert french in unescape(page.get_data(as_text=True))
