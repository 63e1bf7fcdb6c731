"""Purchasing and receiving services, used by the pages, the handheld flow, the API and the CLI.

Callers pass plain values (codes, SKUs, Decimals, dates, the acting user); these functions check
the rules, call the ledger, flush and never commit.

Receiving is race-free: `receive` locks the purchase order row first (SELECT … FOR UPDATE on
PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers), then raises the line's received
quantity with one guarded UPDATE (``… WHERE qty_received + :accepted <= :allowed``) whose row count
is checked — so two workers receiving the same line at once can never together pass the tolerance.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ..auth.models import Role
from ..clock import today as clock_today
from ..clock import utcnow
from ..extensions import db
from ..inventory import ledger, queries
from ..inventory.errors import Duplicate, InvalidMove, NotFound, UnknownReference
from ..inventory.models import (
    Item,
    Location,
    LocationType,
    MoveType,
    StockBalance,
    StockMove,
    Warehouse,
)
from ..inventory.quantities import format_quantity, parse_quantity
from ..inventory.services import clean_text, virtual_location
from .errors import (
    Expired,
    FullyReceived,
    ImportFailed,
    LotRequired,
    NoQuarantine,
    NotOnOrder,
    OverReceipt,
    ReceiptNotAllowed,
    UndoNotAllowed,
    WrongStatus,
)
from .models import RECEIVABLE, POStatus, PurchaseOrder, PurchaseOrderLine, Receipt, Supplier, WarehouseSettings

DOCUMENT_TYPE = "purchase_order"
UNDO_MINUTES = 5
DEFAULT_SETTINGS = {"over_receipt_pct": Decimal(0), "allow_without_po": False, "without_po_role": "supervisor"}


def _q(value: Decimal) -> str:
    return format_quantity(value)


# --- suppliers --------------------------------------------------------------------------------


def create_supplier(code: str, name: str) -> Supplier:
    """Create a supplier; 409 Duplicate when the code exists."""
    code = clean_text(code, "code", 40)
    supplier = Supplier(code=code, name=clean_text(name, "name", 200))
    db.session.add(supplier)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise Duplicate(_l("Supplier %(code)s already exists.", code=code)) from None
    return supplier


def supplier_by_code(code: str) -> Supplier | None:
    return db.session.execute(
        select(Supplier).where(func.upper(Supplier.code) == code.strip().upper())
    ).scalar_one_or_none()


def _supplier(code) -> Supplier:
    supplier = supplier_by_code(clean_text(code, "supplier", 40))
    if supplier is None:
        raise UnknownReference(_l("No supplier %(code)s.", code=str(code)[:40]))
    return supplier


def suppliers() -> list[Supplier]:
    return list(db.session.execute(select(Supplier).order_by(Supplier.code)).scalars())


# --- warehouse settings -----------------------------------------------------------------------


def settings_for(warehouse_id: int) -> WarehouseSettings:
    """The warehouse's receiving settings; an unsaved row with the defaults when it has none."""
    row = db.session.get(WarehouseSettings, warehouse_id)
    if row is None:
        row = WarehouseSettings(warehouse_id=warehouse_id, **DEFAULT_SETTINGS)
    return row


def save_settings(warehouse_code: str, *, over_receipt_pct, allow_without_po: bool, without_po_role: str,
                  quarantine_location: str | None) -> WarehouseSettings:
    wh = _warehouse(warehouse_code)
    pct = parse_quantity(over_receipt_pct if over_receipt_pct not in (None, "") else "0", allow_zero=True)
    if pct > 1000:
        raise InvalidMove(_l("The over-receipt tolerance must be between 0 and 1000 percent."))
    try:
        role = Role(without_po_role or "supervisor")
    except ValueError:
        raise InvalidMove(_l("Unknown role %(role)s.", role=str(without_po_role)[:20])) from None
    quarantine = None
    if quarantine_location:
        quarantine = queries.location_by_code_ci(clean_text(quarantine_location, "quarantine_location", 60))
        if quarantine is None or quarantine.warehouse_id != wh.id or quarantine.is_virtual:
            raise UnknownReference(_l("No location %(code)s in warehouse %(warehouse)s.",
                                      code=quarantine_location[:60], warehouse=wh.code))
    row = db.session.get(WarehouseSettings, wh.id)
    if row is None:
        row = WarehouseSettings(warehouse_id=wh.id)
        db.session.add(row)
    row.over_receipt_pct = pct.quantize(Decimal("0.01"))
    row.allow_without_po = bool(allow_without_po)
    row.without_po_role = role.value
    row.quarantine_location_id = quarantine.id if quarantine else None
    row.updated_at = utcnow()
    db.session.flush()
    return row


