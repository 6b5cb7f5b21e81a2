"""Live rulesets: the versions published in the database, picked up by every process in seconds.

A brand's live ruleset is its newest published version (``app.rules.versions``). Each process
polls the newest version id per brand at most every ``check_every`` seconds (one short query),
compiles a new version once, and swaps an immutable snapshot ``{brand: Ruleset}`` whole, so a
request that holds a ruleset sees either the old rules or the new ones, never a mix. Nothing is
shared between servers but the database.

The ruleset files on disk are drafts. Each process still checks them at the same interval, so a
broken file is logged and shown on the preview page next to the version that keeps serving. In
development (``serve_files``), a valid file also serves its brand while the brand has no
published version, and an edit to it is live at the next check; the database still wins.

Nothing here raises at start-up: a broken file, a version this process cannot compile (a template
gone since) or an unreachable database leaves the brand on its last good version, or unserved
(a neutral page), and says why in the log and in ``errors``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from app.rules.service import Ruleset, RulesetError

log = logging.getLogger(__name__)

Loader = Callable[[str, str], Ruleset]

# How many older versions a process tries when it cannot compile a brand's newest one.
FALL_BACK_VERSIONS = 10


@dataclass(frozen=True)
class LoadError:
    """Why a ruleset file (or a published version) is not live: what, the full message, when,
    and what serves its brand instead."""

    file: str
    message: str
    at: float
    serving: str = ""


@dataclass(frozen=True)
class StoredVersion:
    id: int
    brand: str
    source: str
    text: str
    author: str
    created_at: datetime


@dataclass(frozen=True)
class LiveVersion:
    """A published version this process serves."""

    id: int
    brand: str
    author: str
    created_at: datetime
    ruleset: Ruleset

    def describe(self) -> str:
        return (f"published version {self.id} ({self.author}, "
                f"{self.created_at:%Y-%m-%d %H:%M} UTC)")


class VersionStore(Protocol):
    """Where published versions are read from (the database, see ``app.rules.init_app``)."""

    def latest_ids(self) -> Mapping[str, int]:
        """Return the newest version id per brand."""

    def newest(self, brand: str, up_to: int, limit: int) -> Sequence[StoredVersion]:
        """Return ``brand``'s versions with id at most ``up_to``, newest first."""


