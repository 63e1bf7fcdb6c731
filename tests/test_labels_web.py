"""Labels through the web: the labels page and its preview, the downloads, the print links, the API
and ``flask print-labels``. What the labels look like and that they scan is tests/test_label_render.py;
here one PDF from the API is rasterised and scanned back to the location it names."""

from __future__ import annotations

import io
import re
from datetime import date

import pypdfium2 as pdfium
import pytest

from scanapp.labels import service
from scanapp.scanning.decode import decode
from scanapp.scanning.interpret import parse_scan

PT_PER_MM = 72 / 25.4
A_CODES = ["WH1-A-01-01", "WH1-A-01-02", "WH1-A-02-01", "WH1-A-02-02", "WH1-A-03-01"]


@pytest.fixture
def stocked(make_location, make_item, receive):
    """Five shelves in zone A of WH1 (made out of order), one in zone B, one in WH2; four items."""
    for code in [A_CODES[3], A_CODES[0], "WH1-B-01-01", A_CODES[4], A_CODES[2], A_CODES[1]]:
        make_location(code)
    make_location("WH2-A-01-01", warehouse="WH2")
    make_item("BOLT", name="Hex bolt M8", barcodes=["4006381333931"], category="fasteners")
    make_item("NUT", name="Hex nut M8", category="fasteners")
    make_item("CASE", name="Bolts, case of 12", barcodes=[("5901234123457", 12), "036000291452"])
    make_item("AMOX", name="Amoxicillin 0.25 g", barcodes=["9501101530003"], expiry_tracked=True)
    receive("AMOX", A_CODES[0], 10, lot="L1", expiry=date(2027, 1, 31))
    receive("AMOX", A_CODES[1], 5, lot="L0", expiry=date(2026, 6, 30))


def get(client, path, htmx=False):
    """A page in English (the default language is Chinese), as htmx asks for it when ``htmx``."""
    headers = {"Accept-Language": "en"}
    if htmx:
        headers["HX-Request"] = "true"
    return client.get(path, headers=headers)


def pdf_pages(data: bytes) -> list[tuple[float, float]]:
    """The size of every page in millimetres."""
    doc = pdfium.PdfDocument(data)
    return [tuple(round(v / PT_PER_MM, 1) for v in page.get_size()) for page in doc]


def zpl_formats(text: str) -> list[str]:
    return re.findall(r"\^XA.*?\^XZ", text, re.S)


def filename(response) -> str:
    return re.search(r'filename="?([^";]+)"?', response.headers["Content-Disposition"]).group(1)


# --- the labels page ----------------------------------------------------------------------------


def test_labels_page_is_for_supervisors_and_linked_from_the_nav(stocked, page_client):
    supervisor = page_client("supervisor")
    for kind in ("locations", "items", "lots"):
        r = get(supervisor, f"/labels?kind={kind}")
        assert r.status_code == 200
        html = r.get_data(as_text=True)
        assert 'id="label-form"' in html and 'id="label-preview"' in html
        assert f'name="kind" value="{kind}"' in html
    assert 'href="/labels"' in get(supervisor, "/").get_data(as_text=True)
    worker = page_client("worker")
    assert get(worker, "/labels").status_code == 403
    assert get(worker, "/labels/preview?warehouse=WH1").status_code == 403
    assert get(worker, "/labels/download?warehouse=WH1").status_code == 403
    assert 'href="/labels"' not in get(worker, "/").get_data(as_text=True)


def test_preview_lists_the_locations_to_print_in_code_order(stocked, page_client):
    client = page_client("supervisor")
    query = "kind=locations&warehouse=WH1&prefix=wh1-a&from=WH1-A-01-02&to=WH1-A-02&arrow=up&layout=a4-3x8"
    r = get(client, f"/labels/preview?{query}", htmx=True)
    assert r.status_code == 200 and "HX-Request" in r.headers["Vary"]
    body = r.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="label-preview"') and "<html" not in body
    assert 'data-label-count="3"' in body and "3 labels" in body and "1 page" in body
    rows = re.findall(r"<tr><td>(WH[^<]+)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>", body)
    assert rows == [(code, "WH1", "Zone A", "↑") for code in A_CODES[1:4]]
    download = re.search(r'href="(/labels/download\?[^"]+)" download', body).group(1).replace("&amp;", "&")
    assert "prefix=wh1-a" in download and "from=WH1-A-01-02" in download
    assert re.search(r'href="/labels/download\?[^"]*inline=1[^"]*" target="_blank"', body)
    full = get(client, f"/labels/preview?{query}").get_data(as_text=True)  # a reload: the whole page, filled in
    assert "<html" in full and 'data-label-count="3"' in full and 'value="WH1-A-01-02"' in full


