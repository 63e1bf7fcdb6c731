"""The stock ledger: the only code that writes moves and balances.

Invariants (tested with real threads on PostgreSQL and SQLite):
- Every change of stock is one append-only StockMove; balances change in the same transaction.
- A balance in a physical location never goes below zero. The check is inside the UPDATE
  statement (``… WHERE qty >= :qty``), so two workers taking the last unit at once cannot both
  succeed: the second UPDATE waits for the first row lock and then matches no row.
- A balance row exists before it is incremented (INSERT … ON CONFLICT DO NOTHING), so two first
  receipts into an empty (item, location, lot) end as one row holding the sum.
- Balances touched by one move are updated in a fixed order (location id, then item, then lot),
  so opposite transfers cannot deadlock each other.
- A correction is a new reversing move; the unique index on ``reverses_id`` posts it once.
- Reserved units (``StockBalance.reserved``, promised to pick lists) are not available to ordinary
  moves: their guard is ``qty - reserved >= :qty``. A move that consumes a reservation
  (``consume_reserved``, only `inventory.reservations` passes it) lowers qty and reserved in the same
  UPDATE. An adjustment (a count found less) is the truth about the shelf and always posts; where it
  takes qty below reserved, reserved is cut to qty in the same UPDATE and the reservations of that
  balance are cut to match (`reservations.trim`), newest first.
Functions here flush but never commit: the request (or CLI command) commits once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, bindparam, case, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from ..clock import utcnow
from ..extensions import db
from .errors import AlreadyReversed, InsufficientStock, InvalidMove, NotFound
from .models import Item, Location, Lot, MoveType, StockBalance, StockMove
from .quantities import parse_quantity


@dataclass(frozen=True)
class BalanceChange:
    item_id: int
    location_id: int
    lot_id: int | None
    delta: Decimal

    @property
    def order_key(self):
        return (self.location_id, self.item_id, self.lot_id or 0)


def _insert_ignore(model, values: dict) -> None:
    """INSERT … ON CONFLICT DO NOTHING on either database."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(insert(model).values(**values).on_conflict_do_nothing())


def _balance_filter(item_id: int, location_id: int, lot_id: int | None):
    lot_clause = StockBalance.lot_id.is_(None) if lot_id is None else StockBalance.lot_id == lot_id
    return (StockBalance.item_id == item_id, StockBalance.location_id == location_id, lot_clause)


def _balance_statements():
    """The statements `_apply` runs, built once with bind parameters (building a statement on
    every scan costs about as much as running it): for a balance without and with a lot, the
    row-creating insert, the increment and three guarded decrements, each returning the new qty and reserved:

    - ``take``: only available units (qty − reserved) — every ordinary move;
    - ``consume``: a pick taking its own reservation (``b_consume``) with the stock;
    - ``cut``: an adjustment, which may take reserved units, cutting reserved down to the new qty.
    """
    balances = StockBalance.__table__
    c = balances.c
    qty, now, consume = bindparam("b_qty"), bindparam("b_now"), bindparam("b_consume")
    built = {}
    for has_lot in (False, True):
        where = (c.item_id == bindparam("b_item"), c.location_id == bindparam("b_location"),
                 c.lot_id == bindparam("b_lot") if has_lot else c.lot_id.is_(None))
        built[has_lot] = {
            "take": update(balances).where(*where, c.qty - c.reserved >= qty)
            .values(qty=c.qty - qty, updated_at=now).returning(c.qty, c.reserved),
            "consume": update(balances)
            .where(*where, c.qty >= qty, c.reserved >= consume, c.qty - c.reserved >= qty - consume)
            .values(qty=c.qty - qty, reserved=c.reserved - consume, updated_at=now).returning(c.qty, c.reserved),
            "cut": update(balances).where(*where, c.qty >= qty)
            .values(qty=c.qty - qty, updated_at=now,
                    reserved=case((c.reserved > c.qty - qty, c.qty - qty), else_=c.reserved))
            .returning(c.qty, c.reserved),
            "add": update(balances).where(*where)
            .values(qty=c.qty + qty, updated_at=now).returning(c.qty, c.reserved),
        }
    for dialect, insert_ in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert)):
        built[dialect] = insert_(balances).on_conflict_do_nothing()
    return built


_BALANCE_SQL = _balance_statements()


