"""The stocktake API: a blind count through a worker's eyes, roles, idempotent scans, review and
decisions, and two supervisors approving at the same moment (real threads, separate connections)."""

import uuid
from datetime import date
from decimal import Decimal

import pytest

from tests.conftest import race

# Book quantities chosen so that no other number in a response (ids, rounds, line counts) equals one.
BOOK = {("WH1-A-01", "TEA", "L1"): 137, ("WH1-A-01", "TEA", "L2"): 251, ("WH1-A-01", "BOLT", None): 389,
        ("WH1-A-02", "BOLT", None): 173}
EXPIRY = date(2030, 6, 30)


@pytest.fixture
def stocked(make_location, make_item, receive):
    for code in ("WH1-A-01", "WH1-A-02"):
        make_location(code)
    make_item("TEA", barcodes=[("6901234500011", 1), ("6901234500028", 20)], lot_tracked=True,
              expiry_tracked=True, unit_cost="38.5")
    make_item("BOLT", barcodes=["4006381333931"], unit_cost="0.35")
    for (location, sku, lot), qty in BOOK.items():
        receive(sku, location, qty, lot=lot, expiry=EXPIRY if lot else None)


@pytest.fixture
def sup(api_client):
    return api_client("supervisor", username="sup")


@pytest.fixture
def worker(api_client):
    return api_client("worker", username="ann")


def _values(payload):
    """Every scalar anywhere in a JSON document (keys and values alike)."""
    if isinstance(payload, dict):
        for key, value in payload.items():
            yield key
            yield from _values(value)
    elif isinstance(payload, list):
        for value in payload:
            yield from _values(value)
    else:
        yield payload


def _leaks(payload) -> set:
    """Book quantities found as a value in ``payload`` (as a number or as text)."""
    books = set(BOOK.values())
    found = set()
    for value in _values(payload):
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float | Decimal) and value in books:
            found.add(value)
        if isinstance(value, str):
            try:
                if Decimal(value) in books:
                    found.add(value)
            except ArithmeticError:
                pass
    return found


def _scan(api, ref, key=None, **body):
    return api.post(f"/counts/{ref}/lines", json=body, key=key or uuid.uuid4().hex)


def test_a_blind_count_never_shows_the_book_to_a_worker(stocked, sup, worker):
    r = sup.post("/counts", json={"prefix": "WH1-A", "counters": ["ann"], "deadline": "2099-12-31"})
    assert r.status_code == 201, r.json
    count = r.json
    assert count["number"] == "CNT-00001" and count["blind"] is True and count["deadline"] == "2099-12-31"
    assert [loc["code"] for loc in count["locations"]] == ["WH1-A-01", "WH1-A-02"]
    ref = count["id"]

    responses = []

    def keep(response, status):
        assert response.status_code == status, response.json
        responses.append(response.json)
        return response.json

    keep(worker.get("/counts"), 200)
    keep(worker.get(f"/counts/{ref}"), 200)
    keep(worker.post(f"/counts/{ref}/locations/WH1-A-01/start"), 200)
    line = keep(_scan(worker, ref, location="WH1-A-01", barcode="6901234500028", lot="L1", qty=6), 201)
    assert line["line"]["counted"] == 120 and line["added"] == 120 and "book" not in line["line"]
    assert keep(_scan(worker, ref, location="WH1-A-01", sku="TEA", lot="L1", qty=15), 201)["line"]["counted"] == 135
    keep(_scan(worker, ref, location="WH1-A-01", sku="BOLT", qty=390), 201)
    keep(_scan(worker, ref, location="WH1-A-01", sku="TEA", lot="L4", qty=3, expiry="2031-01-31"), 201)
    keep(worker.get(f"/counts/{ref}/locations/WH1-A-01"), 200)
    keep(worker.get(f"/counts/{ref}"), 200)
    finished = keep(worker.post(f"/counts/{ref}/locations/WH1-A-01/done"), 200)
    assert (finished["lines"], finished["scanned"], finished["not_scanned"]) == (4, 3, 1)  # L2 counted 0
    assert "not_scanned_lines" not in finished
    keep(worker.post(f"/counts/{ref}/locations/WH1-A-02/done", json={}), 200)  # nothing found there
    keep(worker.get(f"/counts/{ref}/locations/WH1-A-02"), 200)
    keep(worker.post("/counts/CNT-00001/submit"), 200)
    keep(worker.get(f"/counts/{ref}"), 200)
    keep(worker.get(f"/counts/{ref}/locations/WH1-A-01"), 200)

    # Supervisor-only views and decisions: a worker's request gets 403 and leaks nothing.
    for path in ("/variances",):
        responses.append(worker.get(f"/counts/{ref}{path}").json)
        assert worker.get(f"/counts/{ref}{path}").status_code == 403
    for path, body in (("/approve", {}), ("/reject", {"lines": [1], "reason": "x"})):
        r = worker.post(f"/counts/{ref}{path}", json=body)
        assert r.status_code == 403
        responses.append(r.json)

    assert all(_leaks(body) == set() for body in responses), [_leaks(b) for b in responses]
    assert not any("book" in str(body) for body in responses)

    # The supervisor sees the book; the test above would catch it, had it leaked.
    review = sup.get(f"/counts/{ref}/variances").json
    assert _leaks(review) == set(BOOK.values())
    lines = {(v["location"], v["sku"], v["lot"]): v for v in review["lines"]}
    assert {k: (v["book"], v["counted"], v["difference"]) for k, v in lines.items()} == {
        ("WH1-A-01", "BOLT", None): (389, 390, 1),
        ("WH1-A-01", "TEA", "L1"): (137, 135, -2),
        ("WH1-A-01", "TEA", "L2"): (251, 0, -251),
        ("WH1-A-01", "TEA", "L4"): (0, 3, 3),
        ("WH1-A-02", "BOLT", None): (173, 0, -173),
    }
    assert lines[("WH1-A-01", "TEA", "L1")]["pct"] == -1.46 and lines[("WH1-A-01", "TEA", "L4")]["pct"] is None
    assert review["totals"]["lines"] == 5 and review["totals"]["accuracy_pct"] == 0
    assert review["thresholds"] == {"qty": 5, "pct": 5, "value": 100}


