"""``/admin/insights``: the brand's dashboard, and each of its tables as CSV
(``/admin/insights/<table>.csv`` with the same filters).

For marketers (and admins) of their own brand only (``page_brand``: asking for another brand is a
404). The numbers come from ``app.insights.panels`` (the rollup cube, read through the analytics
database: a replica when ``AFTERTAP_ANALYTICS_DATABASE_URL`` names one), the charts from
``app.insights.charts`` (SVG drawn here, no script); bad filters are a 400 page (``BadFilter``).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_timedelta
from babel.numbers import format_decimal, format_percent
from flask import Blueprint, Response, abort, current_app, g, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, gettext
from sqlalchemy import select

from app.admin.auth import guard
from app.admin.pages import SIGNED_IN_AS, page_brand
from app.catalog.models import Brand, Product
from app.core.clock import now
from app.core.db import analytics_session
from app.core.i18n import N_, translate
from app.core.staff import MARKETER
from app.core.web import current_principal, no_store, roles
from app.core.wording import zone_label
from app.insights import charts
from app.insights.panels import (
    DRILL_DOWN_DAYS,
    DRILL_DOWN_ROWS,
    PANELS,
    Filters,
    Panel,
    Table,
    all_panels,
    failed_items,
    has_item,
    item_taps,
    lift,
    parse_filters,
)

# A tap's verdict as staff read it.
VERDICT_WORDS = {"genuine": N_("Genuine"), "invalid": N_("Invalid link"),
                 "replayed": N_("Link used again")}
# Rows a list table (products, countries...) shows on the page; its CSV has every row.
MAX_ROWS = 20

bp = Blueprint("insights", __name__, url_prefix="/admin")
bp.before_request(guard)

# A CSV cell a spreadsheet would take for a formula starts with one of these (OWASP).
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _today(brand: Brand) -> date:
    return now().astimezone(ZoneInfo(brand.timezone)).date()


def _holdouts(slug: str) -> dict[str, float]:
    """Each reward's declared holdout percentage in the brand's live ruleset."""
    ruleset = current_app.extensions["aftertap.rules"].registry.rulesets().get(slug)
    if ruleset is None:
        return {}
    return {r.id: float(r.holdout) for r in ruleset.doc.rewards.values()}


def _filters(brand: Brand) -> Filters:
    # ``brand`` only picks the page's brand (``page_brand``); it is not a filter.
    pairs = [(k, v) for k, v in request.args.items(multi=True) if k != "brand"]
    return parse_filters(analytics_session(), brand.id, pairs, _today(brand))


def _locale() -> str:
    return str(get_locale() or "en")


def cell(value: Any, kind: str, grain: str = "day") -> str:
    """Return a table value written for the page, in the staff member's language."""
    if value is None:
        return "—"
    if kind == "pct":
        # The language's own percent pattern (French puts a space before %), to one decimal.
        pattern = Locale.parse(_locale()).percent_formats[None].pattern
        return str(format_percent(value, pattern.replace("#,##0", "#,##0.0", 1),
                                  locale=_locale()))
    if kind == "ratio":
        return str(format_decimal(value, "#,##0.##", locale=_locale()))
    if kind in ("int", "days"):
        return str(format_decimal(value, locale=_locale()))
    if kind == "date" and isinstance(value, date) and grain != "month":
        return str(format_date(value, "d MMM y", locale=_locale()))
    if kind in ("date", "month") and isinstance(value, date):
        return str(format_date(value, "MMM y", locale=_locale()))
    return str(value)


def note(message: str, params: Mapping[str, object]) -> str:
    """Return a panel's note in the staff member's language, its words (a grain, a filter's
    name) translated too."""
    return translate(message, {k: translate(v) if isinstance(v, str) else v
                               for k, v in params.items()})


def _ago(moment: datetime | None) -> str:
    if moment is None:
        return str(gettext("Not refreshed yet."))
    text = format_timedelta(moment - now(), add_direction=True, threshold=1.5,
                            locale=_locale())
    return str(gettext("Updated %(ago)s.", ago=text))


def _drawn(table: Table) -> str | None:
    """The table's chart as SVG (None: nothing to draw), its render time kept for the page."""
    labels = {c.key: gettext(c.label) for c in table.columns}
    if table.chart is not None:
        labels["_y"] = gettext(table.chart.y_label)
    chart_spec = charts.spec(table, labels, gettext(table.caption))
    if chart_spec is None:
        return None
    started = time.perf_counter()
    drawn = charts.svg(chart_spec)
    g.setdefault("chart_ms", []).append((table.key, 1000 * (time.perf_counter() - started)))
    return drawn


def _choices(brand_id: int) -> dict[str, Any]:
    products = analytics_session().execute(select(Product.id, Product.name, Product.category)
                                  .where(Product.brand_id == brand_id)
                                  .order_by(Product.name, Product.id)).all()
    return {"products": [(p.id, p.name) for p in products],
            "categories": sorted({p.category for p in products})}


