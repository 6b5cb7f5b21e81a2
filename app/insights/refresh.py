"""``refresh``: bring the rollup cube up to date, the one entry point (the scheduler's
``insights:refresh`` duty every minute, ``flask insights refresh`` on demand).

Each step reads its source from its mark and moves the mark in the caller's transaction, with
the cells it adds: committed together, a second refresh finds nothing new and changes nothing;
rolled back together, the next one counts it all. Rows younger than ``INSIGHTS_SETTLE_SECONDS``
wait for a later refresh (``app.insights.rollups.common.settled_upto`` says why).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.insights.alerts import scan
from app.insights.rollups import actions, taps
from app.insights.state import refresh_state


@dataclass(frozen=True)
class RefreshReport:
    """What one refresh did: taps counted and cube cells they changed; actions credited to
    journeys; service requests and resales counted; state cells per group; alerts raised; and
    whether settled rows remain past a step's cap (``pending``: run again to catch up)."""

    taps: int
    tap_cells: int
    actions: int
    service_requests: int
    resales: int
    alerts: int
    state: dict[str, int] = field(default_factory=dict)
    pending: bool = False

    def summary(self) -> str:
        """Return the report as one line (the scheduler's run summary, the CLI's output)."""
        state = ", ".join(f"{name} {n}" for name, n in sorted(self.state.items())) or "none"
        return (f"{self.taps} tap(s) into {self.tap_cells} cell(s), {self.actions} action(s), "
                f"{self.service_requests} service request(s), {self.resales} resale(s), "
                f"{self.alerts} alert(s); state: {state}"
                + ("; more to catch up" if self.pending else ""))


def refresh(session: Session, settings: Mapping[str, Any], now: datetime) -> RefreshReport:
    """Run every rollup step in order (taps, journey follow-ups, service requests, resales,
    state, integrity alerts) as of ``now``; return what they did. The caller commits."""
    tapped = taps.step(session, settings, now)
    followed = actions.journey_next(session, settings, now)
    service = actions.service_requests(session, settings, now)
    resold = actions.resales(session, settings, now)
    state = refresh_state(session, settings, now)
    alerts = scan(session, settings, now)
    return RefreshReport(
        taps=tapped.taps, tap_cells=tapped.cells, actions=followed.rows,
        service_requests=service.rows, resales=resold.rows, alerts=alerts.created,
        state=dict(state),
        pending=tapped.pending or service.pending or resold.pending or alerts.pending,
    )
