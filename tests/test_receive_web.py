"""The handheld receive flow and the office pages through HTTP, as htmx sends them."""

from __future__ import annotations

import html
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest

from scanapp.clock import today
from scanapp.demo import ean13
from scanapp.extensions import db

GS = "\x1d"
GTIN = "09506000134352"  # TEA's GTIN-14 (its EAN-13 is 9506000134352)
BOLT_EAN = ean13("690123450991")
NUT_CASE = ean13("690123450992")  # a case of 5


@pytest.fixture
def floor(app, make_location, make_item, make_user):
    """WH1 with shelves and a quarantine, three items, a supplier and an open PO PO-00001."""
    from scanapp.purchasing import services

    for code in ("WH1-A-01", "WH1-A-02", "WH1-B-01"):
        make_location(code)
    make_location("WH1-QA", type_="quarantine")
    make_item("BOLT", barcodes=[BOLT_EAN], unit_cost=Decimal("0.5"))
    make_item("TEA", barcodes=["9506000134352"], lot_tracked=True, expiry_tracked=True, min_shelf_life_days=60)
    make_item("NUT", barcodes=[(NUT_CASE, 5)])
    make_item("CUP")
    with app.app_context():
        services.create_supplier("ACME", "Acme")
        services.create_purchase_order(supplier="ACME", lines=[("BOLT", 10, "0.45"), ("TEA", 20, "30"),
                                                               ("NUT", 15, "0.2")], open_now=True)
        db.session.commit()
    return "PO-00001"


@pytest.fixture
def client_en(page_client):
    """page_client in English (the app's default language is Chinese)."""

    def make(role="worker"):
        client = page_client(role)
        client.post("/language", {"language": "en", "next": "/"})
        return client

    return make


