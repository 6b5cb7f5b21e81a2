"""``aftertap-tap``: ``tags tap`` without building the app, minting with the same code."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import tomllib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import update

from app import create_app
from app.core.db import Base, make_engine
from app.core.settings import resolve
from app.verify import quicktap
from app.verify.keys import load_key_versions
from app.verify.mint import ITEMS, PRODUCTS, TAGS, find_sim_tag, mint_url
from app.verify.models import Tag
from app.verify.service import mint_tap_url
from app.verify.sun import SimulationNotAllowed, parse_query, verify_any
from tests.factories import tagged_item
from tests.tap.test_views import JSON, path_of

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).with_name("aftertap-tap")


def env_for(app, **extra: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The environment that points aftertap-tap at ``app``'s database and keys."""
    return {
        "AFTERTAP_DATABASE_URL": app.config["DATABASE_URL"],
        "AFTERTAP_KEYS_FILE": app.config["KEYS_FILE"],
        "AFTERTAP_PUBLIC_BASE_URL": app.config["PUBLIC_BASE_URL"],
        **extra,
    }


def quick(app, *args: str, **extra: str):  # type: ignore[no-untyped-def]
    """Run aftertap-tap in this process; return click's result."""
    return CliRunner().invoke(quicktap.main, list(args), env=env_for(app, **extra))


def counter_of(url: str, keyring) -> int:  # type: ignore[no-untyped-def]
    result = verify_any(parse_query(url.strip().split("?", 1)[1]), keyring.values())
    assert result is not None
    return result.counter


