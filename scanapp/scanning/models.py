"""The scan log: every scan attempt, for "it didn't scan" support (kept SCANAPP_SCAN_LOG_DAYS)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..clock import utcnow
from ..extensions import db


class ScanLog(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    screen: Mapped[str] = mapped_column(String(40))
    raw: Mapped[str] = mapped_column(String(4096))  # exactly what was scanned
    kind: Mapped[str] = mapped_column(String(20), default="")
    outcome: Mapped[str] = mapped_column(String(20))  # ok | unknown | error | rejected
    message: Mapped[str] = mapped_column(String(300), default="")