def test_preview_of_items_and_lots_shows_their_barcodes(stocked, page_client):
    client = page_client("supervisor")
    items = get(client, "/labels/preview?kind=items&sku=NUT%0D%0ABOLT&copies=2", htmx=True)
    body = items.get_data(as_text=True)
    assert 'data-label-count="4"' in body and "2 copies of each" in body
    assert body.index("NUT") < body.index("BOLT")
    assert "Code 128 <code>ITEM:NUT</code>" in body and "EAN-13 <code>4006381333931</code>" in body
    lots = get(client, "/labels/preview?kind=lots&sku=AMOX", htmx=True).get_data(as_text=True)
    assert 'data-label-count="2"' in lots
    assert lots.index(">L0<") < lots.index(">L1<")  # earliest expiry first
    assert "GS1 DataMatrix <code>(01)09501101530003(17)270131(10)L1</code>" in lots


@pytest.mark.parametrize("query, status, message", [
    ("warehouse=WH1&layout=a5-1x1", 422, "There is no label layout a5-1x1"),
    ("warehouse=NOPE", 404, "No warehouse NOPE"),
    ("warehouse=WH1&format=zpl&layout=a4-3x8", 422, "ZPL is for label printers"),
    ("warehouse=WH1&size=5x5", 422, "is not WIDTHxHEIGHT"),
    ("warehouse=WH1&margins=200", 422, "Margins are one, two or four numbers"),
    ("warehouse=WH1&start=24", 422, "skip at most 23"),
    ("warehouse=WH1&copies=0", 422, "Print 1 to 100 copies"),
])
def test_preview_explains_what_is_wrong(stocked, page_client, query, status, message):
    client = page_client("supervisor")
    r = get(client, f"/labels/preview?kind=locations&{query}", htmx=True)
    assert r.status_code == status
    body = r.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="label-preview"')  # htmx swaps it in place of the old one
    assert 'class="error-box"' in body and message in body


def test_preview_stops_batches_over_the_limit(stocked, page_client, monkeypatch):
    monkeypatch.setattr(service, "MAX_LABELS", 4)
    client = page_client("supervisor")
    r = get(client, "/labels/preview?kind=locations&warehouse=WH1", htmx=True)
    assert r.status_code == 422 and "more than 4 labels" in r.get_data(as_text=True)
    r = get(client, "/labels/preview?kind=items&sku=BOLT&copies=5", htmx=True)
    assert r.status_code == 422
    assert get(client, "/labels/preview?kind=items&sku=BOLT&copies=4").status_code == 200


def test_preview_with_nothing_to_print_says_so(stocked, page_client):
    client = page_client("supervisor")
    r = get(client, "/labels/preview?kind=locations&warehouse=WH1&prefix=WH1-Z", htmx=True)
    assert r.status_code == 200 and 'data-label-count="0"' in r.get_data(as_text=True)
    assert get(client, "/labels/download?kind=locations&warehouse=WH1&prefix=WH1-Z").status_code == 422


def test_download_pdf_sheets_and_inline(stocked, page_client):
    client = page_client("supervisor")
    r = get(client, "/labels/download?kind=locations&warehouse=WH1&prefix=WH1-A&layout=a4-3x8&start=20")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    assert r.headers["Content-Disposition"].startswith("attachment")
    assert filename(r) == "labels-locations-WH1-A-a4-3x8.pdf"
    assert pdf_pages(r.data) == [(210.0, 297.0)] * 2  # 5 labels from position 20 of 24: two sheets
    inline = get(client, "/labels/download?kind=locations&warehouse=WH1&prefix=WH1-A&inline=1")
    assert inline.headers["Content-Disposition"].startswith("inline")
    # Chrome's PDF viewer is an <embed>: the site-wide object-src 'none' would block it.
    assert "object-src 'self'" in inline.headers["Content-Security-Policy"]
    assert inline.headers["X-Content-Type-Options"] == "nosniff"
    margins = get(client, "/labels/download?kind=locations&warehouse=WH1&size=60x40&margins=2")
    assert pdf_pages(margins.data) == [(60.0, 40.0)] * 6


