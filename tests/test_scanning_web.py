"""Scanning over HTTP: the lookup page (POST /scan, /scan/photo, /scan/frame), the scan API
(decode, interpret), the scan log, and what is refused."""

from __future__ import annotations

import html as html_lib
import io
from datetime import date, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
import segno
from sqlalchemy import select

from scanapp.extensions import db

DEV = Path(__file__).resolve().parents[1].parent / "shared" / "barcodes" / "dev"
EAN13_PHOTO = DEV / "images" / "zxing__ean13-1__1.png"  # EAN-13 8413000065504
needs_dev = pytest.mark.skipif(not EAN13_PHOTO.exists(), reason=f"photo test set not at {DEV}")

EN = {"Accept-Language": "en"}
GS = "\x1d"
EAN13 = "0614141123452"  # UPC-A 614141123452 as an EAN-13
CASE_GTIN = "10614141123459"  # the case of 12


@pytest.fixture
def stocked(make_location, make_item, receive):
    make_location("WH1-A-01")
    make_location("WH1-B-02")
    make_item("TEA-100", name="Green tea", barcodes=[EAN13, (CASE_GTIN, 12)], lot_tracked=True,
              expiry_tracked=True)
    make_item("BOLT-7", name="Bolt", barcodes=["+A123BJC5D6E71G"])  # HIBC: a code that starts with "+"
    make_item("PHOTO-1", name="Photographed", barcodes=["8413000065504"])
    receive("TEA-100", "WH1-A-01", 12, lot="L2405", expiry=date(2027, 12, 31))
    receive("TEA-100", "WH1-B-02", 5, lot="L2406", expiry=date(2028, 1, 31))
    receive("BOLT-7", "WH1-A-01", 300)


@pytest.fixture
def worker(page_client):
    return page_client("worker")


@pytest.fixture
def scan_logs(app):
    """scan_logs() → every ScanLog row as a dict, oldest first."""

    def rows():
        from scanapp.scanning.models import ScanLog

        with app.app_context():
            logs = db.session.execute(select(ScanLog).order_by(ScanLog.id)).scalars().all()
            result = [{"screen": r.screen, "raw": r.raw, "kind": r.kind, "outcome": r.outcome,
                       "message": r.message, "user_id": r.user_id} for r in logs]
            db.session.remove()
            return result

    return rows


def scan(client, text, **extra):
    return client.post("/scan", {"code": text, **extra}, htmx=True, headers=dict(EN))


def body(response) -> str:
    """The response as text, HTML entities resolved (quotes in messages are escaped)."""
    return html_lib.unescape(response.get_data(as_text=True))


def multipart(name: str, data: bytes, filename: str = "photo.jpg") -> dict:
    """Request arguments for a multipart upload, encoded here: the test client spools big bodies to a
    temporary file it never closes (a ResourceWarning, an error under filterwarnings=error)."""
    boundary = "scanapp-test-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def qr_image(*payloads: str, scale: int = 8) -> np.ndarray:
    """Clean QR codes side by side on white."""
    tiles = []
    for payload in payloads:
        buf = io.BytesIO()
        segno.make_qr(payload, error="m").save(buf, kind="png", scale=scale, border=4)
        tiles.append(cv2.imdecode(np.frombuffer(buf.getvalue(), np.uint8), cv2.IMREAD_GRAYSCALE))
    height = max(t.shape[0] for t in tiles)
    tiles = [cv2.copyMakeBorder(t, 0, height - t.shape[0], 0, 40, cv2.BORDER_CONSTANT, value=255) for t in tiles]
    return np.hstack(tiles)


# --- the lookup page --------------------------------------------------------------------------


