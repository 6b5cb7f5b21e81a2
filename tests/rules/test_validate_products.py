"""``journeys validate`` on ``products:`` (care and owner-only content per category or GTIN): a
category or GTIN no product has, a missing translation, unsafe Markdown and a file that is not
in the brand's assets each fail it with a line saying where and what to write instead."""

from __future__ import annotations

from pathlib import Path

from tests.factories import tagged_item

WATCH = "03760123450041"
HEAD = """brand: maison-aurelia
locales: [en, fr]
journeys:
  - {id: rest, priority: 0, experience: care}
products:
"""
GOOD = f"""  watch:
    care:
      heading: {{en: Care, fr: Entretien}}
      body: {{en: Wind it **fully**., fr: Remontez-la **complètement**.}}
  "{WATCH}":
    owner_content:
      media: {{video: movement-documentary.mp4, alt: {{en: The film, fr: Le film}}}}
"""


def _validate(runner, db, tmp_path: Path, products: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    tagged_item(db, category="watch", product_gtin=WATCH)
    tagged_item(db, category="whisky")
    path = tmp_path / "maison-aurelia.yaml"
    path.write_text(HEAD + products, encoding="utf-8")
    result = runner.invoke(args=["journeys", "validate", str(path)])
    return result.exit_code, result.output


def test_good_words_for_a_category_and_a_gtin_pass(runner, db, tmp_path):
    code, output = _validate(runner, db, tmp_path, GOOD)
    assert code == 0, output
    assert ": ok (1 journeys" in output


def test_a_category_no_product_has_says_the_real_one(runner, db, tmp_path):
    code, output = _validate(runner, db, tmp_path, GOOD.replace("  watch:", "  Whisky:"))
    assert code == 1, output
    assert ":6:3: products: category 'Whisky': no product of maison-aurelia has this " \
           "category; did you mean 'whisky'?" in output


def test_a_gtin_no_product_has_fails(runner, db, tmp_path):
    code, output = _validate(runner, db, tmp_path, GOOD.replace(WATCH, "03760123450058"))
    assert code == 1, output
    assert "products: GTIN '03760123450058': no product of maison-aurelia has this GTIN" \
           in output


def test_a_missing_translation_fails(runner, db, tmp_path):
    code, output = _validate(runner, db, tmp_path,
                             GOOD.replace("heading: {en: Care, fr: Entretien}",
                                          "heading: {en: Care}"))
    assert code == 1, output
    assert "products: category 'watch': care.heading has no 'fr' translation" in output


def test_unsafe_markdown_fails(runner, db, tmp_path):
    code, output = _validate(runner, db, tmp_path,
                             GOOD.replace("Wind it **fully**.",
                                          "'<script>alert(1)</script>'"))
    assert code == 1, output
    assert "products: category 'watch': care.body in 'en' is not safe Markdown: it contains " \
           "raw HTML" in output


def test_a_file_not_in_the_brands_assets_fails(runner, db, tmp_path):
    code, output = _validate(runner, db, tmp_path,
                             GOOD.replace("movement-documentary.mp4", "no-such-film.mp4"))
    assert code == 1, output
    assert f"products: GTIN '{WATCH}': owner_content.media.video 'no-such-film.mp4' is not in " \
           "the brand's assets" in output


def test_an_unknown_part_says_the_known_one(runner, db, tmp_path):
    code, output = _validate(runner, db, tmp_path, GOOD.replace("    care:", "    cares:"))
    assert code == 1, output
    assert "products: category 'watch': unknown field 'cares'; did you mean 'care'?" in output
