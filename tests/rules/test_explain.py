"""The explainer is the reference: durable_rules must pick the journey the explainer picks."""

from __future__ import annotations

import logging

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.rules.service import decide, expected_journey, explain_fact, parse_ruleset

CATEGORIES = ["bag", "serum", "watch"]
COUNTRIES = ["FR", "JP", "US"]

# A ruleset using every operator, nesting and negation.
RULESET = """
brand: explain-test
journeys:
  - id: refused
    priority: 100
    when: {tap.verdict: {in: [invalid, replayed]}}
    experience: not_verified
  - id: vip-watch
    priority: 90
    when:
      product.category: watch
      any:
        - tap.number: {gte: 50}
        - all: [{tap.country: {in: [JP, FR]}}, {tap.local_hour: {between: [8, 12]}}]
    experience: welcome_back
  - id: not-bag-not-first
    priority: 80
    when:
      product.category: {not_in: [bag]}
      tap.number: {gt: 1}
      not: {tap.country: US}
    experience: welcome_back
  - id: unknown-country
    priority: 70
    when: {tap.country: {exists: false}, tap.number: {lt: 3}}
    experience: authenticity
  - id: evening
    priority: 60
    when: {tap.local_hour: {not: {lte: 17}}}
    experience: authenticity
  - id: released-first
    priority: 50
    when: {item.released: true, tap.number: 1}
    experience: unboxing
"""

facts = st.fixed_dictionaries(
    {},
    optional={
        "tap.verdict": st.sampled_from(["genuine", "invalid", "replayed", "unknown_tag"]),
        "tap.number": st.integers(min_value=1, max_value=80),
        "tap.country": st.sampled_from(COUNTRIES),
        "tap.local_hour": st.integers(min_value=0, max_value=23),
        "product.category": st.sampled_from(CATEGORIES),
        "item.released": st.booleans(),
    },
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fact=facts)
def test_engine_and_explainer_always_agree(fact):
    ruleset = parse_ruleset(RULESET, "explain.yaml")
    decision = decide(ruleset, fact)
    assert (decision.journey if decision else None) == expected_journey(ruleset, fact)


def test_explanation_lists_every_journey_with_values_and_verdicts():
    ruleset = parse_ruleset(RULESET, "explain.yaml")
    fact = {"tap.verdict": "genuine", "tap.number": 60, "product.category": "watch",
            "tap.country": "US", "tap.local_hour": 20}
    rows = explain_fact(ruleset, fact)
    assert [r.id for r in rows] == [
        "refused", "vip-watch", "not-bag-not-first", "unknown-country", "evening", "released-first",
    ]
    assert [r.matched for r in rows] == [False, True, False, False, True, False]
    first = rows[0].conditions[0]
    assert (first.text, first.value, first.held) == (
        "tap.verdict is one of invalid, replayed", "genuine", False)
    vip = {c.text: (c.value, c.held) for c in rows[1].conditions}
    assert vip["tap.number >= 50"] == (60, True)
    assert vip["any of"] == (None, True)


def wide_ruleset(brand: str, n: int = 400) -> str:
    lines = [f"brand: {brand}", "journeys:"]
    for i in range(n):
        lines += [f"  - id: w{i}", f"    priority: {1000 - i}", "    experience: welcome_back",
                  f"    when: {{tap.verdict: genuine, tap.number: {{between: [{i * 3 + 1}, "
                  f"{i * 3 + 3}]}}}}"]
    return "\n".join(lines) + "\n"


def test_chunked_rulesets_never_overflow_the_engine_stack(caplog):
    """Regression: 400 journeys whose ranges all hold at once overflowed durable_rules' stack
    (error 303) for most taps. Compiled in chunks, the engine decides them all itself."""
    ruleset = parse_ruleset(wide_ruleset("wide-chunked"), "wide.yaml")
    with caplog.at_level(logging.WARNING):
        for number in (1, 600, 1199, 5000):
            fact = {"tap.verdict": "genuine", "tap.number": number}
            decision = decide(ruleset, fact)
            assert (decision.journey if decision else None) == expected_journey(ruleset, fact)
    assert "engine stack exceeded" not in caplog.text


def test_engine_stack_overflow_still_decides_like_the_explainer(caplog, monkeypatch):
    """If a chunk still overflows the engine's stack (error 303), the tap is decided by the
    reference evaluator and logged, instead of failing."""
    import app.rules.service as service

    monkeypatch.setattr(service, "CHUNK", 10_000)  # one chunk: the overflow is back
    ruleset = parse_ruleset(wide_ruleset("wide"), "wide.yaml")
    with caplog.at_level(logging.WARNING):
        for number in (1, 600, 1199, 5000):
            fact = {"tap.verdict": "genuine", "tap.number": number}
            decision = decide(ruleset, fact)
            assert (decision.journey if decision else None) == expected_journey(ruleset, fact)
    assert "engine stack exceeded" in caplog.text


def test_thousands_of_engine_stack_overflows_do_not_exhaust_the_engine(caplog, monkeypatch):
    """Regression: each overflow left a session state behind, so after 1024 of them every tap
    failed with MemoryError. The ruleset is now reinstalled before its state table fills."""
    import app.rules.service as service

    monkeypatch.setattr(service, "CHUNK", 10_000)
    ruleset = parse_ruleset(wide_ruleset("wide-many"), "wide-many.yaml")
    with caplog.at_level(logging.ERROR):
        for n in range(1200):
            fact = {"tap.verdict": "genuine", "tap.number": 1100 + n % 50}
            decision = decide(ruleset, fact)
            assert decision is not None and decision.journey == expected_journey(ruleset, fact)
    # And small facts still go through the engine itself.
    assert decide(ruleset, {"tap.verdict": "genuine", "tap.number": 2}).journey == "w0"


def indexed_ruleset() -> str:
    """40+ journeys, most pinning product.category (some with `in`), some not pinning it."""
    cats = ["bag", "serum", "watch", "belt"]
    lines = ["brand: indexed", "journeys:"]
    for i in range(44):
        window = f"tap.number: {{between: [{i * 3 + 1}, {i * 3 + 3}]}}"
        if i % 11 == 0:
            pin = "tap.country: FR"  # does not pin the indexed path
        elif i % 7 == 0:
            pin = f"product.category: {{in: [{cats[i % 4]}, {cats[(i + 1) % 4]}]}}"
        else:
            pin = f"product.category: {cats[i % 4]}"
        lines += [f"  - id: j{i}", f"    priority: {100 - i}", "    experience: welcome_back",
                  f"    when: {{{pin}, {window}}}"]
    lines += ["  - id: rest", "    priority: 0", "    experience: authenticity"]
    return "\n".join(lines) + "\n"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fact=st.fixed_dictionaries(
    {"tap.number": st.integers(min_value=1, max_value=140)},
    optional={
        "product.category": st.sampled_from(["bag", "serum", "watch", "belt", "scarf"]),
        "tap.country": st.sampled_from(["FR", "JP"]),
    },
))
def test_indexed_ruleset_agrees_with_the_explainer(fact):
    """The value index must never hide a journey that could match."""
    ruleset = parse_ruleset(indexed_ruleset(), "indexed.yaml")
    assert ruleset.index_path == "product.category"
    decision = decide(ruleset, fact)
    assert (decision.journey if decision else None) == expected_journey(ruleset, fact)
