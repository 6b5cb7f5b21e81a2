"""Charts of the dashboard as server-rendered SVG: a panel's ``Chart`` and table rows become a
Vega-Lite spec (``spec``), which vl-convert renders to SVG (``svg``) without a browser, a CDN or
any script on the page.

Rendering costs about 0.45 s the first time in a process (vl-convert starts its JavaScript
engine) and 20 to 60 ms a chart after that (measured on the development machine); the SVG is
kept by the spec's hash (``svg`` is an LRU cache), so a page drawn again with the same numbers
costs a dictionary lookup per chart.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from typing import Any, Final

from app.insights.panels import Chart, Table

# CSS px of the whole drawing, axes and labels included (autosize "fit-x"): about the width of
# a 390 px phone's card, so every chart is drawn, and scaled, alike.
WIDTH: Final = 330
BAR_STEP: Final = 20  # px per bar of a horizontal bar chart
MOST_BARS: Final = 15  # a horizontal bar chart shows the first rows only (the table has all)
# Colours that stay apart for colour-blind readers (Okabe and Ito), ink on paper.
PALETTE: Final = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
_CONFIG: Final = {
    # The table beside each chart is its accessible form: the drawing stays out of the way.
    "aria": False,
    # Measured where it is drawn (vl-convert) and shown where it is read (the browser): a font
    # with the same metrics in both (Liberation Sans, or the Arial and Helvetica it matches),
    # or long labels overflow the drawing's edge.
    "font": "Liberation Sans, Arial, Helvetica, sans-serif",
    "background": "#ffffff",
    "view": {"stroke": None},
    "axis": {"labelFontSize": 11, "titleFontSize": 11, "labelColor": "#1d1b19",
             "titleColor": "#6b645c", "gridColor": "#e7e0d6", "domainColor": "#b9afa3"},
    "legend": {"orient": "bottom", "labelFontSize": 11, "title": None, "columns": 2,
               "labelLimit": 130},
    "range": {"category": list(PALETTE)},
}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _category_axis(rows: Any) -> dict[str, Any]:
    """Return the x axis of a vertical bar chart: labels level when they fit under their bars,
    slanted when they would run into each other (channel names, retailers)."""
    longest = max((len(str(row[0])) for row in rows), default=0)
    if longest * 6 * len(rows) <= WIDTH - 60:  # about 6 px a character at the axis' font size
        return {"labelAngle": 0}
    return {"labelAngle": -35, "labelAlign": "right", "labelLimit": 110}


def spec(table: Table, labels: Mapping[str, str], description: str) -> dict[str, Any] | None:
    """Return the Vega-Lite spec drawing ``table.chart`` from ``table``'s rows, with the column
    ``labels`` (the page's words) and ``description`` (the SVG's accessible name); None when
    the table has no chart or no number to draw."""
    chart: Chart | None = table.chart
    if chart is None:
        return None
    rows = table.values()
    if chart.kind == "hbar":
        rows = rows[:MOST_BARS]
    data = [{"x": _plain(r[chart.x]), "series": labels.get(y, y) if not chart.series
             else str(r[chart.series]), "value": r[y], **(
                 {"low": r[chart.ys[1]], "high": r[chart.ys[2]]}
                 if chart.kind == "interval" else {})}
            for r in rows for y in (chart.ys[:1] if chart.kind == "interval" else chart.ys)
            if r[y] is not None]
    if not data:
        return None
    # Percentages as such; counts as Vega ticks them (1,500, 2.5).
    number: dict[str, Any] = {"format": ".0%"} if chart.percent else {}
    value_title = labels.get("_y", chart.y_label)
    many = len(chart.ys) > 1 or bool(chart.series)
    color: dict[str, Any] = ({"field": "series", "type": "nominal",
                              "sort": None if not chart.series else "ascending"}
                             if many else {"value": PALETTE[0]})
    if chart.series:
        # Series named by a column (outcomes) have long names: one a line.
        color["legend"] = {"columns": 1, "labelLimit": 300}
    x_title = labels.get(chart.x, chart.x)
    body: dict[str, Any]
    if chart.kind == "line":
        body = {"width": WIDTH, "height": 180,
                "mark": {"type": "line", "point": {"size": 18}, "strokeWidth": 2},
                "encoding": {
                    "x": {"field": "x", "type": "temporal", "title": None,
                          "axis": {"format": "%-d %b", "labelAngle": 0, "tickCount": 5}},
                    "y": {"field": "value", "type": "quantitative", "title": value_title,
                          "axis": number},
                    "color": color}}
    elif chart.kind == "bar":
        body = {"width": WIDTH, "height": 170, "mark": {"type": "bar"},
                "encoding": {
                    "x": {"field": "x", "type": chart.x_kind, "title": x_title, "sort": None,
                          "axis": _category_axis(table.rows)},
                    "y": {"field": "value", "type": "quantitative", "title": value_title,
                          "axis": number},
                    "color": color, **({"xOffset": {"field": "series", "sort": None}}
                                       if many else {})}}
    elif chart.kind == "hbar":
        body = {"width": WIDTH,
                "height": {"step": BAR_STEP // (2 if many else 1)}, "mark": {"type": "bar"},
                "encoding": {
                    "y": {"field": "x", "type": "nominal", "title": None, "sort": None,
                          "axis": {"labelLimit": 110}},
                    "x": {"field": "value", "type": "quantitative", "title": value_title,
                          "axis": number},
                    "color": color, **({"yOffset": {"field": "series", "sort": None}}
                                       if many else {})}}
    else:  # interval: a point and its 95% interval per row
        body = {"width": WIDTH, "height": {"step": 14},
                "encoding": {
                    "y": {"field": "x", "type": "nominal", "title": None, "sort": None,
                          "axis": {"labelLimit": 110}},
                    "yOffset": {"field": "series", "sort": None}, "color": color},
                "layer": [
                    {"mark": {"type": "rule", "strokeWidth": 2},
                     "encoding": {"x": {"field": "low", "type": "quantitative",
                                        "title": value_title, "axis": number},
                                  "x2": {"field": "high"}}},
                    {"mark": {"type": "point", "filled": True, "size": 40},
                     "encoding": {"x": {"field": "value", "type": "quantitative"}}},
                    {"mark": {"type": "rule", "color": "#6b645c", "strokeDash": [3, 3]},
                     "encoding": {"x": {"datum": 0}, "color": {"value": "#6b645c"},
                                  "y": {}, "yOffset": {}}}]}
    return {"$schema": "https://vega.github.io/schema/vega-lite/v5.json",
            "description": description, "config": _CONFIG, "data": {"values": data},
            "autosize": {"type": "fit-x", "contains": "padding"}, **body}


def spec_hash(chart_spec: Mapping[str, Any]) -> str:
    """Return the hex SHA-256 of ``chart_spec`` as canonical JSON: its key in the SVG cache."""
    text = json.dumps(chart_spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r"url\(#([^)]+)\)")


@lru_cache(maxsize=512)
def _render(key: str, text: str) -> str:
    import vl_convert  # the renderer: only the dashboard ever loads it

    drawn = str(vl_convert.vegalite_to_svg(json.loads(text)))
    # Several charts share one page: their clip paths' ids must not collide.
    prefix = f"c{key[:10]}-"
    drawn = _ID.sub(lambda found: f'id="{prefix}{found.group(1)}"', drawn)
    return _REF.sub(lambda found: f"url(#{prefix}{found.group(1)})", drawn)


def svg(chart_spec: Mapping[str, Any]) -> str:
    """Return ``chart_spec`` drawn as an SVG element (the same spec: the cached drawing)."""
    key = spec_hash(chart_spec)
    return _render(key, json.dumps(chart_spec, sort_keys=True, default=str))
