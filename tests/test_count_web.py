"""Stocktake pages: the handheld count flow (blind: the book never reaches a worker's HTML), the
supervisor's sessions, progress, label and review, decisions, roles, fragments and idempotent scans."""

import re
import uuid
from datetime import date
from decimal import Decimal

import pytest

EXPIRY = date(2030, 6, 30)
# Book quantities no other number on these pages can equal (ids, counts of lines, rounds, counted).
BOOK = {("WH1-A-01", "FLOUR", None): "37.5", ("WH1-A-01", "TEA", "L1"): "137", ("WH1-A-01", "TEA", "L2"): "251",
        ("WH1-A-01", "BOLT", None): "389", ("WH1-A-02", "BOLT", None): "173"}
GS1_TEA_L1 = "0106901234500011" + "17300630" + "10L1"  # (01) GTIN (17) expiry (10) lot, lot last: no GS
TOKENS = re.compile(r'(name="csrf_token" value|name="idempotency_key" value|name="csrf-token" content)="[^"]*"')


@pytest.fixture
def stocked(make_location, make_item, receive, make_user):
    make_user("ann", "worker")
    make_user("bob", "worker")
    for code in ("WH1-A-01", "WH1-A-02", "WH1-B-01"):
        make_location(code)
    make_item("TEA", name="Green tea", barcodes=[("6901234500011", 1), ("6901234500028", 20)], lot_tracked=True,
              expiry_tracked=True, unit_cost="38.5")
    make_item("BOLT", name="Bolt", barcodes=["4006381333931"], unit_cost="0.35")
    make_item("FLOUR", name="Flour", uom="kg", whole_units=False, unit_cost="2")
    for (location, sku, lot), qty in BOOK.items():
        receive(sku, location, Decimal(qty), lot=lot, expiry=EXPIRY if lot else None)
    receive("BOLT", "WH1-B-01", 50)


def english(client):
    client.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def log_in(app, username):
    from tests.conftest import PageClient

    client = english(PageClient(app))
    assert client.login(username).status_code == 303
    return client


@pytest.fixture
def sup(page_client):
    return english(page_client("supervisor", username="sup"))


@pytest.fixture
def ann(app, stocked):
    return log_in(app, "ann")


def visible(response) -> str:
    """The HTML without CSRF tokens and idempotency keys (random text that may hold any digits)."""
    return TOKENS.sub("", response.get_data(as_text=True))


def leaks(html: str) -> set[str]:
    return {qty for qty in BOOK.values() if re.search(rf"(?<![\d.]){re.escape(qty)}(?![\d])", html)}


def is_fragment(response) -> bool:
    return "<html" not in response.get_data(as_text=True)


def open_count(sup, **fields) -> str:
    data = {"scope": "prefix", "prefix": "WH1-A", "blind": "1", "counters": ["ann"], **fields}
    r = sup.post("/counts", data=data)
    assert r.status_code == 303, r.get_data(as_text=True)
    return r.headers["Location"].rsplit("/", 1)[-1]


def scan(client, ref, location, code, key=None, **extra):
    data = {"code": code, "location": location, "idempotency_key": key or uuid.uuid4().hex, **extra}
    return client.post(f"/count/{ref}/lines", data=data, htmx=True)