def test_lookup_page_has_the_scan_field(worker):
    html = body(worker.get("/scan", headers=EN))
    assert "Scan lookup" in html
    field = html[html.index('class="scan-input"') - 200: html.index('class="scan-input"') + 600]
    for attribute in ('autofocus', 'autocomplete="off"', 'autocapitalize="off"', 'autocorrect="off"',
                      'spellcheck="false"', 'enterkeyhint="go"', 'name="code"'):
        assert attribute in field, attribute
    assert 'capture="environment"' in html and 'accept="image/*"' in html
    assert 'name="idempotency_key"' in html and 'data-target="#scan-results"' in html
    assert "/static/scan.js" in html and "/static/scan.css" in html
    assert "Scan lookup" in body(worker.get("/", headers=EN))  # the home tile


def test_location_shows_its_contents(stocked, worker):
    r = scan(worker, "WH1-A-01")
    assert r.status_code == 200
    html = body(r)
    assert "<html" not in html and 'data-kind="location"' in html
    assert "TEA-100" in html and "L2405" in html and "2027-12-31" in html and "12 pcs" in html
    assert "BOLT-7" in html and "300 pcs" in html
    assert "L2406" not in html  # on the other shelf
    # A LOC: label typed in lower case is the same location.
    assert 'data-kind="location"' in body(scan(worker, "loc:wh1-a-01"))


def test_item_barcode_shows_stock_by_location_lot_and_expiry(stocked, worker):
    html = body(scan(worker, EAN13))
    assert 'data-kind="item"' in html and "Green tea" in html
    for text in ("WH1-A-01", "WH1-B-02", "L2405", "L2406", "2027-12-31", "2028-01-31", "17 pcs"):
        assert text in html, text


def test_upc_a_scan_finds_the_item_stored_under_its_ean13(stocked, api_client):
    r = api_client("worker").post("/scan/interpret", json={"text": "614141123452"})
    assert r.status_code == 200
    assert r.json["kind"] == "item" and r.json["sku"] == "TEA-100" and r.json["gtin"] == "00614141123452"
    assert r.json["qty"] == 1


def test_pack_barcode_gives_its_pack_quantity(stocked, api_client):
    r = api_client("worker").post("/scan/interpret", json={"text": CASE_GTIN})
    assert r.json["kind"] == "item" and r.json["sku"] == "TEA-100" and r.json["qty"] == 12


def test_gs1_lot_string_resolves_item_lot_expiry(stocked, worker, api_client):
    text = f"]C101{CASE_GTIN}10L2405{GS}17271231"
    r = api_client("worker").post("/scan/interpret", json={"text": text})
    assert r.json == {"kind": "lot", "outcome": "ok", "message": "a lot (TEA-100, lot L2405)",
                      "text": f"01{CASE_GTIN}10L2405{GS}17271231", "sku": "TEA-100", "name": "Green tea",
                      "uom": "pcs", "gtin": CASE_GTIN, "lot": "L2405", "expiry": "2027-12-31", "qty": 12,
                      "lot_known": True}
    html = body(scan(worker, text))
    assert 'data-kind="lot"' in html and "WH1-A-01" in html and "WH1-B-02" not in html
    # A GS1 count (37) of cases: 3 × 12 units.
    r = api_client("worker").post("/scan/interpret", json={"text": f"(02){CASE_GTIN}(37)3(10)NEW-LOT"})
    assert r.json["kind"] == "lot" and r.json["qty"] == 36 and r.json["lot_known"] is False


def test_unknown_code_says_what_was_scanned(stocked, worker, scan_logs):
    r = scan(worker, "NOPE-1")
    assert r.status_code == 422
    assert 'Scanned "NOPE-1" — no location, item or lot has this code.' in body(r)
    assert scan_logs()[-1]["outcome"] == "unknown" and scan_logs()[-1]["raw"] == "NOPE-1"


def test_expected_kind_mismatch_says_what_was_expected(stocked, worker, api_client):
    r = api_client("worker").post("/scan/interpret", json={"text": "TEA-100", "expected": ["location"]},
                                  headers=EN)
    assert r.status_code == 200
    assert r.json["outcome"] == "error" and r.json["kind"] == "item"
    assert r.json["message"] == "Expected a location, but this is an item (TEA-100)."
    page = scan(worker, "TEA-100", expected="location")
    assert page.status_code == 422 and "Expected a location, but this is an item (TEA-100)." in body(page)
    unknown = api_client("worker").post("/scan/interpret", json={"text": "XYZ", "expected": ["location", "lot"]},
                                        headers=EN)
    assert unknown.json["message"].endswith("Expected a location or a lot.")


