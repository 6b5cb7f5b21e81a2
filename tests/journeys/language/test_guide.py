"""Every example of the marketer's guide (docs/journeys.md) is valid."""

from __future__ import annotations

from tests.journeys.language.helpers import REPO, parse, when_of

GUIDE = REPO / "docs" / "journeys.md"
_ONE_JOURNEY = "brand: b\njourneys:\n  - {id: j, priority: 1, experience: care}\n"
_WRAPS = {
    "journeys:": "brand: b\n{block}",
    "timezone:": "brand: b\n{block}",
    "locales:": "brand: b\n{block}",
    "  - id:": "brand: b\njourneys:\n{block}rewards:\n  welcome-points: {points: 1}\n",
    "    when:": (
        "brand: b\njourneys:\n  - id: j\n    priority: 1\n    experience: care\n{block}"
        "rewards:\n  review-reveal: {points: 1}\n"
    ),
    "rewards:": _ONE_JOURNEY + "{block}",
    "guardrails:": _ONE_JOURNEY + "{block}",
    "points:": _ONE_JOURNEY + "locales: [en, fr]\n{block}",
    "schedules:": _ONE_JOURNEY + "{block}",
    "products:": _ONE_JOURNEY + "locales: [en, fr]\n{block}",
    "tests:": (
        "brand: b\ntimezone: Europe/Paris\njourneys:\n"
        "  - {id: december-gift, priority: 3, experience: care, from: 2026-12-01,"
        " until: 2026-12-31}\n"
        "  - {id: visitor, priority: 10, experience: authenticity, when: {tap.verdict: invalid}}\n"
        "  - {id: counterfeit-warning, priority: 2, experience: not_verified,"
        " when: {tap.verdict: replayed}}\n"
        "  - {id: serum-refill, priority: 1, experience: refill, reward: refill-scratch}\n"
        "rewards:\n  refill-scratch: {points: 1}\n{block}"
    ),
}


def _guide_blocks() -> list[str]:
    text = GUIDE.read_text(encoding="utf-8")
    return [part.split("```")[0] for part in text.split("```yaml\n")[1:]]


def test_every_guide_example_is_valid() -> None:
    checked = 0
    for block in _guide_blocks():
        if block.startswith("brand:"):
            continue  # the outline of a whole file, with {...} placeholders
        wrap = next(w for start, w in _WRAPS.items() if block.startswith(start))
        parse(wrap.replace("{block}", block))
        checked += 1
    assert checked >= 9


def test_every_operator_example_in_the_guide_is_valid() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    table = text.split("| Operator | Meaning | Example |")[1].split("\n\n")[0]
    examples = [row.rsplit("`", 2)[1] for row in table.splitlines() if row.count("`") >= 2]
    documented_ops = {row.split("`")[1] for row in table.splitlines()[2:] if row.startswith("| `")}
    assert documented_ops == {"in", "not_in", "gte", "gt", "lte", "lt", "between", "exists", "not"}
    assert len(examples) == 10
    for example in examples:
        when_of(example + "\n")
