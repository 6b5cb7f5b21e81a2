"""Published ruleset versions: what each brand's taps are decided by (migration 0010)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime


class RulesetVersion(Base):
    """One published version of a brand's ruleset; the brand's newest row is live.

    Rows are never updated or deleted: a rollback publishes an old text again as a new row.
    """

    __tablename__ = "ruleset_versions"
    # Serves the poll every process runs: the newest id per brand.
    __table_args__ = (Index("ix_ruleset_versions_brand_id", "brand", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand: Mapped[str] = mapped_column(String(64), ForeignKey("brands.slug"))
    # The file name it was published from (problems and logs name it).
    source: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    # The compiled rules' digest (``Ruleset.version``), which tap events record.
    digest: Mapped[str] = mapped_column(String(80))
    author: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Why this version exists beyond an edit, e.g. "rollback to version 3".
    note: Mapped[str | None] = mapped_column(String(200))
    # Unified diff against the version it replaced (None for a brand's first version).
    diff: Mapped[str | None] = mapped_column(Text)
