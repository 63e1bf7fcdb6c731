"""The handheld pick screens over HTTP: open a list by its label, scan location and item, refusals
that name what was expected, typed quantities, short pick, ship; every POST self-contained."""

import re
import uuid
from datetime import timedelta

import pytest

from scanapp.clock import today


@pytest.fixture
def released(app, make_location, make_item, receive, api_client):
    make_location("WH1-A-01")
    make_location("WH1-A-02")
    make_location("WH1-B-01")
    make_item("MILK", "Milk 1 l", barcodes=["4006381333931"], expiry_tracked=True)
    make_item("BOLT", "Bolt M8", barcodes=[("BOLT-BOX", 10), "BOLT-1"])
    receive("MILK", "WH1-A-01", 10, lot="L-1", expiry=today() + timedelta(days=20))
    receive("MILK", "WH1-A-02", 10, lot="L-2", expiry=today() + timedelta(days=40))
    receive("BOLT", "WH1-B-01", 100)
    office = api_client("supervisor")
    office.post("/customers", json={"code": "ACME", "name": "Acme Foods"})
    r = office.post("/sales-orders", json={"customer": "ACME", "number": "SO-7",
                                           "lines": [{"sku": "MILK", "qty": 3}, {"sku": "BOLT", "qty": 25}]})
    assert r.status_code == 201
    pl = office.post("/pick-lists", json={"orders": ["SO-7"]}).get_json()
    return {"pl": pl["number"], "lines": pl["lines"], "office": office}


def _en(page_client, role):
    """A logged-in client reading English (the default language is Chinese)."""
    client = page_client(role)
    client.post("/language", {"language": "en", "next": "/"})
    return client


def _scan(client, pl, code, line, location="", other="", qty=None):
    data = {"code": code, "line": line, "location": location, "other": other,
            "idempotency_key": uuid.uuid4().hex}
    if qty is not None:
        data["qty"] = qty
    return client.post(f"/pick/{pl}/scan", data=data, htmx=True)


def test_pick_flow_by_scans(released, page_client, balance):
    worker = _en(page_client, "worker")
    pl, (milk, bolt) = released["pl"], released["lines"]
    start = worker.get("/pick/")
    assert start.status_code == 200 and pl in start.get_data(as_text=True)
    r = worker.post("/pick/open", data={"code": f"DOC:PL:{pl}"}, htmx=True)
    assert r.headers["HX-Redirect"] == f"/pick/{pl}"
    assert worker.post("/pick/open", data={"code": "DOC:PL:PL-09999"}, htmx=True).status_code == 404

    page = worker.get(f"/pick/{pl}").get_data(as_text=True)
    assert "WH1-A-01" in page and "Milk 1 l" in page and "L-1" in page and "SO-7" in page
    assert 'data-stock-post' in page

    r = _scan(worker, pl, "LOC:WH1-A-02", milk["id"])
    assert r.status_code == 422 and "pick from WH1-A-01" in r.get_data(as_text=True)
    r = _scan(worker, pl, "LOT:MILK:L-1", milk["id"])
    assert r.status_code == 422 and "Scan the location first" in r.get_data(as_text=True)
    r = _scan(worker, pl, "LOC:WH1-A-01", milk["id"])
    assert r.status_code == 200 and "confirmed" in r.get_data(as_text=True)
    r = _scan(worker, pl, "BOLT-1", milk["id"], location="WH1-A-01")
    assert r.status_code == 422 and "MILK — Milk 1 l" in r.get_data(as_text=True)
    r = _scan(worker, pl, "LOT:MILK:L-2", milk["id"], location="WH1-A-01")
    assert r.status_code == 422 and "pick lot L-1" in r.get_data(as_text=True)
    r = _scan(worker, pl, "4006381333931", milk["id"], location="WH1-A-01")
    assert r.status_code == 422 and "Scan the lot" in r.get_data(as_text=True)
    r = _scan(worker, pl, "LOT:MILK:L-1", milk["id"], location="WH1-A-01")
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "Picked 1 × MILK" in body
    assert re.search(r'id="pick-remaining">2<', body)
    # Typed quantity (the form carries the scanned code); too many is refused.
    r = _scan(worker, pl, "LOT:MILK:L-1", milk["id"], location="WH1-A-01", qty="5")
    assert r.status_code == 409 and "only 2 more" in r.get_data(as_text=True)
    r = _scan(worker, pl, "LOT:MILK:L-1", milk["id"], location="WH1-A-01", qty="2")
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "Line done" in body and "WH1-B-01" in body  # the next line
    assert balance("MILK", "WH1-A-01", "L-1") == 7

    # BOLT: a pack scan adds 10; then short: 20 found of 25.
    assert _scan(worker, pl, "LOC:WH1-B-01", bolt["id"]).status_code == 200
    r = _scan(worker, pl, "BOLT-BOX", bolt["id"], location="WH1-B-01")
    assert "Picked 10 × BOLT" in r.get_data(as_text=True)
    _scan(worker, pl, "BOLT-BOX", bolt["id"], location="WH1-B-01")
    r = worker.post(f"/pick/{pl}/short", data={"line": bolt["id"], "qty_found": "20", "reason": "not_found",
                                               "idempotency_key": uuid.uuid4().hex}, htmx=True)
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "Line short by 5" in body and "All lines done" in body
    r = worker.post(f"/pick/{pl}/ship", data={"idempotency_key": uuid.uuid4().hex}, htmx=True)
    assert r.status_code == 200 and "shipped" in r.get_data(as_text=True)
    assert balance("BOLT", "WH1-B-01") == 80
    assert balance("BOLT", "WH1-OUTBOUND") == 0
    order = released["office"].get("/sales-orders/SO-7").get_json()
    assert order["status"] == "shipped" and order["lines"][1]["backorder"] == 5


