"""Live rulesets: pick up edited files within seconds, never serve one that does not validate.

Each process keeps an immutable snapshot ``{brand: Ruleset}`` and swaps it whole, so a request
sees either the old rules or the new ones, never a mix, and no request waits on a reload for more
than the time it takes to compile the changed file. A file that does not validate is refused: the
brand keeps its previous version, and the error is logged and kept for the preview page.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from app.rules.service import Ruleset, RulesetError

log = logging.getLogger(__name__)

Loader = Callable[[str, str], Ruleset]


@dataclass(frozen=True)
class LoadError:
    """Why a ruleset file is not live: the file, the full message, and when it was seen."""

    file: str
    message: str
    at: float


def _signature(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class RulesetRegistry:
    """The live rulesets of one directory."""

    def __init__(self, directory: Path, loader: Loader, check_every: float = 2.0) -> None:
        self.directory = Path(directory)
        self._loader = loader
        self._check_every = check_every
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[int, int, int]] = {}
        self._by_file: dict[str, Ruleset] = {}
        self._snapshot: Mapping[str, Ruleset] = MappingProxyType({})
        self._errors: Mapping[str, LoadError] = MappingProxyType({})
        self._checked_at = 0.0

    def load_initial(self) -> None:
        """Load every file once, strictly.

        Raises:
            RulesetError: any file is invalid (a service must not start on rules it cannot
                serve), or two files claim the same brand.
        """
        self.refresh()
        if self._errors:
            raise RulesetError("\n".join(e.message for e in self._errors.values()))

    def rulesets(self) -> Mapping[str, Ruleset]:
        """Return the live rulesets by brand, reloading changed files when the interval is up."""
        due = time.monotonic() - self._checked_at >= self._check_every >= 0
        # Only one thread reloads; the others carry on with the current snapshot.
        if due and self._lock.acquire(blocking=False):
            try:
                self._refresh_locked()
            finally:
                self._lock.release()
        return self._snapshot

    @property
    def errors(self) -> Mapping[str, LoadError]:
        """Return the files that are refused right now, with why."""
        return self._errors

    def refresh(self) -> None:
        """Reload changed, new and removed files now."""
        with self._lock:
            self._refresh_locked()

    def _refresh_locked(self) -> None:
        self._checked_at = time.monotonic()
        try:
            files = {p.name: p for p in sorted(self.directory.glob("*.yaml"))}
        except OSError as exc:
            log.error("cannot list rulesets in %s: %s", self.directory, exc)
            return
        changed = False
        errors = dict(self._errors)
        for name in set(self._seen) - set(files):
            self._seen.pop(name, None)
            errors.pop(name, None)
            if self._by_file.pop(name, None) is not None:
                log.warning("ruleset %s was removed; its brand is no longer served by it", name)
                changed = True
        for name, path in files.items():
            try:
                signature = _signature(path)
            except OSError:
                continue  # removed between listing and stat: next round sees it gone
            if self._seen.get(name) == signature:
                continue
            self._seen[name] = signature
            try:
                ruleset = self._loader(path.read_text(encoding="utf-8"), name)
                self._check_brand_unique(name, ruleset)
            except (RulesetError, OSError, UnicodeDecodeError) as exc:
                message = str(exc)
                errors[name] = LoadError(name, message, time.time())
                kept = "keeps its previous version" if name in self._by_file else "is not served"
                log.error("ruleset %s refused (%s): %s", name, kept, message)
                continue
            errors.pop(name, None)
            previous = self._by_file.get(name)
            self._by_file[name] = ruleset
            changed = True
            if previous is not None:
                log.info("ruleset %s reloaded: %s -> %s", name, previous.version, ruleset.version)
        if changed:
            self._snapshot = MappingProxyType({r.brand: r for r in self._by_file.values()})
        self._errors = MappingProxyType(errors)

    def _check_brand_unique(self, name: str, ruleset: Ruleset) -> None:
        for other_name, other in self._by_file.items():
            if other_name != name and other.brand == ruleset.brand:
                raise RulesetError(
                    f"{name}: brand '{ruleset.brand}' already has {other_name}"
                )
