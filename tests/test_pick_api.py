"""The orders and picking API, end to end: the Done-when scenario (FEFO across several lots, one short
pick, shipping) with exact ledger, balances, reservations and order statuses."""

import uuid
from datetime import timedelta

import pytest

from scanapp.clock import today


def _d(days):
    return today() + timedelta(days=days)


@pytest.fixture
def floor(app, make_location, make_item, receive):
    """MILK (lot + expiry) in three storage bins, an expired lot and a quarantined lot; BOLT (no lot)
    in an older and a newer bin."""
    for code in ("WH1-A-01", "WH1-A-02", "WH1-A-03", "WH1-B-01", "WH1-C-05"):
        make_location(code)
    make_location("WH1-Q-01", type_="quarantine")
    make_item("MILK", "Milk 1 l", barcodes=["4006381333931"], expiry_tracked=True)
    make_item("BOLT", "Bolt M8", barcodes=[("BOLT-BOX", 10), "BOLT-1"])
    receive("MILK", "WH1-A-01", 10, lot="L-LATE", expiry=_d(30))
    receive("MILK", "WH1-A-03", 4, lot="L-SOON", expiry=_d(5))
    receive("MILK", "WH1-A-02", 50, lot="L-OLD", expiry=_d(-1))  # expired: never suggested
    receive("MILK", "WH1-Q-01", 20, lot="L-QUAR", expiry=_d(2))  # quarantine: never suggested
    receive("BOLT", "WH1-C-05", 5)  # older receipt
    receive("BOLT", "WH1-B-01", 50)  # newer
    return app


@pytest.fixture
def office(api_client):
    api = api_client("supervisor")
    assert api.post("/customers", json={"code": "ACME", "name": "Acme Foods"}).status_code == 201
    return api


def _order(api, number, lines, customer="ACME"):
    r = api.post("/sales-orders", json={"customer": customer, "number": number,
                                        "lines": [{"sku": s, "qty": q} for s, q in lines]})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _pick(api, pl, line, key=None, **body):
    return api.post(f"/pick-lists/{pl}/picks", json={"line": line["id"], **body}, key=key or uuid.uuid4().hex)


def test_release_reserves_in_fefo_then_walking_order(floor, office, api_client):
    _order(office, "SO-A", [("MILK", 6), ("BOLT", 7)])
    _order(office, "SO-B", [("MILK", 6)])
    r = office.post("/pick-lists", json={"orders": ["SO-A", "SO-B"]})
    assert r.status_code == 201, r.get_json()
    pl = r.get_json()
    assert pl["number"] == "PL-00001" and pl["orders"] == ["SO-A", "SO-B"]
    got = [(ln["location"], ln["sku"], ln["lot"], ln["qty"], ln["order"]) for ln in pl["lines"]]
    assert got == [
        ("WH1-A-01", "MILK", "L-LATE", 2, "SO-A"),
        ("WH1-A-01", "MILK", "L-LATE", 6, "SO-B"),
        ("WH1-A-03", "MILK", "L-SOON", 4, "SO-A"),
        ("WH1-B-01", "BOLT", None, 2, "SO-A"),
        ("WH1-C-05", "BOLT", None, 5, "SO-A"),
    ]
    stock = {(b["location"], b["lot"]): (b["qty"], b["reserved"], b["available"])
             for b in office.get("/stock?sku=MILK").get_json()["items"]}
    assert stock[("WH1-A-01", "L-LATE")] == (10, 8, 2)
    assert stock[("WH1-A-03", "L-SOON")] == (4, 4, 0)
    assert stock[("WH1-A-02", "L-OLD")] == (50, 0, 50)
    # The reserved units cannot be issued by anyone else.
    worker = api_client("worker")
    r = worker.move(type="issue", sku="MILK", lot="L-SOON", qty=1, from_location="WH1-A-03")
    assert r.status_code == 409
    # A second list for more MILK gets only what is left (2 at A-01); the rest is backorder.
    _order(office, "SO-C", [("MILK", 5)])
    pl2 = office.post("/pick-lists", json={"orders": ["SO-C"]}).get_json()
    assert [(ln["location"], ln["qty"]) for ln in pl2["lines"]] == [("WH1-A-01", 2)]
    so_c = office.get("/sales-orders/SO-C").get_json()
    assert so_c["status"] == "released" and so_c["lines"][0]["backorder"] == 3


