"""A stocktake in a real browser: a blind count on a phone with keyboard-wedge scans (session label,
location, items, a GS1 lot, a typed bulk quantity, "location done" with its confirmation), then the
supervisor's approval on a desktop — in English and in Chinese — and the ledger afterwards."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from playwright.sync_api import expect

pytest_plugins = ["tests.browser"]
pytestmark = pytest.mark.browser

PASSWORD = "browser test password"
EXPIRY = date(2030, 6, 30)
GS1_TEA_L1 = "0106901234500011" + "17300630" + "10L1"  # (01) GTIN (17) expiry (10) lot
TEXT = {
    "en-US": {"approved": "3 lines approved, 1 adjustments posted.", "closed": "Closed: every line is decided.",
              "done": "WH1-A-01 done: 3 lines counted, 1 counted as 0.", "book": "Book"},
    "zh-CN": {"approved": "已审核 3 行，过账 1 笔调整。", "closed": "已关闭：所有行均已处理。",
              "done": "WH1-A-01 已完成：盘点 3 行，1 行记为 0。", "book": "账面"},
}


@pytest.fixture
def warehouse(make_user, make_location, make_item, receive):
    """WH1-A-01: BOLT 2, TEA lot L1 1 and lot L2 3, FLOUR 12 kg; WH1-A-02: BOLT 7."""
    make_user("ann", "worker", password=PASSWORD)
    make_user("sue", "supervisor", password=PASSWORD)
    for code in ("WH1-A-01", "WH1-A-02"):
        make_location(code)
    make_item("TEA", name="Green tea", barcodes=["6901234500011"], lot_tracked=True, expiry_tracked=True,
              unit_cost="38.5")
    make_item("BOLT", name="Bolt", barcodes=["4006381333931"], unit_cost="0.35")
    make_item("FLOUR", name="Flour", uom="kg", whole_units=False, unit_cost="2")
    receive("BOLT", "WH1-A-01", 2)
    receive("TEA", "WH1-A-01", 1, lot="L1", expiry=EXPIRY)
    receive("TEA", "WH1-A-01", 3, lot="L2", expiry=EXPIRY)
    receive("FLOUR", "WH1-A-01", 12)
    receive("BOLT", "WH1-A-02", 7)


def log_in(page, username):
    page.goto("/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action='/login'] button").click()
    expect(page.locator(".tiles")).to_be_visible()


def arrived(page, url_pattern: str):
    """Wait for the next screen: the scan field sends the browser on with a full page load, and a
    wedge scan typed before its scripts run would be a plain form post (see the report)."""
    expect(page).to_have_url(re.compile(url_pattern))
    page.wait_for_load_state("load")


def wedge(page, text):
    """A keyboard-wedge scan: the characters, then Enter."""
    page.keyboard.type(text)
    page.keyboard.press("Enter")


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_a_blind_count_on_a_phone_and_its_approval_on_a_desktop(locale, warehouse, new_page, console_errors,
                                                                balance, move_count):
    text = TEXT[locale]

    # The supervisor opens a blind count of zone WH1-A for ann, on a desktop.
    desk = new_page("desktop", locale=locale)
    log_in(desk, "sue")
    desk.goto("/counts/new")
    desk.locator("input[name=scope][value=prefix]").check()
    desk.locator("input[name=prefix]").fill("WH1-A")
    expect(desk.locator("input[name=blind]")).to_be_checked()
    desk.locator("input[name=counters][value=ann]").check()
    desk.locator("#create-count").click()
    expect(desk).to_have_url(re.compile(r"/counts/CNT-00001$"))
    expect(desk.locator("#count-progress tr[data-location]")).to_have_count(2)
    expect(desk.locator(".count-label img")).to_be_visible()
    desk.wait_for_function(  # the QR code loaded (an <img> of a broken SVG is visible too)
        "() => { const img = document.querySelector('.count-label img');"
        " return img.complete && img.naturalWidth > 100; }")

    # ann counts on her phone: every step is a scan into the one field.
    phone = new_page("phone", locale=locale)
    log_in(phone, "ann")
    phone.goto("/count")
    expect(phone.locator("#my-counts")).to_contain_text("CNT-00001")
    expect(phone.locator("#scan-field-input")).to_be_focused()
    wedge(phone, "DOC:CNT:CNT-00001")
    arrived(phone, r"/count/CNT-00001$")
    expect(phone.locator("#scan-field-input")).to_be_focused()
    wedge(phone, "LOC:WH1-A-01")
    arrived(phone, r"/count/CNT-00001/at/WH1-A-01$")
    expect(phone.locator("#count-location")).to_have_text("WH1-A-01")
    scan_input = phone.locator("#scan-field-input")
    expect(scan_input).to_be_focused()
    for code in ("4006381333931", "4006381333931", GS1_TEA_L1):
        wedge(phone, code)
    expect(phone.locator("#scan-field")).to_have_attribute("data-scan-answers", "3", timeout=10000)
    expect(phone.locator("#scan-field")).to_have_attribute("data-scan-result", "ok")
    lines = phone.locator("#count-lines tbody tr")
    expect(lines).to_have_count(2)
    expect(phone.locator("#count-lines tr[data-sku=BOLT] .counted")).to_have_text("2 pcs")
    expect(phone.locator("#count-lines tr[data-sku=TEA][data-lot=L1] .counted")).to_have_text("1 pcs")
    expect(phone.locator("#count-feedback .count-added")).to_have_attribute("data-sku", "TEA")

    # A lot-tracked item without its lot: a clear error, nothing counted.
    wedge(phone, "6901234500011")
    expect(phone.locator("#scan-field")).to_have_attribute("data-scan-result", "error")
    expect(phone.locator("#count-feedback .error-box")).to_contain_text("TEA")

    # Flour in bulk: a typed quantity.
    phone.locator(".count-manual summary").click()
    phone.locator("#count-manual input[name=code]").fill("FLOUR")
    phone.locator("#count-manual input[name=qty]").fill("12.5")
    phone.locator("#count-manual button").click()
    expect(phone.locator("#count-lines tr[data-sku=FLOUR] .counted")).to_have_text("12.5 kg")
    expect(lines).to_have_count(3)

    # Blind: nothing on the counter's screen says what the books hold.
    assert text["book"] not in phone.locator("main").inner_text()

    # Location done: TEA lot L2 was not scanned — the confirmation gives the number of lines only.
    phone.locator("#location-done").click()
    expect(phone.locator("#done-missing")).to_have_attribute("data-not-scanned", "1")
    assert "3" not in phone.locator("#done-missing").inner_text()  # not L2's book quantity
    phone.locator("#confirm-done").click()
    arrived(phone, r"/count/CNT-00001$")
    expect(phone.locator(".flash.success")).to_have_text(text["done"])
    expect(phone.locator("#my-locations li[data-location=WH1-A-01]")).to_have_attribute("data-status", "done")
    expect(phone.locator("#scan-field-input")).to_be_focused()

    # WH1-A-02: nothing there to scan (its 7 bolts are missing).
    wedge(phone, "WH1-A-02")
    arrived(phone, r"/count/CNT-00001/at/WH1-A-02$")
    phone.locator("#location-done").click()
    expect(phone.locator("#done-missing")).to_have_attribute("data-not-scanned", "1")
    phone.locator("#confirm-done").click()
    arrived(phone, r"/count/CNT-00001$")
    phone.locator("form[action$='/submit'] button").click()
    expect(phone).to_have_url(re.compile(r"/count$"))
    assert console_errors(phone) == [e for e in console_errors(phone) if "status of 422" in e]

    # The supervisor reviews on the desktop: the progress page shows both done, then the variances.
    desk.reload()
    expect(desk.locator("#count-progress tr[data-status=done]")).to_have_count(2)
    desk.locator("#review-link").click()
    expect(desk.locator("#review-totals [data-total=lines]")).to_have_text("5")
    expect(desk.locator("tr[data-sku=FLOUR] .diff")).to_have_text("+0.5")
    desk.locator("a.sort", has_text="%").click()  # sort by the difference in %, smallest first
    expect(desk).to_have_url(re.compile(r"sort=pct"))
    expect(desk.locator("select[name=sort]")).to_have_value("pct")
    expect(desk.locator("#variances")).to_have_count(1)
    expect(desk.locator("tbody tr[data-line]").first).to_have_attribute("data-status", "counted")
    assert [r.get_attribute("data-sku") for r in desk.locator("tbody tr[data-line]").all()][-2:] == ["TEA", "FLOUR"]
    desk.locator("#approve-inside").click()
    expect(desk.locator("#decision-message")).to_have_text(text["approved"])
    assert balance("FLOUR", "WH1-A-01") == Decimal("12.5")
    # The outside lines (TEA L2 −3, BOLT at WH1-A-02 −7) need an explicit choice.
    outside = desk.locator("tr.outside[data-status=counted] input[name=line]")
    expect(outside).to_have_count(2)
    desk.locator("[data-select-all=line]").check()  # selects every waiting line: the two outside ones
    for box in outside.all():
        expect(box).to_be_checked()
    desk.locator("#approve-selected").click()
    expect(desk.locator("#review-state")).to_contain_text(text["closed"])
    expect(desk.locator("tr[data-status=approved]")).to_have_count(5)

    assert balance("TEA", "WH1-A-01", lot="L2") == 0
    assert balance("BOLT", "WH1-A-02") == 0
    assert balance("BOLT", "WH1-A-01") == 2
    assert move_count(document_type="count") == 3
    assert console_errors(desk) == []
