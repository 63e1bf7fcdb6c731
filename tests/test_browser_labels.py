"""In a real browser: a supervisor chooses labels, previews the list and downloads the PDF."""

import re
from datetime import date
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from playwright.sync_api import expect

pytest_plugins = ["tests.browser"]
pytestmark = pytest.mark.browser

PASSWORD = "browser test password"
ZONE_A = [f"WH1-A-{n:02d}" for n in range(1, 27)]  # 26 labels: two sheets of 24


@pytest.fixture
def warehouse(make_user, make_location, make_item, receive):
    make_user("sue", "supervisor", password=PASSWORD)
    for code in ZONE_A + ["WH1-B-01", "WH1-B-02"]:
        make_location(code)
    make_location("WH2-A-01", warehouse="WH2")
    make_item("AMOX", name="Amoxicillin 0.25 g", barcodes=["9501101530003"], expiry_tracked=True)
    receive("AMOX", "WH1-A-01", 10, lot="L1", expiry=date(2027, 1, 31))
    receive("AMOX", "WH1-A-02", 4, lot="L2", expiry=date(2026, 9, 30))


def log_in(page, username="sue"):
    page.goto("/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action='/login'] button").click()
    expect(page.locator("form[action='/logout']")).to_be_visible()


def download_pages(page, link) -> int:
    with page.expect_download() as info:
        link.click()
    data = Path(info.value.path()).read_bytes()
    assert data.startswith(b"%PDF"), data[:40]
    return len(pdfium.PdfDocument(data))


def test_desktop_preview_and_download_location_sheets(warehouse, live_server, new_page, console_errors):
    page = new_page("desktop", locale="en-US")
    log_in(page)
    page.locator(".mainnav a[href='/labels']").click()  # a boosted navigation
    expect(page).to_have_url(f"{live_server}/labels")
    page.locator("select[name=warehouse]").select_option("WH1")
    page.locator("input[name=prefix]").fill("WH1-A")
    page.locator("select[name=layout]").select_option("a4-3x8")
    page.evaluate("window.notReloaded = true")
    page.locator("#label-form button.primary").click()

    count = page.locator("#label-preview [data-label-count]")
    expect(count).to_have_attribute("data-label-count", "26")
    expect(page.locator("#label-preview")).to_contain_text("26 labels")
    expect(page.locator("#label-preview")).to_contain_text("2 pages")
    rows = page.locator("#label-preview tbody tr")
    expect(rows).to_have_count(26)
    expect(rows.first.locator("td").first).to_have_text("WH1-A-01")
    expect(rows.last.locator("td").first).to_have_text("WH1-A-26")
    assert page.evaluate("window.notReloaded") is True, "the preview reloaded the page instead of swapping"

    assert download_pages(page, page.locator("#label-preview a[download]")) == 2
    open_link = page.locator("#label-preview a[target=_blank]")
    expect(open_link).to_have_attribute("href", re.compile(r"^/labels/download\?.*inline=1"))

    # A wrong choice is explained in place, and the form still works afterwards.
    page.locator("select[name=format]").select_option("zpl")
    page.locator("#label-form button.primary").click()
    expect(page.locator("#label-preview .error-box")).to_contain_text("ZPL is for label printers")
    page.locator("select[name=layout]").select_option("100x50")
    page.locator("#label-form button.primary").click()
    expect(count).to_have_attribute("data-label-count", "26")
    with page.expect_download() as info:
        page.locator("#label-preview a[download]").click()
    assert info.value.suggested_filename == "labels-locations-WH1-A-100x50.zpl"
    assert Path(info.value.path()).read_text(encoding="utf-8").count("^XA") == 26

    # The one console error is the browser reporting the 422 of the wrong choice.
    errors = console_errors(page)
    assert len(errors) == 1 and "status of 422" in errors[0] and "/labels/preview?" in errors[0], errors


def test_phone_prints_lot_labels(warehouse, live_server, new_page, console_errors):
    page = new_page("phone", locale="zh-CN")
    log_in(page)
    page.goto("/labels?kind=lots")
    expect(page.locator("input[name=kind]")).to_have_value("lots")
    page.locator("input[name=sku]").fill("AMOX")
    page.locator("select[name=layout]").select_option("100x50")
    page.locator("#label-form button.primary").click()
    expect(page.locator("#label-preview [data-label-count]")).to_have_attribute("data-label-count", "2")
    rows = page.locator("#label-preview tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("L2")  # the earlier expiry first
    button = page.locator("#label-preview a[download]")
    box = button.bounding_box()
    assert box["height"] >= 44 and box["x"] + box["width"] <= 390, box  # a touch target, on screen
    assert download_pages(page, button) == 2

    # The item page's lot links go straight to one label.
    page.goto("/items/AMOX")
    link = page.locator("a[href^='/labels/lot/AMOX/L1.pdf']")
    expect(link).to_have_attribute("target", "_blank")
    assert console_errors(page) == []
