"""A brand's theme: what ``journeys validate`` and ``brands check-theme`` say about it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from app.catalog.themes import contrast, load_theme, parse_colour, theme_problems
from tests.factories import tagged_item

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "brand-assets"
RULESET = REPO / "rulesets" / "maison-aurelia.yaml"


@pytest.fixture
def assets(tmp_path: Path) -> Path:
    """A copy of the demo brands' folders that a test may break."""
    folder = tmp_path / "brand-assets"
    shutil.copytree(DEMO, folder)
    return folder


def _edit(folder: Path, old: str, new: str) -> None:
    theme = folder / "theme.yaml"
    text = theme.read_text()
    assert old in text
    theme.write_text(text.replace(old, new))


def test_wcag_contrast_matches_the_standards_figures():
    white, black = parse_colour("#fff"), parse_colour("#000000")
    assert white and black
    assert contrast(white, black) == pytest.approx(21.0)
    assert contrast(black, white) == pytest.approx(21.0)
    # #777 on white is the classic just-fails grey (4.48:1); #767676 just passes (4.54:1).
    assert contrast("#777777", white) == pytest.approx(4.48, abs=0.01)
    assert contrast("#767676", white) == pytest.approx(4.54, abs=0.01)


def test_a_designer_may_write_any_opaque_css_colour_and_the_page_gets_hex():
    assert parse_colour("#FFF") == "#ffffff"
    assert parse_colour("navy") == "#000080"
    assert parse_colour("rgb(29 27 25)") == "#1d1b19"
    # Not colours, or see-through ones (their contrast depends on what lies beneath).
    for bad in ("#12345", "bleu", "", "rgb(0 0 0 / 50%)", "transparent", 12, None, "#" + "f" * 200):
        assert parse_colour(bad) is None, bad


def test_a_named_colour_in_a_theme_reaches_the_page_as_hex(assets):
    _edit(assets / "nordwand", 'background: "#10243e"', "background: midnightblue")
    theme = load_theme({"BRAND_ASSETS_DIR": str(assets), "THEME_CHECK_EVERY": 0}, "nordwand")
    assert theme and theme.colours["background"] == "#191970"


def test_the_demo_themes_are_valid_and_differ():
    assert theme_problems(DEMO / "maison-aurelia") == []
    assert theme_problems(DEMO / "nordwand") == []
    settings = {"BRAND_ASSETS_DIR": str(DEMO)}
    aurelia, nordwand = load_theme(settings, "maison-aurelia"), load_theme(settings, "nordwand")
    assert aurelia and nordwand
    assert aurelia.colours["background"] != nordwand.colours["background"]
    assert aurelia.corners == "square" and nordwand.corners == "pill"
    assert load_theme(settings, "no-such-brand") is None


@pytest.mark.parametrize(("old", "new", "message"), [
    ('text: "#1f1a14"', 'text: "#c9c2b6"',
     "colours: text on background has a contrast of 1.5"),
    ('accent_text: "#ffffff"', 'accent_text: "#8a7a5c"',
     "colours: accent_text on accent has a contrast of"),
    ('accent: "#6e5318"', 'accent: "golden"', "colours: accent 'golden' is not a colour like"),
    ('  accent_text: "#ffffff"\n', "", "colours: accent_text is missing"),
    ("corners: square", "corners: round", "corners: 'round' must be one of square, rounded, pill"),
    ("logo: logo.svg", "logo: missing.svg", "logo 'missing.svg' is not in the brand's folder"),
    ("logo: logo.svg", "logo: ../nordwand/logo.svg", "logo '../nordwand/logo.svg' must be a file "
                                                     "name only"),
    ("logo: logo.svg", "logo: /etc/passwd", "must be a file name only"),
    ("dejavu-serif-latin.woff2", "LICENSE-DejaVu.txt", "font 'LICENSE-DejaVu.txt' must be .woff2"),
    ("corners: square", "corners: square\nshadow: deep", "unknown field 'shadow'"),
    ("  muted:", "  mutted:", "colours: unknown colour 'mutted'"),
])
def test_each_problem_is_named_in_words(assets, old, new, message):
    folder = assets / "maison-aurelia"
    _edit(folder, old, new)
    problems = theme_problems(folder)
    assert any(message in line for line in problems), problems


def test_a_ttf_renamed_woff2_is_refused(assets):
    folder = assets / "maison-aurelia"
    (folder / "dejavu-serif-latin.woff2").write_bytes(b"\x00\x01\x00\x00" + b"\x00" * 100)
    assert theme_problems(folder) == [
        "font 'dejavu-serif-latin.woff2' is not a WOFF2 font (convert it to WOFF2, the format "
        "every phone reads and the smallest)"]


