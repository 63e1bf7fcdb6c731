"""Inter-warehouse transfers: service, API, office pages and the handheld receipt; races."""

from __future__ import annotations

import uuid

import pytest

from scanapp.extensions import db
from tests.conftest import race


@pytest.fixture
def two_warehouses(make_location, make_item, receive):
    make_location("WH1-A-01")
    make_location("WH1-A-02")
    make_location("WH2-B-01", warehouse="WH2")
    make_location("WH2-B-02", warehouse="WH2")
    make_item("TEA-100", name="Green tea", barcodes=["0614141123452"])
    make_item("MILK-1", name="Milk", barcodes=["04012345678901"], lot_tracked=True)
    receive("TEA-100", "WH1-A-01", 30)
    receive("MILK-1", "WH1-A-02", 10, lot="L1")


def new_transfer(api, **extra):
    body = {"from_warehouse": "WH1", "to_warehouse": "WH2", "lines": [
        {"sku": "TEA-100", "qty": 12, "from_location": "WH1-A-01"},
        {"sku": "MILK-1", "qty": "4", "from_location": "WH1-A-02", "lot": "L1"}], **extra}
    r = api.post("/transfers", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_ship_partial_receive_over_receipt_and_exact_ledger(two_warehouses, api_client, balance, move_count):
    sup = api_client("supervisor")
    worker = api_client("worker")
    tr = new_transfer(sup)
    assert tr["number"] == "TR-00001" and tr["status"] == "draft"
    assert [ln["shipped"] for ln in tr["lines"]] == [0, 0]

    key = uuid.uuid4().hex
    r = sup.post("/transfers/TR-00001/ship", key=key)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "shipped" and len(r.get_json()["moves"]) == 2
    assert sup.post("/transfers/TR-00001/ship", key=key).headers.get("Idempotent-Replayed") == "true"
    again = sup.post("/transfers/TR-00001/ship", key=uuid.uuid4().hex)
    assert again.status_code == 409 and "already been shipped" in again.get_json()["error"]["message"]
    assert balance("TEA-100", "WH1-A-01") == 18 and balance("TEA-100", "WH2-TRANSIT") == 12
    assert balance("MILK-1", "WH2-TRANSIT", lot="L1") == 4

    receipt = {"sku": "TEA-100", "qty": 5, "location": "WH2-B-01"}
    key = uuid.uuid4().hex
    r = worker.post("/transfers/tr-00001/receipts", json=receipt, key=key)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["status"] == "partially_received"
    assert r.get_json()["line"] == {"sku": "TEA-100", "lot": None, "shipped": 12, "received": 5}
    assert worker.post("/transfers/tr-00001/receipts", json=receipt, key=key).headers.get("Idempotent-Replayed")

    r = worker.post("/transfers/TR-00001/receipts", json={**receipt, "qty": 8}, key=uuid.uuid4().hex)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "over_receipt"
    assert "Only 7 pcs of TEA-100 are left to receive on TR-00001; 8 is too many." in r.get_json()["error"]["message"]
    r = worker.post("/transfers/TR-00001/receipts", json={**receipt, "location": "WH1-A-02"}, key=uuid.uuid4().hex)
    assert r.status_code == 422 and "not in warehouse WH2" in r.get_json()["error"]["message"]
    r = worker.post("/transfers/TR-00001/receipts", json={"sku": "MILK-1", "qty": 1, "location": "WH2-B-01"},
                    key=uuid.uuid4().hex)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "not_on_transfer"

    worker.post("/transfers/TR-00001/receipts", json={**receipt, "qty": 7, "location": "WH2-B-02"},
                key=uuid.uuid4().hex)
    r = worker.post("/transfers/TR-00001/receipts",
                    json={"sku": "MILK-1", "lot": "L1", "qty": 4, "location": "WH2-B-01"}, key=uuid.uuid4().hex)
    assert r.status_code == 201 and r.get_json()["status"] == "received"
    r = worker.post("/transfers/TR-00001/receipts", json={**receipt, "qty": 1}, key=uuid.uuid4().hex)
    assert r.status_code == 409 and "received completely" in r.get_json()["error"]["message"]

    got = worker.get("/transfers/TR-00001").get_json()
    progress = [(ln["sku"], ln["shipped"], ln["received"]) for ln in got["lines"]]
    assert progress == [("TEA-100", 12, 12), ("MILK-1", 4, 4)]
    assert len(got["moves"]) == 5 and all(m["document"] == {"type": "transfer", "id": "TR-00001"} for m in got["moves"])
    assert balance("TEA-100", "WH2-TRANSIT") == 0 and balance("TEA-100", "WH2-B-01") == 5
    assert balance("TEA-100", "WH2-B-02") == 7 and balance("MILK-1", "WH2-B-01", lot="L1") == 4
    assert balance("TEA-100", "WH1-A-01") == 18
    assert move_count(type="transfer") == 5


def test_create_refusals(two_warehouses, api_client):
    sup = api_client("supervisor")
    r = sup.post("/transfers", json={"from_warehouse": "WH1", "to_warehouse": "WH1",
                                     "lines": [{"sku": "TEA-100", "qty": 1, "from_location": "WH1-A-01"}]})
    assert r.status_code == 422 and "another warehouse" in r.get_json()["error"]["message"]
    r = sup.post("/transfers", json={"from_warehouse": "WH1", "to_warehouse": "WH2",
                                     "lines": [{"sku": "TEA-100", "qty": 1, "from_location": "WH2-B-01"}]})
    assert r.status_code == 422 and "WH2-B-01 is not in warehouse WH1" in r.get_json()["error"]["message"]
    r = sup.post("/transfers", json={"from_warehouse": "WH1", "to_warehouse": "WH2",
                                     "lines": [{"sku": "MILK-1", "qty": 1, "from_location": "WH1-A-02"}]})
    assert r.status_code == 422 and "lot-tracked" in r.get_json()["error"]["message"]
    assert api_client("worker").post("/transfers", json={}).status_code == 403


def test_ship_refuses_more_than_is_there_and_changes_nothing(two_warehouses, api_client, balance):
    sup = api_client("supervisor")
    r = sup.post("/transfers", json={"from_warehouse": "WH1", "to_warehouse": "WH2",
                                     "lines": [{"sku": "TEA-100", "qty": 31, "from_location": "WH1-A-01"}]})
    number = r.get_json()["number"]
    r = sup.post(f"/transfers/{number}/ship", key=uuid.uuid4().hex)
    assert r.status_code == 422 and "Only 30 pcs of TEA-100 are at WH1-A-01" in r.get_json()["error"]["message"]
    assert sup.get(f"/transfers/{number}").get_json()["status"] == "draft"
    assert balance("TEA-100", "WH1-A-01") == 30


def test_api_scrap_needs_a_reason_and_transfer_moves(two_warehouses, api_client, balance):
    worker = api_client("worker")
    r = worker.move(type="scrap", sku="TEA-100", qty=1, from_location="WH1-A-01")
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "reason_required"
    r = worker.move(type="scrap", sku="TEA-100", qty=1, from_location="WH1-A-01", reason="Damaged: wet")
    assert r.status_code == 201 and r.get_json()["move"]["reason"] == "Damaged: wet"
    r = worker.move(type="transfer", sku="MILK-1", lot="L1", qty=2, from_location="WH1-A-02", to_location="WH1-A-01")
    assert r.status_code == 201 and balance("MILK-1", "WH1-A-01", lot="L1") == 2


def test_openapi_lists_the_transfer_paths(app):
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    for path in ("/transfers", "/transfers/{number}", "/transfers/{number}/ship", "/transfers/{number}/receipts"):
        assert path in doc["paths"]


def test_office_pages_and_handheld_receipt(two_warehouses, page_client, balance):
    sup = page_client("supervisor")
    sup.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    r = sup.post("/transfers", data={"from_warehouse": "WH1", "to_warehouse": "WH2",
                                     "lines": "TEA-100 6 WH1-A-01\nMILK-1 2 WH1-A-02 L1"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/transfers/TR-00001")
    r = sup.post("/transfers", data={"from_warehouse": "WH1", "to_warehouse": "WH2", "lines": "TEA-100 6"}, htmx=True)
    assert r.status_code == 422 and "Line 1" in r.get_data(as_text=True)
    page = sup.get("/transfers").get_data(as_text=True)
    assert "TR-00001" in page and 'data-status="draft"' in page
    r = sup.post("/transfers/TR-00001/ship", data={"idempotency_key": uuid.uuid4().hex}, htmx=True)
    assert r.status_code == 200 and 'data-status="shipped"' in r.get_data(as_text=True)
    assert 'hx-trigger="every 5s"' in r.get_data(as_text=True)  # live progress while on the way

    worker = page_client("worker")
    worker.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"

    def scan(code, **state):
        return worker.post("/moves/receive/scan", data={"code": code, "idempotency_key": uuid.uuid4().hex, **state},
                           htmx=True)

    r = scan("DOC:TR:TR-00001")
    assert r.status_code == 200 and 'data-step="item"' in r.get_data(as_text=True), r.get_data(as_text=True)
    r = scan("614141123452", transfer="TR-00001")
    assert 'data-step="qty"' in r.get_data(as_text=True) and "of 6 to receive" in r.get_data(as_text=True)
    r = scan("WH2-B-01", transfer="TR-00001", sku="TEA-100", qty="7")
    assert r.status_code == 409 and "Only 6 pcs of TEA-100 are left to receive on TR-00001" in r.get_data(as_text=True)
    r = scan("WH2-B-01", transfer="TR-00001", sku="TEA-100", qty="6")
    assert r.status_code == 200 and "Moved 6 pcs of TEA-100 from WH2-TRANSIT to WH2-B-01." in r.get_data(as_text=True)
    r = scan("04012345678901", transfer="TR-00001")  # the only lot in transit is chosen
    assert 'data-step="qty"' in r.get_data(as_text=True) and "L1" in r.get_data(as_text=True)
    r = scan("WH2-B-02", transfer="TR-00001", sku="MILK-1", lot="L1", qty="2")
    assert r.status_code == 200 and 'data-step="document"' in r.get_data(as_text=True)  # all received
    page = sup.get("/transfers/TR-00001").get_data(as_text=True)
    assert 'data-status="received"' in page and "WH2-B-02" in page
    assert balance("MILK-1", "WH2-B-02", lot="L1") == 2
    r = scan("TR-00001")
    assert r.status_code == 409 and "received completely" in r.get_data(as_text=True)


@pytest.mark.race
def test_two_workers_moving_the_last_units_exactly_one_succeeds(app, make_location, make_item, receive, balance):
    """Two workers put away the last 5 units of one location at the same moment: one move posts."""
    from scanapp.inventory.errors import InsufficientStock
    from scanapp.moves import services
    from scanapp.moves.services import MoveFlowError
    from scanapp.web import run_in_transaction

    make_location("WH1-RCV", type_="receiving")
    make_location("WH1-A-01")
    make_location("WH1-A-02")
    for rep in range(10):
        sku = f"LAST-{rep}"
        make_item(sku)
        receive(sku, "WH1-RCV", 5)

        def attempt(i, sku=sku):
            with app.app_context():
                try:
                    run_in_transaction(services.transfer, from_location="WH1-RCV", sku=sku, qty=5,
                                       to_location=f"WH1-A-0{i + 1}", user_id=None)
                    return "posted"
                except (InsufficientStock, MoveFlowError):
                    return "refused"
                finally:
                    db.session.remove()

        results = race(2, attempt)
        assert sorted(results) == ["posted", "refused"], results
        assert balance(sku, "WH1-RCV") == 0
        assert balance(sku, "WH1-A-01") + balance(sku, "WH1-A-02") == 5


@pytest.mark.race
def test_two_workers_receiving_one_line_never_exceed_what_was_shipped(two_warehouses, api_client, app, balance):
    sup = api_client("supervisor")
    number = new_transfer(sup)["number"]
    assert sup.post(f"/transfers/{number}/ship", key=uuid.uuid4().hex).status_code == 200
    worker = api_client("worker")

    def attempt(i):
        client = app.test_client()
        r = client.post(f"/api/v1/transfers/{number}/receipts", headers=worker._headers(uuid.uuid4().hex),
                        json={"sku": "TEA-100", "qty": 8, "location": f"WH2-B-0{i + 1}"})
        return r.status_code

    assert sorted(race(2, attempt)) == [201, 409]
    assert balance("TEA-100", "WH2-B-01") + balance("TEA-100", "WH2-B-02") == 8
    assert balance("TEA-100", "WH2-TRANSIT") == 4



def test_a_worker_builds_and_ships_a_transfer_on_the_handheld(two_warehouses, page_client, balance):
    worker = page_client("worker")
    worker.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = worker.get("/transfers/ship").get_data(as_text=True)
    assert 'data-step="document"' in page and 'name="to_warehouse"' in page
    r = worker.post("/transfers/ship/start", data={"from_warehouse": "WH1", "to_warehouse": "WH2"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/transfers/ship?transfer=TR-00001")

    def scan(code, **state):
        return worker.post("/moves/ship/scan", data={"code": code, "idempotency_key": uuid.uuid4().hex,
                                                     "transfer": "TR-00001", **state}, htmx=True)

    r = scan("WH2-B-01")
    assert r.status_code == 422 and "WH2-B-01 is not in warehouse WH1" in r.get_data(as_text=True)
    r = scan("WH1-A-01")
    assert 'data-step="item"' in r.get_data(as_text=True) and "Nothing on the transfer yet." in r.get_data(as_text=True)
    r = scan("TEA-100", **{"from": "WH1-A-01"})
    assert 'data-step="qty"' in r.get_data(as_text=True)
    r = scan("TEA-100", **{"from": "WH1-A-01", "sku": "TEA-100", "qty": "4"})
    assert 'data-qty="5"' in r.get_data(as_text=True)
    add = {"transfer": "TR-00001", "from": "WH1-A-01", "sku": "TEA-100"}
    r = worker.post("/moves/ship/add", data={**add, "qty": "31"}, htmx=True)
    assert r.status_code == 422 and "Only 30 pcs of TEA-100 are at WH1-A-01" in r.get_data(as_text=True)
    r = worker.post("/moves/ship/add", data={**add, "qty": "5"}, htmx=True)
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "5 pcs of TEA-100 added to TR-00001." in body and 'data-step="item"' in body
    r = worker.post("/moves/ship/add", data={**add, "qty": "26"}, htmx=True)  # 5 + 26 > 30
    assert r.status_code == 422 and "31 is too many" in r.get_data(as_text=True)
    worker.post("/moves/ship/add", data={**add, "qty": "2"}, htmx=True)
    assert balance("TEA-100", "WH1-A-01") == 30  # nothing moves before shipping
    key = uuid.uuid4().hex
    r = worker.post("/transfers/TR-00001/ship", data={"idempotency_key": key})
    assert r.status_code == 200 and 'data-status="shipped"' in r.get_data(as_text=True)
    assert balance("TEA-100", "WH1-A-01") == 23 and balance("TEA-100", "WH2-TRANSIT") == 7
    assert worker.post("/transfers/TR-00001/ship", data={"idempotency_key": key}).headers.get("Idempotent-Replayed")
    r = scan("WH1-A-01")
    assert r.status_code == 409 and "already been shipped" in r.get_data(as_text=True)


@pytest.mark.race
def test_two_workers_finishing_the_last_two_lines_at_once_leave_it_received(two_warehouses, api_client, app):
    sup = api_client("supervisor")
    worker = api_client("worker")
    for _rep in range(2):  # the stock of two_warehouses is enough for two
        number = new_transfer(sup)["number"]
        assert sup.post(f"/transfers/{number}/ship", key=uuid.uuid4().hex).status_code == 200
        bodies = [{"sku": "TEA-100", "qty": 12, "location": "WH2-B-01"},
                  {"sku": "MILK-1", "lot": "L1", "qty": 4, "location": "WH2-B-02"}]

        def attempt(i, number=number, bodies=bodies):
            r = app.test_client().post(f"/api/v1/transfers/{number}/receipts",
                                       headers=worker._headers(uuid.uuid4().hex), json=bodies[i])
            return r.status_code

        assert race(2, attempt) == [201, 201]
        assert worker.get(f"/transfers/{number}").get_json()["status"] == "received"


def test_stock_in_transit_leaves_only_by_being_received(two_warehouses, api_client, page_client, balance):
    sup = api_client("supervisor")
    number = new_transfer(sup)["number"]
    sup.post(f"/transfers/{number}/ship", key=uuid.uuid4().hex)
    worker = page_client("worker")
    worker.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    for path, data in (("/moves/putaway/scan", {"code": "WH2-TRANSIT"}),
                       ("/moves/scrap/scan", {"code": "WH2-TRANSIT"}),
                       ("/moves/move-all/scan", {"code": "WH2-TRANSIT"}),
                       ("/moves/putaway/scan",
                        {"code": "WH2-B-01", "from": "WH2-TRANSIT", "sku": "TEA-100", "qty": "1"})):
        r = worker.post(path, data={**data, "idempotency_key": uuid.uuid4().hex}, htmx=True)
        assert r.status_code == 422, (path, data)
        assert "WH2-TRANSIT holds stock in transit: receive its transfer instead." in r.get_data(as_text=True)
    assert balance("TEA-100", "WH2-TRANSIT") == 12
