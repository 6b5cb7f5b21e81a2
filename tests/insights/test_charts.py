"""Charts are SVG drawn on the server from a table's rows, cached by their spec's hash."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.insights import charts
from app.insights.panels import Chart, Column, Table

COLUMNS = (Column("period", "Period", "date"), Column("a", "Genuine"), Column("b", "Failed"))
ROWS = tuple((date(2026, 11, 2) + timedelta(days=n), 10 + n, n) for n in range(5))


def table(kind: str, **chart) -> Table:
    return Table("t", "Taps", COLUMNS, ROWS, Chart(kind, "period", ("a", "b"), **chart))


@pytest.mark.parametrize("kind", ["line", "bar", "hbar"])
def test_each_kind_draws_an_svg_with_its_words(kind):
    spec = charts.spec(table(kind, x_kind="temporal" if kind == "line" else "ordinal"),
                       {"a": "Genuine taps", "b": "Failed taps", "_y": "Taps"}, "Taps by day")
    assert spec is not None and spec["description"] == "Taps by day"
    drawn = charts.svg(spec)
    assert drawn.startswith("<svg") and "Genuine taps" in drawn and "<script" not in drawn


def test_intervals_and_percentages():
    rows = (("gift", "Review", 0.05, -0.01, 0.11), ("gift", "Repeat", -0.02, -0.04, 0.0))
    lift = Table("l", "Lift", (Column("reward", "Reward"), Column("outcome", "Outcome"),
                               Column("d", "D", "pct"), Column("lo", "L", "pct"),
                               Column("hi", "H", "pct")), rows,
                 Chart("interval", "reward", ("d", "lo", "hi"), percent=True, series="outcome"))
    spec = charts.spec(lift, {}, "Lift")
    assert spec is not None
    assert [v["series"] for v in spec["data"]["values"]] == ["Review", "Repeat"]
    assert "%" in charts.svg(spec)


def test_nothing_to_draw_is_no_chart():
    assert charts.spec(Table("t", "T", COLUMNS, ROWS), {}, "T") is None
    assert charts.spec(Table("t", "T", COLUMNS, (), Chart("bar", "period", ("a",))), {},
                       "T") is None


def test_the_same_spec_is_drawn_once_and_ids_do_not_collide():
    one = charts.spec(table("line", x_kind="temporal"), {}, "one")
    two = charts.spec(table("line", x_kind="temporal"), {}, "two")
    assert one is not None and two is not None
    assert charts.spec_hash(one) != charts.spec_hash(two)
    before = charts._render.cache_info()
    first = charts.svg(one)
    assert charts.svg(one) is first
    assert charts._render.cache_info().hits == before.hits + 1
    ids = [part.split('"')[1] for part in first.split(' id="')[1:]]
    assert all(i.startswith(f"c{charts.spec_hash(one)[:10]}-") for i in ids)


def test_bar_labels_lie_level_when_they_fit_and_slant_when_they_would_collide():
    columns = (Column("channel", "Channel", "text"), Column("a", "Share"))
    short = Table("t", "T", columns, (("a", 1), ("b", 2), ("c", 3)),
                  Chart("bar", "channel", ("a",), "nominal"))
    long = Table("t", "T", columns, tuple((name, n) for n, name in enumerate(
        ("boutique", "online", "department-store", "duty-free", "marketplace",
         "All channels"))), Chart("bar", "channel", ("a",), "nominal"))
    short_spec, long_spec = charts.spec(short, {}, "T"), charts.spec(long, {}, "T")
    assert short_spec is not None and long_spec is not None
    assert short_spec["encoding"]["x"]["axis"]["labelAngle"] == 0
    assert long_spec["encoding"]["x"]["axis"]["labelAngle"] == -35
