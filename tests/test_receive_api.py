"""The purchasing API: suppliers, purchase orders, receipts, returns, errors and idempotency."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from scanapp.clock import today

GS = "\x1d"
GTIN = "09506000134352"


@pytest.fixture
def setup(make_location, make_item, api_client):
    make_location("WH1-A-01")
    make_location("WH1-QA", type_="quarantine")
    make_item("BOLT", barcodes=["6901234500011"], unit_cost="0.5")
    make_item("TEA", barcodes=["9506000134352"], lot_tracked=True, expiry_tracked=True)
    make_item("CUP")
    boss = api_client("supervisor")
    assert boss.post("/suppliers", json={"code": "ACME", "name": "Acme"}).status_code == 201
    return boss, api_client("worker")


def create(boss, **extra):
    body = {"supplier": "ACME", "lines": [{"sku": "BOLT", "qty": 10, "unit_cost": "0.45"}, {"sku": "TEA", "qty": 5}]}
    body.update(extra)
    return boss.post("/purchase-orders", json=body)


def test_create_and_get_a_purchase_order(setup):
    boss, worker = setup
    r = create(boss)
    assert r.status_code == 201
    body = r.get_json()
    assert body["number"] == "PO-00001" and body["status"] == "open"
    assert [(x["sku"], x["ordered"], x["received"]) for x in body["lines"]] == [("BOLT", 10, 0), ("TEA", 5, 0)]
    assert worker.get("/purchase-orders/po-00001").get_json()["number"] == "PO-00001"
    assert worker.get("/purchase-orders/PO-404").status_code == 404
    assert create(boss, number="X-1", status="draft").get_json()["status"] == "draft"
    assert create(boss, number="X-1").status_code == 409
    assert worker.post("/purchase-orders", json={"supplier": "ACME", "lines": []}).status_code == 403
    bad = create(boss, lines=[{"sku": "NOPE", "qty": 1}])
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "unknown_reference"
    assert boss.post("/purchase-orders/X-1/open").get_json()["status"] == "open"


def test_receipt_by_sku_and_by_gs1_barcode(setup):
    boss, worker = setup
    create(boss)
    key = uuid.uuid4().hex
    body = {"sku": "BOLT", "qty": 6, "location": "WH1-A-01", "rejected_qty": 1, "reject_reason": "bent"}
    r = worker.post("/purchase-orders/PO-00001/receipts", json=body, key=key)
    assert r.status_code == 201, r.get_json()
    out = r.get_json()
    assert [(m["to_location"], m["qty"], m["unit_cost"]) for m in out["moves"]] == [("WH1-A-01", 5, 0.45),
                                                                                     ("WH1-QA", 1, 0.45)]
    assert out["line"]["received"] == 5 and out["line"]["rejected"] == 1 and out["status"] == "partially_received"
    again = worker.post("/purchase-orders/PO-00001/receipts", json=body, key=key)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert worker.get("/purchase-orders/PO-00001").get_json()["lines"][0]["received"] == 5
    expiry = today() + timedelta(days=100)
    gs1 = f"]C101{GTIN}17{expiry:%y%m%d}10LOT-9"
    r = worker.post("/purchase-orders/PO-00001/receipts", json={"barcode": gs1, "qty": 5, "location": "WH1-A-01"},
                    key=uuid.uuid4().hex)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["moves"][0]["lot"] == "LOT-9" and r.get_json()["moves"][0]["expiry"] == expiry.isoformat()


def test_receipt_errors(setup):
    boss, worker = setup
    create(boss)

    def post(body):
        return worker.post("/purchase-orders/PO-00001/receipts", json=body, key=uuid.uuid4().hex)

    r = post({"sku": "CUP", "qty": 1, "location": "WH1-A-01"})
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "not_on_order"
    assert "CUP" in r.get_json()["error"]["message"] and "PO-00001" in r.get_json()["error"]["message"]
    r = post({"sku": "BOLT", "qty": 11, "location": "WH1-A-01"})
    err = r.get_json()["error"]
    assert r.status_code == 409 and err["code"] == "over_receipt"
    assert (err["ordered"], err["received"], err["this_receipt"], err["allowed"]) == (10, 0, 11, 10)
    r = post({"sku": "TEA", "qty": 1, "location": "WH1-A-01"})
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "lot_required"
    r = post({"sku": "TEA", "qty": 1, "location": "WH1-A-01", "lot": "L", "expiry": "2001-01-01"})
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "expired"
    assert post({"sku": "BOLT", "qty": 10, "location": "WH1-A-01"}).status_code == 201
    r = post({"sku": "BOLT", "qty": 1, "location": "WH1-A-01"})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "fully_received"
    assert worker.post("/purchase-orders/PO-00001/receipts", json={"sku": "TEA", "qty": 1}).status_code == 400


def test_close_short_and_returns(setup, receive):
    boss, worker = setup
    create(boss)
    worker.post("/purchase-orders/PO-00001/receipts", json={"sku": "BOLT", "qty": 4, "location": "WH1-A-01"},
                key=uuid.uuid4().hex)
    r = worker.post("/purchase-orders/PO-00001/returns",
                    json={"sku": "BOLT", "qty": 1, "from_location": "WH1-A-01", "reason": "faulty"},
                    key=uuid.uuid4().hex)
    assert r.status_code == 201 and r.get_json()["move"]["type"] == "return"
    assert r.get_json()["move"]["to_location"] == "VIRTUAL-SUPPLIER"
    r = worker.post("/suppliers/ACME/returns", json={"sku": "BOLT", "qty": 1, "from_location": "WH1-A-01"},
                    key=uuid.uuid4().hex)
    assert r.status_code == 201 and r.get_json()["move"]["document"] == {"type": "supplier", "id": "ACME"}
    closed = boss.post("/purchase-orders/PO-00001/close").get_json()
    assert closed["status"] == "closed" and closed["closed_short"] is True
    assert boss.post("/purchase-orders/PO-00001/close").status_code == 409


def test_openapi_documents_the_purchasing_paths(setup):
    _boss, worker = setup
    paths = worker.get("/openapi.json").get_json()["paths"]
    for path in ("/suppliers", "/purchase-orders", "/purchase-orders/{number}", "/purchase-orders/{number}/receipts",
                 "/purchase-orders/{number}/close", "/suppliers/{code}/returns"):
        assert path in paths


@pytest.mark.race
def test_workers_racing_over_http_never_pass_the_tolerance(setup):
    """Five workers post 2 units each at once on a line of 5 (tolerance 0): two 201s, three 409s,
    the line at 4 — twenty times, through the whole HTTP stack."""
    from tests.conftest import race

    boss, worker = setup
    for rep in range(20):
        number = f"R-{rep}"
        assert create(boss, number=number, lines=[{"sku": "BOLT", "qty": 5}]).status_code == 201

        def post(_i, number=number):
            client = worker.client.application.test_client()  # its own context, session and connection
            r = client.post(f"/api/v1/purchase-orders/{number}/receipts", headers=worker._headers(uuid.uuid4().hex),
                            json={"sku": "BOLT", "qty": 2, "location": "WH1-A-01"})
            return r.status_code

        codes = sorted(race(5, post))
        assert codes == [201, 201, 409, 409, 409], codes
        assert worker.get(f"/purchase-orders/{number}").get_json()["lines"][0]["received"] == 4
