"""The brand's look on its pages, its logo and fonts, and the owner-only film in byte ranges."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from app import create_app
from tests.factories import item_path, tagged_item, tap

REPO = Path(__file__).resolve().parents[2]
FILM = REPO / "brand-assets" / "maison-aurelia" / "owner" / "movement-documentary.mp4"
MEDIA = "/items/{gtin}/{serial}/media/{name}"


def _media(tag, name: str = "movement-documentary.mp4") -> str:  # type: ignore[no-untyped-def]
    return MEDIA.format(gtin=tag.item.product.gtin, serial=tag.item.serial, name=name)


@pytest.fixture
def watch(client, db, keyring):  # type: ignore[no-untyped-def]
    """A Maison Aurelia watch this ``client`` has claimed (first tap) and come back to, which
    makes the claim final (``app.ownership.returning``)."""
    tag = tagged_item(db, category="watch")
    assert tap(client, db, keyring, tag).status_code == 200
    assert tap(client, db, keyring, tag).status_code == 200
    return tag


def test_owner_tap_shows_the_film_as_a_phone_video(client, db, keyring, watch):
    page = tap(client, db, keyring, watch)
    html = page.get_data(as_text=True)
    assert "The making of the AU-7 movement" in html
    video = re.search(r"<video[^>]*>", html, re.S)
    assert video is not None
    tag = video.group(0)
    for attribute in ("controls", "playsinline", 'preload="metadata"'):
        assert attribute in tag
    assert f'src="{_media(watch)}"' in tag
    assert f'poster="{_media(watch, "movement-poster.jpg")}"' in tag
    assert len(page.data) < 60 * 1024


def test_the_film_is_not_on_anyone_elses_page(app, db, keyring, watch):
    stranger = app.test_client()
    html = tap(stranger, db, keyring, watch).get_data(as_text=True)
    assert "<video" not in html and "movement-documentary" not in html


def test_owner_gets_the_film_in_byte_ranges(client, watch):
    whole = client.get(_media(watch))
    assert whole.status_code == 200
    assert whole.data == FILM.read_bytes()
    assert whole.mimetype == "video/mp4"
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.headers["Cache-Control"].startswith("private")
    assert whole.headers["ETag"]

    part = client.get(_media(watch), headers={"Range": "bytes=0-99"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 0-99/{FILM.stat().st_size}"
    assert part.data == FILM.read_bytes()[:100]

    tail = client.get(_media(watch), headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.data == FILM.read_bytes()[-10:]

    beyond = client.get(_media(watch), headers={"Range": f"bytes={FILM.stat().st_size + 5}-"})
    assert beyond.status_code == 416

    poster = client.get(_media(watch, "movement-poster.jpg"))
    assert poster.status_code == 200 and poster.mimetype == "image/jpeg"


def test_nobody_but_the_owner_gets_the_film(app, db, keyring, watch):
    # A stranger who tapped the watch themselves a moment ago: the tap session is live, but the
    # watch is not theirs.
    stranger = app.test_client()
    tap(stranger, db, keyring, watch)
    refused = stranger.get(_media(watch), headers={"Range": "bytes=0-99"})
    assert refused.status_code == 403
    assert b"ftyp" not in refused.data
    # No tap, no cookie: refused the same way, for a file that exists or not.
    nobody = app.test_client()
    assert nobody.get(_media(watch)).status_code == 403
    assert nobody.get(_media(watch, "no-such-film.mp4")).status_code == 403


def test_owner_without_a_fresh_tap_is_refused(app, client, db, keyring, watch):
    with client.session_transaction() as browser_session:
        browser_session.pop("taps", None)
    assert client.get(_media(watch)).status_code == 403


@pytest.mark.parametrize("name", [
    "..%2Ftheme.yaml", "..", "%2Fetc%2Fpasswd", "..%5Ctheme.yaml", "movement%00.mp4",
    "theme.yaml", "logo.svg", "../logo.svg", "no-such-film.mp4",
])
def test_owner_media_never_leaves_the_owner_folder(client, watch, name):
    path = MEDIA.format(gtin=watch.item.product.gtin, serial=watch.item.serial, name=name)
    response = client.get(path)
    assert response.status_code in (400, 404)
    assert b"colours" not in response.data and b"<svg" not in response.data


def test_pages_of_each_brand_carry_its_own_look(app, client, db, keyring):
    aurelia = tagged_item(db)
    html = tap(client, db, keyring, aurelia).get_data(as_text=True)
    assert "--paper:#f6f1e7" in html and "--radius-button:0" in html
    assert '@font-face{font-family:"Aurelia Serif";src:url(/brand/maison-aurelia/' in html
    assert 'alt="Maison Aurelia"' in html and 'src="/brand/maison-aurelia/logo.svg?v=' in html
    # Every page of the item, not only the tap page.
    owner_page = client.get(item_path(aurelia, "owner")).get_data(as_text=True)
    assert "--paper:#f6f1e7" in owner_page and 'alt="Maison Aurelia"' in owner_page

    nordwand = tagged_item(db, brand="nordwand")
    other = app.test_client().get(f"/items/{nordwand.item.product.gtin}/x/owner")
    assert other.status_code in (403, 404)
    page = tap(app.test_client(), db, keyring, nordwand).get_data(as_text=True)
    assert "--paper:#10243e" in page and "--radius-button:999px" in page
    assert "@font-face" not in page and "f6f1e7" not in page


def test_a_brand_without_a_theme_keeps_the_default_look(client, db, keyring):
    tag = tagged_item(db, brand="plain-house")
    html = tap(client, db, keyring, tag).get_data(as_text=True)
    assert "--paper:#faf7f2" in html and "--accent:" not in html
    assert "Plain House" in html


def test_theme_files_are_served_for_a_year_with_etag(client, db, keyring):
    html = tap(client, db, keyring, tagged_item(db)).get_data(as_text=True)
    logo_url = re.search(r'src="(/brand/maison-aurelia/logo\.svg\?v=[0-9a-f]+)"', html)
    assert logo_url is not None
    logo = client.get(logo_url.group(1))
    assert logo.status_code == 200 and logo.mimetype == "image/svg+xml"
    assert "max-age=31536000" in logo.headers["Cache-Control"]
    assert "sandbox" in logo.headers["Content-Security-Policy"]
    again = client.get(logo_url.group(1), headers={"If-None-Match": logo.headers["ETag"]})
    assert again.status_code == 304
    font = client.get("/brand/maison-aurelia/dejavu-serif-latin.woff2")
    assert font.status_code == 200 and font.data[:4] == b"wOF2"
    assert font.mimetype == "font/woff2"


@pytest.mark.parametrize("path", [
    "/brand/maison-aurelia/theme.yaml",                     # in the folder, not a theme file
    "/brand/maison-aurelia/LICENSE-DejaVu.txt",
    "/brand/maison-aurelia/..%2Fnordwand%2Flogo.svg",
    "/brand/maison-aurelia/owner%2Fmovement-documentary.mp4",
    "/brand/maison-aurelia/movement-documentary.mp4",
    "/brand/..%2Fmaison-aurelia/logo.svg",
    "/brand/maison-aurelia/%2Fetc%2Fpasswd",
    "/brand/maison-aurelia/logo.svg%00",
    "/brand/Maison-Aurelia/logo.svg",
    "/brand/nobody/logo.svg",
])
def test_theme_route_sends_only_the_files_a_theme_names(client, path):
    response = client.get(path)
    assert response.status_code in (400, 404)
    assert b"ftyp" not in response.data and b"colours" not in response.data


def test_csp_allows_this_servers_media_and_nothing_else(client, db, keyring):
    policy = tap(client, db, keyring, tagged_item(db)).headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["font-src"] == "'self'"
    assert directives["media-src"] == "'self'"
    assert directives["img-src"] == "'self' data:"
    assert directives["default-src"] == "'none'"
    assert "http" not in policy and "*" not in policy


def test_a_broken_theme_leaves_pages_in_the_default_look(settings, tmp_path, db, keyring,
                                                          caplog):
    assets = tmp_path / "brand-assets"
    shutil.copytree(REPO / "brand-assets", assets)
    theme = assets / "maison-aurelia" / "theme.yaml"
    theme.write_text(theme.read_text().replace('text: "#1f1a14"', 'text: "#f6f1e8"'))
    app = create_app({**settings, "BRAND_ASSETS_DIR": str(assets)})
    try:
        page = tap(app.test_client(), db, app.extensions["aftertap.keys"], tagged_item(db))
        assert page.status_code == 200
        assert "--paper:#f6f1e7" not in page.get_data(as_text=True)
        assert "check-theme maison-aurelia" in caplog.text
    finally:
        app.extensions["aftertap.db"].engine.dispose()


@pytest.mark.parametrize("stranger", [False, True])
def test_owner_film_page_shows_no_film_to_a_non_owner(app, db, stranger):
    # The page itself refuses, not only the route: a preview or a journey that sends a stranger
    # to this page gets the words without the player.
    from flask import render_template

    from app.catalog.views import item_view
    from app.rules.service import Decision
    from app.tap.present import item_urls

    tag = tagged_item(db, category="watch")
    decision = Decision("watchmaker-film", "owner_film", None,
                        content={"film": "movement-documentary.mp4", "title": "The film"})
    with app.test_request_context("/"):
        own = ({"is_owner": False, "owned": True,
                "urls": item_urls(tag.item.product.gtin, tag.item.serial)} if stranger else None)
        html = render_template("experiences/owner_film.html", item=item_view(tag.item),
                               decision=decision, own=own)
    assert "The film" in html and "<video" not in html


def test_only_media_types_leave_the_owner_folder(settings, tmp_path, db, keyring):
    # A note a brand left beside its films is not a film: only media types are sent.
    assets = tmp_path / "brand-assets"
    shutil.copytree(REPO / "brand-assets", assets)
    (assets / "maison-aurelia" / "owner" / "notes.txt").write_text("internal notes")
    app = create_app({**settings, "BRAND_ASSETS_DIR": str(assets)})
    try:
        owner = app.test_client()
        tag = tagged_item(db, category="watch")
        keys = app.extensions["aftertap.keys"]
        tap(owner, db, keys, tag)
        tap(owner, db, keys, tag)
        assert owner.get(_media(tag)).status_code == 200
        refused = owner.get(_media(tag, "notes.txt"))
        assert refused.status_code == 404 and b"internal notes" not in refused.data
    finally:
        app.extensions["aftertap.db"].engine.dispose()