def test_a_blind_count_on_the_handheld_never_puts_the_book_in_the_html(app, stocked, sup, ann, balance):
    ref = open_count(sup)
    assert ref == "CNT-00001"
    pages = []

    def keep(response, status=200):
        assert response.status_code == status, response.get_data(as_text=True)[:2000]
        pages.append(visible(response))
        return response

    # Pick the session from my list, or scan its label: the scan field is sent on to the next screen.
    assert "CNT-00001" in keep(ann.get("/count")).get_data(as_text=True)
    r = keep(ann.post("/count", data={"code": "DOC:CNT:CNT-00001"}, htmx=True))
    assert r.headers["HX-Redirect"] == "/count/CNT-00001"
    assert ann.post("/count", data={"code": "cnt-00001"}).headers["Location"] == "/count/CNT-00001"
    assert "CNT-09999" in keep(ann.post("/count", data={"code": "CNT-09999"}, htmx=True), 404).get_data(as_text=True)
    assert ann.post("/count", data={"code": "DOC:PO:PO-00001"}, htmx=True).status_code == 422
    keep(ann.get("/count/CNT-00001"))
    assert is_fragment(keep(ann.get("/count/CNT-00001", headers={"HX-Request": "true"})))
    r = keep(ann.post("/count/CNT-00001", data={"code": "LOC:WH1-A-01"}, htmx=True))
    assert r.headers["HX-Redirect"] == "/count/CNT-00001/at/WH1-A-01"
    assert ann.post("/count/CNT-00001", data={"code": "WH1-B-01"}, htmx=True).status_code == 422  # not in it

    # Items: +1 per scan, the pack quantity for a pack barcode, GS1 fills the lot, typed qty multiplies.
    html = keep(ann.get("/count/CNT-00001/at/WH1-A-01")).get_data(as_text=True)
    assert "data-stock-post" in html and 'name="location" value="WH1-A-01"' in html
    assert "Nothing counted here yet" in html
    r = keep(scan(ann, ref, "WH1-A-01", "4006381333931"), 201)
    assert "+1 BOLT" in r.get_data(as_text=True) and 'hx-swap-oob="true"' in r.get_data(as_text=True)
    keep(scan(ann, ref, "WH1-A-01", "4006381333931"), 201)
    keep(scan(ann, ref, "WH1-A-01", GS1_TEA_L1), 201)
    r = keep(scan(ann, ref, "WH1-A-01", "6901234500028", qty="6", lot="L1"), 201)  # 6 cases of 20
    assert "+120 TEA" in r.get_data(as_text=True) and "121 counted" in r.get_data(as_text=True)
    r = keep(scan(ann, ref, "WH1-A-01", "6901234500028"), 422)  # lot-tracked, no lot: refused
    assert "lot-tracked" in r.get_data(as_text=True)
    keep(scan(ann, ref, "WH1-A-01", "FLOUR", qty="12.5"), 201)
    keep(scan(ann, ref, "WH1-A-01", "LOC:WH1-A-02"), 422)  # a location on the item screen
    lines = keep(ann.get("/count/CNT-00001/at/WH1-A-01", headers={"HX-Request": "true"}))
    assert is_fragment(lines)
    assert [m for m in re.findall(r'data-sku="(\w+)"', lines.get_data(as_text=True))] == ["BOLT", "FLOUR", "TEA"]

    # Location done: the confirmation says how many book lines were not scanned (TEA L2), nothing more.
    r = keep(ann.get("/count/CNT-00001/at/WH1-A-01/done"))
    html = r.get_data(as_text=True)
    assert 'data-not-scanned="1"' in html and "You counted 3 lines here." in html
    r = keep(ann.post("/count/CNT-00001/at/WH1-A-01/done", data={"idempotency_key": uuid.uuid4().hex}), 303)
    assert r.headers["Location"] == "/count/CNT-00001"
    html = keep(ann.get("/count/CNT-00001")).get_data(as_text=True)
    assert "WH1-A-01 done: 3 lines counted, 1 counted as 0." in html
    assert keep(scan(ann, ref, "WH1-A-01", "4006381333931"), 409).status_code == 409  # done is done

    # A location nobody scanned: the books had one line there.
    r = keep(ann.get("/count/CNT-00001/at/WH1-A-02/done"))
    assert 'data-not-scanned="1"' in r.get_data(as_text=True)
    keep(ann.post("/count/CNT-00001/at/WH1-A-02/done", data={"idempotency_key": uuid.uuid4().hex}), 303)
    html = keep(ann.get("/count/CNT-00001")).get_data(as_text=True)
    assert "Submit the count for review" in html
    keep(ann.post("/count/CNT-00001/submit"), 303)
    keep(ann.get("/count"))

    # The supervisor's pages: a worker gets 403 on every one (and on the decisions).
    for path in ("/counts", "/counts/new", "/counts/CNT-00001", "/counts/CNT-00001/review",
                 "/counts/CNT-00001/label.pdf", "/counts/CNT-00001/qr.svg"):
        keep(ann.get(path), 403)
        keep(ann.get(path, headers={"HX-Request": "true"}), 403)
    keep(ann.post("/counts/CNT-00001/approve", data={"all_inside": "1", "idempotency_key": uuid.uuid4().hex}), 403)
    keep(ann.post("/counts/CNT-00001/reject", data={"line": "1", "reason": "x", "idempotency_key": uuid.uuid4().hex}),
         403)
    keep(ann.post("/counts", data={"scope": "prefix", "prefix": "WH1"}), 403)
    bob = log_in(app, "bob")  # not a counter of this session
    assert bob.get("/count/CNT-00001").status_code == 403
    assert "CNT-00001" not in bob.get("/count").get_data(as_text=True)

    assert [leaks(html) for html in pages if leaks(html)] == []
    assert not any(">Book<" in html for html in pages)

    # The check above can fail: the supervisor's review has every book quantity.
    review = visible(sup.get("/counts/CNT-00001/review"))
    assert leaks(review) == set(BOOK.values())
    assert balance("BOLT", "WH1-A-01") == 389  # nothing posts before approval