def test_an_svg_logo_that_runs_script_is_refused(assets):
    folder = assets / "nordwand"
    (folder / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg">'
                                     '<script>alert(1)</script></svg>')
    assert "an SVG logo must be a plain drawing" in theme_problems(folder)[0]


def test_unreadable_yaml_says_where(assets):
    (assets / "nordwand" / "theme.yaml").write_text("colours: [\n")
    assert theme_problems(assets / "nordwand")[0].startswith("theme.yaml is not valid YAML at line")


def test_a_changed_theme_is_read_again(assets):
    settings = {"BRAND_ASSETS_DIR": str(assets), "THEME_CHECK_EVERY": 0}
    first = load_theme(settings, "nordwand")
    assert first and first.corners == "pill"
    theme = assets / "nordwand" / "theme.yaml"
    theme.write_text(theme.read_text().replace("corners: pill", "corners: rounded"))
    stat = theme.stat()
    os.utime(theme, (stat.st_atime, stat.st_mtime + 5))
    again = load_theme(settings, "nordwand")
    assert again and again.corners == "rounded"


def _catalogue(db) -> None:  # type: ignore[no-untyped-def]
    """The brand and a product of each category its ruleset names (the watch with the demo's
    GTIN, which its ``products:`` names), so validate checks all."""
    for category in ("bag", "serum", "whisky", "sneakers", "watch"):
        tagged_item(db, category=category,
                    product_gtin="03760123450041" if category == "watch" else None)


def test_validate_reports_theme_and_film_problems(settings, db, assets):
    from app import create_app

    _catalogue(db)

    _edit(assets / "maison-aurelia", 'text: "#1f1a14"', 'text: "#d0c8bb"')
    (assets / "maison-aurelia" / "owner" / "movement-poster.jpg").unlink()
    app = create_app({**settings, "BRAND_ASSETS_DIR": str(assets)})
    try:
        result = app.test_cli_runner().invoke(args=["journeys", "validate", str(RULESET)])
    finally:
        app.extensions["aftertap.db"].engine.dispose()
    assert result.exit_code == 1, result.output
    assert "colours: text on background has a contrast of" in result.output
    assert "(WCAG AA)" in result.output
    assert ("journey watchmaker-film: content.media.poster 'movement-poster.jpg' is not in"
            in result.output)
    assert ": ok (" not in result.output


def test_validate_passes_the_demo_brand(runner, db):
    _catalogue(db)
    result = runner.invoke(args=["journeys", "validate", str(RULESET)])
    assert result.exit_code == 0, result.output
    assert "maison-aurelia.yaml: ok" in result.output


def test_brands_check_theme(settings, assets):
    from app import create_app

    app = create_app({**settings, "BRAND_ASSETS_DIR": str(assets)})
    try:
        cli = app.test_cli_runner()
        ok = cli.invoke(args=["brands", "check-theme", "nordwand"])
        assert ok.exit_code == 0 and ok.output.strip().endswith("nordwand: ok")
        missing = cli.invoke(args=["brands", "check-theme", "plain-house"])
        assert missing.exit_code == 1
        assert "theme.yaml does not exist: the brand's pages use the default look" in missing.output
        _edit(assets / "nordwand", "corners: pill", "corners: blob")
        bad = cli.invoke(args=["brands", "check-theme", "nordwand"])
        assert bad.exit_code == 1 and "corners: 'blob' must be one of" in bad.output
    finally:
        app.extensions["aftertap.db"].engine.dispose()


def test_a_changed_theme_is_looked_at_only_once_the_interval_is_up(assets, monkeypatch):
    """Pages do not stat the theme's files each time: a change shows within the interval."""
    import app.catalog.themes as themes

    clock = [1000.0]
    monkeypatch.setattr(themes.time, "monotonic", lambda: clock[0])
    settings = {"BRAND_ASSETS_DIR": str(assets), "THEME_CHECK_EVERY": 2.0}
    assert load_theme(settings, "nordwand").corners == "pill"  # type: ignore[union-attr]
    theme = assets / "nordwand" / "theme.yaml"
    theme.write_text(theme.read_text().replace("corners: pill", "corners: rounded"))
    stat = theme.stat()
    os.utime(theme, (stat.st_atime, stat.st_mtime + 5))
    clock[0] += 1.5
    assert load_theme(settings, "nordwand").corners == "pill"  # type: ignore[union-attr]
    clock[0] += 1.0
    assert load_theme(settings, "nordwand").corners == "rounded"  # type: ignore[union-attr]
