"""Stocktakes: count sessions, the locations they cover, and the counted lines.

A session (CNT-00001) covers a fixed set of locations, chosen when it is created (a warehouse, a
zone prefix, a list, or the locations holding the chosen items of a cycle count). Each location is
counted in rounds: starting a round takes the book snapshot (`CountLine.book_qty` for every
(item, lot) on the books there, at `CountLocation.started_at`); scans add to the round's lines; a
recount starts a new round whose lines replace the old ones. Approval posts counted − book as an
adjustment move to today's balance, so moves made during the session never show as variances.

Line and location statuses only move forward through guarded UPDATEs (`… WHERE status = 'counted'`),
so two supervisors approving at once post once.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..clock import utcnow
from ..extensions import db, value_enum
from ..inventory.models import QTY


class SessionStatus(enum.StrEnum):
    OPEN = "open"  # counters count
    SUBMITTED = "submitted"  # counting finished; supervisors review (recounts may still run)
    CLOSED = "closed"  # every line decided


class LocationStatus(enum.StrEnum):
    PENDING = "pending"  # not started: no snapshot yet
    COUNTING = "counting"  # snapshot taken, scans going in
    DONE = "done"  # the counter said "location done"
    RECOUNT = "recount"  # a supervisor rejected the count; the next round replaces it


class LineStatus(enum.StrEnum):
    COUNTING = "counting"  # its location is being counted
    COUNTED = "counted"  # location done; waiting for review
    APPROVED = "approved"  # adjustment posted (when there was a difference)
    REJECTED = "rejected"  # a supervisor sent the location back for a recount
    SUPERSEDED = "superseded"  # replaced by a later round of its location


class CountSession(db.Model):
    __table_args__ = (Index("ix_count_session_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)  # CNT-00001, made from the id
    status: Mapped[SessionStatus] = mapped_column(value_enum(SessionStatus, "count_session_status"),
                                                  default=SessionStatus.OPEN)
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouse.id"))
    prefix: Mapped[str | None] = mapped_column(String(60))  # a zone: location codes starting with it
    blind: Mapped[bool] = mapped_column(default=True)
    deadline: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)

    warehouse = relationship("Warehouse")
    created_by = relationship("User", foreign_keys=[created_by_id])
    locations: Mapped[list[CountLocation]] = relationship(back_populates="session", order_by="CountLocation.id")
    counters: Mapped[list[CountCounter]] = relationship(back_populates="session", order_by="CountCounter.user_id")
    items: Mapped[list[CountItem]] = relationship(back_populates="session", order_by="CountItem.item_id")


class CountCounter(db.Model):
    """A user assigned to count a session; when a session has none, any worker may count it."""

    session_id: Mapped[int] = mapped_column(ForeignKey("count_session.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), primary_key=True)

    session: Mapped[CountSession] = relationship(back_populates="counters")
    user = relationship("User")


class CountItem(db.Model):
    """An item of a cycle count: when a session has any, only these items are counted."""

    session_id: Mapped[int] = mapped_column(ForeignKey("count_session.id"), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), primary_key=True)

    session: Mapped[CountSession] = relationship(back_populates="items")
    item = relationship("Item")


class CountLocation(db.Model):
    """One location of a session and the state of its current counting round."""

    __table_args__ = (
        UniqueConstraint("session_id", "location_id"),
        CheckConstraint("round >= 0", name="round_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("count_session.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    status: Mapped[LocationStatus] = mapped_column(value_enum(LocationStatus, "count_location_status"),
                                                   default=LocationStatus.PENDING)
    round: Mapped[int] = mapped_column(Integer, default=0)  # 1 for the first count, 2 for the first recount …
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))  # who started the current round
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))  # a recount's counter
    started_at: Mapped[datetime | None] = mapped_column(DateTime)  # the book snapshot's moment
    done_at: Mapped[datetime | None] = mapped_column(DateTime)
    recount_reason: Mapped[str] = mapped_column(Text, default="")

    session: Mapped[CountSession] = relationship(back_populates="locations")
    location = relationship("Location")
    counter = relationship("User", foreign_keys=[counter_id])
    assigned_to = relationship("User", foreign_keys=[assigned_to_id])


class CountLine(db.Model):
    """What was counted of one (item, lot) at one location in one round, beside the book snapshot."""

    __table_args__ = (
        CheckConstraint("book_qty >= 0", name="book_qty_not_negative"),
        CheckConstraint("counted_qty >= 0", name="counted_qty_not_negative"),
        # One line per (location round, item, lot): concurrent scans of one item add to one row.
        # Lot NULL needs its own partial index (NULLs are distinct in a plain unique index).
        Index("uq_count_line_round_item_lot", "count_location_id", "round", "item_id", "lot_id", unique=True),
        Index(
            "uq_count_line_round_item_nolot",
            "count_location_id",
            "round",
            "item_id",
            unique=True,
            sqlite_where=text("lot_id IS NULL"),
            postgresql_where=text("lot_id IS NULL"),
        ),
        Index("ix_count_line_session_status", "session_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("count_session.id"))
    count_location_id: Mapped[int] = mapped_column(ForeignKey("count_location.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    round: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"))
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lot.id"))
    book_qty: Mapped[Decimal] = mapped_column(QTY, default=Decimal(0))  # on the books when the round started
    counted_qty: Mapped[Decimal] = mapped_column(QTY, default=Decimal(0))
    status: Mapped[LineStatus] = mapped_column(value_enum(LineStatus, "count_line_status"), default=LineStatus.COUNTING)
    counted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))  # the last scan's user
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))  # approved or rejected by
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    reject_reason: Mapped[str] = mapped_column(Text, default="")
    move_id: Mapped[int | None] = mapped_column(ForeignKey("stock_move.id"))  # the adjustment, if any

    count_location: Mapped[CountLocation] = relationship()
    location = relationship("Location")
    item = relationship("Item")
    lot = relationship("Lot")
    decided_by = relationship("User", foreign_keys=[decided_by_id])
