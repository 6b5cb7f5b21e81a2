"""Content negotiation, on its own so ``app.core.errors`` needs nothing else from the web layer
(``app.core.web`` builds on the errors through the staff services, and re-exports this)."""

from __future__ import annotations

from flask import request


def wants_json() -> bool:
    """Return True when the client prefers JSON over HTML."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes[
        "text/html"
    ]
