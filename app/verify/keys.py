"""Key versions: the SDM keys a batch of tags was personalised with, read from a TOML file.

The file (named by the AFTERTAP_KEYS_FILE setting) holds one table per version::

    [key_versions.demo-2026]
    meta_read_key = "<32 hex>"          # SDMMetaReadKey
    file_read_key = "<32 hex>"          # SDMFileReadKey used as-is, or instead
    # file_read_master_key = "<32 hex>" # diversified per tag (AN10922) from
    # system_identifier = "<hex>"       # M = UID || system_identifier
    tag_tamper = false
    simulate = true
    retired = false                     # optional

Key bytes never appear in a repr or an error message.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import threading
import time
import tomllib
from collections.abc import Callable, ItemsView, Iterator, Mapping, ValuesView
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from app.verify.crypto import KEY_SIZE, UID_SIZE, diversify_an10922

log = logging.getLogger(__name__)

# AN10922 takes M of at most 31 bytes; M = UID (7 bytes) || system_identifier.
MAX_SYSTEM_IDENTIFIER = 31 - UID_SIZE

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HEX_RE = re.compile(r"(?:[0-9A-Fa-f]{2})*")
_KEY_FIELDS = ("meta_read_key", "file_read_key", "file_read_master_key")
_BOOL_FIELDS = ("tag_tamper", "simulate")
_OPTIONAL_BOOL_FIELDS = ("retired",)
_KNOWN_FIELDS = frozenset(
    (*_KEY_FIELDS, "system_identifier", *_BOOL_FIELDS, *_OPTIONAL_BOOL_FIELDS)
)


class KeyFileError(Exception):
    """A key file is missing, unreadable or invalid.

    ``str()`` is a human message naming the file and, where it applies, the version and field.
    """

    def __init__(
        self, source: str, message: str, version: str | None = None, field: str | None = None
    ) -> None:
        self.source = source
        self.version = version
        self.field = field
        where = f"key version '{version}': " if version is not None else ""
        super().__init__(f"{source}: {where}{message}")


@dataclass(frozen=True, repr=False)
class KeyVersion:
    """One key version. Exactly one of file_read_key / file_read_master_key is set."""

    name: str
    meta_read_key: bytes
    file_read_key: bytes | None = None
    file_read_master_key: bytes | None = None
    system_identifier: bytes = b""
    tag_tamper: bool = False
    simulate: bool = False
    retired: bool = False

    def __post_init__(self) -> None:
        """Reject impossible combinations early.

        Raises ValueError naming the offending field (never its value).
        """
        if len(self.meta_read_key) != KEY_SIZE:
            raise ValueError("meta_read_key must be 16 bytes")
        if (self.file_read_key is None) == (self.file_read_master_key is None):
            raise ValueError("exactly one of file_read_key and file_read_master_key must be set")
        file_key = self.file_read_key or self.file_read_master_key
        if file_key is None or len(file_key) != KEY_SIZE:
            raise ValueError("file read key must be 16 bytes")
        if self.system_identifier and self.file_read_master_key is None:
            raise ValueError("system_identifier only applies with file_read_master_key")
        if len(self.system_identifier) > MAX_SYSTEM_IDENTIFIER:
            raise ValueError(f"system_identifier must be at most {MAX_SYSTEM_IDENTIFIER} bytes")

    def __repr__(self) -> str:
        # Secrets must never reach logs, so only say how the file key is obtained.
        source = "diversified" if self.file_read_master_key is not None else "as-is"
        return (
            f"KeyVersion(name={self.name!r}, file_key={source}, tag_tamper={self.tag_tamper}, "
            f"simulate={self.simulate}, retired={self.retired})"
        )

    __str__ = __repr__

    @property
    def diversified(self) -> bool:
        """Whether the per-tag file read key is diversified from a master key (AN10922)."""
        return self.file_read_master_key is not None

    def file_key_for(self, uid: bytes) -> bytes:
        """Return the SDMFileReadKey of the tag with this UID.

        That is file_read_key as-is, or AN10922(file_read_master_key, UID || system_identifier).
        Raises ValueError if ``uid`` is not 7 bytes.
        """
        if len(uid) != UID_SIZE:
            raise ValueError(f"uid must be {UID_SIZE} bytes, got {len(uid)}")
        if self.file_read_master_key is not None:
            return diversify_an10922(self.file_read_master_key, uid + self.system_identifier)
        assert self.file_read_key is not None  # guaranteed by __post_init__
        return self.file_read_key


def _hex_field(
    table: dict[str, Any], field: str, source: str, version: str, max_bytes: int | None = None
) -> bytes | None:
    if field not in table:
        return None
    value = table[field]
    expect = (
        f"{2 * KEY_SIZE} hex characters"
        if max_bytes is None
        else f"an even number of hex characters, at most {2 * max_bytes}"
    )
    if not isinstance(value, str) or not _HEX_RE.fullmatch(value):
        raise KeyFileError(source, f"{field} must be {expect}", version, field)
    raw = bytes.fromhex(value)
    if (max_bytes is None and len(raw) != KEY_SIZE) or (
        max_bytes is not None and len(raw) > max_bytes
    ):
        raise KeyFileError(source, f"{field} must be {expect}", version, field)
    return raw


def _bool_field(
    table: dict[str, Any], field: str, source: str, version: str, required: bool
) -> bool:
    if field not in table:
        if required:
            raise KeyFileError(source, f"{field} is required (true or false)", version, field)
        return False
    value = table[field]
    if not isinstance(value, bool):
        raise KeyFileError(source, f"{field} must be true or false", version, field)
    return value


def _parse_version(name: str, table: Any, source: str) -> KeyVersion:
    if not _NAME_RE.fullmatch(name):
        raise KeyFileError(
            source,
            "the name must be 1-64 characters of letters, digits, '.', '_' or '-'",
            name,
        )
    if not isinstance(table, dict):
        raise KeyFileError(source, "must be a table of settings", name)
    unknown = sorted(set(table) - _KNOWN_FIELDS)
    if unknown:
        raise KeyFileError(source, f"unknown field {unknown[0]}", name, unknown[0])
    meta = _hex_field(table, "meta_read_key", source, name)
    if meta is None:
        raise KeyFileError(source, "meta_read_key is required", name, "meta_read_key")
    file_key = _hex_field(table, "file_read_key", source, name)
    master = _hex_field(table, "file_read_master_key", source, name)
    if (file_key is None) == (master is None):
        raise KeyFileError(
            source,
            "exactly one of file_read_key and file_read_master_key must be set",
            name,
            "file_read_key",
        )
    system_identifier = _hex_field(
        table, "system_identifier", source, name, max_bytes=MAX_SYSTEM_IDENTIFIER
    )
    if system_identifier is not None and master is None:
        raise KeyFileError(
            source,
            "system_identifier only applies with file_read_master_key",
            name,
            "system_identifier",
        )
    return KeyVersion(
        name=name,
        meta_read_key=meta,
        file_read_key=file_key,
        file_read_master_key=master,
        system_identifier=system_identifier or b"",
        tag_tamper=_bool_field(table, "tag_tamper", source, name, required=True),
        simulate=_bool_field(table, "simulate", source, name, required=True),
        retired=_bool_field(table, "retired", source, name, required=False),
    )


def parse_key_versions(text: str, source: str = "<keys>") -> dict[str, KeyVersion]:
    """Parse and validate key-file TOML text.

    Returns the key versions by name, in file order.
    Raises KeyFileError (naming ``source``, version and field) for invalid TOML, unknown
    top-level or version fields, missing or malformed keys, non-boolean flags, both or
    neither of file_read_key / file_read_master_key, or a file without key versions.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KeyFileError(source, f"not valid TOML ({exc})") from None
    unknown = sorted(set(document) - {"key_versions"})
    if unknown:
        raise KeyFileError(source, f"unknown top-level field {unknown[0]}", field=unknown[0])
    tables = document.get("key_versions")
    if not isinstance(tables, dict) or not tables:
        raise KeyFileError(source, "defines no key versions ([key_versions.<name>] tables)")
    return {name: _parse_version(name, table, source) for name, table in tables.items()}


