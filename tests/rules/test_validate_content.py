"""`journeys validate` on marketers' content: media that is not in the brand's assets, and prizes
with no label, fail it with a line naming the journey or the prize."""

from __future__ import annotations

from pathlib import Path

from tests.factories import tagged_item

RULESET = """brand: maison-aurelia
locales: [en, fr]
journeys:
  - id: atelier
    priority: 1
    experience: page
    reward: gift
    content:
      heading: {en: The atelier, fr: L'atelier}
      media: {image: %s, alt: {en: The atelier, fr: L'atelier}}
rewards:
  gift:
    prizes:
      - {id: refill-free, code: generated%s}
"""
LABEL = ", label: {en: A free refill, fr: Une recharge offerte}"


def _validate(runner, tmp_path: Path, image: str, label: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    path = tmp_path / "maison-aurelia.yaml"
    path.write_text(RULESET % (image, label), encoding="utf-8")
    result = runner.invoke(args=["journeys", "validate", str(path)])
    return result.exit_code, result.output


def test_media_not_in_the_brands_assets_fails(runner, db, tmp_path):
    tagged_item(db)
    code, output = _validate(runner, tmp_path, "no-such-photo.jpg", LABEL)
    assert code == 1, output
    assert "journey atelier: content.media.image 'no-such-photo.jpg' is not in the brand's " \
           "assets" in output
    assert ": ok (" not in output


def test_an_owner_only_file_is_in_the_brands_assets(runner, db, tmp_path):
    tagged_item(db)
    code, output = _validate(runner, tmp_path, "movement-poster.jpg", LABEL)
    assert code == 0, output


def test_a_prize_without_a_label_fails(runner, db, tmp_path):
    tagged_item(db)
    code, output = _validate(runner, tmp_path, "movement-poster.jpg", "")
    assert code == 1, output
    assert "reward 'gift': prize 'refill-free' has no label, the words a winner reads" in output
