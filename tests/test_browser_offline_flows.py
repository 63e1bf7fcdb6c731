"""Offline across the real handheld flows, on a phone: two PO receive screens at their last step and a
pick list screen are opened online; in the dead zone the receipts (location scans) and the picks
(item scans) queue, the screens say "queued", the badge counts them and nothing reaches the server;
a reload in the dead zone keeps them; back online each is posted once, in scan order, and the one
pick scanned too many is a conflict with the server's reason."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from scanapp.clock import today
from scanapp.extensions import db

pytest_plugins = ["tests.browser"]
pytestmark = pytest.mark.browser

PASSWORD = "browser test password"


@pytest.fixture
def floor(app, make_user, make_location, make_item, receive, api_client):
    from scanapp.purchasing import services

    make_user("ana", "worker", password=PASSWORD)
    for code in ("WH1-A-01", "WH1-A-02", "WH1-B-01"):
        make_location(code)
    make_location("WH1-QA", type_="quarantine")
    make_item("TEA", name="Green tea")
    make_item("BOLT", name="Bolt M8")
    make_item("CUP", name="Cup", barcodes=["CUP-1"])
    receive("CUP", "WH1-B-01", 5)
    with app.app_context():
        services.create_supplier("ACME", "Acme")
        services.create_purchase_order(supplier="ACME", lines=[("TEA", 10, "3")], open_now=True,
                                       expected_date=today())
        services.create_purchase_order(supplier="ACME", lines=[("BOLT", 6, "0.4")], open_now=True,
                                       expected_date=today())
        db.session.commit()
    office = api_client("supervisor")
    office.post("/customers", json={"code": "SHOP", "name": "Tea shop"})
    office.post("/sales-orders", json={"customer": "SHOP", "number": "SO-1", "lines": [{"sku": "CUP", "qty": 3}]})
    return office.post("/pick-lists", json={"orders": ["SO-1"]}).get_json()["number"]


def wedge(page, field_id, text):
    """A keyboard-wedge scan into the screen's scan field."""
    expect(page.locator(f"#{field_id}-input")).to_be_focused()
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def step(page, name):
    expect(page.locator("#receive-step .receive-step")).to_have_attribute("data-step", name)


def to_location_step(page, po, sku, qty):
    """Online: a PO's receive screen up to its last step (scan the put-away location)."""
    page.goto(f"/receive/po/{po}")
    step(page, "item")
    wedge(page, "scan-field", sku)
    step(page, "qty")
    # The answer swapped the block holding the field: its feedback is on the field drawn in its place.
    expect(page.locator("#scan-field")).to_have_attribute("data-scan-result", "ok")
    page.locator("input[name=qty]").fill(str(qty))
    page.locator(".receive-qty button").click()
    step(page, "inspect")
    page.locator(".receive-accept button").click()
    step(page, "location")


def posted(app):
    """(type, sku, to-location, qty) of every move ana posted, in ledger order."""
    from sqlalchemy import select

    from scanapp.auth.models import User
    from scanapp.inventory.models import StockMove

    with app.app_context():
        user = db.session.execute(select(User).where(User.username == "ana")).scalar_one()
        moves = db.session.execute(select(StockMove).where(StockMove.user_id == user.id)
                                   .order_by(StockMove.id)).scalars().all()
        rows = [(m.type.value, m.item.sku, m.to_location.code, m.qty) for m in moves]
        db.session.remove()
        return rows