def load_key_versions(path: str | os.PathLike[str]) -> dict[str, KeyVersion]:
    """Read and validate the key file at ``path``.

    Returns the key versions by name.
    Raises KeyFileError if the file does not exist, cannot be read, is not UTF-8, or is
    invalid (see ``parse_key_versions``).
    """
    source = os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise KeyFileError(source, "key file does not exist") from None
    except OSError as exc:
        raise KeyFileError(source, f"cannot read key file ({exc.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyFileError(source, "key file is not UTF-8 text") from None
    return parse_key_versions(text, source)


def write_demo_keys_file(path: str | os.PathLike[str], name: str = "demo-2026") -> KeyVersion:
    """Write a new key file holding one demo key version with fresh random keys.

    The version allows simulated taps (simulate = true). Parent directories are created;
    the file is created with mode 0600.
    Returns the key version written (as read back from the file's text).
    Raises FileExistsError if ``path`` exists (never overwrites), ValueError for an invalid
    version name, OSError if the file cannot be written.
    """
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"invalid key version name {name!r}")
    text = (
        "# Aftertap demo keys, generated with random values. simulate = true lets anyone with\n"
        "# access to the service mint taps for this version: never use it for real tags.\n"
        f"[key_versions.{name}]\n"
        f'meta_read_key = "{secrets.token_bytes(KEY_SIZE).hex().upper()}"\n'
        f'file_read_key = "{secrets.token_bytes(KEY_SIZE).hex().upper()}"\n'
        "tag_tamper = false\n"
        "simulate = true\n"
        "retired = false\n"
    )
    kv = parse_key_versions(text, os.fspath(path))[name]
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL makes "refuse to overwrite" atomic; the mode applies from creation on.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # a restrictive umask must not change the documented mode
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            fd = -1
            handle.write(text)
    finally:
        if fd != -1:
            os.close(fd)
    return kv


