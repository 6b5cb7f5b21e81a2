"""``flask provenance export|verify|keys`` as a brand and a resale platform use them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.catalog.views import item_view
from app.provenance import KEY_EXTENSION
from app.provenance.keys import write_key_file
from app.provenance.models import ProvenanceRecord
from app.provenance.records import issue_record
from app.provenance.verification import signed_document
from tests.provenance.helpers import owned


@pytest.fixture
def record(app, db) -> ProvenanceRecord:  # type: ignore[no-untyped-def]
    tag, _, ownership_id = owned(db, at=datetime.now(UTC) - timedelta(days=3))
    issued = issue_record(db, app.extensions[KEY_EXTENSION], app.config,
                          item_view(tag.item), ownership_id, datetime.now(UTC))
    db.commit()
    return issued


@pytest.fixture
def exported(runner, record, tmp_path) -> Path:  # type: ignore[no-untyped-def]
    out = tmp_path / "record.json"
    result = runner.invoke(args=["provenance", "export", record.id, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def jwks_file(client, tmp_path) -> Path:  # type: ignore[no-untyped-def]
    """The well-known key set, saved as a platform would save it."""
    path = tmp_path / "aftertap-provenance-keys.json"
    path.write_bytes(client.get("/.well-known/aftertap-provenance-keys.json").data)
    return path


def verify(runner, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(args=["provenance", "verify", *args])


def test_export_then_verify_offline_with_the_saved_key_set(runner, record, exported, jwks_file):
    assert json.loads(exported.read_text())["document"] == record.document
    result = verify(runner, str(exported), "--key-file", str(jwks_file))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"valid: {record.id} ")
    assert "withdrawn" in result.output  # says that revocation is checked online


def test_verify_with_a_public_key_pem(app, runner, exported, tmp_path):
    pem = tmp_path / "public.pem"
    pem.write_text(app.extensions[KEY_EXTENSION].key.public_key().export_key(format="PEM"))
    result = verify(runner, str(exported), "--key-file", str(pem))
    assert result.exit_code == 0, result.output


def test_tampered_file_is_invalid(runner, exported, jwks_file):
    data = json.loads(exported.read_text())
    data["document"] = data["document"].replace('"previous_owners":0', '"previous_owners":1')
    data["record"]["ownership"]["previous_owners"] = 1
    exported.write_text(json.dumps(data))
    result = verify(runner, str(exported), "--key-file", str(jwks_file))
    assert result.exit_code == 1
    assert result.output.strip() == "INVALID: bad signature"


def test_expired_file_is_invalid(app, runner, db, jwks_file, tmp_path):
    tag, _, ownership_id = owned(db, at=datetime.now(UTC) - timedelta(days=200))
    old = issue_record(db, app.extensions[KEY_EXTENSION], {"PROVENANCE_VALID_DAYS": 90},
                       item_view(tag.item), ownership_id,
                       datetime.now(UTC) - timedelta(days=91))
    db.commit()
    path = tmp_path / "old.json"
    path.write_text(json.dumps(signed_document(old)))
    result = verify(runner, str(path), "--key-file", str(jwks_file))
    assert result.exit_code == 1
    assert result.output.startswith("INVALID: expired at ")


def test_wrong_key_and_garbage_are_invalid(runner, exported, tmp_path):
    other = tmp_path / "other.pem"
    write_key_file(other)
    result = verify(runner, str(exported), "--key-file", str(other))
    assert result.exit_code == 1
    assert result.output.startswith("INVALID: unknown key ")
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    result = verify(runner, str(junk), "--key-file", str(other))
    assert result.exit_code == 1
    assert result.output.startswith("INVALID: malformed file")


def test_verify_needs_a_key_and_fetches_nothing_by_default(runner, exported, tmp_path):
    result = verify(runner, str(exported))
    assert result.exit_code != 0
    assert "--key-file" in result.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"keys": []}')
    result = verify(runner, str(exported), "--key-file", str(bad))
    assert result.exit_code != 0
    assert "public key" in result.output
    result = verify(runner, str(exported), "--key-url", "file:///etc/passwd")
    assert result.exit_code != 0
    assert "http(s)" in result.output


@pytest.fixture
def key_server(client) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A local web server publishing the key set, standing in for the brand's site."""
    body = client.get("/.well-known/aftertap-provenance-keys.json").data

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/aftertap-provenance-keys.json"
    server.shutdown()
    server.server_close()


def test_verify_with_a_downloaded_key_set(runner, exported, key_server):
    result = verify(runner, str(exported), "--key-url", key_server)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("valid: ")


def test_export_of_an_unknown_record_fails(runner, tmp_path):
    result = runner.invoke(args=["provenance", "export", "nope", "--out", str(tmp_path / "x")])
    assert result.exit_code != 0
    assert "no provenance record" in result.output
    assert not (tmp_path / "x").exists()


def test_keys_prints_the_published_key_set(app, runner):
    result = runner.invoke(args=["provenance", "keys"])
    assert result.exit_code == 0
    printed = json.loads(result.output)
    assert printed == app.test_client().get("/.well-known/aftertap-provenance-keys.json").get_json()
    assert [k["kid"] for k in printed["keys"]] == [app.extensions[KEY_EXTENSION].key_id]


def test_missing_or_invalid_key_file_stops_start_up(settings, tmp_path):
    from app import create_app
    from app.core.settings import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"AFTERTAP_PROVENANCE_KEY_FILE.*make run"):
        create_app({**settings, "PROVENANCE_KEY_FILE": str(tmp_path / "missing.pem")})
    public_only = tmp_path / "public.pem"
    key = write_key_file(tmp_path / "private.pem")
    public_only.write_text(key.key.public_key().export_key(format="PEM"))
    with pytest.raises(ConfigurationError, match=r"AFTERTAP_PROVENANCE_KEY_FILE.*Ed25519"):
        create_app({**settings, "PROVENANCE_KEY_FILE": str(public_only)})
