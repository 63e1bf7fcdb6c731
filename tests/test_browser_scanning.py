"""The scan field in a real browser on a phone: wedge bursts arrive in order, photos, the live camera."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import segno
from playwright.sync_api import expect

pytest_plugins = ["tests.browser"]
pytestmark = pytest.mark.browser

PASSWORD = "browser test password"
DEV = Path(__file__).resolve().parents[1].parent / "shared" / "barcodes" / "dev"
EAN13_PHOTO = DEV / "images" / "zxing__ean13-1__1.png"  # EAN-13 8413000065504
CHROMIUM = "/usr/bin/chromium"
FAKE_CAMERA_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


@pytest.fixture
def shelves(make_user, make_location, make_item, receive):
    """A worker; six shelves and four items, some of them stocked."""
    make_user("ana", "worker", password=PASSWORD)
    for n in range(1, 7):
        make_location(f"WH1-A-0{n}")
    make_item("TEA-100", name="Green tea", barcodes=["0614141123452"])
    make_item("BOLT-7", name="Bolt")
    make_item("RICE-5", name="Rice")
    make_item("PHOTO-1", name="Photographed", barcodes=["8413000065504"])
    receive("TEA-100", "WH1-A-01", 12)
    receive("PHOTO-1", "WH1-A-02", 7)


def log_in(page):
    page.goto("/login")
    page.locator("input[name=username]").fill("ana")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action='/login'] button").click()
    expect(page.locator(".tiles")).to_be_visible()


def only_status_errors(errors: list[str], *statuses: int) -> list[str]:
    """Console errors other than the expected 'server responded with a status of N' lines."""
    return [e for e in errors if not any(f"status of {s}" in e for s in statuses)]


def test_a_fast_wedge_burst_arrives_complete_and_in_order(shelves, new_page, console_errors):
    page = new_page("phone", locale="en-US")
    log_in(page)
    page.goto("/scan")
    field = page.locator("#scan-field")
    scan_input = page.locator("#scan-field-input")
    expect(scan_input).to_be_focused()

    codes = ["WH1-A-01", "TEA-100", "WH1-A-02", "614141123452", "WH1-A-03", "BOLT-7", "WH1-A-04",
             "RICE-5", "WH1-A-05", "LOC:WH1-A-06"]
    for code in codes:  # like a keyboard wedge: characters, then Enter, no pause
        page.keyboard.type(code)
        page.keyboard.press("Enter")

    results = page.locator("#scan-results .scan-result")
    expect(field).to_have_attribute("data-scan-answers", "10", timeout=15000)
    expect(results).to_have_count(10)
    texts = [r.get_attribute("data-text") for r in results.all()]
    assert texts == codes[::-1]  # newest first: every scan answered, in the order scanned
    assert [r.get_attribute("data-outcome") for r in results.all()] == ["ok"] * 10
    expect(field).to_have_attribute("data-scan-result", "ok")
    expect(field).not_to_have_class("is-busy")
    expect(scan_input).to_have_value("")
    expect(scan_input).to_be_focused()
    # The UPC-A scan found the item stored under its EAN-13, with its stock.
    upc = page.locator("#scan-results .scan-result[data-text='614141123452']")
    expect(upc).to_contain_text("TEA-100")
    expect(upc).to_contain_text("12 pcs")

    # An unknown code: an error the worker sees (and hears), the field keeps its focus.
    page.keyboard.type("NO-SUCH-CODE")
    page.keyboard.press("Enter")
    expect(field).to_have_attribute("data-scan-result", "error")
    expect(results.first).to_contain_text('Scanned "NO-SUCH-CODE" — no location, item or lot has this code.')
    expect(page.locator("#scan-field-status")).to_have_text(  # under the field, where the eyes are
        'Scanned "NO-SUCH-CODE" — no location, item or lot has this code.')
    expect(scan_input).to_be_focused()

    # A tap elsewhere on the page brings the cursor back to the field.
    page.locator("h1").click()
    expect(scan_input).to_be_focused()

    # Faster than any wedge: ten scans in one JavaScript task, before a single answer can arrive.
    page.evaluate("""(codes) => {
        const input = document.getElementById("scan-field-input");
        for (const code of codes) {
            input.value = code;
            input.dispatchEvent(new KeyboardEvent("keydown", {key: "Enter", bubbles: true, cancelable: true}));
        }
    }""", codes)
    expect(field).to_have_attribute("data-scan-answers", "21", timeout=15000)
    expect(results).to_have_count(20)  # the page keeps the last 20
    assert [r.get_attribute("data-text") for r in results.all()][:10] == codes[::-1]
    expect(scan_input).to_be_focused()
    assert only_status_errors(console_errors(page), 422) == []


@pytest.mark.skipif(not EAN13_PHOTO.exists(), reason=f"photo test set not at {DEV}")
def test_a_photo_of_a_barcode_shows_its_item(shelves, new_page, console_errors, tmp_path):
    # A real photo, enlarged to what a phone camera takes: the browser must shrink it before upload.
    photo = cv2.imread(str(EAN13_PHOTO))
    big = tmp_path / "phone-photo.png"
    cv2.imwrite(str(big), cv2.resize(photo, (3200, 3200 * photo.shape[0] // photo.shape[1])))
    page = new_page("phone", locale="en-US")
    log_in(page)
    page.goto("/scan")
    page.evaluate("""() => {
        // Record what the page uploads (test-only wrapper, installed through the debugger, not the page).
        window.uploads = [];
        const send = window.fetch;
        window.fetch = (url, init) => {
            const image = init && init.body instanceof FormData ? init.body.get("image") : null;
            if (image) {
                window.uploads.push(createImageBitmap(image).then(
                    (bitmap) => ({url: String(url), type: image.type, width: bitmap.width, height: bitmap.height})));
            }
            return send(url, init);
        };
    }""")
    page.locator("#scan-field .scan-file").set_input_files(str(big))
    result = page.locator("#scan-results .scan-result")
    expect(result).to_have_count(1, timeout=10000)
    expect(result).to_have_attribute("data-kind", "item")
    expect(result).to_contain_text("PHOTO-1")
    expect(result).to_contain_text("WH1-A-02")
    expect(page.locator("#scan-field")).to_have_attribute("data-scan-result", "ok")
    uploads = page.evaluate("Promise.all(window.uploads)")
    assert len(uploads) == 1 and uploads[0]["url"].endswith("/scan/photo")
    assert uploads[0]["type"] == "image/jpeg" and max(uploads[0]["width"], uploads[0]["height"]) == 2048
    assert console_errors(page) == []


def _y4m(path: Path, image: np.ndarray, frames: int = 10) -> Path:
    """A Y4M video (what Chromium's fake camera plays) showing ``image`` (BGR, 640x480)."""
    height, width = image.shape[:2]
    yuv = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)  # Y plane, then U, then V: Y4M's 4:2:0 layout
    with path.open("wb") as fh:
        fh.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            fh.write(b"FRAME\n")
            fh.write(yuv.tobytes())
    return path


