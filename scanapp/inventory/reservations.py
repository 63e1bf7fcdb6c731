"""Reservations: units of a balance promised to one owner (a pick-list line), so that two pick lists
never promise the same units.

Invariants (tested with real threads on PostgreSQL):
- ``StockBalance.reserved`` is the sum of the balance's `Reservation` rows, and the database keeps
  0 <= reserved <= qty (check constraints).
- Reserving is one guarded UPDATE (``… SET reserved = reserved + :q WHERE … AND qty - reserved >= :q``):
  two releases racing for the last units cannot both succeed — the second waits for the row lock and
  then matches no row.
- Ordinary moves take only available units (the ledger's guard is ``qty - reserved >= :q``); a pick
  consumes its reservation and the stock in one UPDATE (`consume`); releasing gives the units back.
- A count adjustment that finds less than is reserved still posts; the ledger cuts ``reserved`` to the
  new qty and calls `trim`, which cuts that balance's reservations, newest first, recording the cut
  (``Reservation.cut``) so the owner can show the shortage.
Functions here flush but never commit.
"""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from ..clock import utcnow
from ..extensions import db
from . import ledger
from .errors import InsufficientStock
from .models import Location, MoveType, Reservation, StockBalance, StockMove


class NotAvailable(InsufficientStock):
    code = "not_available"


def _fmt(value: Decimal) -> str:
    return ledger._fmt(value)


def available(item_id: int, location_id: int, lot_id: int | None) -> Decimal:
    """On hand − reserved of one balance (0 when there is none)."""
    row = db.session.execute(
        select(StockBalance.qty - StockBalance.reserved).where(*ledger._balance_filter(item_id, location_id, lot_id))
    ).scalar_one_or_none()
    return Decimal(row) if row is not None else Decimal(0)


