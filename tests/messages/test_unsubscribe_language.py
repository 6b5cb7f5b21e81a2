"""The unsubscribe page speaks the language its email was written in (the brand's, see
``delivery.email_language``), whatever the phone asks for, and never a language the brand does
not speak (issue 13, item 3)."""

from __future__ import annotations

from collections.abc import Iterator
from html import unescape

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.catalog.models import Brand
from app.core.db import make_engine
from app.messages import delivery
from app.messages.ticks import tick
from tests.messages.helpers import BRAND, SLOT, owned_serum, publish_demo

FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9"}
ENGLISH = {"Accept-Language": "en-GB,en;q=0.9"}


@pytest.fixture
def sessions(app) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(app.config["DATABASE_URL"])
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def _token(app, db, smtp, sessions, locale: str) -> str:  # type: ignore[no-untyped-def]
    """Send the demo brand's refill email, the brand's ``locale`` set; return its unsubscribe
    token."""
    publish_demo(db)
    db.scalar(select(Brand).where(Brand.slug == BRAND)).locale = locale
    owned_serum(db, 77)
    tick(db, app.config, BRAND, "refill-reminder", SLOT, SLOT)
    db.commit()
    assert delivery.deliver_due(sessions, app.config, at=SLOT).delivered == 1
    [mail] = smtp.wait_for(1)
    return str(mail["List-Unsubscribe"]).strip().strip("<>").rsplit("/", 1)[1]


def test_a_french_brands_unsubscribe_page_is_french_to_an_english_phone(app, db, smtp, sessions,
                                                                        client):
    token = _token(app, db, smtp, sessions, "fr-FR")
    page = unescape(client.get(f"/unsubscribe/{token}", headers=ENGLISH).get_data(as_text=True))
    assert '<html lang="fr">' in page and "Se désabonner" in page
    assert "Press the button" not in page
    done = client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"},
                       headers=ENGLISH)
    words = unescape(done.get_data(as_text=True))
    assert done.status_code == 200 and '<html lang="fr">' in words
    assert "You are unsubscribed" not in words


def test_an_english_email_unsubscribes_in_english_even_on_a_french_phone(app, db, smtp,
                                                                         sessions, client):
    # Maison Aurelia's emails are written in its own language, English (Brand.locale "en").
    token = _token(app, db, smtp, sessions, "en")
    page = unescape(client.get(f"/unsubscribe/{token}", headers=FRENCH).get_data(as_text=True))
    assert '<html lang="en">' in page and "Press the button" in page


def test_an_unknown_link_says_so_in_the_phones_language(client):
    page = client.get("/unsubscribe/not-a-token", headers=FRENCH)
    assert page.status_code == 404
    assert "Ce lien de désinscription n’est pas valide." in unescape(page.get_data(as_text=True))
