"""Purchasing and receiving rules, straight through the services (no HTTP)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from scanapp.auth.models import User
from scanapp.clock import today, utcnow
from scanapp.extensions import db
from scanapp.inventory.errors import InsufficientStock, InvalidMove
from scanapp.inventory.models import MoveType, StockMove
from scanapp.purchasing import services
from scanapp.purchasing.errors import (
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
from scanapp.purchasing.models import POStatus
from scanapp.web import run_in_transaction
from tests.conftest import race

D = Decimal


@pytest.fixture
def wh(make_location, make_item, make_user, app):
    make_location("WH1-A-01")
    make_location("WH1-A-02")
    make_location("WH1-QA", type_="quarantine")
    make_item("BOLT", barcodes=["6901234500011"], unit_cost=D("0.5"))
    make_item("TEA", lot_tracked=True, expiry_tracked=True, min_shelf_life_days=30, unit_cost=D("38"))
    make_item("NUT")
    make_item("OIL", whole_units=False)
    uid = make_user("wang", "worker")
    sid = make_user("li", "supervisor")
    with app.app_context():
        services.create_supplier("ACME", "Acme Co")
        db.session.commit()
    return {"worker": uid, "supervisor": sid}


def call(app, fn, *args, **kwargs):
    """Run a service in its own transaction, the way a request does."""
    with app.app_context():
        try:
            return run_in_transaction(fn, *args, **kwargs)
        finally:
            db.session.remove()


def user(uid):
    return db.session.get(User, uid)


def make_po(app, lines=(("BOLT", 10, "0.45"), ("TEA", 20, None)), **kw):
    def create():
        po = services.create_purchase_order(supplier="ACME", lines=lines, open_now=kw.pop("open_now", True), **kw)
        return po.number

    return call(app, create)


def rcv(app, uid, number, sku, qty, location="WH1-A-01", **kw):
    def run():
        r = services.receive(user=user(uid), po_number=number, sku=sku, qty=qty, location=location, **kw)
        return {"status": r.order.status if r.order else None, "received": r.line.qty_received if r.line else None,
                "rejected": r.line.qty_rejected if r.line else None, "warning": r.warning, "receipt": r.receipt.id,
                "moves": [(m.type, m.from_location.code, m.to_location.code, m.qty, m.unit_cost, m.document_type,
                           m.document_id) for m in r.moves]}

    return call(app, run)


def po_state(app, number):
    def read():
        po = services.po_by_number(number)
        return po.status, {x.item.sku: (x.qty_received, x.qty_rejected) for x in po.lines}

    return call(app, read)


def test_po_numbers_count_up_and_a_given_number_is_kept(app, wh):
    assert make_po(app) == "PO-00001"
    assert make_po(app, number="ACME-778") == "ACME-778"
    assert make_po(app) == "PO-00003"
    with pytest.raises(Exception, match="already exists"):
        make_po(app, number="acme-778")


def test_a_new_po_is_a_draft_until_opened_and_a_draft_cannot_be_received(app, wh):
    number = make_po(app, open_now=False)
    assert po_state(app, number)[0] is POStatus.DRAFT
    with pytest.raises(WrongStatus):
        rcv(app, wh["worker"], number, "BOLT", 1)
    call(app, lambda: services.open_order(services.po_by_number(number)))
    assert po_state(app, number)[0] is POStatus.OPEN
    with pytest.raises(WrongStatus):
        call(app, lambda: services.open_order(services.po_by_number(number)))


def test_an_item_twice_on_one_order_is_refused(app, wh):
    with pytest.raises(InvalidMove, match="twice"):
        make_po(app, lines=[("BOLT", 1, None), ("BOLT", 2, None)])


def test_receipt_posts_from_supplier_at_the_line_cost_with_the_document(app, wh, balance):
    number = make_po(app)
    out = rcv(app, wh["worker"], number, "BOLT", 4)
    assert out["moves"] == [(MoveType.RECEIPT, "VIRTUAL-SUPPLIER", "WH1-A-01", D(4), D("0.45"), "purchase_order",
                             number)]
    assert out["status"] is POStatus.PARTIALLY_RECEIVED
    assert balance("BOLT", "WH1-A-01") == 4


def test_an_item_not_on_the_order_is_refused_naming_item_and_order(app, wh):
    number = make_po(app)
    with pytest.raises(NotOnOrder) as err:
        rcv(app, wh["worker"], number, "NUT", 1)
    assert err.value.status == 422
    assert "NUT" in str(err.value) and number in str(err.value)


def test_a_line_received_in_full_is_refused(app, wh):
    number = make_po(app)
    rcv(app, wh["worker"], number, "BOLT", 10)
    with pytest.raises(FullyReceived, match="already fully received"):
        rcv(app, wh["worker"], number, "BOLT", 1)


def test_over_receipt_is_refused_with_the_numbers_inside_the_tolerance_allowed(app, wh):
    number = make_po(app)
    with pytest.raises(OverReceipt) as err:
        rcv(app, wh["worker"], number, "BOLT", 11)
    assert err.value.status == 409
    assert err.value.details["allowed"] == 10 and err.value.details["ordered"] == 10
    assert "ordered 10, received 0, this receipt 11" in str(err.value)
    call(app, services.save_settings, "WH1", over_receipt_pct="15", allow_without_po=False,
         without_po_role="supervisor", quarantine_location=None)
    rcv(app, wh["worker"], number, "BOLT", 6)
    with pytest.raises(OverReceipt, match="at most 11"):  # 10 × 1.15 = 11.5, whole units: 11
        rcv(app, wh["worker"], number, "BOLT", 6)
    out = rcv(app, wh["worker"], number, "BOLT", 5)
    assert out["received"] == 11


def test_fractional_items_get_a_fractional_tolerance(app, wh):
    call(app, services.save_settings, "WH1", over_receipt_pct="2.5", allow_without_po=False,
         without_po_role="supervisor", quarantine_location=None)
    number = make_po(app, lines=[("OIL", "10.5", None)])
    with pytest.raises(OverReceipt, match="at most 10.762"):
        rcv(app, wh["worker"], number, "OIL", "10.763")
    assert rcv(app, wh["worker"], number, "OIL", "10.762")["status"] is POStatus.RECEIVED


def test_lot_and_expiry_are_required_for_tracked_items(app, wh):
    number = make_po(app)
    with pytest.raises(LotRequired, match="lot-tracked"):
        rcv(app, wh["worker"], number, "TEA", 1)
    with pytest.raises(LotRequired, match="expiry") as err:
        rcv(app, wh["worker"], number, "TEA", 1, lot="L1")
    assert err.value.code == "expiry_required"


def test_a_past_expiry_is_refused_and_a_short_shelf_life_warns(app, wh, balance):
    number = make_po(app)
    with pytest.raises(Expired, match="expired"):
        rcv(app, wh["worker"], number, "TEA", 1, lot="OLD", expiry=today() - timedelta(days=1))
    out = rcv(app, wh["worker"], number, "TEA", 2, lot="SHORT", expiry=today() + timedelta(days=10))
    assert "Short shelf life" in out["warning"] and "in 10 days" in out["warning"]
    assert rcv(app, wh["worker"], number, "TEA", 3, lot="LONG", expiry=today() + timedelta(days=300))["warning"] is None
    assert balance("TEA", "WH1-A-01", lot="SHORT") == 2
    # A lot already known brings its expiry along.
    assert rcv(app, wh["worker"], number, "TEA", 1, lot="LONG")["received"] == 6


def test_rejected_quantity_goes_to_quarantine_with_a_reason(app, wh, balance):
    number = make_po(app)
    with pytest.raises(InvalidMove, match="reason"):
        rcv(app, wh["worker"], number, "BOLT", 5, rejected_qty=2)
    out = rcv(app, wh["worker"], number, "BOLT", 5, rejected_qty=2, reject_reason="crushed box")
    assert [m[2] for m in out["moves"]] == ["WH1-A-01", "WH1-QA"]
    assert (out["received"], out["rejected"]) == (3, 2)
    assert balance("BOLT", "WH1-A-01") == 3 and balance("BOLT", "WH1-QA") == 2
    # All rejected: no put-away location needed.
    out = rcv(app, wh["worker"], number, "BOLT", 1, location=None, rejected_qty=1, reject_reason="wet")
    assert [m[2] for m in out["moves"]] == ["WH1-QA"]
    with pytest.raises(InvalidMove, match="more than"):
        rcv(app, wh["worker"], number, "BOLT", 1, rejected_qty=2, reject_reason="x")


def test_configured_quarantine_wins_and_a_warehouse_without_one_refuses_rejects(app, wh, make_location, balance):
    make_location("WH1-QA2")
    call(app, services.save_settings, "WH1", over_receipt_pct="0", allow_without_po=False,
         without_po_role="supervisor", quarantine_location="wh1-qa2")
    number = make_po(app)
    rcv(app, wh["worker"], number, "BOLT", 1, rejected_qty=1, reject_reason="bent")
    assert balance("BOLT", "WH1-QA2") == 1
    make_location("WH2-A-01", warehouse="WH2")

    def po2():
        return services.create_purchase_order(supplier="ACME", warehouse="WH2", lines=[("BOLT", 5, None)],
                                              open_now=True).number

    n2 = call(app, po2)
    with pytest.raises(NoQuarantine):
        rcv(app, wh["worker"], n2, "BOLT", 1, location="WH2-A-01", rejected_qty=1, reject_reason="bent")
    with pytest.raises(InvalidMove, match="not a location of this warehouse"):
        rcv(app, wh["worker"], n2, "BOLT", 1, location="WH1-A-01")


def test_status_moves_from_open_to_received_and_closes_short(app, wh):
    number = make_po(app)
    assert po_state(app, number)[0] is POStatus.OPEN
    rcv(app, wh["worker"], number, "BOLT", 10)
    assert po_state(app, number)[0] is POStatus.PARTIALLY_RECEIVED
    rcv(app, wh["worker"], number, "TEA", 20, lot="L1", expiry=today() + timedelta(days=365))
    assert po_state(app, number)[0] is POStatus.RECEIVED
    call(app, lambda: services.close_order(services.po_by_number(number)))
    status = call(app, lambda: (services.po_by_number(number).status, services.po_by_number(number).closed_short))
    assert status == (POStatus.CLOSED, False)
    with pytest.raises(WrongStatus):
        call(app, lambda: services.close_order(services.po_by_number(number)))

    short = make_po(app)
    rcv(app, wh["worker"], short, "BOLT", 3)
    call(app, lambda: services.close_order(services.po_by_number(short)))
    assert call(app, lambda: services.po_by_number(short).closed_short) is True
    with pytest.raises(WrongStatus, match="closed"):
        rcv(app, wh["worker"], short, "BOLT", 1)


def test_undo_reverses_the_workers_last_line_within_five_minutes(app, wh, balance):
    number = make_po(app)
    first = rcv(app, wh["worker"], number, "BOLT", 4)
    last = rcv(app, wh["worker"], number, "BOLT", 3, rejected_qty=1, reject_reason="dent")
    with pytest.raises(UndoNotAllowed, match="last"):
        call(app, lambda: services.undo_receipt(first["receipt"], user=user(wh["worker"])))
    with pytest.raises(UndoNotAllowed, match="own"):
        call(app, lambda: services.undo_receipt(last["receipt"], user=user(wh["supervisor"])))
    call(app, lambda: services.undo_receipt(last["receipt"], user=user(wh["worker"])))
    assert po_state(app, number)[1]["BOLT"] == (4, 0)
    assert balance("BOLT", "WH1-A-01") == 4 and balance("BOLT", "WH1-QA") == 0
    with pytest.raises(UndoNotAllowed, match="already"):
        call(app, lambda: services.undo_receipt(last["receipt"], user=user(wh["worker"])))
    later = utcnow() + timedelta(minutes=6)
    again = rcv(app, wh["worker"], number, "BOLT", 1)
    with pytest.raises(UndoNotAllowed, match="Too late"):
        call(app, lambda: services.undo_receipt(again["receipt"], user=user(wh["worker"]), now=later))

    def reversals():
        return db.session.execute(select(StockMove).where(StockMove.reverses_id.is_not(None))).scalars().all()

    moves = call(app, lambda: [(m.from_location.code, m.to_location.code, m.qty, m.document_id) for m in reversals()])
    assert sorted(moves) == [("WH1-A-01", "VIRTUAL-SUPPLIER", D(2), number),
                             ("WH1-QA", "VIRTUAL-SUPPLIER", D(1), number)]


def test_undo_of_the_only_receipt_reopens_the_order(app, wh):
    number = make_po(app)
    out = rcv(app, wh["worker"], number, "BOLT", 10)
    call(app, lambda: services.undo_receipt(out["receipt"], user=user(wh["worker"])))
    assert po_state(app, number) == (POStatus.OPEN, {"BOLT": (0, 0), "TEA": (0, 0)})


def test_undo_refused_when_the_stock_has_moved_on(app, wh):
    number = make_po(app)
    out = rcv(app, wh["worker"], number, "BOLT", 2)
    from scanapp.inventory import services as inv

    call(app, inv.move_stock, type="issue", sku="BOLT", qty=2, from_location="WH1-A-01", user_id=None)
    with pytest.raises(InsufficientStock):
        call(app, lambda: services.undo_receipt(out["receipt"], user=user(wh["worker"])))
    assert po_state(app, number)[1]["BOLT"] == (2, 0)


def test_receipt_without_po_only_where_allowed_and_for_the_role(app, wh, balance):
    def free(uid):
        return call(app, lambda: services.receive(user=user(uid), warehouse="WH1", sku="NUT", qty=5,
                                                  location="WH1-A-02").moves[0].document_id)

    with pytest.raises(ReceiptNotAllowed):
        free(wh["supervisor"])
    call(app, services.save_settings, "WH1", over_receipt_pct="0", allow_without_po=True,
         without_po_role="supervisor", quarantine_location=None)
    with pytest.raises(ReceiptNotAllowed):
        free(wh["worker"])
    assert free(wh["supervisor"]).startswith("RCV-")
    assert balance("NUT", "WH1-A-02") == 5


def test_usual_location_is_where_the_item_is_mostly_stored(app, wh, receive):
    receive("BOLT", "WH1-A-01", 5)
    receive("BOLT", "WH1-A-02", 50)
    assert call(app, lambda: services.usual_location(services._item("BOLT"), 1).code) == "WH1-A-02"
    assert call(app, lambda: services.usual_location(services._item("NUT"), 1)) is None


def test_return_to_supplier_from_quarantine_against_the_po_or_just_the_supplier(app, wh, balance):
    number = make_po(app)
    rcv(app, wh["worker"], number, "BOLT", 5, rejected_qty=3, reject_reason="rust")

    def ret(qty=2, **kw):
        m = services.return_to_supplier(sku="BOLT", qty=qty, from_location="WH1-QA", user_id=wh["worker"], **kw)
        return m.type, m.to_location.code, m.unit_cost, m.document_type, m.document_id

    assert call(app, ret, po_number=number) == (MoveType.RETURN, "VIRTUAL-SUPPLIER", D("0.45"), "purchase_order",
                                                number)
    assert call(app, ret, qty=1, supplier="acme")[3:] == ("supplier", "ACME")
    assert balance("BOLT", "WH1-QA") == 0 and balance("BOLT", "WH1-A-01") == 2
    with pytest.raises(InsufficientStock):
        call(app, ret, supplier="ACME")
    with pytest.raises(InvalidMove):
        call(app, ret)


def test_import_is_all_or_nothing_with_errors_per_row(app, wh):
    good = [
        {"number": "IMP-1", "supplier": "ACME", "warehouse": "WH1", "sku": "BOLT", "qty": "10", "unit_cost": "0.4"},
        {"number": "IMP-1", "supplier": "ACME", "warehouse": "WH1", "sku": "TEA", "qty": "5", "unit_cost": ""},
        {"number": "IMP-2", "supplier": "ACME", "warehouse": "WH1", "sku": "NUT", "qty": "3", "unit_cost": ""},
    ]
    bad = good + [
        {"number": "IMP-3", "supplier": "NOPE", "warehouse": "WH1", "sku": "NUT", "qty": "3", "unit_cost": ""},
        {"number": "IMP-3", "supplier": "ACME", "warehouse": "WH1", "sku": "NUT", "qty": "-3", "unit_cost": ""},
    ]
    with pytest.raises(ImportFailed) as err:
        call(app, services.import_purchase_orders, bad)
    assert [row for row, _msg in err.value.errors] == [5, 6]
    assert "No supplier NOPE" in err.value.errors[0][1]
    assert call(app, lambda: services.po_by_number_or_none("IMP-1")) is None
    created = call(app, lambda: [(p.number, p.status, len(p.lines)) for p in services.import_purchase_orders(good)])
    assert created == [("IMP-1", POStatus.OPEN, 2), ("IMP-2", POStatus.OPEN, 1)]


def test_read_rows_from_csv_and_xlsx(app, wh):
    import io

    from openpyxl import Workbook

    text = "\ufeffNumber,Supplier,Warehouse,SKU,Qty,Unit_cost\nX,ACME,WH1,BOLT,2,\n"
    csv_rows = call(app, services.read_rows, "po.csv", text.encode())
    assert csv_rows == [{"number": "X", "supplier": "ACME", "warehouse": "WH1", "sku": "BOLT", "qty": "2",
                         "unit_cost": ""}]
    book = Workbook()
    book.active.append(["number", "supplier", "warehouse", "sku", "qty", "unit_cost"])
    book.active.append(["Y", "ACME", "WH1", "BOLT", 3, 0.5])
    data = io.BytesIO()
    book.save(data)
    rows = call(app, services.read_rows, "po.xlsx", data.getvalue())
    assert rows[0]["qty"] == "3" and rows[0]["sku"] == "BOLT"
    with pytest.raises(ImportFailed, match="Missing columns"):
        call(app, services.read_rows, "po.csv", b"a,b\n1,2\n")


@pytest.mark.race
def test_two_workers_on_one_line_never_pass_the_tolerance(app, wh, is_postgres):
    """Real threads, own connections: 4 workers × 2 units each on a line of 5 with 10 % (max 5):
    exactly two receipts post, whatever the interleaving; repeated 20 times."""
    call(app, services.save_settings, "WH1", over_receipt_pct="10", allow_without_po=False,
         without_po_role="supervisor", quarantine_location=None)
    for rep in range(20):
        number = make_po(app, lines=[("BOLT", 5, None)], number=f"RACE-{rep}")

        def attempt(i, number=number):
            try:
                rcv(app, wh["worker"], number, "BOLT", 2, location="WH1-A-01" if i % 2 else "WH1-A-02")
                return "posted"
            except (OverReceipt, FullyReceived):
                return "refused"

        results = race(4, attempt)
        assert sorted(results) == ["posted", "posted", "refused", "refused"], results
        status, lines = po_state(app, number)
        assert lines["BOLT"] == (4, 0) and status is POStatus.PARTIALLY_RECEIVED

        def moved(number=number):
            return sum(m.qty for m in db.session.execute(
                select(StockMove).where(StockMove.document_id == number)).scalars())

        assert call(app, moved) == 4
