"""The JSON API core: catalogue, moves with idempotency, stock and ledger, errors."""

import uuid

import pytest


@pytest.fixture
def admin_api(api_client):
    return api_client("admin")


@pytest.fixture
def setup(admin_api):
    assert admin_api.post("/warehouses", json={"code": "WH1", "name": "Main"}).status_code == 201
    for code in ("WH1-A-01", "WH1-A-02"):
        r = admin_api.post("/locations", json={"code": code, "warehouse": "WH1"})
        assert r.status_code == 201, r.json
    r = admin_api.post("/items", json={"sku": "TEA", "name": "绿茶 Green tea", "barcodes": ["6901234500011",
                                       {"code": "6901234500028", "pack_qty": 20}], "lot_tracked": True,
                                       "expiry_tracked": True, "unit_cost": "38.5"})
    assert r.status_code == 201, r.json
    r = admin_api.post("/items", json={"sku": "BOLT", "name": "Bolt", "unit_cost": 0.35})
    assert r.status_code == 201, r.json
    return admin_api


def test_create_and_get_objects(setup):
    api = setup
    assert api.get("/warehouses/WH1").json == {"code": "WH1", "name": "Main"}
    loc = api.get("/locations/WH1-A-01").json
    assert loc["warehouse"] == "WH1" and loc["type"] == "storage"
    item = api.get("/items/TEA").json
    assert item["name"] == "绿茶 Green tea"
    assert item["unit_cost"] == 38.5
    assert item["barcodes"][1] == {"code": "6901234500028", "pack_qty": 20}
    assert api.get("/items/NOPE").status_code == 404
    assert api.get("/items/NOPE").json["error"]["code"] == "not_found"


@pytest.mark.parametrize("path,body", [
    ("/warehouses", {"code": "WH1", "name": "again"}),
    ("/locations", {"code": "WH1-A-01", "warehouse": "WH1"}),
    ("/items", {"sku": "TEA", "name": "again"}),
    ("/items", {"sku": "OTHER", "name": "same barcode", "barcodes": ["6901234500011"]}),
])
def test_duplicates_are_409(setup, path, body):
    r = setup.post(path, json=body)
    assert r.status_code == 409
    assert r.json["error"]["message"]


def test_receipt_transfer_issue_with_balances(setup, api_client):
    worker = api_client("worker")
    r = worker.move(type="receipt", sku="TEA", qty="20", to_location="WH1-A-01", lot="L1", expiry="2027-03-31")
    assert r.status_code == 201, r.json
    assert r.json["move"]["qty"] == 20 and r.json["move"]["unit_cost"] == 38.5
    assert r.json["balances"] == [{"sku": "TEA", "location": "WH1-A-01", "lot": "L1", "expiry": "2027-03-31",
                                   "qty": 20, "reserved": 0, "available": 20}]
    r = worker.move(type="transfer", sku="TEA", qty=5, from_location="WH1-A-01", to_location="WH1-A-02", lot="L1")
    assert r.status_code == 201, r.json
    assert sorted((b["location"], b["qty"]) for b in r.json["balances"]) == [("WH1-A-01", 15), ("WH1-A-02", 5)]
    r = worker.move(type="issue", sku="TEA", qty=16, from_location="WH1-A-01", lot="L1")
    assert r.status_code == 409
    assert r.json["error"]["code"] == "insufficient_stock"
    stock = worker.get("/stock?sku=TEA").json["items"]
    assert {(s["location"], s["qty"]) for s in stock} == {("WH1-A-01", 15), ("WH1-A-02", 5)}
    assert worker.get("/stock?warehouse=WH1").status_code == 200
    assert worker.get("/stock?location=NOPE").status_code == 404


def test_idempotent_repeat_returns_first_response_and_posts_once(setup, api_client, move_count):
    worker = api_client("worker")
    body = {"type": "receipt", "sku": "BOLT", "qty": 3, "to_location": "WH1-A-01"}
    first = worker.post("/moves", json=body, key="key-1")
    again = worker.post("/moves", json=body, key="key-1")
    assert first.status_code == again.status_code == 201
    assert first.json == again.json
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert move_count(type="receipt") == 1
    different = worker.post("/moves", json={**body, "qty": 4}, key="key-1")
    assert different.status_code == 422
    assert different.json["error"]["code"] == "idempotency_key_reused"
    missing = worker.post("/moves", json=body)
    assert missing.status_code == 400
    assert missing.json["error"]["code"] == "idempotency_key_missing"
    assert worker.post("/moves", json=body, key="x" * 10_000).status_code == 400
    assert move_count(type="receipt") == 1


