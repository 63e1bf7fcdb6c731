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

from ..clock import utcnow
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


def warehouse_location(warehouse: Warehouse, type_: LocationType, suffix: str, name: str) -> Location:
    """The warehouse's own location ``<WAREHOUSE>-<suffix>`` of ``type_`` (transit, outbound …), created on
    first use (race-safe: two requests creating it at once end with one row). A location with that code
    but another type is refused rather than silently used."""
    code = f"{warehouse.code}-{suffix}"[:60]
    loc = queries.location_by_code(code)
    if loc is None:
        ledger._insert_ignore(Location, {"code": code, "name": name, "type": type_.value, "active": True,
                                         "warehouse_id": warehouse.id, "created_at": utcnow()})
        loc = queries.location_by_code(code)
    if loc.type is not type_ or loc.warehouse_id != warehouse.id:
        raise InvalidMove(_l("Location %(code)s exists but is not the warehouse's %(type)s location.",
                             code=code, type=type_.value))
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
    if any(_invisible(c) for c in text):
        raise InvalidMove(_l("%(field)s contains control characters.", field=field))
    return text


# Bidirectional overrides, embeddings, isolates and marks: invisible, and they make "ABC" display
# as "CBA" — a SKU or a location code that reads as another one (CVE-2021-42574, "Trojan Source").
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _invisible(c: str) -> bool:
    """C0 and C1 control characters, DEL, lone surrogates and bidi controls."""
    code = ord(c)
    return code < 32 or 127 <= code < 160 or 0xD800 <= code < 0xE000 or c in _BIDI_CONTROLS


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


def _location(code, field, known: dict[str, Location] | None = None) -> Location:
    if code is None or code == "":
        raise InvalidMove(_l("%(field)s is required for this move.", field=field))
    code = clean_text(code, field, 60)
    loc = (known or {}).get(code) or queries.location_by_code(code)
    if loc is None:
        raise UnknownReference(_l("No location %(code)s.", code=str(code)[:60]))
    return loc


def _virtual(type_: LocationType, known: dict[str, Location]) -> Location:
    return known.get(VIRTUAL_CODES[type_]) or virtual_location(type_)


def _location_codes(*codes) -> list[str]:
    """The location codes a move names that are worth looking up; codes that are not plain text
    are left to `_location` to refuse."""
    return sorted({c.strip() for c in codes if isinstance(c, str) and c.strip() and len(c) <= 200
                   and not any(_invisible(ch) for ch in c)})


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
    sku = clean_text(sku, "sku", 60)
    virtual_type = _VIRTUAL_SOURCE.get(move_type) or _VIRTUAL_TARGET.get(move_type) or (
        LocationType.ADJUSTMENT if move_type is MoveType.ADJUSTMENT else None)
    # The item and every location the move names (the virtual side too) in one query: this runs on
    # every scan. The dict also keeps the rows alive.
    item, known = queries.item_and_locations(
        sku, _location_codes(from_location, to_location, VIRTUAL_CODES.get(virtual_type)))
    if item is None:
        raise UnknownReference(_l("No item with SKU %(sku)s.", sku=str(sku)[:60]))
    reason = clean_text(reason, "reason", 500, required=False)

    if move_type in _VIRTUAL_SOURCE:
        source = _virtual(_VIRTUAL_SOURCE[move_type], known)
        target = _location(to_location, "to_location", known)
    elif move_type in _VIRTUAL_TARGET:
        source = _location(from_location, "from_location", known)
        target = _virtual(_VIRTUAL_TARGET[move_type], known)
    elif move_type is MoveType.ADJUSTMENT:
        if bool(from_location) == bool(to_location):
            raise InvalidMove(_l("An adjustment has either a from_location (less stock) or a to_location (more)."))
        adjust = _virtual(LocationType.ADJUSTMENT, known)
        source = _location(from_location, "from_location", known) if from_location else adjust
        target = _location(to_location, "to_location", known) if to_location else adjust
    else:
        source = _location(from_location, "from_location", known)
        target = _location(to_location, "to_location", known)
    if move_type is not MoveType.ADJUSTMENT and LocationType.TRANSIT in (source.type, target.type):
        # Transit stock belongs to a transfer document; moving it by hand would unbalance the transfer.
        raise InvalidMove(_l("Stock in transit moves only with its transfer: ship or receive the transfer instead."))

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


@dataclass(frozen=True)
class BalanceAfter:
    """A balance as a move left it (the fields `api.serialize.balance` reads)."""

    item: Item
    location: Location
    lot: object
    qty: Decimal
    reserved: Decimal

    @property
    def available(self) -> Decimal:
        return self.qty - self.reserved


def balances_after(move: StockMove):
    """The balances a move touched, for the response that confirms it.

    A move just posted by `ledger.post_move` carries the quantities its UPDATEs returned, so no
    query is needed; otherwise the balance rows are read.
    """
    if move.resulting_balances is not None:
        sides = (move.from_location, move.to_location)
        return [BalanceAfter(move.item, loc, move.lot, *move.resulting_balances[loc.id])
                for loc in sides if loc.id in move.resulting_balances]
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
