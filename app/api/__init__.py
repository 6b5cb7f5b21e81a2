"""The OpenAPI document of the JSON APIs (taps, admin and till, provenance), at
``/api/openapi.json``.

It describes routes of every domain, so it sits at the top of the layers, beside ``app.admin``.
The document is hand-written (``openapi.yaml``, next to this package); tests hold it to the
routes the app really has and run Schemathesis against it.
"""

from __future__ import annotations

from flask import Flask

from app.api import events, views


def init_app(app: Flask) -> None:
    # Parsed before serving: a document that does not load stops start-up instead of answering
    # 500. A `flask` command serves no document, so it does not pay for parsing it.
    if app.extensions.get("aftertap.serving", True):
        views.document()
    app.register_blueprint(views.bp)
    app.register_blueprint(events.bp)
