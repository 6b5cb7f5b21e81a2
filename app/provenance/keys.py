"""Ed25519 signing keys for provenance records: each brand's own, and the house key.

Each brand signs with its own key (``BrandKeys``: ``AFTERTAP_PROVENANCE_KEYS_DIR``, one folder
per brand, made and rotated by ``flask provenance keys rotate BRAND``). A brand without one signs
with the house key, a PKCS#8 PEM file named by ``AFTERTAP_PROVENANCE_KEY_FILE`` (``make run``
creates a random one for development). A key id is derived from the public key, so a record
names the exact key that signed it and anyone can match it against the published keys.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from Crypto.PublicKey import ECC
from Crypto.PublicKey.ECC import EccKey

log = logging.getLogger(__name__)


class ProvenanceKeyError(ValueError):
    """The key file is missing or does not hold an Ed25519 private key."""


def b64url(data: bytes) -> str:
    """Return ``data`` as unpadded base64url text."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Return the bytes of unpadded base64url ``text``.

    Raises:
        ValueError: it is not base64url.
    """
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError("not base64url text") from exc


@dataclass(frozen=True)
class SigningKey:
    key: EccKey
    key_id: str
    public_raw: bytes  # 32 bytes


def key_id_for(public_raw: bytes) -> str:
    """Return the key id of a raw Ed25519 public key: ``ed25519-`` + 16 hex of its SHA-256."""
    return "ed25519-" + hashlib.sha256(public_raw).hexdigest()[:16]


def write_key_file(path: Path) -> SigningKey:
    """Create a random Ed25519 key at ``path`` (mode 0600); return it. Refuses to overwrite.

    Raises:
        FileExistsError: ``path`` exists.
    """
    key = ECC.generate(curve="ed25519")
    pem = key.export_key(format="PEM")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(pem)
    return _signing_key(key)


def load_key_file(path: Path) -> SigningKey:
    """Return the signing key in ``path``.

    Raises:
        ProvenanceKeyError: missing, unreadable, or not an Ed25519 private key.
    """
    try:
        key = ECC.import_key(Path(path).read_text())
    except OSError as exc:
        raise ProvenanceKeyError(f"cannot read {path}: {exc.strerror}") from exc
    except (ValueError, IndexError, TypeError) as exc:
        raise ProvenanceKeyError(f"{path} does not hold a PEM private key") from exc
    if key.curve.lower() not in ("ed25519",) or not key.has_private():
        raise ProvenanceKeyError(f"{path} must hold an Ed25519 private key")
    return _signing_key(key)


def _signing_key(key: EccKey) -> SigningKey:
    raw = key.public_key().export_key(format="raw")
    return SigningKey(key=key, key_id=key_id_for(raw), public_raw=raw)


_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
CURRENT = "current.pem"
RETIRED = "retired"


@dataclass(frozen=True)
class PublishedKey:
    """A public key of the well-known document: whose it is, and whether it still signs.

    ``brand`` None is the house key (``PROVENANCE_KEY_FILE``), which signs for brands that have
    no key of their own yet.
    """

    brand: str | None
    key_id: str
    public_raw: bytes
    current: bool


def _brand_dir(directory: Path, brand: str) -> Path:
    if not _SLUG.fullmatch(brand):
        raise ProvenanceKeyError(f"{brand!r} is not a brand slug")
    return directory / brand


def rotate_brand_key(directory: Path, brand: str) -> SigningKey:
    """Give ``brand`` a new signing key; its previous key, if any, becomes a retired public key.

    The old public key is written to ``retired/`` before the new key replaces ``current.pem``
    (an atomic rename), so at every moment each key that ever signed is published somewhere and
    every record stays verifiable.

    Raises:
        ProvenanceKeyError: ``brand`` is not a slug, or its current key file is unusable.
    """
    folder = _brand_dir(Path(directory), brand)
    (folder / RETIRED).mkdir(parents=True, exist_ok=True)
    current = folder / CURRENT
    if current.exists():
        old = load_key_file(current)
        pem = old.key.public_key().export_key(format="PEM")
        (folder / RETIRED / f"{old.key_id}.pem").write_text(pem, encoding="ascii")
    staging = folder / f".{CURRENT}.{secrets.token_hex(4)}"
    new = write_key_file(staging)
    os.replace(staging, current)
    return new


def _public_raw(path: Path) -> bytes:
    try:
        key = ECC.import_key(path.read_text(encoding="ascii"))
    except (OSError, ValueError, IndexError, TypeError) as exc:
        raise ProvenanceKeyError(f"{path} does not hold a PEM public key") from exc
    if key.curve.lower() != "ed25519":
        raise ProvenanceKeyError(f"{path} must hold an Ed25519 key")
    return bytes(key.public_key().export_key(format="raw"))


def _scan(directory: Path) -> tuple[tuple[str, int, int], ...]:
    # What the folder holds, cheaply: a rotation or a new brand changes a name, a time or a size.
    if not directory.is_dir():
        return ()
    found = []
    for path in directory.glob("*/**/*.pem"):  # <brand>/current.pem and <brand>/retired/*.pem
        st = path.stat()
        found.append((str(path.relative_to(directory)), st.st_mtime_ns, st.st_size))
    return tuple(sorted(found))


class BrandKeys:
    """Every brand's provenance signing key, and every key that ever signed, from one folder.

    Layout: ``<dir>/<brand>/current.pem`` (private) and ``<dir>/<brand>/retired/<key id>.pem``
    (public). A brand without a folder signs with the house key. The folder is looked at again
    at most every ``check_every`` seconds, so a rotation by ``flask provenance keys rotate`` in
    another process reaches every web process without a restart; a key that cannot be read is
    logged and the keys already loaded stay.
    """

    def __init__(self, house: SigningKey, directory: str | os.PathLike[str],
                 check_every: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.house = house
        self.directory = Path(directory)
        self._check_every = check_every
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: tuple[tuple[str, int, int], ...] | None = None
        self._current: Mapping[str, SigningKey] = MappingProxyType({})
        self._retired: tuple[PublishedKey, ...] = ()
        self._checked_at = clock()
        self.reload()

    def reload(self) -> None:
        """Read the folder now if it changed."""
        with self._lock:
            self._checked_at = self._clock()
            seen = _scan(self.directory)
            if seen == self._seen:
                return
            current: dict[str, SigningKey] = {}
            retired: list[PublishedKey] = []
            folders = (sorted(p for p in self.directory.iterdir() if p.is_dir())
                       if self.directory.is_dir() else [])
            try:
                for folder in folders:
                    if not _SLUG.fullmatch(folder.name):
                        continue
                    if (folder / CURRENT).is_file():
                        current[folder.name] = load_key_file(folder / CURRENT)
                    for pem in sorted((folder / RETIRED).glob("*.pem")):
                        raw = _public_raw(pem)
                        retired.append(PublishedKey(folder.name, key_id_for(raw), raw, False))
            except ProvenanceKeyError as exc:
                log.error("provenance keys not reloaded, the loaded ones stay: %s", exc)
                return
            self._seen = seen
            self._current = MappingProxyType(current)
            self._retired = tuple(retired)

    def _fresh(self) -> None:
        if self._check_every >= 0 and self._clock() - self._checked_at >= self._check_every:
            self.reload()

    def for_brand(self, brand: str) -> SigningKey:
        """Return the key that signs ``brand``'s records now: its own, else the house key."""
        self._fresh()
        return self._current.get(brand, self.house)

    def published(self) -> list[PublishedKey]:
        """Return every public key to publish: the house key, then each brand's current and
        retired keys."""
        self._fresh()
        keys = [PublishedKey(None, self.house.key_id, self.house.public_raw, True)]
        keys += [PublishedKey(brand, k.key_id, k.public_raw, True)
                 for brand, k in self._current.items()]
        return keys + list(self._retired)