def test_document_label_is_a_document(stocked, api_client):
    r = api_client("worker").post("/scan/interpret", json={"text": "DOC:PO:PO-00012"})
    assert r.json["kind"] == "document" and r.json["document_kind"] == "PO" and r.json["document"] == "PO-00012"


def test_formula_leading_text_is_kept_exactly(stocked, worker, api_client, scan_logs):
    r = api_client("worker").post("/scan/interpret", json={"text": "+A123BJC5D6E71G"})
    assert r.json["kind"] == "item" and r.json["sku"] == "BOLT-7"
    page = scan(worker, "=SUM(A1:A2)")
    assert page.status_code == 422 and 'Scanned "=SUM(A1:A2)"' in body(page)
    for text in ("@cmd", "-1+2"):
        assert api_client("worker").post("/scan/interpret", json={"text": text}).json["text"] == text
    assert [r["raw"] for r in scan_logs()] == ["+A123BJC5D6E71G", "=SUM(A1:A2)", "@cmd", "-1+2"]


@pytest.mark.parametrize("text, logged", [
    ("A" * 4097, "A" * 4096),
    ("AB\x00CD", "AB\\x00CD"),
    ("\u202eABC", "\\u202eABC"),
    ("BELL\x07", "BELL\\x07"),
    ("   ", "   "),
])
def test_unscannable_text_is_refused_and_logged_as_rejected(stocked, worker, api_client, scan_logs, text, logged):
    r = api_client("worker").post("/scan/interpret", json={"text": text})
    assert r.status_code == 422 and r.json["error"]["code"] == "invalid_scan"
    page = scan(worker, text)
    assert page.status_code == 422 and 'role="alert"' in body(page)
    logs = scan_logs()
    assert [(x["outcome"], x["raw"], x["screen"]) for x in logs] == [
        ("rejected", logged, "api.interpret"), ("rejected", logged, "lookup")]
    assert all(x["message"] for x in logs)


def test_longest_scan_and_wedge_suffixes_are_accepted(stocked, api_client):
    worker = api_client("worker")
    assert worker.post("/scan/interpret", json={"text": "A" * 4096}).json["kind"] == "unknown"
    r = worker.post("/scan/interpret", json={"text": "WH1-A-01\r\n"})
    assert r.json["kind"] == "location" and r.json["location"] == "WH1-A-01"


def test_interpret_validates_its_body(api_client):
    worker = api_client("worker")
    assert worker.post("/scan/interpret", json={}).status_code == 400
    assert worker.post("/scan/interpret", json={"text": 5}).status_code == 400
    assert worker.post("/scan/interpret", json={"text": "X", "expected": 3}).status_code == 400


def test_full_page_post_without_javascript(stocked, worker):
    r = worker.post("/scan", {"code": "WH1-A-01"})
    html = body(r)
    assert r.status_code == 200 and "<html" in html and 'data-kind="location"' in html


# --- the scan log -----------------------------------------------------------------------------


def test_scan_log_records_each_attempt_once(stocked, worker, api_client, scan_logs, app):
    scan(worker, "WH1-A-01")
    scan(worker, "NOPE")
    scan(worker, "X\x00")
    api_client("worker").post("/scan/interpret", json={"text": EAN13})
    logs = scan_logs()
    assert [(x["screen"], x["kind"], x["outcome"]) for x in logs] == [
        ("lookup", "location", "ok"), ("lookup", "unknown", "unknown"), ("lookup", "", "rejected"),
        ("api.interpret", "item", "ok")]
    assert logs[0]["message"] == "a location (WH1-A-01)"
    assert len({x["user_id"] for x in logs[:3]}) == 1 and logs[0]["user_id"] != logs[3]["user_id"]
    assert None not in {x["user_id"] for x in logs}


