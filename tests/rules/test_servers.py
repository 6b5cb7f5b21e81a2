"""Published rulesets under gunicorn: a restarted worker never boots on a broken file, and a
second server switches to a version published through the first within seconds."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from app.core.clock import now
from app.rules.service import template_names
from app.rules.versions import publish
from app.verify.service import mint_tap_url
from tests.factories import tagged_item

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RULESET = """brand: maison-aurelia
journeys:
  - id: {first}
    priority: 10
    when: {{tap.verdict: genuine}}
    experience: welcome_back
  - id: refused
    priority: 0
    experience: not_verified
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(settings: dict[str, object], **extra: object) -> dict[str, str]:
    env = dict(os.environ)
    for key, value in {**settings, **extra}.items():
        if key == "TESTING":
            continue
        env[f"AFTERTAP_{key}"] = (json.dumps(value) if isinstance(value, bool | dict)
                                  else str(value))
    return env


class Server:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = _free_port()
        self.log = log
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "--workers", "1", "--bind", f"127.0.0.1:{self.port}",
             "--graceful-timeout", "2", "wsgi:app"],
            cwd=REPO, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        self.wait_ready()

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"server did not start:\n{self.log.read_text()}")

    def workers(self) -> set[int]:
        found = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                found.add(int(stat.parent.name))
        return found

    def journey(self, url: str) -> str | None:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{url}",
                                         headers={"Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - http only
            body = json.loads(resp.read())
        journey: str | None = body["experience"]["journey"]
        return journey

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _tap_path(db, keyring, tag) -> str:  # type: ignore[no-untyped-def]
    url = mint_tap_url(db, keyring, tag, "http://localhost")
    db.commit()
    return url.removeprefix("http://localhost")


def _publish(db, first: str) -> None:  # type: ignore[no-untyped-def]
    publish(db, RULESET.format(first=first), "maison-aurelia.yaml", author="test", at=now(),
            experiences=template_names("experiences"), messages=template_names("messages"))
    db.commit()


def test_a_killed_worker_boots_on_a_broken_file_and_serves_the_last_good_version(
        settings, db, keyring, tmp_path):
    tag = tagged_item(db)
    _publish(db, "published-good")
    rules_dir = tmp_path / "rulesets"
    rules_dir.mkdir()
    ruleset_file = rules_dir / "maison-aurelia.yaml"
    ruleset_file.write_text(RULESET.format(first="published-good"))
    env = _env(settings, RULESETS_DIR=rules_dir, RULESETS_SERVE_FILES=False)
    server = Server(env, tmp_path / "gunicorn.log")
    try:
        assert server.journey(_tap_path(db, keyring, tag)) == "published-good"
        ruleset_file.write_text("brand: maison-aurelia\njourneys: [\n")  # saved with an error
        (old,) = server.workers()
        os.kill(old, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not (server.workers() - {old}) and time.monotonic() < deadline:
            time.sleep(0.1)
        server.wait_ready()
        assert server.proc.poll() is None
        assert server.journey(_tap_path(db, keyring, tag)) == "published-good"
        assert "maison-aurelia.yaml refused (maison-aurelia serves published version" \
            in server.log.read_text()
    finally:
        server.stop()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_version_published_through_one_server_serves_on_another_within_2_s(
        settings, db, keyring, tmp_path):
    tag = tagged_item(db)
    _publish(db, "journey-v1")
    servers = []
    try:
        for name in ("one", "two"):
            own = tmp_path / name
            shutil.copytree(REPO / "rulesets", own)  # each server has its own copy, no share
            servers.append(Server(_env(settings, RULESETS_DIR=own, RULESETS_SERVE_FILES=False),
                                  tmp_path / f"{name}.log"))
        first, second = servers
        assert second.journey(_tap_path(db, keyring, tag)) == "journey-v1"
        draft = tmp_path / "one" / "maison-aurelia.yaml"
        draft.write_text(RULESET.format(first="journey-v2"))
        published = subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", "journeys", "publish", str(draft)],
            cwd=REPO, env=_env(settings, RULESETS_DIR=tmp_path / "one"),
            capture_output=True, text=True, timeout=60)
        assert published.returncode == 0, published.stdout + published.stderr
        start = time.monotonic()
        urls = [_tap_path(db, keyring, tag) for _ in range(60)]
        seen = None
        for url in urls:
            seen = second.journey(url)
            if seen == "journey-v2":
                break
            time.sleep(0.05)
        switched_after = time.monotonic() - start
        print(f"second server switched after {switched_after:.2f} s")
        assert seen == "journey-v2"
        assert switched_after <= 2.5  # RULESETS_RELOAD_SECONDS (2 s) plus one compile
        assert first.journey(_tap_path(db, keyring, tag)) == "journey-v2"
    finally:
        for server in servers:
            server.stop()
