"""Photo bytes → barcodes (scanapp.scanning.decode). Pure: no app, no database, no fixtures.

Real photos come from the shared test set (``shared/barcodes/dev`` next to the repository); the
comparison rules are the set's own, in ``bench/manifest.py``. Synthetic images are made with zxing-cpp's
writer, which is how GS1 and multi-code photos get exact, known content.
"""

from __future__ import annotations

import struct
import zlib
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest
import zxingcpp

from bench.manifest import load, matches
from scanapp.errors import ScanAppError
from scanapp.scanning.decode import (
    MAX_BYTES,
    Code,
    CorruptImage,
    ImageInfo,
    ImageTooLarge,
    UnsupportedImage,
    check_image,
    decode,
)

DEV = Path(__file__).resolve().parents[1].parent / "shared" / "barcodes" / "dev"
needs_dev = pytest.mark.skipif(not (DEV / "manifest.csv").exists(), reason=f"photo test set not at {DEV}")
GS = "\x1d"


def _samples() -> dict:
    return {s.name: s for s in load(DEV)} if (DEV / "manifest.csv").exists() else {}


SAMPLES = _samples()


def _png(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img)[1].tobytes()


def _jpeg(img: np.ndarray, quality: int = 90) -> bytes:
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def _symbol(content: str, fmt, scale: int = 4, border: int = 0, **options) -> np.ndarray:
    """A clean grey rendering of one symbol, quiet zone included, on ``border`` more pixels of white."""
    image = zxingcpp.write_barcode_to_image(zxingcpp.create_barcode(content, fmt, **options), scale=scale)
    image = np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
    return cv2.copyMakeBorder(image, border, border, border, border, cv2.BORDER_CONSTANT, value=255)


def _inside(code: Code, x0: int, y0: int, x1: int, y1: int, slack: int = 4) -> bool:
    return all(x0 - slack <= x <= x1 + slack and y0 - slack <= y <= y1 + slack for x, y in code.position)


def _phone_frame() -> np.ndarray:
    """A 4032 x 3024 grey, noisy frame: the background of a 12 MP phone photo (a fresh copy)."""
    return _noisy_frame().copy()


@cache
def _noisy_frame() -> np.ndarray:
    rng = np.random.default_rng(7)
    frame = cv2.resize(rng.normal(128, 15, (6, 8)).clip(60, 200).astype(np.uint8), (4032, 3024))
    noise = rng.normal(0, 6, frame.shape).astype(np.int16)
    return cv2.add(frame, noise, dtype=cv2.CV_8U)


# --------------------------------------------------------------------------------------------------
# Real photos

# Two or so per format, from different upstream sets; some need the fallbacks (CLAHE + upscale, zbar).
REPRESENTATIVE = [
    "zxing-cpp__code128-2__n444.webp",
    "zxing__code128-2__28.png",
    "zxing__code39-1__3.png",
    "zxing-cpp__datamatrix-3__dm-1.jpg",
    "zxing__datamatrix-2__18.png",
    "zxing__ean13-1__1.png",
    "zxing__ean13-2__02.png",
    "zxing__ean8-1__7.png",
    "zxing__itf-1__1.png",
    "zxing-cpp__itf-1__1-slanted.png",
    "zxing__pdf417-2__01.png",
    "zxing__pdf417-3__12.png",
    "zxing__qrcode-1__1.png",
    "zxing-cpp__qrcode-2__n709.webp",
    "zxing__upca-1__18.png",
    "zxing__upca-5__19.png",
    "zxing__upce-2__01.png",
]


@needs_dev
@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_dev_photo_decodes_to_its_manifest_text(name):
    sample = SAMPLES[name]
    data = sample.path.read_bytes()
    codes = decode(data)
    assert any(matches(sample.format, sample.expected, c.format, c.text) for c in codes), (name, codes)
    info = check_image(data)
    for code in codes:
        assert len(code.position) == 4
        assert _inside(code, 0, 0, info.width, info.height), code


@needs_dev
def test_retail_codes_come_back_in_their_printed_form():
    upca = decode(SAMPLES["zxing__upca-1__18.png"].path.read_bytes())
    upce = decode(SAMPLES["zxing__upce-2__01.png"].path.read_bytes())
    ean13 = decode(SAMPLES["zxing__ean13-1__1.png"].path.read_bytes())
    assert [(c.format, c.text) for c in upca] == [("UPCA", "024543136538")]
    assert [(c.format, c.text) for c in upce] == [("UPCE", "05096893")]
    assert [c.format for c in ean13] == ["EAN13"] and len(ean13[0].text) == 13