def test_receipts_and_picks_scanned_offline_are_posted_once_in_order(app, floor, new_page, console_errors,
                                                                      balance):
    from tests.test_browser_pwa import log_in, offline_noise, wait_for_saved, wait_for_worker

    pick_list = floor
    tea = new_page("phone", locale="en-US")
    log_in(tea)
    wait_for_worker(tea)
    to_location_step(tea, "PO-00001", "TEA", 4)
    bolt = tea.context.new_page()  # a second screen on the same handheld (same queue)
    to_location_step(bolt, "PO-00002", "BOLT", 6)
    pick = tea.context.new_page()
    pick.goto(f"/pick/{pick_list}")
    wedge(pick, "pick-scan", "LOC:WH1-B-01")
    expect(pick.locator(".pick-location.confirmed")).to_be_visible()
    wait_for_saved(pick, "/receive/po/PO-00001", "/receive/po/PO-00002", f"/pick/{pick_list}")
    before = posted(app)
    assert before == []

    tea.context.set_offline(True)
    # The receipts: the location scan is queued, the step says so (never "received").
    tea.bring_to_front()
    wedge(tea, "scan-field", "LOC:WH1-A-01")
    note = tea.locator("#receive-step .queued-box")
    expect(note).to_contain_text("Queued, not posted yet")
    expect(note).to_contain_text("LOC:WH1-A-01")
    expect(tea.locator("#offline-badge")).to_have_text("1 waiting")
    assert tea.locator(".receive-posted").count() == 0
    bolt.bring_to_front()
    wedge(bolt, "scan-field", "LOC:WH1-A-02")
    expect(bolt.locator("#receive-step .queued-box")).to_contain_text("Queued, not posted yet")
    expect(bolt.locator("#offline-badge")).to_have_text("2 waiting")

    # The picks: the screen stays, each item scan queues under the field; one scan too many.
    pick.bring_to_front()
    for n in range(1, 5):
        wedge(pick, "pick-scan", "CUP-1")
        expect(pick.locator("#pick-scan .scan-queued .queued-box")).to_have_count(n)
    field = pick.locator("#pick-scan")
    expect(field).to_have_attribute("data-scan-queued", "4")
    expect(field).to_have_attribute("data-scan-result", "queued")
    expect(pick.locator("#pick-scan-status")).to_contain_text("queued, not posted yet (6 waiting)")
    expect(pick.locator("#pick-remaining")).to_have_text("3")  # nothing shows as picked
    expect(pick.locator("#offline-badge")).to_have_text("6 waiting")
    assert posted(app) == []  # nothing reached the server

    # A reload in the dead zone: the saved screen, the queue still there.
    pick.reload()
    expect(pick.locator("#pick-line")).to_be_visible()
    expect(pick.locator("#offline-badge")).to_have_text("6 waiting")
    assert posted(app) == []

    pick.context.set_offline(False)
    expect(pick.locator("#offline-badge")).to_have_text("1 conflicts", timeout=20000)
    expect(pick.locator("#offline-badge")).to_have_attribute("data-waiting", "0")
    moves = posted(app)
    assert moves == [  # each scan exactly once, in scan order
        ("receipt", "TEA", "WH1-A-01", Decimal(4)), ("receipt", "BOLT", "WH1-A-02", Decimal(6)),
        ("transfer", "CUP", "WH1-OUTBOUND", Decimal(1)), ("transfer", "CUP", "WH1-OUTBOUND", Decimal(1)),
        ("transfer", "CUP", "WH1-OUTBOUND", Decimal(1)),
    ], moves
    assert balance("TEA", "WH1-A-01") == Decimal(4)
    assert balance("BOLT", "WH1-A-02") == Decimal(6)
    assert balance("CUP", "WH1-B-01") == Decimal(2)

    # The fourth pick is the conflict, with the server's reason; nothing of it was posted.
    pick.locator("#offline-badge").click()
    conflict = pick.locator("#offline-conflicts .queue-item")
    expect(conflict).to_have_count(1)
    expect(conflict).to_contain_text("CUP-1")
    expect(conflict.locator(".conflict-reason")).to_have_text(f"Pick list {pick_list} is already complete.")
    expect(pick.locator("#offline-waiting-empty")).to_be_visible()
    for p in (tea, bolt, pick):
        assert offline_noise(console_errors(p)) == []


def test_scans_before_the_scripts_have_loaded_are_kept_and_sent_in_order(floor, browser, live_server):
    """A wedge scan right after the page appears (scan.js, deferred, not run yet) is never posted as a
    plain form: it is kept and sent, each scan with its own key, once the script is ready."""
    from tests.test_browser_pwa import log_in

    context = browser.new_context(base_url=live_server, locale="en-US", service_workers="block",
                                  viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    context.set_default_timeout(10000)
    try:
        page = context.new_page()
        log_in(page)
        held = []
        page.route("**/static/scan.js*", lambda route: held.append(route))  # scan.js held back
        page.goto("/scan", wait_until="commit")
        expect(page.locator("#scan-field-input")).to_be_visible()
        for code in ("TEA", "BOLT"):
            page.locator("#scan-field-input").focus()
            page.keyboard.type(code)
            page.keyboard.press("Enter")
        page.wait_for_timeout(300)
        assert page.url.endswith("/scan")  # no plain form post: still the lookup page
        expect(page.locator("h1")).to_have_text("Scan lookup")
        assert page.locator("#scan-results .scan-result").count() == 0
        assert held, "scan.js was not requested"
        held[0].continue_()
        results = page.locator("#scan-results .scan-result")
        expect(results).to_have_count(2)
        assert [r.get_attribute("data-text") for r in results.all()] == ["BOLT", "TEA"]  # newest first
        expect(page.locator("#scan-field")).to_have_attribute("data-scan-answers", "2")
        assert page.url.endswith("/scan")
    finally:
        context.close()