def hidden_fields(text: str, marker: str = "data-stock-post") -> dict:
    """The hidden fields of the self-contained posting form (what the browser would send)."""
    block = text[text.index(marker):]
    block = block[: block.index("</form>")]
    return {m.group(1): html.unescape(m.group(2))
            for m in re.finditer(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', block)}


def step_of(response) -> str:
    return re.search(r'data-step="(\w+)"', response.get_data(as_text=True)).group(1)


class Handheld:
    def __init__(self, client, number):
        self.c, self.base = client, f"/receive/po/{number}"

    def scan(self, code):
        return self.c.post(self.base + "/scan", data={"code": code, "idempotency_key": "k"}, htmx=True)

    def qty(self, qty):
        return self.c.post(self.base + "/qty", data={"qty": qty}, htmx=True)

    def lot(self, lot, expiry=""):
        return self.c.post(self.base + "/lot", data={"lot": lot, "expiry": expiry}, htmx=True)

    def accept_all(self):
        return self.c.post(self.base + "/inspect", data={"action": "accept"}, htmx=True)

    def split(self, rejected, reason):
        return self.c.post(self.base + "/inspect", data={"action": "split", "rejected": rejected, "reason": reason},
                           htmx=True)

    def put_away(self, response, location):
        fields = hidden_fields(response.get_data(as_text=True))
        fields["code"] = location
        fields.pop("csrf_token", None)
        return self.c.post(self.base + "/post", data=fields, htmx=True)


def line(app, number, sku):
    from scanapp.purchasing import services

    with app.app_context():
        po = services.po_by_number(number)
        found = next(x for x in po.lines if x.item.sku == sku)
        result = (found.qty_received, found.qty_rejected, po.status.value)
        db.session.remove()
        return result


def test_the_whole_po_received_by_gs1_and_plain_scans_with_rejects(app, floor, client_en, balance):
    """Done when: a PO with lot-tracked lines, received partly by GS1 scans and partly by plain
    barcodes, some rejected to quarantine, put away to scanned locations; progress, status and
    ledger exact."""
    worker = client_en("worker")
    found = worker.post("/receive/find", data={"code": "DOC:PO:PO-00001"}, htmx=True)
    assert found.status_code == 200 and found.headers["HX-Redirect"] == "/receive/po/PO-00001"
    page = worker.get("/receive/po/PO-00001")
    assert page.status_code == 200 and 'data-step="item"' in page.get_data(as_text=True)
    h = Handheld(worker, floor)
    expiry = today() + timedelta(days=400)

    # GS1 DataMatrix on a TEA carton: GTIN, expiry, lot and a count of 12.
    r = h.scan(f"]d201{GTIN}17{expiry:%y%m%d}10L-TEA-1{GS}3012")
    assert r.status_code == 200 and step_of(r) == "qty"
    assert 'value="12"' in r.get_data(as_text=True)
    r = h.qty("12")
    assert step_of(r) == "inspect"  # lot and expiry came with the scan
    r = h.split("2", "Damaged")
    assert step_of(r) == "location"
    r = h.put_away(r, "LOC:WH1-A-01")
    assert r.status_code == 200, r.get_data(as_text=True)
    assert step_of(r) == "item" and "Received 10 pcs TEA → WH1-A-01." in r.get_data(as_text=True)
    assert line(app, floor, "TEA") == (10, 2, "partially_received")

    # A second TEA lot, typed: the scan has only the GTIN.
    r = h.scan("9506000134352")
    assert step_of(r) == "qty"
    for _ in range(2):  # each further scan of the same item adds one
        r = h.scan("9506000134352")
    assert 'value="3"' in r.get_data(as_text=True)
    r = h.qty("10")
    assert step_of(r) == "lot"
    r = h.lot("L-TEA-2", (today() - timedelta(days=1)).isoformat())
    assert r.status_code == 422 and "expired" in r.get_data(as_text=True)
    r = h.lot("L-TEA-2", (today() + timedelta(days=30)).isoformat())
    assert step_of(r) == "inspect" and "Short shelf life" in r.get_data(as_text=True)
    r = h.accept_all()
    r = h.put_away(r, "WH1-A-02")
    assert r.status_code == 200 and "Short shelf life" in r.get_data(as_text=True)
    assert line(app, floor, "TEA") == (20, 2, "partially_received")

    # Plain barcodes: BOLT's EAN-13 ten times… the first one, then typing 10.
    r = h.scan(BOLT_EAN)
    r = h.qty("10")
    r = h.accept_all()
    assert "Usual location" not in r.get_data(as_text=True)
    r = h.put_away(r, "WH1-B-01")
    assert line(app, floor, "BOLT") == (10, 0, "partially_received")
    # A NUT case barcode counts 5; three scans = 15, the whole line.
    r = h.scan(NUT_CASE)
    assert 'value="5"' in r.get_data(as_text=True)
    r = h.scan(NUT_CASE)
    r = h.scan(NUT_CASE)
    assert 'value="15"' in r.get_data(as_text=True)
    r = h.qty("15")
    r = h.split("15", "Wrong item")  # all rejected: no put-away location
    assert step_of(r) == "location" and "Send all to quarantine" in r.get_data(as_text=True)
    r = h.put_away(r, "")
    assert r.status_code == 200
    assert line(app, floor, "NUT") == (0, 15, "partially_received")
    # …so NUT is still open: 15 replacement pieces arrive.
    r = h.scan(NUT_CASE)
    r = h.qty("15")
    r = h.accept_all()
    r = h.put_away(r, "WH1-B-01")
    assert line(app, floor, "NUT") == (15, 15, "received")

    assert balance("TEA", "WH1-A-01", lot="L-TEA-1") == 10
    assert balance("TEA", "WH1-QA", lot="L-TEA-1") == 2
    assert balance("TEA", "WH1-A-02", lot="L-TEA-2") == 10
    assert balance("BOLT", "WH1-B-01") == 10
    assert balance("NUT", "WH1-QA") == 15 and balance("NUT", "WH1-B-01") == 15

    from sqlalchemy import select

    from scanapp.inventory.models import StockMove

    with app.app_context():
        moves = db.session.execute(select(StockMove).order_by(StockMove.id)).scalars().all()
        ledger = [(m.item.sku, m.from_location.code, m.to_location.code, m.qty, m.unit_cost, m.document_id)
                  for m in moves]
    assert ledger == [
        ("TEA", "VIRTUAL-SUPPLIER", "WH1-A-01", 10, 30, floor),
        ("TEA", "VIRTUAL-SUPPLIER", "WH1-QA", 2, 30, floor),
        ("TEA", "VIRTUAL-SUPPLIER", "WH1-A-02", 10, 30, floor),
        ("BOLT", "VIRTUAL-SUPPLIER", "WH1-B-01", 10, Decimal("0.45"), floor),
        ("NUT", "VIRTUAL-SUPPLIER", "WH1-QA", 15, Decimal("0.2"), floor),
        ("NUT", "VIRTUAL-SUPPLIER", "WH1-B-01", 15, Decimal("0.2"), floor),
    ]
    # The office sees it all on the PO page.
    office = client_en("supervisor")
    text = office.get(f"/purchase-orders/{floor}").get_data(as_text=True)
    assert text.count('data-move="') == 6 and 'data-status="received"' in text
    # Everything accepted in full, so closing it is not short.
    office.post(f"/purchase-orders/{floor}/close")
    text = office.get(f"/purchase-orders/{floor}").get_data(as_text=True)
    assert 'data-status="closed"' in text and "closed short" not in text


def test_refusals_keep_the_screen_and_say_why(app, floor, client_en):
    worker = client_en("worker")
    h = Handheld(worker, floor)
    r = h.scan("CUP")
    assert r.status_code == 422 and 'data-step="item"' in r.get_data(as_text=True)
    assert "CUP (Item CUP) is not on purchase order PO-00001." in r.get_data(as_text=True)
    r = h.scan("NO-SUCH")
    assert r.status_code == 422 and "no location, item or lot has this code" in r.get_data(as_text=True)
    r = h.scan(BOLT_EAN)
    r = h.qty("11")
    assert r.status_code == 409 and step_of(r) == "qty"
    assert "ordered 10, received 0, this receipt 11" in r.get_data(as_text=True)
    r = h.scan("CUP")
    assert r.status_code == 422 and "You are receiving BOLT" in r.get_data(as_text=True)
    r = h.qty("10")
    r = h.accept_all()
    bad = h.put_away(r, "BOLT")  # an item where a location was expected
    assert bad.status_code == 422 and step_of(bad) == "location"
    ok = h.put_away(r, "WH1-A-01")
    assert ok.status_code == 200
    again = h.scan(BOLT_EAN)
    assert again.status_code == 409 and "already fully received" in again.get_data(as_text=True)


def test_the_post_is_self_contained_and_posts_once(app, floor, client_en, move_count, balance):
    worker = client_en("worker")
    h = Handheld(worker, floor)
    h.scan(BOLT_EAN)
    h.qty("4")
    r = h.accept_all()
    fields = hidden_fields(r.get_data(as_text=True))
    assert {"po", "sku", "qty", "rejected_qty", "reject_reason", "lot", "expiry", "idempotency_key"} <= set(fields)
    fields.pop("csrf_token")
    fields["code"] = "WH1-A-01"
    # A replay from an offline queue, with another session state: same key posts once.
    worker.post(h.base + "/cancel", htmx=True)
    first = worker.post(h.base + "/post", data=fields, htmx=True)
    second = worker.post(h.base + "/post", data=fields, htmx=True)
    assert first.status_code == second.status_code == 200
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert move_count(document_id=floor) == 1 and balance("BOLT", "WH1-A-01") == 4
    # The same form replayed when the line is since full: refused with a message, nothing posted.
    h.scan(BOLT_EAN)
    h.qty("6")
    h.put_away(h.accept_all(), "WH1-A-01")
    fields["idempotency_key"] = "another-key-123"
    late = worker.post(h.base + "/post", data=fields, htmx=True)
    assert late.status_code == 409 and "already fully received" in late.get_data(as_text=True)


def test_undo_of_the_last_line(app, floor, client_en, balance):
    worker = client_en("worker")
    h = Handheld(worker, floor)
    h.scan(BOLT_EAN)
    h.qty("3")
    r = h.put_away(h.accept_all(), "WH1-A-01")
    text = r.get_data(as_text=True)
    assert "Undo last line (3 BOLT)" in text
    receipt = re.search(r'name="receipt" value="(\d+)"', text).group(1)
    undone = worker.post(h.base + "/undo", data={"receipt": receipt, "idempotency_key": "undo-1"}, htmx=True)
    assert undone.status_code == 200 and "Undone: BOLT" in undone.get_data(as_text=True)
    assert balance("BOLT", "WH1-A-01") == 0 and line(app, floor, "BOLT") == (0, 0, "open")
    other = client_en("worker")
    refused = other.post(h.base + "/undo", data={"receipt": receipt, "idempotency_key": "undo-2"}, htmx=True)
    assert refused.status_code == 409


def test_start_page_lists_todays_orders_and_receipt_without_po_where_allowed(app, floor, client_en, balance):
    from scanapp.purchasing import services

    worker = client_en("worker")
    text = worker.get("/receive").get_data(as_text=True)
    assert 'data-po="PO-00001"' in text and "without a purchase order" not in text
    assert worker.get("/receive/wh/WH1").status_code == 403
    missing = worker.post("/receive/find", data={"code": "PO-99999"}, htmx=True)
    assert missing.status_code == 404 and "No purchase order PO-99999" in missing.get_data(as_text=True)
    with app.app_context():
        services.save_settings("WH1", over_receipt_pct="0", allow_without_po=True, without_po_role="worker",
                               quarantine_location=None)
        db.session.commit()
    assert "Receive without a purchase order (WH1)" in worker.get("/receive").get_data(as_text=True)
    base = "/receive/wh/WH1"
    worker.post(base + "/scan", data={"code": "CUP"}, htmx=True)
    worker.post(base + "/qty", data={"qty": "7"}, htmx=True)
    r = worker.post(base + "/inspect", data={"action": "accept"}, htmx=True)
    fields = hidden_fields(r.get_data(as_text=True))
    fields.pop("csrf_token")
    fields["code"] = "WH1-A-02"
    assert worker.post(base + "/post", data=fields, htmx=True).status_code == 200
    assert balance("CUP", "WH1-A-02") == 7


def test_usual_location_is_suggested(app, floor, client_en, receive):
    receive("BOLT", "WH1-B-01", 30)
    worker = client_en("worker")
    h = Handheld(worker, floor)
    h.scan(BOLT_EAN)
    h.qty("1")
    r = h.accept_all()
    assert 'data-location="WH1-B-01"' in r.get_data(as_text=True)


def test_office_pages(app, floor, client_en, make_location):
    office = client_en("supervisor")
    assert office.get("/purchase-orders").status_code == 200
    listed = office.get("/purchase-orders?status=draft", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "PO-00001" not in listed
    assert 'data-po="PO-00001"' in office.get("/purchase-orders?status=open").get_data(as_text=True)
    r = office.post("/suppliers", data={"code": "ZEN", "name": "Zen Ltd"})
    assert r.status_code == 303 and "Zen Ltd" in office.get("/suppliers").get_data(as_text=True)
    r = office.post("/purchase-orders", data={"supplier": "ZEN", "warehouse": "WH1", "number": ""})
    assert r.status_code == 303 and r.headers["Location"].endswith("/purchase-orders/PO-00002")
    r = office.post("/purchase-orders/PO-00002/lines", data={"sku": "CUP", "qty": "5"}, htmx=True)
    assert r.status_code == 200 and 'data-sku="CUP"' in r.get_data(as_text=True)
    r = office.post("/purchase-orders/PO-00002/lines", data={"sku": "NOPE", "qty": "5"}, htmx=True)
    assert r.status_code == 422 and "No item with SKU NOPE" in r.get_data(as_text=True)
    assert office.post("/purchase-orders/PO-00002/open").status_code == 303
    assert 'data-status="open"' in office.get("/purchase-orders/PO-00002/progress").get_data(as_text=True)
    office.post("/purchase-orders/PO-00002/close")
    assert "closed short" in office.get("/purchase-orders/PO-00002").get_data(as_text=True)
    assert client_en("worker").get("/purchase-orders").status_code == 403

    admin = client_en("admin")
    assert admin.get("/settings/receiving").status_code == 200
    assert office.get("/settings/receiving").status_code == 403
    r = admin.post("/settings/receiving", data={"warehouse": "WH1", "over_receipt_pct": "10",
                                                "without_po_role": "worker", "quarantine_location": "WH1-QA"})
    assert r.status_code == 303


def test_import_page_all_or_nothing(app, floor, client_en):
    office = client_en("supervisor")
    bad = b"number,supplier,warehouse,sku,qty,unit_cost\nI-1,ACME,WH1,BOLT,5,\nI-1,ACME,WH1,NOPE,5,\n"
    r = office.post("/purchase-orders/import", data={"file": (io.BytesIO(bad), "po.csv")},
                    content_type="multipart/form-data")
    text = r.get_data(as_text=True)
    assert r.status_code == 422 and "No item with SKU NOPE" in text and '<td class="num">3</td>' in text
    good = bad.replace(b"NOPE", b"CUP")
    r = office.post("/purchase-orders/import", data={"file": (io.BytesIO(good), "po.csv")},
                    content_type="multipart/form-data")
    assert r.status_code == 200 and "1 purchase orders imported" in r.get_data(as_text=True)


def test_cli_import(app, floor, runner, tmp_path):
    path = tmp_path / "po.csv"
    path.write_text("number,supplier,warehouse,sku,qty,unit_cost\nC-1,ACME,WH1,CUP,3,1.5\n")
    result = runner.invoke(args=["import-purchase-orders", str(path)])
    assert result.exit_code == 0 and "C-1" in result.output
    path.write_text("number,supplier,warehouse,sku,qty,unit_cost\nC-2,ACME,WH1,CUP,-3,1.5\n")
    result = runner.invoke(args=["import-purchase-orders", str(path)])
    assert result.exit_code != 0 and "row 2" in result.output


def test_return_page(app, floor, client_en, receive, balance):
    receive("BOLT", "WH1-QA", 4)
    worker = client_en("worker")
    assert worker.get("/returns/new?po=PO-00001").status_code == 200
    r = worker.post("/returns", data={"po": "PO-00001", "sku": "BOLT", "qty": "3", "from_location": "WH1-QA",
                                      "reason": "rusty", "idempotency_key": "ret-1"}, htmx=True)
    assert r.status_code == 200 and "Returned: 3 × BOLT from WH1-QA" in r.get_data(as_text=True)
    assert balance("BOLT", "WH1-QA") == 1
    r = worker.post("/returns", data={"po": "PO-00001", "sku": "CUP", "qty": "1", "from_location": "WH1-QA",
                                      "idempotency_key": "ret-2"}, htmx=True)
    assert r.status_code == 422 and "not on purchase order" in r.get_data(as_text=True)


def test_a_second_lot_in_the_quantity_step_is_refused(app, floor, client_en):
    h = Handheld(client_en("worker"), floor)
    expiry = today() + timedelta(days=300)
    assert step_of(h.scan(f"]C101{GTIN}17{expiry:%y%m%d}10LOT-A")) == "qty"
    assert 'value="2"' in h.scan(f"]C101{GTIN}17{expiry:%y%m%d}10LOT-A").get_data(as_text=True)
    r = h.scan(f"]C101{GTIN}17{expiry:%y%m%d}10LOT-B")
    assert r.status_code == 422 and "This is lot LOT-B; you are receiving lot LOT-A" in r.get_data(as_text=True)
    assert 'value="2"' in r.get_data(as_text=True)


def test_a_heartbeat_answered_after_a_scan_does_not_undo_the_scan(app, floor, client_en):
    """The session is a signed cookie. A heartbeat or a page load sent before a scan and answered
    after it carries the session as it was before the scan; had its response sent the cookie back,
    the browser would have put the old one over the scanned item ("Scan an item first")."""
    c = client_en()
    hh = Handheld(c, floor)
    before_scan = c.client.get_cookie("session").value
    assert step_of(hh.scan(BOLT_EAN)) == "qty"

    late = app.test_client()  # the same browser: its requests in flight still hold the old cookie
    late.set_cookie("session", before_scan)
    answers = [
        late.post("/devices/heartbeat", data={"device": "handheld-0001", "waiting": "0", "conflicts": "0"},
                  headers={"X-CSRFToken": c.csrf}),
        late.get("/"),
        late.get(f"/receive/po/{floor}"),
    ]
    for response in answers:
        assert response.status_code == 200
        for header in response.headers.getlist("Set-Cookie"):  # what the browser would store
            name, _sep, rest = header.partition("=")
            c.client.set_cookie(name, rest.split(";")[0])

    assert step_of(hh.qty("3")) == "inspect"
