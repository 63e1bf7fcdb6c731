"""Orders, releasing them onto pick lists (with reservations), picking, short picks and shipping.

Used by the office pages, the handheld pick screens, the API and the CLI; callers pass plain values.
Functions flush, never commit. Concurrency: every change to a pick list starts by locking its row
(`_lock_list`), so two workers sharing a list are serialised per list; the line's own guarded UPDATE
(``qty_picked + :q + qty_short <= qty``) and the database's check constraint make over-picking
impossible even without that lock. Reservations are taken by guarded UPDATEs (`inventory.reservations`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select, update

from ..auth.models import User
from ..clock import today, utcnow
from ..extensions import db
from ..inventory import ledger, queries, reservations, services
from ..inventory.errors import NotFound, UnknownReference
from ..inventory.models import Item, Location, LocationType, Lot, MoveType, StockBalance, StockMove, Warehouse
from ..inventory.quantities import parse_quantity
from ..inventory.services import _flush_unique, clean_text, virtual_location
from .errors import NothingToPick, OrderError, OverPick, WrongItem, WrongLocation, WrongLot, WrongState
from .models import (
    Customer,
    LocationCountFlag,
    Order,
    OrderKind,
    OrderLine,
    OrderStatus,
    PickEvent,
    PickLine,
    PickLineStatus,
    PickList,
    PickListOrder,
    PickListStatus,
)

DOCUMENT_TYPE = "pick_list"
OWNER_BIN = "pick_line"  # the units a line will pick, in its bin
OWNER_OUT = "pick_out"  # the units a line has picked, waiting in the outbound location
PREFIX = {OrderKind.SALE: "SO", OrderKind.PRODUCTION: "MO", OrderKind.TRANSFER: "TO"}
MAX_LINES = 1000


def _fmt(value: Decimal) -> str:
    return ledger._fmt(value)


# --- customers and orders ---------------------------------------------------------------------


def create_customer(code: str, name: str) -> Customer:
    code = clean_text(code, "code", 40)
    customer = Customer(code=code, name=clean_text(name or code, "name", 200))
    db.session.add(customer)
    _flush_unique(_l("Customer %(code)s already exists.", code=code))
    return customer


def get_customer(code: str) -> Customer:
    customer = db.session.execute(select(Customer).where(Customer.code == str(code).strip())).scalar_one_or_none()
    if customer is None:
        raise UnknownReference(_l("No customer %(code)s.", code=str(code)[:40]))
    return customer


def list_customers() -> list[Customer]:
    return list(db.session.execute(select(Customer).order_by(Customer.code)).scalars())


@dataclass(frozen=True)
class LineSpec:
    sku: str
    qty: object


def create_order(
    *,
    lines: list[LineSpec],
    user_id: int | None,
    kind: str = "sale",
    customer: str | None = None,
    number: str | None = None,
    warehouse: str | None = None,
    destination: str | None = None,
    note: str = "",
) -> Order:
    """Create an order. A sale needs a customer; a production issue a production location and a
    transfer another warehouse's transit location as ``destination``. 409 on a repeated number."""
    try:
        kind = OrderKind(kind or "sale")
    except ValueError:
        raise OrderError(_l("Unknown order kind %(kind)s.", kind=str(kind)[:20])) from None
    if not lines:
        raise OrderError(_l("An order needs at least one line."))
    if len(lines) > MAX_LINES:
        raise OrderError(_l("An order has at most %(max)s lines.", max=MAX_LINES))
    order = Order(kind=kind, created_by_id=user_id)
    order.note = clean_text(note, "note", 2000, required=False)
    if warehouse:
        wh = queries.warehouse_by_code(clean_text(warehouse, "warehouse", 40))
        if wh is None:
            raise UnknownReference(_l("No warehouse %(code)s.", code=str(warehouse)[:40]))
        order.warehouse_id = wh.id
    if kind is OrderKind.SALE:
        if not customer:
            raise OrderError(_l("A sales order needs a customer."))
        order.customer_id = get_customer(customer).id
    else:
        if customer:
            order.customer_id = get_customer(customer).id
        wanted = LocationType.PRODUCTION if kind is OrderKind.PRODUCTION else LocationType.TRANSIT
        dest = queries.location_by_code(clean_text(destination, "destination", 60)) if destination else None
        if dest is None or dest.type is not wanted:
            raise OrderError(_l("Give a %(type)s location as the destination.", type=wanted.value))
        if kind is OrderKind.TRANSFER and order.warehouse_id is not None and dest.warehouse_id == order.warehouse_id:
            raise OrderError(_l("A transfer goes to another warehouse's transit location."))
        order.destination_id = dest.id
    order.number = clean_text(number, "number", 40).upper() if number else "new-" + uuid.uuid4().hex[:30]
    for n, spec in enumerate(lines, start=1):
        item = queries.item_by_sku(clean_text(spec.sku, "sku", 60))
        if item is None:
            raise UnknownReference(_l("No item with SKU %(sku)s.", sku=str(spec.sku)[:60]))
        order.lines.append(OrderLine(line_no=n, item_id=item.id, qty=parse_quantity(spec.qty,
                                     whole_units=item.whole_units)))
    db.session.add(order)
    _flush_unique(_l("Order %(number)s already exists.", number=order.number))
    if not number:
        order.number = f"{PREFIX[kind]}-{order.id:05d}"
        _flush_unique(_l("Order %(number)s already exists.", number=order.number))
    return order


