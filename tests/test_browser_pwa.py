"""The installable app and offline mode in a real Chromium on a phone: install criteria (through the
DevTools protocol), the service worker, scans queued in a dead zone and sent once, in order, when the
network is back, a replay conflict, a new release reaching the handheld, and a live-camera scan."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import cv2
import numpy as np
import pytest
from flask import Blueprint, render_template_string, request
from flask_login import current_user
from playwright.sync_api import expect

pytest_plugins = ["tests.browser"]
pytestmark = pytest.mark.browser

PASSWORD = "browser test password"
DEV = Path(__file__).resolve().parents[1].parent / "shared" / "barcodes" / "dev"
EAN13_PHOTO = DEV / "images" / "zxing__ean13-1__1.png"  # EAN-13 8413000065504

# A stock-posting scan screen like the workflow screens (receive, put away, pick, count) build with
# the shared scan field: every scan moves one unit of the scanned item from ?from= to ?to=.
SCAN_PAGE = """{% extends "base.html" %}{% from "scanning/_scan_field.html" import scan_field %}
{% block content %}<h1>Scan to move</h1>
{{ scan_field(url_for('pwa_test.scan_move'), '#moved', swap='afterbegin', stock_post=True,
              extra={'from_location': request.args.get('from', 'WH1-A-01'),
                     'to_location': request.args.get('to', 'WH1-A-05')}) }}
