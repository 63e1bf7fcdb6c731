"""Handheld put-away/transfer, move-all and scrap: every rule, page and fragment, idempotent replay."""

from __future__ import annotations

import re
import uuid
from datetime import date
from decimal import Decimal

import pytest


@pytest.fixture
def floor(make_location, make_item, receive):
    """A receiving dock and shelves; a plain item with a 6-pack barcode, and a lot-tracked item."""
    make_location("WH1-RCV", type_="receiving")
    make_location("WH1-A-01")
    make_location("WH1-A-02")
    make_item("TEA-100", name="Green tea", barcodes=["0614141123452", ("TEA-6PACK", 6)])
    make_item("MILK-1", name="Milk", barcodes=["04012345678901"], lot_tracked=True, expiry_tracked=True)
    receive("TEA-100", "WH1-RCV", 20)
    receive("MILK-1", "WH1-RCV", 5, lot="L1", expiry=date(2030, 1, 31))
    receive("MILK-1", "WH1-RCV", 3, lot="L2", expiry=date(2030, 2, 28))


@pytest.fixture
def worker(page_client):
    client = page_client("worker")
    client.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def scan(client, kind, code, **state):
    data = {"code": code, "idempotency_key": state.pop("key", None) or uuid.uuid4().hex, **state}
    return client.post(f"/moves/{kind}/scan", data=data, htmx=True)


def step(response):
    match = re.search(r'data-step="([a-z]+)"', response.get_data(as_text=True))
    return match.group(1) if match else None


def qty_of(response):
    match = re.search(r'data-qty="([0-9.]+)"', response.get_data(as_text=True))
    return match.group(1) if match else None


def test_pages_render_full_and_the_tiles_are_on_home(worker, floor):
    home = worker.get("/").get_data(as_text=True)
    for path in ("/moves/put-away", "/moves/scrap", "/transfers", "/moves/move-all", "/transfers/receive"):
        assert f'href="{path}"' in home or path in ("/moves/move-all", "/transfers/receive")
        page = worker.get(path)
        assert page.status_code == 200, path
        assert "<html" in page.get_data(as_text=True)
    page = worker.get("/moves/put-away?from=WH1-RCV").get_data(as_text=True)
    assert 'data-step="item"' in page and "TEA-100" in page  # what is at the from-location


def test_put_away_step_by_step_with_pack_scan_and_suggestion(worker, floor, receive, balance, move_count):
    receive("TEA-100", "WH1-A-02", 1)  # its usual shelf
    r = scan(worker, "putaway", "LOC:WH1-RCV")
    assert r.status_code == 200 and step(r) == "item"
    assert "<html" not in r.get_data(as_text=True)  # a fragment for htmx
    r = scan(worker, "putaway", "TEA-6PACK", **{"from": "WH1-RCV"})
    assert step(r) == "qty" and qty_of(r) == "6"  # the pack barcode's quantity
    body = r.get_data(as_text=True)
    assert "of 20 here" in body
    assert 'data-role="suggestion">WH1-A-02<' in body  # moving out of receiving: the usual location
    r = scan(worker, "putaway", "614141123452", **{"from": "WH1-RCV", "sku": "TEA-100", "qty": "6"})
    assert qty_of(r) == "7"  # a further scan of the same item adds
    r = scan(worker, "putaway", "WH1-A-01", **{"from": "WH1-RCV", "sku": "TEA-100", "qty": "7"})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert step(r) == "item" and "Moved 7 pcs of TEA-100 from WH1-RCV to WH1-A-01." in r.get_data(as_text=True)
    assert 'class="move-from">WH1-RCV<' in r.get_data(as_text=True)  # same from-location, next item
    assert balance("TEA-100", "WH1-RCV") == 13 and balance("TEA-100", "WH1-A-01") == 7
    assert move_count(type="transfer") == 1