def reserve(item_id: int, location_id: int, lot_id: int | None, qty: Decimal, owner: tuple[str, int]) -> Reservation:
    """Reserve ``qty`` units of one balance for ``owner`` (added to its reservation there, if any).

    One guarded UPDATE; raises NotAvailable (409) when fewer than ``qty`` units are available.
    """
    if qty <= 0:
        raise ValueError("qty must be positive")
    balance_id = db.session.execute(
        update(StockBalance)
        .where(*ledger._balance_filter(item_id, location_id, lot_id), StockBalance.qty - StockBalance.reserved >= qty)
        .values(reserved=StockBalance.reserved + qty)
        .returning(StockBalance.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if balance_id is None:
        raise NotAvailable(
            _l("Not enough stock available here: %(qty)s needed, %(available)s available.",
               qty=_fmt(qty), available=_fmt(available(item_id, location_id, lot_id))),
            location_id=location_id, item_id=item_id, lot_id=lot_id, needed=qty,
        )
    ledger._insert_ignore(Reservation, {"balance_id": balance_id, "owner_type": owner[0], "owner_id": owner[1],
                                        "qty": Decimal(0), "cut": Decimal(0), "created_at": utcnow()})
    res_id = db.session.execute(
        update(Reservation)
        .where(Reservation.balance_id == balance_id, Reservation.owner_type == owner[0],
               Reservation.owner_id == owner[1])
        .values(qty=Reservation.qty + qty)
        .returning(Reservation.id)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return _fresh(res_id)


def _fresh(res_id: int) -> Reservation:
    return db.session.execute(
        select(Reservation).where(Reservation.id == res_id).execution_options(populate_existing=True)
    ).scalar_one()


def lock_candidates(item_ids, location_ids=None):
    """Lock (PostgreSQL: FOR UPDATE) the balances of these items, in the ledger's lock order, and
    return them with their available units. SQLite's BEGIN IMMEDIATE already serialises writers."""
    stmt = (
        select(StockBalance)
        .where(StockBalance.item_id.in_(sorted(set(item_ids))), StockBalance.qty > StockBalance.reserved)
        .order_by(StockBalance.location_id, StockBalance.item_id, StockBalance.lot_id.nulls_first())
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if location_ids is not None:
        stmt = stmt.where(StockBalance.location_id.in_(sorted(set(location_ids))))
    return list(db.session.execute(stmt).scalars())


def release(reservation: Reservation, qty: Decimal | None = None) -> Decimal:
    """Give back ``qty`` (default: all) of a reservation's units; returns how many were released."""
    reservation = _fresh(reservation.id)
    qty = reservation.qty if qty is None else min(qty, reservation.qty)
    if qty <= 0:
        return Decimal(0)
    done = db.session.execute(
        update(Reservation).where(Reservation.id == reservation.id, Reservation.qty >= qty)
        .values(qty=Reservation.qty - qty).execution_options(synchronize_session=False)
    ).rowcount
    if done != 1:
        raise NotAvailable(_l("The reservation changed meanwhile; try again."))
    db.session.execute(
        update(StockBalance).where(StockBalance.id == reservation.balance_id, StockBalance.reserved >= qty)
        .values(reserved=StockBalance.reserved - qty).execution_options(synchronize_session=False)
    )
    return qty


def consume(
    reservation: Reservation,
    qty: Decimal,
    *,
    to_location: Location,
    type: MoveType,
    user_id: int | None,
    document: tuple[str, str] | None = None,
    reason: str = "",
    idempotency_key: str | None = None,
) -> StockMove:
    """Move ``qty`` reserved units out of the reservation's balance to ``to_location``.

    When the reservation holds fewer than ``qty`` (a count cut it, or the worker takes more of this
    balance), the missing units are reserved first if they are available; otherwise NotAvailable.
    The balance's qty and reserved drop in one UPDATE (`ledger.post_move` with ``consume_reserved``).
    """
    reservation = _fresh(reservation.id)
    balance = db.session.get(StockBalance, reservation.balance_id)
    if reservation.qty < qty:
        reserve(balance.item_id, balance.location_id, balance.lot_id, qty - reservation.qty,
                (reservation.owner_type, reservation.owner_id))
    done = db.session.execute(
        update(Reservation).where(Reservation.id == reservation.id, Reservation.qty >= qty)
        .values(qty=Reservation.qty - qty).execution_options(synchronize_session=False)
    ).rowcount
    if done != 1:
        raise NotAvailable(_l("The reservation changed meanwhile; try again."))
    return ledger.post_move(
        type=type, item=balance.item, qty=qty, from_location=balance.location, to_location=to_location,
        lot=balance.lot, user_id=user_id, document=document, reason=reason, idempotency_key=idempotency_key,
        consume_reserved=qty,
    )


def trim(keys) -> None:
    """Cut the reservations of each (item_id, location_id, lot_id) balance, newest first, down to the
    balance's ``reserved`` (which an adjustment has just lowered); the cut is kept on each row."""
    for item_id, location_id, lot_id in keys:
        balance = db.session.execute(
            select(StockBalance).where(*ledger._balance_filter(item_id, location_id, lot_id))
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if balance is None:
            continue
        rows = list(db.session.execute(
            select(Reservation).where(Reservation.balance_id == balance.id, Reservation.qty > 0)
            .order_by(Reservation.id.desc()).with_for_update().execution_options(populate_existing=True)
        ).scalars())
        excess = sum((r.qty for r in rows), Decimal(0)) - balance.reserved
        for row in rows:
            if excess <= 0:
                break
            take = min(row.qty, excess)
            row.qty -= take
            row.cut += take
            excess -= take
    db.session.flush()


def for_owner(owner_type: str, owner_id: int) -> list[Reservation]:
    return list(db.session.execute(
        select(Reservation).where(Reservation.owner_type == owner_type, Reservation.owner_id == owner_id)
        .order_by(Reservation.id).execution_options(populate_existing=True)
    ).scalars())
