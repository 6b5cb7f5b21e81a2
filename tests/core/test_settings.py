"""Start-up: settings from defaults, environment and overrides; missing secrets stop the app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app import create_app
from app.core.settings import ConfigurationError

REPO = Path(__file__).resolve().parents[2]


def test_missing_secret_fails_with_a_clear_message(tmp_path, keys_file):
    with pytest.raises(ConfigurationError) as info:
        create_app({"SECRET_KEY_FILE": str(tmp_path / "none"), "KEYS_FILE": str(keys_file)})
    assert "AFTERTAP_SECRET_KEY is not set" in str(info.value)


def test_short_secret_is_refused(keys_file):
    with pytest.raises(ConfigurationError, match="shorter than 32"):
        create_app({"SECRET_KEY": "short", "KEYS_FILE": str(keys_file)})


def test_missing_keys_file_fails_with_a_clear_message(tmp_path):
    with pytest.raises(ConfigurationError) as info:
        create_app({"SECRET_KEY": "s" * 40, "KEYS_FILE": str(tmp_path / "keys.toml")})
    assert "AFTERTAP_KEYS_FILE points to" in str(info.value)
    assert "does not exist" in str(info.value)


def test_bad_keys_file_fails_naming_the_field(tmp_path):
    bad = tmp_path / "keys.toml"
    bad.write_text('[key_versions.v1]\nmeta_read_key = "00"\nfile_read_key = "' + "0" * 32
                   + '"\ntag_tamper = false\nsimulate = false\n')
    with pytest.raises(ConfigurationError) as info:
        create_app({"SECRET_KEY": "s" * 40, "KEYS_FILE": str(bad)})
    assert "key version 'v1'" in str(info.value)
    assert "meta_read_key" in str(info.value)
    assert "00" not in str(info.value).split("meta_read_key")[-1][:5]


def test_a_bad_ruleset_file_never_stops_start_up_and_says_why(
        tmp_path, keys_file, provenance_key_file, database_url):
    # Issue 11: a file saved with an error used to take every restarting worker down.
    rulesets = tmp_path / "rulesets"
    rulesets.mkdir()
    (rulesets / "broken.yaml").write_text("brand: b\njourneys:\n  - {id: a, priority: x}\n")
    app = create_app({"SECRET_KEY": "s" * 40, "KEYS_FILE": str(keys_file),
                      "PROVENANCE_KEY_FILE": str(provenance_key_file),
                      "DATABASE_URL": database_url, "RULESETS_DIR": str(rulesets),
                      "RULESETS_SERVE_FILES": True})
    try:
        (error,) = app.extensions["aftertap.rules"].registry.errors.values()
        assert "broken.yaml:3:23: journey 'a': 'priority' must be a whole number" in (
            error.message)
        assert app.test_client().get("/healthz").status_code == 200
    finally:
        app.extensions["aftertap.db"].engine.dispose()


def test_environment_overrides_defaults_and_overrides_win(
    tmp_path, keys_file, provenance_key_file, monkeypatch
):
    monkeypatch.setenv("AFTERTAP_SECRET_KEY", "e" * 40)
    monkeypatch.setenv("AFTERTAP_KEYS_FILE", str(keys_file))
    monkeypatch.setenv("AFTERTAP_PROVENANCE_KEY_FILE", str(provenance_key_file))
    monkeypatch.setenv("AFTERTAP_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    monkeypatch.setenv("AFTERTAP_FAILED_TAP_DETAIL_PER_HOUR", "7")
    app = create_app()
    assert app.config["SECRET_KEY"] == "e" * 40
    assert app.config["DATABASE_URL"].endswith("env.db")
    assert app.config["FAILED_TAP_DETAIL_PER_HOUR"] == 7
    assert create_app({"FAILED_TAP_DETAIL_PER_HOUR": 9}).config["FAILED_TAP_DETAIL_PER_HOUR"] == 9


def test_wsgi_module_starts_from_environment_alone(tmp_path, keys_file, provenance_key_file):
    env = {
        "PATH": "/usr/bin:/bin",
        "AFTERTAP_SECRET_KEY": "w" * 40,
        "AFTERTAP_KEYS_FILE": str(keys_file),
        "AFTERTAP_PROVENANCE_KEY_FILE": str(provenance_key_file),
        "AFTERTAP_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
    }
    out = subprocess.run(
        [sys.executable, "-c", "import wsgi; print(wsgi.app.name)"],
        cwd=REPO, env=env, capture_output=True, text=True, check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "app"
