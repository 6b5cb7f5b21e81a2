"""The scheduler's jobs: one per ``schedules:`` entry of each live ruleset, and the duties.

Message jobs run in their ruleset's time zone, each slot ahead of its time by the lead owners
in the earliest zone need (``app.messages.zones.message_lead``). Duties run on UTC crons: draw
seeds belong to UTC days, so they are published and revealed just after a UTC day starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.insights.refresh import refresh
from app.messages.ticks import TickReport
from app.messages.zones import message_lead
from app.ownership.email import purge_expired_tokens
from app.ownership.transfers import purge_expired_offers
from app.rewards.draws import publish_commitments, reveal_seeds
from app.rewards.expiry import expire_points
from app.rewards.pools import sync_ruleset
from app.rules.service import Ruleset
from app.scheduler.runs import Action, Job
from app.verify.service import prune_failed_taps, prune_tap_detail

Tick = Callable[[Session, Mapping[str, Any], str, str, datetime, datetime], TickReport]
Rulesets = Callable[[], Mapping[str, Ruleset]]

SEEDS_CRON = "5 0 * * *"  # 00:05 UTC: yesterday ended (reveal), tomorrow is committed in advance
LINKS_CRON = "15 * * * *"
TAPS_CRON = "30 3 * * *"
POINTS_CRON = "20 0 * * *"  # 00:20 UTC, after the seeds
INSIGHTS_CRON = "* * * * *"


def message_job(brand: str, schedule_id: str, cron: str, timezone: str, tick: Tick) -> Job:
    """Return the job that runs ``tick`` for each slot of ``brand``'s schedule ``schedule_id``,
    ahead of the slot by ``message_lead``: the tick reads facts at the slot and times each
    owner's message at the slot's wall time in the owner's zone."""

    def action(session: Session, settings: Mapping[str, Any], slot: datetime,
               now: datetime) -> str:
        report = tick(session, settings, brand, schedule_id, slot, now)
        return (f"{report.selected} selected, {report.enqueued} enqueued, "
                f"{report.suppressed} suppressed")

    return Job(f"messages:{brand}:{schedule_id}", cron, timezone, action,
               lead=message_lead(timezone))


def schedule_jobs(rulesets: Mapping[str, Ruleset], tick: Tick) -> list[Job]:
    """Return a job per ``schedules:`` entry of every ruleset, in its ruleset's time zone."""
    return [message_job(brand, s.id, s.cron, ruleset.doc.timezone, tick)
            for brand, ruleset in sorted(rulesets.items())
            for s in ruleset.doc.schedules]


def seeds_action(rulesets: Rulesets) -> Action:
    """Return the duty that commits to today's and tomorrow's seeds and reveals ended days'."""

    def action(session: Session, settings: Mapping[str, Any], slot: datetime,
               now: datetime) -> str:
        # Pools are made from rulesets; a reward published since the last run gets its pool here.
        for brand, ruleset in sorted(rulesets().items()):
            sync_ruleset(session, ruleset.doc, brand)
        published = publish_commitments(session, now)
        revealed = reveal_seeds(session, now)
        return f"{len(published)} commitment(s) published, {len(revealed)} seed(s) revealed"

    return action


def links_action(session: Session, settings: Mapping[str, Any], slot: datetime,
                 now: datetime) -> str:
    """The duty that deletes transfer offers and emailed tokens long expired."""
    before = now - timedelta(days=float(settings["EXPIRED_LINKS_KEEP_DAYS"]))
    offers = purge_expired_offers(session, before)
    tokens = purge_expired_tokens(session, before)
    return f"{offers} expired offer(s), {tokens} expired token(s) deleted"


def taps_action(session: Session, settings: Mapping[str, Any], slot: datetime,
                now: datetime) -> str:
    """The duty that prunes tap detail past ``TAP_DETAIL_RETENTION_DAYS``."""
    before = now - timedelta(days=float(settings["TAP_DETAIL_RETENTION_DAYS"]))
    failed = prune_failed_taps(session, before)
    cleared = prune_tap_detail(session, before)
    return f"{failed} failed tap row(s) deleted, {cleared} genuine tap detail(s) cleared"


def points_action(rulesets: Rulesets) -> Action:
    """Return the duty that expires points by each live ruleset's ``points_expire_after``."""

    def action(session: Session, settings: Mapping[str, Any], slot: datetime,
               now: datetime) -> str:
        policies = {brand: timedelta(days=days) for brand, ruleset in rulesets().items()
                    if (days := ruleset.doc.guardrails.points_expire_after) is not None}
        # The slot, not the wall clock: a slot caught up late expires what was due at it.
        expired = expire_points(session, policies, slot)
        return f"{expired} point(s) expired ({len(policies)} brand(s) with a policy)"

    return action


def insights_action(session: Session, settings: Mapping[str, Any], slot: datetime,
                    now: datetime) -> str:
    """The duty that brings the insights cube up to date (``app.insights.refresh``)."""
    return refresh(session, settings, now).summary()


def duty_jobs(rulesets: Rulesets) -> list[Job]:
    """Return the duties: draw seeds, points expiry, expired links, tap detail and the insights
    refresh, each on a UTC cron."""
    return [
        Job("rewards:seeds", SEEDS_CRON, "UTC", seeds_action(rulesets)),
        Job("rewards:points-expiry", POINTS_CRON, "UTC", points_action(rulesets)),
        Job("ownership:expired-links", LINKS_CRON, "UTC", links_action),
        Job("verify:tap-detail", TAPS_CRON, "UTC", taps_action),
        # Each run reads everything new since the last, so a missed minute needs no catch-up.
        Job("insights:refresh", INSIGHTS_CRON, "UTC", insights_action,
            catch_up=timedelta(minutes=1)),
    ]
