"""Label rendering: every label printed (rasterised) and scanned gives back exactly its payload.

What a phone sees. A 12 MP phone camera is 4032 px across with a ~70° horizontal field of view, so at
1.5 m it sees 2 × 1.5 m × tan 35° ≈ 2.1 m across: ≈ 1.9 px per mm of label (≈ 1.45 px/mm at 2 m).
At arm's length for item labels (~35 cm) it is ≈ 8 px/mm. The phone's view is the vector PDF
rasterised straight at that resolution (pdfium's anti-aliasing averages each pixel's area, as a sensor
does) plus a slight Gaussian blur for the lens. Downscaling the 300 dpi raster instead would add
resampling aliasing of the 300 dpi grid, which no camera sees, and makes results jump with the ratio.
"""

from __future__ import annotations

import io
import re
from datetime import date
from functools import cache

import numpy as np
import pypdfium2 as pdfium
import pytest
import segno
import zxingcpp
from PIL import Image, ImageFilter

from scanapp.labels import (
    LAYOUTS,
    DocumentLabel,
    ItemLabel,
    LabelFontMissing,
    LocationLabel,
    LotLabel,
    render_pdf,
    render_zpl,
)
from scanapp.labels import render as render_module
from scanapp.labels.render import EAN13, GS1_128, GS1_DATAMATRIX, QR, matrix_modules, qr_code
from scanapp.scanning.interpret import parse_scan

try:
    from scanapp.scanning.decode import decode as decode_image
except ImportError:  # decode.py is being written alongside this; until then read with zxing-cpp
    decode_image = None

SAMPLES = [
    LocationLabel("WH1-A-01-02", "Main warehouse", "Zone A", "up"),
    LocationLabel("wh1-b-12-04", "上海仓库", "冷藏区", "down"),
    ItemLabel("SKU-1001", "不锈钢六角螺栓 M8×40（100个/盒）", "4006381333931"),
    ItemLabel("SKU-1003", "UPC-A item", "036000291452"),
    ItemLabel("SKU-1002", "Hex nut M8, zinc plated, DIN 934", None),
    LotLabel("SKU-1001", "阿莫西林胶囊 0.25g", "09501101530003", "ABC123", date(2026, 12, 31)),
    LotLabel("SKU-1002", "Hex nut M8", None, "L2405", date(2027, 5, 31)),
    DocumentLabel("PO", "PO-00012", "Purchase order — 上海五金有限公司"),
]
PRINT_DPI = 300
PX_PER_MM_AT_1_5_M = 1.9
PX_PER_MM_AT_2_M = 1.45
PX_PER_MM_AT_ARMS_LENGTH = 8.0
GS1_IDENTIFIERS = ("]C1", "]d2", "]Q3", "]e0", "]J1")


def _scan(image: Image.Image) -> set[str]:
    """Texts decoded from ``image``: GS1 as raw text behind its symbology identifier, the rest plain."""
    if decode_image is not None:
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        texts = {code.text for code in decode_image(buf.getvalue())}
    else:
        texts = set()
        for r in zxingcpp.read_barcodes(np.asarray(image), text_mode=zxingcpp.TextMode.Plain):
            gs1 = r.content_type == zxingcpp.ContentType.GS1
            texts.add(r.symbology_identifier + r.text if gs1 else r.text)
    # Whether a decoder reports "]E0" in front of an EAN-13 or "]Q1" before a QR is its convention.
    return {t[3:] if re.match(r"\][A-Za-z]\d", t) and not t.startswith(GS1_IDENTIFIERS) else t for t in texts}


@cache
def _pdf(layout: str) -> bytes:
    return render_pdf(SAMPLES, layout)


@cache
def _pages(layout: str, px_per_mm: float) -> tuple[Image.Image, ...]:
    doc = pdfium.PdfDocument(_pdf(layout))
    return tuple(page.render(scale=px_per_mm * 25.4 / 72).to_pil().convert("L") for page in doc)