def test_a_worker_sees_the_book_when_the_count_is_not_blind(stocked, sup, worker):
    ref = sup.post("/counts", json={"locations": ["WH1-A-02"], "blind": False}).json["id"]
    started = worker.post(f"/counts/{ref}/locations/WH1-A-02/start").json
    assert [(ln["sku"], ln["book"], ln["counted"]) for ln in started["lines"]] == [("BOLT", 173, 0)]
    r = _scan(worker, ref, location="WH1-A-02", sku="BOLT", qty=170)
    assert r.json["line"]["book"] == 173
    done = worker.post(f"/counts/{ref}/locations/WH1-A-02/done").json
    assert done["not_scanned"] == 0 and done["not_scanned_lines"] == []


def test_scans_are_idempotent_and_validated(stocked, sup, worker):
    ref = sup.post("/counts", json={"locations": ["WH1-A-01"]}).json["number"]
    body = {"location": "WH1-A-01", "barcode": "4006381333931"}
    first = _scan(worker, ref, key="scan-1", **body)
    again = _scan(worker, ref, key="scan-1", **body)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert _scan(worker, ref, **body).json["line"]["counted"] == 2  # a new key is a new scan
    assert worker.post(f"/counts/{ref}/lines", json=body).status_code == 400  # no key
    for bad, status, code in [
        ({"location": "WH1-A-01", "sku": "BOLT", "qty": 0}, 422, "invalid_quantity"),
        ({"location": "WH1-A-01", "sku": "BOLT", "qty": "1.5"}, 422, "invalid_quantity"),
        ({"location": "WH1-A-01", "sku": "NOPE"}, 422, "unknown_reference"),
        ({"location": "WH1-A-02", "sku": "BOLT"}, 422, "not_in_count"),
        ({"location": "WH1-A-01", "sku": "TEA"}, 422, "invalid_move"),
        ({"location": "WH1-A-01", "sku": 5}, 400, "invalid_field"),
        ({"location": "WH1-A-01", "sku": "BOLT", "replace": "yes"}, 400, "invalid_field"),
    ]:
        r = _scan(worker, ref, **bad)
        assert (r.status_code, r.json["error"]["code"]) == (status, code), (bad, r.json)
    assert worker.get("/counts/CNT-09999").status_code == 404
    assert worker.post(f"/counts/{ref}/submit").json["error"]["code"] == "count_state"
    assert sup.post("/counts", json={}).json["error"]["code"] == "invalid_count"
    assert sup.post("/counts", json={"items": ["NOPE"]}).status_code == 422
    assert sup.post("/counts", json={"warehouse": "WH1", "counters": ["nobody"]}).status_code == 422
    assert sup.post("/counts", json={"warehouse": "WH1", "deadline": "soon"}).status_code == 400
    assert worker.post("/counts", json={"warehouse": "WH1"}).status_code == 403