def quarantine_location(warehouse_id: int) -> Location | None:
    """The warehouse's quarantine: the configured one, else its first quarantine-type location."""
    settings = settings_for(warehouse_id)
    if settings.quarantine_location_id:
        return db.session.get(Location, settings.quarantine_location_id)
    return db.session.execute(
        select(Location).where(Location.warehouse_id == warehouse_id, Location.type == LocationType.QUARANTINE,
                               Location.active.is_(True)).order_by(Location.code).limit(1)
    ).scalar_one_or_none()


def may_receive_without_po(user, warehouse_id: int) -> bool:
    settings = settings_for(warehouse_id)
    return bool(settings.allow_without_po) and user is not None and user.has_role(settings.without_po_role)


def warehouses_without_po(user) -> list[Warehouse]:
    """The warehouses where ``user`` may receive without a purchase order."""
    all_wh = db.session.execute(select(Warehouse).order_by(Warehouse.code)).scalars()
    return [wh for wh in all_wh if may_receive_without_po(user, wh.id)]


# --- purchase orders --------------------------------------------------------------------------


def _warehouse(code) -> Warehouse:
    wh = queries.warehouse_by_code(clean_text(code, "warehouse", 40))
    if wh is None:
        raise UnknownReference(_l("No warehouse %(code)s.", code=str(code)[:40]))
    return wh


def _default_warehouse() -> Warehouse:
    rows = db.session.execute(select(Warehouse).order_by(Warehouse.id).limit(2)).scalars().all()
    if len(rows) != 1:
        raise InvalidMove(_l("warehouse is required when there is more than one warehouse."))
    return rows[0]


def _item(sku) -> Item:
    item = queries.item_by_sku(clean_text(sku, "sku", 60))
    if item is None:
        raise UnknownReference(_l("No item with SKU %(sku)s.", sku=str(sku)[:60]))
    return item


@dataclass(frozen=True)
class LineSpec:
    sku: str
    qty: object
    unit_cost: object = None


def _line(spec: LineSpec) -> PurchaseOrderLine:
    item = _item(spec.sku)
    qty = parse_quantity(spec.qty, whole_units=item.whole_units)
    if spec.unit_cost in (None, ""):
        cost = item.unit_cost
    else:
        cost = parse_quantity(spec.unit_cost, allow_zero=True)
    return PurchaseOrderLine(item_id=item.id, item=item, qty_ordered=qty, unit_cost=cost,
                             qty_received=Decimal(0), qty_rejected=Decimal(0))


def create_purchase_order(*, supplier: str, lines, number: str | None = None, warehouse: str | None = None,
                          expected_date: date | None = None, note: str = "", user_id: int | None = None,
                          open_now: bool = False) -> PurchaseOrder:
    """Create a PO (draft, or open with ``open_now``) numbered PO-00001… unless ``number`` is given.

    Raises UnknownReference (supplier, warehouse, SKU), InvalidQuantity, InvalidMove (no lines, an
    item twice) or Duplicate (the number exists)."""
    sup = _supplier(supplier)
    wh = _warehouse(warehouse) if warehouse else _default_warehouse()
    given = clean_text(number, "number", 40) if number not in (None, "") else None
    built = [_line(spec if isinstance(spec, LineSpec) else LineSpec(*spec)) for spec in lines]
    if open_now and not built:
        raise InvalidMove(_l("A purchase order needs at least one line."))
    _check_unique_items(built)
    if given and po_by_number_or_none(given) is not None:
        raise Duplicate(_l("Purchase order %(number)s already exists.", number=given))
    po = PurchaseOrder(number=given or "new-" + uuid.uuid4().hex, supplier=sup, warehouse_id=wh.id,
                       status=POStatus.OPEN if open_now else POStatus.DRAFT, expected_date=expected_date,
                       note=clean_text(note, "note", 2000, required=False), created_by_id=user_id)
    po.lines = built
    db.session.add(po)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise Duplicate(_l("Purchase order %(number)s already exists.", number=given or "")) from None
    if not given:
        candidate = f"PO-{po.id:05d}"
        while po_by_number_or_none(candidate) is not None:  # a number given by hand took it
            candidate += "A"
        po.number = candidate
        db.session.flush()
    return po


