"""The ``points`` section: what points are worth, and the catalogue owners spend them on."""

from __future__ import annotations

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from app.journeys.language.checks.content import localized
from app.journeys.language.checks.rewards import check_code
from app.journeys.language.checks.shapes import days, entries, integer, mapping, required, text
from app.journeys.language.context import Context
from app.journeys.language.syntax import CatalogueItemDoc, PointsDoc, PointsWorth
from app.journeys.language.words import CATALOGUE_FIELDS, ID_RE, POINTS_FIELDS, WORTH_RE
from app.journeys.language.yamlnodes import Entry, is_null, mark, show


def check_points(ctx: Context, entry: Entry | None) -> PointsDoc:
    if entry is None or is_null(entry.node):
        return PointsDoc()
    if not mapping(ctx, entry.node, None, "points", "worth, catalogue"):
        return PointsDoc()
    fields = entries(ctx, entry.node, "points", POINTS_FIELDS)
    return PointsDoc(worth=check_worth(ctx, fields.get("worth")),
                     catalogue=check_catalogue(ctx, fields.get("catalogue")))


def check_worth(ctx: Context, entry: Entry | None) -> PointsWorth | None:
    """``worth: 100 points = 5 EUR``."""
    if entry is None or is_null(entry.node):
        return None
    raw = str(entry.node.value) if isinstance(entry.node, ScalarNode) else ""
    match = WORTH_RE.fullmatch(raw)
    points = int(match.group(1)) if match else 0
    if match is None or points == 0:
        ctx.problem(entry.node, "points: 'worth' must be like \"100 points = 5 EUR\" (at least "
                                f"1 point, a currency code in capitals), not {show(entry.node)}")
        return None
    cents = int(match.group(2)) * 100 + int((match.group(3) or "0").ljust(2, "0"))
    return PointsWorth(points=points, cents=cents, currency=match.group(4))


def check_catalogue(ctx: Context, entry: Entry | None) -> tuple[CatalogueItemDoc, ...]:
    if entry is None or is_null(entry.node):
        return ()
    if not isinstance(entry.node, SequenceNode):
        ctx.problem(entry.node, "points: 'catalogue' must be a list of items like "
                                "{id: care-kit, label: Care kit, cost: 500, code: generated}")
        return ()
    out: list[CatalogueItemDoc] = []
    seen: dict[str, int] = {}
    for node in entry.node.value:
        item = check_item(ctx, node)
        if item is None:
            continue
        if item.id in seen:
            ctx.problem(node, f"points: catalogue item '{item.id}' is listed twice "
                              f"(first on line {seen[item.id]})")
            continue
        seen[item.id] = item.line
        out.append(item)
    return tuple(out)


def check_item(ctx: Context, node: Node) -> CatalogueItemDoc | None:
    """One catalogue item: an id, a label (and a description), per locale like a prize's, a
    cost above 0, and the code it gives."""
    if not isinstance(node, MappingNode):
        ctx.problem(node, "points: a catalogue item is a mapping like "
                          "{id: care-kit, label: Care kit, cost: 500, code: generated}")
        return None
    before = len(ctx.problems)
    fields = entries(ctx, node, "points: catalogue item", CATALOGUE_FIELDS)
    required(ctx, node, fields, ("id", "label", "cost", "code"), "points: catalogue item")
    cid = text(ctx, fields.get("id"), "points: catalogue item", ID_RE,
               "lowercase letters, digits and dashes")
    label = f"points: catalogue item '{cid}'"
    # Text, or text per locale, as a prize's label: every locale of ``locales:`` is required.
    shown = localized(ctx, fields.get("label"), label, "label")
    description = localized(ctx, fields.get("description"), label, "description")
    cost = integer(ctx, fields.get("cost"), label, minimum=1)
    code, code_list = check_code(ctx, fields.get("code"), label)
    stock = integer(ctx, fields.get("stock"), label)
    budget = integer(ctx, fields.get("budget"), label, minimum=1)
    expires = days(ctx, fields.get("expires"), label)
    if len(ctx.problems) > before or cid is None or cost is None or code is None:
        return None
    line, column = mark(node)
    return CatalogueItemDoc(id=cid, label=shown, cost=cost, code=code, code_list=code_list,
                            stock=stock, budget=budget, expires=expires, description=description,
                            line=line, column=column)
