"""Put-away, transfer, move-all and scrap on the handheld; inter-warehouse transfer documents.

Every function takes plain values (codes, SKUs, Decimals, user ids) and calls `inventory.ledger`,
the only writer of stock. They flush, never commit. The handheld screens are stateless: each request
carries the whole state of the step (from-location, SKU, lot, quantity …) and `Flow.load` rebuilds
and re-validates it, so a stock-posting request can be stored offline and replayed later.

Quantities shown against "what is there" are a courtesy for the worker; the real check is the
ledger's guarded UPDATE, so two workers moving the last units at once cannot both succeed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from ..clock import utcnow
from ..errors import ScanAppError
from ..extensions import db
from ..inventory import ledger, queries, services
from ..inventory.errors import InvalidMove, InvalidQuantity, NotFound, UnknownReference
from ..inventory.models import (
    Item,
    Location,
    LocationType,
    Lot,
    MoveType,
    StockBalance,
    StockMove,
    Warehouse,
)
from ..inventory.quantities import format_quantity, parse_quantity
from ..inventory.services import clean_text, virtual_location
from ..scanning.resolve import Resolution, resolve
from .models import Transfer, TransferLine, TransferStatus

DOCUMENT_TYPE = "transfer"
KINDS = ("putaway", "scrap", "receive", "ship")
# Reasons a worker picks from when scrapping; the note adds the detail. Stored in English in the
# ledger's reason (the ledger is an audit trail, read by accountants in any language).
SCRAP_REASONS = {
    "damaged": _l("Damaged"),
    "expired": _l("Expired"),
    "defective": _l("Defective"),
    "contaminated": _l("Contaminated"),
    "other": _l("Other"),
}
SCRAP_REASONS_EN = {"damaged": "Damaged", "expired": "Expired", "defective": "Defective",
                    "contaminated": "Contaminated", "other": "Other"}


class MoveFlowError(ScanAppError):
    code = "move_refused"
    status = 422


class OverReceipt(ScanAppError):
    code = "over_receipt"
    status = 409


class WrongState(ScanAppError):
    code = "wrong_state"
    status = 409


def _q(value: Decimal) -> str:
    return format_quantity(value)


# --- lookups -------------------------------------------------------------------------------------


def location(code: str | None, field_name: str = "location") -> Location:
    """A physical, active location by code (any case); UnknownReference / InvalidMove otherwise."""
    code = clean_text(code, field_name, 60)
    loc = queries.location_by_code_ci(code)
    if loc is None:
        raise UnknownReference(_l("No location %(code)s.", code=code))
    if loc.is_virtual:
        raise InvalidMove(_l("%(code)s is not a warehouse location.", code=loc.code))
    if not loc.active:
        raise InvalidMove(_l("Location %(code)s is not in use.", code=loc.code))
    return loc


def source(code: str | None) -> Location:
    """A location stock may be taken from by hand: not a transit location, whose stock belongs to a
    transfer and leaves it only by being received (so the transfer's lines stay exact)."""
    loc = location(code, "from_location")
    if loc.type is LocationType.TRANSIT:
        raise MoveFlowError(_l("%(location)s holds stock in transit: receive its transfer instead.",
                               location=loc.code))
    return loc


def item(sku: str | None) -> Item:
    sku = clean_text(sku, "sku", 60)
    found = queries.item_by_sku(sku)
    if found is None:
        raise UnknownReference(_l("No item with SKU %(sku)s.", sku=sku))
    return found


def lot_of(item_: Item, number: str | None) -> Lot | None:
    """The item's existing lot ``number``; None for items without lots. Lot-tracked items need one."""
    if number in (None, ""):
        return None
    if not item_.lot_tracked:
        raise InvalidMove(_l("%(sku)s is not lot-tracked.", sku=item_.sku))
    number = clean_text(number, "lot", 60)
    found = queries.lot_by_number(item_.id, number)
    if found is None:
        raise UnknownReference(_l("No lot %(lot)s of %(sku)s.", lot=number, sku=item_.sku))
    return found


def on_hand(item_id: int, location_id: int, lot_id: int | None) -> Decimal:
    """What the books say is at one (item, location, lot) right now (0 when nothing)."""
    stmt = select(StockBalance.qty).where(StockBalance.item_id == item_id, StockBalance.location_id == location_id)
    stmt = stmt.where(StockBalance.lot_id.is_(None) if lot_id is None else StockBalance.lot_id == lot_id)
    value = db.session.execute(stmt).scalar_one_or_none()
    return Decimal(value) if value is not None else Decimal(0)


def contents(loc: Location) -> list[StockBalance]:
    """Everything at a location, in walking order."""
    return queries.stock(queries.StockFilter(location_id=loc.id), limit=500)


def suggest_putaway(item_: Item, from_loc: Location) -> Location | None:
    """The item's usual storage location, for stock leaving a receiving or staging location: the
    storage location of the same warehouse holding most of it, else where it was last put away."""
    if from_loc.type not in (LocationType.RECEIVING, LocationType.QUARANTINE, LocationType.TRANSIT):
        return None
    held = db.session.execute(
        select(Location)
        .join(StockBalance, StockBalance.location_id == Location.id)
        .where(StockBalance.item_id == item_.id, StockBalance.qty > 0, Location.type == LocationType.STORAGE,
               Location.warehouse_id == from_loc.warehouse_id, Location.active.is_(True))
        .group_by(Location.id)
        .order_by(func.sum(StockBalance.qty).desc(), Location.code)
        .limit(1)
    ).scalar_one_or_none()
    if held is not None:
        return held
    return db.session.execute(
        select(Location)
        .join(StockMove, StockMove.to_location_id == Location.id)
        .where(StockMove.item_id == item_.id, Location.type == LocationType.STORAGE,
               Location.warehouse_id == from_loc.warehouse_id, Location.active.is_(True))
        .order_by(StockMove.id.desc())
        .limit(1)
    ).scalar_one_or_none()


# --- the handheld flow ---------------------------------------------------------------------------


@dataclass
class Flow:
    """The state of one handheld move screen, rebuilt from the request on every step.

    ``step`` is what the screen asks for next: "document" (receive: which transfer), "from", "item",
    "lot", "qty" and, for scrap, "reason". ``available`` is what the books show at the from-location
    for the item and lot (for a transfer receipt: what is still to receive on its line).
    """

    kind: str
    step: str = "from"
    from_location: Location | None = None
    item: Item | None = None
    lot: Lot | None = None
    qty: Decimal | None = None
    transfer: Transfer | None = None
    line: TransferLine | None = None
    available: Decimal | None = None
    suggestion: Location | None = None
    lots: list[StockBalance] = field(default_factory=list)
    rows: list[StockBalance] = field(default_factory=list)
    posted: list[StockMove] = field(default_factory=list)
    notice: str = ""

    @classmethod
    def load(cls, kind: str, *, from_code=None, sku=None, lot=None, qty=None, transfer=None) -> Flow:
        """Rebuild and re-validate a step from the request's fields."""
        if kind not in KINDS:
            raise NotFound(_l("Not found."))
        flow = cls(kind=kind)
        if kind in ("receive", "ship"):
            if not transfer:
                flow.step = "document"
                return flow
            flow.transfer = get_transfer(transfer)
        if kind == "receive":
            _check_receivable(flow.transfer)
            flow.from_location = transit_location(flow.transfer.to_warehouse)
        elif kind == "ship":
            _check_draft(flow.transfer)
        if kind != "receive" and from_code:
            flow.from_location = source(from_code)
            if kind == "ship":
                _check_in_warehouse(flow.from_location, flow.transfer.from_warehouse)
        if flow.from_location is None:
            flow.step = "from"
            return flow
        if sku:
            flow.item = item(sku)
            flow.lot = lot_of(flow.item, lot)
            if flow.receiving:
                flow.line = _transfer_line(flow.transfer, flow.item, flow.lot)
        if qty not in (None, ""):
            flow.qty = parse_quantity(qty, whole_units=flow.item.whole_units if flow.item else False)
        flow._settle()
        return flow

    @property
    def receiving(self) -> bool:
        return self.kind == "receive"

    def _settle(self) -> None:
        """Work out the step and what the screen shows for it."""
        if self.item is None:
            self.step = "item"
            if not self.receiving:
                self.rows = contents(self.from_location)
            return
        if self.item.lot_tracked and self.lot is None:
            self.step = "lot"
            self.lots = [b for b in contents(self.from_location) if b.item_id == self.item.id and b.lot is not None]
            if self.receiving:
                wanted = {ln.lot_id for ln in self.transfer.lines if ln.item_id == self.item.id and ln.remaining > 0}
                self.lots = [b for b in self.lots if b.lot_id in wanted]
            if len(self.lots) == 1:  # one lot there: no question to ask
                self.lot = self.lots[0].lot
                if self.receiving:
                    self.line = _transfer_line(self.transfer, self.item, self.lot)
            else:
                return
        self.step = "qty"
        here = on_hand(self.item.id, self.from_location.id, self.lot.id if self.lot else None)
        self.available = min(here, self.line.remaining) if self.line is not None else here
        if self.available <= 0:
            where = self.from_location.code
            self.item, self.lot, self.qty, self.step = None, None, None, "item"
            if not self.receiving:
                self.rows = contents(self.from_location)
            raise MoveFlowError(_l("There is nothing of this item at %(location)s.", location=where))
        if self.qty is None:
            self.qty = Decimal(1)
        self._check_qty(self.qty)
        if self.kind == "putaway":
            self.suggestion = suggest_putaway(self.item, self.from_location)

    def _check_qty(self, qty: Decimal) -> None:
        if qty > self.available:
            label = self.item.sku + (f" ({self.lot.number})" if self.lot else "")
            if self.line is not None:
                raise OverReceipt(_l("Only %(left)s %(uom)s of %(sku)s are left to receive on %(number)s; "
                                     "%(qty)s is too many.", left=_q(self.available), uom=self.item.uom,
                                     sku=label, number=self.transfer.number, qty=_q(qty)))
            raise MoveFlowError(_l("Only %(available)s %(uom)s of %(sku)s are at %(location)s; %(qty)s is too many.",
                                   available=_q(self.available), uom=self.item.uom, sku=label,
                                   location=self.from_location.code, qty=_q(qty)))

    def fields(self) -> dict:
        """The hidden fields that carry this state to the next request."""
        data = {"kind": self.kind}
        if self.transfer is not None:
            data["transfer"] = self.transfer.number
        if self.from_location is not None and not self.receiving:
            data["from"] = self.from_location.code
        if self.item is not None:
            data["sku"] = self.item.sku
        if self.lot is not None:
            data["lot"] = self.lot.number
        if self.qty is not None and self.step in ("qty", "reason"):
            data["qty"] = _q(self.qty)
        return data

    def screen_args(self) -> dict:
        """The query string of this screen's first step at the same transfer and from-location."""
        args = {"transfer": self.transfer.number} if self.transfer is not None else {}
        if self.from_location is not None and not self.receiving:
            args["from"] = self.from_location.code
        return args

    def restart(self) -> Flow:
        """The screen after a posting: scan the next item at the same from-location."""
        again = Flow(kind=self.kind, from_location=self.from_location, transfer=self.transfer, posted=self.posted,
                     notice=self.notice)
        if self.receiving and self.transfer.status is TransferStatus.RECEIVED:
            again.step = "document"
            again.transfer = None
            return again
        again._settle()
        return again


def scan(flow: Flow, code: str, *, user_id: int | None, idempotency_key: str | None = None) -> Flow:
    """Apply one scan to the screen's state and return the next state; a to-location scanned at the
    quantity step posts the move (the caller's transaction must be idempotent)."""
    if flow.step == "document":
        if flow.kind != "receive":
            raise MoveFlowError(_l("Start the transfer first."))
        flow.transfer = transfer_from_scan(code, user_id=user_id)
        _check_receivable(flow.transfer)
        flow.from_location = transit_location(flow.transfer.to_warehouse)
        flow._settle()
        return flow
    if flow.step == "from":
        result = resolve(code, screen=f"moves.{flow.kind}", user_id=user_id, expected=("location",))
        _ok(result)
        flow.from_location = source(result.location)
        if flow.kind == "ship":
            _check_in_warehouse(flow.from_location, flow.transfer.from_warehouse)
        flow._settle()
        return flow
    if flow.step == "lot":
        number = (code or "").strip()
        found = queries.lot_by_number(flow.item.id, number) if number else None
        if found is not None:
            flow.lot = found
            if flow.receiving:
                flow.line = _transfer_line(flow.transfer, flow.item, flow.lot)
            flow._settle()
            return flow
    posts = flow.step == "qty" and flow.kind in ("putaway", "receive")
    expected = ("item", "lot", "location") if posts else ("item", "lot")
    result = resolve(code, screen=f"moves.{flow.kind}", user_id=user_id, expected=expected)
    _ok(result)
    if result.kind == "location":
        return _post_to(flow, result.location, user_id=user_id, idempotency_key=idempotency_key)
    scanned = item(result.sku)
    scanned_lot = None
    if result.kind == "lot":
        scanned_lot = queries.lot_by_number(scanned.id, result.lot)
        if scanned_lot is None:
            raise UnknownReference(_l("No lot %(lot)s of %(sku)s.", lot=result.lot, sku=scanned.sku))
    per_scan = result.qty if result.qty is not None else Decimal(1)
    same = (flow.step == "qty" and flow.item is not None and scanned.id == flow.item.id
            and (scanned_lot is None or flow.lot is None or scanned_lot.id == flow.lot.id))
    if same:
        new_qty = flow.qty + per_scan
        flow._check_qty(new_qty)
        flow.qty = new_qty
        return flow
    if flow.step == "qty":
        raise MoveFlowError(_l("This is %(sku)s, but %(current)s is being moved. Finish it (scan the target "
                               "location) or cancel it first.", sku=scanned.sku, current=flow.item.sku))
    flow.item, flow.lot, flow.qty = scanned, scanned_lot, per_scan
    if flow.receiving:
        if scanned.lot_tracked and scanned_lot is None:
            if not any(ln.item_id == scanned.id and ln.remaining > 0 for ln in flow.transfer.lines):
                raise _not_on_transfer(flow.transfer, scanned, None)
        else:
            flow.line = _transfer_line(flow.transfer, scanned, scanned_lot)
    flow._settle()
    return flow


def set_qty(flow: Flow, qty) -> Flow:
    """The quantity typed on the quantity step (replaces what scans added up)."""
    if flow.step not in ("qty", "reason"):
        raise MoveFlowError(_l("Scan the item first."))
    value = parse_quantity(qty, whole_units=flow.item.whole_units)
    flow._check_qty(value)
    flow.qty = value
    flow.step = "qty"
    return flow


def _ok(result: Resolution) -> None:
    if not result.ok:
        raise MoveFlowError(result.message)


def _post_to(flow: Flow, to_code: str, *, user_id, idempotency_key) -> Flow:
    if flow.kind == "scrap":
        raise MoveFlowError(_l("Scrap goes to the scrap location; choose the reason instead."))
    target = location(to_code, "to_location")
    if flow.receiving:
        move = receive_transfer(flow.transfer, sku=flow.item.sku, lot=flow.lot.number if flow.lot else None,
                                qty=flow.qty, to_location=target.code, user_id=user_id,
                                idempotency_key=idempotency_key)
    else:
        move = transfer(from_location=flow.from_location.code, sku=flow.item.sku,
                        lot=flow.lot.number if flow.lot else None, qty=flow.qty, to_location=target.code,
                        user_id=user_id, idempotency_key=idempotency_key)
    flow.posted = [move]
    return flow.restart()


# --- postings ------------------------------------------------------------------------------------


def transfer(*, from_location: str, sku: str, qty, to_location: str, lot: str | None = None,
             user_id: int | None, idempotency_key: str | None = None, reason: str = "") -> StockMove:
    """Move ``qty`` of an item (and lot) from one warehouse location to another.

    Raises MoveFlowError when the quantity is more than the books show at the source (with the
    numbers), InvalidMove for the same location or a missing lot; the ledger's guarded UPDATE is
    what finally refuses a source that a concurrent move emptied (InsufficientStock).
    """
    src = source(from_location)
    dst = location(to_location, "to_location")
    it = item(sku)
    lot_row = lot_of(it, lot)
    if it.lot_tracked and lot_row is None:
        raise InvalidMove(_l("%(sku)s is lot-tracked: give the lot.", sku=it.sku))
    value = parse_quantity(qty, whole_units=it.whole_units)
    if src.id == dst.id:
        raise MoveFlowError(_l("%(location)s is where the stock already is: scan another location.",
                               location=src.code))
    if dst.type is LocationType.TRANSIT:
        raise MoveFlowError(_l("%(location)s is a transit location: ship stock to another warehouse with a "
                               "transfer.", location=dst.code))
    _refuse_more_than_there(it, src, lot_row, value)
    return ledger.post_move(type=MoveType.TRANSFER, item=it, qty=value, from_location=src, to_location=dst,
                            lot=lot_row, user_id=user_id, reason=reason, idempotency_key=idempotency_key)


def _refuse_more_than_there(it: Item, src: Location, lot_row: Lot | None, qty: Decimal) -> None:
    here = on_hand(it.id, src.id, lot_row.id if lot_row else None)
    if qty > here:
        label = it.sku + (f" ({lot_row.number})" if lot_row else "")
        raise MoveFlowError(_l("Only %(available)s %(uom)s of %(sku)s are at %(location)s; %(qty)s is too many.",
                               available=_q(here), uom=it.uom, sku=label, location=src.code, qty=_q(qty)))


def scrap(*, from_location: str, sku: str, qty, reason: str, note: str = "", lot: str | None = None,
          user_id: int | None, idempotency_key: str | None = None) -> StockMove:
    """Scrap ``qty`` at a location: a SCRAP move to the scrap virtual location, with the reason
    (one of SCRAP_REASONS, required; "other" needs a note) recorded in the ledger."""
    if reason not in SCRAP_REASONS:
        raise MoveFlowError(_l("Choose why the stock is scrapped."), code="reason_required")
    note = clean_text(note, "note", 400, required=False)
    if reason == "other" and not note:
        raise MoveFlowError(_l("Say why the stock is scrapped."), code="reason_required")
    src = source(from_location)
    it = item(sku)
    lot_row = lot_of(it, lot)
    if it.lot_tracked and lot_row is None:
        raise InvalidMove(_l("%(sku)s is lot-tracked: give the lot.", sku=it.sku))
    value = parse_quantity(qty, whole_units=it.whole_units)
    _refuse_more_than_there(it, src, lot_row, value)
    text = SCRAP_REASONS_EN[reason] + (f": {note}" if note else "")
    return ledger.post_move(type=MoveType.SCRAP, item=it, qty=value, from_location=src,
                            to_location=virtual_location(LocationType.SCRAP), lot=lot_row, user_id=user_id,
                            reason=text, idempotency_key=idempotency_key)


@dataclass(frozen=True)
class Summary:
    lines: int
    total: Decimal


def summarize(rows: list[StockBalance]) -> Summary:
    return Summary(len(rows), sum((b.qty for b in rows), Decimal(0)))


def move_all(*, from_location: str, to_location: str, user_id: int | None, expect_lines: int | None = None,
             expect_total=None) -> list[int]:
    """Move every (item, lot) balance of a location to another, in one batch (one transaction).

    ``expect_lines``/``expect_total`` are what the worker saw; when the location holds something else
    now, nothing moves and the message says so (the screen must be looked at again).
    """
    src = source(from_location)
    dst = location(to_location, "to_location")
    if src.id == dst.id:
        raise MoveFlowError(_l("%(location)s is where the stock already is: scan another location.",
                               location=src.code))
    if dst.type is LocationType.TRANSIT:
        raise MoveFlowError(_l("%(location)s is a transit location: ship stock to another warehouse with a "
                               "transfer.", location=dst.code))
    rows = contents(src)
    if not rows:
        raise MoveFlowError(_l("%(location)s is empty: nothing to move.", location=src.code))
    now = summarize(rows)
    if expect_lines is not None and expect_total is not None:
        seen_total = parse_quantity(expect_total, allow_zero=True)
        if now.lines != expect_lines or now.total != seen_total:
            raise MoveFlowError(_l("The stock at %(location)s changed since it was shown (%(lines)s lines, "
                                   "%(total)s units now): look at it again before moving all.",
                                   location=src.code, lines=now.lines, total=_q(now.total)), code="changed")
    specs = [ledger.MoveSpec(type=MoveType.TRANSFER, item=b.item, qty=b.qty, from_location=src, to_location=dst,
                             lot=b.lot, reason="move all") for b in rows]
    return ledger.post_moves(specs, user_id=user_id)


# --- inter-warehouse transfers -------------------------------------------------------------------


def transit_location(warehouse: Warehouse) -> Location:
    """The warehouse's in-transit location ``<WH>-TRANSIT`` (type transit), created on first use."""
    return services.warehouse_location(warehouse, LocationType.TRANSIT, "TRANSIT", f"{warehouse.name} in transit")


def _warehouse(code) -> Warehouse:
    code = clean_text(code, "warehouse", 40)
    wh = db.session.execute(select(Warehouse).where(func.upper(Warehouse.code) == code.upper())).scalar_one_or_none()
    if wh is None:
        raise UnknownReference(_l("No warehouse %(code)s.", code=code))
    return wh


@dataclass(frozen=True)
class LineSpec:
    sku: str
    qty: object
    from_location: str
    lot: str | None = None


def create_transfer(*, from_warehouse: str, to_warehouse: str, lines: list[LineSpec], user_id: int | None,
                    note: str = "", allow_empty: bool = False) -> Transfer:
    """A draft transfer (TR-00001) of the given lines; each line's source must be in the from-warehouse."""
    src_wh = _warehouse(from_warehouse)
    dst_wh = _warehouse(to_warehouse)
    if src_wh.id == dst_wh.id:
        raise InvalidMove(_l("A transfer goes to another warehouse."))
    if not lines and not allow_empty:
        raise InvalidMove(_l("A transfer needs at least one line."))
    if len(lines) > 500:
        raise InvalidMove(_l("A transfer has at most 500 lines."))
    tr = Transfer(number="new-" + uuid.uuid4().hex, status=TransferStatus.DRAFT, from_warehouse_id=src_wh.id,
                  to_warehouse_id=dst_wh.id, note=clean_text(note, "note", 1000, required=False),
                  created_by_id=user_id, created_at=utcnow())
    seen = set()
    for spec in lines:
        it = item(spec.sku)
        lot_row = lot_of(it, spec.lot)
        if it.lot_tracked and lot_row is None:
            raise InvalidMove(_l("%(sku)s is lot-tracked: give the lot.", sku=it.sku))
        src = source(spec.from_location)
        if src.warehouse_id != src_wh.id:
            raise InvalidMove(_l("%(location)s is not in warehouse %(warehouse)s.", location=src.code,
                                 warehouse=src_wh.code))
        key = (it.id, lot_row.id if lot_row else None)
        if key in seen:
            raise InvalidMove(_l("%(sku)s is on the transfer twice; put it on one line.", sku=it.sku))
        seen.add(key)
        tr.lines.append(TransferLine(item_id=it.id, lot_id=key[1], from_location_id=src.id,
                                     qty=parse_quantity(spec.qty, whole_units=it.whole_units)))
    db.session.add(tr)
    db.session.flush()
    tr.number = f"TR-{tr.id:05d}"
    db.session.flush()
    return tr


def get_transfer(number) -> Transfer:
    """A transfer by number (TR-00012, any case) or id; NotFound otherwise."""
    text = str(number or "").strip()
    tr = None
    if text.isascii() and text.isdigit() and len(text) < 12:
        tr = db.session.get(Transfer, int(text))
    if tr is None and text:
        tr = db.session.execute(select(Transfer).where(Transfer.number == text.upper())).scalar_one_or_none()
    if tr is None:
        raise NotFound(_l("No transfer %(number)s.", number=text[:40]))
    return tr


def transfer_from_scan(code: str, *, user_id: int | None) -> Transfer:
    """The transfer a worker scanned: its DOC:TR:… label, or its number typed."""
    text = (code or "").strip()
    if text.upper().startswith("TR-"):
        return get_transfer(text)
    result = resolve(code, screen="moves.receive", user_id=user_id, expected=("document",))
    if result.kind == "document" and result.document_kind == "TR":
        return get_transfer(result.document)
    raise MoveFlowError(_l("Scan the transfer's label (TR-…)."))


def _check_draft(tr: Transfer) -> None:
    if tr.status is not TransferStatus.DRAFT:
        raise WrongState(_l("Transfer %(number)s has already been shipped.", number=tr.number))


def _check_in_warehouse(loc: Location, wh: Warehouse) -> None:
    if loc.warehouse_id != wh.id:
        raise InvalidMove(_l("%(location)s is not in warehouse %(warehouse)s.", location=loc.code, warehouse=wh.code))


def start_transfer(*, from_warehouse: str, to_warehouse: str, user_id: int | None) -> Transfer:
    """An empty draft transfer, for a worker who fills it on the handheld and then ships it."""
    return create_transfer(from_warehouse=from_warehouse, to_warehouse=to_warehouse, lines=[], user_id=user_id,
                           allow_empty=True)


def add_line(flow: Flow) -> Flow:
    """Put the item, lot and quantity of a "ship" screen on its draft transfer (adding to its line
    when the same item and lot are there already, from the same location)."""
    if flow.kind != "ship" or flow.step != "qty":
        raise MoveFlowError(_l("Scan the item first."))
    tr = flow.transfer
    lot_id = flow.lot.id if flow.lot else None
    line = next((ln for ln in tr.lines if ln.item_id == flow.item.id and ln.lot_id == lot_id), None)
    if line is not None and line.from_location_id != flow.from_location.id:
        raise MoveFlowError(_l("%(sku)s is already on %(number)s from %(location)s.", sku=flow.item.sku,
                               number=tr.number, location=line.from_location.code))
    total = flow.qty + (line.qty if line is not None else Decimal(0))
    _refuse_more_than_there(flow.item, flow.from_location, flow.lot, total)
    if line is None:
        tr.lines.append(TransferLine(item_id=flow.item.id, lot_id=lot_id, from_location_id=flow.from_location.id,
                                     qty=flow.qty))
    else:
        line.qty = total
    db.session.flush()
    db.session.refresh(tr)
    flow.notice = str(_l("%(qty)s %(uom)s of %(sku)s added to %(number)s.", qty=_q(flow.qty), uom=flow.item.uom,
                         sku=flow.item.sku, number=tr.number))
    return flow.restart()


def _check_receivable(tr: Transfer) -> None:
    if tr.status is TransferStatus.DRAFT:
        raise WrongState(_l("Transfer %(number)s has not been shipped yet.", number=tr.number))
    if tr.status is TransferStatus.RECEIVED:
        raise WrongState(_l("Transfer %(number)s has been received completely.", number=tr.number))


def _not_on_transfer(tr: Transfer, it: Item, lot_row: Lot | None):
    label = it.sku + (f" ({lot_row.number})" if lot_row else "")
    return MoveFlowError(_l("%(sku)s is not on transfer %(number)s, or all of it has been received.",
                            sku=label, number=tr.number), code="not_on_transfer")


def _transfer_line(tr: Transfer, it: Item, lot_row: Lot | None) -> TransferLine:
    lot_id = lot_row.id if lot_row else None
    for ln in tr.lines:
        if ln.item_id == it.id and ln.lot_id == lot_id and ln.remaining > 0:
            return ln
    raise _not_on_transfer(tr, it, lot_row)


def ship_transfer(number: str, *, user_id: int | None) -> Transfer:
    """Ship a draft transfer: every line moves from its source into the destination's transit
    location, in one batch; the status turns shipped exactly once (a guarded UPDATE)."""
    tr = get_transfer(number)
    if not tr.lines:
        raise InvalidMove(_l("Transfer %(number)s has no lines to ship.", number=tr.number))
    claimed = db.session.execute(
        update(Transfer).where(Transfer.id == tr.id, Transfer.status == TransferStatus.DRAFT)
        .values(status=TransferStatus.SHIPPED, shipped_by_id=user_id, shipped_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise WrongState(_l("Transfer %(number)s has already been shipped.", number=tr.number))
    transit = transit_location(tr.to_warehouse)
    specs = []
    for ln in tr.lines:
        _refuse_more_than_there(ln.item, ln.from_location, ln.lot, ln.qty)
        specs.append(ledger.MoveSpec(type=MoveType.TRANSFER, item=ln.item, qty=ln.qty,
                                     from_location=ln.from_location, to_location=transit, lot=ln.lot))
    ledger.post_moves(specs, user_id=user_id, document=(DOCUMENT_TYPE, tr.number))
    for ln in tr.lines:
        ln.shipped_qty = ln.qty
    db.session.flush()
    db.session.refresh(tr)
    return tr


def receive_transfer(number_or_transfer, *, sku: str, qty, to_location: str, lot: str | None = None,
                     user_id: int | None, idempotency_key: str | None = None) -> StockMove:
    """Receive part of a shipped transfer: transit → ``to_location`` (in the destination warehouse).

    Over-receipt is refused by a guarded UPDATE on the line (``received_qty + qty <= shipped_qty``),
    so two workers receiving the same line at once cannot together exceed what was shipped.
    """
    tr = number_or_transfer if isinstance(number_or_transfer, Transfer) else get_transfer(number_or_transfer)
    _check_receivable(tr)
    it = item(sku)
    lot_row = lot_of(it, lot)
    line = None
    for ln in tr.lines:
        if ln.item_id == it.id and ln.lot_id == (lot_row.id if lot_row else None):
            line = ln
    if line is None:
        raise _not_on_transfer(tr, it, lot_row)
    value = parse_quantity(qty, whole_units=it.whole_units)
    dst = location(to_location, "to_location")
    if dst.warehouse_id != tr.to_warehouse_id:
        raise MoveFlowError(_l("%(location)s is not in warehouse %(warehouse)s, where %(number)s goes.",
                               location=dst.code, warehouse=tr.to_warehouse.code, number=tr.number))
    transit = transit_location(tr.to_warehouse)
    if dst.id == transit.id:
        raise MoveFlowError(_l("Scan the location where the stock is put, not the transit location."))
    grown = db.session.execute(
        update(TransferLine)
        .where(TransferLine.id == line.id, TransferLine.received_qty + value <= TransferLine.shipped_qty)
        .values(received_qty=TransferLine.received_qty + value)
        .execution_options(synchronize_session=False)
    ).rowcount
    if grown != 1:
        db.session.refresh(line)
        raise OverReceipt(_l("Only %(left)s %(uom)s of %(sku)s are left to receive on %(number)s; %(qty)s is "
                             "too many.", left=_q(line.remaining), uom=it.uom, sku=it.sku, number=tr.number,
                             qty=_q(value)))
    move = ledger.post_move(type=MoveType.TRANSFER, item=it, qty=value, from_location=transit, to_location=dst,
                            lot=lot_row, user_id=user_id, document=(DOCUMENT_TYPE, tr.number),
                            idempotency_key=idempotency_key)
    db.session.refresh(line)
    _update_status(tr)
    return move


def _update_status(tr: Transfer) -> None:
    # Lock the transfer first, then count what is left: two workers finishing its last two lines at
    # once must not both see the other's line open (PostgreSQL reads committed data per statement).
    db.session.execute(select(Transfer.id).where(Transfer.id == tr.id).with_for_update())
    open_lines = db.session.execute(
        select(func.count(TransferLine.id))
        .where(TransferLine.transfer_id == tr.id, TransferLine.received_qty < TransferLine.shipped_qty)
    ).scalar_one()
    done = open_lines == 0
    status = TransferStatus.RECEIVED if done else TransferStatus.PARTIALLY_RECEIVED
    values = {"status": status}
    if done:
        values["received_at"] = utcnow()
    db.session.execute(update(Transfer).where(Transfer.id == tr.id).values(**values)
                       .execution_options(synchronize_session=False))
    db.session.flush()
    db.session.expire(tr)
    db.session.refresh(tr)


def transfer_moves(tr: Transfer) -> list[StockMove]:
    return list(db.session.execute(
        select(StockMove).where(StockMove.document_type == DOCUMENT_TYPE, StockMove.document_id == tr.number)
        .order_by(StockMove.id)
    ).scalars())


def list_transfers(status: str | None = None, limit: int = 200) -> list[Transfer]:
    stmt = select(Transfer).order_by(Transfer.id.desc()).limit(limit)
    if status:
        try:
            stmt = stmt.where(Transfer.status == TransferStatus(status))
        except ValueError:
            raise InvalidQuantity(_l("Unknown status.")) from None
    return list(db.session.execute(stmt).scalars())


def open_transfers(limit: int = 20) -> list[Transfer]:
    """Shipped transfers still to receive, oldest first (the receiving worker's list)."""
    return list(db.session.execute(
        select(Transfer).where(Transfer.status.in_([TransferStatus.SHIPPED, TransferStatus.PARTIALLY_RECEIVED]))
        .order_by(Transfer.id).limit(limit)
    ).scalars())


def warehouses() -> list[Warehouse]:
    return list(db.session.execute(select(Warehouse).order_by(Warehouse.code)).scalars())


def parse_lines(text: str) -> list[LineSpec]:
    """Lines typed on the office page, one per line: ``SKU QTY FROM-LOCATION [LOT]``."""
    specs = []
    for n, raw in enumerate((text or "").splitlines(), start=1):
        parts = raw.replace(",", " ").replace(";", " ").split()
        if not parts:
            continue
        if len(parts) not in (3, 4):
            raise InvalidMove(_l("Line %(n)s: write SKU, quantity, from-location and, for lots, the lot.", n=n))
        specs.append(LineSpec(sku=parts[0], qty=parts[1], from_location=parts[2],
                              lot=parts[3] if len(parts) == 4 else None))
    return specs
