"""The whole handheld receive flow in a real browser on a phone, with keyboard-wedge scans, in
both languages: PO label → GS1 carton scans → quantity → inspection → put-away scan → plain
barcode with a reject to quarantine → undo."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from scanapp.clock import today
from scanapp.demo import ean13
from scanapp.extensions import db

pytest_plugins = ["tests.browser"]
pytestmark = pytest.mark.browser

PASSWORD = "browser test password"
GTIN = "09506000134352"
BOLT_EAN = ean13("690123450991")

TEXT = {
    "en": {"scan_item": "Scan an item", "received": "Received 5 pcs TEA → WH1-A-01.",
           "undo": "Undo last line", "undone": "Undone: BOLT",
           "not_on_order": "is not on purchase order PO-00001"},
    "zh-CN": {"scan_item": "扫描物料", "received": "已收货 5 pcs TEA → WH1-A-01。",
              "undo": "撤销最后一行", "undone": "已撤销：BOLT",
              "not_on_order": "不在采购订单 PO-00001 上"},
}


@pytest.fixture
def dock(app, make_user, make_location, make_item, receive):
    from scanapp.purchasing import services

    make_user("ana", "worker", password=PASSWORD)
    for code in ("WH1-A-01", "WH1-A-02", "WH1-B-01"):
        make_location(code)
    make_location("WH1-QA", type_="quarantine")
    make_item("TEA", barcodes=["9506000134352"], lot_tracked=True, expiry_tracked=True)
    make_item("BOLT", barcodes=[BOLT_EAN])
    make_item("CUP")
    receive("BOLT", "WH1-B-01", 40)  # BOLT's usual place
    with app.app_context():
        services.create_supplier("ACME", "Acme")
        services.create_purchase_order(supplier="ACME", lines=[("TEA", 10, "30"), ("BOLT", 6, "0.4")],
                                       open_now=True, expected_date=today())
        db.session.commit()


def wedge(page, text):
    """A keyboard-wedge scan: the characters, then Enter."""
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def step(page, name):
    expect(page.locator("#receive-step .receive-step")).to_have_attribute("data-step", name)


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_receive_a_po_on_a_phone_with_wedge_scans(app, dock, new_page, console_errors, balance, locale):
    t = TEXT[locale]
    page = new_page("phone", locale=locale)
    page.goto("/login")
    page.locator("input[name=username]").fill("ana")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action='/login'] button").click()
    expect(page.locator(".tiles")).to_be_visible()
    page.locator(".tiles a[href='/receive']").click()

    # (1) The PO: today's list shows it; its label is scanned.
    expect(page.locator(".receive-order[data-po='PO-00001']")).to_be_visible()
    expect(page.locator("#scan-field-input")).to_be_focused()
    wedge(page, "DOC:PO:PO-00001")
    page.wait_for_url("**/receive/po/PO-00001")
    step(page, "item")
    expect(page.locator("h1")).to_have_text(t["scan_item"])

    # An item that is not on the order: refused, the screen stays.
    expect(page.locator("#scan-field-input")).to_be_focused()
    wedge(page, "CUP")
    expect(page.locator("#receive-step [role=alert]")).to_contain_text(t["not_on_order"])
    step(page, "item")

    # (2–3) A GS1 carton label: GTIN, expiry, lot; a second scan of it adds one.
    expiry = today() + timedelta(days=200)
    gs1 = f"]d201{GTIN}17{expiry:%y%m%d}10LOT-A"
    expect(page.locator("#scan-field-input")).to_be_focused()
    wedge(page, gs1)
    step(page, "qty")
    expect(page.locator("input[name=qty]")).to_have_value("1")
    expect(page.locator("#scan-field-input")).to_be_focused()
    wedge(page, gs1)
    expect(page.locator("input[name=qty]")).to_have_value("2")
    page.locator("input[name=qty]").fill("5")
    page.locator(".receive-qty button").click()

    # (4) lot and expiry came with the scan → (5) inspection: accept all.
    step(page, "inspect")
    expect(page.locator("#receive-step")).to_contain_text("LOT-A")
    page.locator(".receive-accept button").click()

    # (6) The put-away location, scanned: posts and returns to (2) with the progress.
    step(page, "location")
    expect(page.locator("#scan-field-input")).to_be_focused()
    wedge(page, "LOC:WH1-A-01")
    step(page, "item")
    expect(page.locator(".receive-posted")).to_have_text(t["received"])
    expect(page.locator("#receive-progress li[data-sku='TEA'] .received")).to_have_text("5")
    expect(page.locator("#receive-progress .po-status")).to_have_attribute("data-status", "partially_received")

    # A plain EAN-13: 3 pieces, 1 rejected to quarantine; the usual location is suggested.
    expect(page.locator("#scan-field-input")).to_be_focused()
    wedge(page, BOLT_EAN)
    step(page, "qty")
    page.locator("input[name=qty]").fill("3")
    page.locator(".receive-qty button").click()
    step(page, "inspect")
    page.locator(".receive-split input[name=rejected]").fill("1")
    page.locator(".receive-split input[name=reason]").fill("Damaged")
    page.locator(".receive-split button").click()
    step(page, "location")
    expect(page.locator(".receive-suggested [data-location]")).to_have_text("WH1-B-01")
    expect(page.locator("#scan-field-input")).to_be_focused()
    wedge(page, "WH1-B-01")
    step(page, "item")
    expect(page.locator("#receive-progress li[data-sku='BOLT'] .received")).to_have_text("2")
    assert balance("BOLT", "WH1-QA") == 1 and balance("BOLT", "WH1-B-01") == 42
    assert balance("TEA", "WH1-A-01", lot="LOT-A") == 5

    # Undo the last line: reversing moves, progress back.
    undo = page.locator(".receive-undo button")
    expect(undo).to_contain_text(t["undo"])
    undo.click()
    expect(page.locator(".receive-undone")).to_contain_text(t["undone"])
    expect(page.locator("#receive-progress li[data-sku='BOLT'] .received")).to_have_text("0")
    assert balance("BOLT", "WH1-QA") == 0 and balance("BOLT", "WH1-B-01") == 40
    assert balance("TEA", "WH1-A-01", lot="LOT-A") == Decimal(5)

    errors = [e for e in console_errors(page) if "status of 422" not in e]
    assert errors == []