@needs_dev
def test_gs1_datamatrix_photo_keeps_symbology_identifier_and_group_separators():
    sample = SAMPLES["zxing-cpp__datamatrix-5__issue794-3-2.webp"]
    (code,) = decode(sample.path.read_bytes())
    assert code.format == "DATAMATRIX"
    assert code.text == "]d2" + sample.expected
    assert GS in code.text and "(01)" not in code.text


@needs_dev
def test_dev_set_decode_rate_and_false_reads():
    """The issue's targets on the whole dev half: at least 90 % read, no more false reads than the 4
    of a plain zxing-cpp call (one of ours is a real second label the manifest does not list)."""
    read = false = 0
    samples = list(SAMPLES.values())
    for sample in samples:
        codes = decode(sample.path.read_bytes())
        hits = [matches(sample.format, sample.expected, c.format, c.text) for c in codes]
        read += any(hits)
        false += not all(hits)
    assert read / len(samples) >= 0.90, read
    assert false <= 4


@needs_dev
@pytest.mark.parametrize(
    ("name", "scale"),
    [
        ("zxing__ean13-1__1.png", 1),  # a small code in a big frame: read from the full-size decode
        ("zxing__qrcode-1__1.png", 1),
        ("zxing__upca-1__18.png", 3),  # big, as people photograph a code: read at half size
    ],
)
def test_dev_photo_inside_a_12_mp_phone_jpeg_decodes_where_it_was_placed(name, scale):
    sample = SAMPLES[name]
    photo = cv2.imread(str(sample.path), cv2.IMREAD_GRAYSCALE)
    photo = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    frame = _phone_frame()
    h, w = photo.shape
    x, y = min(2100, 4000 - w), min(1300, 3000 - h)
    frame[y : y + h, x : x + w] = photo
    data = _jpeg(frame)
    assert check_image(data) == ImageInfo("jpeg", 4032, 3024)

    codes = decode(data)
    good = [c for c in codes if matches(sample.format, sample.expected, c.format, c.text)]
    assert good, codes
    assert _inside(good[0], x, y, x + w, y + h, slack=8), good[0]


# --------------------------------------------------------------------------------------------------
# Synthetic symbols: GS1, several codes, orientation


GS1_DATA = "(01)09501101530003(10)ABC123(17)260101"
GS1_RAW = "010950110153000310ABC123" + GS + "17260101"


@pytest.mark.parametrize(
    ("fmt", "name", "prefix"),
    [
        (zxingcpp.BarcodeFormat.Code128, "CODE128", "]C1"),
        (zxingcpp.BarcodeFormat.DataMatrix, "DATAMATRIX", "]d2"),
        (zxingcpp.BarcodeFormat.QRCode, "QRCODE", "]Q3"),
    ],
)
def test_gs1_symbols_give_raw_text_behind_their_symbology_identifier(fmt, name, prefix):
    img = _symbol(GS1_DATA, fmt, border=40, gs1=True)
    codes = decode(_png(img))
    assert [(c.format, c.text) for c in codes] == [(name, prefix + GS1_RAW)]


@pytest.mark.parametrize("engines", [("zxing",), ("zbar",)])
def test_each_engine_alone_reports_gs1_128_the_same_way(engines):
    img = _symbol(GS1_DATA, zxingcpp.BarcodeFormat.Code128, border=40, gs1=True)
    (code,) = decode(_png(img), engines=engines)
    assert code.text == "]C1" + GS1_RAW


def test_plain_symbols_have_no_prefix():
    img = _symbol("LOC:WH1-A-01-02", zxingcpp.BarcodeFormat.Code128, border=40)
    assert [(c.format, c.text) for c in decode(_png(img))] == [("CODE128", "LOC:WH1-A-01-02")]


def _sheet() -> tuple[np.ndarray, dict[tuple[str, str], tuple[int, int, int, int]]]:
    """Four different symbols on one sheet, and where each was put."""
    sheet = np.full((1000, 1400), 235, np.uint8)
    items = [  # (format, text, writer format, module size, top left)
        ("QRCODE", "ITEM:SKU-1001", zxingcpp.BarcodeFormat.QRCode, 6, (60, 60)),
        ("DATAMATRIX", "LOT:SKU-1002:L2405", zxingcpp.BarcodeFormat.DataMatrix, 8, (800, 80)),
        ("CODE128", "LOC:WH1-B-12-04", zxingcpp.BarcodeFormat.Code128, 3, (60, 560)),
        ("EAN13", "4006381333931", zxingcpp.BarcodeFormat.EAN13, 3, (800, 600)),
    ]
    placed = {}
    for fmt, text, writer_format, module, (x, y) in items:
        img = _symbol(text, writer_format, module)
        h, w = img.shape
        sheet[y : y + h, x : x + w] = img
        placed[(fmt, text)] = (x, y, x + w, y + h)
    # A photo, not a render: slight blur and noise.
    sheet = cv2.GaussianBlur(sheet, (3, 3), 0)
    noise = np.random.default_rng(3).normal(0, 4, sheet.shape).astype(np.int16)
    return cv2.add(sheet, noise, dtype=cv2.CV_8U), placed