def _apply(change: BalanceChange, *, consume: Decimal | None = None, cut: bool = False) -> tuple[Decimal, Decimal]:
    """Apply one balance change in one guarded statement; returns the balance's (qty, reserved) afterwards.

    A decrease takes only available units (qty − reserved), or with ``consume`` lowers reserved by
    that much as well (the reservation is being picked), or with ``cut`` (an adjustment) may take
    reserved units, cutting reserved down to the new qty.

    Plain Core statements on the session's connection (after an explicit autoflush): this runs
    on every scan, and the ORM's bulk-update path costs more than the statement itself.
    """
    now = utcnow()
    db.session.flush()
    conn = db.session.connection()
    sql = _BALANCE_SQL[change.lot_id is not None]
    params = {"b_item": change.item_id, "b_location": change.location_id, "b_now": now}
    if change.lot_id is not None:
        params["b_lot"] = change.lot_id
    if change.delta > 0:
        conn.execute(_BALANCE_SQL[conn.dialect.name], {
            "item_id": change.item_id, "location_id": change.location_id, "lot_id": change.lot_id,
            "qty": Decimal(0), "updated_at": now})
        return tuple(conn.execute(sql["add"], {**params, "b_qty": change.delta}).one())
    needed = -change.delta
    params["b_qty"] = needed
    if consume is not None:
        row = conn.execute(sql["consume"], {**params, "b_consume": consume}).first()
    else:
        row = conn.execute(sql["cut" if cut else "take"], params).first()
    if row is None:
        raise InsufficientStock(
            _l("Not enough stock: %(qty)s needed at this location.", qty=_fmt(needed)),
            location_id=change.location_id,
            item_id=change.item_id,
            lot_id=change.lot_id,
            needed=needed,
        )
    return tuple(row)


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


def get_or_create_lot(item: Item, number: str, expiry: date | None = None) -> Lot:
    """Find the item's lot ``number`` or create it (race-safe); expiry must agree when both known."""
    number = number.strip()
    if not number or len(number) > 60:
        raise InvalidMove(_l("A lot number must be 1 to 60 characters."))
    _insert_ignore(Lot, {"item_id": item.id, "number": number, "expiry": expiry, "created_at": utcnow()})
    lot = db.session.execute(select(Lot).where(Lot.item_id == item.id, Lot.number == number)).scalar_one()
    if expiry is not None and lot.expiry is None:
        lot.expiry = expiry
    elif expiry is not None and lot.expiry != expiry:
        raise InvalidMove(
            _l("Lot %(lot)s already has expiry %(expiry)s.", lot=number, expiry=lot.expiry.isoformat())
        )
    return lot


_INSERT_MOVE = insert(StockMove.__table__).returning(StockMove.__table__.c.id)
# Only for a move inserted a moment ago in the same transaction whose balances were refused.
_DELETE_MOVE = delete(StockMove.__table__).where(StockMove.__table__.c.id == bindparam("move_id"))