def test_the_script_mints_a_tap_the_app_verifies_as_genuine(app, client, db, keyring):
    tag = tagged_item(db)
    done = subprocess.run([str(SCRIPT), tag.item.serial, "--mode", "lrp"], cwd=REPO,
                          env={**os.environ, **env_for(app)}, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert url.startswith(f"http://localhost/01/{tag.item.product.gtin}/21/{tag.item.serial}?")
    first = client.get(path_of(url), headers=JSON)
    assert first.status_code == 200
    assert first.get_json()["verdict"] == "genuine"
    # A tap URL works once.
    assert client.get(path_of(url), headers=JSON).get_json()["verdict"] == "replayed"


def test_counters_rise_across_tags_tap_and_the_script(app, runner, db, keyring):
    tag = tagged_item(db)
    urls = []
    for use_script in (True, False, True, False):
        if use_script:
            result = quick(app, tag.item.serial, "--form", "t", "--base-url", "https://b.example")
        else:
            result = runner.invoke(args=["tags", "tap", tag.item.serial, "--form", "t",
                                         "--base-url", "https://b.example"])
        assert result.exit_code == 0, result.output
        urls.append(result.stdout.strip())
    assert all(url.startswith("https://b.example/t?") for url in urls)
    assert [counter_of(url, keyring) for url in urls] == [1, 2, 3, 4]
    # A real chip's tap seen at counter 41: the next simulated one must be above it.
    db.execute(update(Tag).where(Tag.id == tag.id).values(last_counter=41))
    db.commit()
    result = quick(app, tag.item.serial)
    assert counter_of(result.stdout, keyring) == 42


@pytest.mark.postgres_only
def test_concurrent_minting_never_hands_out_a_counter_twice(app, db):
    if app.config["DATABASE_URL"].startswith("sqlite"):
        pytest.skip("PostgreSQL concurrency (SQLite's writers take turns)")
    tag = tagged_item(db)
    keys = load_key_versions(app.config["KEYS_FILE"])
    engine = make_engine(app.config["DATABASE_URL"], pool_size=16)
    threads, rounds = 16, 5
    barrier = threading.Barrier(threads)

    def mint(_: int) -> list[int]:
        counters = []
        for _ in range(rounds):
            with engine.begin() as conn:
                found = find_sim_tag(conn, tag.item.serial)
                barrier.wait()
                url = mint_url(conn, keys, found, "http://localhost")
            result = verify_any(parse_query(url.split("?", 1)[1]), keys.values())
            assert result is not None
            counters.append(result.counter)
        return counters

    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            handed_out = [c for counters in pool.map(mint, range(threads)) for c in counters]
    finally:
        engine.dispose()
    assert Counter(handed_out).most_common(1)[0][1] == 1
    assert sorted(handed_out) == list(range(1, threads * rounds + 1))


def test_a_shared_serial_needs_the_gtin(app, runner, db, keyring):
    bag = tagged_item(db, serial="SHARED-0001", category="bag")
    tagged_item(db, serial="SHARED-0001", category="serum")
    refused = quick(app, "SHARED-0001")
    flask_refused = runner.invoke(args=["tags", "tap", "SHARED-0001"])
    assert refused.exit_code == flask_refused.exit_code == 1
    assert refused.stderr == flask_refused.output == (
        "Error: serial 'SHARED-0001' is used by several products; give --gtin\n")
    chosen = quick(app, "SHARED-0001", "--gtin", bag.item.product.gtin)
    assert chosen.exit_code == 0, chosen.output
    assert f"/01/{bag.item.product.gtin}/21/SHARED-0001?" in chosen.stdout


def test_errors_are_one_line_and_exit_1(app, runner, db, tmp_path):
    tag = tagged_item(db)
    unknown = quick(app, "NOPE")
    assert (unknown.exit_code, unknown.stderr) == (1, "Error: no tagged item has serial 'NOPE'\n")
    assert runner.invoke(args=["tags", "tap", "NOPE"]).output == unknown.stderr

    missing = quick(app, tag.item.serial, AFTERTAP_KEYS_FILE=str(tmp_path / "none.toml"))
    assert missing.exit_code == 1
    assert missing.stderr == (
        f"Error: AFTERTAP_KEYS_FILE points to {tmp_path / 'none.toml'}, which does not exist. "
        "Create it (see README, 'Keys'), or run `make run` once to generate random demo keys.\n")
    # The flask command builds the app in its click context (not to serve): the file is
    # checked by the command that needs it.
    with click.Context(click.Command("flask")):
        offline = create_app({**app.config, "KEYS_FILE": str(tmp_path / "none.toml")})
    flask_missing = offline.test_cli_runner().invoke(args=["tags", "tap", tag.item.serial])
    assert flask_missing.output == missing.stderr
    offline.extensions["aftertap.db"].engine.dispose()

    real = tmp_path / "real.toml"
    real.write_text(Path(app.config["KEYS_FILE"]).read_text().replace(
        "simulate = true", "simulate = false"))
    refused = quick(app, tag.item.serial, AFTERTAP_KEYS_FILE=str(real))
    assert (refused.exit_code, refused.stderr) == (1, (
        "Error: key version 'test-2026' does not allow simulated taps (simulate = false)\n"))
    db.expire_all()
    assert db.get(Tag, tag.id).sim_counter == 0

    empty = quick(app, tag.item.serial, AFTERTAP_DATABASE_URL="")
    assert (empty.exit_code, empty.stderr) == (1, "Error: AFTERTAP_DATABASE_URL is empty.\n")
    for result in (unknown, missing, refused, empty):
        assert result.stdout == ""
        assert "Traceback" not in result.output


def test_settings_are_the_apps(app, db, monkeypatch, tmp_path):
    # The same AFTERTAP_* values, read as the app reads them (JSON first, else text).
    env = env_for(app, AFTERTAP_SQLITE_BUSY_TIMEOUT_MS="4321",
                  AFTERTAP_PUBLIC_BASE_URL='"https://brand.example"',
                  AFTERTAP_SECRET_KEY="s" * 40,
                  AFTERTAP_PROVENANCE_KEY_FILE=app.config["PROVENANCE_KEY_FILE"])
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    built = create_app()
    built.extensions["aftertap.db"].engine.dispose()
    resolved = resolve(quicktap.SETTINGS)
    assert resolved == {name: built.config[name] for name in quicktap.SETTINGS}
    assert resolved["SQLITE_BUSY_TIMEOUT_MS"] == 4321
    assert resolved["PUBLIC_BASE_URL"] == "https://brand.example"
    # Only these are checked: a secret the script does not use may be missing.
    monkeypatch.setenv("AFTERTAP_SECRET_KEY", "")
    monkeypatch.setenv("AFTERTAP_SECRET_KEY_FILE", str(tmp_path / "none"))
    engines = []

    def spy(url: str, **kwargs):  # type: ignore[no-untyped-def]
        engines.append((url, kwargs))
        return make_engine(url, **kwargs)

    monkeypatch.setattr(quicktap, "make_engine", spy)
    result = CliRunner().invoke(quicktap.main, [tagged_item(db).item.serial])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("https://brand.example/01/")
    # The app's engine, tuned as the app's (WAL, busy timeout, BEGIN IMMEDIATE on SQLite).
    assert engines == [(app.config["DATABASE_URL"], {"sqlite_busy_timeout_ms": 4321})]


def test_the_lightweight_tables_name_real_columns():
    # app.verify.mint spells out the columns it uses instead of loading the models.
    for light in (TAGS, ITEMS, PRODUCTS):
        model = Base.metadata.tables[light.name]
        assert set(light.c.keys()) <= set(model.c.keys()), light.name


def test_the_script_loads_neither_flask_nor_the_orm_nor_the_factory(app, db):
    # A fresh interpreter that mints a tap, then lists what it loaded: what keeps it fast.
    tag = tagged_item(db)
    probe = (
        "import sys\n"
        "from app.verify.quicktap import main\n"
        "try:\n"
        f"    main([{tag.item.serial!r}])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'flask_babel',"
        " 'werkzeug', 'jinja2') or m.startswith('sqlalchemy.orm') or m.startswith('app.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO,
                          env={**os.environ, **env_for(app)}, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    url, loaded = done.stdout.splitlines()
    assert url.startswith("http://localhost/01/")
    assert loaded == str(sorted([
        "app.core", "app.core.engine", "app.core.settings", "app.verify", "app.verify.crypto",
        "app.verify.keys", "app.verify.lrp", "app.verify.mint", "app.verify.quicktap",
        "app.verify.sun",
    ]))


def test_readme_names_the_installed_script():
    readme = (REPO / "README.md").read_text()
    assert ".venv/bin/aftertap-tap BAG-0001" in readme
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["aftertap-tap"] == "app.verify.quicktap:main"
    assert SCRIPT.is_file(), "run `make install`"


def test_mint_tap_url_keeps_its_callers_behaviour(db, keyring):
    # The /demo page, tests and benches mint through the ORM-level function: same URL shape,
    # same counters, the same refusal.
    tag = tagged_item(db)
    url = mint_tap_url(db, keyring, tag, "http://localhost/", form="gs1")
    assert url.startswith(f"http://localhost/01/{tag.item.product.gtin}/21/{tag.item.serial}?")
    assert counter_of(mint_tap_url(db, keyring, tag, "http://localhost", form="t"), keyring) == 2
    with pytest.raises(ValueError, match="unknown URL form"):
        mint_tap_url(db, keyring, tag, "http://localhost", form="x")
    real = {"test-2026": dataclasses.replace(keyring["test-2026"], simulate=False)}
    with pytest.raises(SimulationNotAllowed, match="does not allow simulated taps"):
        mint_tap_url(db, real, tag, "http://localhost")
    db.commit()
    db.expire_all()
    assert db.get(Tag, tag.id).sim_counter == 2
