"""The index, the chunk guards and the fallback journey pick exactly what the reference picks, and
they do spare the engine the chunks a fact cannot match."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app.rules.service as service
from app.journeys.language import Condition, Group, JourneyDoc
from app.rules.service import compile_ruleset, decide, expected_journey, parse_ruleset

CATEGORIES = ("bag", "serum", "watch", "12")
COUNTRIES = ("FR", "JP", "US")

BASE = parse_ruleset(
    "brand: index-base\njourneys:\n  - {id: x, priority: 1, experience: welcome_back}\n",
    "base.yaml",
).doc


def _leaf(path: str, values: st.SearchStrategy[Any], numeric: bool) -> st.SearchStrategy[Condition]:
    ops = ["eq", "in", "not_in", "exists"]
    ops += ["gte", "gt", "lte", "lt", "between"] if numeric else []

    @st.composite
    def build(draw: st.DrawFn) -> Condition:
        op = draw(st.sampled_from(ops))
        if op in ("in", "not_in"):
            return Condition(path, op, tuple(draw(st.lists(values, min_size=1, max_size=3))))
        if op == "between":
            low, high = sorted(draw(st.lists(values, min_size=2, max_size=2)))
            return Condition(path, op, (low, high))
        if op == "exists":
            return Condition(path, op, draw(st.booleans()))
        return Condition(path, op, draw(values))

    return build()


numbers = st.integers(0, 12)
leaves = st.one_of(
    _leaf("tap.number", numbers, numeric=True),
    _leaf("tap.local_hour", st.integers(0, 23), numeric=True),
    _leaf("product.category", st.sampled_from(CATEGORIES), numeric=False),
    _leaf("tap.country", st.sampled_from(COUNTRIES), numeric=False),
    _leaf("item.released", st.booleans(), numeric=False),
)
# Most journeys pin the category (so the index is chosen) and a band of tap.number (so chunk
# guards differ); the rest is any tree, nested "all" groups included (their leaves are guarded too).
pinned = st.one_of(
    st.sampled_from(CATEGORIES).map(lambda c: Condition("product.category", "eq", c)),
    st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=2, unique=True).map(
        lambda cs: Condition("product.category", "in", tuple(cs))),
)
groups = st.builds(Group, st.sampled_from(("all", "any", "not")),
                   st.lists(leaves, min_size=1, max_size=3).map(tuple))
number_leaves = _leaf("tap.number", numbers, numeric=True)
# Mostly a band, else any test of tap.number, or one inside a group (which may or may not oblige).
band = st.one_of(
    numbers.map(lambda n: Condition("tap.number", "between", (n, n + 2))),
    number_leaves,
    st.builds(lambda kind, a, b: Group(kind, (a, b)), st.sampled_from(("all", "any", "not")),
              number_leaves, leaves),
)
conditional = st.tuples(st.lists(pinned, max_size=1), band,
                        st.lists(st.one_of(leaves, groups), max_size=2)).map(
    lambda parts: Group("all", (*parts[0], parts[1], Group("all", tuple(parts[2])))))
# Now and then a journey that always holds: the fallback, shadowing those after it.
whens = st.integers(0, 24).flatmap(lambda n: st.just(Group("all", ())) if n == 0 else conditional)

facts = st.fixed_dictionaries(
    {},
    optional={
        "tap.number": numbers,
        "tap.local_hour": st.integers(0, 23),
        "product.category": st.sampled_from((*CATEGORIES, "belt")),
        "tap.country": st.sampled_from(COUNTRIES),
        "item.released": st.booleans(),
    },
)


def _ruleset(trees: list[Group], brand: str) -> service.Ruleset:
    journeys = tuple(
        JourneyDoc(id=f"j{i}", priority=len(trees) - i, when=tree, do=(),
                   experience="welcome_back", content={}, reward=None, signal=None)
        for i, tree in enumerate(trees)
    )
    return compile_ruleset(dataclasses.replace(BASE, brand=brand, journeys=journeys))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees=st.lists(whens, min_size=4, max_size=40),
       sample=st.lists(facts, min_size=1, max_size=25))
def test_index_guards_and_fallback_decide_like_the_reference(trees, sample):
    # Small chunks (quarters of 2) so a few dozen journeys exercise the index, guards, quarters
    # and several chunks per fact.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service, "CHUNK", 8)
        ruleset = _ruleset(trees, "index-prop")
    for fact in sample:
        decision = decide(ruleset, fact)
        assert (decision.journey if decision else None) == expected_journey(ruleset, fact), fact


def _banded(n: int) -> list[Group]:
    """Journeys like the bench's: two categories, bands of tap.number, every fourth one also
    asking for a country; then a catch-all."""
    cats = ("bag", "serum")
    trees = [Group("all", (Condition("product.category", "eq", cats[i % 2]),
                           Condition("tap.number", "between", ((i // 2) * 3 + 1, (i // 2) * 3 + 3)),
                           *([Condition("tap.country", "in", ("FR", "JP"))] if i % 4 == 0 else [])))
             for i in range(n)]
    return [*trees, Group("all", ())]


@pytest.fixture
def posts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The engine rulesets each decide posts to, in order."""
    seen: list[str] = []
    real = service.engine.evaluate

    def counting(name: str, event: Any) -> str | None:
        seen.append(name)
        return real(name, event)

    monkeypatch.setattr(service.engine, "evaluate", counting)
    return seen