def test_approve_reject_and_recount_through_the_api(stocked, sup, worker, api_client, issue_bolt):
    bob = api_client("worker", username="bob")
    ref = sup.post("/counts", json={"locations": ["WH1-A-01", "WH1-A-02"]}).json["id"]
    _scan(worker, ref, location="WH1-A-01", sku="BOLT", qty=389)
    _scan(worker, ref, location="WH1-A-01", sku="TEA", lot="L1", qty=137)
    _scan(worker, ref, location="WH1-A-01", sku="TEA", lot="L2", qty=250)
    worker.post(f"/counts/{ref}/locations/WH1-A-01/done")
    _scan(worker, ref, location="WH1-A-02", sku="BOLT", qty=100)
    worker.post(f"/counts/{ref}/locations/WH1-A-02/done")
    assert sup.post(f"/counts/{ref}/approve").json["error"]["code"] == "count_state"  # not submitted
    worker.post(f"/counts/{ref}/submit")
    lines = {(v["location"], v["sku"], v["lot"]): v for v in sup.get(f"/counts/{ref}/variances").json["lines"]}
    short = lines[("WH1-A-02", "BOLT", None)]
    assert (short["difference"], short["inside_thresholds"]) == (-73, False)

    r = sup.post(f"/counts/{ref}/approve")
    assert r.status_code == 200, r.json
    assert (r.json["approved"], r.json["adjustments"], r.json["waiting"], r.json["status"]) == (
        3, 1, [short["id"]], "submitted")
    r = sup.post(f"/counts/{ref}/reject", json={"lines": [short["id"]], "reason": "count again", "counter": "bob"})
    assert r.status_code == 200, r.json
    assert r.json["locations"][0] == {**r.json["locations"][0], "code": "WH1-A-02", "status": "recount",
                                      "assigned_to": "bob", "recount_reason": "count again"}
    assert _scan(worker, ref, location="WH1-A-02", sku="BOLT").json["error"]["code"] == "not_assigned"
    issue_bolt("WH1-A-02", 3)  # before the recount starts: in its snapshot
    r = sup.post(f"/counts/{ref}/reject", json={"lines": [short["id"]], "reason": "again"})
    assert r.status_code == 409 and r.json["error"]["code"] == "already_decided"

    assert _scan(bob, ref, location="WH1-A-02", sku="BOLT", qty=168).status_code == 201
    assert bob.post(f"/counts/{ref}/locations/WH1-A-02/done").status_code == 200
    lines = {(v["location"], v["sku"], v["lot"]): v for v in sup.get(f"/counts/{ref}/variances").json["lines"]}
    recount = lines[("WH1-A-02", "BOLT", None)]
    assert (recount["book"], recount["counted"], recount["round"], recount["counter"]) == (170, 168, 2, "bob")
    r = sup.post(f"/counts/{ref}/approve", json={"lines": [recount["id"]]})
    assert (r.json["approved"], r.json["adjustments"], r.json["status"]) == (1, 1, "closed")
    stock = {(s["location"], s["lot"]): s["qty"] for s in sup.get("/stock?sku=BOLT").json["items"]}
    assert stock[("WH1-A-02", None)] == 168
    ledger = sup.get("/ledger?sku=TEA").json["moves"]
    assert [(m["type"], m["qty"], m["document"]) for m in ledger if m["type"] == "adjustment"] == [
        ("adjustment", 1, {"type": "count", "id": "CNT-00001"})]


def test_an_approval_that_would_go_negative_is_a_409_naming_the_line(stocked, sup, worker, issue_bolt, move_count):
    ref = sup.post("/counts", json={"locations": ["WH1-A-02"]}).json["id"]
    _scan(worker, ref, location="WH1-A-02", sku="BOLT", qty=3)
    worker.post(f"/counts/{ref}/locations/WH1-A-02/done")
    issue_bolt("WH1-A-02", 172)  # 1 left; the count wants to take 170
    worker.post(f"/counts/{ref}/submit")
    line = sup.get(f"/counts/{ref}/variances").json["lines"][0]
    before = move_count()
    r = sup.post(f"/counts/{ref}/approve", json={"lines": [line["id"]]})
    assert r.status_code == 409 and r.json["error"]["code"] == "insufficient_stock"
    message = r.json["error"]["message"]
    assert f"Line {line['id']}" in message and "WH1-A-02" in message and "170" in message
    assert move_count() == before
    assert sup.get(f"/counts/{ref}/variances").json["lines"][0]["status"] == "counted"


