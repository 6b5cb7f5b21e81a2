"""First-run set-up for a development machine: ``python -m app.bootstrap``.

Creates ``instance/`` with a random development secret, admin password, demo tag keys and a
provenance signing key, unless they exist.
Keys are generated here, never committed: the repository holds no key.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from app.core.settings import defaults
from app.provenance.keys import write_key_file
from app.verify.keys import write_demo_keys_file


def bootstrap() -> list[str]:
    """Create what is missing; return a line per thing created."""
    config = defaults()
    done = []
    secret_path = Path(os.environ.get("AFTERTAP_SECRET_KEY_FILE", config["SECRET_KEY_FILE"]))
    if not os.environ.get("AFTERTAP_SECRET_KEY") and not secret_path.exists():
        _write_private(secret_path, secrets.token_urlsafe(48))
        done.append(f"created development secret {secret_path}")
    admin_path = Path(os.environ.get("AFTERTAP_ADMIN_PASSWORD_FILE",
                                     config["ADMIN_PASSWORD_FILE"]))
    if not os.environ.get("AFTERTAP_ADMIN_PASSWORD") and not admin_path.exists():
        _write_private(admin_path, secrets.token_urlsafe(12))
        done.append(f"created admin password {admin_path} (user: admin)")
    keys_path = Path(os.environ.get("AFTERTAP_KEYS_FILE", config["KEYS_FILE"]))
    if not keys_path.exists():
        write_demo_keys_file(keys_path)
        done.append(f"created random demo keys {keys_path}")
    provenance_path = Path(os.environ.get("AFTERTAP_PROVENANCE_KEY_FILE",
                                          config["PROVENANCE_KEY_FILE"]))
    if not provenance_path.exists():
        provenance_path.parent.mkdir(parents=True, exist_ok=True)
        write_key_file(provenance_path)
        done.append(f"created provenance signing key {provenance_path}")
    return done


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


if __name__ == "__main__":
    for line in bootstrap():
        print(line)
