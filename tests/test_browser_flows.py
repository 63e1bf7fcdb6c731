"""A warehouse day in a real browser, through the pages only, in English and in Chinese.

A worker on a phone logs in, receives a purchase order with keyboard-wedge scans (a lot-tracked item
from its GS1 carton label, a plain EAN item), puts part of it away, picks the pick list a supervisor
released on a desktop (one wrong scan refused), counts a location blind; the supervisor approves the
variances and prints lot labels. At the end the stock at every location is exactly what the day made
it, on the stock page and in the balances, and no page logged a console error beyond the refused scan.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from playwright.sync_api import expect

from scanapp.clock import today
from scanapp.demo import ean13
from scanapp.extensions import db

pytest_plugins = ["tests.browser"]
pytestmark = pytest.mark.browser

PASSWORD = "browser test password"
TEA_GTIN = "09506000134352"
BOLT_EAN = ean13("690123450991")
EXPIRY = today() + timedelta(days=200)
TEA_GS1 = f"]d201{TEA_GTIN}17{EXPIRY:%y%m%d}10LOT-A"  # (01) GTIN (17) expiry (10) lot, as a wedge sends it

TEXT = {
    "en": {
        "log_in": "Log in", "receive": "Receive", "scan_item": "Scan an item",
        "received_tea": "Received 10 pcs TEA → WH1-RCV.", "received_bolt": "Received 20 pcs BOLT → WH1-RCV.",
        "put_away": "Put away / transfer",
        "moved_tea": "Moved 6 pcs of TEA from WH1-RCV to WH1-A-01.",
        "moved_bolt": "Moved 12 pcs of BOLT from WH1-RCV to WH1-B-01.",
        "orders": "Orders", "released": "Pick list PL-00001 released.", "progress_0": "0 of 2 lines done",
        "pick": "Pick", "wrong_location": "Wrong location WH1-B-01: pick from WH1-A-01.",
        "confirmed": "Location WH1-A-01 confirmed. Now scan the item.", "picked_tea": "Picked 1 × TEA.",
        "progress_1": "1 of 2 lines done", "all_done": "All lines done.", "shipped": "Shipped.",
        "progress_2": "2 of 2 lines done",
        "stocktake": "Stocktake", "new_count": "New count", "count": "Count", "book": "Book",
        "location_done": "WH1-B-01 done: 2 lines counted, 0 counted as 0.",
        "approved": "2 lines approved, 2 adjustments posted.", "closed": "Closed: every line is decided.",
        "print_labels": "Print labels", "one_label": "1 label", "one_page": "1 page", "download": "Download PDF",
    },
    "zh-CN": {
        "log_in": "登录", "receive": "收货", "scan_item": "扫描物料",
        "received_tea": "已收货 10 pcs TEA → WH1-RCV。", "received_bolt": "已收货 20 pcs BOLT → WH1-RCV。",
        "put_away": "上架 / 移库",
        "moved_tea": "已将 6 pcs TEA 从 WH1-RCV 移到 WH1-A-01。",
        "moved_bolt": "已将 12 pcs BOLT 从 WH1-RCV 移到 WH1-B-01。",
        "orders": "订单", "released": "已下发拣货单 PL-00001。", "progress_0": "已完成 0 / 2 行",
        "pick": "拣货", "wrong_location": "货位 WH1-B-01 错误：请从 WH1-A-01 拣货。",
        "confirmed": "货位 WH1-A-01 已确认。请扫描物料。", "picked_tea": "已拣 1 × TEA。",
        "progress_1": "已完成 1 / 2 行", "all_done": "全部行已完成。", "shipped": "已发货。",
        "progress_2": "已完成 2 / 2 行",
        "stocktake": "盘点审核", "new_count": "新建盘点", "count": "盘点", "book": "账面",
        "location_done": "WH1-B-01 已完成：盘点 2 行，0 行记为 0。",
        "approved": "已审核 2 行，过账 2 笔调整。", "closed": "已关闭：所有行均已处理。",
        "print_labels": "打印标签", "one_label": "1 个标签", "one_page": "1 页", "download": "下载 PDF",
    },
}


@pytest.fixture
def warehouse(app, make_user, make_location, make_item):
    """Ana (worker) and Sue (supervisor); a dock, two shelves, packing and quarantine; a tea with lots and a
    bolt; PO-00001 for 10 tea and 20 bolts, due today; SO-1001 for 3 tea and 5 bolts, not released."""
    from scanapp.orders import services as orders
    from scanapp.purchasing import services as purchasing

    make_user("ana", "worker", password=PASSWORD)
    make_user("sue", "supervisor", password=PASSWORD)
    make_location("WH1-RCV", type_="receiving")
    make_location("WH1-A-01")
    make_location("WH1-B-01")
    make_location("WH1-OUT", type_="outbound")
    make_location("WH1-QA", type_="quarantine")
    make_item("TEA", name="Green tea", barcodes=[TEA_GTIN[1:]], lot_tracked=True, expiry_tracked=True,
              unit_cost="30")
    make_item("BOLT", name="Bolt M8", barcodes=[BOLT_EAN], unit_cost="0.4")
    with app.app_context():
        purchasing.create_supplier("ACME", "Acme Trading")
        purchasing.create_purchase_order(supplier="ACME", lines=[("TEA", 10, "30"), ("BOLT", 20, "0.4")],
                                         open_now=True, expected_date=today())
        orders.create_customer("SHOP", "Corner Shop")
        orders.create_order(lines=[orders.LineSpec("TEA", 3), orders.LineSpec("BOLT", 5)], user_id=None,
                            customer="SHOP", number="SO-1001")
        db.session.commit()


# --- what a user does ----------------------------------------------------------------------------


def log_in(page, username, text):
    """Through the login page, as a person would: the button is in the page's language."""
    page.goto("/login")
    button = page.locator("form[action='/login'] button")
    expect(button).to_have_text(text["log_in"])
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    button.click()
    expect(page.locator(".tiles")).to_be_visible()


