"""Brands' CRM webhook endpoints and their ``whsec_`` secrets (never in a ruleset file)."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from sqlalchemy.orm import Session

from app.core.errors import NotFound
from app.messages.models import Endpoint

# Receivers that have not switched to a new secret yet still verify with the previous one.
KEEP_SECRETS = 2


def new_secret() -> str:
    """Return a fresh Standard Webhooks secret: ``whsec_`` and 32 random bytes, base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def set_endpoint(session: Session, brand: str, url: str, at: datetime) -> str | None:
    """Point ``brand``'s CRM webhook at ``url``; return a new secret when it had none
    (shown once), else None. The caller commits.

    Raises ValueError for a URL that is not http(s).
    """
    if not url.startswith(("https://", "http://")):
        raise ValueError("the endpoint must be an http(s) URL")
    row = session.get(Endpoint, brand)
    if row is not None:
        row.url, row.updated_at = url, at
        return None
    secret = new_secret()
    session.add(Endpoint(brand=brand, url=url, secrets=[secret], updated_at=at))
    return secret


def rotate_secret(session: Session, brand: str, at: datetime) -> str:
    """Add a new secret to ``brand``'s endpoint, keeping the previous one; return it.

    Raises NotFound when the brand has no endpoint.
    """
    row = session.get(Endpoint, brand)
    if row is None:
        raise NotFound(f"brand {brand!r} has no CRM endpoint")
    secret = new_secret()
    row.secrets = [secret, *row.secrets][:KEEP_SECRETS]
    row.updated_at = at
    return secret