@pytest.fixture
def failing_workflow(app):
    """A stand-in workflow view (added before any request): resolves a scan, then fails as a stock
    move would when there is not enough stock."""
    from flask_login import current_user

    from scanapp.auth.access import access
    from scanapp.inventory.errors import InsufficientStock
    from scanapp.scanning.resolve import resolve
    from scanapp.web import write

    @access("worker")
    @write()
    def view():
        resolve("WH1-A-01", screen="test.fail", user_id=current_user.id)
        raise InsufficientStock()

    app.add_url_rule("/test-failing-scan", "failing_workflow", view, methods=["POST"])
    return "/test-failing-scan"


def test_a_scan_whose_request_fails_is_logged_as_error(failing_workflow, stocked, worker, scan_logs):
    """The request rolls back, scan-log row included; the row is written afterwards, outcome "error"."""
    r = worker.post(failing_workflow, {}, htmx=True)
    assert r.status_code == 409
    assert [(x["screen"], x["kind"], x["outcome"]) for x in scan_logs()] == [("test.fail", "location", "error")]


def test_purge_scan_log_keeps_the_retention(app, make_user):
    from scanapp.clock import utcnow
    from scanapp.scanning.models import ScanLog
    from scanapp.scanning.resolve import purge_scan_log

    with app.app_context():
        for age in (1, 89, 91, 400):
            db.session.add(ScanLog(screen="t", raw=f"age {age}", kind="", outcome="ok",
                                   created_at=utcnow() - timedelta(days=age)))
        db.session.commit()
        assert purge_scan_log() == 2  # the default: 90 days
        db.session.commit()
        assert sorted(db.session.execute(select(ScanLog.raw)).scalars()) == ["age 1", "age 89"]
        app.config["SCANAPP_SCAN_LOG_DAYS"] = 30
        assert purge_scan_log() == 1
        assert purge_scan_log(0) == 1
        db.session.commit()


# --- photos -----------------------------------------------------------------------------------


@needs_dev
def test_decode_api_reads_a_real_photo(stocked, api_client, scan_logs):
    r = api_client("worker").post("/scan/decode", **multipart("image", EAN13_PHOTO.read_bytes()))
    assert r.status_code == 200, r.json
    assert [c["format"] for c in r.json["codes"]] == ["EAN13"]
    assert r.json["codes"][0]["text"] == "8413000065504"
    assert len(r.json["codes"][0]["position"]) == 4 and all(len(p) == 2 for p in r.json["codes"][0]["position"])
    assert isinstance(r.json["ms"], int)
    assert [(x["screen"], x["kind"], x["outcome"], x["raw"]) for x in scan_logs()] == [
        ("api.decode", "photo", "ok", "8413000065504")]


@pytest.mark.parametrize("data, status, code", [
    (b"\xff\xd8\xff" + b"\0" * (10 * 1024 * 1024 - 2), 413, "image_too_large"),
    (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x00\x00\x00\x00\x00,\x00\x00\x00\x00"
     b"\x01\x00\x01\x00\x00\x02\x02D\x01\x00;", 415, "unsupported_image"),
    (cv2.imencode(".png", np.full((50, 50), 255, np.uint8))[1].tobytes()[:-20], 422, "corrupt_image"),
])
def test_decode_api_refuses_bad_images(api_client, scan_logs, data, status, code):
    r = api_client("worker").post("/scan/decode", headers=EN, **multipart("image", data))
    assert r.status_code == status and r.json["error"]["code"] == code
    assert r.json["error"]["message"]
    assert [(x["kind"], x["outcome"]) for x in scan_logs()] == [("photo", "rejected")]


def test_decode_api_needs_the_image_field(api_client, scan_logs):
    r = api_client("worker").post("/scan/decode", data={"photo": (io.BytesIO(b"x"), "x.png")},
                                  content_type="multipart/form-data")
    assert r.status_code == 400 and r.json["error"]["code"] == "missing_field"
    assert scan_logs() == []


