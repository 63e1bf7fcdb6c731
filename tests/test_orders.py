"""Orders in the domain: kinds, numbering, FEFO/FIFO suggestions, imports, the CLI; and the races
(real threads, 20 repetitions): two releases for the last units reserve them once; workers picking
one line at once never exceed it."""

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from openpyxl import Workbook

from scanapp.clock import today
from scanapp.extensions import db
from scanapp.inventory import queries
from scanapp.orders import services
from scanapp.orders.errors import NothingToPick, OrderError, OverPick, WrongState
from scanapp.orders.models import OrderStatus, PickLine
from scanapp.web import run_in_transaction
from tests.conftest import race

REPEATS = 20


@pytest.fixture
def shop(app, make_location, make_item, receive):
    make_location("WH1-A-01")
    make_location("WH1-A-02")
    make_location("WH2-T-01", warehouse="WH2", type_="transit")
    make_location("WH1-P-01", type_="production")
    make_item("NUT")
    receive("NUT", "WH1-A-02", 5)  # older receipt
    receive("NUT", "WH1-A-01", 5)  # newer
    with app.app_context():
        services.create_customer("ACME", "Acme")
        db.session.commit()
    return app


def _release(*numbers):
    return services.release(list(numbers), user_id=None)


def test_fifo_for_items_without_lots_and_numbering(shop):
    with shop.app_context():
        o = services.create_order(customer="ACME", lines=[services.LineSpec("NUT", 7)], user_id=None)
        assert o.number == "SO-00001" and o.status is OrderStatus.OPEN
        pl = _release(o.number)
        assert pl.number == "PL-00001"
        assert [(ln.location.code, ln.qty) for ln in pl.lines] == [("WH1-A-01", 2), ("WH1-A-02", 5)]
        assert o.status is OrderStatus.RELEASED
        with pytest.raises(WrongState):
            _release(o.number)  # nothing left to release
        db.session.rollback()


def test_expired_lots_and_quarantine_are_never_suggested(shop, make_location, make_item, receive):
    make_location("WH1-Q-01", type_="quarantine")
    make_item("FISH", expiry_tracked=True)
    receive("FISH", "WH1-A-01", 5, lot="OLD", expiry=today() - timedelta(days=1))
    receive("FISH", "WH1-Q-01", 5, lot="QUAR", expiry=today() + timedelta(days=1))
    receive("FISH", "WH1-A-02", 2, lot="LATE", expiry=today() + timedelta(days=9))
    receive("FISH", "WH1-A-01", 2, lot="SOON", expiry=today() + timedelta(days=3))
    with shop.app_context():
        o = services.create_order(customer="ACME", lines=[services.LineSpec("FISH", 6)], user_id=None)
        pl = _release(o.number)
        assert [(ln.lot.number, ln.qty) for ln in pl.lines] == [("SOON", 2), ("LATE", 2)]
        assert o.lines[0].qty_backorder == 2
        db.session.commit()


def test_production_and_transfer_orders_ship_to_their_destination(shop, balance):
    with shop.app_context():
        mo = services.create_order(kind="production", destination="WH1-P-01", lines=[services.LineSpec("NUT", 2)],
                                   user_id=None)
        to = services.create_order(kind="transfer", destination="WH2-T-01", lines=[services.LineSpec("NUT", 3)],
                                   user_id=None, warehouse="WH1")
        assert (mo.number, to.number) == ("MO-00001", "TO-00002")
        with pytest.raises(OrderError):
            services.create_order(kind="transfer", destination="WH1-A-01", lines=[services.LineSpec("NUT", 1)],
                                  user_id=None)
        pl = _release(mo.number, to.number)
        for line in list(pl.lines):
            services.pick(pl, line.id, location=line.location.code, item_id=line.item_id, lot=None, qty=line.qty,
                          user_id=None)
        services.ship(pl, user_id=None)
        db.session.commit()
    assert balance("NUT", "WH1-P-01") == 2
    assert balance("NUT", "WH2-T-01") == 3
    with shop.app_context():
        assert services.get_order("MO-00001").status is OrderStatus.SHIPPED


def test_import_orders_csv_xlsx_and_cli(shop, runner, tmp_path):
    csv_file = tmp_path / "orders.csv"
    csv_file.write_text("order,customer,sku,qty\nSO-100,ACME,NUT,2\nSO-100,ACME,NUT,1\nSO-101,ACME,NUT,4\n",
                        encoding="utf-8")
    result = runner.invoke(args=["import-orders", str(csv_file)])
    assert result.exit_code == 0, result.output
    assert "SO-100, SO-101" in result.output
    wb = Workbook()
    ws = wb.active
    ws.append(["order", "customer", "sku", "qty"])
    ws.append(["SO-200", "ACME", "NUT", 3])
    xlsx = tmp_path / "orders.xlsx"
    wb.save(xlsx)
    result = runner.invoke(args=["import-orders", str(xlsx)])
    assert result.exit_code == 0, result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("order,customer,sku,qty\nSO-300,ACME,NOPE,1\n", encoding="utf-8")
    result = runner.invoke(args=["import-orders", str(bad)])
    assert result.exit_code != 0 and "NOPE" in result.output
    with shop.app_context():
        assert [ln.qty for ln in services.get_order("SO-100").lines] == [Decimal(2), Decimal(1)]
        assert services.get_order("so-200").lines[0].qty == 3
        assert len(services.list_orders()) == 3