@bp.get("/insights")
@roles(MARKETER)
def dashboard() -> ResponseReturnValue:
    """Every panel for the filters asked for."""
    started = time.perf_counter()
    brand = page_brand()
    filters = _filters(brand)
    panels = all_panels(analytics_session(), filters, _holdouts(brand.slug))
    read_ms = 1000 * (time.perf_counter() - started)
    drawn = {t.key: _drawn(t) for p in panels for t in p.tables}
    query = {**filters.query(), **({"brand": request.args["brand"]}
                                   if "brand" in request.args else {})}
    acting = current_principal()
    response = no_store(render_template(
        "admin/insights.html", acting=acting, signed_in_as=SIGNED_IN_AS.get(acting.role, ""),
        brand=brand, panels=panels, filters=filters, drawn=drawn, cell=cell, note=note, ago=_ago,
        query=query, max_rows=MAX_ROWS, **_choices(brand.id)))
    charts_ms = sum(ms for _key, ms in g.get("chart_ms", []))
    total = 1000 * (time.perf_counter() - started)
    # How long the page took (reading the cube, drawing, in all): nothing personal in it.
    response.headers["Server-Timing"] = (f"cube;dur={read_ms:.1f}, charts;dur={charts_ms:.1f}, "
                                         f"total;dur={total:.1f}")
    return response


def _csv_text(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.key for c in table.columns])
    for row in table.rows:
        writer.writerow([_csv_cell(value) for value in row])
    return out.getvalue()


def _csv_cell(value: Any) -> Any:
    """Return ``value`` as a CSV cell no spreadsheet runs as a formula: text starting with
    ``= + - @`` (or a tab or carriage return) gets a leading apostrophe; numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


@bp.get("/insights/<key>.csv")
@roles(MARKETER)
def table_csv(key: str) -> ResponseReturnValue:
    """One table of the dashboard as CSV, for the same filters as the page."""
    panel_key = key.split("-", 1)[0]
    if panel_key not in PANELS:
        abort(404)
    brand = page_brand()
    filters = _filters(brand)
    session = analytics_session()
    panel: Panel = (lift(session, filters, _holdouts(brand.slug)) if panel_key == "lift"
                    else PANELS[panel_key](session, filters))
    table = next((t for t in panel.tables if t.key == key), None)
    if table is None:
        abort(404)
    name = f"{brand.slug}-{key}-{filters.start.isoformat()}-{filters.end.isoformat()}.csv"
    response = Response(_csv_text(table), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response



def _drill_range(filters: Filters) -> tuple[date, date, bool]:
    """The dashboard's dates for a drill-down (raw taps): at most its last ``DRILL_DOWN_DAYS``;
    True when that cut the range."""
    start = max(filters.start, filters.end - timedelta(days=DRILL_DOWN_DAYS - 1))
    return start, filters.end, start != filters.start


@bp.get("/insights/failed-items")
@roles(MARKETER)
def failed_items_page() -> ResponseReturnValue:
    """The items with the most failed taps for the dashboard's dates (the integrity panel's
    drill-down, from raw taps), each linking to its taps."""
    brand = page_brand()
    start, end, cut = _drill_range(_filters(brand))
    rows = failed_items(analytics_session(), brand.id, start, end)
    acting = current_principal()
    return no_store(render_template(
        "admin/insights_items.html", acting=acting,
        signed_in_as=SIGNED_IN_AS.get(acting.role, ""), brand=brand, rows=rows, start=start,
        end=end, cut=cut, cell=cell, zone_words=zone_label(brand.timezone),
        brand_arg=request.args.get("brand")))


@bp.get("/insights/item")
@roles(MARKETER)
def item_taps_page() -> ResponseReturnValue:
    """One item's raw taps for the dashboard's dates (newest first, bounded)."""
    brand = page_brand()
    serial = (request.args.get("serial") or "").strip()
    if not serial or len(serial) > 20:
        abort(400)
    start, end, cut = _drill_range(_filters(brand))
    session = analytics_session()
    if not has_item(session, brand.id, serial):
        abort(404)  # another brand's item is not found either
    lines = item_taps(session, brand.id, serial, start, end)
    acting = current_principal()
    return no_store(render_template(
        "admin/insights_item.html", acting=acting,
        signed_in_as=SIGNED_IN_AS.get(acting.role, ""), brand=brand, serial=serial,
        lines=lines, start=start, end=end, cut=cut, cell=cell, limit=DRILL_DOWN_ROWS,
        zone_words=zone_label(brand.timezone),
        verdict_words=lambda verdict: translate(VERDICT_WORDS.get(verdict, str(verdict))),
        brand_arg=request.args.get("brand")))