def get_order(ref) -> Order:
    """An order by id or number (any case); NotFound otherwise."""
    text = str(ref).strip()
    order = None
    if text.isascii() and text.isdigit() and len(text) < 12:
        order = db.session.get(Order, int(text))
    if order is None and 0 < len(text) <= 40:
        order = db.session.execute(select(Order).where(Order.number == text.upper())).scalar_one_or_none()
    if order is None:
        raise NotFound(_l("No order %(ref)s.", ref=text[:40]))
    return order


def list_orders(status: str | None = None, limit: int = 200) -> list[Order]:
    stmt = select(Order).order_by(Order.id.desc()).limit(limit)
    if status:
        try:
            stmt = stmt.where(Order.status == OrderStatus(status))
        except ValueError:
            raise OrderError(_l("Unknown order status %(status)s.", status=str(status)[:20])) from None
    return list(db.session.execute(stmt).scalars())


def releasable(order: Order) -> bool:
    return order.status is not OrderStatus.CANCELLED and any(
        not line.released or line.qty_backorder > 0 for line in order.lines
    )


# --- releasing: orders → a pick list ----------------------------------------------------------


def outbound_location(warehouse_id: int) -> Location:
    """The warehouse's outbound/packing location: its first active OUTBOUND location by code, or a
    new ``<WAREHOUSE>-OUTBOUND`` (race-safe)."""
    loc = db.session.execute(
        select(Location).where(Location.warehouse_id == warehouse_id, Location.type == LocationType.OUTBOUND,
                               Location.active.is_(True)).order_by(Location.code).limit(1)
    ).scalar_one_or_none()
    if loc is None:
        wh = db.session.get(Warehouse, warehouse_id)
        loc = services.warehouse_location(wh, LocationType.OUTBOUND, "OUTBOUND", "Outbound")
    return loc


def _sources(item_ids, warehouse_id: int | None) -> dict[int, list[StockBalance]]:
    """Lock the balances the items may be picked from and return them per item, best first:
    FEFO (earliest expiry) for lots, then the oldest lot; otherwise the bin whose latest receipt is
    oldest (all of its stock is at least that old). Only active storage locations; expired lots never."""
    rows = reservations.lock_candidates(item_ids)
    usable = []
    for b in rows:
        loc = b.location
        if loc.type is not LocationType.STORAGE or not loc.active:
            continue
        if warehouse_id is not None and loc.warehouse_id != warehouse_id:
            continue
        if b.lot is not None and b.lot.expiry is not None and b.lot.expiry < today():
            continue
        usable.append(b)
    latest: dict[tuple, int] = {}
    if usable:
        for item_id, loc_id, lot_id, last in db.session.execute(
            select(StockMove.item_id, StockMove.to_location_id, StockMove.lot_id, func.max(StockMove.id))
            .where(StockMove.item_id.in_(sorted(set(item_ids))),
                   StockMove.to_location_id.in_(sorted({b.location_id for b in usable})))
            .group_by(StockMove.item_id, StockMove.to_location_id, StockMove.lot_id)
        ):
            latest[(item_id, loc_id, lot_id)] = last

    def key(b: StockBalance):
        expiry = b.lot.expiry if b.lot is not None else None
        return (expiry is None, expiry or today(), b.lot_id or 0,
                latest.get((b.item_id, b.location_id, b.lot_id), 0), b.location.code)

    by_item: dict[int, list[StockBalance]] = {}
    for b in sorted(usable, key=key):
        by_item.setdefault(b.item_id, []).append(b)
    return by_item