def test_done_when_scenario_pick_short_ship(floor, office, api_client, balance, move_count):
    _order(office, "SO-1", [("MILK", 6), ("BOLT", 3)])
    _order(office, "SO-2", [("MILK", 6)])
    pl = office.post("/pick-lists", json={"orders": ["SO-1", "SO-2"]}).get_json()
    lines = pl["lines"]
    assert [(ln["location"], ln["lot"], ln["qty"], ln["order"]) for ln in lines] == [
        ("WH1-A-01", "L-LATE", 2, "SO-1"), ("WH1-A-01", "L-LATE", 6, "SO-2"),
        ("WH1-A-03", "L-SOON", 4, "SO-1"), ("WH1-C-05", None, 3, "SO-1")]
    worker = api_client("worker")
    n = pl["number"]

    # Refusals name what was expected.
    r = _pick(worker, n, lines[0], location="WH1-A-03", sku="MILK", lot="L-LATE", qty=1)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "wrong_location"
    assert "WH1-A-01" in r.get_json()["error"]["message"]
    r = _pick(worker, n, lines[0], location="WH1-A-01", sku="BOLT", qty=1)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "wrong_item"
    assert "MILK" in r.get_json()["error"]["message"]
    r = _pick(worker, n, lines[0], location="WH1-A-01", barcode="4006381333931", lot="L-SOON", qty=1)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "wrong_lot"
    assert "L-LATE" in r.get_json()["error"]["message"]
    r = _pick(worker, n, lines[0], location="WH1-A-01", sku="MILK", lot="L-LATE", qty=3)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "over_pick"

    # Line 1: two scans of one; a repeated request (same key) counts once.
    key = uuid.uuid4().hex
    r = _pick(worker, n, lines[0], key=key, location="WH1-A-01", barcode="4006381333931", lot="L-LATE", qty=1)
    assert r.status_code == 201, r.get_json()
    assert _pick(worker, n, lines[0], key=key, location="WH1-A-01", barcode="4006381333931", lot="L-LATE",
                 qty=1).headers.get("Idempotent-Replayed") == "true"
    r = _pick(worker, n, lines[0], location="WH1-A-01", sku="MILK", lot="L-LATE", qty=1)
    assert r.get_json()["line"]["status"] == "picked"
    # Line 2: 5 of 6 found, then short.
    assert _pick(worker, n, lines[1], location="WH1-A-01", sku="MILK", lot="L-LATE", qty=5).status_code == 201
    r = worker.post(f"/pick-lists/{n}/short", json={"line": lines[1]["id"], "qty_found": 5,
                                                     "reason": "damaged carton"})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["line"]["status"] == "short" and r.get_json()["line"]["qty_short"] == 1
    # Ship before the end is refused.
    assert worker.post(f"/pick-lists/{n}/ship").status_code == 409
    assert _pick(worker, n, lines[2], location="WH1-A-03", sku="MILK", lot="L-SOON", qty=4).status_code == 201
    r = _pick(worker, n, lines[3], location="WH1-C-05", sku="BOLT", qty=3)
    assert r.status_code == 201 and r.get_json()["pick_list"]["status"] == "picked"

    # Everything sits in the outbound location, still reserved (for the shipment).
    assert balance("MILK", "WH1-OUTBOUND", "L-LATE") == 7
    rows = worker.get("/stock?location=WH1-OUTBOUND").get_json()["items"]
    out = {b["lot"]: (b["qty"], b["reserved"]) for b in rows}
    assert out == {"L-LATE": (7, 7), "L-SOON": (4, 4), None: (3, 3)}
    assert office.get("/sales-orders/SO-1").get_json()["status"] == "picked"

    r = worker.post(f"/pick-lists/{n}/ship")
    assert r.status_code == 201, r.get_json()
    assert worker.post(f"/pick-lists/{n}/ship").status_code == 409  # once
    assert balance("MILK", "WH1-A-01", "L-LATE") == 3
    assert balance("MILK", "WH1-A-03", "L-SOON") == 0
    assert balance("MILK", "WH1-A-02", "L-OLD") == 50
    assert balance("BOLT", "WH1-C-05") == 2
    assert balance("MILK", "WH1-OUTBOUND", "L-LATE") == 0
    stock = worker.get("/stock?sku=MILK").get_json()["items"]
    assert all(b["reserved"] == 0 for b in stock)
    assert move_count(document_id=n) == 4 + 1 + 4  # 4 + 1 picks (one replayed), then 4 shipments
    so1 = office.get("/sales-orders/SO-1").get_json()
    so2 = office.get("/sales-orders/SO-2").get_json()
    assert so1["status"] == "shipped" and [ln["qty_shipped"] for ln in so1["lines"]] == [6, 3]
    assert so2["status"] == "shipped" and so2["lines"][0]["qty_shipped"] == 5 and so2["lines"][0]["backorder"] == 1
    ledger = worker.get("/ledger?sku=MILK").get_json()["moves"]
    shipped = [m for m in ledger if m["to_location"] == "VIRTUAL-CUSTOMER"]
    assert sorted((m["lot"], m["qty"]) for m in shipped) == [("L-LATE", 2), ("L-LATE", 5), ("L-SOON", 4)]
    # The short pick flagged its location for a count.
    from scanapp.extensions import db
    from scanapp.orders import services

    with office.client.application.app_context():
        flags = services.open_flags()
        assert [(f.location.code, f.reason, f.source) for f in flags] == [("WH1-A-01", "damaged carton", n)]
        db.session.remove()
    # The backorder can be released again.
    pl2 = office.post("/pick-lists", json={"orders": ["SO-2"]}).get_json()
    assert [(ln["location"], ln["lot"], ln["qty"]) for ln in pl2["lines"]] == [("WH1-A-01", "L-LATE", 1)]


