"""Outbound orders (sale, production issue, transfer), pick lists, and locations flagged for a count.

An order's lines are released onto a pick list: each pick line is one source (location, lot) for one
order line, holding a `Reservation` of those units. Picking moves the units from the bin to the
warehouse's outbound location (consuming the reservation and reserving them there); shipping moves
them on to the customer, the production location or the destination's transit location. A short
pick gives the shortfall back to its order line as a backorder and flags the location for a count.

Quantities on lines only change through guarded UPDATEs (``… WHERE qty_picked + :q <= qty - qty_short``),
so two workers sharing a list never pick a line twice.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..clock import utcnow
from ..extensions import db, value_enum
from ..inventory.models import QTY


class OrderKind(enum.StrEnum):
    SALE = "sale"
    PRODUCTION = "production"  # materials issued to a production location
    TRANSFER = "transfer"  # to another warehouse's transit location


class OrderStatus(enum.StrEnum):
    OPEN = "open"  # not released yet
    RELEASED = "released"  # on a pick list
    PICKED = "picked"  # every pick line picked or short
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


class PickListStatus(enum.StrEnum):
    OPEN = "open"
    PICKING = "picking"
    PICKED = "picked"  # every line picked or short
    SHIPPED = "shipped"


class PickLineStatus(enum.StrEnum):
    OPEN = "open"
    PICKED = "picked"
    SHORT = "short"


class Customer(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Order(db.Model):
    __tablename__ = "outbound_order"
    __table_args__ = (Index("ix_outbound_order_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)  # SO-00001 (sale), MO-, TO-, or given
    kind: Mapped[OrderKind] = mapped_column(value_enum(OrderKind, "order_kind"), default=OrderKind.SALE)
    status: Mapped[OrderStatus] = mapped_column(value_enum(OrderStatus, "order_status"), default=OrderStatus.OPEN)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    # Pick only in this warehouse (None: any); ship to this location (production / transit kinds).
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouse.id"))
    destination_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime)

    customer: Mapped[Customer | None] = relationship()
    warehouse = relationship("Warehouse")
    destination = relationship("Location")
    created_by = relationship("User")
    lines: Mapped[list[OrderLine]] = relationship(back_populates="order", order_by="OrderLine.line_no")


class OrderLine(db.Model):
    """qty = what was ordered; backorder = what is waiting for stock (not on any pick list)."""

    __table_args__ = (
        UniqueConstraint("order_id", "line_no"),
        CheckConstraint("qty > 0", name="qty_positive"),
        CheckConstraint("qty_picked >= 0 AND qty_shipped >= 0 AND qty_backorder >= 0", name="qtys_not_negative"),
        CheckConstraint("qty_picked <= qty AND qty_shipped <= qty_picked", name="qtys_within_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("outbound_order.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"))
    qty: Mapped[Decimal] = mapped_column(QTY)
    qty_picked: Mapped[Decimal] = mapped_column(QTY, default=Decimal(0))
    qty_shipped: Mapped[Decimal] = mapped_column(QTY, default=Decimal(0))
    qty_backorder: Mapped[Decimal] = mapped_column(QTY, default=Decimal(0))
    released: Mapped[bool] = mapped_column(default=False)  # the line has been released once

    order: Mapped[Order] = relationship(back_populates="lines")
    item = relationship("Item")


class PickList(db.Model):
    __table_args__ = (Index("ix_pick_list_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)  # PL-00001, made from the id
    status: Mapped[PickListStatus] = mapped_column(value_enum(PickListStatus, "pick_list_status"),
                                                   default=PickListStatus.OPEN)
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    picked_at: Mapped[datetime | None] = mapped_column(DateTime)
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime)

    assigned_to = relationship("User", foreign_keys=[assigned_to_id])
    created_by = relationship("User", foreign_keys=[created_by_id])
    lines: Mapped[list[PickLine]] = relationship(back_populates="pick_list", order_by="PickLine.seq")
    orders: Mapped[list[Order]] = relationship(secondary="pick_list_order", order_by="Order.id", viewonly=True)


class PickListOrder(db.Model):
    pick_list_id: Mapped[int] = mapped_column(ForeignKey("pick_list.id"), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("outbound_order.id"), primary_key=True)


class PickLine(db.Model):
    """One source (location, lot) of one order line: pick ``qty`` there; the reservation holds it."""

    __table_args__ = (
        CheckConstraint("qty > 0", name="qty_positive"),
        CheckConstraint("qty_picked >= 0 AND qty_short >= 0 AND qty_shipped >= 0", name="qtys_not_negative"),
        # The guard that makes double-picking impossible, also in the database.
        CheckConstraint("qty_picked + qty_short <= qty", name="picked_within_qty"),
        CheckConstraint("qty_shipped <= qty_picked", name="shipped_within_picked"),
        Index("ix_pick_line_pick_list_id", "pick_list_id"),
        Index("ix_pick_line_order_line_id", "order_line_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pick_list_id: Mapped[int] = mapped_column(ForeignKey("pick_list.id"))
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_line.id"))
    seq: Mapped[int] = mapped_column(Integer, default=0)  # walking order
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"))
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lot.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    outbound_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    qty: Mapped[Decimal] = mapped_column(QTY)
    qty_picked: Mapped[Decimal] = mapped_column(QTY, default=Decimal(0))
    qty_short: Mapped[Decimal] = mapped_column(QTY, default=Decimal(0))
    qty_shipped: Mapped[Decimal] = mapped_column(QTY, default=Decimal(0))
    status: Mapped[PickLineStatus] = mapped_column(value_enum(PickLineStatus, "pick_line_status"),
                                                   default=PickLineStatus.OPEN)
    short_reason: Mapped[str] = mapped_column(Text, default="")
    picked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))  # the last pick's worker
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    pick_list: Mapped[PickList] = relationship(back_populates="lines")
    order_line: Mapped[OrderLine] = relationship()
    item = relationship("Item")
    lot = relationship("Lot")
    location = relationship("Location", foreign_keys=[location_id])
    outbound = relationship("Location", foreign_keys=[outbound_id])
    picked_by = relationship("User")

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.qty_picked - self.qty_short

    @property
    def done(self) -> bool:
        return self.status is not PickLineStatus.OPEN


class PickEvent(db.Model):
    """Who picked (or short-picked) what, when, from where: the pick list's history."""

    __table_args__ = (Index("ix_pick_event_pick_line_id", "pick_line_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pick_line_id: Mapped[int] = mapped_column(ForeignKey("pick_line.id"))
    kind: Mapped[str] = mapped_column(String(10))  # pick | short | ship
    qty: Mapped[Decimal] = mapped_column(QTY)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    move_id: Mapped[int | None] = mapped_column(ForeignKey("stock_move.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    line: Mapped[PickLine] = relationship()
    location = relationship("Location")
    user = relationship("User")


class LocationCountFlag(db.Model):
    """A location to count soon, e.g. after a short pick there. Cleared (cleared_at) by whoever
    counts it; the stocktake reads the open flags (cleared_at IS NULL)."""

    __table_args__ = (Index("ix_location_count_flag_open", "location_id", "cleared_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(60), default="")  # e.g. "PL-00012"
    flagged_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    flagged_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime)
    cleared_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    location = relationship("Location")
    flagged_by = relationship("User", foreign_keys=[flagged_by_id])
