"""Marketers' words in a ruleset: translations, safe Markdown, blocks, calls to action, media,
and prizes' labels."""

from __future__ import annotations

from pathlib import Path

from app.journeys.language import parse_ruleset_file
from app.journeys.language.checks.content import label_problems
from app.journeys.language.syntax import pick_text
from app.rules.service import template_names
from tests.journeys.language.helpers import one_problem, parse, problems

HEAD = "brand: b\nlocales: [en, fr]\njourneys:\n  - id: j\n    priority: 1\n    experience: care\n"


def test_content_parses_to_text_per_locale() -> None:
    doc = parse(HEAD + """    content:
      heading: {fr: Bonjour, en: Hello}
      body: Only **English**
      cta: {label: {en: Go, fr: Allez}, to: owner}
      media: {video: film.mp4, poster: p.jpg, alt: {en: A film, fr: Un film}}
      blocks: [hero, media, body]
""")
    content = doc.journeys[0].content
    assert content["heading"] == {"en": "Hello", "fr": "Bonjour"}
    assert list(content["heading"]) == ["en", "fr"]  # the ruleset's order: en is the fallback
    assert content["body"] == {"en": "Only **English**"}
    assert content["cta"] == {"label": {"en": "Go", "fr": "Allez"}, "to": "owner"}
    assert content["media"]["video"] == "film.mp4"
    assert content["blocks"] == ("hero", "media", "body")
    assert doc.locales == ("en", "fr")


def test_pick_text_falls_back_to_the_first_locale_then_any() -> None:
    text = (("en", "Hello"), ("fr", "Bonjour"))
    assert pick_text(text, "fr_FR", ("en", "fr")) == "Bonjour"
    assert pick_text(text, "de", ("en", "fr")) == "Hello"
    assert pick_text((("fr", "Bonjour"),), "de", ("en", "fr")) == "Bonjour"
    assert pick_text((), "en") is None


def test_a_missing_translation_names_the_field_and_the_locale() -> None:
    assert one_problem(HEAD + "    content:\n      heading: {en: Hello}\n") == (
        "r.yaml:8:16: journey 'j': content.heading has no 'fr' translation (the ruleset's "
        "locales are en, fr)")


def test_a_text_in_a_locale_the_ruleset_does_not_have() -> None:
    assert one_problem(HEAD + "    content:\n      heading: {en: Hi, fr: Salut, de: Hallo}\n") == (
        "r.yaml:8:36: journey 'j': content.heading is written in 'de', which is not one of the "
        "ruleset's locales (en, fr)")


def test_unsafe_markdown_is_refused() -> None:
    found = problems(HEAD + """    content:
      body: {en: "Hi <script>alert(1)</script>", fr: "[x](javascript:alert(1))"}
""")
    assert found == [
        "r.yaml:8:13: journey 'j': content.body in 'en' is not safe Markdown: it contains raw "
        "HTML ('<script>'); write Markdown only",
        "r.yaml:8:13: journey 'j': content.body in 'fr' is not safe Markdown: it contains a link "
        "to javascript: which a page never follows; link to https:// or a page of this site",
    ]


def test_safe_markdown_passes() -> None:
    doc = parse(HEAD + "    content:\n"
                '      body: "See [our care guide](https://x.fr/care), *gently*."\n')
    assert doc.journeys[0].content["body"]["en"].startswith("See [our care guide]")


def test_an_unknown_block_gets_a_suggestion() -> None:
    assert one_problem(HEAD + "    content:\n      blocks: [hero, meda]\n") == (
        "r.yaml:8:22: journey 'j': unknown block 'meda'; did you mean 'media'?")


def test_a_call_to_action_leads_somewhere_of_this_site() -> None:
    assert one_problem(
        HEAD + "    content:\n      cta: {label: Go, to: 'https://evil.example'}\n"
    ).startswith("r.yaml:8:28: journey 'j': content.cta goes to 'https://evil.example', which "
                 "is not one of owner, reveal, review, service, transfer nor a page of this site")


def test_media_needs_alt_text() -> None:
    assert one_problem(HEAD + "    content:\n      media: {image: a.jpg}\n") == (
        "r.yaml:8:14: journey 'j': content.media needs 'alt': what the image shows, in words")


def test_prize_labels_are_checked_like_any_text() -> None:
    assert one_problem("""brand: b
locales: [en, fr]
journeys:
  - {id: j, priority: 1, experience: care, reward: r}
rewards:
  r:
    prizes:
      - {id: ten-off, code: generated, label: {en: 10% off}}
""") == ("r.yaml:8:47: reward 'r': prize 'ten-off': label has no 'fr' translation (the "
         "ruleset's locales are en, fr)")


def test_validate_refuses_a_prize_without_a_label() -> None:
    doc = parse("""brand: b
journeys:
  - {id: j, priority: 1, experience: care, reward: r}
rewards:
  r:
    prizes:
      - {id: refill-free, code: generated}
      - {id: ten-off, code: generated, label: 10% off}
""")
    assert label_problems(doc) == [
        "r.yaml:7:9: reward 'r': prize 'refill-free' has no label, the words a winner reads, "
        "like label: {en: 10% off your next order, fr: 10 % de remise}"]


RULESET = Path(__file__).resolve().parents[3] / "rulesets" / "maison-aurelia.yaml"


def test_the_demo_ruleset_labels_every_prize_in_english_and_french() -> None:
    doc = parse_ruleset_file(RULESET, experiences=template_names("experiences"),
                             messages=template_names("messages"))
    assert label_problems(doc) == []
    for reward in doc.rewards.values():
        for prize in (*reward.prizes, reward.consolation):
            if prize is not None:
                assert dict(prize.label).keys() == {"en", "fr"}, prize.id
