"""A handheld (a browser on a device), as its offline queue last reported it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..clock import utcnow
from ..extensions import db


class Device(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    # Made by the browser and kept in its localStorage: one per browser profile on the device.
    device_key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(80), default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    waiting: Mapped[int] = mapped_column(Integer, default=0)  # requests queued offline, not yet sent
    conflicts: Mapped[int] = mapped_column(Integer, default=0)  # refused on replay, not yet dismissed
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

    user = relationship("User", lazy="joined")