def test_download_zpl(stocked, page_client):
    client = page_client("supervisor")
    r = get(client, "/labels/download?kind=locations&warehouse=WH1&prefix=WH1-A&format=zpl&layout=100x50&dpi=300")
    assert r.status_code == 200 and r.content_type == "text/plain; charset=utf-8"
    assert r.headers["Content-Disposition"].startswith("attachment")
    assert filename(r) == "labels-locations-WH1-A-100x50.zpl"
    formats = zpl_formats(r.get_data(as_text=True))
    assert len(formats) == 5 and all("^PW1181\n" in f for f in formats)  # 100 mm at 300 dpi
    assert [re.search(r"LOC:([^\^]+)\^FS", f).group(1) for f in formats] == A_CODES


# --- one label from the location, item and item-lot pages ---------------------------------------


def test_print_links_on_location_and_item_pages(stocked, page_client):
    supervisor = page_client("supervisor")
    location = get(supervisor, f"/locations/{A_CODES[0]}").get_data(as_text=True)
    assert f'href="/labels/location/{A_CODES[0]}.pdf?layout=100x50" target="_blank"' in location
    item = get(supervisor, "/items/AMOX").get_data(as_text=True)
    assert 'href="/labels/item/AMOX.pdf?layout=50x30"' in item
    assert 'href="/labels/lot/AMOX/L1.pdf?layout=100x50"' in item and 'href="/labels/lot/AMOX/L0.pdf' in item
    worker = page_client("worker")
    assert "/labels/" not in get(worker, f"/locations/{A_CODES[0]}").get_data(as_text=True)
    assert "/labels/" not in get(worker, "/items/AMOX").get_data(as_text=True)


def test_single_label_routes(stocked, page_client):
    client = page_client("supervisor")
    r = get(client, f"/labels/location/{A_CODES[0]}.pdf")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    assert r.headers["Content-Disposition"].startswith("inline")  # opens in the browser, to print
    assert filename(r) == f"label-location-{A_CODES[0]}.pdf"
    assert pdf_pages(r.data) == [(100.0, 50.0)]
    assert pdf_pages(get(client, f"/labels/location/{A_CODES[0]}.pdf?layout=50x30").data) == [(50.0, 30.0)]
    download = get(client, f"/labels/location/{A_CODES[0]}.pdf?download=1")
    assert download.headers["Content-Disposition"].startswith("attachment")

    zpl = get(client, f"/labels/location/{A_CODES[0]}.zpl?arrow=down")
    assert zpl.mimetype == "text/plain" and zpl.headers["Content-Disposition"].startswith("attachment")
    assert filename(zpl) == f"label-location-{A_CODES[0]}.zpl"
    (fmt,) = zpl_formats(zpl.get_data(as_text=True))
    assert f"LOC:{A_CODES[0]}^FS" in fmt and "^GFA," in fmt  # the QR and the arrow

    item = get(client, "/labels/item/BOLT.pdf")
    assert pdf_pages(item.data) == [(50.0, 30.0)] and filename(item) == "label-item-BOLT.pdf"
    (fmt,) = zpl_formats(get(client, "/labels/item/BOLT.zpl").get_data(as_text=True))
    assert "^BE" in fmt and "^FD400638133393^FS" in fmt  # EAN-13 (the printer adds the check digit)
    assert len(zpl_formats(get(client, "/labels/item/NUT.zpl?copies=3").get_data(as_text=True))) == 3

    lot = get(client, "/labels/lot/AMOX/L1.pdf")
    assert lot.status_code == 200 and pdf_pages(lot.data) == [(100.0, 50.0)]
    assert filename(lot) == "label-lot-AMOX-L1.pdf"
    (fmt,) = zpl_formats(get(client, "/labels/lot/AMOX/L1.zpl").get_data(as_text=True))
    assert "^FD#101095011015300031727013110L1^FS" in fmt  # GS1 DataMatrix: FNC1, (01), (17), (10)

    assert get(client, "/labels/location/WH1-Z-99.pdf").status_code == 404
    assert get(client, "/labels/location/VIRTUAL-SUPPLIER.pdf").status_code == 404
    assert get(client, "/labels/item/NOPE.pdf").status_code == 404
    assert get(client, "/labels/lot/AMOX/NOPE.pdf").status_code == 404
    assert get(client, "/labels/lot/NOPE/L1.zpl").status_code == 404
    r = get(client, "/labels/item/BOLT.pdf?layout=huge")
    assert r.status_code == 422 and "There is no label layout huge" in r.get_data(as_text=True)
    assert get(client, "/labels/item/BOLT.zpl?dpi=600").status_code == 422
    assert get(page_client("worker"), "/labels/item/BOLT.pdf").status_code == 403


