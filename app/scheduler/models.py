"""``scheduler_runs``: a row per (job, slot) that ran; its unique key makes double firing moot."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime


class SchedulerRun(Base):
    """A slot of a job that ran (or is running, in an open transaction)."""

    __tablename__ = "scheduler_runs"
    __table__: ClassVar[Table]
    __table_args__ = (UniqueConstraint("job", "slot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(200))
    slot: Mapped[datetime] = mapped_column(UTCDateTime())  # the cron's fire time, UTC
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime())
    summary: Mapped[str] = mapped_column(String(200), default="")
