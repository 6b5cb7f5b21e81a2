"""Hypothesis strategies for condition trees, shared by the condition and property tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from app.journeys import vocabulary
from app.journeys.language import Condition, Group

_VERDICTS = vocabulary.FACTS["tap.verdict"].values
assert _VERDICTS is not None
_VALUES: dict[str, Any] = {
    "tap.verdict": st.sampled_from(_VERDICTS),
    "ownership.state": st.sampled_from(("unclaimed", "owned")),
    "owner.is_current": st.booleans(),
    "owner.has_reviewed": st.booleans(),
    "ownership.days": st.integers(0, 2000),
    "service.count": st.integers(0, 20),
    "tap.local_hour": st.integers(0, 23),
    "product.category": st.sampled_from(("serum", "watch", "bag", "yes", "12")),
    "tap.country": st.sampled_from(("FR", "NO", "US", "ON")),
    "product.volume": st.integers(-5, 500),
}
_NUMERIC = {"ownership.days", "service.count", "tap.local_hour", "product.volume"}


@st.composite
def conditions(draw: st.DrawFn, path: str | None = None) -> Condition:
    path = path or draw(st.sampled_from(sorted(_VALUES)))
    value = _VALUES[path]
    ops = ["eq", "in", "not_in", "exists"] + (
        ["gte", "gt", "lte", "lt", "between"] if path in _NUMERIC else []
    )
    op = draw(st.sampled_from(ops))
    if op in ("in", "not_in"):
        return Condition(path, op, tuple(draw(st.lists(value, min_size=1, max_size=3))))
    if op == "between":
        low, high = sorted(draw(st.lists(value, min_size=2, max_size=2)))
        return Condition(path, op, (low, high))
    if op == "exists":
        return Condition(path, op, draw(st.booleans()))
    return Condition(path, op, draw(value))


def nodes(depth: int) -> st.SearchStrategy[Condition | Group]:
    if depth == 0:
        return conditions()
    return st.one_of(
        conditions(),
        st.builds(
            Group,
            st.sampled_from(("all", "any", "not")),
            st.lists(nodes(depth - 1), min_size=1, max_size=3).map(tuple),
        ),
    )


@st.composite
def whens(draw: st.DrawFn) -> Group:
    """A top-level ``when``: distinct paths, at most one group of each kind."""
    paths = draw(st.lists(st.sampled_from(sorted(_VALUES)), unique=True, max_size=4))
    children: list[Condition | Group] = [draw(conditions(p)) for p in paths]
    for kind in draw(st.lists(st.sampled_from(("all", "any", "not")), unique=True, max_size=2)):
        items = draw(st.lists(nodes(2), min_size=1, max_size=3))
        children.append(Group(kind, tuple(items)))
    return Group("all", tuple(draw(st.permutations(children))))