def test_a_fact_in_one_band_costs_one_post(posts):
    ruleset = _ruleset(_banded(250), "banded")
    assert ruleset.index_path == "product.category"
    for number, journey in ((1, "j0"), (100, "j66"), (375, "j248")):
        posts.clear()
        fact = {"product.category": "bag", "tap.number": number, "tap.country": "FR"}
        assert decide(ruleset, fact).journey == journey == expected_journey(ruleset, fact)
        assert len(posts) == 1


def test_a_fact_past_every_guard_gets_the_fallback_without_a_post(posts):
    ruleset = _ruleset(_banded(250), "banded")
    assert ruleset.fallback == "j250"
    for fact in ({"product.category": "bag", "tap.number": 900},
                 {"product.category": "bag"},
                 {"product.category": "bag", "tap.number": True},
                 {"product.category": "bag", "tap.number": "7"}):
        posts.clear()
        assert decide(ruleset, fact).journey == "j250" == expected_journey(ruleset, fact)
        assert posts == []


def test_a_fact_failing_its_band_visits_the_next_band_that_could_match(posts):
    ruleset = _ruleset(_banded(250), "banded")
    # j64 (bag, 97-99) asks for FR or JP; no other bag journey covers 97.
    fact = {"product.category": "bag", "tap.number": 97, "tap.country": "US"}
    assert decide(ruleset, fact).journey == "j250" == expected_journey(ruleset, fact)
    assert len(posts) == 1


def test_journeys_after_an_unconditional_one_are_in_no_chunk():
    trees = [Group("all", (Condition("tap.number", "eq", 1),)), Group("all", ()),
             Group("all", (Condition("tap.number", "eq", 2),))]
    ruleset = _ruleset(trees, "shadowed")
    assert ruleset.fallback == "j1"
    assert len(ruleset.chunks) == 1
    assert decide(ruleset, {"tap.number": 2}).journey == "j1"


def test_guards_widen_strict_bounds_and_keep_types_apart():
    def needs(*conds: Condition) -> Any:
        return service._necessary(JourneyDoc(
            id="a", priority=1, when=Group("all", conds), do=(), experience="x", content={},
            reward=None, signal=None))

    assert needs(Condition("tap.number", "gt", 5))["tap.number"][1:3] == (5.0, float("inf"))
    both = needs(Condition("tap.number", "gte", 2), Condition("tap.number", "lt", 9))
    assert both["tap.number"][1:3] == (2.0, 9.0)
    assert needs(Condition("item.released", "eq", True))["item.released"][0] == {("bool", True)}
    # Conditions a missing value can satisfy give no guard.
    assert needs(Condition("tap.country", "not_in", ("FR",)),
                 Condition("tap.country", "exists", False)) == {}
    guard = service._guards([needs(Condition("tap.number", "eq", 1))], skip=None)
    assert not service._passes(guard, {"tap.number": True})
    assert service._passes(guard, {"tap.number": 1.0})