def test_lot_links_work_when_sku_and_lot_contain_slashes(make_location, make_item, receive, page_client):
    make_location("WH1-A-01")
    make_item("A/B", lot_tracked=True)
    receive("A/B", "WH1-A-01", 1, lot="2026/05")
    client = page_client("supervisor")
    html = get(client, "/items/A/B").get_data(as_text=True)
    href = re.search(r'href="(/labels/lot/[^"]+)"', html).group(1).replace("&amp;", "&")
    (fmt,) = zpl_formats(get(client, href.replace(".pdf", ".zpl")).get_data(as_text=True))
    assert "LOT:A/B:2026/05^FS" in fmt


# --- the API ------------------------------------------------------------------------------------


def test_api_location_labels_pdf_and_zpl(stocked, api_client):
    api = api_client("supervisor")
    r = api.get("/labels/locations.pdf?warehouse=WH1&prefix=WH1-A&layout=a4-2x7")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    assert r.headers["Content-Disposition"].startswith("attachment")
    assert filename(r) == "labels-locations-WH1-A-a4-2x7.pdf" and r.headers["X-Label-Count"] == "5"
    assert r.data.startswith(b"%PDF") and len(pdf_pages(r.data)) == 1
    zpl = api.get("/labels/locations.zpl?warehouse=WH1&from=WH1-A-03&dpi=203")
    assert zpl.mimetype == "text/plain" and filename(zpl) == "labels-locations-WH1-WH1-A-03-100x50.zpl"
    formats = zpl_formats(zpl.get_data(as_text=True))
    assert [re.search(r"LOC:([^\^]+)\^FS", f).group(1) for f in formats] == ["WH1-A-03-01", "WH1-B-01-01"]
    assert all("^PW799\n" in f for f in formats)  # 100 mm at 203 dpi


def test_api_item_lot_and_document_labels(stocked, api_client, app):
    api = api_client("admin")
    r = api.get("/labels/items.zpl?sku=CASE&sku=BOLT&layout=50x30")
    assert r.status_code == 200
    formats = zpl_formats(r.get_data(as_text=True))
    # CASE prints its unit UPC-A (as EAN-13), not the case's pack barcode listed first.
    assert ["^FD003600029145^FS" in formats[0], "^FD400638133393^FS" in formats[1]] == [True, True]
    by_category = zpl_formats(api.get("/labels/items.zpl?category=fasteners").get_data(as_text=True))
    assert len(by_category) == 2 and "ITEM:NUT" in by_category[1]
    assert len(zpl_formats(api.get("/labels/items.zpl").get_data(as_text=True))) == 4  # every active item
    assert api.get("/labels/items.pdf?sku=BOLT&sku=NOPE").json["error"]["code"] == "not_found"

    lots = api.get("/labels/lots.pdf?sku=AMOX&layout=100x50")
    assert lots.status_code == 200 and len(pdf_pages(lots.data)) == 2
    assert filename(lots) == "labels-lots-AMOX-100x50.pdf"
    assert len(zpl_formats(api.get("/labels/lots.zpl?lot=L1").get_data(as_text=True))) == 1
    assert api.get("/labels/lots.pdf?sku=AMOX&lot=L9").status_code == 404
    missing = api.get("/labels/lots.pdf")
    assert missing.status_code == 422 and missing.json["error"]["code"] == "missing_field"

    docs = api.get("/labels/documents.zpl?kind=PO&number=PO-1&number=PO-2")
    assert [("DOC:PO:PO-1^FS" in f, "DOC:PO:PO-2^FS" in f) for f in zpl_formats(docs.get_data(as_text=True))] == [
        (True, False), (False, True)]
    assert api.get("/labels/documents.pdf?kind=XX&number=1").status_code == 422


@pytest.mark.parametrize("query, status, code", [
    ("warehouse=WH1&layout=a5", 422, "invalid_layout"),
    ("warehouse=NOPE", 404, "not_found"),
    ("warehouse=", 404, "not_found"),
    ("warehouse=WH1&size=1x1", 422, "invalid_size"),
    ("warehouse=WH1&margins=a,b", 422, "invalid_margins"),
    ("warehouse=WH1&arrow=left", 422, "invalid_arrow"),
])
def test_api_errors_are_json(stocked, api_client, query, status, code):
    r = api_client("supervisor").get(f"/labels/locations.pdf?{query}")
    assert r.status_code == status and r.json["error"]["code"] == code, r.json
    assert r.json["error"]["message"]