def test_two_supervisors_approving_at_once_post_once(app, stocked, api_client, make_item, receive, move_count):
    """Real threads, separate connections, released together: one approval wins, the other 409."""
    sups = [api_client("supervisor", username=f"sup{i}") for i in range(2)]
    counter = api_client("worker", username="cnt")
    for rep in range(20):
        sku = f"RACE-{rep}"
        make_item(sku, unit_cost="1")
        receive(sku, "WH1-A-02", 100)
        ref = sups[0].post("/counts", json={"locations": ["WH1-A-02"], "items": [sku]}).json["id"]
        _scan(counter, ref, location="WH1-A-02", sku=sku, qty=101)  # inside the thresholds
        counter.post(f"/counts/{ref}/locations/WH1-A-02/done")
        counter.post(f"/counts/{ref}/submit")
        line_id = sups[0].get(f"/counts/{ref}/variances").json["lines"][0]["id"]
        body = {"lines": [line_id]} if rep % 2 else None  # explicit lines, and the bulk form
        before = move_count()
        results = race(2, lambda i, ref=ref, body=body: _approve(sups[i], ref, body))
        assert sorted(status for status, _ in results) == [200, 409], results
        assert {payload.get("error", {}).get("code") for status, payload in results if status == 409} <= {
            "already_decided", "nothing_to_approve", "count_state"}
        assert move_count() == before + 1
        stock = {s["location"]: s["qty"] for s in sups[1].get(f"/stock?sku={sku}").json["items"]}
        assert stock == {"WH1-A-02": 101}


def test_two_scans_of_a_new_item_at_once_make_one_line(app, stocked, sup, api_client):
    workers = [api_client("worker", username=f"w{i}") for i in range(4)]
    ref = sup.post("/counts", json={"locations": ["WH1-A-01"]}).json["id"]
    assert workers[0].post(f"/counts/{ref}/locations/WH1-A-01/start").status_code == 200
    results = race(4, lambda i: _post(workers[0], f"/counts/{ref}/lines",
                                       {"location": "WH1-A-01", "barcode": "6901234500011", "lot": "L2"}))
    assert [status for status, _ in results] == [201] * 4, results
    lines = workers[0].get(f"/counts/{ref}/locations/WH1-A-01").json["lines"]
    assert [(ln["sku"], ln["lot"], ln["counted"]) for ln in lines] == [("TEA", "L2", 4)]


def test_openapi_documents_the_count_routes(app):
    spec = app.test_client().get("/api/v1/openapi.json").json
    for path in ("/counts", "/counts/{ref}", "/counts/{ref}/lines", "/counts/{ref}/locations/{code}/done",
                 "/counts/{ref}/submit", "/counts/{ref}/variances", "/counts/{ref}/approve", "/counts/{ref}/reject"):
        assert path in spec["paths"], path
    assert spec["paths"]["/counts/{ref}/lines"]["post"]["parameters"][1]["name"] == "Idempotency-Key"


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def issue_bolt(app):
    def post(location, qty):
        from scanapp.extensions import db
        from scanapp.inventory import services

        with app.app_context():
            services.move_stock(type="issue", sku="BOLT", qty=qty, from_location=location, user_id=None)
            db.session.commit()
            db.session.remove()

    return post




def _post(api, path, body, key=None):
    # A fresh test client per call: its own app context, session and database connection.
    client = api.client.application.test_client()
    response = client.post("/api/v1" + path, json=body, headers=api._headers(key or uuid.uuid4().hex))
    return response.status_code, response.get_json()


def _approve(api, ref, body):
    client = api.client.application.test_client()
    if body is None:
        response = client.post(f"/api/v1/counts/{ref}/approve", headers=api._headers())
    else:
        response = client.post(f"/api/v1/counts/{ref}/approve", json=body, headers=api._headers())
    return response.status_code, response.get_json()