def test_typed_quantity_and_never_more_than_is_there(worker, floor, balance):
    state = {"from": "WH1-RCV", "sku": "TEA-100"}
    r = worker.post("/moves/putaway/qty", data={**state, "typed_qty": "12"}, htmx=True)
    assert r.status_code == 200 and qty_of(r) == "12"
    r = worker.post("/moves/putaway/qty", data={**state, "typed_qty": "21"}, htmx=True)
    assert r.status_code == 422
    body = r.get_data(as_text=True)
    assert "Only 20 pcs of TEA-100 are at WH1-RCV; 21 is too many." in body
    assert step(r) == "qty"  # the same step again, with the message
    r = scan(worker, "putaway", "TEA-6PACK", **state, qty="18")
    assert r.status_code == 422 and "24 is too many" in r.get_data(as_text=True) and qty_of(r) == "18"
    r = worker.post("/moves/putaway/qty", data={**state, "typed_qty": "1.5"}, htmx=True)
    assert r.status_code == 422 and "whole units" in r.get_data(as_text=True)
    # A replayed (offline) request with a quantity no longer there is refused, nothing moves.
    r = scan(worker, "putaway", "WH1-A-01", **state, qty="25")
    assert r.status_code == 422 and balance("TEA-100", "WH1-RCV") == 20


def test_lot_tracked_item_asks_for_the_lot_and_gs1_fills_it(worker, floor, balance):
    r = scan(worker, "putaway", "04012345678901", **{"from": "WH1-RCV"})
    assert step(r) == "lot"
    body = r.get_data(as_text=True)
    assert "L1" in body and "L2" in body
    r = scan(worker, "putaway", "L2", **{"from": "WH1-RCV", "sku": "MILK-1"})  # typed lot number
    assert step(r) == "qty" and "of 3 here" in r.get_data(as_text=True)
    # GS1: GTIN + lot + count fill item, lot and quantity in one scan.
    r = scan(worker, "putaway", "(01)04012345678901(10)L1(37)4", **{"from": "WH1-RCV"})
    assert step(r) == "qty" and qty_of(r) == "4" and "of 5 here" in r.get_data(as_text=True)
    r = scan(worker, "putaway", "WH1-A-01", **{"from": "WH1-RCV", "sku": "MILK-1", "lot": "L1", "qty": "4"})
    assert r.status_code == 200
    assert balance("MILK-1", "WH1-A-01", lot="L1") == 4 and balance("MILK-1", "WH1-RCV", lot="L1") == 1


def test_refusals_name_what_is_wrong(worker, floor):
    r = scan(worker, "putaway", "NOPE-42")
    assert r.status_code == 422 and "NOPE-42" in r.get_data(as_text=True) and step(r) == "from"
    r = scan(worker, "putaway", "TEA-100")
    assert r.status_code == 422 and "Expected a location" in r.get_data(as_text=True)
    r = scan(worker, "putaway", "TEA-100", **{"from": "WH1-A-01"})
    assert r.status_code == 422 and "nothing of this item at WH1-A-01" in r.get_data(as_text=True)
    r = scan(worker, "putaway", "WH1-RCV", **{"from": "WH1-RCV", "sku": "TEA-100", "qty": "2"})
    assert r.status_code == 422 and "WH1-RCV is where the stock already is" in r.get_data(as_text=True)
    r = scan(worker, "putaway", "MILK-1", **{"from": "WH1-RCV", "sku": "TEA-100", "qty": "2"})
    assert r.status_code == 422 and "TEA-100 is being moved" in r.get_data(as_text=True)


def test_idempotent_replay_posts_once(worker, floor, balance, move_count):
    key = uuid.uuid4().hex
    state = {"from": "WH1-RCV", "sku": "TEA-100", "qty": "5", "key": key}
    first = scan(worker, "putaway", "WH1-A-01", **dict(state))
    again = scan(worker, "putaway", "WH1-A-01", **dict(state))
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_data(as_text=True) == first.get_data(as_text=True)
    assert balance("TEA-100", "WH1-A-01") == 5 and move_count(type="transfer") == 1


def test_full_page_post_without_htmx_still_works(worker, floor, balance):
    r = worker.post("/moves/putaway/scan", data={"code": "WH1-A-01", "from": "WH1-RCV", "sku": "TEA-100", "qty": "2",
                                                 "idempotency_key": uuid.uuid4().hex})
    assert r.status_code == 200 and "<html" in r.get_data(as_text=True)
    assert balance("TEA-100", "WH1-A-01") == 2


