"""Journeys against each other: priority ties that could match the same tap, and journeys a
higher-priority one always takes first.

Only journeys whose ``when`` had no problem are compared: a faulty tree would give false alarms.
"""

from __future__ import annotations

from app.journeys.language.checks.journeys import ParsedJourney
from app.journeys.language.conditions import covers, exclusive, journey_when
from app.journeys.language.context import Context


def check_priorities(ctx: Context, journeys: list[ParsedJourney]) -> None:
    clean = [j for j in journeys if j.clean]
    # Dates included: campaigns in different months neither tie nor hide each other.
    when = {id(j): journey_when(j.doc) for j in clean}
    for i, a in enumerate(clean):
        for b in clean[i + 1:]:
            if a.doc.priority == b.doc.priority and not exclusive(when[id(a)], when[id(b)]):
                ctx.problem(
                    b.priority_node,
                    f"journey '{b.doc.id}' has the same priority ({b.doc.priority}) as "
                    f"journey '{a.doc.id}' and both can match the same tap: give one of them "
                    "a higher priority",
                )
    ordered = sorted(clean, key=lambda j: (-j.doc.priority, j.order))
    for index, b in enumerate(ordered):
        for a in ordered[:index]:
            if a.doc.priority > b.doc.priority and covers(when[id(a)], when[id(b)]):
                ctx.problem(
                    b.id_node,
                    f"journey '{b.doc.id}' can never be chosen: journey '{a.doc.id}' "
                    f"(priority {a.doc.priority}) matches whenever it does",
                )
                break