def wedge(page, code):
    """A keyboard-wedge scan: the characters, then Enter, into the scan field that has the focus."""
    expect(page.locator(".scan-input").first).to_be_focused()
    page.keyboard.type(code)
    page.keyboard.press("Enter")


def arrived(page, url_pattern):
    """A scan that opens another screen is a full page load: wait for it before the next scan, or
    the characters would land on a page whose scripts have not run yet."""
    expect(page).to_have_url(re.compile(url_pattern))
    page.wait_for_load_state("load")


def home(page):
    page.goto("/")
    expect(page.locator(".tiles")).to_be_visible()


def stock_rows(page) -> set[tuple[str, str, str, str]]:
    """(location, SKU, lot, on hand) for every row of the stock page's table."""
    rows = page.locator("#stock-table tbody tr")
    return {tuple(row.locator("td").all_inner_texts()[i].strip() for i in (0, 1, 3, 5)) for row in rows.all()}


def ledger_rows(page) -> list[tuple[str, ...]]:
    """(SKU, lot, from, to, quantity, user) of every move on the ledger page, oldest first."""
    rows = page.locator("#ledger-table tbody tr")
    return [tuple(row.locator("td").all_inner_texts()[i].strip() for i in (3, 4, 5, 6, 7, 9))
            for row in reversed(rows.all())]


def balances(app) -> dict[tuple[str, str, str | None], Decimal]:
    """Every non-zero balance at a physical location: (location, SKU, lot) → quantity."""
    from sqlalchemy import select

    from scanapp.inventory.models import Item, Location, Lot, StockBalance

    with app.app_context():
        rows = db.session.execute(
            select(Location, Item.sku, Lot.number, StockBalance.qty)
            .join(Location, Location.id == StockBalance.location_id)
            .join(Item, Item.id == StockBalance.item_id)
            .outerjoin(Lot, Lot.id == StockBalance.lot_id)
            .where(StockBalance.qty != 0)
        ).all()
        found = {(loc.code, sku, lot): qty for loc, sku, lot, qty in rows if not loc.type.is_virtual}
        db.session.remove()
    return found