def test_keys_are_per_user(setup, api_client, move_count):
    body = {"type": "receipt", "sku": "BOLT", "qty": 1, "to_location": "WH1-A-01"}
    assert api_client("worker").post("/moves", json=body, key="shared").status_code == 201
    assert api_client("worker").post("/moves", json=body, key="shared").status_code == 201
    assert move_count() == 2


def test_failed_request_does_not_burn_the_key(setup, api_client):
    worker = api_client("worker")
    body = {"type": "issue", "sku": "BOLT", "qty": 1, "from_location": "WH1-A-01"}
    assert worker.post("/moves", json=body, key="k").status_code == 409
    assert worker.move(type="receipt", sku="BOLT", qty=1, to_location="WH1-A-01").status_code == 201
    assert worker.post("/moves", json=body, key="k").status_code == 201


@pytest.mark.parametrize("qty", [0, -1, 1.5, "1e3", "NaN", True, [], "١", 10**40, "abc", None])
def test_bad_quantities_give_422_and_change_nothing(setup, api_client, move_count, qty):
    r = api_client("worker").move(type="receipt", sku="BOLT", qty=qty, to_location="WH1-A-01")
    assert r.status_code == 422, r.json
    assert r.json["error"]["code"] == "invalid_quantity"
    assert move_count() == 0


