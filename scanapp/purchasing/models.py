"""Suppliers, purchase orders and their lines, receipt lines (for undo and history), and the
per-warehouse receiving settings.

A PO line's ``qty_received`` is the accepted quantity (what went into stock); ``qty_rejected`` is
what inspection sent to quarantine and does not count towards the order. Both only change through
guarded UPDATEs in `services`, after the PO row is locked, so two workers receiving the same line
can never together pass the over-receipt tolerance.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..clock import utcnow
from ..extensions import db, value_enum
from ..inventory.models import MONEY, QTY


class POStatus(enum.StrEnum):
    DRAFT = "draft"  # being written; nothing can be received
    OPEN = "open"  # sent to the supplier; nothing received yet
    PARTIALLY_RECEIVED = "partially_received"
    RECEIVED = "received"  # every line received in full
    CLOSED = "closed"  # finished (in full, or closed short by a supervisor)


RECEIVABLE = (POStatus.OPEN, POStatus.PARTIALLY_RECEIVED)


class Supplier(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class PurchaseOrder(db.Model):
    __table_args__ = (Index("ix_purchase_order_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)  # PO-00001, or the number given
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    status: Mapped[POStatus] = mapped_column(value_enum(POStatus, "po_status"), default=POStatus.DRAFT)
    expected_date: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_short: Mapped[bool] = mapped_column(default=False)

    supplier: Mapped[Supplier] = relationship()
    warehouse = relationship("Warehouse")
    created_by = relationship("User")
    lines: Mapped[list[PurchaseOrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="PurchaseOrderLine.id"
    )


class PurchaseOrderLine(db.Model):
    __table_args__ = (
        UniqueConstraint("order_id", "item_id"),  # one line per item: a scan finds its line unambiguously
        CheckConstraint("qty_ordered > 0", name="qty_ordered_positive"),
        CheckConstraint("qty_received >= 0", name="qty_received_not_negative"),
        CheckConstraint("qty_rejected >= 0", name="qty_rejected_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"))
    qty_ordered: Mapped[Decimal] = mapped_column(QTY)
    unit_cost: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    qty_received: Mapped[Decimal] = mapped_column(QTY, default=Decimal(0))
    qty_rejected: Mapped[Decimal] = mapped_column(QTY, default=Decimal(0))

    order: Mapped[PurchaseOrder] = relationship(back_populates="lines")
    item = relationship("Item")

    @property
    def open_qty(self) -> Decimal:
        return max(self.qty_ordered - self.qty_received, Decimal(0))

    @property
    def percent(self) -> int:
        if not self.qty_ordered:
            return 0
        return min(100, int(self.qty_received * 100 / self.qty_ordered))


class Receipt(db.Model):
    """One posted receipt line (a worker's put-away of one item): its moves, for history and undo."""

    __table_args__ = (Index("ix_receipt_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("purchase_order.id"), index=True)
    line_id: Mapped[int | None] = mapped_column(ForeignKey("purchase_order_line.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"))
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lot.id"))
    qty_accepted: Mapped[Decimal] = mapped_column(QTY, default=Decimal(0))
    qty_rejected: Mapped[Decimal] = mapped_column(QTY, default=Decimal(0))
    reject_reason: Mapped[str] = mapped_column(Text, default="")
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    accept_move_id: Mapped[int | None] = mapped_column(ForeignKey("stock_move.id"))
    reject_move_id: Mapped[int | None] = mapped_column(ForeignKey("stock_move.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(DateTime)

    order = relationship("PurchaseOrder")
    line = relationship("PurchaseOrderLine")
    item = relationship("Item")
    lot = relationship("Lot")
    location = relationship("Location")
    user = relationship("User")


class WarehouseSettings(db.Model):
    """Receiving rules of one warehouse; a warehouse without a row uses the defaults below."""

    __table_args__ = (CheckConstraint("over_receipt_pct >= 0", name="over_receipt_pct_not_negative"),)

    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"), primary_key=True)
    over_receipt_pct: Mapped[Decimal] = mapped_column(Numeric(7, 2), default=Decimal(0))
    allow_without_po: Mapped[bool] = mapped_column(default=False)
    without_po_role: Mapped[str] = mapped_column(String(20), default="supervisor")
    quarantine_location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    warehouse = relationship("Warehouse")
    quarantine_location = relationship("Location")