def release(order_refs, *, user_id: int | None, assigned_to: str | None = None) -> PickList:
    """Release orders onto one new pick list (batch picking) and reserve the stock for it.

    Each order line's open quantity (never released, or its backorder) is allocated to sources in
    FEFO/FIFO order and may be split over several bins and lots; each part is a pick line with its
    reservation. What cannot be allocated stays on the order line as backorder. Lines are numbered in
    walking order (location code). Raises NothingToPick (409) when no unit could be reserved.
    """
    refs = list(dict.fromkeys(str(r).strip() for r in order_refs or [] if str(r).strip()))
    if not refs:
        raise OrderError(_l("Choose at least one order to release."))
    ids = [get_order(r).id for r in refs]
    # Lock the orders (in id order) so that one order is never released twice at once.
    orders = list(db.session.execute(
        select(Order).where(Order.id.in_(ids)).order_by(Order.id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalars())
    assignee = _user(assigned_to) if assigned_to else None
    for order in orders:
        db.session.refresh(order, attribute_names=["lines"])
        for line in order.lines:
            db.session.refresh(line)
        if not releasable(order):
            raise WrongState(_l("Order %(number)s has nothing left to release.", number=order.number))
    warehouses = {o.warehouse_id for o in orders}
    pick_list = PickList(number="new-" + uuid.uuid4().hex, created_by_id=user_id,
                         assigned_to_id=assignee.id if assignee else None)
    db.session.add(pick_list)
    db.session.flush()
    pick_list.number = f"PL-{pick_list.id:05d}"
    for order in orders:
        db.session.add(PickListOrder(pick_list_id=pick_list.id, order_id=order.id))

    wanted = [(o, line, line.qty if not line.released else line.qty_backorder)
              for o in orders for line in o.lines if not line.released or line.qty_backorder > 0]
    sources = {wh: _sources({line.item_id for o, line, _q in wanted if o.warehouse_id == wh}, wh)
               for wh in warehouses}
    left = {}  # balance id → available units not yet allocated by this release
    made: list[tuple[PickLine, StockBalance, Decimal]] = []
    for order, line, qty in wanted:
        need = qty
        for b in sources[order.warehouse_id].get(line.item_id, []):
            if need <= 0:
                break
            free = left.setdefault(b.id, b.qty - b.reserved)
            take = min(free, need)
            if take <= 0:
                continue
            left[b.id] = free - take
            need -= take
            pl = PickLine(pick_list_id=pick_list.id, order_line_id=line.id, item_id=line.item_id, lot_id=b.lot_id,
                          location_id=b.location_id, outbound_id=outbound_location(b.location.warehouse_id).id,
                          qty=take, updated_at=utcnow())
            made.append((pl, b, take))
        line.qty_backorder = need
        line.released = True
    if not made:
        raise NothingToPick(_l("Nothing can be picked: no stock is available for these orders."))
    made.sort(key=lambda m: (m[1].location.code, m[1].item.sku, m[1].lot.expiry if m[1].lot and m[1].lot.expiry
                                                                   else today(), m[0].order_line_id))
    for seq, (pl, _b, _take) in enumerate(made, start=1):
        pl.seq = seq
        db.session.add(pl)
    db.session.flush()
    for pl, b, take in made:
        reservations.reserve(b.item_id, b.location_id, b.lot_id, take, (OWNER_BIN, pl.id))
    for order in orders:
        _refresh_order(order)
    db.session.flush()
    return pick_list


def _user(username) -> User:
    if not isinstance(username, str) or not username.strip():
        raise OrderError(_l("%(field)s must be a username.", field="assigned_to"))
    user = db.session.execute(select(User).where(User.username == username.strip())).scalar_one_or_none()
    if user is None or not user.active:
        raise UnknownReference(_l("No active user %(name)s.", name=username.strip()[:80]))
    return user


# --- pick lists -------------------------------------------------------------------------------


def get_pick_list(ref) -> PickList:
    """A pick list by id, number (any case) or its label's DOC:PL:… payload; NotFound otherwise."""
    text = str(ref).strip()
    if text.upper().startswith("DOC:PL:"):
        text = text[7:].strip()
    found = None
    if text.isascii() and text.isdigit() and len(text) < 12:
        found = db.session.get(PickList, int(text))
    elif 0 < len(text) <= 40:
        found = db.session.execute(select(PickList).where(PickList.number == text.upper())).scalar_one_or_none()
    if found is None:
        raise NotFound(_l("No pick list %(ref)s.", ref=text[:40]))
    return found


def list_pick_lists(active_only: bool = False, limit: int = 200) -> list[PickList]:
    stmt = select(PickList).order_by(PickList.id.desc()).limit(limit)
    if active_only:
        stmt = stmt.where(PickList.status.in_([PickListStatus.OPEN, PickListStatus.PICKING]))
    return list(db.session.execute(stmt).scalars())


def next_for(user_id: int) -> PickList:
    """The oldest open list assigned to the user, else the oldest unassigned one, taken (race-safe)."""
    active = [PickListStatus.OPEN, PickListStatus.PICKING]
    mine = db.session.execute(
        select(PickList).where(PickList.assigned_to_id == user_id, PickList.status.in_(active))
        .order_by(PickList.id).limit(1)
    ).scalar_one_or_none()
    if mine is not None:
        return mine
    for candidate in db.session.execute(
        select(PickList.id).where(PickList.assigned_to_id.is_(None), PickList.status.in_(active))
        .order_by(PickList.id).limit(20)
    ).scalars():
        taken = db.session.execute(
            update(PickList).where(PickList.id == candidate, PickList.assigned_to_id.is_(None))
            .values(assigned_to_id=user_id).execution_options(synchronize_session=False)
        ).rowcount
        if taken:
            return _fresh_list(candidate)
    raise NotFound(_l("No pick list is waiting for you."))


def _fresh_list(list_id: int) -> PickList:
    return db.session.execute(
        select(PickList).where(PickList.id == list_id).execution_options(populate_existing=True)
    ).scalar_one()


def _lock_list(pick_list: PickList) -> PickList:
    return db.session.execute(
        select(PickList).where(PickList.id == pick_list.id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def _line(pick_list: PickList, line_id) -> PickLine:
    try:
        line_id = int(line_id)
    except (TypeError, ValueError):
        raise OrderError(_l("Give the pick line's id.")) from None
    line = db.session.execute(
        select(PickLine).where(PickLine.id == line_id, PickLine.pick_list_id == pick_list.id)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if line is None:
        raise NotFound(_l("Pick list %(number)s has no line %(line)s.", number=pick_list.number, line=line_id))
    return line


def current_line(pick_list: PickList) -> PickLine | None:
    """The first open line in walking order."""
    return db.session.execute(
        select(PickLine).where(PickLine.pick_list_id == pick_list.id, PickLine.status == PickLineStatus.OPEN)
        .order_by(PickLine.seq, PickLine.id).limit(1).execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _item_label(item: Item) -> str:
    return f"{item.sku} — {item.name}"


def check_location(pick_list: PickList, line: PickLine, location_code: str, *, other: bool = False,
                   lot_number: str | None = None) -> Location:
    """The scanned location must be the line's; with ``other`` a location that has the stock
    available takes the line over (its reservation moves there). WrongLocation (422) otherwise."""
    loc = queries.location_by_code_ci(clean_text(location_code, "location", 60))
    if loc is not None and loc.id == line.location_id:
        return loc
    if loc is None or not other:
        raise WrongLocation(_l("Wrong location %(scanned)s: pick from %(expected)s.",
                               scanned=str(location_code)[:60], expected=line.location.code))
    relocate(pick_list, line, loc, lot_number=lot_number)
    return loc


def relocate(pick_list: PickList, line: PickLine, loc: Location, *, lot_number: str | None = None) -> PickLine:
    """Pick the line's remaining units from ``loc`` instead (re-reserving there). When ``loc`` has
    fewer available, the line is split: the rest stays at the old location as a new line."""
    _lock_list(pick_list)
    line = _line(pick_list, line.id)
    if line.done:
        raise WrongState(_l("This line is already done."))
    remaining = line.remaining
    candidates = [b for b in _sources([line.item_id], loc.warehouse_id).get(line.item_id, [])
                  if b.location_id == loc.id]
    if not candidates:
        raise WrongLocation(_l("%(code)s has no %(sku)s available: pick from %(expected)s.",
                               code=loc.code, sku=line.item.sku, expected=line.location.code))
    prefer = [lot_number, line.lot.number if line.lot else None]
    candidates.sort(key=lambda b: 0 if b.lot and b.lot.number in prefer[:1] else 1 if b.lot and b.lot.number
                    in prefer[1:] else 2)
    b = candidates[0]
    take = min(remaining, b.qty - b.reserved)
    old = [r for r in reservations.for_owner(OWNER_BIN, line.id) if r.qty > 0]
    for r in old:
        reservations.release(r)
    if take < remaining:
        rest = PickLine(pick_list_id=pick_list.id, order_line_id=line.order_line_id, seq=line.seq,
                        item_id=line.item_id, lot_id=line.lot_id, location_id=line.location_id,
                        outbound_id=line.outbound_id, qty=remaining - take, updated_at=utcnow())
        db.session.add(rest)
        db.session.flush()
        reservations.reserve(line.item_id, line.location_id, line.lot_id, remaining - take, (OWNER_BIN, rest.id))
        line.qty = line.qty - (remaining - take)
    line.location_id = loc.id
    line.lot_id = b.lot_id
    line.outbound_id = outbound_location(loc.warehouse_id).id
    line.updated_at = utcnow()
    db.session.flush()
    reservations.reserve(line.item_id, loc.id, b.lot_id, take, (OWNER_BIN, line.id))
    db.session.refresh(line)
    return line


def check_item(line: PickLine, item_id: int | None, lot_number: str | None) -> None:
    """The scanned item (and, for lot-tracked items, lot) must be the line's; WrongItem/WrongLot (422)."""
    if item_id != line.item_id:
        raise WrongItem(_l("Wrong item: pick %(expected)s.", expected=_item_label(line.item)))
    if line.lot_id is not None:
        if not lot_number:
            raise WrongLot(_l("Scan the lot: pick lot %(lot)s of %(sku)s.", lot=line.lot.number, sku=line.item.sku))
        if lot_number.strip() != line.lot.number:
            raise WrongLot(_l("Wrong lot %(scanned)s: pick lot %(lot)s.", scanned=lot_number.strip()[:60],
                              lot=line.lot.number))


def pick(pick_list: PickList, line_id, *, location: str, item_id: int | None, lot: str | None, qty,
         user_id: int | None, other_location: bool = False, idempotency_key: str | None = None) -> PickLine:
    """Pick ``qty`` units of a line after checking the scanned location, item and lot.

    Moves the units from the bin to the outbound location (consuming the reservation) and keeps
    them reserved there for the shipment. OverPick (409) for more than the line still needs.
    """
    pick_list = _lock_list(pick_list)
    if pick_list.status in (PickListStatus.PICKED, PickListStatus.SHIPPED):
        raise WrongState(_l("Pick list %(number)s is already complete.", number=pick_list.number))
    line = _line(pick_list, line_id)
    if line.done:
        raise WrongState(_l("This line is already done."))
    check_location(pick_list, line, location, other=other_location, lot_number=lot)
    line = _line(pick_list, line.id)
    check_item(line, item_id, lot)
    qty = parse_quantity(qty, whole_units=line.item.whole_units)
    return _pick_units(pick_list, line, qty, user_id=user_id, idempotency_key=idempotency_key)


def _pick_units(pick_list: PickList, line: PickLine, qty: Decimal, *, user_id, idempotency_key=None) -> PickLine:
    now = utcnow()
    done = db.session.execute(
        update(PickLine)
        .where(PickLine.id == line.id, PickLine.status == PickLineStatus.OPEN,
               PickLine.qty_picked + qty + PickLine.qty_short <= PickLine.qty)
        .values(qty_picked=PickLine.qty_picked + qty, picked_by_id=user_id, updated_at=now,
                status=case((PickLine.qty_picked + qty + PickLine.qty_short >= PickLine.qty,
                             PickLineStatus.PICKED.value), else_=PickLineStatus.OPEN.value))
        .execution_options(synchronize_session=False)
    ).rowcount
    line = _line(pick_list, line.id)
    if done != 1:
        if line.done:
            raise WrongState(_l("This line is already done."))
        raise OverPick(_l("Too many: this line needs only %(left)s more.", left=_fmt(line.remaining)))
    db.session.execute(
        update(OrderLine).where(OrderLine.id == line.order_line_id, OrderLine.qty_picked + qty <= OrderLine.qty)
        .values(qty_picked=OrderLine.qty_picked + qty).execution_options(synchronize_session=False)
    )
    res = next((r for r in reservations.for_owner(OWNER_BIN, line.id)
                if r.balance.location_id == line.location_id and r.balance.lot_id == line.lot_id), None)
    if res is None:
        res = reservations.reserve(line.item_id, line.location_id, line.lot_id, qty, (OWNER_BIN, line.id))
    order = line.order_line.order
    move = reservations.consume(res, qty, to_location=line.outbound, type=MoveType.TRANSFER, user_id=user_id,
                                document=(DOCUMENT_TYPE, pick_list.number), reason=order.number,
                                idempotency_key=idempotency_key)
    reservations.reserve(line.item_id, line.outbound_id, line.lot_id, qty, (OWNER_OUT, line.id))
    db.session.add(PickEvent(pick_line_id=line.id, kind="pick", qty=qty, location_id=line.location_id,
                             move_id=move.id, user_id=user_id, created_at=now))
    _after_change(pick_list)
    return _line(pick_list, line.id)


def short(pick_list: PickList, line_id, *, qty_found, reason: str, user_id: int | None) -> PickLine:
    """Close a line short: ``qty_found`` is what the line has in all (already picked + picked now,
    from its location). The shortfall goes back to the order line as backorder, the rest of the
    reservation is released, and the location is flagged for a count."""
    pick_list = _lock_list(pick_list)
    if pick_list.status in (PickListStatus.PICKED, PickListStatus.SHIPPED):
        raise WrongState(_l("Pick list %(number)s is already complete.", number=pick_list.number))
    line = _line(pick_list, line_id)
    if line.done:
        raise WrongState(_l("This line is already done."))
    reason = clean_text(reason, "reason", 500)
    found = parse_quantity(qty_found, whole_units=line.item.whole_units, allow_zero=True)
    if found < line.qty_picked:
        raise OrderError(_l("%(picked)s are already picked on this line: found cannot be less.",
                            picked=_fmt(line.qty_picked)))
    if found > line.qty - line.qty_short:
        raise OverPick(_l("Too many: this line needs only %(left)s more.", left=_fmt(line.remaining)))
    if found > line.qty_picked:
        line = _pick_units(pick_list, line, found - line.qty_picked, user_id=user_id)
    missing = line.remaining
    if missing <= 0:
        return line
    done = db.session.execute(
        update(PickLine)
        .where(PickLine.id == line.id, PickLine.status == PickLineStatus.OPEN,
               PickLine.qty - PickLine.qty_picked - PickLine.qty_short == missing)
        .values(qty_short=PickLine.qty_short + missing, status=PickLineStatus.SHORT.value, short_reason=reason,
                picked_by_id=user_id, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if done != 1:
        raise WrongState(_l("This line changed meanwhile; look again."))
    for r in reservations.for_owner(OWNER_BIN, line.id):
        if r.qty > 0:
            reservations.release(r)
    db.session.execute(
        update(OrderLine).where(OrderLine.id == line.order_line_id)
        .values(qty_backorder=OrderLine.qty_backorder + missing).execution_options(synchronize_session=False)
    )
    db.session.add(LocationCountFlag(location_id=line.location_id, reason=reason, source=pick_list.number,
                                     flagged_by_id=user_id, flagged_at=utcnow()))
    db.session.add(PickEvent(pick_line_id=line.id, kind="short", qty=missing, location_id=line.location_id,
                             user_id=user_id, note=reason, created_at=utcnow()))
    _after_change(pick_list)
    return _line(pick_list, line.id)


def cancel_open_lines(pick_list: PickList, *, user_id: int | None, reason: str = "cancelled") -> int:
    """Stop picking a list: every open line is closed with what it has picked, its reservation is
    released and the rest goes back to its order line as backorder. Returns how many lines closed.
    What was picked stays reserved in the outbound location and ships as usual."""
    pick_list = _lock_list(pick_list)
    if pick_list.status in (PickListStatus.PICKED, PickListStatus.SHIPPED):
        raise WrongState(_l("Pick list %(number)s is already complete.", number=pick_list.number))
    closed = 0
    for line in list(pick_list.lines):
        line = _line(pick_list, line.id)
        if line.done:
            continue
        missing = line.remaining
        line.qty_short = line.qty_short + missing
        line.status = PickLineStatus.SHORT
        line.short_reason = reason
        line.updated_at = utcnow()
        for r in reservations.for_owner(OWNER_BIN, line.id):
            if r.qty > 0:
                reservations.release(r)
        db.session.execute(
            update(OrderLine).where(OrderLine.id == line.order_line_id)
            .values(qty_backorder=OrderLine.qty_backorder + missing).execution_options(synchronize_session=False)
        )
        db.session.add(PickEvent(pick_line_id=line.id, kind="short", qty=missing, location_id=line.location_id,
                                 user_id=user_id, note=reason, created_at=utcnow()))
        closed += 1
    _after_change(pick_list)
    return closed


def ship(pick_list: PickList, *, user_id: int | None, idempotency_key: str | None = None) -> list[StockMove]:
    """Move everything a complete list picked from the outbound location to where each order goes:
    the customer (sale), its production location or its destination's transit location."""
    pick_list = _lock_list(pick_list)
    if pick_list.status is PickListStatus.SHIPPED:
        raise WrongState(_l("Pick list %(number)s has already been shipped.", number=pick_list.number))
    if pick_list.status is not PickListStatus.PICKED:
        raise WrongState(_l("Pick list %(number)s still has lines to pick.", number=pick_list.number))
    moves = []
    customer = None
    for line in pick_list.lines:
        db.session.refresh(line)
        if line.qty_picked <= line.qty_shipped:
            continue
        order = line.order_line.order
        if order.kind is OrderKind.SALE:
            customer = customer or virtual_location(LocationType.CUSTOMER)
            dest, move_type = customer, MoveType.ISSUE
        else:
            dest = order.destination
            move_type = MoveType.ISSUE if order.kind is OrderKind.PRODUCTION else MoveType.TRANSFER
        for r in reservations.for_owner(OWNER_OUT, line.id):
            if r.qty > 0:
                moves.append(reservations.consume(r, r.qty, to_location=dest, type=move_type, user_id=user_id,
                                                  document=(DOCUMENT_TYPE, pick_list.number), reason=order.number))
        shipped = line.qty_picked - line.qty_shipped
        line.qty_shipped = line.qty_picked
        db.session.execute(
            update(OrderLine).where(OrderLine.id == line.order_line_id)
            .values(qty_shipped=OrderLine.qty_shipped + shipped).execution_options(synchronize_session=False)
        )
        db.session.add(PickEvent(pick_line_id=line.id, kind="ship", qty=shipped, location_id=dest.id,
                                 user_id=user_id, created_at=utcnow()))
    pick_list.status = PickListStatus.SHIPPED
    pick_list.shipped_at = utcnow()
    db.session.flush()
    for order in pick_list.orders:
        _refresh_order(order)
    db.session.flush()
    return moves


def _after_change(pick_list: PickList) -> None:
    """List and order statuses after a pick or short pick (the list row is locked by the caller)."""
    db.session.flush()
    open_lines = db.session.execute(
        select(func.count(PickLine.id)).where(PickLine.pick_list_id == pick_list.id,
                                             PickLine.status == PickLineStatus.OPEN)
    ).scalar_one()
    if open_lines == 0:
        pick_list.status = PickListStatus.PICKED
        pick_list.picked_at = utcnow()
    else:
        pick_list.status = PickListStatus.PICKING
    db.session.flush()
    for order in pick_list.orders:
        _refresh_order(order)


def _refresh_order(order: Order) -> None:
    """An order's status from its pick lines: released while any is open, picked when all are done
    but some not shipped, shipped when everything picked has shipped."""
    db.session.flush()
    order = db.session.execute(
        select(Order).where(Order.id == order.id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()
    if order.status is OrderStatus.CANCELLED:
        return
    rows = db.session.execute(
        select(PickLine.status, PickLine.qty_picked, PickLine.qty_shipped)
        .join(OrderLine, OrderLine.id == PickLine.order_line_id).where(OrderLine.order_id == order.id)
    ).all()
    if not rows:
        return
    if any(s == PickLineStatus.OPEN for s, _p, _sh in rows):
        order.status = OrderStatus.RELEASED
    elif any(p > sh for _s, p, sh in rows):
        order.status = OrderStatus.PICKED
    else:
        order.status = OrderStatus.SHIPPED
        order.shipped_at = order.shipped_at or utcnow()


# --- reading ----------------------------------------------------------------------------------


def line_reservation(line: PickLine) -> tuple[Decimal, Decimal]:
    """(units reserved for the line in its bin, units a count cut from that reservation)."""
    rows = reservations.for_owner(OWNER_BIN, line.id)
    return (sum((r.qty for r in rows), Decimal(0)), sum((r.cut for r in rows), Decimal(0)))


def shortage(line: PickLine) -> Decimal:
    """Units the line still needs that are not reserved for it (a count found less)."""
    if line.done:
        return Decimal(0)
    reserved, _cut = line_reservation(line)
    return max(Decimal(0), line.remaining - reserved)


def events(pick_list: PickList) -> list[PickEvent]:
    return list(db.session.execute(
        select(PickEvent).join(PickLine).where(PickLine.pick_list_id == pick_list.id).order_by(PickEvent.id.desc())
    ).scalars())


def open_flags(limit: int = 500) -> list[LocationCountFlag]:
    return list(db.session.execute(
        select(LocationCountFlag).where(LocationCountFlag.cleared_at.is_(None))
        .order_by(LocationCountFlag.id.desc()).limit(limit)
    ).scalars())


def clear_flag(flag_id: int, *, user_id: int | None) -> None:
    """Clear an open flag; clearing one already cleared is a no-op, an unknown id is NotFound."""
    if db.session.get(LocationCountFlag, flag_id) is None:
        raise NotFound(_l("No such flagged location."))
    db.session.execute(
        update(LocationCountFlag).where(LocationCountFlag.id == flag_id, LocationCountFlag.cleared_at.is_(None))
        .values(cleared_at=utcnow(), cleared_by_id=user_id).execution_options(synchronize_session=False)
    )


def lot_number_of(lot_id: int | None) -> str | None:
    lot = db.session.get(Lot, lot_id) if lot_id else None
    return lot.number if lot else None


# --- import -----------------------------------------------------------------------------------


def import_orders(rows, *, user_id: int | None) -> list[Order]:
    """Orders from table rows (dicts with order/number, customer, sku, qty, and optional kind,
    warehouse, destination); rows with the same order number make one order. The whole import is
    one change: an error names its row and nothing is saved."""
    groups: dict[str, dict] = {}
    for n, row in enumerate(rows, start=2):
        row = {str(k).strip().lower(): ("" if v is None else str(v).strip()) for k, v in row.items() if k}
        if not any(row.values()):
            continue
        number = row.get("order") or row.get("number") or ""
        if not number:
            raise OrderError(_l("Row %(row)s: the order number is missing.", row=n))
        g = groups.setdefault(number.upper(), {"number": number, "customer": row.get("customer"),
                                               "kind": row.get("kind") or "sale",
                                               "warehouse": row.get("warehouse") or None,
                                               "destination": row.get("destination") or None, "lines": []})
        if not row.get("sku") or not row.get("qty"):
            raise OrderError(_l("Row %(row)s: sku and qty are required.", row=n))
        qty = row["qty"]
        if qty.endswith(".0"):
            qty = qty[:-2]
        g["lines"].append(LineSpec(row["sku"], qty))
    if not groups:
        raise OrderError(_l("The file has no order rows."))
    return [create_order(user_id=user_id, **g) for g in groups.values()]


def read_table(filename: str, data: bytes) -> list[dict]:
    """Rows of a CSV (UTF-8, with or without BOM) or XLSX file as dicts keyed by the header row."""
    import csv
    import io

    if filename.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).active
        except Exception as exc:  # noqa: BLE001 - any unreadable workbook
            raise OrderError(_l("The file is not a readable XLSX workbook.")) from exc
        values = list(sheet.iter_rows(values_only=True))
        if not values:
            return []
        header = [str(h or "").strip() for h in values[0]]
        return [dict(zip(header, row, strict=False)) for row in values[1:]]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise OrderError(_l("The CSV file must be UTF-8 text.")) from None
    return list(csv.DictReader(io.StringIO(text)))