def test_move_all_moves_every_line_in_one_transaction(worker, floor, balance, move_count):
    r = worker.post("/moves/move-all/scan", data={"code": "WH1-RCV", "idempotency_key": uuid.uuid4().hex}, htmx=True)
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and 'data-step="target"' in body
    assert "3 lines, 28 units in all" in body
    key = uuid.uuid4().hex
    data = {"code": "LOC:WH1-A-02", "from": "WH1-RCV", "lines": "3", "total": "28", "idempotency_key": key}
    r = worker.post("/moves/move-all/scan", data=data, htmx=True)
    assert r.status_code == 200 and "Moved 3 lines to WH1-A-02." in r.get_data(as_text=True)
    assert balance("TEA-100", "WH1-A-02") == 20 and balance("MILK-1", "WH1-A-02", lot="L2") == 3
    assert balance("TEA-100", "WH1-RCV") == 0
    assert worker.post("/moves/move-all/scan", data=data, htmx=True).headers.get("Idempotent-Replayed") == "true"
    assert move_count(type="transfer") == 3


def test_move_all_refuses_when_the_location_changed_since_it_was_shown(worker, floor, receive, balance):
    receive("TEA-100", "WH1-RCV", 1)
    data = {"code": "WH1-A-02", "from": "WH1-RCV", "lines": "3", "total": "28", "idempotency_key": uuid.uuid4().hex}
    r = worker.post("/moves/move-all/scan", data=data, htmx=True)
    assert r.status_code == 422 and "changed since it was shown (3 lines, 29 units now)" in r.get_data(as_text=True)
    assert balance("TEA-100", "WH1-A-02") == 0
    r = worker.post("/moves/move-all/scan", data={**data, "from": "WH1-A-01", "idempotency_key": uuid.uuid4().hex},
                    htmx=True)
    assert r.status_code == 422 and "WH1-A-01 is empty" in r.get_data(as_text=True)


def test_scrap_needs_a_reason_and_records_it(worker, floor, balance, app):
    r = scan(worker, "scrap", "WH1-RCV")
    assert step(r) == "item"
    r = scan(worker, "scrap", "TEA-100", **{"from": "WH1-RCV"})
    assert step(r) == "qty"
    r = worker.post("/moves/scrap/reason", data={"from": "WH1-RCV", "sku": "TEA-100", "qty": "3"}, htmx=True)
    assert step(r) == "reason" and "Damaged" in r.get_data(as_text=True)
    state = {"from": "WH1-RCV", "sku": "TEA-100", "qty": "3"}
    r = worker.post("/moves/scrap/post", data={**state, "idempotency_key": uuid.uuid4().hex}, htmx=True)
    assert r.status_code == 422 and "Choose why" in r.get_data(as_text=True) and step(r) == "reason"
    r = worker.post("/moves/scrap/post", data={**state, "reason": "other", "idempotency_key": uuid.uuid4().hex},
                    htmx=True)
    assert r.status_code == 422 and "Say why" in r.get_data(as_text=True)
    r = worker.post("/moves/scrap/post", data={**state, "reason": "damaged", "note": "forklift",
                                               "idempotency_key": uuid.uuid4().hex}, htmx=True)
    assert r.status_code == 200 and "Scrapped 3 pcs of TEA-100 at WH1-RCV." in r.get_data(as_text=True)
    assert balance("TEA-100", "WH1-RCV") == 17
    ledger = worker.get("/ledger?sku=TEA-100").get_data(as_text=True)
    assert "Damaged: forklift" in ledger and "VIRTUAL-SCRAP" in ledger
    r = worker.post("/moves/scrap/post", data={**state, "qty": "18", "reason": "expired",
                                               "idempotency_key": uuid.uuid4().hex}, htmx=True)
    assert r.status_code == 422 and "Only 17 pcs" in r.get_data(as_text=True)
    assert balance("TEA-100", "WH1-RCV") == Decimal(17)


def test_scrap_in_chinese(page_client, floor):
    client = page_client("worker")
    r = client.post("/moves/scrap/reason", data={"from": "WH1-RCV", "sku": "TEA-100", "qty": "1"}, htmx=True,
                    headers={"Accept-Language": "zh-CN"})
    assert "报废" in r.get_data(as_text=True)
