"""``/admin/preview/draft``: check a draft ruleset, replay it on recent taps, and publish it.

On the preview page, for marketers (of their own brand) and admins. The role check is the one
``roles(...)`` line on the view. Publishing stores a new version (``app.rules.versions``); every
process, this one at once, serves it within ``RULESETS_RELOAD_SECONDS``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path, PurePath
from typing import Any

from flask import Blueprint, current_app, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from app.admin.auth import guard
from app.catalog.models import Brand
from app.core.clock import now
from app.core.db import db
from app.core.staff import MARKETER
from app.core.web import current_principal, principal, roles
from app.rules.service import template_names
from app.rules.versions import (
    PublishRefused,
    check_draft,
    diff_against,
    known_brands,
    live_version,
    publish,
    replay,
)

bp = Blueprint("admin_drafts", __name__, url_prefix="/admin")
bp.before_request(guard)

# How far back a replay may look.
MAX_DAYS = 365


def _own_brand() -> str | None:
    """Return the slug of the acting principal's brand (None: every brand)."""
    acting = current_principal()
    if acting.brand_id is None:
        return None
    return db.session.scalar(select(Brand.slug).where(Brand.id == acting.brand_id))


def _draft_text() -> tuple[str, str]:
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        return upload.read().decode("utf-8", errors="replace"), PurePath(upload.filename).name
    return request.form.get("text", ""), "draft.yaml"


@bp.post("/preview/draft")
@roles(MARKETER)
def draft() -> ResponseReturnValue:
    """Check the draft (validation, brand, its tests), diff it against the live version and
    replay the last ``days`` of taps; with ``action=publish``, publish it."""
    text, source = _draft_text()
    days = max(1, min(MAX_DAYS, request.form.get("days", 30, type=int) or 30))
    root = Path(current_app.root_path).parent / "templates"
    experiences, messages = template_names("experiences", root), template_names("messages", root)
    own = _own_brand()
    session = db.session
    context: dict[str, Any] = {"source": source, "text": text, "days": days, "problems": [],
                               "published": None, "report": None, "diff": None, "draft": None}
    brands = known_brands(session)
    try:
        checked = check_draft(text, source, {b for b in brands if own in (None, b)},
                              experiences, messages)
    except PublishRefused as exc:
        context["problems"] = exc.problems
        return render_template("admin/draft.html", **context), 422
    context["draft"] = checked
    if request.form.get("action") == "publish":
        acting = current_principal()
        result = publish(session, text, source, author=acting.actor, at=now(),
                         experiences=experiences, messages=messages)
        session.commit()
        # This process serves it at once; the others at their next check.
        current_app.extensions["aftertap.rules"].registry.refresh()
        context["published"] = result
        context["diff"] = result.diff
        return render_template("admin/draft.html", **context)
    context["diff"] = diff_against(live_version(session, checked.ruleset.brand), text, source)
    context["report"] = replay(session, checked.ruleset, now() - timedelta(days=days))
    return render_template("admin/draft.html", **context)


@bp.app_context_processor
def _ruleset_status() -> dict[str, Any]:
    def ruleset_status() -> dict[str, Any]:
        """The published versions this process serves and the refused files, with what serves
        instead, for the acting principal's brand (every brand for an admin)."""
        registry = current_app.extensions["aftertap.rules"].registry
        acting = principal()
        own = _own_brand() if acting is not None and acting.brand_id is not None else None
        live = {b: v for b, v in registry.published().items() if own in (None, b)}
        refused = {name: e for name, e in registry.errors.items()
                   if own is None or PurePath(name).stem == own or name.startswith(own + " ")}
        return {"live": live, "refused": refused}

    return {"ruleset_status": ruleset_status}
