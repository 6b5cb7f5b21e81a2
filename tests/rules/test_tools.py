"""``journeys validate | simulate | test`` as a marketer runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.factories import get_or_create_brand

SHAPE = Path(__file__).parent.parent / "journeys" / "ruleset-shape.yaml"


@pytest.fixture
def cli(app, db):  # type: ignore[no-untyped-def]
    # Validation checks that a ruleset's brand exists in the database.
    get_or_create_brand(db, "maison-aurelia", "Maison Aurelia")
    get_or_create_brand(db, "nordwand", "Nordwand")  # the second demo brand's ruleset
    db.commit()
    runner = app.test_cli_runner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(args=["journeys", *args])

    return run


def test_validate_clean_rulesets(cli):
    result = cli("validate", str(SHAPE))
    assert result.exit_code == 0, result.output
    assert f"{SHAPE}: ok (10 journeys, 4 tests)" in result.output


def test_validate_default_is_the_live_rulesets_folder(cli):
    result = cli("validate")
    assert result.exit_code == 0, result.output
    assert "maison-aurelia.yaml: ok" in result.output
    assert "nordwand.yaml: ok" in result.output


def test_validate_reports_every_problem_with_position(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SHAPE.read_text()
                   .replace("reward: review-reveal\n", "reward: review-revea\n")
                   .replace("owner.is_current: true\n    experience: care",
                            "owner.is_curent: true\n    experience: care"))
    result = cli("validate", str(bad))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert any(
        line.startswith(f"{bad}:") and "journey 'review-reveal': reward 'review-revea' is not "
        "defined; did you mean 'review-reveal'?" in line for line in lines
    ), result.output
    assert any("unknown fact 'owner.is_curent'; did you mean 'owner.is_current'?" in line
               for line in lines), result.output
    for line in lines:
        path, row, col, _ = line.split(":", 3)
        assert path == str(bad) and row.isdigit() and col.isdigit()


def test_ruleset_tests_pass_and_a_failing_case_explains_itself(cli, tmp_path):
    ok = cli("test", str(SHAPE))
    assert ok.exit_code == 0, ok.output
    assert "4 passed, 0 failed" in ok.output

    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(SHAPE.read_text().replace(
        "expect: {journey: serum-refill, reward: refill-scratch}",
        "expect: {journey: review-reveal}"))
    result = cli("test", str(wrong))
    assert result.exit_code == 1
    assert "FAIL" in result.output and "day 80 of a serum offers the refill game" in result.output
    assert "expected: journey review-reveal" in result.output
    assert "actual:   journey serum-refill" in result.output
    assert "MATCH serum-refill (priority 600)" in result.output
    assert "✓ ownership.days >= 77  [value: 80]" in result.output
    assert "3 passed, 1 failed" in result.output


def test_simulate_decides_and_explains(cli):
    result = cli("simulate", str(SHAPE), "--fact", "owner.is_current=true",
                 "--fact", "ownership.state=owned", "--fact", "product.category=serum",
                 "--fact", "ownership.days=12w")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("journey: serum-refill  experience: refill  reward: "
                                    "refill-scratch")
    assert "✓ ownership.days >= 77  [value: 84]" in result.output


def test_simulate_json(cli):
    result = cli("simulate", str(SHAPE), "--fact", "tap.verdict=replayed", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["decision"]["journey"] == "counterfeit-warning"
    assert body["fact"]["tap.verdict"] == "replayed"
    assert body["explanation"][0]["matched"] is True


def test_simulate_from_an_items_real_state(cli, db):
    from tests.factories import tagged_item

    tag = tagged_item(db, category="watch", serial="W-1")
    # Nobody owns W-1: a stranger taps it (simulating its owner is refused, test_simulate.py).
    result = cli("simulate", str(SHAPE), "--item", "W-1", "--as", "stranger",
                 "--fact", "ownership.days=30")
    assert result.exit_code == 0, result.output
    assert "product.category is watch  [value: watch]" in result.output
    assert tag.item.serial == "W-1"


def test_simulate_refuses_unknown_facts_and_files(cli):
    bad = cli("simulate", str(SHAPE), "--fact", "owner.is_curent=true")
    assert bad.exit_code == 1
    assert "did you mean 'owner.is_current'?" in bad.output
    missing = cli("simulate", "no-such-brand")
    assert missing.exit_code == 1
    assert "no ruleset file 'no-such-brand'" in missing.output