# --- the day -------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_a_warehouse_day_on_a_phone_and_a_desktop(app, warehouse, new_page, console_errors, balance, move_count,
                                                  locale):
    t = TEXT[locale]
    phone = new_page("phone", locale=locale)
    desk = new_page("desktop", locale=locale)

    # --- 1. Ana logs in on her phone and receives PO-00001 at the dock --------------------------
    log_in(phone, "ana", t)
    expect(phone.locator("html")).to_have_attribute("lang", "en" if locale == "en" else "zh-CN")
    phone.get_by_role("link", name=t["receive"], exact=True).click()
    expect(phone.locator(".receive-order[data-po='PO-00001']")).to_be_visible()
    wedge(phone, "DOC:PO:PO-00001")
    arrived(phone, r"/receive/po/PO-00001$")
    step = phone.locator("#receive-step .receive-step")
    expect(step).to_have_attribute("data-step", "item")
    expect(phone.locator("#receive-step h1")).to_have_text(t["scan_item"])
    progress = phone.locator("#receive-progress")
    expect(progress.locator(".po-status")).to_have_attribute("data-status", "open")

    # The tea: its GS1 carton label brings the lot and the expiry; ten cartons, all accepted.
    wedge(phone, TEA_GS1)
    expect(step).to_have_attribute("data-step", "qty")
    expect(phone.locator("input[name=qty]")).to_have_value("1")
    phone.locator("input[name=qty]").fill("10")
    phone.locator(".receive-qty button").click()
    expect(step).to_have_attribute("data-step", "inspect")
    expect(step).to_contain_text("LOT-A")
    expect(step).to_contain_text(EXPIRY.isoformat())
    phone.locator(".receive-accept button").click()
    expect(step).to_have_attribute("data-step", "location")
    wedge(phone, "LOC:WH1-RCV")
    expect(step).to_have_attribute("data-step", "item")
    expect(phone.locator(".receive-posted")).to_have_text(t["received_tea"])
    expect(progress.locator("li[data-sku='TEA'] .received")).to_have_text("10")
    expect(progress.locator(".po-status")).to_have_attribute("data-status", "partially_received")

    # The bolts: a plain EAN-13, twenty of them.
    wedge(phone, BOLT_EAN)
    expect(step).to_have_attribute("data-step", "qty")
    phone.locator("input[name=qty]").fill("20")
    phone.locator(".receive-qty button").click()
    expect(step).to_have_attribute("data-step", "inspect")
    phone.locator(".receive-accept button").click()
    expect(step).to_have_attribute("data-step", "location")
    wedge(phone, "WH1-RCV")
    expect(step).to_have_attribute("data-step", "item")
    expect(phone.locator(".receive-posted")).to_have_text(t["received_bolt"])
    expect(progress.locator("li[data-sku='BOLT'] .received")).to_have_text("20")
    expect(progress.locator(".po-status")).to_have_attribute("data-status", "received")
    assert balance("TEA", "WH1-RCV", lot="LOT-A") == 10 and balance("BOLT", "WH1-RCV") == 20

    # --- 2. Put-away: 6 tea to WH1-A-01, 12 bolts to WH1-B-01 ------------------------------------
    home(phone)
    phone.get_by_role("link", name=t["put_away"], exact=True).click()
    flow = phone.locator("#move-flow")
    expect(flow).to_have_attribute("data-step", "from")
    wedge(phone, "LOC:WH1-RCV")
    expect(flow).to_have_attribute("data-step", "item")
    expect(flow.locator("tr[data-sku='TEA']")).to_contain_text("LOT-A")  # what is on the dock
    expect(flow.locator("tr[data-sku='BOLT']")).to_contain_text("20")
    wedge(phone, TEA_GS1)  # the carton label says which lot
    expect(flow).to_have_attribute("data-step", "qty")
    expect(flow).to_have_attribute("data-qty", "1")
    typed = flow.locator("input[name=typed_qty]")
    typed.fill("6")
    typed.press("Enter")
    expect(flow).to_have_attribute("data-qty", "6")
    wedge(phone, "LOC:WH1-A-01")
    expect(flow.locator(".success-box")).to_have_text(t["moved_tea"])
    expect(flow).to_have_attribute("data-step", "item")
    wedge(phone, BOLT_EAN)
    expect(flow).to_have_attribute("data-step", "qty")
    typed = flow.locator("input[name=typed_qty]")
    typed.fill("12")
    typed.press("Enter")
    expect(flow).to_have_attribute("data-qty", "12")
    wedge(phone, "WH1-B-01")
    expect(flow.locator(".success-box")).to_have_text(t["moved_bolt"])
    assert balance("TEA", "WH1-A-01", lot="LOT-A") == 6 and balance("BOLT", "WH1-B-01") == 12

    # --- 3. Sue releases SO-1001 to Ana on her desktop -------------------------------------------
    log_in(desk, "sue", t)
    desk.locator(".mainnav").get_by_role("link", name=t["orders"], exact=True).click()  # the header
    expect(desk).to_have_url(re.compile(r"/orders$"))
    desk.locator("#release-form input[name=order][value='SO-1001']").check()
    desk.locator("#release-form select[name=assigned_to]").select_option("ana")
    desk.locator("#release-button").click()
    expect(desk).to_have_url(re.compile(r"/pick-lists/PL-00001$"))
    expect(desk.locator(".flash.success")).to_have_text(t["released"])
    expect(desk.locator("#pick-progress")).to_contain_text(t["progress_0"])
    expect(desk.locator("#pick-progress tbody").first.locator("tr")).to_have_count(2)

    # --- 4. Ana picks PL-00001: a wrong shelf is refused, then tea and bolts, and ships ------------
    home(phone)
    phone.get_by_role("link", name=t["pick"], exact=True).click()
    expect(phone.locator(".pick-lists")).to_contain_text("PL-00001")
    wedge(phone, "DOC:PL:PL-00001")
    arrived(phone, r"/pick/PL-00001$")
    expect(phone.locator("#pick-progress")).to_have_text(t["progress_0"])
    expect(phone.locator("#pick-location")).to_have_text("WH1-A-01")
    expect(phone.locator("#pick-lot")).to_have_text("LOT-A")
    expect(phone.locator("#pick-remaining")).to_have_text("3")

    wedge(phone, "LOC:WH1-B-01")  # the wrong shelf
    expect(phone.locator("#pick-error")).to_have_text(t["wrong_location"])
    expect(phone.locator("#pick-error")).to_have_attribute("role", "alert")
    expect(phone.locator(".pick-location.confirmed")).to_have_count(0)
    wedge(phone, "LOC:WH1-A-01")
    expect(phone.locator("#pick-message")).to_have_text(t["confirmed"])
    expect(phone.locator(".pick-location.confirmed")).to_be_visible()
    wedge(phone, TEA_GS1)
    expect(phone.locator("#pick-message")).to_have_text(t["picked_tea"])
    expect(phone.locator("#pick-remaining")).to_have_text("2")
    phone.locator("#pick-qty").fill("2")  # the other two cartons, typed
    phone.locator(".pick-typed button").click()
    expect(phone.locator("#pick-progress")).to_have_text(t["progress_1"])
    expect(phone.locator("#pick-location")).to_have_text("WH1-B-01")
    expect(phone.locator("#pick-remaining")).to_have_text("5")

    wedge(phone, "LOC:WH1-B-01")
    expect(phone.locator(".pick-location.confirmed")).to_be_visible()
    wedge(phone, BOLT_EAN)
    expect(phone.locator("#pick-remaining")).to_have_text("4")
    phone.locator("#pick-qty").fill("4")
    phone.locator(".pick-typed button").click()
    expect(phone.locator("#pick-complete")).to_contain_text(t["all_done"])
    expect(phone.locator("#pick-progress")).to_have_text(t["progress_2"])
    phone.locator("#pick-ship").click()
    expect(phone.locator("#pick-complete")).to_contain_text(t["shipped"])
    desk.reload()
    expect(desk.locator("#pick-progress")).to_contain_text(t["progress_2"])
    assert balance("TEA", "WH1-A-01", lot="LOT-A") == 3 and balance("BOLT", "WH1-B-01") == 7
    assert balance("TEA", "WH1-OUT", lot="LOT-A") == 0 and balance("BOLT", "WH1-OUT") == 0

    # --- 5. Sue opens a blind count of WH1-B-01 for Ana ----------------------------------------
    home(desk)
    desk.locator(".tiles").get_by_role("link", name=t["stocktake"], exact=True).click()  # the home tile
    desk.get_by_role("link", name=t["new_count"], exact=True).click()
    expect(desk).to_have_url(re.compile(r"/counts/new$"))
    desk.locator("input[name=scope][value=locations]").check()
    desk.locator("textarea[name=locations]").fill("WH1-B-01")
    expect(desk.locator("input[name=blind]")).to_be_checked()
    desk.locator("input[name=counters][value=ana]").check()
    desk.locator("#create-count").click()
    expect(desk).to_have_url(re.compile(r"/counts/CNT-00001$"))
    expect(desk.locator("#count-progress tr[data-location]")).to_have_count(1)

    # Ana counts: two bolt scans and four typed, and two tea cartons that should not be there.
    home(phone)
    phone.get_by_role("link", name=t["count"], exact=True).click()
    arrived(phone, r"/count$")
    expect(phone.locator("#my-counts")).to_contain_text("CNT-00001")
    wedge(phone, "DOC:CNT:CNT-00001")
    arrived(phone, r"/count/CNT-00001$")
    wedge(phone, "LOC:WH1-B-01")
    arrived(phone, r"/count/CNT-00001/at/WH1-B-01$")
    expect(phone.locator("#count-location")).to_have_text("WH1-B-01")
    for code in (BOLT_EAN, BOLT_EAN, TEA_GS1, TEA_GS1):
        wedge(phone, code)
    field = phone.locator("#scan-field")
    expect(field).to_have_attribute("data-scan-answers", "4", timeout=10000)
    expect(field).to_have_attribute("data-scan-result", "ok")
    expect(phone.locator("#count-lines tr[data-sku=BOLT] .counted")).to_have_text("2 pcs")
    expect(phone.locator("#count-lines tr[data-sku=TEA][data-lot=LOT-A] .counted")).to_have_text("2 pcs")
    phone.locator(".count-manual summary").click()
    phone.locator("#count-manual input[name=code]").fill(BOLT_EAN)
    phone.locator("#count-manual input[name=qty]").fill("4")
    phone.locator("#count-manual button").click()
    expect(phone.locator("#count-lines tr[data-sku=BOLT] .counted")).to_have_text("6 pcs")
    assert t["book"] not in phone.locator("main").inner_text()  # blind: no book quantities shown
    phone.locator("#location-done").click()
    expect(phone.locator("#done-missing")).to_have_attribute("data-not-scanned", "0")
    phone.locator("#confirm-done").click()
    arrived(phone, r"/count/CNT-00001$")
    expect(phone.locator(".flash.success")).to_have_text(t["location_done"])
    phone.locator("form[action$='/submit'] button").click()
    arrived(phone, r"/count$")
    expect(phone.locator("#my-counts")).not_to_contain_text("CNT-00001")

    # --- 6. Sue approves the variances on her desktop -------------------------------------------
    desk.reload()
    expect(desk.locator("#count-progress tr[data-status=done]")).to_have_count(1)
    desk.locator("#review-link").click()
    expect(desk.locator("#review-totals [data-total=lines]")).to_have_text("2")
    expect(desk.locator("#review-totals [data-total=differing]")).to_have_text("2")
    expect(desk.locator("tr[data-sku=BOLT] .diff")).to_have_text("-1")
    expect(desk.locator("tr[data-sku=TEA] .diff")).to_have_text("+2")
    expect(desk.locator("#approve-inside")).to_be_disabled()  # both are outside the thresholds
    desk.locator("[data-select-all=line]").check()
    expect(desk.locator("input[name=line]:checked")).to_have_count(2)
    desk.locator("#approve-selected").click()
    expect(desk.locator("#decision-message")).to_have_text(t["approved"])
    expect(desk.locator("#review-state")).to_contain_text(t["closed"])
    expect(desk.locator("tr[data-status=approved]")).to_have_count(2)
    assert move_count(document_type="count") == 2

    # --- 7. Sue prints labels for the tea's lot -------------------------------------------------
    desk.locator(".mainnav a[href='/labels']").click()
    expect(desk.locator("main h1")).to_have_text(t["print_labels"])
    desk.locator("a[href='/labels?kind=lots']").click()
    expect(desk.locator("#label-form input[name=kind]")).to_have_value("lots")
    desk.locator("#label-form input[name=sku]").fill("TEA")
    desk.locator("#label-form select[name=layout]").select_option("100x50")
    desk.locator("#label-form button.primary").click()
    preview = desk.locator("#label-preview")
    expect(preview.locator("[data-label-count]")).to_have_attribute("data-label-count", "1")
    expect(preview).to_contain_text(t["one_label"])
    expect(preview).to_contain_text(t["one_page"])
    expect(preview.locator("tbody tr")).to_have_count(1)
    expect(preview.locator("tbody tr")).to_contain_text("LOT-A")
    download_link = preview.locator("a[download]")
    expect(download_link).to_have_text(t["download"])
    with desk.expect_download() as info:
        download_link.click()
    pdf = Path(info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdfium.PdfDocument(pdf)) == 1
    inline = desk.request.get(preview.locator("a[target=_blank]").get_attribute("href"))
    assert inline.ok and inline.headers["content-type"].startswith("application/pdf")
    assert inline.body().startswith(b"%PDF")

    # --- 8. The end of the day: the stock page and the balances agree with what happened ---------
    expected = {
        ("WH1-RCV", "TEA", "LOT-A"): Decimal(4), ("WH1-A-01", "TEA", "LOT-A"): Decimal(3),
        ("WH1-B-01", "TEA", "LOT-A"): Decimal(2),
        ("WH1-RCV", "BOLT", None): Decimal(8), ("WH1-B-01", "BOLT", None): Decimal(6),
    }
    assert balances(app) == expected
    desk.locator(".mainnav a[href='/stock']").click()
    expect(desk.locator("#stock-table tbody tr")).to_have_count(len(expected))
    assert stock_rows(desk) == {(loc, sku, lot or "", f"{qty} pcs") for (loc, sku, lot), qty in expected.items()}

    # The ledger page, every move of the day in order: receipts, put-away, picks, shipment, count.
    day = [
        ("TEA", "LOT-A", "VIRTUAL-SUPPLIER", "WH1-RCV", "10", "ana"),
        ("BOLT", "", "VIRTUAL-SUPPLIER", "WH1-RCV", "20", "ana"),
        ("TEA", "LOT-A", "WH1-RCV", "WH1-A-01", "6", "ana"),
        ("BOLT", "", "WH1-RCV", "WH1-B-01", "12", "ana"),
        ("TEA", "LOT-A", "WH1-A-01", "WH1-OUT", "1", "ana"),
        ("TEA", "LOT-A", "WH1-A-01", "WH1-OUT", "2", "ana"),
        ("BOLT", "", "WH1-B-01", "WH1-OUT", "1", "ana"),
        ("BOLT", "", "WH1-B-01", "WH1-OUT", "4", "ana"),
        ("TEA", "LOT-A", "WH1-OUT", "VIRTUAL-CUSTOMER", "3", "ana"),
        ("BOLT", "", "WH1-OUT", "VIRTUAL-CUSTOMER", "5", "ana"),
        ("BOLT", "", "WH1-B-01", "VIRTUAL-ADJUSTMENT", "1", "sue"),
        ("TEA", "LOT-A", "VIRTUAL-ADJUSTMENT", "WH1-B-01", "2", "sue"),
    ]
    desk.locator(".mainnav a[href='/ledger']").click()
    expect(desk.locator("#ledger-table tbody tr")).to_have_count(len(day))
    assert ledger_rows(desk) == day

    # The one refused scan is the only thing the browsers reported.
    phone_errors = console_errors(phone)
    assert len(phone_errors) == 1 and "status of 422" in phone_errors[0], phone_errors
    assert console_errors(desk) == []