<div id="moved"></div>{% endblock %}"""


def _scan_blueprint() -> Blueprint:
    from scanapp.inventory import services
    from scanapp.web import write

    bp = Blueprint("pwa_test", __name__)

    @bp.get("/test/scan-move")
    def scan_page():
        return render_template_string(SCAN_PAGE)

    @bp.post("/test/scan-move")
    @write(idempotent=True)
    def scan_move():
        from scanapp.scanning.resolve import resolve

        form = request.form
        scanned = resolve(form["code"], screen="test", user_id=current_user.id, expected=("item",))
        move = services.move_stock(type="transfer", sku=scanned.sku or form["code"], qty=Decimal(1),
                                   user_id=current_user.id, from_location=form["from_location"],
                                   to_location=form["to_location"], idempotency_key=form["idempotency_key"])
        return render_template_string('<p class="moved" data-move="{{ m.id }}">{{ m.item.sku }} moved</p>', m=move)

    return bp


@pytest.fixture
def floor(app, make_user, make_location, make_item, receive):
    """A worker, six shelves, tea on A-01, bolts on A-06, a photographed item on A-02, and the scan page."""
    app.register_blueprint(_scan_blueprint())
    make_user("ana", "worker", password=PASSWORD)
    make_user("boss", "supervisor", password=PASSWORD)
    for n in range(1, 7):
        make_location(f"WH1-A-0{n}")
    make_item("TEA-100", name="Green tea")
    make_item("BOLT-7", name="Bolt")
    make_item("PHOTO-1", name="Photographed", barcodes=["8413000065504"])
    receive("TEA-100", "WH1-A-01", 12)
    receive("BOLT-7", "WH1-A-06", 5)
    receive("PHOTO-1", "WH1-A-02", 7)


def log_in(page, username="ana"):
    page.goto("/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action='/login'] button").click()
    expect(page.locator(".tiles")).to_be_visible()


def wait_for_worker(page):
    """Until the service worker controls the page (it claims open pages when it activates)."""
    # Polled from here: wait_for_function would poll with eval in the page, which the CSP forbids.
    # An install whose precache fetch failed (a busy test server) is retried by the browser on the
    # next page load, as on a handheld; so after a while without control, load the page again.
    for attempt in range(400):
        if page.evaluate("!!(navigator.serviceWorker && navigator.serviceWorker.controller)"):
            return
        if attempt % 80 == 79:
            page.reload()
        page.wait_for_timeout(100)
    raise AssertionError("the service worker does not control the page")


def wait_for_saved(page, *paths):
    """Until the service worker has saved these pages for the dead zone (it saves after answering)."""
    script = "caches.open('scanapp-pages').then(c => c.keys()).then(ks => ks.map(r => new URL(r.url)))" \
             ".then(urls => urls.map(u => u.pathname + u.search))"
    for _ in range(100):
        saved = page.evaluate(script)
        if all(path in saved for path in paths):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"pages not saved: {paths} (saved: {saved})")


def user_moves(app, username="ana"):
    """(type, sku, from, to, qty) of every move the user posted, in ledger order."""
    from sqlalchemy import select

    from scanapp.auth.models import User
    from scanapp.extensions import db
    from scanapp.inventory.models import StockMove

    with app.app_context():
        user = db.session.execute(select(User).where(User.username == username)).scalar_one()
        moves = db.session.execute(select(StockMove).where(StockMove.user_id == user.id)
                                   .order_by(StockMove.id)).scalars().all()
        rows = [(m.type.value, m.item.sku, m.from_location.code, m.to_location.code, m.qty) for m in moves]
        db.session.remove()
        return rows


def move_form(page, sku, qty, src, dst, type_="transfer"):
    form = page.locator("#move-form")
    form.locator("select[name=type]").select_option(type_)
    form.locator("input[name=sku]").fill(sku)
    form.locator("input[name=qty]").fill(str(qty))
    form.locator("input[name=from_location]").fill(src)
    form.locator("input[name=to_location]").fill(dst)
    form.locator("button.primary").click()


def offline_noise(errors):
    """Console lines a dead zone causes by design (failed loads while offline)."""
    return [e for e in errors if "ERR_INTERNET_DISCONNECTED" not in e and "Failed to fetch" not in e
            and "status of 409" not in e]  # the refused replay (the conflict) is a 409


def test_the_app_is_installable_and_the_worker_controls_every_page(floor, live_server, profile_context):
    context = profile_context("phone", locale="zh-CN")  # Chromium offers installation outside incognito only
    try:
        page = context.new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        log_in(page)
        wait_for_worker(page)
        cdp = context.new_cdp_session(page)
        manifest = cdp.send("Page.getAppManifest")
        assert manifest["errors"] == [], manifest["errors"]
        assert manifest["url"].endswith("/manifest.webmanifest")
        assert '"name": "ScanApp 扫码库存"' in manifest["data"] and '"display": "standalone"' in manifest["data"]
        assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
        scope = page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.scope)")
        assert scope == live_server + "/"
        # A page reached by a boosted link is controlled too (same document), and a fresh load as well.
        page.locator("a.tile[href='/moves/new']").click()
        expect(page.locator("#move-form")).to_be_visible()
        page.reload()
        wait_for_worker(page)
        assert errors == []
    finally:
        context.close()


def test_offline_moves_and_scans_are_queued_then_posted_once_in_order(app, floor, new_page, console_errors,
                                                                        move_count, balance):
    page = new_page("phone", locale="en-US")
    log_in(page)
    wait_for_worker(page)
    page.goto("/test/scan-move?from=WH1-A-01&to=WH1-A-05")  # visited once online: saved for the dead zone
    page.goto("/moves/new")
    wait_for_worker(page)
    wait_for_saved(page, "/test/scan-move?from=WH1-A-01&to=WH1-A-05", "/moves/new")
    badge = page.locator("#offline-badge")
    expect(badge).to_be_hidden()
    moves_before = move_count()

    page.context.set_offline(True)
    # Two moves where the second needs the first (A-02 is empty until the first one is posted) …
    move_form(page, "TEA-100", 2, "WH1-A-01", "WH1-A-02")
    queued = page.locator("#move-feedback .queued-box")
    expect(queued).to_have_count(1)
    expect(queued).to_contain_text("Queued, not posted yet")
    expect(queued).to_contain_text("2 × TEA-100 WH1-A-01 → WH1-A-02")
    expect(badge).to_have_text("1 waiting")
    move_form(page, "TEA-100", 2, "WH1-A-02", "WH1-A-03")
    expect(badge).to_have_text("2 waiting")
    # … and one that will meet a conflict: someone else takes bolts from A-06 meanwhile.
    move_form(page, "BOLT-7", 4, "WH1-A-06", "WH1-A-04")
    expect(badge).to_have_text("3 waiting")
    assert page.locator(".success-box").count() == 0  # nothing ever shows as done

    # A reload in the dead zone: the saved page, and the queue is still there.
    page.reload()
    expect(page.locator("#move-form")).to_be_visible()
    expect(badge).to_have_text("3 waiting")
    # A page never opened on this handheld: the offline page, which knows the queue too.
    page.goto("/ledger")
    expect(page.locator("h1")).to_contain_text("No connection")
    expect(badge).to_have_attribute("data-waiting", "3")
    # The scan screen (saved earlier), opened while offline: scans queue behind the moves.
    page.goto("/test/scan-move?from=WH1-A-01&to=WH1-A-05")
    field = page.locator("#scan-field")
    for _ in range(2):
        page.locator("#scan-field-input").fill("TEA-100")
        page.keyboard.press("Enter")
    expect(field).to_have_attribute("data-scan-queued", "2")
    expect(field).to_have_attribute("data-scan-result", "queued")
    expect(page.locator("#scan-field-status")).to_contain_text("queued, not posted yet (5 waiting)")
    expect(page.locator("#moved .queued-box")).to_have_count(2)
    expect(badge).to_have_text("5 waiting")

    assert move_count() == moves_before  # nothing reached the server
    assert balance("TEA-100", "WH1-A-01") == Decimal(12)
    with app.app_context():  # meanwhile, on another handheld online: 3 of the 5 bolts leave A-06
        from scanapp.extensions import db
        from scanapp.inventory import services

        services.move_stock(type="issue", sku="BOLT-7", qty=Decimal(3), from_location="WH1-A-06", user_id=None)
        db.session.commit()
        db.session.remove()

    page.context.set_offline(False)
    expect(badge).to_have_text("1 conflicts", timeout=15000)
    expect(badge).to_have_attribute("data-waiting", "0")
    # The scans on screen now show the server's answers instead of "queued".
    expect(page.locator("#moved .queued-box")).to_have_count(0)
    expect(page.locator("#moved .moved")).to_have_count(2)
    assert user_moves(app) == [
        ("transfer", "TEA-100", "WH1-A-01", "WH1-A-02", Decimal(2)),
        ("transfer", "TEA-100", "WH1-A-02", "WH1-A-03", Decimal(2)),
        ("transfer", "TEA-100", "WH1-A-01", "WH1-A-05", Decimal(1)),
        ("transfer", "TEA-100", "WH1-A-01", "WH1-A-05", Decimal(1)),
    ]
    assert balance("TEA-100", "WH1-A-01") == Decimal(8)
    assert balance("TEA-100", "WH1-A-02") == Decimal(0)
    assert balance("TEA-100", "WH1-A-03") == Decimal(2)
    assert balance("TEA-100", "WH1-A-05") == Decimal(2)
    assert balance("BOLT-7", "WH1-A-06") == Decimal(2)

    # The conflict, with the server's reason and what to do; dismissed once read.
    badge.click()
    conflict = page.locator("#offline-conflicts .queue-item")
    expect(conflict).to_have_count(1)
    expect(conflict).to_contain_text("4 × BOLT-7 WH1-A-06 → WH1-A-04")
    expect(conflict.locator(".conflict-reason")).to_have_text("Not enough stock: 4 needed at this location.")
    expect(conflict).to_contain_text("Nothing was posted for this scan")
    expect(page.locator("#offline-waiting-empty")).to_be_visible()
    conflict.locator("[data-dismiss]").click()
    expect(conflict).to_have_count(0)
    expect(badge).to_be_hidden()
    assert offline_noise(console_errors(page)) == []


def test_a_request_that_arrived_before_the_connection_dropped_is_not_posted_twice(app, floor, new_page,
                                                                                    move_count):
    page = new_page("phone", locale="en-US")
    log_in(page)
    page.goto("/moves/new")
    wait_for_worker(page)
    # The server gets the request and answers, but the answer is lost on the way back.
    lost = []

    def lose_answer(route):
        route.fetch()  # reaches the server: the move is posted
        lost.append(route.request.url)
        route.abort("internetdisconnected")

    page.route("**/moves", lose_answer, times=1)
    move_form(page, "TEA-100", 3, "WH1-A-01", "WH1-A-04")
    expect(page.locator("#move-feedback .queued-box")).to_have_count(1)
    assert lost and move_count(type="transfer") == 1
    page.evaluate("window.ScanAppOffline.flush()")
    expect(page.locator("#move-feedback .success-box")).to_be_visible()  # the first answer, replayed
    expect(page.locator("#offline-badge")).to_be_hidden()
    assert move_count(type="transfer") == 1
    assert balance_of(app, "TEA-100", "WH1-A-04") == Decimal(3)


def balance_of(app, sku, code):
    from sqlalchemy import select

    from scanapp.extensions import db
    from scanapp.inventory import queries
    from scanapp.inventory.models import StockBalance

    with app.app_context():
        item, loc = queries.item_by_sku(sku), queries.location_by_code(code)
        qty = db.session.execute(select(StockBalance.qty).where(StockBalance.item_id == item.id,
                                                                StockBalance.location_id == loc.id)).scalar()
        db.session.remove()
        return qty or Decimal(0)


def test_a_stale_session_keeps_the_queue_and_asks_to_log_in(app, floor, new_page, move_count):
    page = new_page("phone", locale="en-US")
    log_in(page)
    page.goto("/moves/new")
    wait_for_worker(page)
    page.context.set_offline(True)
    move_form(page, "TEA-100", 1, "WH1-A-01", "WH1-A-02")
    expect(page.locator("#offline-badge")).to_have_text("1 waiting")
    page.context.clear_cookies()  # the session is gone (expired, or logged out elsewhere)
    page.context.set_offline(False)
    page.evaluate("window.ScanAppOffline.flush()")
    expect(page.locator("#offline-banner")).to_contain_text("Log in again to send the 1 requests")
    assert move_count(type="transfer") == 0
    log_in(page)  # the same worker again: the queue goes out with the new session's token
    # The badge of a page just loaded is hidden until the queue is read, so wait for the count the
    # queue reports after the send (data-waiting is only written from the queue).
    expect(page.locator("#offline-badge")).to_have_attribute("data-waiting", "0", timeout=10000)
    expect(page.locator("#offline-badge")).to_be_hidden()
    assert move_count(type="transfer") == 1


def test_supervisors_see_each_handheld_with_its_queue(app, floor, new_page):
    page = new_page("phone", locale="en-US")
    log_in(page)
    page.goto("/moves/new")
    wait_for_worker(page)
    page.goto("/offline/conflicts")
    page.locator("#device-name").fill("Cold room 1")
    page.locator("#device-name-form button").click()
    expect(page.locator("#device-name-saved")).to_be_visible()
    page.context.set_offline(True)
    page.goto("/moves/new")
    move_form(page, "TEA-100", 1, "WH1-A-01", "WH1-A-02")
    move_form(page, "TEA-100", 1, "WH1-A-01", "WH1-A-02")
    expect(page.locator("#offline-badge")).to_have_text("2 waiting")
    # Back in range but the queue not sent yet (e.g. a page load before the flush): the heartbeat says 2.
    page.evaluate("""() => navigator.serviceWorker.ready""")
    page.context.set_offline(False)
    expect(page.locator("#offline-badge")).to_be_hidden(timeout=15000)

    desk = new_page("desktop", locale="en-US")
    log_in(desk, "boss")
    desk.goto("/devices")
    row = desk.locator("#devices-table tbody tr", has_text="ana")  # (the supervisor's desktop reports too)
    expect(row).to_have_count(1)
    expect(row.locator("input[name=name]")).to_have_value("Cold room 1")
    expect(row).to_contain_text("ana")
    expect(row.locator("[data-col=waiting]")).to_have_text("0")
    row.locator("input[name=name]").fill("Truck 2")
    row.locator("button").click()
    expect(desk.locator("#devices-table tbody tr", has_text="ana").locator("input[name=name]")).to_have_value("Truck 2")


def test_a_new_release_reaches_the_handheld_on_its_next_start(app, floor, browser, serve_app):
    from scanapp import create_app

    releases = []

    def release(version):
        releases.append(create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "TESTING": True,
                           "SECRET_KEY": app.config["SECRET_KEY"], "SCANAPP_ASSET_VERSION": version}))
        return releases[-1]

    old = release("release-1")
    url = serve_app(old)
    port = int(url.rsplit(":", 1)[1])
    context = browser.new_context(base_url=url, locale="en-US", viewport={"width": 390, "height": 844})
    context.set_default_timeout(10000)
    try:
        page = context.new_page()
        log_in(page)
        wait_for_worker(page)
        assert page.evaluate("caches.keys()").count("scanapp-static-release-1") == 1
        serve_app.stop(url)
        new = release("release-2")
        assert serve_app(new, port) == url  # the same origin, restarted with a new asset version

        page.reload()  # the next start: the browser checks /sw.js, installs and activates the new worker
        for _ in range(100):
            keys = page.evaluate("caches.keys()")
            if "scanapp-static-release-2" in keys and "scanapp-static-release-1" not in keys:
                break
            page.wait_for_timeout(100)
        assert "scanapp-static-release-2" in keys and "scanapp-static-release-1" not in keys  # old one deleted
        page.reload()
        scripts = page.eval_on_selector_all("script[src]", "els => els.map(e => e.getAttribute('src'))")
        assert scripts and all(s.endswith("?v=release-2") for s in scripts)
        version = page.evaluate("""() => new Promise(resolve => {
            navigator.serviceWorker.addEventListener("message", e => resolve(e.data.version), {once: true});
            navigator.serviceWorker.controller.postMessage({type: "version"});
        })""")
        assert version == "release-2"
        page.goto("/moves/new")  # and it still works: a move posts
        move_form(page, "TEA-100", 1, "WH1-A-01", "WH1-A-02")
        expect(page.locator("#move-feedback .success-box")).to_be_visible()
    finally:
        context.close()
        for release_app in releases:
            with release_app.app_context():
                from scanapp.extensions import db

                db.engine.dispose()


def _y4m(path: Path, image: np.ndarray, frames: int = 10) -> Path:
    height, width = image.shape[:2]
    yuv = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)
    with path.open("wb") as fh:
        fh.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            fh.write(b"FRAME\n")
            fh.write(yuv.tobytes())
    return path


@pytest.mark.skipif(not EAN13_PHOTO.exists(), reason=f"photo test set not at {DEV}")
def test_a_live_camera_scan_posts_stock(app, floor, live_server, fake_camera_browser, tmp_path, move_count):
    photo = cv2.imread(str(EAN13_PHOTO))
    frame = np.full((480, 640, 3), 255, np.uint8)  # the photo on a white 640×480 frame
    scale = min(600 / photo.shape[1], 440 / photo.shape[0])
    small = cv2.resize(photo, (int(photo.shape[1] * scale), int(photo.shape[0] * scale)))
    top, left = (480 - small.shape[0]) // 2, (640 - small.shape[1]) // 2
    frame[top:top + small.shape[0], left:left + small.shape[1]] = small
    browser = fake_camera_browser(_y4m(tmp_path / "ean13.y4m", frame))
    context = browser.new_context(base_url=live_server, locale="en-US", permissions=["camera"],
                                  viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    context.set_default_timeout(10000)
    try:
        page = context.new_page()
        log_in(page)
        page.goto("/test/scan-move?from=WH1-A-02&to=WH1-A-05")
        page.locator("#scan-field .scan-live-start").click()
        expect(page.locator("#moved .moved")).to_have_text("PHOTO-1 moved")
        expect(page.locator("#scan-field")).to_have_attribute("data-scan-result", "ok")
        assert user_moves(app) == [("transfer", "PHOTO-1", "WH1-A-02", "WH1-A-05", Decimal(1))]
    finally:
        context.close()