def test_pick_from_another_location_re_reserves(floor, office, api_client, balance):
    _order(office, "SO-X", [("BOLT", 3)])
    pl = office.post("/pick-lists", json={"orders": ["SO-X"]}).get_json()
    line = pl["lines"][0]
    assert line["location"] == "WH1-C-05"
    worker = api_client("worker")
    r = _pick(worker, pl["number"], line, location="WH1-B-01", sku="BOLT", qty=1)
    assert r.get_json()["error"]["code"] == "wrong_location"
    r = _pick(worker, pl["number"], line, location="WH1-B-01", sku="BOLT", qty=3, from_other_location=True)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["line"]["location"] == "WH1-B-01"
    stock = {b["location"]: (b["qty"], b["reserved"]) for b in worker.get("/stock?sku=BOLT").get_json()["items"]}
    assert stock["WH1-C-05"] == (5, 0) and stock["WH1-B-01"] == (47, 0)
    # A location without the stock is refused.
    _order(office, "SO-Y", [("BOLT", 2)])
    pl = office.post("/pick-lists", json={"orders": ["SO-Y"]}).get_json()
    r = _pick(worker, pl["number"], pl["lines"][0], location="WH1-A-02", sku="BOLT", qty=1, from_other_location=True)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "wrong_location"


def test_count_that_finds_less_shows_a_shortage_on_the_pick_line(floor, office, api_client):
    """A count adjustment below the reserved units posts; the pick line shows the shortage and the
    worker can pick only what is left, then short-picks the rest."""
    _order(office, "SO-Z", [("MILK", 4)])
    pl = office.post("/pick-lists", json={"orders": ["SO-Z"]}).get_json()
    line = pl["lines"][0]
    assert (line["location"], line["qty"]) == ("WH1-A-03", 4)
    r = office.move(type="adjustment", sku="MILK", lot="L-SOON", qty=3, from_location="WH1-A-03",
                    reason="count found 1")
    assert r.status_code == 201, r.get_json()
    line = office.get(f"/pick-lists/{pl['number']}").get_json()["lines"][0]
    assert (line["reserved"], line["shortage"], line["reservation_cut"]) == (1, 3, 3)
    worker = api_client("worker")
    r = _pick(worker, pl["number"], line, location="WH1-A-03", sku="MILK", lot="L-SOON", qty=2)
    assert r.status_code == 409
    assert _pick(worker, pl["number"], line, location="WH1-A-03", sku="MILK", lot="L-SOON", qty=1).status_code == 201
    r = worker.post(f"/pick-lists/{pl['number']}/short", json={"line": line["id"], "qty_found": 1,
                                                                "reason": "count"})
    assert r.get_json()["line"]["qty_short"] == 3


def test_api_validation_and_roles(floor, office, api_client):
    worker = api_client("worker")
    assert worker.post("/customers", json={"code": "X"}).status_code == 403
    r = office.post("/sales-orders", json={"customer": "NOPE", "lines": [{"sku": "MILK", "qty": 1}]})
    assert r.status_code == 422
    r = office.post("/sales-orders", json={"customer": "ACME", "lines": [{"sku": "BOLT", "qty": 1.5}]})
    assert r.status_code == 422
    r = office.post("/sales-orders", json={"customer": "ACME", "lines": []})
    assert r.status_code == 400
    made = _order(office, None, [("BOLT", 1)])
    assert made["number"] == "SO-00001" and made["status"] == "open"
    assert office.post("/sales-orders", json={"customer": "ACME", "number": "so-00001",
                                              "lines": [{"sku": "BOLT", "qty": 1}]}).status_code == 409
    assert office.post("/pick-lists", json={"orders": ["NOPE"]}).status_code == 404
    _order(office, "SO-EMPTY", [("BOLT", 60)])
    office.post("/pick-lists", json={"orders": ["SO-EMPTY"]})
    _order(office, "SO-NONE", [("BOLT", 1)])
    r = office.post("/pick-lists", json={"orders": ["SO-NONE"]})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "nothing_to_pick"
    assert worker.post("/pick-lists/PL-00001/picks", json={"line": 1, "location": "WH1-C-05", "sku": "BOLT",
                                                            "qty": 1}).status_code == 400  # no key
    spec = worker.get("/openapi.json").get_json()
    for path in ("/customers", "/sales-orders", "/pick-lists", "/pick-lists/{ref}", "/pick-lists/{ref}/picks",
                 "/pick-lists/{ref}/short", "/pick-lists/{ref}/ship"):
        assert path in spec["paths"]
