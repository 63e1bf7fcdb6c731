"""The ledger without HTTP: moves, balances, guards, lots, reversals."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from scanapp.extensions import db
from scanapp.inventory import ledger, queries, services
from scanapp.inventory.errors import AlreadyReversed, InsufficientStock, InvalidMove, InvalidQuantity
from scanapp.inventory.models import StockBalance, StockMove
from scanapp.inventory.quantities import parse_quantity


@pytest.fixture
def stocked(app, make_location, make_item, receive):
    make_location("WH1-A-01")
    make_location("WH1-A-02")
    make_item("BOLT", barcodes=["4006381333931"])
    receive("BOLT", "WH1-A-01", 10)
    return app


def test_receipt_creates_move_and_balance(stocked, balance, move_count):
    assert balance("BOLT", "WH1-A-01") == Decimal("10")
    assert move_count(type="receipt") == 1


def test_transfer_moves_between_locations(stocked, balance):
    with stocked.app_context():
        services.move_stock(type="transfer", sku="BOLT", qty="4", from_location="WH1-A-01",
                            to_location="WH1-A-02", user_id=None)
        db.session.commit()
    assert balance("BOLT", "WH1-A-01") == 6
    assert balance("BOLT", "WH1-A-02") == 4


def test_issue_more_than_on_hand_is_refused_and_writes_nothing(stocked, balance, move_count):
    with stocked.app_context():
        with pytest.raises(InsufficientStock):
            services.move_stock(type="issue", sku="BOLT", qty="11", from_location="WH1-A-01", user_id=None)
        db.session.rollback()
    assert balance("BOLT", "WH1-A-01") == 10
    assert move_count() == 1


def test_a_refused_move_leaves_nothing_in_a_transaction_that_goes_on(stocked, balance, runner):
    """`post_move` writes the move before its guarded balance UPDATE (the row lock is held for a
    shorter time); when the UPDATE refuses, the move must go again, even for a caller that catches
    the refusal and commits the rest of its work."""
    with stocked.app_context():
        with pytest.raises(InsufficientStock):
            services.move_stock(type="transfer", sku="BOLT", qty="11", from_location="WH1-A-01",
                                to_location="WH1-A-02", user_id=None)
        services.move_stock(type="issue", sku="BOLT", qty="3", from_location="WH1-A-01", user_id=None)
        db.session.commit()
        moves = db.session.execute(select(StockMove.type, StockMove.qty).order_by(StockMove.id)).all()
    assert [(m.type.value, m.qty) for m in moves] == [("receipt", 10), ("issue", 3)]
    assert balance("BOLT", "WH1-A-01") == 7
    assert balance("BOLT", "WH1-A-02") == 0
    result = runner.invoke(args=["ledger-check"])
    assert result.exit_code == 0, result.output


def test_issue_exactly_everything_leaves_zero(stocked, balance):
    with stocked.app_context():
        services.move_stock(type="issue", sku="BOLT", qty=10, from_location="WH1-A-01", user_id=None)
        db.session.commit()
        assert queries.stock(queries.StockFilter(item_id=queries.item_by_sku("BOLT").id)) == []
    assert balance("BOLT", "WH1-A-01") == 0


def test_database_refuses_negative_balance_even_when_code_is_bypassed(stocked):
    """Belt and braces: the CHECK constraint stops a negative balance whatever the code does."""
    from sqlalchemy import update
    from sqlalchemy.exc import IntegrityError

    with stocked.app_context():
        with pytest.raises(IntegrityError):
            db.session.execute(update(StockBalance).values(qty=Decimal("-1")))
            db.session.flush()
        db.session.rollback()


@pytest.mark.parametrize("raw", [0, -1, "0", "-1", "1e3", "NaN", "inf", "1.2345", True, None, [], 1.5, "١٢",
                                 "12abc", "", " ", Decimal("NaN"), Decimal("1e309"), 10**30])
def test_bad_quantities_are_refused(raw):
    with pytest.raises(InvalidQuantity):
        parse_quantity(raw)


@pytest.mark.parametrize("raw,expected", [(1, "1"), ("2.5", "2.5"), (Decimal("0.125"), "0.125"), ("  7 ", "7")])
def test_good_quantities(raw, expected):
    assert parse_quantity(raw) == Decimal(expected)


def test_whole_unit_items_refuse_fractions():
    with pytest.raises(InvalidQuantity):
        parse_quantity("1.5", whole_units=True)
    assert parse_quantity("1.5", whole_units=False) == Decimal("1.5")


def test_lot_tracked_item_needs_a_lot_and_keeps_lots_apart(app, make_location, make_item, receive, balance):
    make_location("WH1-B-01")
    make_item("TEA", lot_tracked=True, expiry_tracked=True)
    with app.app_context():
        with pytest.raises(InvalidMove):
            services.move_stock(type="receipt", sku="TEA", qty=1, to_location="WH1-B-01", user_id=None)
        db.session.rollback()
    from datetime import date

    receive("TEA", "WH1-B-01", 5, lot="L1", expiry=date(2027, 1, 31))
    receive("TEA", "WH1-B-01", 3, lot="L2", expiry=date(2027, 6, 30))
    assert balance("TEA", "WH1-B-01", "L1") == 5
    assert balance("TEA", "WH1-B-01", "L2") == 3
    with app.app_context():
        with pytest.raises(InvalidMove):  # same lot, other expiry
            services.move_stock(type="receipt", sku="TEA", qty=1, to_location="WH1-B-01", lot="L1",
                                expiry=date(2030, 1, 1), user_id=None)
        db.session.rollback()
        with pytest.raises(InvalidMove):  # expiry-tracked lot without a date
            services.move_stock(type="receipt", sku="TEA", qty=1, to_location="WH1-B-01", lot="L3", user_id=None)
        db.session.rollback()


def test_reverse_move_posts_the_opposite_once(stocked, balance):
    with stocked.app_context():
        move = services.move_stock(type="transfer", sku="BOLT", qty=3, from_location="WH1-A-01",
                                   to_location="WH1-A-02", user_id=None)
        db.session.commit()
        reversal = ledger.reverse_move(move.id, user_id=None)
        db.session.commit()
        assert reversal.reverses_id == move.id
        with pytest.raises(AlreadyReversed):
            ledger.reverse_move(move.id, user_id=None)
        db.session.rollback()
    assert balance("BOLT", "WH1-A-01") == 10
    assert balance("BOLT", "WH1-A-02") == 0


def test_move_records_unit_cost_user_and_document(app, make_location, make_item):
    make_location("WH1-C-01")
    make_item("OIL", unit_cost="12.5")
    with app.app_context():
        item = queries.item_by_sku("OIL")
        loc = queries.location_by_code("WH1-C-01")
        move = ledger.post_move(type="receipt", item=item, qty=2, from_location=services.virtual_location(
            services.LocationType.SUPPLIER), to_location=loc, document=("purchase_order", "PO-1"))
        db.session.commit()
        row = db.session.execute(select(StockMove).where(StockMove.id == move.id)).scalar_one()
        assert row.unit_cost == Decimal("12.5")
        assert (row.document_type, row.document_id) == ("purchase_order", "PO-1")


def test_same_location_and_virtual_to_virtual_are_refused(stocked):
    with stocked.app_context():
        with pytest.raises(InvalidMove):
            services.move_stock(type="transfer", sku="BOLT", qty=1, from_location="WH1-A-01",
                                to_location="WH1-A-01", user_id=None)
        db.session.rollback()
        item = queries.item_by_sku("BOLT")
        with pytest.raises(InvalidMove):
            ledger.post_move(type="receipt", item=item, qty=1,
                             from_location=services.virtual_location(services.LocationType.SUPPLIER),
                             to_location=services.virtual_location(services.LocationType.CUSTOMER))
        db.session.rollback()


def test_ledger_check_reports_a_tampered_balance(stocked, runner):
    result = runner.invoke(args=["ledger-check"])
    assert result.exit_code == 0, result.output
    from sqlalchemy import update

    with stocked.app_context():
        db.session.execute(update(StockBalance).values(qty=StockBalance.qty + 1))
        db.session.commit()
    result = runner.invoke(args=["ledger-check"])
    assert result.exit_code == 1
    assert "differ" in result.output
    with stocked.app_context():  # put it back so the after-test check passes
        db.session.execute(update(StockBalance).values(qty=StockBalance.qty - 1))
        db.session.commit()


def _writers_lock(app) -> str:
    """The SQLite writers' queue lock file of ``app``'s database (scanapp/db.py)."""
    return app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///") + "-writers.lock"


def _lock_is_free(path: str) -> bool:
    """Whether another process could take the writers' turn right now."""
    import fcntl
    import os

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_sqlite_writers_take_turns_and_every_turn_is_given_back(stocked, api_client, is_postgres, balance):
    """SQLite writers queue on a lock file before BEGIN IMMEDIATE (scanapp/db.py). A turn kept
    after a request would make every later write wait out the busy timeout: after a post, a
    refused post and a page view, another process can take the lock at once."""
    if is_postgres:
        pytest.skip("the writers' queue is SQLite's")
    import fcntl
    import os

    path = _writers_lock(stocked)
    worker = api_client("worker")
    body = {"type": "issue", "sku": "BOLT", "qty": "3", "from_location": "WH1-A-01"}
    assert worker.post("/moves", json=body, key="a").status_code == 201
    assert os.path.exists(path) and _lock_is_free(path)
    assert worker.post("/moves", json=dict(body, qty="30"), key="b").status_code == 409  # only 7 there
    assert _lock_is_free(path)
    assert worker.get("/stock?sku=BOLT").status_code == 200
    assert _lock_is_free(path)

    # The turn is really taken: while another process holds it, a write waits for it.
    import threading
    import time

    fd = os.open(path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    answers = []
    writer = threading.Thread(target=lambda: answers.append(worker.post("/moves", json=body, key="c").status_code))
    writer.start()
    time.sleep(0.3)
    assert answers == []  # (reading the balance here would queue too: outside a request, BEGIN IMMEDIATE)
    os.close(fd)
    writer.join(10)
    assert answers == [201] and balance("BOLT", "WH1-A-01") == 4 and _lock_is_free(path)


def test_a_sqlite_writer_that_waits_out_its_turn_goes_on_and_the_turn_is_given_back(
        stocked, api_client, is_postgres, balance, monkeypatch):
    """Another process keeps the lock file past the busy timeout (here 0.5 s): the write goes on to
    SQLite's own lock and posts; the turn it gave up is released the moment it arrives."""
    if is_postgres:
        pytest.skip("the writers' queue is SQLite's")
    import fcntl
    import os
    import sys
    import time

    monkeypatch.setattr(sys.modules["scanapp.db"], "BUSY_TIMEOUT_S", 0.5)
    path = _writers_lock(stocked)
    worker = api_client("worker")
    body = {"type": "issue", "sku": "BOLT", "qty": "1", "from_location": "WH1-A-01"}
    assert worker.post("/moves", json=body, key="first").status_code == 201
    fd = os.open(path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    started = time.monotonic()
    assert worker.post("/moves", json=body, key="waited").status_code == 201
    assert 0.45 < time.monotonic() - started < 5
    os.close(fd)  # the helper thread now gets the abandoned turn and must close it at once

    deadline = time.monotonic() + 5
    while not _lock_is_free(path):
        assert time.monotonic() < deadline, "the abandoned turn was never given back"
        time.sleep(0.01)
    started = time.monotonic()
    assert worker.post("/moves", json=body, key="after").status_code == 201
    assert time.monotonic() - started < 0.45  # no wait: the queue is free again
    assert balance("BOLT", "WH1-A-01") == 7