class KeysUnavailable(Exception):
    """The keys file is missing or invalid; the message says which setting and what to do."""


def open_keyring(path: str | os.PathLike[str], check_every: float = 2.0) -> Keyring:
    """Return the ``Keyring`` of the keys file at ``path`` (``AFTERTAP_KEYS_FILE``).

    Raises:
        KeysUnavailable: the file does not exist, or is invalid.
    """
    if not Path(path).is_file():
        raise KeysUnavailable(
            f"AFTERTAP_KEYS_FILE points to {Path(path)}, which does not exist. Create it (see "
            "README, 'Keys'), or run `make run` once to generate random demo keys."
        )
    try:
        return Keyring(path, check_every)
    except KeyFileError as exc:
        raise KeysUnavailable(str(exc)) from None


def _file_signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class Keyring(Mapping[str, KeyVersion]):
    """The key versions of one keys file, as they are now: a new version needs no restart.

    Reads see one immutable snapshot, swapped whole when the file changes, so a verification
    never mixes two versions of the file. The file is looked at (one ``stat``) at most every
    ``check_every`` seconds, and at once when a tap verifies under no known version
    (``reload_if_changed``): a chip personalised with a key version added a moment ago is
    judged with it. A file that no longer validates is refused and logged (by name and field,
    never a key); the versions already loaded keep serving.
    """

    def __init__(self, path: str | os.PathLike[str], check_every: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Load the file once, strictly.

        Raises:
            KeyFileError: the file is missing or invalid.
        """
        self.path = Path(path)
        self._check_every = check_every
        self._clock = clock
        self._lock = threading.Lock()
        self._signature = _file_signature(self.path)
        self._versions: Mapping[str, KeyVersion] = MappingProxyType(load_key_versions(path))
        self._checked_at = clock()
        self.error: str | None = None

    def snapshot(self) -> Mapping[str, KeyVersion]:
        """Return the current versions, looking at the file first if it is time to."""
        if self._check_every >= 0 and self._clock() - self._checked_at >= self._check_every:
            self.reload_if_changed()
        return self._versions

    def reload_if_changed(self) -> bool:
        """Reload the file if it changed since it was last read; return True if versions did.

        A file that changed but does not validate leaves the loaded versions in place, and
        ``error`` says why.
        """
        with self._lock:
            self._checked_at = self._clock()
            signature = _file_signature(self.path)
            if signature == self._signature:
                return False
            self._signature = signature
            try:
                versions = load_key_versions(self.path)
            except KeyFileError as exc:
                self.error = str(exc)
                log.error("key versions not reloaded, the loaded ones stay: %s", exc)
                return False
            self.error = None
            changed = dict(versions) != dict(self._versions)
            self._versions = MappingProxyType(versions)
            if changed:
                log.info("key versions reloaded: %s", ", ".join(sorted(versions)))
            return changed

    def __getitem__(self, name: str) -> KeyVersion:
        return self.snapshot()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        return len(self.snapshot())

    def values(self) -> ValuesView[KeyVersion]:
        # One snapshot for the whole iteration: never half of one file and half of another.
        return self.snapshot().values()

    def items(self) -> ItemsView[str, KeyVersion]:
        return self.snapshot().items()