def _label_image(layout: str, index: int, px_per_mm: float, blur: float = 0.0) -> Image.Image:
    """Label ``index`` of SAMPLES as printed on ``layout``, at ``px_per_mm``, cut out of its page."""
    spec = LAYOUTS[layout]
    page = _pages(layout, px_per_mm)[index // spec.per_page]
    x, y = spec.cells()[index % spec.per_page]
    box = (x, y, x + spec.label_w, y + spec.label_h)
    image = page.crop(tuple(round(v * px_per_mm) for v in box))
    return image.filter(ImageFilter.GaussianBlur(blur)) if blur else image


def _expected(label) -> tuple[set[str], set[str]]:
    """What a scan of the label's main symbol may read, and all the label may give (a wide GS1 label
    adds GS1-128). An EAN-13 starting with 0 is also a UPC-A, and decoders may report it as one."""
    symbols = label.symbols
    main = {symbols[0].scan_text}
    if symbols[0].symbology == EAN13 and symbols[0].data.startswith("0"):
        main.add(symbols[0].data[1:])
    return main, main | {s.scan_text for s in symbols}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_label_scans_back_exactly_at_print_resolution(layout):
    px_per_mm = PRINT_DPI / 25.4
    for i, label in enumerate(SAMPLES):
        main, allowed = _expected(label)
        texts = _scan(_label_image(layout, i, px_per_mm))
        assert texts & main and texts <= allowed, (layout, label, texts)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_location_lot_and_document_labels_scan_from_a_phone_at_1_5_m(layout):
    """Every 2-D label (QR, GS1 DataMatrix) reads at 1.5 m. Item labels carry 1-D EAN-13/Code 128,
    whose 0.25–1 mm modules are under one pixel at 1.9 px/mm: no decoder can read them from there,
    so they are held to arm's length below (as a worker scans a box)."""
    for i, label in enumerate(SAMPLES):
        if not isinstance(label, ItemLabel):
            main, allowed = _expected(label)
            texts = _scan(_label_image(layout, i, PX_PER_MM_AT_1_5_M, blur=0.6))
            assert texts & main and texts <= allowed, (layout, label, texts)


@pytest.mark.parametrize("layout", ["a4-2x7", "letter-2x5", "100x50"])
def test_location_labels_on_larger_stock_scan_from_2_m(layout):
    for i, label in enumerate(SAMPLES):
        if isinstance(label, LocationLabel):
            image = _label_image(layout, i, PX_PER_MM_AT_2_M, blur=0.6)
            assert _scan(image) == {label.symbols[0].scan_text}, (layout, label.code)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_item_lot_and_document_labels_scan_at_arms_length(layout):
    for i, label in enumerate(SAMPLES):
        if not isinstance(label, LocationLabel):
            main, allowed = _expected(label)
            texts = _scan(_label_image(layout, i, PX_PER_MM_AT_ARMS_LENGTH, blur=0.6))
            assert texts & main and texts <= allowed, (layout, label, texts)


def test_wide_gs1_lot_labels_carry_gs1_128_too_and_narrow_ones_only_datamatrix():
    lot = SAMPLES.index(next(s for s in SAMPLES if isinstance(s, LotLabel) and s.gtin))
    wide = _scan(_label_image("100x50", lot, PRINT_DPI / 25.4))
    narrow = _scan(_label_image("50x30", lot, PRINT_DPI / 25.4))
    data = "01095011015300031726123110ABC123"
    assert wide == {"]d2" + data, "]C1" + data}
    assert narrow == {"]d2" + data}


def test_scanned_labels_mean_what_was_printed():
    """The decoded text of each label, through interpret.parse_scan, names the same thing."""
    scanned = [_scan(_label_image("100x50", i, PRINT_DPI / 25.4)) for i in range(len(SAMPLES))]
    loc, loc_lower, ean, upca, code128, gs1_lot, lot, doc = (
        parse_scan(sorted(texts)[0]) for texts in scanned
    )
    assert (loc.kind, loc.location) == ("location", "WH1-A-01-02")
    assert loc_lower.location == "wh1-b-12-04"
    assert ean.gtin == "04006381333931"
    assert upca.gtin == "00036000291452"
    assert (code128.kind, code128.sku) == ("item", "SKU-1002")
    assert (gs1_lot.gtin, gs1_lot.lot, gs1_lot.expiry) == ("09501101530003", "ABC123", date(2026, 12, 31))
    assert (lot.kind, lot.sku, lot.lot) == ("lot", "SKU-1002", "L2405")
    assert (doc.kind, doc.document_kind, doc.document) == ("document", "PO", "PO-00012")


def test_symbol_choice_follows_the_gtin():
    assert ItemLabel("A", "", "4006381333931").symbols[0].data == "4006381333931"
    assert ItemLabel("A", "", "036000291452").symbols[0].data == "0036000291452"  # UPC-A as EAN-13
    assert ItemLabel("A", "", "04006381333931").symbols[0].data == "4006381333931"
    for gtin in ("96385074", "14006381333938", None):  # GTIN-8, GTIN-14 with an indicator, none
        assert ItemLabel("SKU:1", "", gtin).symbols[0].data == "ITEM:SKU%3A1"
    assert ItemLabel("螺丝-1", "", None).symbols[0].symbology == QR  # Code 128 can't carry it
    with pytest.raises(ValueError, match="check digit"):
        ItemLabel("A", "", "4006381333932")


def test_gs1_data_puts_the_lot_last_and_lots_gs1_cannot_carry_fall_back():
    with_expiry = LotLabel("S", "", "4006381333931", "L1", date(2027, 1, 31)).symbols
    assert [s.symbology for s in with_expiry] == [GS1_DATAMATRIX, GS1_128]
    assert with_expiry[0].data == "01040063813339311727013110L1"
    assert with_expiry[0].hri == "(01)04006381333931(17)270131(10)L1"
    assert LotLabel("S", "", "4006381333931", "L1").symbols[0].data == "010400638133393110L1"
    for lot in ("批次-1", "L#1", "x" * 21):  # outside GS1 set 82, or longer than AI (10) allows
        symbol = LotLabel("S-1", "", "4006381333931", lot).symbols[0]
        assert (symbol.symbology, parse_scan(symbol.data).lot) == (QR, lot)


def test_gs1_datamatrix_starts_with_fnc1():
    symbol = LotLabel("S", "", "09501101530003", "A(B)_1", date(2026, 12, 31)).symbols[0]
    dark = np.array([list(row) for row in matrix_modules(symbol)], dtype=np.uint8)
    image = (np.kron(1 - dark, np.ones((8, 8), dtype=np.uint8)) * 255).astype(np.uint8)
    found = zxingcpp.read_barcodes(np.pad(image, 16, constant_values=255))
    assert [(r.symbology_identifier, r.content_type) for r in found] == [("]d2", zxingcpp.ContentType.GS1)]
    assert found[0].text == "(01)09501101530003(17)261231(10)A(B)_1"


def test_chinese_text_is_embedded_and_drawn():
    def ink(name: str) -> np.ndarray:
        pdf = render_pdf([ItemLabel("SKU-1", name, "4006381333931")], "100x50")
        image = pdfium.PdfDocument(pdf)[0].render(scale=PRINT_DPI / 72).to_pil().convert("L")
        return np.asarray(image)[: image.height // 4] < 128  # the name's band above the barcode

    pdf = render_pdf([ItemLabel("SKU-1", "阿莫西林胶囊", None)], "50x30")
    assert b"/FontFile2" in pdf
    assert re.search(rb"/FontName /[A-Z]{6}\+WenQuanYi", pdf)
    first, second = ink("阿莫西林胶囊"), ink("不锈钢螺栓")
    assert first.mean() > 0.01 and second.mean() > 0.01
    # Missing glyphs would all draw the same box: different characters must look different.
    assert (first != second).mean() > 0.005


def test_missing_cjk_font_says_what_to_install(monkeypatch):
    monkeypatch.setattr(render_module, "CJK_FONT_PATHS", ("/nonexistent/wqy.ttc",))
    render_module._cjk_font.cache_clear()
    try:
        with pytest.raises(LabelFontMissing, match="fonts-wqy-microhei"):
            render_pdf([ItemLabel("SKU-1", "螺丝", None)], "50x30")
        render_pdf([ItemLabel("SKU-1", "Screw", None)], "50x30")  # Latin text needs no font file
    finally:
        render_module._cjk_font.cache_clear()


def test_sheets_fill_in_order_from_the_start_position():
    labels = [LocationLabel(f"A-{i:03d}") for i in range(30)]
    assert len(pdfium.PdfDocument(render_pdf(labels, "a4-3x8"))) == 2
    assert len(pdfium.PdfDocument(render_pdf(labels[:5], "a4-3x8", start_position=20))) == 2
    assert len(pdfium.PdfDocument(render_pdf(labels[:4], "a4-3x8", start_position=20))) == 1
    assert len(pdfium.PdfDocument(render_pdf(labels[:3], "100x50"))) == 3
    assert render_pdf(labels, "a4-2x7") == render_pdf(labels, "a4-2x7")  # deterministic
    with pytest.raises(ValueError):
        render_pdf(labels, "a4-3x8", start_position=24)
    with pytest.raises(ValueError, match="unknown label layout"):
        render_pdf(labels, "a5-1x1")
    with pytest.raises(ValueError, match="no labels"):
        render_pdf([], "a4-3x8")


def test_start_position_leaves_the_used_labels_blank():
    pdf = render_pdf([LocationLabel("A-1")], "a4-3x8", start_position=4)
    page = pdfium.PdfDocument(pdf)[0].render(scale=4 * 25.4 / 72).to_pil().convert("L")
    spec = LAYOUTS["a4-3x8"]
    dark = []
    for x, y in spec.cells()[:6]:
        box = (x, y, x + spec.label_w, y + spec.label_h)
        cell = np.asarray(page.crop(tuple(round(v * 4) for v in box)))
        dark.append(bool((cell < 128).any()))
    assert dark == [False, False, False, False, True, False]


def test_margins_resize_the_grid_and_keep_labels_readable():
    layout = LAYOUTS["a4-3x8"].with_margins((10, 5))
    assert layout.label_w == pytest.approx((210 - 10) / 3)
    assert layout.label_h == pytest.approx((297 - 20) / 8)
    pdf = render_pdf([LocationLabel("B-07")], "a4-3x8", margins_mm=(10, 5))
    image = pdfium.PdfDocument(pdf)[0].render(scale=PRINT_DPI / 72).to_pil().convert("L")
    assert _scan(image) == {"LOC:B-07"}
    with pytest.raises(ValueError):
        LAYOUTS["a4-3x8"].with_margins(120)


# --- ZPL ------------------------------------------------------------------------------------------

FIELD = re.compile(r"\^FO(\d+),(\d+)(.*?)(?:\^FD(.*))?", re.S)
_SUBSET_B = {"0": ">", "<": "^", "=": "~"}


def _unhex(data: str) -> str:
    """Undo ^FH: ``_XX`` are bytes of the UTF-8 text."""
    raw = data.encode()
    return re.sub(rb"_([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), raw).decode()


def _code128_text(data: str) -> str:
    """Undo ^BC invocation codes; FNC1 first becomes the GS1-128 symbology identifier."""
    out, i = [], 0
    gs1 = data.startswith(">;>8")
    if gs1:
        i = 4
    elif data[:2] in (">:", ">9"):
        i = 2
    while i < len(data):
        if data[i] == ">":
            code = data[i + 1]
            if code in _SUBSET_B:
                out.append(_SUBSET_B[code])
            else:
                assert code in "56", data  # only subset switches may appear inside
            i += 2
        else:
            out.append(data[i])
            i += 1
    return ("]C1" if gs1 else "") + "".join(out)


def _ean13(digits12: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits12))
    return digits12 + str(-total % 10)


def _fields(fmt: str):
    """(x, y, commands, field data or None) of every ^FO … ^FS field."""
    for chunk in fmt.split("^FS")[:-1]:
        m = FIELD.fullmatch(chunk[chunk.index("^FO"):])
        yield int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)


@pytest.mark.parametrize("size", ["50x30", "100x50"])
@pytest.mark.parametrize("dpi", [203, 300])
def test_zpl_formats_carry_the_payloads_and_fit_the_label(size, dpi):
    zpl = render_zpl(SAMPLES, size, dpi)
    formats = re.findall(r"\^XA.*?\^XZ", zpl, re.S)
    assert len(formats) == len(SAMPLES)
    assert zpl.strip() == "\n".join(formats)  # nothing outside ^XA … ^XZ
    w_mm, h_mm = (float(v) for v in size.split("x"))
    width, height = round(w_mm * dpi / 25.4), round(h_mm * dpi / 25.4)
    for fmt, label in zip(formats, SAMPLES, strict=True):
        assert f"^PW{width}\n" in fmt and f"^LL{height}\n" in fmt and "^CI28" in fmt
        symbols = {}
        for x, y, command, data in _fields(fmt):
            assert 0 <= x < width and 0 <= y < height, (fmt, x, y)
            if data is None:  # the arrow, a ^GF bitmap
                total, _, row_bytes = (int(v) for v in command.removeprefix("^GFA,").split(",")[:3])
                assert x + row_bytes * 8 <= width + 7 and y + total // row_bytes <= height
            elif "^BQ" in command:
                mag = int(re.search(r"\^BQN,2,(\d+)", command).group(1))
                assert data[1:3] == "A,"
                text = _unhex(data[3:])
                n = len(segno.make(text, error=data[0], boost_error=False, micro=False).matrix)
                assert n == len(qr_code(text).matrix)  # the printer's ECC level gives the same version
                assert x + n * mag <= width and y + n * mag <= height
                symbols[QR] = text
            elif "^BX" in command:
                assert re.search(r"\^BXN,(\d+),200,,,,#,1", command) and data.startswith("#1")
                module = int(command.split(",")[1])
                text = "]d2" + _unhex(data[2:])
                symbols[GS1_DATAMATRIX] = text
                n = len(matrix_modules(label.symbols[0]))
                assert x + n * module <= width and y + n * module <= height
            elif "^BC" in command:
                bar = int(re.search(r"\^BY(\d+)", command).group(1))
                assert bar * 25.4 / dpi >= 0.12
                symbols["code128"] = _code128_text(data)
            elif "^BE" in command:
                symbols["ean13"] = _ean13(data)
            else:
                assert re.search(r"\^A(0N|@N,\d+,\d+,E:ANMDS\.TTF)", command)
        scanned = set(symbols.values())
        main, allowed = _expected(label)
        assert scanned & main and scanned <= allowed, (fmt, scanned)


def test_zpl_escapes_field_data():
    zpl = render_zpl([ItemLabel("S^1~2_3>4", "名^称~_", None), LocationLabel("A_1^2")], "100x50", 203)
    first, second = re.findall(r"\^XA.*?\^XZ", zpl, re.S)
    fields = list(_fields(first))
    texts = [_unhex(d) for _, _, c, d in fields if "^A" in c]
    assert "名^称~_" in texts and "S^1~2_3>4" in texts
    (code,) = [d for _, _, c, d in fields if "^BC" in c]
    assert _code128_text(code) == "ITEM:S^1~2_3>4"
    (qr,) = [d for _, _, c, d in _fields(second) if "^BQ" in c]
    assert _unhex(qr[3:]) == "LOC:A_1^2"
    for _, _, _, data in [*fields, *_fields(second)]:
        assert data is None or ("^" not in data and "~" not in data)


def test_zpl_sets_chinese_in_a_printer_font():
    zpl = render_zpl([LotLabel("SKU-1", "阿莫西林胶囊", "09501101530003", "ABC123")], "50x30", 300,
                     cjk_font="E:SIMSUN.TTF")
    cjk = [_unhex(d) for _, _, c, d in _fields(zpl) if "^A@N," in c]
    assert all(",E:SIMSUN.TTF^FH" in c for _, _, c, _ in _fields(zpl) if "^A@N," in c)
    assert "".join(cjk) == "阿莫西林胶囊"
    assert all(_unhex(d).isascii() for _, _, c, d in _fields(zpl) if "^A0N," in c)


def test_zpl_rejects_unknown_resolutions_and_sizes():
    with pytest.raises(ValueError):
        render_zpl(SAMPLES, "50x30", 600)
    with pytest.raises(ValueError):
        render_zpl(SAMPLES, "fifty", 203)
