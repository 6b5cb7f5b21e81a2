"""Two demo brands walked end to end in real Chromium, at a phone's 390x844 and a laptop's
1280x800 (issue 13, "Done when"): Maison Aurelia in French (the phone asks for fr-FR), Nordwand in
English, each in its own theme, with the words its ruleset gives.

Each walk: the first tap claims (unboxing), care, the owner-only film playing for the owner (a
206 range answer) and refused to anyone else (403), a December-only journey switched by the
tap's clock, a review-gated reveal (refused until the review is written), the wallet showing the
won code on a fresh load of the owner page, and a points spend from the catalogue. It also
measures each page type's weight before media, records every request (nothing to another
host), and checks that the not-verified page is one round trip.

Screenshots: ``test-artifacts/walk-<brand>-<viewport>-<step>-<backend>.png``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from app.rewards.codes import import_codes
from tests.browser.conftest import (  # noqa: F401 - demo_server is a fixture
    BACKGROUND,
    DESKTOP,
    PHONE,
    age_ownership,
    assert_fits_phone,
    backend_of,
    demo_server,
    forge,
    tap_demo_button,
)

pytestmark = pytest.mark.browser

VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}
PAGE_BUDGET = 60_000  # bytes before media, per page type
# A page's weight before media: the document, plus its scripts, styles and fonts (not images,
# posters or films), as the browser received them.
WEIGHT = """() => {
  const isMedia = r => ['img', 'video', 'audio', 'image'].includes(r.initiatorType)
    || /\\.(mp4|webm|jpe?g|png|webp|gif|svg)(\\?|$)/.test(r.name);
  const nav = performance.getEntriesByType('navigation')[0];
  const rest = performance.getEntriesByType('resource').filter(r => !isMedia(r));
  return nav.encodedBodySize + rest.reduce((sum, r) => sum + r.encodedBodySize, 0);
}"""


@dataclass(frozen=True)
class Brand:
    slug: str
    locale: str  # what the browser asks for (Accept-Language)
    lang: str  # what the page must answer in
    zone: str
    background: str  # the theme's page colour, as Chromium computes it
    text: str  # the theme's text colour, which links take too
    owned: tuple[str, str]  # (gtin, serial) of the item walked through care, review, wallet
    film: tuple[str, str]  # (gtin, serial) of the item whose owners get the film
    words: dict[str, str]  # what a person reads at each step, in the page's language


AURELIA = Brand(
    slug="maison-aurelia", locale="fr-FR", lang="fr", zone="Europe/Paris",
    background="rgb(246, 241, 231)", text="rgb(31, 26, 20)",
    owned=("03760123450003", "BAG-0001"), film=("03760123450041", "WCH-0001"),
    words={
        "authentic": "✓ Authentique",
        "unboxing": "Bienvenue dans l’univers de votre Aurelia Weekender Bag",
        "care": "Prendre soin de votre Aurelia Weekender Bag",
        "film": "La naissance du mouvement AU-7",
        "owners only": "Réservé aux propriétaires",
        "december": "Joyeuses fêtes de la part de la Maison",
        "your reward": "Votre récompense",
        # The locked reward's card names the reward (the ruleset's label), then the step.
        "waiting": "Un cadeau pour votre avis",
        "your review": "Votre avis",
        "send review": "Envoyer mon avis",
        "locked": "Verrouillée",
        "thanks": "Merci pour votre avis",
        "unlocked": "Votre récompense est débloquée.",
        "reveal link": "Découvrez votre récompense",
        "reveal button": "Découvrir ma récompense",
        "won": "Vous avez gagné",
        "wallet": "Votre portefeuille",
        "won heading": "Récompenses gagnées",
        "get it": "L’obtenir",
        "catalogue item": "Trois échantillons format voyage",
        "not verified": "Non vérifié",
        "forged": "Nous n’avons pas pu vérifier ce produit",
        "replayed": "Ce lien a déjà été utilisé",
    },
)
NORDWAND = Brand(
    slug="nordwand", locale="en-GB", lang="en", zone="Europe/Zurich",
    background="rgb(16, 36, 62)", text="rgb(244, 247, 251)",
    owned=("07612345600024", "NW-BOT-0001"), film=("07612345600017", "NW-JKT-0001"),
    words={
        "authentic": "✓ Authentic",
        "unboxing": "Welcome to the rope team",
        "care": "Caring for your gear",
        "film": "How your shell is sealed",
        "owners only": "For owners only",
        "december": "Ready for winter",
        "your reward": "Your reward",
        "waiting": "A gift for your trail report",
        "your review": "Your review",
        "send review": "Send my review",
        "locked": "Locked",
        "thanks": "Thank you for your review",
        "unlocked": "Your reward is unlocked.",
        "reveal link": "Reveal your reward",
        "reveal button": "Reveal my reward",
        "won": "You won",
        "wallet": "Your wallet",
        "won heading": "Rewards won",
        "get it": "Get it",
        "catalogue item": "A merino beanie",
        "not verified": "Not verified",
        "forged": "We could not verify this",
        "replayed": "This link has already been used",
    },
)
# English a French page must not show in its main texts (headings, badges, buttons, the
# brand's words): the built-in sentences of these steps.
ENGLISH = ("Welcome", "Your ", "Authentic", "Reveal", "reward", "review", "owner page",
           "For owners only", "Not verified", "verify", "Caring", "holidays", "Get it",
           # the item card's catalogue values (the bag's and the watch's): French ones exist
           "Italy", "calfskin", "Switzerland", "automatic")


@pytest.fixture
def tap_clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime | None]:
    """The moment the live server's taps happen: ``clock[0]``, or now when it is None.

    The same override as tests/tap/test_dated_journeys.py: a tap's moment is read once, at the
    request boundary, and every fact (tap.month, ownership.days) is computed from it.
    """
    clock: list[datetime | None] = [None]
    monkeypatch.setattr("app.tap.views.now", lambda: clock[0] or datetime.now(UTC))
    return clock


def _wait_until(page: Any, expression: str, seconds: float = 10) -> None:
    """Poll ``expression`` in the page until it is true (``wait_for_function`` evaluates its
    predicate with eval, which the pages' content security policy rightly forbids)."""
    for _ in range(int(seconds * 10)):
        if page.evaluate(expression):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"still false after {seconds} s: {expression}")


