"""Brand-side fixtures: cheap password hashes (argon2id all the same)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from app.core import staff


@pytest.fixture(autouse=True)
def fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Production parameters cost about half a second a hash on a shared CI core; the tests are
    # about who gets in, not about argon2's cost.
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(staff, "_hasher", fast)
    monkeypatch.setattr(staff, "_DUMMY_HASH", fast.hash("not a password of anyone"))