def post_move(
    *,
    type: MoveType,
    item: Item,
    qty,
    from_location: Location,
    to_location: Location,
    lot: Lot | None = None,
    unit_cost: Decimal | None = None,
    user_id: int | None = None,
    document: tuple[str, str] | None = None,
    reason: str = "",
    idempotency_key: str | None = None,
    reverses: StockMove | None = None,
    consume_reserved: Decimal | None = None,
) -> StockMove:
    """Post one move and update the balances it touches; return the flushed move.

    Raises InvalidQuantity, InvalidMove (same location, lot missing or of another item, inactive
    location) or InsufficientStock (the source would go below its reserved units, or below zero
    for an adjustment). Nothing is written when it raises — the caller's transaction is rolled
    back by the request. ``consume_reserved`` (for `inventory.reservations` only): this much of
    the source's reserved units is taken by the move.
    """
    qty = parse_quantity(qty, whole_units=item.whole_units)
    if from_location.id == to_location.id:
        raise InvalidMove(_l("The source and the destination are the same location."))
    if from_location.is_virtual and to_location.is_virtual:
        raise InvalidMove(_l("A move needs a real warehouse location on at least one side."))
    if reverses is None:
        for loc in (from_location, to_location):
            if not loc.active:
                raise InvalidMove(_l("Location %(code)s is not in use.", code=loc.code))
    if item.lot_tracked and lot is None:
        raise InvalidMove(_l("%(sku)s is lot-tracked: give the lot.", sku=item.sku))
    if lot is not None and lot.item_id != item.id:
        raise InvalidMove(_l("Lot %(lot)s belongs to another item.", lot=lot.number))

    lot_id = lot.id if lot is not None else None
    values = {
        "type": type,
        "item_id": item.id,
        "lot_id": lot_id,
        "from_location_id": from_location.id,
        "to_location_id": to_location.id,
        "qty": qty,
        "unit_cost": item.unit_cost if unit_cost is None else unit_cost,
        "user_id": user_id,
        "document_type": document[0] if document else None,
        "document_id": document[1] if document else None,
        "reason": reason,
        "idempotency_key": idempotency_key,
        "reverses_id": reverses.id if reverses is not None else None,
        "created_at": utcnow(),
    }
    # The move first, the balances last: a guarded UPDATE locks its balance row until the request
    # commits, and every scan of the same item at the same place queues behind that lock. Inserting
    # the move before it takes a round trip out of the time the row is held (docs/benchmarks.md).
    # One INSERT … RETURNING id, then the row joins the session as already persistent: this runs
    # on every scan, and the ORM's unit of work costs several times the statement itself.
    db.session.flush()
    conn = db.session.connection()
    try:
        move_id = conn.execute(_INSERT_MOVE, values).scalar_one()
    except IntegrityError as exc:
        if reverses is not None:
            raise AlreadyReversed(_l("This move has already been reversed.")) from exc
        raise
    # The object too is built before the balances: less Python while the row is held (see above).
    move = StockMove(id=move_id, **values)
    make_transient_to_detached(move)
    db.session.add(move)
    # The session holds loaded rows weakly: without these references, reading move.item or a
    # location for the response would load it again.
    for name, value in (("item", item), ("lot", lot), ("from_location", from_location),
                        ("to_location", to_location)):
        set_committed_value(move, name, value)
    changes = []
    if not from_location.is_virtual:
        changes.append(BalanceChange(item.id, from_location.id, lot_id, -qty))
    if not to_location.is_virtual:
        changes.append(BalanceChange(item.id, to_location.id, lot_id, qty))
    cut = type is MoveType.ADJUSTMENT
    resulting = {}
    try:
        for change in sorted(changes, key=lambda c: c.order_key):
            taking = change.delta < 0
            resulting[change.location_id] = _apply(change, consume=consume_reserved if taking else None,
                                                   cut=cut and taking)
    except InsufficientStock:
        # Nothing is written when post_move raises: the move no other transaction has seen goes.
        conn.execute(_DELETE_MOVE, {"move_id": move_id})
        db.session.expunge(move)
        raise
    if cut and not from_location.is_virtual:
        from . import reservations

        reservations.trim([(item.id, from_location.id, lot_id)])
    move.resulting_balances = resulting
    return move