def test_api_roles_limits_and_openapi(stocked, api_client, app, monkeypatch):
    worker = api_client("worker").get("/labels/locations.pdf?warehouse=WH1")
    assert worker.status_code == 403 and worker.mimetype == "application/json"
    assert app.test_client().get("/api/v1/labels/items.zpl").status_code == 401
    bad_dpi = api_client("supervisor").get("/labels/items.zpl?dpi=600")
    assert bad_dpi.status_code == 422 and bad_dpi.json["error"]["code"] == "invalid_dpi"
    monkeypatch.setattr(service, "MAX_LABELS", 4)
    too_many = api_client("supervisor").get("/labels/locations.zpl?warehouse=WH1")
    assert too_many.status_code == 422 and too_many.json["error"]["code"] == "too_many_labels"
    assert "4" in too_many.json["error"]["message"]
    spec = app.test_client().get("/api/v1/openapi.json").json
    for path in ("/labels/locations.pdf", "/labels/items.zpl", "/labels/lots.pdf", "/labels/documents.zpl"):
        assert set(spec["paths"][path]["get"]["responses"]) >= {"200", "403", "404", "422"}
    params = {p["name"] for p in spec["paths"]["/labels/locations.zpl"]["get"]["parameters"]}
    assert {"warehouse", "prefix", "from", "to", "layout", "size", "dpi"} <= params


def test_api_pdf_scans_back_to_its_locations(stocked, api_client, app):
    """A label printed from the API (300 dpi) scans, through decode and interpret, to its location."""
    r = api_client("supervisor").get("/labels/locations.pdf?warehouse=WH1&prefix=WH1-A-02&layout=100x50")
    assert r.status_code == 200
    scanned = []
    for page in pdfium.PdfDocument(r.data):
        buf = io.BytesIO()
        page.render(scale=300 / 72).to_pil().convert("L").save(buf, format="PNG")
        (code,) = decode(buf.getvalue())
        scan = parse_scan(code.text)
        assert scan.kind == "location"
        scanned.append(scan.location)
    assert scanned == ["WH1-A-02-01", "WH1-A-02-02"]
    with app.app_context():
        from scanapp.inventory.queries import location_by_code_ci

        assert [location_by_code_ci(code).code for code in scanned] == scanned


# --- flask print-labels -------------------------------------------------------------------------


def test_cli_prints_location_item_and_lot_labels(stocked, runner, tmp_path):
    out = tmp_path / "labels.pdf"
    result = runner.invoke(args=["print-labels", "locations", "--warehouse", "WH1", "--prefix", "WH1-A",
                                 "--layout", "a4-3x8", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 5 labels (1 pages)" in result.output
    assert out.read_bytes().startswith(b"%PDF") and len(pdf_pages(out.read_bytes())) == 1

    zpl = tmp_path / "items.zpl"
    result = runner.invoke(args=["print-labels", "items", "--sku", "NUT", "--sku", "BOLT", "--format", "zpl",
                                 "--dpi", "300", "--copies", "2", "-o", str(zpl)])
    assert result.exit_code == 0, result.output
    formats = zpl_formats(zpl.read_text())
    assert len(formats) == 4 and all("^PW591\n" in f for f in formats)  # 50 mm at 300 dpi

    result = runner.invoke(args=["print-labels", "lots", "--sku", "AMOX", "--lot", "L1", "-o", "-"])
    assert result.exit_code == 0 and result.stdout_bytes.startswith(b"%PDF")


def test_cli_errors(stocked, runner, tmp_path):
    out = tmp_path / "x.pdf"
    result = runner.invoke(args=["print-labels", "locations", "--warehouse", "NOPE", "-o", str(out)])
    assert result.exit_code == 1 and "No warehouse NOPE" in result.output and not out.exists()
    result = runner.invoke(args=["print-labels", "locations", "-o", str(out)])
    assert result.exit_code == 2 and "--warehouse" in result.output
    result = runner.invoke(args=["print-labels", "items", "--format", "zpl", "--layout", "a4-3x8", "-o", str(out)])
    assert result.exit_code == 1 and "ZPL is for label printers" in result.output
