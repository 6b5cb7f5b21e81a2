"""Commands that need no secret run without one; a command that needs one names it in one line.

A fresh clone has no ``instance/``: no development secret, no keys file, no provenance key. The
web server must refuse to start like that; the ``flask`` command must not, because most commands
(``journeys validate``, ``sun inspect``, every ``--help``) use none of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from flask import Flask

from app import create_app
from app.core.settings import ConfigurationError
from app.verify.keys import load_key_versions
from app.verify.sun import mint_query

REPO = Path(__file__).resolve().parents[2]
FLASK = Path(sys.executable).parent / "flask"


def _nothing_configured(tmp_path: Path) -> dict[str, str]:
    """Settings as on a fresh clone: every secret and key file points where nothing is."""
    missing = tmp_path / "instance"
    return {
        "SECRET_KEY_FILE": str(missing / "secret_key"),
        "KEYS_FILE": str(missing / "keys.toml"),
        "PROVENANCE_KEY_FILE": str(missing / "provenance_ed25519.pem"),
        "ADMIN_PASSWORD_FILE": str(missing / "admin_password"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}",
    }


def _cli_app(overrides: dict[str, str]) -> Flask:
    # The flask command builds the app inside its click context; so does this.
    with click.Context(click.Command("flask")):
        return create_app(overrides)


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERTAP_")}
    env.update({f"AFTERTAP_{k}": v for k, v in _nothing_configured(tmp_path).items()})
    return subprocess.run([str(FLASK), "--app", "wsgi", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_help_and_validate_run_on_a_fresh_clone(tmp_path):
    helped = _run(tmp_path, "tags", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "import" in helped.stdout
    validated = _run(tmp_path, "journeys", "validate")
    assert validated.returncode == 0, validated.stderr
    assert "maison-aurelia.yaml: ok" in validated.stdout


def test_a_command_that_needs_keys_names_the_setting_in_one_line(tmp_path):
    result = _run(tmp_path, "tags", "tap", "BAG-0001")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("Error: AFTERTAP_KEYS_FILE points to")


def test_sun_inspect_reports_malformed_input_without_keys(tmp_path):
    runner = _cli_app(_nothing_configured(tmp_path)).test_cli_runner()
    result = runner.invoke(args=["sun", "inspect", "https://x.example/t?picc_data=00&cmac=00"])
    assert result.exit_code == 1
    assert '"valid": false' in result.output
    assert "picc_data" in result.output


def test_sun_inspect_verifies_with_a_keys_file_given_on_the_line(tmp_path, keys_file):
    runner = _cli_app(_nothing_configured(tmp_path)).test_cli_runner()
    version = load_key_versions(keys_file)["test-2026"]
    query = mint_query(version, bytes.fromhex("04DE5F1EACC040"), 61)
    result = runner.invoke(args=["sun", "inspect", f"https://x.example/t?{query}",
                                 "--keys-file", str(keys_file)])
    assert result.exit_code == 0, result.output
    assert '"uid": "04DE5F1EACC040"' in result.output
    assert '"counter": 61' in result.output


def test_sun_inspect_of_a_well_formed_tap_needs_keys(tmp_path, keys_file):
    runner = _cli_app(_nothing_configured(tmp_path)).test_cli_runner()
    version = load_key_versions(keys_file)["test-2026"]
    query = mint_query(version, bytes.fromhex("04DE5F1EACC040"), 3)
    result = runner.invoke(args=["sun", "inspect", f"https://x.example/t?{query}"])
    assert result.exit_code == 1
    assert "AFTERTAP_KEYS_FILE" in result.output


def test_provenance_keys_names_its_missing_key_file(tmp_path):
    runner = _cli_app(_nothing_configured(tmp_path)).test_cli_runner()
    result = runner.invoke(args=["provenance", "keys"])
    assert result.exit_code == 1
    assert "AFTERTAP_PROVENANCE_KEY_FILE" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_pages_of_an_app_built_by_the_command_without_a_secret_say_why(tmp_path):
    # `flask run` builds the app the same way: its pages must not fail on the first cookie.
    app = _cli_app(_nothing_configured(tmp_path))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert b"AFTERTAP_SECRET_KEY" in response.data


def test_serving_still_refuses_to_start_without_each_secret(tmp_path, keys_file,
                                                              provenance_key_file):
    settings = _nothing_configured(tmp_path)
    with pytest.raises(ConfigurationError, match="AFTERTAP_SECRET_KEY"):
        create_app(settings)
    settings["SECRET_KEY"] = "s" * 40
    with pytest.raises(ConfigurationError, match="AFTERTAP_KEYS_FILE"):
        create_app(settings)
    settings["KEYS_FILE"] = str(keys_file)
    with pytest.raises(ConfigurationError, match="AFTERTAP_PROVENANCE_KEY_FILE"):
        create_app(settings)
    settings["PROVENANCE_KEY_FILE"] = str(provenance_key_file)
    assert create_app(settings).name == "app"
