"""Reservations in the domain core: reserved units are promised, ordinary moves cannot take them, a pick
consumes them, a count that finds less cuts them (and says so)."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from scanapp.extensions import db
from scanapp.inventory import ledger, queries, reservations, services
from scanapp.inventory.errors import InsufficientStock
from scanapp.inventory.models import MoveType, Reservation, StockBalance


@pytest.fixture
def shelf(app, make_location, make_item, receive):
    make_location("WH1-A-01")
    make_location("WH1-A-02")
    make_item("R-1")
    receive("R-1", "WH1-A-01", 10)
    return app


def _ids(sku="R-1", code="WH1-A-01"):
    return queries.item_by_sku(sku).id, queries.location_by_code(code).id, None


def _bal(sku="R-1", code="WH1-A-01"):
    item_id, loc_id, _ = _ids(sku, code)
    b = db.session.execute(
        select(StockBalance).where(StockBalance.item_id == item_id, StockBalance.location_id == loc_id)
        .execution_options(populate_existing=True)
    ).scalar_one()
    return b.qty, b.reserved


def test_reserved_units_cannot_be_reserved_twice_or_issued(shelf):
    with shelf.app_context():
        reservations.reserve(*_ids(), Decimal(7), ("test", 1))
        with pytest.raises(reservations.NotAvailable) as exc:
            reservations.reserve(*_ids(), Decimal(4), ("test", 2))
        assert "3 available" in str(exc.value)
        with pytest.raises(InsufficientStock):
            services.move_stock(type="issue", sku="R-1", qty=4, from_location="WH1-A-01", user_id=None)
        with pytest.raises(InsufficientStock):
            services.move_stock(type="transfer", sku="R-1", qty=4, from_location="WH1-A-01",
                                to_location="WH1-A-02", user_id=None)
        with pytest.raises(InsufficientStock):
            services.move_stock(type="scrap", sku="R-1", qty=4, from_location="WH1-A-01", user_id=None)
        services.move_stock(type="issue", sku="R-1", qty=3, from_location="WH1-A-01", user_id=None)
        db.session.commit()
        assert _bal() == (Decimal(7), Decimal(7))


def test_bulk_moves_leave_reserved_units_alone(shelf):
    with shelf.app_context():
        reservations.reserve(*_ids(), Decimal(8), ("test", 1))
        item = queries.item_by_sku("R-1")
        a, b = queries.location_by_code("WH1-A-01"), queries.location_by_code("WH1-A-02")
        with pytest.raises(InsufficientStock) as exc:
            ledger.post_moves([ledger.MoveSpec(MoveType.TRANSFER, item, 3, a, b)])
        assert "2 on hand" in str(exc.value)
        db.session.rollback()


def test_consume_moves_stock_and_reservation_in_one_step(shelf):
    with shelf.app_context():
        res = reservations.reserve(*_ids(), Decimal(6), ("test", 1))
        move = reservations.consume(res, Decimal(4), to_location=queries.location_by_code("WH1-A-02"),
                                    type=MoveType.TRANSFER, user_id=None)
        db.session.commit()
        assert move.qty == 4
        assert _bal() == (Decimal(6), Decimal(2))
        assert _bal(code="WH1-A-02") == (Decimal(4), Decimal(0))
        assert reservations.for_owner("test", 1)[0].qty == 2
        assert reservations.release(reservations.for_owner("test", 1)[0]) == 2
        db.session.commit()
        assert _bal() == (Decimal(6), Decimal(0))


def test_consume_tops_up_from_available_units_or_refuses(shelf):
    with shelf.app_context():
        res = reservations.reserve(*_ids(), Decimal(2), ("test", 1))
        reservations.reserve(*_ids(), Decimal(7), ("test", 2))
        reservations.consume(res, Decimal(3), to_location=queries.location_by_code("WH1-A-02"),
                             type=MoveType.TRANSFER, user_id=None)
        assert _bal() == (Decimal(7), Decimal(7))
        with pytest.raises(InsufficientStock):
            reservations.consume(res, Decimal(1), to_location=queries.location_by_code("WH1-A-02"),
                                 type=MoveType.TRANSFER, user_id=None)
        db.session.rollback()


def test_count_adjustment_below_reserved_posts_and_cuts_the_newest_reservation(shelf):
    """A count is the truth about the shelf: the adjustment posts, reserved drops to what is there,
    and the newest reservation loses first; each cut is recorded for the pick line to show."""
    with shelf.app_context():
        reservations.reserve(*_ids(), Decimal(5), ("test", 1))
        reservations.reserve(*_ids(), Decimal(3), ("test", 2))
        services.move_stock(type="adjustment", sku="R-1", qty=6, from_location="WH1-A-01", user_id=None)
        db.session.commit()
        assert _bal() == (Decimal(4), Decimal(4))
        older, newer = reservations.for_owner("test", 1)[0], reservations.for_owner("test", 2)[0]
        assert (older.qty, older.cut) == (Decimal(4), Decimal(1))
        assert (newer.qty, newer.cut) == (Decimal(0), Decimal(3))


def test_bulk_count_adjustment_cuts_reservations_too(shelf):
    """The stocktake posts its adjustments with post_moves: the same rule holds there."""
    with shelf.app_context():
        reservations.reserve(*_ids(), Decimal(9), ("test", 1))
        item = queries.item_by_sku("R-1")
        adjust = services.virtual_location(services.LocationType.ADJUSTMENT)
        ledger.post_moves([ledger.MoveSpec(MoveType.ADJUSTMENT, item, 7, queries.location_by_code("WH1-A-01"),
                                           adjust)])
        db.session.commit()
        assert _bal() == (Decimal(3), Decimal(3))
        row = db.session.execute(select(Reservation)).scalar_one()
        assert (row.qty, row.cut) == (Decimal(3), Decimal(6))


def test_adjustment_within_available_keeps_reservations(shelf):
    with shelf.app_context():
        reservations.reserve(*_ids(), Decimal(5), ("test", 1))
        services.move_stock(type="adjustment", sku="R-1", qty=5, from_location="WH1-A-01", user_id=None)
        db.session.commit()
        assert _bal() == (Decimal(5), Decimal(5))
        assert reservations.for_owner("test", 1)[0].cut == 0


def test_database_refuses_reserved_above_qty(shelf):
    from sqlalchemy import update
    from sqlalchemy.exc import IntegrityError

    with shelf.app_context():
        with pytest.raises(IntegrityError):
            db.session.execute(update(StockBalance).values(reserved=StockBalance.qty + 1))
            db.session.flush()
        db.session.rollback()