def _check_unique_items(lines: list[PurchaseOrderLine]) -> None:
    seen = set()
    for line in lines:
        if line.item_id in seen:
            raise InvalidMove(_l("%(sku)s is on the order twice: give one line per item.", sku=line.item.sku))
        seen.add(line.item_id)


def po_by_number_or_none(number: str) -> PurchaseOrder | None:
    return db.session.execute(
        select(PurchaseOrder).where(func.upper(PurchaseOrder.number) == number.strip().upper())
    ).scalar_one_or_none()


def po_by_number(number) -> PurchaseOrder:
    """The PO with ``number`` (any case); NotFound otherwise."""
    text = str(number or "").strip()[:40]
    # Text with control characters names no PO (and PostgreSQL cannot even compare a NUL).
    po = po_by_number_or_none(text) if text and text.isprintable() else None
    if po is None:
        raise NotFound(_l("No purchase order %(number)s.", number=text))
    return po


def _lock(po: PurchaseOrder) -> PurchaseOrder:
    """Lock the PO row for the rest of the transaction and reload it (and its lines)."""
    locked = db.session.execute(
        select(PurchaseOrder).where(PurchaseOrder.id == po.id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    db.session.execute(select(PurchaseOrderLine).where(PurchaseOrderLine.order_id == po.id)
                       .execution_options(populate_existing=True)).scalars().all()
    return locked


def add_line(po: PurchaseOrder, spec: LineSpec) -> PurchaseOrderLine:
    """Add a line to a draft PO (the same item again adds to its quantity)."""
    if po.status is not POStatus.DRAFT:
        raise WrongStatus(_l("Only a draft purchase order can be edited."))
    new = _line(spec)
    for line in po.lines:
        if line.item_id == new.item_id:
            line.qty_ordered += new.qty_ordered
            if spec.unit_cost not in (None, ""):
                line.unit_cost = new.unit_cost
            db.session.flush()
            return line
    po.lines.append(new)
    db.session.flush()
    return new


def remove_line(po: PurchaseOrder, line_id: int) -> None:
    if po.status is not POStatus.DRAFT:
        raise WrongStatus(_l("Only a draft purchase order can be edited."))
    for line in po.lines:
        if line.id == line_id:
            po.lines.remove(line)
            db.session.flush()
            return
    raise NotFound(_l("No such line."))


def open_order(po: PurchaseOrder) -> PurchaseOrder:
    """Draft → open: the PO can now be received."""
    po = _lock(po)
    if po.status is not POStatus.DRAFT:
        raise WrongStatus(_l("Purchase order %(number)s is not a draft.", number=po.number))
    if not po.lines:
        raise InvalidMove(_l("A purchase order needs at least one line."))
    po.status = POStatus.OPEN
    db.session.flush()
    return po


def close_order(po: PurchaseOrder) -> PurchaseOrder:
    """Close the PO; closing before every line is received in full closes it short."""
    po = _lock(po)
    if po.status is POStatus.CLOSED:
        raise WrongStatus(_l("Purchase order %(number)s is already closed.", number=po.number))
    po.closed_short = any(line.qty_received < line.qty_ordered for line in po.lines)
    po.status = POStatus.CLOSED
    po.closed_at = utcnow()
    db.session.flush()
    return po


def purchase_orders(status: str | None = None, limit: int = 200) -> list[PurchaseOrder]:
    stmt = select(PurchaseOrder).order_by(PurchaseOrder.id.desc()).limit(limit)
    if status:
        try:
            stmt = stmt.where(PurchaseOrder.status == POStatus(status))
        except ValueError:
            return []
    return list(db.session.execute(stmt).scalars())


def todays_open_orders(on: date | None = None, limit: int = 30) -> list[PurchaseOrder]:
    """Receivable POs expected today or earlier (or without a date), the earliest first."""
    on = on or clock_today()
    stmt = (select(PurchaseOrder).where(PurchaseOrder.status.in_(RECEIVABLE))
            .where((PurchaseOrder.expected_date.is_(None)) | (PurchaseOrder.expected_date <= on))
            .order_by(PurchaseOrder.expected_date.is_(None), PurchaseOrder.expected_date, PurchaseOrder.id)
            .limit(limit))
    return list(db.session.execute(stmt).scalars())


def order_moves(po: PurchaseOrder) -> list[StockMove]:
    """Every ledger move posted against the PO (receipts, rejects, reversals, returns), oldest first."""
    return list(db.session.execute(
        select(StockMove).where(StockMove.document_type == DOCUMENT_TYPE, StockMove.document_id == po.number)
        .order_by(StockMove.id)
    ).scalars())


def totals(po: PurchaseOrder) -> dict:
    ordered = sum((line.qty_ordered for line in po.lines), Decimal(0))
    received = sum((min(line.qty_received, line.qty_ordered) for line in po.lines), Decimal(0))
    return {"ordered": ordered, "received": sum((x.qty_received for x in po.lines), Decimal(0)),
            "rejected": sum((x.qty_rejected for x in po.lines), Decimal(0)),
            "percent": int(received * 100 / ordered) if ordered else 0}


def _refresh_status(po: PurchaseOrder) -> None:
    if po.status not in (*RECEIVABLE, POStatus.RECEIVED):
        return
    lines = db.session.execute(select(PurchaseOrderLine).where(PurchaseOrderLine.order_id == po.id)
                               .execution_options(populate_existing=True)).scalars().all()
    if lines and all(x.qty_received >= x.qty_ordered for x in lines):
        po.status = POStatus.RECEIVED
    elif any(x.qty_received > 0 or x.qty_rejected > 0 for x in lines):
        po.status = POStatus.PARTIALLY_RECEIVED
    else:
        po.status = POStatus.OPEN


# --- receiving --------------------------------------------------------------------------------


def allowed_qty(line: PurchaseOrderLine, pct: Decimal) -> Decimal:
    """The most that may be received on ``line``: ordered + tolerance, rounded down (whole units
    for whole-unit items)."""
    allowed = line.qty_ordered * (Decimal(100) + pct) / Decimal(100)
    step = Decimal(1) if line.item.whole_units else Decimal("0.001")
    return allowed.quantize(step, rounding=ROUND_DOWN)


def line_for(po: PurchaseOrder, item: Item) -> PurchaseOrderLine:
    """The PO's line of ``item``: NotOnOrder (422) naming both when there is none."""
    for line in po.lines:
        if line.item_id == item.id:
            return line
    raise NotOnOrder(_l("%(sku)s (%(name)s) is not on purchase order %(number)s.", sku=item.sku,
                        name=item.name, number=po.number))


def check_receivable(po: PurchaseOrder, item: Item, qty: Decimal | None = None) -> PurchaseOrderLine:
    """The rules a handheld checks as soon as an item is scanned (and again when it posts)."""
    if po.status not in RECEIVABLE:
        raise WrongStatus(_l("Purchase order %(number)s is %(status)s: nothing can be received on it.",
                             number=po.number, status=_status_name(po.status)))
    line = line_for(po, item)
    if line.qty_received >= line.qty_ordered:
        raise FullyReceived(_l("%(sku)s is already fully received on %(number)s (%(received)s of %(ordered)s).",
                               sku=item.sku, number=po.number, received=_q(line.qty_received),
                               ordered=_q(line.qty_ordered)))
    if qty is not None:
        _check_tolerance(po, line, qty)
    return line


def _check_tolerance(po: PurchaseOrder, line: PurchaseOrderLine, qty: Decimal) -> Decimal:
    pct = settings_for(po.warehouse_id).over_receipt_pct
    allowed = allowed_qty(line, pct)
    if line.qty_received + qty > allowed:
        raise OverReceipt(
            _l("Too many %(sku)s: ordered %(ordered)s, received %(received)s, this receipt %(qty)s — at most "
               "%(allowed)s may be received (tolerance %(pct)s %%).", sku=line.item.sku,
               ordered=_q(line.qty_ordered), received=_q(line.qty_received), qty=_q(qty), allowed=_q(allowed),
               pct=_q(pct)),
            ordered=line.qty_ordered, received=line.qty_received, this_receipt=qty, allowed=allowed,
            tolerance_pct=pct,
        )
    return allowed


def _status_name(status: POStatus) -> str:
    return str(STATUS_NAMES.get(status, status.value))


STATUS_NAMES = {
    POStatus.DRAFT: _l("draft"),
    POStatus.OPEN: _l("open"),
    POStatus.PARTIALLY_RECEIVED: _l("partially received"),
    POStatus.RECEIVED: _l("received"),
    POStatus.CLOSED: _l("closed"),
}


@dataclass
class LotCheck:
    lot_number: str | None
    expiry: date | None
    warning: str | None = None


def check_lot(item: Item, lot: str | None, expiry: date | None, *, on: date | None = None) -> LotCheck:
    """Lot and expiry rules of a receipt: required for lot/expiry-tracked items, a past expiry is
    refused (Expired), one inside the item's minimum remaining shelf life gives a warning."""
    on = on or clock_today()
    lot = (lot or "").strip() or None
    if not item.lot_tracked:
        return LotCheck(None, None)
    if lot is None:
        raise LotRequired(_l("%(sku)s is lot-tracked: scan or type the lot.", sku=item.sku))
    lot = clean_text(lot, "lot", 60)
    if expiry is None:
        known = queries.lot_by_number(item.id, lot)
        expiry = known.expiry if known else None
    if item.expiry_tracked and expiry is None:
        raise LotRequired(_l("%(sku)s is expiry-tracked: scan or type the expiry date.", sku=item.sku),
                          code="expiry_required")
    warning = None
    if expiry is not None:
        if expiry < on:
            raise Expired(_l("Lot %(lot)s of %(sku)s expired on %(expiry)s: it cannot be received.", lot=lot,
                             sku=item.sku, expiry=expiry.isoformat()))
        if item.min_shelf_life_days and expiry < on + timedelta(days=item.min_shelf_life_days):
            warning = str(_l("Short shelf life: lot %(lot)s expires on %(expiry)s, in %(days)s days; %(sku)s "
                             "should have at least %(min)s days left.", lot=lot, expiry=expiry.isoformat(),
                             days=(expiry - on).days, sku=item.sku, min=item.min_shelf_life_days))
    return LotCheck(lot, expiry, warning)


@dataclass
class ReceiptResult:
    receipt: Receipt
    moves: list[StockMove]
    line: PurchaseOrderLine | None
    order: PurchaseOrder | None
    warning: str | None = None
    allowed: Decimal | None = None
    extra: dict = field(default_factory=dict)


def inspection_split(item: Item, total: Decimal, rejected_qty, reject_reason) -> tuple[Decimal, str]:
    """The rejected part of ``total`` and its reason, as inspection gives them: never more than
    was received, and a reason whenever anything is rejected."""
    rejected = (parse_quantity(rejected_qty, whole_units=item.whole_units, allow_zero=True)
                if rejected_qty not in (None, "") else Decimal(0))
    if rejected > total:
        raise InvalidMove(_l("The rejected quantity (%(rejected)s) is more than the quantity received (%(qty)s).",
                             rejected=_q(rejected), qty=_q(total)))
    reason = clean_text(reject_reason, "reject_reason", 500, required=False)
    if rejected and not reason:
        raise InvalidMove(_l("Give a reason for the rejected quantity."), code="reason_required")
    return rejected, reason


def receive(*, user, qty, location: str | None, po_number: str | None = None, sku: str | None = None,
            item: Item | None = None, warehouse: str | None = None, lot: str | None = None,
            expiry: date | None = None, rejected_qty=None, reject_reason: str = "",
            idempotency_key: str | None = None, on: date | None = None) -> ReceiptResult:
    """Receive ``qty`` of an item (``rejected_qty`` of it rejected at inspection) against a PO, or
    without one where the warehouse allows it.

    Accepted = qty − rejected posts supplier → ``location`` (a physical location of the PO's
    warehouse), rejected posts supplier → the warehouse's quarantine, both at the PO line's unit
    cost with document ("purchase_order", number). Raises NotOnOrder, FullyReceived, OverReceipt,
    WrongStatus, LotRequired, Expired, NoQuarantine, ReceiptNotAllowed, InvalidQuantity,
    InvalidMove, UnknownReference; nothing is written when it raises.
    """
    if item is None:
        item = _item(sku)
    total = parse_quantity(qty, whole_units=item.whole_units)
    rejected, reason = inspection_split(item, total, rejected_qty, reject_reason)
    accepted = total - rejected

    po = line = None
    if po_number not in (None, ""):
        po = _lock(po_by_number(po_number))
        wh_id = po.warehouse_id
    elif warehouse not in (None, ""):
        wh_id = _warehouse(warehouse).id
    else:
        raise InvalidMove(_l("Give the purchase order, or the warehouse for a receipt without one."))
    if po is None and not may_receive_without_po(user, wh_id):
        raise ReceiptNotAllowed(_l("Receipts without a purchase order are not allowed here for your role."))

    target = None
    if accepted:
        if location in (None, ""):
            raise InvalidMove(_l("Scan the put-away location."), code="location_required")
        target = queries.location_by_code_ci(clean_text(location, "location", 60))
        if target is None:
            raise UnknownReference(_l("No location %(code)s.", code=str(location)[:60]))
        if target.is_virtual or target.warehouse_id != wh_id:
            raise InvalidMove(_l("Location %(code)s is not a location of this warehouse.", code=target.code),
                              code="wrong_warehouse")
    quarantine = None
    if rejected:
        quarantine = quarantine_location(wh_id)
        if quarantine is None:
            raise NoQuarantine(_l("This warehouse has no quarantine location: ask a supervisor to set one."))

    checked = check_lot(item, lot, expiry, on=on)
    allowed = None
    unit_cost = item.unit_cost
    if po is not None:
        line = check_receivable(po, item)
        allowed = _check_tolerance(po, line, accepted)
        unit_cost = line.unit_cost
        # The guarded UPDATE is the real check: under the PO lock it cannot fail, but a code path
        # that skipped the lock still could not pass the tolerance.
        result = db.session.execute(
            update(PurchaseOrderLine)
            .where(PurchaseOrderLine.id == line.id, PurchaseOrderLine.qty_received < PurchaseOrderLine.qty_ordered,
                   PurchaseOrderLine.qty_received + accepted <= allowed)
            .values(qty_received=PurchaseOrderLine.qty_received + accepted,
                    qty_rejected=PurchaseOrderLine.qty_rejected + rejected)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            db.session.refresh(line)
            check_receivable(po, item, accepted)
            raise OverReceipt(_l("Too many %(sku)s for this order.", sku=item.sku))
        db.session.refresh(line)

    lot_row = ledger.get_or_create_lot(item, checked.lot_number, checked.expiry) if checked.lot_number else None
    supplier_loc = virtual_location(LocationType.SUPPLIER)
    receipt = Receipt(order_id=po.id if po else None, line_id=line.id if line else None, warehouse_id=wh_id,
                      item_id=item.id, lot_id=lot_row.id if lot_row else None, qty_accepted=accepted,
                      qty_rejected=rejected, reject_reason=reason, location_id=target.id if target else None,
                      user_id=user.id if user else None, created_at=utcnow())
    db.session.add(receipt)
    db.session.flush()
    document = (DOCUMENT_TYPE, po.number) if po else ("receipt", f"RCV-{receipt.id:05d}")
    moves = []
    if accepted:
        move = ledger.post_move(type=MoveType.RECEIPT, item=item, qty=accepted, from_location=supplier_loc,
                                to_location=target, lot=lot_row, unit_cost=unit_cost,
                                user_id=receipt.user_id, document=document, idempotency_key=idempotency_key)
        receipt.accept_move_id = move.id
        moves.append(move)
    if rejected:
        move = ledger.post_move(type=MoveType.RECEIPT, item=item, qty=rejected, from_location=supplier_loc,
                                to_location=quarantine, lot=lot_row, unit_cost=unit_cost,
                                user_id=receipt.user_id, document=document, reason=f"rejected: {reason}")
        receipt.reject_move_id = move.id
        moves.append(move)
    if po is not None:
        _refresh_status(po)
    db.session.flush()
    return ReceiptResult(receipt=receipt, moves=moves, line=line, order=po, warning=checked.warning,
                         allowed=allowed)


def last_receipt(user_id: int) -> Receipt | None:
    return db.session.execute(
        select(Receipt).where(Receipt.user_id == user_id).order_by(Receipt.id.desc()).limit(1)
    ).scalar_one_or_none()


def can_undo(receipt: Receipt | None, user_id: int, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return (receipt is not None and receipt.user_id == user_id and receipt.undone_at is None
            and now - receipt.created_at <= timedelta(minutes=UNDO_MINUTES))


def undo_receipt(receipt_id: int, *, user, now: datetime | None = None) -> Receipt:
    """Undo the worker's own last receipt line within 5 minutes: reversing moves, and the PO line
    goes back down. Raises UndoNotAllowed (not yours, not your last, too late, already undone,
    PO closed) or InsufficientStock (the stock has moved on since)."""
    now = now or utcnow()
    receipt = db.session.get(Receipt, receipt_id)
    if receipt is None or receipt.user_id != user.id:
        raise UndoNotAllowed(_l("Only your own receipt can be undone."))
    latest = last_receipt(user.id)
    if latest is None or latest.id != receipt.id:
        raise UndoNotAllowed(_l("Only your last receipt line can be undone."))
    if receipt.undone_at is not None:
        raise UndoNotAllowed(_l("This receipt has already been undone."))
    if now - receipt.created_at > timedelta(minutes=UNDO_MINUTES):
        raise UndoNotAllowed(_l("Too late to undo: a receipt can be undone for %(minutes)s minutes.",
                                minutes=UNDO_MINUTES))
    po = None
    if receipt.order_id is not None:
        po = _lock(db.session.get(PurchaseOrder, receipt.order_id))
        if po.status is POStatus.CLOSED:
            raise UndoNotAllowed(_l("Purchase order %(number)s is closed.", number=po.number))
    marked = db.session.execute(
        update(Receipt).where(Receipt.id == receipt.id, Receipt.undone_at.is_(None)).values(undone_at=now)
        .execution_options(synchronize_session=False)
    )
    if marked.rowcount != 1:
        raise UndoNotAllowed(_l("This receipt has already been undone."))
    for move_id in (receipt.accept_move_id, receipt.reject_move_id):
        if move_id is not None:
            ledger.reverse_move(move_id, user_id=user.id, reason=f"undo receipt {receipt.id}")
    if receipt.line_id is not None:
        db.session.execute(
            update(PurchaseOrderLine)
            .where(PurchaseOrderLine.id == receipt.line_id,
                   PurchaseOrderLine.qty_received >= receipt.qty_accepted,
                   PurchaseOrderLine.qty_rejected >= receipt.qty_rejected)
            .values(qty_received=PurchaseOrderLine.qty_received - receipt.qty_accepted,
                    qty_rejected=PurchaseOrderLine.qty_rejected - receipt.qty_rejected)
            .execution_options(synchronize_session=False)
        )
    if po is not None:
        _refresh_status(po)
    db.session.flush()
    db.session.refresh(receipt)
    return receipt


def usual_location(item: Item, warehouse_id: int) -> Location | None:
    """Where ``item`` is mostly stored in the warehouse (most on hand); else where it was last received."""
    row = db.session.execute(
        select(StockBalance.location_id, func.sum(StockBalance.qty).label("total"))
        .join(Location, Location.id == StockBalance.location_id)
        .where(StockBalance.item_id == item.id, StockBalance.qty > 0, Location.warehouse_id == warehouse_id,
               Location.type == LocationType.STORAGE, Location.active.is_(True))
        .group_by(StockBalance.location_id).order_by(func.sum(StockBalance.qty).desc(), StockBalance.location_id)
        .limit(1)
    ).first()
    if row is not None:
        return db.session.get(Location, row[0])
    last = db.session.execute(
        select(Receipt.location_id).where(Receipt.item_id == item.id, Receipt.warehouse_id == warehouse_id,
                                          Receipt.location_id.is_not(None)).order_by(Receipt.id.desc()).limit(1)
    ).scalar_one_or_none()
    return db.session.get(Location, last) if last else None


# --- returns to supplier ----------------------------------------------------------------------


def return_to_supplier(*, sku: str, qty, from_location: str, user_id: int | None, po_number: str | None = None,
                       supplier: str | None = None, lot: str | None = None, reason: str = "",
                       idempotency_key: str | None = None) -> StockMove:
    """Send stock (from quarantine or any location) back to the supplier: a RETURN move to the
    supplier's virtual location, against a PO (its document, its line's cost) or just a supplier."""
    item = _item(sku)
    source = queries.location_by_code_ci(clean_text(from_location, "from_location", 60))
    if source is None:
        raise UnknownReference(_l("No location %(code)s.", code=str(from_location)[:60]))
    reason = clean_text(reason, "reason", 500, required=False)
    unit_cost = None
    if po_number not in (None, ""):
        po = po_by_number(po_number)
        if po.status is POStatus.DRAFT:
            raise WrongStatus(_l("Purchase order %(number)s is a draft.", number=po.number))
        line = line_for(po, item)
        unit_cost = line.unit_cost
        document = (DOCUMENT_TYPE, po.number)
        who = po.supplier.code
    elif supplier not in (None, ""):
        sup = _supplier(supplier)
        document = ("supplier", sup.code)
        who = sup.code
    else:
        raise InvalidMove(_l("Give the purchase order or the supplier the goods go back to."))
    lot_row = None
    if item.lot_tracked:
        if not lot:
            raise LotRequired(_l("%(sku)s is lot-tracked: scan or type the lot.", sku=item.sku))
        lot_row = queries.lot_by_number(item.id, clean_text(lot, "lot", 60))
        if lot_row is None:
            raise UnknownReference(_l("No lot %(lot)s of %(sku)s.", lot=lot, sku=item.sku))
    return ledger.post_move(type=MoveType.RETURN, item=item, qty=qty, from_location=source,
                            to_location=virtual_location(LocationType.SUPPLIER), lot=lot_row, unit_cost=unit_cost,
                            user_id=user_id, document=document, reason=reason or f"return to {who}",
                            idempotency_key=idempotency_key)


# --- import -----------------------------------------------------------------------------------

IMPORT_COLUMNS = ("number", "supplier", "warehouse", "sku", "qty", "unit_cost")


def read_rows(filename: str, data: bytes) -> list[dict]:
    """The rows of a CSV (UTF-8) or XLSX file as dicts by lower-case header."""
    name = (filename or "").lower()
    if name.endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
        except Exception:  # noqa: BLE001 - any broken workbook is the user's file, not our bug
            raise ImportFailed(_l("This is not an Excel (.xlsx) file ScanApp can read."), []) from None
        values = [["" if v is None else str(v).strip() for v in row] for row in sheet.iter_rows(values_only=True)]
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ImportFailed(_l("The CSV file must be UTF-8 text."), []) from None
        values = [[v.strip() for v in row] for row in csv.reader(io.StringIO(text))]
    values = [row for row in values if any(row)]
    if not values:
        raise ImportFailed(_l("The file is empty."), [])
    header = [h.lower() for h in values[0]]
    missing = [c for c in ("supplier", "sku", "qty") if c not in header]
    if missing:
        raise ImportFailed(_l("Missing columns: %(columns)s (expected %(expected)s).", columns=", ".join(missing),
                              expected=", ".join(IMPORT_COLUMNS)), [])
    return [dict(zip(header, row + [""] * (len(header) - len(row)), strict=False)) for row in values[1:]]


def import_purchase_orders(rows: list[dict], *, user_id: int | None = None) -> list[PurchaseOrder]:
    """Create open POs from rows (number, supplier, warehouse, sku, qty, unit_cost): rows with the
    same number are one PO; rows without a number and the same supplier and warehouse are one new
    PO. All or nothing: any bad row raises ImportFailed listing every problem (row 2 = first data row)."""
    errors: list[tuple[int, str]] = []
    groups: dict[str, dict] = {}
    for n, row in enumerate(rows, start=2):
        try:
            number = (row.get("number") or "").strip()
            sup = _supplier(row.get("supplier"))
            wh = _warehouse(row.get("warehouse")) if row.get("warehouse") else _default_warehouse()
            line = _line(LineSpec(row.get("sku"), row.get("qty"), row.get("unit_cost") or None))
            if number and po_by_number_or_none(number) is not None:
                raise Duplicate(_l("Purchase order %(number)s already exists.", number=number))
        except Exception as exc:  # noqa: BLE001 - only ScanApp errors carry messages; others re-raised
            if not hasattr(exc, "message"):
                raise
            errors.append((n, str(exc.message)))
            continue
        key = number.upper() if number else f"\x00{sup.code}\x00{wh.code}"
        group = groups.setdefault(key, {"number": number or None, "supplier": sup.code, "warehouse": wh.code,
                                        "lines": [], "skus": set()})
        if (group["supplier"], group["warehouse"]) != (sup.code, wh.code):
            errors.append((n, str(_l("Purchase order %(number)s has another supplier or warehouse on an earlier "
                                     "row.", number=number))))
            continue
        if line.item.sku in group["skus"]:
            errors.append((n, str(_l("%(sku)s is on the order twice: give one line per item.", sku=line.item.sku))))
            continue
        group["skus"].add(line.item.sku)
        group["lines"].append(LineSpec(line.item.sku, line.qty_ordered, line.unit_cost))
    if not rows:
        errors.append((1, str(_l("The file has no rows."))))
    if errors:
        raise ImportFailed(_l("Nothing was imported: %(count)s rows have problems.", count=len(errors)), errors)
    created = []
    for group in groups.values():
        created.append(create_purchase_order(supplier=group["supplier"], warehouse=group["warehouse"],
                                             number=group["number"], lines=group["lines"], user_id=user_id,
                                             open_now=True))
    return created
