"""The whole pick flow in a real browser on a phone, with keyboard-wedge scans: open the list by its
label, a wrong location and a wrong item refused, lot scans, a pack scan, a short pick, ship."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from scanapp.clock import today

pytest_plugins = ["tests.browser"]
pytestmark = pytest.mark.browser

PASSWORD = "browser test password"


@pytest.fixture
def pick_list(make_user, make_location, make_item, receive, api_client):
    make_user("ana", "worker", password=PASSWORD)
    for code in ("WH1-A-01", "WH1-A-02", "WH1-B-01"):
        make_location(code)
    make_item("MILK", name="Milk 1 l", barcodes=["4006381333931"], expiry_tracked=True)
    make_item("BOLT", name="Bolt M8", barcodes=[("BOLT-BOX", 10), "BOLT-1"])
    receive("MILK", "WH1-A-01", 10, lot="L-1", expiry=today() + timedelta(days=20))
    receive("MILK", "WH1-A-02", 10, lot="L-2", expiry=today() + timedelta(days=40))
    receive("BOLT", "WH1-B-01", 100)
    office = api_client("supervisor")
    office.post("/customers", json={"code": "ACME", "name": "Acme Foods"})
    office.post("/sales-orders", json={"customer": "ACME", "number": "SO-7",
                                       "lines": [{"sku": "MILK", "qty": 2}, {"sku": "BOLT", "qty": 25}]})
    pl = office.post("/pick-lists", json={"orders": ["SO-7"]}).get_json()
    return {"number": pl["number"], "office": office}


def wedge(page, text):
    """A keyboard-wedge scan: the characters, then Enter, into the focused scan field."""
    expect(page.locator("#pick-scan-input, #scan-field-input").first).to_be_focused()
    page.keyboard.type(text)
    page.keyboard.press("Enter")


TEXT = {
    "en-US": {"wrong_location": "pick from WH1-A-01", "wrong_item": "MILK — Milk 1 l", "done": "All lines done",
              "shipped": "Shipped."},
    "zh-CN": {"wrong_location": "WH1-A-01", "wrong_item": "MILK — Milk 1 l", "done": "全部",
              "shipped": "已发货"},
}


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_whole_pick_flow_on_a_phone(pick_list, new_page, console_errors, locale, balance):
    text = TEXT[locale]
    page = new_page("phone", locale=locale)
    page.goto("/login")
    page.locator("input[name=username]").fill("ana")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action='/login'] button").click()
    expect(page.locator(".tiles")).to_be_visible()
    page.locator("a.tile[href='/pick/']").click()

    wedge(page, f"DOC:PL:{pick_list['number']}")
    expect(page).to_have_url(f"{page.url.split('/pick')[0]}/pick/{pick_list['number']}")
    expect(page.locator("#pick-location")).to_have_text("WH1-A-01")
    expect(page.locator("#pick-lot")).to_have_text("L-1")
    expect(page.locator("#pick-remaining")).to_have_text("2")

    wedge(page, "LOC:WH1-A-02")  # the wrong shelf
    expect(page.locator("#pick-error")).to_contain_text(text["wrong_location"])
    expect(page.locator("#pick-error")).to_have_attribute("role", "alert")
    wedge(page, "LOC:WH1-A-01")
    expect(page.locator(".pick-location.confirmed")).to_be_visible()
    wedge(page, "BOLT-1")  # the wrong item
    expect(page.locator("#pick-error")).to_contain_text(text["wrong_item"])
    wedge(page, "LOT:MILK:L-1")
    expect(page.locator("#pick-remaining")).to_have_text("1")
    wedge(page, "LOT:MILK:L-1")

    # The next line: BOLT, 25; one pack scan (10), then a short pick with 10 found.
    expect(page.locator("#pick-location")).to_have_text("WH1-B-01")
    expect(page.locator("#pick-remaining")).to_have_text("25")
    wedge(page, "WH1-B-01")
    expect(page.locator(".pick-location.confirmed")).to_be_visible()
    wedge(page, "BOLT-BOX")
    expect(page.locator("#pick-remaining")).to_have_text("15")
    page.locator("#pick-short summary").click()
    page.locator("#short-qty").fill("10")
    page.locator("#short-reason").select_option("not_found")
    page.locator("#short-submit").click()
    expect(page.locator("#pick-complete")).to_contain_text(text["done"])
    page.locator("#pick-ship").click()
    expect(page.locator("#pick-complete")).to_contain_text(text["shipped"])

    assert balance("MILK", "WH1-A-01", "L-1") == 8
    assert balance("BOLT", "WH1-B-01") == 90
    order = pick_list["office"].get("/sales-orders/SO-7").get_json()
    assert order["status"] == "shipped" and order["lines"][1]["backorder"] == 15
    errors = [e for e in console_errors(page) if "status of 422" not in e]
    assert errors == []