def _main_text(page: Any) -> str:
    return str(page.locator("main").inner_text())


def _assert_language(page: Any, brand: Brand) -> None:
    expect(page.locator("html")).to_have_attribute("lang", brand.lang)
    if brand.lang == "fr":
        text = _main_text(page)
        found = [word for word in ENGLISH if word in text]
        assert not found, f"English on a French page ({page.url}): {found}\n{text}"


def _points(wallet: Any) -> int:
    match = re.search(r"(\d[\d\s\u202f\u00a0]*) points?", wallet.inner_text())
    assert match, wallet.inner_text()
    return int(re.sub(r"\D", "", match.group(1)))


def _fill_travel_codes(app: Any) -> None:
    """Give Maison Aurelia's 'travel-size' prize its code list, so every prize has a code."""
    session = app.extensions["aftertap.db"].sessionmaker()
    try:
        import_codes(session, "maison-aurelia", "travel-size-codes",
                     [f"TRAVEL-{n:04d}" for n in range(20)])
        session.commit()
    finally:
        session.close()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("brand", [AURELIA, NORDWAND], ids=lambda b: b.slug)
def test_brand_voice_walk(
    app: Any, demo_server: str, browser: Any, artifacts: Path,  # noqa: F811
    tap_clock: list[datetime | None], brand: Brand, viewport: str,
) -> None:
    base, words, backend = demo_server, brand.words, backend_of(app)
    if brand.slug == "maison-aurelia":
        _fill_travel_codes(app)
    zone = ZoneInfo(brand.zone)
    # Next year's late November and early December in the brand's time zone: the claim, the
    # taps of another month, and the December taps all fall within the first two weeks of
    # ownership (before the review request, which starts at two weeks). In the future, so the
    # tap sessions they open (which the film needs) are still live now.
    year = datetime.now(UTC).year + 1
    claimed, november, december = (datetime(year, 11, 27, 10, 0, tzinfo=zone),
                                    datetime(year, 11, 28, 10, 0, tzinfo=zone),
                                    datetime(year, 12, 3, 10, 0, tzinfo=zone))
    context = browser.new_context(**{**VIEWPORTS[viewport], "locale": brand.locale})
    context.set_default_timeout(10_000)
    requests: list[str] = []
    responses: list[tuple[str, int]] = []
    context.on("request", lambda req: requests.append(req.url))
    context.on("response", lambda res: responses.append((res.url, res.status)))
    sizes: dict[str, int] = {}
    page = context.new_page()

    def shot(step: str) -> None:
        assert_fits_phone(page)  # no sideways scrolling, at either width
        page.screenshot(path=artifacts / f"walk-{brand.slug}-{viewport}-{step}-{backend}.png",
                        full_page=True, animations="disabled")

    def weigh(kind: str) -> None:
        sizes[kind] = int(page.evaluate(WEIGHT))
        assert sizes[kind] < PAGE_BUDGET, f"{kind} page weighs {sizes[kind]} bytes before media"

    def tap(serial: str, at: datetime | None) -> Any:
        tap_clock[0] = at
        return tap_demo_button(page, base, serial)

    try:
        # 1. Unboxing: the first tap of the sold item makes this phone its owner.
        tap_url = ""
        response = tap(brand.owned[1], claimed)
        assert response.status == 200
        tap_url = page.url
        expect(page.get_by_role("status").first).to_have_text(words["authentic"])
        expect(page.get_by_role("heading", level=1)).to_have_text(words["unboxing"])
        assert page.evaluate(BACKGROUND) == brand.background  # the brand's own theme
        _assert_language(page, brand)
        weigh("unboxing")
        shot("unboxing")

        # 2. Care, the next day (November): the owner's everyday page.
        tap(brand.owned[1], november)
        expect(page.get_by_role("heading", level=1)).to_have_text(words["care"])
        _assert_language(page, brand)
        weigh("care")
        shot("care")

        # 3. The owner-only film: claim the film item, then tap it again as its owner.
        tap(brand.film[1], claimed)
        tap(brand.film[1], november)
        expect(page.get_by_role("heading", level=1)).to_have_text(words["film"])
        expect(page.get_by_text(words["owners only"])).to_be_visible()
        _assert_language(page, brand)
        weigh("owner film")
        video = page.locator("video")
        expect(video).to_have_count(1)
        film_url = base + str(video.get_attribute("src"))
        _wait_until(page, "document.querySelector('video').readyState >= 1")
        assert page.evaluate("document.querySelector('video').duration") > 3
        played = page.evaluate(
            "(v => { v.muted = true; return v.play().then(() => true, e => String(e)); })"
            "(document.querySelector('video'))")
        assert played is True, f"the film did not start: {played}"
        _wait_until(page, "document.querySelector('video').currentTime > 0.3")
        page.evaluate("document.querySelector('video').pause()")
        # The browser streamed it by byte ranges (what phones need), and a range asked
        # for by hand gets exactly those bytes.
        assert (film_url, 206) in responses, [r for r in responses if ".mp4" in r[0]]
        ranged = page.request.get(film_url, headers={"Range": "bytes=0-99"})
        assert ranged.status == 206 and len(ranged.body()) == 100
        assert ranged.headers["content-range"].startswith("bytes 0-99/")
        shot("owner-film")
        # Anyone else: a friend's phone that has just tapped the same item (a live tap, not
        # the owner's key) sees no player, and the film and poster are refused.
        stranger = browser.new_context(**{**VIEWPORTS[viewport], "locale": brand.locale})
        try:
            friend = stranger.new_page()
            tap_clock[0] = november
            tap_demo_button(friend, base, brand.film[1])
            expect(friend.get_by_role("status").first).to_have_text(words["authentic"])
            expect(friend.locator("video")).to_have_count(0)
            assert friend.request.get(film_url, headers={"Range": "bytes=0-99"}).status == 403
            poster = video.get_attribute("poster")
            if poster:
                assert friend.request.get(base + poster).status == 403
        finally:
            stranger.close()

        # 4. December: the same owner, the same item, the clock moved to 3 December.
        tap(brand.owned[1], december)
        expect(page.get_by_role("heading", level=1)).to_have_text(words["december"])
        # One way to the owner page, not two buttons saying it in different words.
        expect(page.locator("main a.button[href$='/owner']")).to_have_count(1)
        _assert_language(page, brand)
        shot("december")
        # ...and back to November: the December journey is gone.
        tap(brand.owned[1], november)
        expect(page.get_by_role("heading", level=1)).to_have_text(words["care"])

        # 5. A month in (today's clock): the review request, its reward locked.
        age_ownership(app, brand.owned[1], 30)
        tap(brand.owned[1], None)
        locked = page.get_by_role("region", name=words["your reward"])
        expect(locked).to_contain_text(words["waiting"])
        expect(page.get_by_role("link", name=words["reveal link"])).to_have_count(0)
        expect(page.get_by_role("region", name=words["your review"])).to_be_visible()
        _assert_language(page, brand)
        shot("review-locked")
        # The wallet holds the locked gift; its page refuses the reveal until the review.
        owner_url = f"{base}/items/{brand.owned[0]}/{brand.owned[1]}/owner"
        page.goto(owner_url)
        page.get_by_role("region", name=words["wallet"]).get_by_role(
            "link", name=words["reveal link"]).click()
        expect(page.get_by_role("status")).to_have_text(words["locked"])
        _assert_language(page, brand)
        weigh("reveal")
        token = page.url.rstrip("/").rsplit("/", 1)[1]
        csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
        refused = page.request.post(f"{base}/rewards/{token}/reveal",
                                    form={"csrf_token": str(csrf)},
                                    headers={"Accept-Language": brand.locale})
        assert refused.status == 409
        assert words["locked"] in refused.text()
        shot("reveal-refused")
        form = page.get_by_role("region", name=words["your review"])
        form.locator("input[name=rating][value='5']").check()
        form.locator("textarea[name=text]").fill("Worn every day for a month: perfect.")
        form.get_by_role("button", name=words["send review"]).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(words["thanks"])
        expect(page.get_by_text(words["unlocked"])).to_be_visible()
        _assert_language(page, brand)
        page.get_by_role("link", name=words["reveal link"]).click()
        page.get_by_role("button", name=words["reveal button"]).click()
        expect(page.get_by_role("status")).to_have_text(words["won"])
        code = page.locator("p.code").inner_text().strip()
        assert len(code) >= 6
        _assert_language(page, brand)
        shot("revealed")

        # 6. The wallet, on a new load of the owner page: the code won is kept there.
        page.goto(owner_url)
        wallet = page.get_by_role("region", name=words["wallet"])
        expect(wallet.get_by_role("heading", name=words["won heading"])).to_be_visible()
        expect(wallet.locator(".wallet-codes")).to_contain_text(code)
        _assert_language(page, brand)
        # Its links read in the theme's text colour, not the browser's blue on a dark card.
        link = wallet.locator("a:not(.button)").last
        assert link.evaluate("a => getComputedStyle(a).color") == brand.text
        weigh("owner")
        shot("wallet")

        # 7. Spending points from the catalogue: the balance drops, the item's code shows.
        before = _points(wallet)
        item = wallet.get_by_role("listitem").filter(has_text=words["catalogue item"])
        item.get_by_role("button", name=words["get it"]).click()
        page.wait_for_url("**/owner#wallet")
        expect(wallet.locator(".wallet-codes li").filter(has_text=words["catalogue item"])
               ).to_have_count(1)
        assert _points(wallet) < before
        _assert_language(page, brand)
        shot("points-spent")

        # 8. Not verified: the used tap link again (this phone is the owner's), then a forged
        #    one; each is one document and nothing else.
        for step, url, status in (("replayed", tap_url, 409), ("forged", forge(tap_url), 400)):
            seen = len(requests)
            assert page.goto(url).status == status
            page.wait_for_load_state("load")
            expect(page.get_by_role("status")).to_have_text(words["not verified"])
            expect(page.get_by_role("heading", level=1)).to_have_text(words[step])
            _assert_language(page, brand)
            page.wait_for_timeout(200)  # a late subresource would show up by now
            extra = [u for u in requests[seen:] if not u.startswith("data:")]
            assert extra == [url], f"the {step} page took more than one request: {extra}"
            weigh(f"not verified ({step})")
            shot(f"not-verified-{step}")

        elsewhere = [u for u in requests if not (u.startswith(f"{base}/") or
                                                  u.startswith("data:"))]
        assert elsewhere == [], f"requests to other hosts: {elsewhere}"
        if os.environ.get("AFTERTAP_REPORT_HEIGHT"):
            print(f"\n{brand.slug} {viewport} {backend}: {sizes}")
    finally:
        tap_clock[0] = None
        context.close()
