"""Fixtures the messages tests share: a brand's CRM, as an HTTP receiver on loopback."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import ClassVar

import pytest
import standardwebhooks.webhooks as sw
from standardwebhooks.webhooks import Webhook


class Receiver(http.server.BaseHTTPRequestHandler):
    """Keeps every POST (lower-cased headers, body) and answers ``status``."""

    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    status = 204

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[Receiver]]]:
    """A CRM on a free loopback port: yield its URL and its handler class (what it received,
    the status it answers)."""
    handler = type("CrmReceiver", (Receiver,), {"received": [], "status": 204})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/crm", handler
    server.shutdown()
    server.server_close()


def verify_at(secret: str, body: bytes, headers: dict[str, str], at: datetime) -> dict[str, object]:
    """Verify a webhook with the real Standard Webhooks verifier, its clock frozen at ``at`` (the
    injected signing moment), so its tolerance is checked against a fixed moment."""
    original = sw.datetime
    try:
        class _Frozen(original):  # type: ignore[misc, valid-type]
            @classmethod
            def now(cls, tz=None):  # type: ignore[no-untyped-def]
                return at
        sw.datetime = _Frozen
        payload: dict[str, object] = Webhook(secret).verify(body, headers)
    finally:
        sw.datetime = original
    return payload
