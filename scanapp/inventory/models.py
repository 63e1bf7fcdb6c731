"""Warehouses, locations, items, lots, and the stock ledger (moves) with its balances.

Moves are the truth and are append-only; balances are derived, kept per (item, location, lot) for
physical locations only and updated in the same transaction by `inventory.ledger` — no other
module writes either table. Virtual locations (supplier, customer, adjustment, scrap) are the
other side of stock entering or leaving, so every change is a move from somewhere to somewhere.
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
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..clock import utcnow
from ..extensions import db, value_enum

QTY = Numeric(18, 3)  # quantities: exact, three decimals (kg, m, l); never float
MONEY = Numeric(18, 4)  # unit costs




class LocationType(enum.StrEnum):
    STORAGE = "storage"
    RECEIVING = "receiving"  # receiving/staging
    QUARANTINE = "quarantine"
    OUTBOUND = "outbound"  # packing/shipping
    PRODUCTION = "production"
    TRANSIT = "transit"  # between warehouses: holds stock, so it is physical
    SUPPLIER = "supplier"
    CUSTOMER = "customer"
    ADJUSTMENT = "adjustment"
    SCRAP = "scrap"

    @property
    def is_virtual(self) -> bool:
        return self in VIRTUAL_TYPES


VIRTUAL_TYPES = frozenset(
    {LocationType.SUPPLIER, LocationType.CUSTOMER, LocationType.ADJUSTMENT, LocationType.SCRAP}
)
PHYSICAL_TYPES = tuple(t for t in LocationType if t not in VIRTUAL_TYPES)


class MoveType(enum.StrEnum):
    RECEIPT = "receipt"
    ISSUE = "issue"
    TRANSFER = "transfer"
    ADJUSTMENT = "adjustment"
    SCRAP = "scrap"
    RETURN = "return"  # return to supplier


class Warehouse(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    locations: Mapped[list[Location]] = relationship(back_populates="warehouse")


class Location(db.Model):
    """A place stock can be. Codes are hierarchical (WH1-A-01-02: warehouse, zone, aisle, shelf)."""

    __table_args__ = (Index("ix_location_warehouse_code", "warehouse_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    type: Mapped[LocationType] = mapped_column(value_enum(LocationType, "location_type"), default=LocationType.STORAGE)
    # Virtual locations belong to no warehouse.
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouse.id"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    warehouse: Mapped[Warehouse | None] = relationship(back_populates="locations")

    @property
    def is_virtual(self) -> bool:
        return self.type.is_virtual

    @property
    def zone(self) -> str:
        """The zone part of the code: WH1-A-01-02 → A (empty for codes without one)."""
        parts = self.code.split("-")
        return parts[1] if len(parts) > 2 else ""


class Item(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(100), default="")
    uom: Mapped[str] = mapped_column(String(20), default="pcs")
    # Whole-unit items (pieces, boxes) refuse fractional quantities; weights and lengths allow them.
    whole_units: Mapped[bool] = mapped_column(default=True)
    lot_tracked: Mapped[bool] = mapped_column(default=False)
    expiry_tracked: Mapped[bool] = mapped_column(default=False)
    min_shelf_life_days: Mapped[int] = mapped_column(Integer, default=0)
    unit_cost: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    barcodes: Mapped[list[ItemBarcode]] = relationship(
        back_populates="item", cascade="all, delete-orphan", order_by="ItemBarcode.id"
    )


class ItemBarcode(db.Model):
    """A barcode of an item; a pack barcode stands for ``pack_qty`` units."""

    __table_args__ = (CheckConstraint("pack_qty > 0", name="pack_qty_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(200), unique=True)
    # The GTIN-14 form of a GTIN code, so a UPC-A, EAN-13 or GTIN-14 scan of one product all match.
    gtin14: Mapped[str | None] = mapped_column(String(14), unique=True)
    pack_qty: Mapped[Decimal] = mapped_column(QTY, default=Decimal("1"))

    item: Mapped[Item] = relationship(back_populates="barcodes")


class Lot(db.Model):
    __table_args__ = (UniqueConstraint("item_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"))
    number: Mapped[str] = mapped_column(String(60))
    expiry: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    item: Mapped[Item] = relationship()


class StockMove(db.Model):
    """One append-only line of the stock ledger. A correction is a new move with ``reverses_id``."""

    __table_args__ = (
        CheckConstraint("qty > 0", name="qty_positive"),
        CheckConstraint("from_location_id <> to_location_id", name="different_locations"),
        Index("ix_stock_move_item_id_id", "item_id", "id"),
        Index("ix_stock_move_from_location_id_id", "from_location_id", "id"),
        Index("ix_stock_move_to_location_id_id", "to_location_id", "id"),
        Index("ix_stock_move_document", "document_type", "document_id"),
        # Reversing a move twice must post once.
        Index("uq_stock_move_reverses_id", "reverses_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    type: Mapped[MoveType] = mapped_column(value_enum(MoveType, "move_type"))
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"))
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lot.id"))
    from_location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    to_location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    qty: Mapped[Decimal] = mapped_column(QTY)
    unit_cost: Mapped[Decimal] = mapped_column(MONEY)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # The document this move belongs to, e.g. ("purchase_order", "PO-00012").
    document_type: Mapped[str | None] = mapped_column(String(30))
    document_id: Mapped[str | None] = mapped_column(String(60))
    reason: Mapped[str] = mapped_column(Text, default="")
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("stock_move.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))

    item: Mapped[Item] = relationship()
    lot: Mapped[Lot | None] = relationship()
    from_location: Mapped[Location] = relationship(foreign_keys=[from_location_id])
    to_location: Mapped[Location] = relationship(foreign_keys=[to_location_id])
    user = relationship("User")

    # Set by ledger.post_move on the move it posts: {location id: (qty, reserved) right after the
    # move} for its physical sides, as its guarded UPDATEs returned them. Not a column.
    resulting_balances = None


class StockBalance(db.Model):
    """On-hand quantity per (item, physical location, lot); always the sum of its moves.

    ``reserved`` is the part promised to pick lists (the sum of its `Reservation` rows); available
    = qty − reserved. Only `inventory.ledger` and `inventory.reservations` change it.
    """

    __table_args__ = (
        CheckConstraint("qty >= 0", name="qty_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved <= qty", name="reserved_within_qty"),
        # One row per (item, location, lot); lot NULL needs its own partial index because NULLs
        # are distinct in a plain unique index (on both SQLite and PostgreSQL).
        Index("uq_stock_balance_item_location_lot", "item_id", "location_id", "lot_id", unique=True),
        Index(
            "uq_stock_balance_item_location_nolot",
            "item_id",
            "location_id",
            unique=True,
            sqlite_where=text("lot_id IS NULL"),
            postgresql_where=text("lot_id IS NULL"),
        ),
        Index("ix_stock_balance_location_id", "location_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lot.id"))
    qty: Mapped[Decimal] = mapped_column(QTY, default=Decimal("0"))
    reserved: Mapped[Decimal] = mapped_column(QTY, default=Decimal("0"), server_default="0")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    item: Mapped[Item] = relationship()
    location: Mapped[Location] = relationship()
    lot: Mapped[Lot | None] = relationship()

    @property
    def available(self) -> Decimal:
        return self.qty - (self.reserved or Decimal(0))


class Reservation(db.Model):
    """Units of one balance promised to one owner (e.g. a pick-list line: ``("pick_line", 12)``).

    The balance's ``reserved`` is the sum of its reservations. ``cut`` is how much a count
    adjustment took away from this reservation (the stock was not there), for the owner to show.
    """

    __table_args__ = (
        CheckConstraint("qty >= 0", name="qty_not_negative"),
        CheckConstraint("cut >= 0", name="cut_not_negative"),
        Index("uq_reservation_owner_balance", "owner_type", "owner_id", "balance_id", unique=True),
        Index("ix_reservation_balance_id", "balance_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    balance_id: Mapped[int] = mapped_column(ForeignKey("stock_balance.id"))
    owner_type: Mapped[str] = mapped_column(String(30))
    owner_id: Mapped[int] = mapped_column(Integer)
    qty: Mapped[Decimal] = mapped_column(QTY, default=Decimal("0"))
    cut: Mapped[Decimal] = mapped_column(QTY, default=Decimal("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    balance: Mapped[StockBalance] = relationship()
