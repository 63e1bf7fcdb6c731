"""Inter-warehouse transfer documents: TR-00001 moves stock from one warehouse to another through
the destination's transit location.

Shipping posts every line from its source location into ``<TO-WH>-TRANSIT`` (one batch); receiving
posts transit → a scanned bin, line by line. ``TransferLine.received_qty`` only grows through a
guarded UPDATE (``… WHERE received_qty + :qty <= shipped_qty``) and a check constraint backs it, so
two workers receiving the same line at once can never receive more than was shipped.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..clock import utcnow
from ..extensions import db, value_enum
from ..inventory.models import QTY


class TransferStatus(enum.StrEnum):
    DRAFT = "draft"
    SHIPPED = "shipped"
    PARTIALLY_RECEIVED = "partially_received"
    RECEIVED = "received"


class Transfer(db.Model):
    __table_args__ = (
        CheckConstraint("from_warehouse_id <> to_warehouse_id", name="different_warehouses"),
        Index("ix_transfer_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)  # TR-00001, made from the id
    status: Mapped[TransferStatus] = mapped_column(value_enum(TransferStatus, "transfer_status"),
                                                   default=TransferStatus.DRAFT)
    from_warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    to_warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    shipped_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime)
    received_at: Mapped[datetime | None] = mapped_column(DateTime)

    from_warehouse = relationship("Warehouse", foreign_keys=[from_warehouse_id])
    to_warehouse = relationship("Warehouse", foreign_keys=[to_warehouse_id])
    created_by = relationship("User", foreign_keys=[created_by_id])
    shipped_by = relationship("User", foreign_keys=[shipped_by_id])
    lines: Mapped[list[TransferLine]] = relationship(back_populates="transfer", order_by="TransferLine.id",
                                                     cascade="all, delete-orphan")


class TransferLine(db.Model):
    __table_args__ = (
        CheckConstraint("qty > 0", name="qty_positive"),
        CheckConstraint("shipped_qty >= 0 AND shipped_qty <= qty", name="shipped_within_qty"),
        CheckConstraint("received_qty >= 0 AND received_qty <= shipped_qty", name="received_within_shipped"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfer.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"))
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lot.id"))
    from_location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    qty: Mapped[Decimal] = mapped_column(QTY)
    shipped_qty: Mapped[Decimal] = mapped_column(QTY, default=Decimal(0))
    received_qty: Mapped[Decimal] = mapped_column(QTY, default=Decimal(0))

    transfer: Mapped[Transfer] = relationship(back_populates="lines")
    item = relationship("Item")
    lot = relationship("Lot")
    from_location = relationship("Location")

    @property
    def remaining(self) -> Decimal:
        return self.shipped_qty - self.received_qty


def _status_names():
    """Transfer statuses, listed for `pybabel extract`; templates translate them with `_(value)`."""
    from flask_babel import lazy_gettext as _l

    return [_l("draft"), _l("shipped"), _l("partially_received"), _l("received")]
