"""The brand's command line: ``items release|stolen|reassign|show`` (``owners`` in test_privacy)."""

from __future__ import annotations

import json

from tests.factories import tagged_item


def test_items_cli(app, db, runner):
    tag = tagged_item(db, released=False)
    gtin, serial = tag.item.product.gtin, tag.item.serial
    result = runner.invoke(args=["items", "release", gtin, serial, "--source", "pos"])
    assert result.exit_code == 0 and "released" in result.output
    again = runner.invoke(args=["items", "release", gtin, serial])
    assert "already released" in again.output
    missing = runner.invoke(args=["items", "release", gtin, "NOPE"])
    assert missing.exit_code == 1 and "No item" in missing.output

    result = runner.invoke(args=["items", "reassign", gtin, serial, "--reason", "gift"])
    assert result.exit_code == 0 and "owner #1" in result.output
    result = runner.invoke(args=["items", "stolen", gtin, serial, "--reason", "police"])
    assert result.exit_code == 0
    shown = json.loads(runner.invoke(args=["items", "show", gtin, serial]).output)
    assert shown["stolen"] is True
    assert [h["began_by"] for h in shown["history"]] == ["brand"]
    assert [a["action"] for a in shown["audit"]] == ["release", "reassign", "stolen"]
