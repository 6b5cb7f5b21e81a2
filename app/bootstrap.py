"""First-run set-up for a development machine: ``python -m app.bootstrap``.

Creates ``instance/`` with a random development secret and random demo keys, unless they exist.
Keys are generated here, never committed: the repository holds no key.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from app.settings import defaults
from app.verify.keys import write_demo_keys_file


def bootstrap() -> list[str]:
    """Create what is missing; return a line per thing created."""
    config = defaults()
    done = []
    secret_path = Path(os.environ.get("AFTERTAP_SECRET_KEY_FILE", config["SECRET_KEY_FILE"]))
    if not os.environ.get("AFTERTAP_SECRET_KEY") and not secret_path.exists():
        secret_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
        done.append(f"created development secret {secret_path}")
    keys_path = Path(os.environ.get("AFTERTAP_KEYS_FILE", config["KEYS_FILE"]))
    if not keys_path.exists():
        write_demo_keys_file(keys_path)
        done.append(f"created random demo keys {keys_path}")
    return done


if __name__ == "__main__":
    for line in bootstrap():
        print(line)