def test_a_count_that_is_not_blind_shows_the_counter_the_book(stocked, sup, ann):
    ref = open_count(sup, blind="", scope="locations", locations="WH1-A-02", prefix="")
    assert scan(ann, ref, "WH1-A-02", "BOLT", qty="170").status_code == 201  # the first scan takes the snapshot
    html = ann.get(f"/count/{ref}/at/WH1-A-02").get_data(as_text=True)
    assert "Book 173" in html and ">Book<" in html and "170 pcs" in html


def test_the_supervisor_pages_and_fragments(stocked, sup):
    r = sup.get("/counts/new?locations=WH1-A-02,WH1-B-01")  # the hook for e.g. short-pick locations
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "WH1-A-02\nWH1-B-01</textarea>" in html
    assert 'value="locations" checked' in html and 'name="blind" value="1" checked' in html
    r = sup.post("/counts", data={"scope": "prefix", "prefix": "", "blind": "1"})
    assert r.status_code == 422 and "Say what to count" in r.get_data(as_text=True)
    r = sup.post("/counts", data={"scope": "locations", "locations": "WH1-A-02\nNOPE", "blind": "1"})
    assert r.status_code == 422 and "No location NOPE" in r.get_data(as_text=True)
    assert 'WH1-A-02\nNOPE</textarea>' in r.get_data(as_text=True)  # what was typed is kept

    ref = open_count(sup, scope="locations", locations="WH1-A-02\nWH1-B-01", prefix="", counters=["ann", "bob"],
                     deadline="2099-12-31", note="Short picks")
    r = sup.get(f"/counts/{ref}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "DOC:CNT:CNT-00001" in html and "2099-12-31" in html and "ann, bob" in html
    assert 'hx-trigger="every 5s"' in html and "0 of 2 locations done" in html
    progress = sup.get(f"/counts/{ref}", headers={"HX-Request": "true"})
    assert is_fragment(progress) and 'id="count-progress"' in progress.get_data(as_text=True)
    assert "HX-Request" in r.headers["Vary"]

    listing = sup.get("/counts")
    assert "CNT-00001" in listing.get_data(as_text=True) and "0 / 2" in listing.get_data(as_text=True)
    fragment = sup.get("/counts?status=closed", headers={"HX-Request": "true"})
    assert is_fragment(fragment) and "CNT-00001" not in fragment.get_data(as_text=True)

    pdf = sup.get(f"/counts/{ref}/label.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF") and pdf.headers["X-Label-Count"] == "1"
    zpl = sup.get(f"/counts/{ref}/label.zpl")
    assert zpl.status_code == 200 and b"DOC:CNT:CNT-00001" in zpl.data
    svg = sup.get(f"/counts/{ref}/qr.svg")
    assert svg.status_code == 200 and svg.headers["Content-Type"] == "image/svg+xml"
    assert b'<svg xmlns="http://www.w3.org/2000/svg"' in svg.data

    review = sup.get(f"/counts/{ref}/review")
    assert review.status_code == 200 and "Still counting" in review.get_data(as_text=True)
    assert is_fragment(sup.get(f"/counts/{ref}/review", headers={"HX-Request": "true"}))


def test_a_scan_repeated_with_its_key_counts_once(stocked, sup, ann):
    ref = open_count(sup)
    key = uuid.uuid4().hex
    first = scan(ann, ref, "WH1-A-01", "4006381333931", key=key)
    again = scan(ann, ref, "WH1-A-01", "4006381333931", key=key)
    assert first.status_code == again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    html = ann.get(f"/count/{ref}/at/WH1-A-01", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert re.search(r'data-sku="BOLT".*?class="num counted">1 pcs', html, re.S)


def test_review_approve_inside_then_outside_reject_and_recount(stocked, sup, ann, page_client, balance,
                                                              move_count):
    ref = open_count(sup, scope="locations", locations="WH1-A-01\nWH1-A-02", prefix="", counters=[])
    # WH1-A-01: BOLT 389 → 387 (inside: 2 units, 0.5 %, 0.70), FLOUR 37.5 → 37.5, TEA L1 137 → 121 (outside),
    # TEA L2 251 → 251. WH1-A-02: BOLT 173 → 0 (outside).
    assert scan(ann, ref, "WH1-A-01", "BOLT", qty="387").status_code == 201
    assert scan(ann, ref, "WH1-A-01", "FLOUR", qty="37.5").status_code == 201
    assert scan(ann, ref, "WH1-A-01", GS1_TEA_L1, qty="121").status_code == 201
    assert scan(ann, ref, "WH1-A-01", "TEA", lot="L2", qty="251").status_code == 201
    for code in ("WH1-A-01", "WH1-A-02"):
        assert ann.post(f"/count/{ref}/at/{code}/done", data={"idempotency_key": uuid.uuid4().hex}).status_code == 303
    assert sup.post(f"/count/{ref}/submit").status_code == 303

    review = sup.get(f"/counts/{ref}/review").get_data(as_text=True)
    assert "Submitted: waiting for approval." in review
    assert re.search(r'data-total="lines">5<', review) and re.search(r'data-total="accuracy">40.0 %<', review)
    assert re.search(r'data-total="value_down">-677.25<', review), review  # 0.70 + 16 × 38.5 + 173 × 0.35
    assert "Approve all 3 waiting lines inside the thresholds" in review

    outside = sup.get(f"/counts/{ref}/review?outside=1", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert re.findall(r'data-sku="(\w+)" data-location="([\w-]+)"', outside) == [("TEA", "WH1-A-01"),
                                                                               ("BOLT", "WH1-A-02")]
    by_value = sup.get(f"/counts/{ref}/review?sort=value", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert re.findall(r'data-sku="(\w+)" data-location', by_value)[:2] == ["TEA", "BOLT"]
    only = sup.get(f"/counts/{ref}/review?prefix=wh1-a-02&sku=bol").get_data(as_text=True)
    assert re.findall(r'data-line="(\d+)"', only) and "1 lines match." in only

    # One click approves the lines inside the thresholds; the others stay waiting.
    r = sup.post(f"/counts/{ref}/approve", data={"all_inside": "1", "idempotency_key": uuid.uuid4().hex}, htmx=True)
    assert r.status_code == 200 and "3 lines approved, 1 adjustments posted." in r.get_data(as_text=True)
    assert is_fragment(r)
    assert balance("BOLT", "WH1-A-01") == 387
    r = sup.post(f"/counts/{ref}/approve", data={"all_inside": "1", "idempotency_key": uuid.uuid4().hex}, htmx=True)
    assert r.status_code == 409 and "No lines inside the thresholds" in r.get_data(as_text=True)

    lines = dict(re.findall(r'data-line="(\d+)" data-sku="(\w+)" data-location="WH1-A-0\d" data-status="counted"',
                            r.get_data(as_text=True))[::1])
    tea_line = next(line for line, sku in lines.items() if sku == "TEA")
    bolt_line = next(line for line, sku in lines.items() if sku == "BOLT")

    # Reject TEA: its location goes back for a recount by bob; bob's list shows it, ann's does not.
    r = sup.post(f"/counts/{ref}/reject", data={"line": tea_line, "reason": "Check the top shelf", "counter": "bob",
                                                "idempotency_key": uuid.uuid4().hex}, htmx=True)
    assert r.status_code == 200 and "Sent back for a recount: WH1-A-01." in r.get_data(as_text=True)
    other = english(page_client("worker", username="cid"))
    assert "Check the top shelf" not in other.get("/count").get_data(as_text=True)
    bob = log_in(sup.app, "bob")
    start = bob.get("/count").get_data(as_text=True)
    assert "Recounts for me" in start and f"/count/{ref}/at/WH1-A-01" in start and "Check the top shelf" in start
    assert "Recounts for me" not in ann.get("/count").get_data(as_text=True)
    assert scan(ann, ref, "WH1-A-01", "BOLT").status_code == 403
    for code, qty in (("BOLT", "387"), ("FLOUR", "37.5"), ("TEA", "251")):
        assert scan(bob, ref, "WH1-A-01", code, qty=qty, **({"lot": "L2"} if code == "TEA" else {})).status_code == 201
    assert scan(bob, ref, "WH1-A-01", GS1_TEA_L1, qty="136").status_code == 201
    assert bob.post(f"/count/{ref}/at/WH1-A-01/done", data={"idempotency_key": uuid.uuid4().hex}).status_code == 303

    # The recount's lines replace the first count; the outside BOLT line needs an explicit selection.
    r = sup.post(f"/counts/{ref}/approve", data={"all_inside": "1", "idempotency_key": uuid.uuid4().hex}, htmx=True)
    assert "4 lines approved, 1 adjustments posted." in r.get_data(as_text=True)
    assert balance("TEA", "WH1-A-01", lot="L1") == 136
    key = uuid.uuid4().hex
    r = sup.post(f"/counts/{ref}/approve", data={"line": bolt_line, "idempotency_key": key}, htmx=True)
    assert r.status_code == 200 and "Closed: every line is decided." in r.get_data(as_text=True)
    again = sup.post(f"/counts/{ref}/approve", data={"line": bolt_line, "idempotency_key": key}, htmx=True)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert balance("BOLT", "WH1-A-02") == 0
    assert move_count(document_type="count") == 3
    assert "Closed" in sup.get(f"/counts/{ref}").get_data(as_text=True)
    assert ann.post("/count", data={"code": ref}, htmx=True).status_code == 409


def test_home_tiles_by_role(stocked, sup, ann):
    assert 'href="/count"' in ann.get("/").get_data(as_text=True)
    assert 'href="/counts"' not in ann.get("/").get_data(as_text=True)
    assert 'href="/counts"' in sup.get("/").get_data(as_text=True)


def test_the_count_pages_in_chinese(stocked, sup, ann):
    ref = open_count(sup)
    ann.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    html = ann.get(f"/count/{ref}/at/WH1-A-01").get_data(as_text=True)
    assert "扫描物料" in html and "库位完成" in html


def test_two_supervisors_approving_at_once_on_the_page_post_once(app, stocked, sup, ann, page_client, move_count,
                                                                 balance):
    from tests.conftest import race

    other = english(page_client("supervisor", username="sup2"))
    ref = open_count(sup, scope="locations", locations="WH1-A-02", prefix="")
    assert scan(ann, ref, "WH1-A-02", "BOLT", qty="170").status_code == 201  # 173 → 170: inside (3 units, 1.7 %)
    assert ann.post(f"/count/{ref}/at/WH1-A-02/done", data={"idempotency_key": uuid.uuid4().hex}).status_code == 303
    assert ann.post(f"/count/{ref}/submit").status_code == 303
    clients = [sup, other]
    results = race(2, lambda i: clients[i].post(f"/counts/{ref}/approve", htmx=True,
                                                data={"all_inside": "1", "idempotency_key": uuid.uuid4().hex}))
    assert sorted(r.status_code for r in results) == [200, 409]
    refused = next(r for r in results if r.status_code == 409).get_data(as_text=True)
    assert 'id="decision-message"' in refused and 'role="alert"' in refused  # the review, with the reason
    assert move_count(document_type="count") == 1
    assert balance("BOLT", "WH1-A-02") == 170