def test_several_codes_in_one_photo_all_come_back_with_their_positions():
    sheet, placed = _sheet()
    codes = decode(_jpeg(sheet, 92))
    assert {(c.format, c.text) for c in codes} == set(placed)
    for code in codes:
        assert _inside(code, *placed[(code.format, code.text)]), code
    # Reading order: top to bottom, then left to right.
    tops = [min(y for _, y in c.position) for c in codes]
    assert tops == sorted(tops)


def test_several_codes_in_a_12_mp_frame_all_come_back():
    sheet, placed = _sheet()
    frame = _phone_frame()
    x, y = 1500, 900
    frame[y : y + sheet.shape[0], x : x + sheet.shape[1]] = sheet
    codes = decode(_jpeg(frame))
    assert {(c.format, c.text) for c in codes} == set(placed)
    for code in codes:
        x0, y0, x1, y1 = placed[(code.format, code.text)]
        assert _inside(code, x + x0, y + y0, x + x1, y + y1, slack=8), code


def test_a_gs1_logistics_label_gives_every_stacked_code_128():
    """Three GS1-128 symbols of different lengths one above the other, as on a pallet label: none may
    be taken for a misread of another."""
    symbols = {  # human-readable form -> raw text
        "(00)395011015300000011": "]C100395011015300000011",
        "(10)ABC123(15)261231": "]C110ABC123" + GS + "15261231",  # a variable-length AI ends with GS
        "(15)261231": "]C115261231",
    }
    images = [_symbol(hri, zxingcpp.BarcodeFormat.Code128, 3, gs1=True) for hri in symbols]
    sheet = np.full(
        (sum(i.shape[0] + 40 for i in images) + 40, max(i.shape[1] for i in images) + 80), 255, np.uint8
    )
    y = 40
    for image in images:
        sheet[y : y + image.shape[0], 40 : 40 + image.shape[1]] = image
        y += image.shape[0] + 40
    assert [c.text for c in decode(_jpeg(sheet))] == list(symbols.values())  # top to bottom


def test_the_same_label_twice_is_one_code():
    qr = _symbol("LOC:WH1-A-01-02", zxingcpp.BarcodeFormat.QRCode, 6)
    sheet = np.full((qr.shape[0] + 80, 2 * qr.shape[1] + 120), 255, np.uint8)
    sheet[40 : 40 + qr.shape[0], 40 : 40 + qr.shape[1]] = qr
    sheet[40 : 40 + qr.shape[0], 80 + qr.shape[1] : 80 + 2 * qr.shape[1]] = qr
    assert [(c.format, c.text) for c in decode(_png(sheet))] == [("QRCODE", "LOC:WH1-A-01-02")]


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    tiff = b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff += struct.pack(">I", 0)
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + 6 + len(tiff)) + b"Exif\x00\x00" + tiff
    return jpeg[:2] + app1 + jpeg[2:]


def test_positions_are_in_the_photo_as_displayed_after_exif_rotation():
    code128 = _symbol("LOC:WH1-A-01-02", zxingcpp.BarcodeFormat.Code128, 3)
    canvas = np.full((600, 800), 220, np.uint8)
    canvas[50 : 50 + code128.shape[0], 100 : 100 + code128.shape[1]] = code128
    # Orientation 6: the camera was turned; viewers rotate 90 degrees clockwise, so the 800 x 600
    # stored image shows as 600 x 800 and the code's stored (x, y) shows at (599 - y, x).
    (code,) = decode(_with_exif_orientation(_jpeg(canvas), 6))
    h, w = code128.shape
    assert _inside(code, 599 - (50 + h), 100, 599 - 50, 100 + w)


def test_a_photo_without_a_code_is_an_empty_list():
    assert decode(_jpeg(_phone_frame()[:900, :1200])) == []
    assert decode(_jpeg(_phone_frame())) == []