def _qr_frame(payload: str) -> np.ndarray:
    qr = segno.make_qr(payload, error="m")
    side = qr.symbol_size(scale=1, border=4)[0]
    scale = 400 // side
    modules = np.array([[0 if dark else 255 for dark in row] for row in qr.matrix_iter(scale=1, border=4)],
                       dtype=np.uint8)
    symbol = cv2.resize(modules, (side * scale, side * scale), interpolation=cv2.INTER_NEAREST)
    frame = np.full((480, 640), 255, np.uint8)
    top, left = (480 - symbol.shape[0]) // 2, (640 - symbol.shape[1]) // 2
    frame[top:top + symbol.shape[0], left:left + symbol.shape[1]] = symbol
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)


def test_the_live_camera_reads_a_location_label(shelves, live_server, playwright, tmp_path):
    video = _y4m(tmp_path / "label.y4m", _qr_frame("LOC:WH1-A-01"))
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True,
        args=FAKE_CAMERA_ARGS + [f"--use-file-for-fake-video-capture={video}"],
    )
    try:
        context = browser.new_context(base_url=live_server, locale="en-US", permissions=["camera"],
                                      viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        context.set_default_timeout(10000)
        page = context.new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
        log_in(page)
        page.goto("/scan")
        page.locator("#scan-field .scan-live-start").click()
        result = page.locator("#scan-results .scan-result")
        expect(result).to_have_count(1)
        expect(result).to_have_attribute("data-kind", "location")
        expect(result).to_contain_text("WH1-A-01")
        expect(result).to_contain_text("TEA-100")
        expect(page.locator("#scan-field .scan-live")).to_be_hidden()  # stopped at the first code
        assert page.evaluate("document.querySelector('#scan-field .scan-video').srcObject") is None
        assert errors == []
        context.close()
    finally:
        browser.close()