def _signature(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class RulesetRegistry:
    """The live rulesets of one process: published versions, and files as drafts."""

    def __init__(
        self,
        directory: Path,
        loader: Loader,
        check_every: float = 2.0,
        store: VersionStore | None = None,
        serve_files: bool = True,
    ) -> None:
        self.directory = Path(directory)
        self._loader = loader
        self._check_every = check_every
        self._store = store
        self._serve_files = serve_files
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[int, int, int]] = {}
        self._by_file: dict[str, Ruleset] = {}
        self._published: dict[str, LiveVersion] = {}
        # The newest id of a brand this process could not compile, so it is not retried.
        self._refused_ids: dict[str, int] = {}
        self._store_down = False
        self._snapshot: Mapping[str, Ruleset] = MappingProxyType({})
        self._errors: Mapping[str, LoadError] = MappingProxyType({})
        self._checked_at = 0.0
        self._checked_once = False

    def rulesets(self) -> Mapping[str, Ruleset]:
        """Return the live rulesets by brand, picking up new versions when the interval is up.

        Only the first call reloads when ``check_every`` is negative.
        """
        elapsed = time.monotonic() - self._checked_at
        due = not self._checked_once or elapsed >= self._check_every >= 0
        # Only one thread reloads; the others carry on with the current snapshot.
        if due and self._lock.acquire(blocking=False):
            try:
                self._refresh_locked()
            finally:
                self._lock.release()
        return self._snapshot

    @property
    def errors(self) -> Mapping[str, LoadError]:
        """Return the files (and published versions) refused right now, with why."""
        return self._errors

    def published(self) -> Mapping[str, LiveVersion]:
        """Return the published version this process serves, by brand."""
        return MappingProxyType(dict(self._published))

    def refresh(self) -> None:
        """Reload new versions and changed, new and removed files now. Never raises."""
        with self._lock:
            self._refresh_locked()

    def _refresh_locked(self) -> None:
        self._checked_at = time.monotonic()
        self._checked_once = True
        errors = dict(self._errors)
        changed = self._refresh_published(errors)
        changed = self._refresh_files(errors) or changed
        if changed:
            live = {} if not self._serve_files else {r.brand: r for r in self._by_file.values()}
            live.update({brand: v.ruleset for brand, v in self._published.items()})
            self._snapshot = MappingProxyType(live)
        self._errors = MappingProxyType(errors)

    # -- published versions ------------------------------------------------------------------

    def _refresh_published(self, errors: dict[str, LoadError]) -> bool:
        if self._store is None:
            return False
        try:
            latest = dict(self._store.latest_ids())
        except SQLAlchemyError as exc:
            # Database down or not migrated: keep serving what this process has.
            if not self._store_down:
                log.error("cannot read published rulesets (%s); serving what this process "
                          "has: %s", type(exc).__name__, ", ".join(self._published) or "nothing")
            self._store_down = True
            return False
        self._store_down = False
        changed = False
        for brand in set(self._published) - set(latest):
            # Only when the versions table was emptied (a test, a restored backup).
            del self._published[brand]
            changed = True
        for brand, newest in latest.items():
            current = self._published.get(brand)
            if (current is not None and current.id == newest) or \
                    self._refused_ids.get(brand) == newest:
                continue
            try:
                candidates = self._store.newest(brand, newest, FALL_BACK_VERSIONS)
            except SQLAlchemyError as exc:
                log.error("cannot read %s's published ruleset (%s)", brand, type(exc).__name__)
                continue
            for stored in candidates:
                if current is not None and stored.id <= current.id:
                    break
                key = f"{brand} version {stored.id}"
                try:
                    ruleset = self._loader(stored.text, stored.source)
                except RulesetError as exc:
                    keeps = current.describe() if current else "none: a neutral page"
                    errors[key] = LoadError(key, str(exc), time.time(), f"{brand} serves {keeps}")
                    log.error("ruleset %s cannot be served by this process (%s serves %s): %s",
                              key, brand, keeps, exc)
                    continue
                errors.pop(key, None)
                live = LiveVersion(stored.id, brand, stored.author, stored.created_at, ruleset)
                self._published[brand] = live
                changed = True
                log.info("ruleset %s: %s is live (%s)", brand, live.describe(), ruleset.version)
                break
            if self._published.get(brand) is None or self._published[brand].id != newest:
                self._refused_ids[brand] = newest
            else:
                self._refused_ids.pop(brand, None)
        return changed

    # -- files ---------------------------------------------------------------------------------

    def _serving(self, brand: str | None, file_name: str) -> str:
        """Say what serves the brand of a refused file instead."""
        live = self._published.get(brand or "")
        if live is not None:
            return f"{live.brand} serves {live.describe()}"
        if self._serve_files and file_name in self._by_file:
            return "the previous version of this file keeps serving"
        return f"{brand or 'its brand'} has no published version: its taps get a neutral page"

    def _refresh_files(self, errors: dict[str, LoadError]) -> bool:
        try:
            files = {p.name: p for p in sorted(self.directory.glob("*.yaml"))}
        except OSError as exc:
            log.error("cannot list rulesets in %s: %s", self.directory, exc)
            return False
        changed = False
        for name in set(self._seen) - set(files):
            self._seen.pop(name, None)
            errors.pop(name, None)
            if self._by_file.pop(name, None) is not None:
                if self._serve_files:
                    log.warning("ruleset %s was removed; its brand is no longer served by it",
                                name)
                changed = True
        for name, path in files.items():
            try:
                signature = _signature(path)
            except OSError:
                continue  # removed between listing and stat: next round sees it gone
            if self._seen.get(name) == signature:
                continue
            self._seen[name] = signature
            text = ""
            try:
                text = path.read_text(encoding="utf-8")
                ruleset = self._loader(text, name)
                self._check_brand_unique(name, ruleset)
            except (RulesetError, OSError, UnicodeDecodeError) as exc:
                message = str(exc)
                from_text = _brand_of(text)
                serving = self._serving(from_text, name)
                errors[name] = LoadError(name, message, time.time(), serving)
                if self._serve_files and from_text not in self._published:
                    kept = ("keeps its previous version" if name in self._by_file
                            else "is not served")
                else:
                    kept = serving
                log.error("ruleset %s refused (%s): %s", name, kept, message)
                continue
            errors.pop(name, None)
            previous = self._by_file.get(name)
            self._by_file[name] = ruleset
            changed = True
            if previous is not None and self._serve_files:
                log.info("ruleset %s reloaded: %s -> %s", name, previous.version, ruleset.version)
        return changed

    def _check_brand_unique(self, name: str, ruleset: Ruleset) -> None:
        for other_name, other in self._by_file.items():
            if other_name != name and other.brand == ruleset.brand:
                raise RulesetError(
                    f"{name}: brand '{ruleset.brand}' already has {other_name}"
                )


def _brand_of(text: str) -> str | None:
    for line in text.splitlines():
        if line.startswith("brand:"):
            value = line.partition(":")[2].split("#", 1)[0].strip().strip("'\"")
            return value or None
    return None