def test_json_numbers_never_become_floats(setup, api_client):
    worker = api_client("worker")
    raw = b'{"type": "receipt", "sku": "BOLT", "qty": 1e309, "to_location": "WH1-A-01"}'
    r = worker.client.post("/api/v1/moves", data=raw, headers={**worker._headers("k1"),
                                                                "Content-Type": "application/json"})
    assert r.status_code == 422
    raw = b'{"type": "receipt", "sku": "BOLT", "qty": NaN, "to_location": "WH1-A-01"}'
    r = worker.client.post("/api/v1/moves", data=raw, headers={**worker._headers("k2"),
                                                                "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json["error"]["code"] == "malformed_json"


@pytest.mark.parametrize("body,status,code", [
    ({"type": "receipt", "sku": "NOPE", "qty": 1, "to_location": "WH1-A-01"}, 422, "unknown_reference"),
    ({"type": "receipt", "sku": "BOLT", "qty": 1, "to_location": "NOPE"}, 422, "unknown_reference"),
    ({"type": "teleport", "sku": "BOLT", "qty": 1, "to_location": "WH1-A-01"}, 422, "invalid_move"),
    ({"type": "receipt", "sku": "BOLT", "qty": 1}, 422, "invalid_move"),
    ({"type": "receipt", "sku": 12, "qty": 1, "to_location": "WH1-A-01"}, 400, "invalid_field"),
    ({"type": "receipt", "sku": "TEA", "qty": 1, "to_location": "WH1-A-01"}, 422, "invalid_move"),
    ({"type": "receipt", "sku": "TEA", "qty": 1, "to_location": "WH1-A-01", "lot": "L1", "expiry": "31/12/2027"},
     400, "invalid_date"),
    ({"type": "transfer", "sku": "BOLT", "qty": 1, "from_location": "WH1-A-01", "to_location": "WH1-A-01"},
     422, "invalid_move"),
])
def test_bad_moves(setup, api_client, move_count, body, status, code):
    r = api_client("worker").move(**body)
    assert r.status_code == status, r.json
    assert r.json["error"]["code"] == code
    assert move_count() == 0


def test_wrong_content_type_and_malformed_json(setup, api_client):
    worker = api_client("worker")
    r = worker.client.post("/api/v1/moves", data="type=receipt", headers={**worker._headers("k"),
                                                                           "Content-Type": "text/plain"})
    assert r.status_code == 415
    r = worker.client.post("/api/v1/moves", data="{not json", headers={**worker._headers("k"),
                                                                        "Content-Type": "application/json"})
    assert r.status_code == 400
    r = worker.client.post("/api/v1/moves", data="[1, 2]", headers={**worker._headers("k"),
                                                                     "Content-Type": "application/json"})
    assert r.status_code == 400


def test_auth_and_roles(setup, api_client, app):
    anon = app.test_client()
    r = anon.get("/api/v1/stock")
    assert r.status_code == 401 and r.json["error"]["code"] == "unauthorized"
    assert anon.get("/api/v1/stock", headers={"Authorization": "Bearer nope"}).status_code == 401
    worker = api_client("worker")
    r = worker.post("/items", json={"sku": "X", "name": "X"})
    assert r.status_code == 403
    r = worker.move(type="adjustment", sku="BOLT", qty=1, to_location="WH1-A-01")
    assert r.status_code == 403
    assert api_client("supervisor").move(type="adjustment", sku="BOLT", qty=1, to_location="WH1-A-01",
                                         reason="found").status_code == 201
    # The OpenAPI document is public and describes the move endpoint with its idempotency header.
    spec = anon.get("/api/v1/openapi.json").json
    assert spec["paths"]["/moves"]["post"]["parameters"][0]["name"] == "Idempotency-Key"


def test_ledger_is_cursor_paginated_in_order(setup, api_client):
    worker = api_client("worker")
    for n in range(5):
        assert worker.move(type="receipt", sku="BOLT", qty=n + 1, to_location="WH1-A-01").status_code == 201
    page1 = worker.get("/ledger?sku=BOLT&limit=2").json
    assert [m["qty"] for m in page1["moves"]] == [1, 2]
    page2 = worker.get(f"/ledger?sku=BOLT&limit=2&cursor={page1['next_cursor']}").json
    assert [m["qty"] for m in page2["moves"]] == [3, 4]
    page3 = worker.get(f"/ledger?sku=BOLT&limit=2&cursor={page2['next_cursor']}").json
    assert [m["qty"] for m in page3["moves"]] == [5] and page3["next_cursor"] is None
    assert worker.get("/ledger?cursor=abc").status_code == 400


def test_scrap_and_return_go_to_virtual_locations(setup, api_client):
    worker = api_client("worker")
    worker.move(type="receipt", sku="BOLT", qty=10, to_location="WH1-A-01")
    r = worker.move(type="scrap", sku="BOLT", qty=2, from_location="WH1-A-01", reason="broken")
    assert r.status_code == 201 and r.json["move"]["to_location"] == "VIRTUAL-SCRAP"
    r = worker.move(type="return", sku="BOLT", qty=3, from_location="WH1-A-01")
    assert r.status_code == 201 and r.json["move"]["to_location"] == "VIRTUAL-SUPPLIER"
    assert worker.get("/stock?sku=BOLT").json["items"][0]["qty"] == 5


def test_unique_key_shape(setup, api_client):
    worker = api_client("worker")
    r = worker.move(key=" ", type="receipt", sku="BOLT", qty=1, to_location="WH1-A-01")
    assert r.status_code == 400
    r = worker.move(key="ключ", type="receipt", sku="BOLT", qty=1, to_location="WH1-A-01")
    assert r.status_code == 400
    assert worker.move(key=uuid.uuid4().hex, type="receipt", sku="BOLT", qty=1,
                       to_location="WH1-A-01").status_code == 201


def test_transit_stock_moves_only_with_its_transfer(setup, api_client, make_location, move_count):
    make_location("WH1-TRANSIT", type_="transit")
    worker = api_client("worker")
    assert worker.move(type="receipt", sku="BOLT", qty=5, to_location="WH1-A-01").status_code == 201
    for body in ({"type": "transfer", "from_location": "WH1-A-01", "to_location": "WH1-TRANSIT"},
                 {"type": "receipt", "to_location": "WH1-TRANSIT"}):
        r = worker.move(sku="BOLT", qty=1, **body)
        assert r.status_code == 422, r.json
        assert "transfer" in r.json["error"]["message"]
    assert move_count() == 1
