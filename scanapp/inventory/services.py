"""Inventory operations by reference (SKU, location code, lot number), used by pages, API and CLI.

Callers pass plain values; these functions resolve them, validate, and call the ledger. They
flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..scanning.interpret import gtin14
from . import ledger, queries
from .errors import Duplicate, InvalidMove, UnknownReference
from .models import (
    VIRTUAL_TYPES,
    Item,
    ItemBarcode,
    Location,
    LocationType,
    MoveType,
    StockMove,
    Warehouse,
)
from .quantities import parse_quantity

VIRTUAL_CODES = {
    LocationType.SUPPLIER: "VIRTUAL-SUPPLIER",
    LocationType.CUSTOMER: "VIRTUAL-CUSTOMER",
    LocationType.ADJUSTMENT: "VIRTUAL-ADJUSTMENT",
    LocationType.SCRAP: "VIRTUAL-SCRAP",
}
VIRTUAL_NAMES = {
    LocationType.SUPPLIER: "Suppliers",
    LocationType.CUSTOMER: "Customers",
    LocationType.ADJUSTMENT: "Inventory adjustment",
    LocationType.SCRAP: "Scrap",
}

# Which virtual location stands on the other side of each move type (None: both sides physical).
_VIRTUAL_SOURCE = {MoveType.RECEIPT: LocationType.SUPPLIER}
_VIRTUAL_TARGET = {
    MoveType.ISSUE: LocationType.CUSTOMER,
    MoveType.SCRAP: LocationType.SCRAP,
    MoveType.RETURN: LocationType.SUPPLIER,
}


def virtual_location(type_: LocationType) -> Location:
    """The virtual location of ``type_``, created on first use (race-safe)."""
    code = VIRTUAL_CODES[type_]
    loc = queries.location_by_code(code)
    if loc is None:
        ledger._insert_ignore(Location, {"code": code, "name": VIRTUAL_NAMES[type_], "type": type_.value,
                                         "active": True, "warehouse_id": None})
        loc = queries.location_by_code(code)
    return loc


def clean_text(text, field: str, max_len: int, *, required: bool = True) -> str:
    """Trimmed text of at most ``max_len`` characters without control characters, or a 422."""
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise InvalidMove(_l("%(field)s must be text.", field=field))
    text = text.strip()
    if required and not text:
        raise InvalidMove(_l("%(field)s is required.", field=field))
    if len(text) > max_len:
        raise InvalidMove(_l("%(field)s is longer than %(max)s characters.", field=field, max=max_len))
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidMove(_l("%(field)s contains control characters.", field=field))
    return text


def _flush_unique(message) -> None:
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise Duplicate(message) from exc


def create_warehouse(code: str, name: str) -> Warehouse:
    code = clean_text(code, "code", 40)
    name = clean_text(name, "name", 200)
    wh = Warehouse(code=code, name=name)
    db.session.add(wh)
    _flush_unique(_l("Warehouse %(code)s already exists.", code=code))
    return wh


def create_location(code: str, warehouse_code: str, name: str = "", type_: str = "storage") -> Location:
    code = clean_text(code, "code", 60)
    warehouse = queries.warehouse_by_code(clean_text(warehouse_code, "warehouse", 40))
    if warehouse is None:
        raise UnknownReference(_l("No warehouse %(code)s.", code=warehouse_code))
    try:
        kind = LocationType(type_ or "storage")
    except ValueError:
        raise InvalidMove(_l("Unknown location type %(type)s.", type=str(type_)[:40])) from None
    if kind in VIRTUAL_TYPES:
        raise InvalidMove(_l("Virtual locations are built in; create a warehouse location instead."))
    loc = Location(code=code, name=clean_text(name, "name", 200, required=False), type=kind, warehouse=warehouse)
    db.session.add(loc)
    _flush_unique(_l("Location %(code)s already exists.", code=code))
    return loc


@dataclass(frozen=True)
class BarcodeSpec:
    code: str
    pack_qty: Decimal = Decimal(1)


def create_item(
    sku: str,
    name: str,
    *,
    barcodes: list[BarcodeSpec] | None = None,
    uom: str = "pcs",
    category: str = "",
    lot_tracked: bool = False,
    expiry_tracked: bool = False,
    whole_units: bool = True,
    unit_cost=Decimal(0),
    min_shelf_life_days: int = 0,
) -> Item:
    """Create an item with its barcodes; 409 Duplicate on a repeated SKU or barcode."""
    sku = clean_text(sku, "sku", 60)
    item = Item(
        sku=sku,
        name=clean_text(name, "name", 200),
        uom=clean_text(uom or "pcs", "uom", 20),
        category=clean_text(category, "category", 100, required=False),
        lot_tracked=bool(lot_tracked or expiry_tracked),
        expiry_tracked=bool(expiry_tracked),
        whole_units=bool(whole_units),
        unit_cost=parse_quantity(unit_cost, allow_zero=True) if unit_cost not in (None, "") else Decimal(0),
        min_shelf_life_days=int(min_shelf_life_days or 0),
    )
    for spec in barcodes or []:
        code = clean_text(spec.code, "barcode", 200)
        item.barcodes.append(
            ItemBarcode(code=code, gtin14=gtin14(code), pack_qty=parse_quantity(spec.pack_qty))
        )
    db.session.add(item)
    _flush_unique(_l("SKU %(sku)s or one of its barcodes already exists.", sku=sku))
    return item


def _location(code, field) -> Location:
    if code is None or code == "":
        raise InvalidMove(_l("%(field)s is required for this move.", field=field))
    loc = queries.location_by_code(clean_text(code, field, 60))
    if loc is None:
        raise UnknownReference(_l("No location %(code)s.", code=str(code)[:60]))
    return loc


def move_stock(
    *,
    type: str,
    sku: str,
    qty,
    user_id: int | None,
    from_location: str | None = None,
    to_location: str | None = None,
    lot: str | None = None,
    expiry: date | None = None,
    reason: str = "",
    idempotency_key: str | None = None,
) -> StockMove:
    """Post a move given by references: receipt (supplier → to), issue (from → customer), transfer
    (from → to), scrap (from → scrap), return (from → supplier), adjustment (either side)."""
    try:
        move_type = MoveType(type)
    except (ValueError, TypeError):
        raise InvalidMove(_l("Unknown move type.")) from None
    item = queries.item_by_sku(clean_text(sku, "sku", 60))
    if item is None:
        raise UnknownReference(_l("No item with SKU %(sku)s.", sku=str(sku)[:60]))
    reason = clean_text(reason, "reason", 500, required=False)

    if move_type in _VIRTUAL_SOURCE:
        source = virtual_location(_VIRTUAL_SOURCE[move_type])
        target = _location(to_location, "to_location")
    elif move_type in _VIRTUAL_TARGET:
        source = _location(from_location, "from_location")
        target = virtual_location(_VIRTUAL_TARGET[move_type])
    elif move_type is MoveType.ADJUSTMENT:
        if bool(from_location) == bool(to_location):
            raise InvalidMove(_l("An adjustment has either a from_location (less stock) or a to_location (more)."))
        adjust = virtual_location(LocationType.ADJUSTMENT)
        source = _location(from_location, "from_location") if from_location else adjust
        target = _location(to_location, "to_location") if to_location else adjust
    else:
        source = _location(from_location, "from_location")
        target = _location(to_location, "to_location")

    lot_row = None
    if lot not in (None, ""):
        if not item.lot_tracked:
            raise InvalidMove(_l("%(sku)s is not lot-tracked.", sku=item.sku))
        lot_text = clean_text(lot, "lot", 60)
        if move_type is MoveType.RECEIPT or (move_type is MoveType.ADJUSTMENT and target is not None
                                              and not target.is_virtual):
            lot_row = ledger.get_or_create_lot(item, lot_text, expiry)
        else:
            lot_row = queries.lot_by_number(item.id, lot_text)
            if lot_row is None:
                raise UnknownReference(_l("No lot %(lot)s of %(sku)s.", lot=lot_text, sku=item.sku))
    if item.expiry_tracked and lot_row is not None and lot_row.expiry is None:
        raise InvalidMove(_l("%(sku)s is expiry-tracked: give the expiry date.", sku=item.sku))

    return ledger.post_move(
        type=move_type,
        item=item,
        qty=qty,
        from_location=source,
        to_location=target,
        lot=lot_row,
        user_id=user_id,
        reason=reason,
        idempotency_key=idempotency_key,
    )


def balances_after(move: StockMove):
    """The balances a move touched, for the response that confirms it."""
    ids = [loc_id for loc_id in (move.from_location_id, move.to_location_id)]
    return [
        b
        for b in db.session.execute(
            select(queries.StockBalance).where(
                queries.StockBalance.item_id == move.item_id,
                queries.StockBalance.location_id.in_(ids),
                (queries.StockBalance.lot_id == move.lot_id)
                if move.lot_id is not None
                else queries.StockBalance.lot_id.is_(None),
            )
        ).scalars()
    ]