def test_import_page(shop, page_client):
    import io

    boss = page_client("supervisor")
    data = {"file": (io.BytesIO(b"order,customer,sku,qty\nSO-9,ACME,NUT,1\n"), "o.csv")}
    r = boss.post("/orders/import", data=data, content_type="multipart/form-data")
    assert r.status_code == 303
    assert "SO-9" in boss.get("/orders").get_data(as_text=True)
    r = boss.post("/orders", data={"kind": "sale", "customer": "ACME", "lines": "NUT 2\nNUT x y"})
    assert r.status_code == 400
    r = boss.post("/orders", data={"kind": "sale", "customer": "ACME", "lines": "NUT 2"})
    assert r.status_code == 303
    r = boss.post("/orders/release", data={"order": ["SO-9"]})
    assert r.status_code == 303 and "/pick-lists/PL-00001" in r.headers["Location"]


@pytest.mark.race
def test_two_releases_for_the_last_units_reserve_them_once(shop, make_item, receive):
    for rep in range(REPEATS):
        sku = f"LAST-{rep}"
        make_item(sku)
        receive(sku, "WH1-A-01", 5)
        with shop.app_context():
            numbers = [services.create_order(customer="ACME", lines=[services.LineSpec(sku, 5)],
                                             user_id=None).number for _ in range(2)]
            db.session.commit()

        def attempt(i, numbers=numbers):
            with shop.app_context():
                try:
                    pl = run_in_transaction(services.release, [numbers[i]], user_id=None)
                    return ("released", pl.number)
                except NothingToPick:
                    return ("refused", None)
                finally:
                    db.session.remove()

        outcomes = Counter(kind for kind, _n in race(2, attempt))
        assert outcomes == Counter({"released": 1, "refused": 1}), outcomes
        with shop.app_context():
            b = queries.stock(queries.StockFilter(item_id=queries.item_by_sku(sku).id))[0]
            assert (b.qty, b.reserved) == (5, 5)
            lines = db.session.query(PickLine).filter(PickLine.item_id == b.item_id).all()
            assert sum(ln.qty for ln in lines) == 5
            db.session.remove()


@pytest.mark.race
def test_workers_picking_one_line_at_once_never_exceed_it(shop, make_item, receive, balance):
    for rep in range(REPEATS):
        sku = f"PICK-{rep}"
        make_item(sku)
        receive(sku, "WH1-A-01", 8)
        with shop.app_context():
            o = services.create_order(customer="ACME", lines=[services.LineSpec(sku, 5)], user_id=None)
            pl = _release(o.number)
            pl_id, line_id = pl.id, pl.lines[0].id
            db.session.commit()

        def attempt(_i, pl_id=pl_id, line_id=line_id, sku=sku):
            with shop.app_context():
                try:
                    pick_list = services.get_pick_list(pl_id)
                    run_in_transaction(services.pick, pick_list, line_id, location="WH1-A-01",
                                       item_id=queries.item_by_sku(sku).id, lot=None, qty=2, user_id=None)
                    return "picked"
                except (OverPick, WrongState):
                    return "refused"
                finally:
                    db.session.remove()

        outcomes = Counter(race(4, attempt))
        assert outcomes == Counter({"picked": 2, "refused": 2}), outcomes
        assert balance(sku, "WH1-A-01") == 4
        assert balance(sku, "WH1-OUTBOUND") == 4
        with shop.app_context():
            line = db.session.get(PickLine, line_id)
            assert (line.qty_picked, line.status.value) == (4, "open")
            db.session.remove()


def test_cancelling_open_lines_releases_their_reservations(shop, page_client, balance):
    with shop.app_context():
        o = services.create_order(customer="ACME", lines=[services.LineSpec("NUT", 7)], user_id=None)
        pl = _release(o.number)
        first = pl.lines[0]
        services.pick(pl, first.id, location=first.location.code, item_id=first.item_id, lot=None, qty=1,
                      user_id=None)
        number, order_number = pl.number, o.number
        db.session.commit()
    boss = page_client("supervisor")
    r = boss.post(f"/pick-lists/{number}/cancel")
    assert r.status_code == 303
    with shop.app_context():
        rows = queries.stock(queries.StockFilter(item_id=queries.item_by_sku("NUT").id))
        assert {(b.location.code, b.qty, b.reserved) for b in rows} == {
            ("WH1-A-01", 4, 0), ("WH1-A-02", 5, 0), ("WH1-OUTBOUND", 1, 1)}
        order = services.get_order(order_number)
        assert order.lines[0].qty_backorder == 6 and order.status is OrderStatus.PICKED
        services.ship(services.get_pick_list(number), user_id=None)
        db.session.commit()
        assert services.get_order(order_number).status is OrderStatus.SHIPPED
    assert balance("NUT", "WH1-OUTBOUND") == 0