# --------------------------------------------------------------------------------------------------
# Headers and rejections


def test_check_image_reads_kind_and_size_from_the_header():
    img = np.full((123, 321), 200, np.uint8)
    assert check_image(_jpeg(img)) == ImageInfo("jpeg", 321, 123)
    assert check_image(_png(img)) == ImageInfo("png", 321, 123)
    assert check_image(cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, 80])[1].tobytes()) == ImageInfo(
        "webp", 321, 123
    )
    assert check_image(cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes()) == ImageInfo(
        "webp", 321, 123
    )  # quality above 100 is lossless WebP (VP8L)


def _png_declaring(width: int, height: int) -> bytes:
    """A well-formed, tiny PNG whose header declares width x height grey pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    # Every row is filter byte 0 plus zeros: compresses to almost nothing, expands to width*height.
    idat = zlib.compress(b"\x00" * 4096)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_from_the_header_before_any_decoding(monkeypatch):
    bomb = _png_declaring(100_000, 100_000)
    assert len(bomb) < 1000

    def no_decoding(*args, **kwargs):
        raise AssertionError("the image was handed to a decoder")

    monkeypatch.setattr(cv2, "imdecode", no_decoding)
    with pytest.raises(ImageTooLarge) as excinfo:
        decode(bomb)
    assert excinfo.value.status == 413 and excinfo.value.code == "image_too_large"


@pytest.mark.parametrize(
    "data",
    [
        _png_declaring(8000, 6000),  # 48 MP
        # A JPEG whose frame header (SOF0) declares 10000 x 5000 after an APP0 segment.
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + b"\xff\xc0\x00\x0b\x08"
        + struct.pack(">HH", 5000, 10000)
        + b"\x01\x01\x11\x00",
        # A lossless WebP declaring 16384 x 16384.
        b"RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x2f" + struct.pack("<I", 16383 | (16383 << 14)),
    ],
    ids=["png-48mp", "jpeg-50mp", "webp-268mp"],
)
def test_more_than_40_megapixels_in_the_header_is_too_large(data):
    with pytest.raises(ImageTooLarge):
        check_image(data)
    with pytest.raises(ImageTooLarge):
        decode(data)


def test_more_than_10_mib_of_bytes_is_too_large():
    data = _jpeg(np.full((100, 100), 128, np.uint8))
    with pytest.raises(ImageTooLarge) as excinfo:
        decode(data + b"\x00" * (MAX_BYTES + 1 - len(data)))
    assert excinfo.value.status == 413
    assert "10 MB" in excinfo.value.message


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GIF89a\x10\x00\x10\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,"
        b"\x00\x00\x00\x00\x10\x00\x10\x00\x00\x02\x02D\x01\x00;",
        cv2.imencode(".bmp", np.full((20, 20), 128, np.uint8))[1].tobytes(),
        cv2.imencode(".tiff", np.full((20, 20), 128, np.uint8))[1].tobytes(),
        b"4006381333931\n",
        b"%PDF-1.7\n",
    ],
    ids=["empty", "gif", "bmp", "tiff", "text", "pdf"],
)
def test_anything_but_jpeg_png_webp_is_unsupported(data):
    with pytest.raises(UnsupportedImage) as excinfo:
        decode(data)
    assert excinfo.value.status == 415 and excinfo.value.code == "unsupported_image"
    assert isinstance(excinfo.value, ScanAppError) and excinfo.value.message


def _noisy(shape=(400, 600)) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize(
    "data",
    [
        _jpeg(_noisy())[: len(_jpeg(_noisy())) // 2],  # upload cut off half way
        _jpeg(_noisy())[:60],  # cut off inside the header, before the frame size
        b"\xff\xd8\xff" + b"\x00" * 64,  # JPEG magic, then nonsense
        _png(_noisy())[: len(_png(_noisy())) // 2],
        _png(_noisy())[:20],  # cut off inside IHDR
        _png_declaring(0, 100),
        cv2.imencode(".webp", _noisy())[1].tobytes()[:100],
    ],
    ids=["jpeg-half", "jpeg-header", "jpeg-garbage", "png-half", "png-ihdr", "png-zero-width", "webp-cut"],
)
def test_damaged_images_are_corrupt(data):
    with pytest.raises(CorruptImage) as excinfo:
        decode(data)
    assert excinfo.value.status == 422 and excinfo.value.code == "corrupt_image"


def test_unknown_engine_is_a_programming_error():
    with pytest.raises(ValueError, match="engines"):
        decode(_png(np.full((10, 10), 255, np.uint8)), engines=("opencv",))
