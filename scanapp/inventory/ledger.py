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
Functions here flush but never commit: the request (or CLI command) commits once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

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


def _apply(change: BalanceChange) -> None:
    now = utcnow()
    if change.delta > 0:
        _insert_ignore(
            StockBalance,
            {"item_id": change.item_id, "location_id": change.location_id, "lot_id": change.lot_id,
             "qty": Decimal(0), "updated_at": now},
        )
        db.session.execute(
            update(StockBalance)
            .where(*_balance_filter(change.item_id, change.location_id, change.lot_id))
            .values(qty=StockBalance.qty + change.delta, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return
    needed = -change.delta
    result = db.session.execute(
        update(StockBalance)
        .where(*_balance_filter(change.item_id, change.location_id, change.lot_id), StockBalance.qty >= needed)
        .values(qty=StockBalance.qty - needed, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise InsufficientStock(
            _l("Not enough stock: %(qty)s needed at this location.", qty=_fmt(needed)),
            location_id=change.location_id,
            item_id=change.item_id,
            lot_id=change.lot_id,
            needed=needed,
        )


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
) -> StockMove:
    """Post one move and update the balances it touches; return the flushed move.

    Raises InvalidQuantity, InvalidMove (same location, lot missing or of another item, inactive
    location) or InsufficientStock (the source would go below zero). Nothing is written when it
    raises — the caller's transaction is rolled back by the request.
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
    changes = []
    if not from_location.is_virtual:
        changes.append(BalanceChange(item.id, from_location.id, lot_id, -qty))
    if not to_location.is_virtual:
        changes.append(BalanceChange(item.id, to_location.id, lot_id, qty))
    for change in sorted(changes, key=lambda c: c.order_key):
        _apply(change)

    move = StockMove(
        type=type,
        item_id=item.id,
        lot_id=lot_id,
        from_location_id=from_location.id,
        to_location_id=to_location.id,
        qty=qty,
        unit_cost=item.unit_cost if unit_cost is None else unit_cost,
        user_id=user_id,
        document_type=document[0] if document else None,
        document_id=document[1] if document else None,
        reason=reason,
        idempotency_key=idempotency_key,
        reverses_id=reverses.id if reverses is not None else None,
        created_at=utcnow(),
    )
    db.session.add(move)
    try:
        db.session.flush()
    except IntegrityError as exc:
        if reverses is not None:
            raise AlreadyReversed(_l("This move has already been reversed.")) from exc
        raise
    return move


def reverse_move(move_id: int, *, user_id: int | None, reason: str = "", idempotency_key: str | None = None):
    """Post the reversing move of ``move_id`` (to → from, same item, lot, qty and cost).

    Raises NotFound, AlreadyReversed (also when another request reversed it a moment ago), or
    InsufficientStock when the stock has since left the destination.
    """
    move = db.session.get(StockMove, move_id)
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