@needs_dev
def test_photo_lookup_shows_the_item(stocked, worker):
    r = worker.post("/scan/photo", {"image": (io.BytesIO(EAN13_PHOTO.read_bytes()), "photo.png")}, htmx=True,
                    content_type="multipart/form-data")
    assert r.status_code == 200
    assert 'data-kind="item"' in body(r) and "PHOTO-1" in body(r)


def test_photo_with_several_codes_asks_which(stocked, worker, scan_logs):
    image = png(qr_image("LOC:WH1-A-01", "ITEM:BOLT-7"))
    r = worker.post("/scan/photo", {"image": (io.BytesIO(image), "two.png")}, htmx=True,
                    content_type="multipart/form-data", headers=EN)
    assert r.status_code == 200
    html = body(r)
    assert "This photo has 2 barcodes. Which one?" in html
    assert html.count("data-scan-choice") == 2
    assert 'value="LOC:WH1-A-01"' in html and 'value="ITEM:BOLT-7"' in html
    assert scan_logs()[-1]["kind"] == "photo" and scan_logs()[-1]["raw"] == "LOC:WH1-A-01\nITEM:BOLT-7"


def test_photo_without_a_code_says_so(worker, scan_logs):
    blank = png(np.full((200, 300), 255, np.uint8))
    r = worker.post("/scan/photo", {"image": (io.BytesIO(blank), "blank.png")}, htmx=True,
                    content_type="multipart/form-data", headers=EN)
    assert r.status_code == 422 and "No barcode found in the photo" in body(r)
    assert [(x["kind"], x["outcome"]) for x in scan_logs()] == [("photo", "unknown")]


def test_frame_endpoint_decodes_for_the_camera(stocked, worker, scan_logs):
    image = png(qr_image("LOC:WH1-A-01"))
    r = worker.post("/scan/frame", {"image": (io.BytesIO(image), "f.jpg"), "mode": "live"}, htmx=True,
                    content_type="multipart/form-data")
    assert r.status_code == 200 and [c["text"] for c in r.json["codes"]] == ["LOC:WH1-A-01"]
    assert scan_logs() == []  # live frames are not logged; the code read is, when it is submitted
    r = worker.post("/scan/frame", {"image": (io.BytesIO(image), "f.jpg"), "mode": "photo",
                                    "screen": "receive.scan"}, htmx=True, content_type="multipart/form-data")
    assert r.status_code == 200
    assert [(x["screen"], x["kind"], x["outcome"]) for x in scan_logs()] == [("receive.scan", "photo", "ok")]
    gif = worker.post("/scan/frame", {"image": (io.BytesIO(b"GIF89a...."), "f.gif")}, htmx=True,
                      content_type="multipart/form-data")
    assert gif.status_code == 415


# --- access -----------------------------------------------------------------------------------


def test_scanning_needs_a_login_and_csrf(app, stocked, worker):
    anon = app.test_client()
    assert anon.get("/scan").status_code == 302
    assert anon.post("/api/v1/scan/interpret", json={"text": "X"}).status_code == 401
    assert anon.post("/api/v1/scan/decode").status_code == 401
    r = worker.post("/scan", {"code": "WH1-A-01"}, csrf=False, htmx=True)
    assert r.status_code == 400


@pytest.mark.parametrize("role", ["worker", "supervisor", "admin"])
def test_every_role_can_scan(stocked, page_client, api_client, role):
    assert scan(page_client(role), "WH1-A-01").status_code == 200
    assert api_client(role).post("/scan/interpret", json={"text": "WH1-A-01"}).status_code == 200


def test_openapi_documents_the_scan_routes(app):
    spec = app.test_client().get("/api/v1/openapi.json").json
    decode = spec["paths"]["/scan/decode"]["post"]
    assert "image" in decode["requestBody"]["content"]["multipart/form-data"]["schema"]["required"]
    assert {"200", "400", "413", "415", "422"} <= set(decode["responses"])
    interpret = spec["paths"]["/scan/interpret"]["post"]
    assert interpret["requestBody"]["content"]["application/json"]["schema"]["required"] == ["text"]