def reverse_move(move_id: int, *, user_id: int | None, reason: str = "", idempotency_key: str | None = None):
    """Post the reversing move of ``move_id`` (to → from, same item, lot, qty and cost).

    Raises NotFound, AlreadyReversed (also when another request reversed it a moment ago), or
    InsufficientStock when the stock has since left the destination.
    """
    # Lock the original first: two reversals of one move at once queue here, and the second then
    # sees the first's reversal (AlreadyReversed), not the stock it already took (InsufficientStock).
    move = db.session.execute(
        select(StockMove).where(StockMove.id == move_id).with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if move is None:
        raise NotFound(_l("No such move."))
    if move.reverses_id is not None:
        raise InvalidMove(_l("A reversing move cannot itself be reversed; post a new move instead."))
    already = db.session.execute(select(StockMove.id).where(StockMove.reverses_id == move.id)).first()
    if already:
        raise AlreadyReversed(_l("This move has already been reversed."))
    return post_move(
        type=move.type,
        item=move.item,
        qty=move.qty,
        from_location=move.to_location,
        to_location=move.from_location,
        lot=move.lot,
        unit_cost=move.unit_cost,
        user_id=user_id,
        document=(move.document_type, move.document_id) if move.document_type else None,
        reason=reason or f"reverses #{move.id}",
        idempotency_key=idempotency_key,
        reverses=move,
    )


@dataclass(frozen=True)
class MoveSpec:
    """One move of a `post_moves` batch; the fields mean what `post_move`'s arguments mean."""

    type: MoveType
    item: Item
    qty: Decimal | int | str
    from_location: Location
    to_location: Location
    lot: Lot | None = None
    unit_cost: Decimal | None = None
    reason: str = ""


_BULK_CHUNK = 500  # locations per locking SELECT: well inside every database's bind-parameter limit


def _checked_qty(spec: MoveSpec) -> Decimal:
    """`post_move`'s checks for one spec (same messages); returns the parsed quantity."""
    qty = parse_quantity(spec.qty, whole_units=spec.item.whole_units)
    if spec.from_location.id == spec.to_location.id:
        raise InvalidMove(_l("The source and the destination are the same location."))
    if spec.from_location.is_virtual and spec.to_location.is_virtual:
        raise InvalidMove(_l("A move needs a real warehouse location on at least one side."))
    for loc in (spec.from_location, spec.to_location):
        if not loc.active:
            raise InvalidMove(_l("Location %(code)s is not in use.", code=loc.code))
    if spec.item.lot_tracked and spec.lot is None:
        raise InvalidMove(_l("%(sku)s is lot-tracked: give the lot.", sku=spec.item.sku))
    if spec.lot is not None and spec.lot.item_id != spec.item.id:
        raise InvalidMove(_l("Lot %(lot)s belongs to another item.", lot=spec.lot.number))
    return qty


def post_moves(
    specs,
    *,
    user_id: int | None = None,
    document: tuple[str, str] | None = None,
) -> list[int]:
    """Post a batch of moves as one and return their ids, in the order of ``specs``.

    For large batches such as a stocktake's thousands of adjustments, where `post_move` per move
    would cost several round trips each. The ledger's invariants hold as for `post_move`:

    - Every spec is checked as `post_move` checks it (InvalidQuantity, InvalidMove) before anything
      is written. Reversals and idempotency keys are not supported here: use `post_move`.
    - The batch is one change: balance deltas are summed per (item, location, lot), and a balance
      must be non-negative after the whole batch (not after each move of the list).
    - Balance rows that will grow are created first (INSERT … ON CONFLICT DO NOTHING); then every
      touched row is locked in the ledger's fixed order (location, item, lot) with SELECT … FOR
      UPDATE (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers), so a batch and
      single moves cannot wait on each other in a cycle.
    - A balance that would go below zero raises InsufficientStock naming the location, the SKU and
      the lot (details: location_id, item_id, lot_id, needed, on_hand); nothing has been written to
      the moves and the caller's transaction must be rolled back (the request does that).
    - Each balance changes in one guarded UPDATE (``… WHERE qty + delta >= 0``, checked by row
      count), so even a code path that skipped the lock could not take a balance below zero.
    - The moves are inserted with one multi-row INSERT; they are append-only as ever.

    Flushes (pending ORM changes, e.g. a new lot, first), never commits. Balances already loaded
    in the session are not refreshed.
    """
    specs = list(specs)
    if not specs:
        return []
    now = utcnow()
    deltas: dict[tuple[int, int, int | None], Decimal] = {}
    labels: dict[tuple[int, int, int | None], MoveSpec] = {}
    # Balances that only adjustments take from may lose reserved units (see the module docstring);
    # any other move taking from a balance must leave its reserved units alone.
    cuttable: dict[tuple[int, int, int | None], bool] = {}
    rows = []
    for spec in specs:
        qty = _checked_qty(spec)
        lot_id = spec.lot.id if spec.lot is not None else None
        for loc, sign in ((spec.from_location, -1), (spec.to_location, 1)):
            if not loc.is_virtual:
                key = (loc.id, spec.item.id, lot_id)  # the ledger's lock order: location, item, lot
                deltas[key] = deltas.get(key, Decimal(0)) + sign * qty
                labels.setdefault(key, spec)
                if sign < 0:
                    cuttable[key] = cuttable.get(key, True) and spec.type is MoveType.ADJUSTMENT
        rows.append({
            "type": spec.type, "item_id": spec.item.id, "lot_id": lot_id,
            "from_location_id": spec.from_location.id, "to_location_id": spec.to_location.id, "qty": qty,
            "unit_cost": spec.item.unit_cost if spec.unit_cost is None else spec.unit_cost,
            "user_id": user_id, "document_type": document[0] if document else None,
            "document_id": document[1] if document else None, "reason": spec.reason, "reverses_id": None,
            "idempotency_key": None, "created_at": now,
        })
    db.session.flush()

    keys = sorted((k for k, d in deltas.items() if d != 0), key=lambda k: (k[0], k[1], k[2] or 0))
    balances = StockBalance.__table__
    growing = [k for k in keys if deltas[k] > 0]
    if growing:
        dialect = db.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        db.session.execute(
            insert(balances).on_conflict_do_nothing(),
            [{"location_id": k[0], "item_id": k[1], "lot_id": k[2], "qty": Decimal(0), "updated_at": now}
             for k in growing],
        )

    found: dict[tuple[int, int, int | None], tuple[int, Decimal, Decimal]] = {}
    wanted = set(keys)
    by_location: dict[int, set[int]] = {}
    for location_id, item_id, _lot_id in keys:
        by_location.setdefault(location_id, set()).add(item_id)
    # Locations in ascending chunks, each locked in (location, item, lot) order: the whole batch
    # locks in the ledger's order. A chunk may lock a few rows it does not change (an item of the
    # batch at another of the chunk's locations); that costs nothing but a short wait.
    chunks: list[tuple[list[int], set[int]]] = []
    for location_id in sorted(by_location):
        if not chunks or len(chunks[-1][0]) >= _BULK_CHUNK or len(chunks[-1][1]) >= 4 * _BULK_CHUNK:
            chunks.append(([], set()))
        chunks[-1][0].append(location_id)
        chunks[-1][1].update(by_location[location_id])
    for chunk, item_ids in chunks:
        locked = db.session.execute(
            select(balances.c.id, balances.c.location_id, balances.c.item_id, balances.c.lot_id, balances.c.qty,
                   balances.c.reserved)
            .where(balances.c.location_id.in_(chunk), balances.c.item_id.in_(sorted(item_ids)))
            .order_by(balances.c.location_id, balances.c.item_id, balances.c.lot_id.nulls_first())
            .with_for_update()
        )
        for row_id, location_id, item_id, lot_id, qty, reserved in locked:
            if (location_id, item_id, lot_id) in wanted:
                found[(location_id, item_id, lot_id)] = (row_id, Decimal(qty), Decimal(reserved))

    for key in keys:
        on_hand = found[key][1] if key in found else Decimal(0)
        floor = Decimal(0) if cuttable.get(key) else (found[key][2] if key in found else Decimal(0))
        if on_hand + deltas[key] < floor:
            spec = labels[key]
            loc = spec.from_location if spec.from_location.id == key[0] else spec.to_location
            needed = -deltas[key]
            raise InsufficientStock(
                _l("Not enough stock of %(sku)s at %(location)s: %(qty)s needed, %(on_hand)s on hand.",
                   sku=spec.item.sku + (f" ({spec.lot.number})" if spec.lot is not None else ""),
                   location=loc.code, qty=_fmt(needed), on_hand=_fmt(on_hand - floor)),
                location_id=key[0], item_id=key[1], lot_id=key[2], needed=needed, on_hand=on_hand,
            )

    if keys:
        delta = bindparam("b_delta", type_=balances.c.qty.type)
        cut = bindparam("b_cut", type_=Integer())
        # The floor is reserved (ordinary moves) or 0 (adjustments); reserved is cut to the new qty,
        # which changes nothing for ordinary moves (their guard kept qty + delta >= reserved).
        result = db.session.execute(
            update(balances)
            .where(balances.c.id == bindparam("b_id"),
                   balances.c.qty + delta >= case((cut == 1, 0), else_=balances.c.reserved))
            .values(qty=balances.c.qty + delta, updated_at=bindparam("b_now"),
                    reserved=case((balances.c.reserved > balances.c.qty + delta, balances.c.qty + delta),
                                  else_=balances.c.reserved)),
            [{"b_id": found[k][0], "b_delta": deltas[k], "b_now": now, "b_cut": 1 if cuttable.get(k) else 0}
             for k in keys],
        )
        if result.rowcount != len(keys):
            raise InsufficientStock(_l("Not enough stock for this move."))
        cut_keys = [(k[1], k[0], k[2]) for k in keys
                    if cuttable.get(k) and k in found and found[k][2] > found[k][1] + deltas[k]]
        if cut_keys:
            from . import reservations

            reservations.trim(cut_keys)

    moves = StockMove.__table__
    if db.session.get_bind().dialect.name == "postgresql":
        # Ids drawn from the sequence first, then a plain (pipelined) executemany: several times
        # faster than a RETURNING insert that must keep the parameters' order.
        ids = list(db.session.execute(
            select(func.nextval(func.pg_get_serial_sequence("stock_move", "id")))
            .select_from(func.generate_series(1, len(rows)))
        ).scalars())
        for row, move_id in zip(rows, ids, strict=True):
            row["id"] = move_id
        db.session.execute(moves.insert(), rows)
        return ids
    inserted = db.session.execute(moves.insert().returning(moves.c.id, sort_by_parameter_order=True), rows)
    return list(inserted.scalars())
