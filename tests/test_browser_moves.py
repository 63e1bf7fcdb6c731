"""Put-away, move-all and scrap on a phone with keyboard-wedge scans, in English and Chinese."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytest_plugins = ["tests.browser"]
pytestmark = pytest.mark.browser

PASSWORD = "browser test password"


@pytest.fixture
def dock(make_user, make_location, make_item, receive):
    make_user("ana", "worker", password=PASSWORD)
    make_location("WH1-RCV", type_="receiving")
    make_location("WH1-A-01")
    make_location("WH1-A-02")
    make_item("TEA-100", name="Green tea", barcodes=["0614141123452", ("TEA-6PACK", 6)])
    make_item("BOLT-7", name="Bolt")
    receive("TEA-100", "WH1-RCV", 20)
    receive("TEA-100", "WH1-A-02", 1)  # where tea usually goes
    receive("BOLT-7", "WH1-RCV", 4)


def log_in(page):
    page.goto("/login")
    page.locator("input[name=username]").fill("ana")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action='/login'] button").click()
    expect(page.locator(".tiles")).to_be_visible()


def wedge(page, code):
    """A keyboard-wedge scan: the characters, then Enter, into whatever has the focus."""
    expect(page.locator(".scan-input")).to_be_focused()
    page.keyboard.type(code)
    page.keyboard.press("Enter")


@pytest.mark.parametrize("locale, texts", [
    ("en-US", {"tile": "Put away / transfer", "moved": "Moved 7 pcs of TEA-100 from WH1-RCV to WH1-A-01.",
               "too_many": "Only 13 pcs of TEA-100 are at WH1-RCV; 14 is too many.",
               "suggest": "Put away to WH1-A-02"}),
    ("zh-CN", {"tile": "上架 / 移库", "moved": "已将 7 pcs TEA-100 从 WH1-RCV 移到 WH1-A-01。",
               "too_many": "WH1-RCV 只有 13 pcs 的 TEA-100；14 超出了。", "suggest": "上架到 WH1-A-02"}),
])
def test_put_away_on_a_phone_with_wedge_scans(dock, new_page, console_errors, balance, locale, texts):
    page = new_page("phone", locale=locale)
    log_in(page)
    page.get_by_role("link", name=texts["tile"]).click()
    flow = page.locator("#move-flow")
    expect(flow).to_have_attribute("data-step", "from")

    wedge(page, "LOC:WH1-RCV")
    expect(flow).to_have_attribute("data-step", "item")
    expect(flow.locator("tr[data-sku='BOLT-7']")).to_be_visible()  # what is at the from-location
    wedge(page, "TEA-6PACK")
    expect(flow).to_have_attribute("data-step", "qty")
    expect(flow).to_have_attribute("data-qty", "6")
    expect(flow.locator(".move-suggestion button")).to_have_text(texts["suggest"])
    wedge(page, "614141123452")  # the same item again: adds one
    expect(flow).to_have_attribute("data-qty", "7")
    wedge(page, "WH1-A-01")
    expect(flow.locator(".success-box")).to_have_text(texts["moved"])
    expect(flow).to_have_attribute("data-step", "item")  # next item, same from-location
    expect(flow.locator(".move-from")).to_have_text("WH1-RCV")
    assert balance("TEA-100", "WH1-A-01") == 7

    # Typing a quantity: more than is there is refused with the numbers.
    wedge(page, "TEA-100")
    expect(flow).to_have_attribute("data-step", "qty")
    typed = flow.locator("input[name=typed_qty]")
    typed.fill("14")
    typed.press("Enter")
    expect(flow.locator(".error-box")).to_have_text(texts["too_many"])
    # The swap settles by giving the scan field the focus back; typing before that would race it.
    expect(page.locator(".scan-input")).to_be_focused()
    typed = flow.locator("input[name=typed_qty]")
    typed.fill("13")
    typed.press("Enter")
    expect(flow).to_have_attribute("data-qty", "13")
    # The usual location is now where most of the tea is: WH1-A-01. One tap puts it away there.
    expect(flow.locator("[data-role=suggestion]")).to_have_text("WH1-A-01")
    flow.locator(".move-suggestion button").click()
    expect(flow.locator(".success-box")).to_be_visible()
    assert balance("TEA-100", "WH1-A-01") == 20 and balance("TEA-100", "WH1-RCV") == 0
    assert console_errors(page) == [] or all("status of 422" in e for e in console_errors(page))


def test_move_all_and_scrap_on_a_phone(dock, new_page, console_errors, balance):
    page = new_page("phone", locale="en-US")
    log_in(page)
    page.goto("/moves/move-all")
    box = page.locator("#move-all")
    wedge(page, "WH1-RCV")
    expect(box).to_have_attribute("data-step", "target")
    expect(box).to_contain_text("2 lines, 24 units in all")
    wedge(page, "WH1-A-01")
    expect(box.locator(".success-box")).to_have_text("Moved 2 lines to WH1-A-01.")
    assert balance("TEA-100", "WH1-A-01") == 20 and balance("BOLT-7", "WH1-A-01") == 4

    page.goto("/moves/scrap")
    flow = page.locator("#move-flow")
    wedge(page, "WH1-A-01")
    expect(flow).to_have_attribute("data-step", "item")
    wedge(page, "BOLT-7")
    expect(flow).to_have_attribute("data-step", "qty")
    wedge(page, "BOLT-7")
    expect(flow).to_have_attribute("data-qty", "2")
    flow.locator("[data-role=to-reason]").click()
    expect(flow).to_have_attribute("data-step", "reason")
    flow.get_by_label("Damaged").check()
    flow.locator("input[name=note]").fill("crushed")
    flow.get_by_role("button", name="Scrap 2 pcs").click()
    expect(flow.locator(".success-box")).to_have_text("Scrapped 2 pcs of BOLT-7 at WH1-A-01.")
    assert balance("BOLT-7", "WH1-A-01") == 2
    page.goto("/ledger?sku=BOLT-7")
    expect(page.locator("main")).to_contain_text("Damaged: crushed")
    assert console_errors(page) == []
