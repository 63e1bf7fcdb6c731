"""In a real browser on a phone: log in, switch language, filter stock with htmx; log out for good."""

import re

import pytest
from playwright.sync_api import expect

pytest_plugins = ["tests.browser"]
pytestmark = pytest.mark.browser

PASSWORD = "browser test password"
MIN_TARGET_PX = 44  # the smallest touch target Apple and Google recommend


@pytest.fixture
def stocked(make_user, make_location, make_item, receive):
    """A worker, and two items on one shelf."""
    make_user("ana", "worker", password=PASSWORD)
    make_location("WH1-A-01")
    make_item("TEA-100", name="Green tea")
    make_item("BOLT-7", name="Bolt")
    receive("TEA-100", "WH1-A-01", 12)
    receive("BOLT-7", "WH1-A-01", 300)


def log_in(page, username="ana"):
    page.goto("/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action='/login'] button").click()


def test_phone_login_language_and_stock_filter(stocked, live_server, new_page, console_errors):
    page = new_page("phone", locale="zh-CN")
    html = page.locator("html")
    switch = page.locator("form[action='/language'] button")

    log_in(page)
    expect(page).to_have_url(f"{live_server}/")
    expect(html).to_have_attribute("lang", "zh-CN")  # from Accept-Language, before anyone chose
    expect(switch).to_have_text("English")

    tiles = page.locator(".tiles a.tile")
    expect(tiles).to_have_count(13)  # a worker's: no office tiles
    assert [t.get_attribute("href") for t in tiles.all()[:4]] == ["/receive", "/moves/put-away", "/pick/", "/count"]
    for tile in tiles.all():
        box = tile.bounding_box()
        assert box["height"] >= MIN_TARGET_PX and box["width"] >= MIN_TARGET_PX, (tile.get_attribute("href"), box)

    switch.click()
    expect(switch).to_have_text("中文")
    expect(html).to_have_attribute("lang", "en")
    page.locator(".tiles a[href='/stock']").click()  # a boosted navigation
    expect(page).to_have_url(f"{live_server}/stock")
    expect(html).to_have_attribute("lang", "en")
    page.reload()  # a full load: the choice is kept on the user, not in the page
    expect(html).to_have_attribute("lang", "en")
    expect(switch).to_have_text("中文")

    rows = page.locator("#stock-table tbody tr")
    expect(rows).to_have_count(2)
    page.evaluate("window.notReloaded = true")
    page.locator("input[name=q]").press_sequentially("TEA-100")
    expect(page).to_have_url(re.compile(r"/stock\?(.*&)?q=TEA-100$"))  # hx-push-url: the filter survives a reload
    expect(rows).to_have_count(1)
    # … on hand, reserved, available
    expect(rows.first.locator("td")).to_have_text(["WH1-A-01", "TEA-100", "Green tea", "", "", "12 pcs", "", "12 pcs"])
    assert page.evaluate("window.notReloaded") is True, "the filter reloaded the page instead of swapping the table"

    assert console_errors(page) == []


def test_logged_out_pages_go_back_to_login(stocked, live_server, new_page, console_errors):
    page = new_page("desktop", locale="en-US")
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("form[action='/language'] button")).to_have_text("中文")
    log_in(page)
    page.locator(".tiles a[href='/stock']").click()
    expect(page.locator("#stock-table")).to_be_visible()

    page.locator("form[action='/logout'] button").click()
    expect(page).to_have_url(f"{live_server}/login")
    expect(page.locator("input[name=password]")).to_be_visible()

    page.go_back()  # history must not show the stock of a logged-out user
    expect(page.locator("input[name=password]")).to_be_visible()
    expect(page.locator("#stock-table")).to_have_count(0)

    page.goto("/stock")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fstock$"))
    page.reload()
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fstock$"))
    expect(page.locator("#stock-table")).to_have_count(0)

    assert console_errors(page) == []
