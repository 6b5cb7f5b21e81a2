"""The points catalogue's words: each item's label and description per locale, checked as a
prize's are (every locale of ``locales:``, safe Markdown), picked for a page with a fallback."""

from __future__ import annotations

from app.journeys.language import parse_ruleset_file
from app.journeys.language.syntax import pick_text
from app.rules.service import template_names
from tests.journeys.language.helpers import REPO, one_problem, parse, problems

HEAD = """brand: b
locales: [en, fr]
journeys:
  - {id: j, priority: 1, experience: care}
points:
  worth: 100 points = 5 EUR
  catalogue:
"""


def test_a_catalogue_label_and_description_are_read_per_locale() -> None:
    doc = parse(HEAD + """    - id: kit
      label: {fr: Kit d’entretien, en: Care kit}
      description: {en: "Brush and **balm**", fr: "Brosse et **baume**"}
      cost: 100
      code: generated
""")
    item = doc.points.catalogue[0]
    assert item.label == (("en", "Care kit"), ("fr", "Kit d’entretien"))  # en first: fallback
    assert pick_text(item.label, "fr_FR", doc.locales) == "Kit d’entretien"
    assert pick_text(item.label, "de", doc.locales) == "Care kit"
    assert pick_text(item.description, "fr", doc.locales) == "Brosse et **baume**"


def test_a_plain_label_is_the_first_locales() -> None:
    doc = parse("brand: b\njourneys:\n  - {id: j, priority: 1, experience: care}\n"
                "points:\n  catalogue:\n"
                "    - {id: kit, label: Care kit, cost: 5, code: generated}\n")
    assert doc.points.catalogue[0].label == (("en", "Care kit"),)


def test_a_missing_translation_is_reported_as_for_a_prize() -> None:
    assert one_problem(HEAD + "    - {id: kit, label: {en: Care kit}, cost: 5, code: generated}\n"
                       ) == ("r.yaml:8:24: points: catalogue item 'kit': label has no 'fr' "
                             "translation (the ruleset's locales are en, fr)")
    said = problems(HEAD + "    - {id: kit, label: {en: Kit, fr: Kit}, cost: 5, code: generated,"
                           " description: {en: A kit, de: Ein Kit}}\n")
    assert any("description is written in 'de', which is not one of the ruleset's locales"
               in p for p in said), said
    assert any("description has no 'fr' translation" in p for p in said), said


def test_an_empty_label_and_unsafe_markdown_are_refused() -> None:
    assert "label in 'fr' is empty" in one_problem(
        HEAD + "    - {id: kit, label: {en: Kit, fr: ''}, cost: 5, code: generated}\n")
    assert "description in 'en' is not safe Markdown" in one_problem(
        HEAD + "    - {id: kit, label: {en: Kit, fr: Kit}, cost: 5, code: generated,"
               " description: {en: '<b>x</b>', fr: x}}\n")


def test_the_demo_catalogue_speaks_french() -> None:
    doc = parse_ruleset_file(REPO / "rulesets" / "maison-aurelia.yaml",
                             experiences=template_names("experiences"),
                             messages=template_names("messages"))
    assert doc.points.catalogue
    for item in doc.points.catalogue:
        assert dict(item.label).keys() == {"en", "fr"}, item.id
        if item.description:
            assert dict(item.description).keys() == {"en", "fr"}, item.id