def test_repeated_scan_post_counts_once(released, page_client, balance):
    worker = _en(page_client, "worker")
    pl, milk = released["pl"], released["lines"][0]
    data = {"code": "LOT:MILK:L-1", "line": milk["id"], "location": "WH1-A-01", "idempotency_key": uuid.uuid4().hex}
    first = worker.post(f"/pick/{pl}/scan", data=data, htmx=True)
    again = worker.post(f"/pick/{pl}/scan", data=data, htmx=True)
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert balance("MILK", "WH1-A-01", "L-1") == 9


def test_pick_from_another_location_on_the_handheld(released, page_client, balance):
    worker = _en(page_client, "worker")
    pl, milk = released["pl"], released["lines"][0]
    page = worker.get(f"/pick/{pl}?line={milk['id']}&other=1").get_data(as_text=True)
    assert "Scan the other location" in page
    r = _scan(worker, pl, "LOC:WH1-A-02", milk["id"], other="1")
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "WH1-A-02" in body and "L-2" in body
    assert _scan(worker, pl, "LOT:MILK:L-2", milk["id"], location="WH1-A-02", qty="3").status_code == 200
    assert balance("MILK", "WH1-A-02", "L-2") == 7 and balance("MILK", "WH1-A-01", "L-1") == 10


def test_next_list_for_me(released, page_client):
    worker = _en(page_client, "worker")
    r = worker.post("/pick/next")
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/pick/{released['pl']}")
    other = _en(page_client, "worker")
    r = other.post("/pick/next")
    assert r.status_code == 404  # taken by the first worker


def test_office_pages(released, page_client):
    boss = _en(page_client, "supervisor")
    for path in ("/orders", "/orders/new", "/customers", "/pick-lists", f"/pick-lists/{released['pl']}",
                 "/pick-lists/shortages", "/count-flags", "/orders/SO-7"):
        r = boss.get(path)
        assert r.status_code == 200, path
    fragment = boss.get(f"/pick-lists/{released['pl']}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.strip().startswith('<div id="pick-progress"') and 'hx-trigger="every 3s"' in fragment
    assert _en(page_client, "worker").get("/orders").status_code == 403
    stock = boss.get("/stock?q=MILK").get_data(as_text=True)
    assert "Available" in stock and "Reserved" in stock
