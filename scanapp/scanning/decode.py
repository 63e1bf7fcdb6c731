"""Barcodes from photo bytes: the server-side decoder behind photo uploads. Pure: no Flask, no database.

``decode(data)`` takes the bytes of a JPEG, PNG or WebP photo and returns every warehouse barcode it can
read, as :class:`Code` values with the raw text and four corners in the photo's pixel coordinates.
``check_image(data)`` reads only the header and refuses what must not be decoded at all.

How an image is read, cheapest first, stopping at the first pass that reads something:

1. zxing-cpp, restricted to the warehouse formats (fewer false positives, less work), on the grey image;
2. zxing-cpp on a contrast-equalised (CLAHE) copy, upscaled 2x when small, with the global-histogram
   binariser and then the local-average one. Most misses on phone photos are low contrast or bars one
   or two pixels wide; these passes address both;
3. zbar (pyzbar) on the grey image and on the CLAHE copy. Its scan-line decoder reads some blurred 1D
   codes zxing-cpp gives up on. It is not asked for Data Matrix (it has none) or PDF417 (unfinished).

Camera frames (over 1 MP; a phone sends about 12) are not read whole. A JPEG is decoded at half size by
libjpeg's DCT scaling, regions dense in edges are located on that, and the passes run on crops of those
regions. Small regions, and big ones that read nothing trustworthy, are read again from a full-size
decode, made only then, so a small code in a big frame stays readable.

Text is returned raw: GS1 symbols keep their symbology identifier (``]C1`` GS1-128, ``]d2`` GS1 Data
Matrix, ``]Q3`` GS1 QR) and FNC1 separators as ASCII GS (0x1d); interpreting it is ``interpret``'s job.

Thread-safe: no state is shared between calls. Each call runs on the calling thread only, provided the
process has set ``cv2.setNumThreads`` to 1 (or accepts OpenCV's pool for the resizes).
"""

from __future__ import annotations

import ctypes
import math
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
import zxingcpp
from pyzbar import wrapper as _zb

from scanapp.errors import ScanAppError

__all__ = [
    "ENGINES",
    "FORMATS",
    "MAX_BYTES",
    "MAX_PIXELS",
    "Code",
    "CorruptImage",
    "ImageInfo",
    "ImageTooLarge",
    "UnsupportedImage",
    "check_image",
    "decode",
]

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
FORMATS = ("EAN13", "EAN8", "UPCA", "UPCE", "CODE128", "CODE39", "ITF", "QRCODE", "DATAMATRIX", "PDF417")
ENGINES = ("zxing", "zbar")


# --------------------------------------------------------------------------------------------------
# Public values and errors


@dataclass(frozen=True)
class Code:
    """One barcode read from a photo.

    ``format`` is one of :data:`FORMATS`. ``text`` is the raw content: GS1 symbols start with their
    symbology identifier (``]C1``, ``]d2``, ``]Q3``) and keep FNC1 separators as ``"\\x1d"``; other
    symbols carry no prefix. EAN/UPC text is digits with the check digit: EAN13 13 digits, UPCA 12,
    UPCE 8 (number system, six digits, check digit), EAN8 8. An EAN-13 starting with 0 is reported
    as the UPCA it is, whichever engine read it.

    ``position`` is four (x, y) corners, clockwise, in pixels of the photo as displayed (after its
    EXIF orientation) at full resolution. zxing-cpp's corners start at the symbol's own top left, so
    they show how it is rotated; zbar's start at the top-left-most corner.
    """

    format: str
    text: str
    position: list[tuple[int, int]]


class ImageInfo(NamedTuple):
    """What the header says: ``kind`` is ``"jpeg"``, ``"png"`` or ``"webp"``; stored size in pixels."""

    kind: str
    width: int
    height: int


class ImageTooLarge(ScanAppError):
    """The upload is over :data:`MAX_BYTES`, or its header declares more than :data:`MAX_PIXELS`."""

    code = "image_too_large"
    status = 413


class UnsupportedImage(ScanAppError):
    """The bytes are empty or not a JPEG, PNG or WebP image (judged by their magic bytes)."""

    code = "unsupported_image"
    status = 415


class CorruptImage(ScanAppError):
    """The bytes start like a supported image, but its header or its data cannot be read."""

    code = "corrupt_image"
    status = 422


# --------------------------------------------------------------------------------------------------
# The header


def check_image(data: bytes) -> ImageInfo:
    """Return the kind and pixel size of an uploaded image, reading only its header.

    Invariants:

    - Nothing is decompressed, so a decompression bomb (a few hundred bytes declaring 100000 x 100000
      pixels) is refused here, in microseconds, before any decoder allocates memory for it.
    - ``len(data) > MAX_BYTES`` or ``width * height > MAX_PIXELS`` raise :class:`ImageTooLarge`;
      the byte limit is checked before anything else is looked at.
    - Anything that is not JPEG, PNG or WebP by its magic bytes (GIF, BMP, TIFF, HEIC, PDF, text, no
      bytes at all) raises :class:`UnsupportedImage`.
    - A JPEG, PNG or WebP whose header is cut short, damaged or declares no pixels raises
      :class:`CorruptImage`. A good header does not prove the rest is intact; :func:`decode` raises
      :class:`CorruptImage` for that.

    The size is the stored one, before any EXIF rotation (which may swap width and height but does
    not change the pixel count the limit is about).
    """
    if len(data) > MAX_BYTES:
        raise ImageTooLarge(f"The image is larger than {MAX_BYTES // (1024 * 1024)} MB.")
    if data[:3] == b"\xff\xd8\xff":
        kind, (width, height) = "jpeg", _jpeg_size(data)
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        kind, (width, height) = "png", _png_size(data)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind, (width, height) = "webp", _webp_size(data)
    elif not data:
        raise UnsupportedImage("The upload is empty; send a JPEG, PNG or WebP photo.")
    else:
        raise UnsupportedImage("This is not a JPEG, PNG or WebP image.")
    if width <= 0 or height <= 0:
        raise CorruptImage("The image header declares an image without pixels.")
    if width * height > MAX_PIXELS:
        limit = MAX_PIXELS // 1_000_000
        raise ImageTooLarge(
            f"The image is {width} x {height} pixels; at most {limit} megapixels are accepted."
        )
    return ImageInfo(kind, width, height)


# Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) sit in the range but do not.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_NO_LENGTH = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RSTn stand alone


def _jpeg_size(data: bytes) -> tuple[int, int]:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise CorruptImage("The JPEG header is damaged.")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
        elif marker in _JPEG_NO_LENGTH:
            pos += 2
        elif marker in (0xD9, 0xDA):  # end of image, or image data, before any frame header
            break
        elif marker in _JPEG_SOF:
            if pos + 9 > len(data):
                break
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return width, height
        else:
            (length,) = struct.unpack_from(">H", data, pos + 2)
            pos += 2 + length
    raise CorruptImage("The JPEG has no readable frame header.")


def _png_size(data: bytes) -> tuple[int, int]:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise CorruptImage("The PNG header is damaged.")
    width, height = struct.unpack_from(">II", data, 16)
    return width, height


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":  # lossy
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:  # lossless
        (bits,) = struct.unpack_from("<I", data, 21)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:  # extended: alpha, animation, metadata
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    raise CorruptImage("The WebP header is damaged.")


# --------------------------------------------------------------------------------------------------
# Decoding


def decode(data: bytes, *, engines: Sequence[str] = ENGINES) -> list[Code]:
    """Read every warehouse barcode in a JPEG, PNG or WebP photo.

    ``engines`` chooses and orders the engines, a non-empty subset of :data:`ENGINES`. The default
    runs zxing-cpp's passes first and zbar's only when those read nothing; the benchmark passes one
    engine at a time to measure each alone.

    Invariants:

    - :func:`check_image` runs first and its errors are raised as they are; image data that does not
      decode raises :class:`CorruptImage`. No other exception escapes for any input bytes.
    - A photo without a readable code gives ``[]``; that is not an error.
    - Each (format, text) appears once, even when the photo shows the same label twice.
    - Codes come in reading order of their topmost corner: top to bottom, then left to right.
    - One physical EAN/UPC or ITF symbol never gives two texts: when two reads lie on one symbol, the
      read backed by more pixel rows wins and the other, a misread, is dropped; in a camera frame the
      winner is then checked at full size.
    - The work is bounded whatever the content: a fixed number of passes over at most a few regions.
    """
    engines = tuple(engines)
    if not engines or not set(engines) <= set(ENGINES):
        raise ValueError(f"engines must be a non-empty subset of {ENGINES}, got {engines!r}")
    info = check_image(data)
    buf = np.frombuffer(data, dtype=np.uint8)
    if info.width * info.height > _PHOTO_PIXELS:
        return _codes(*_decode_photo(buf, info, engines))
    return _codes(_cascade(_imdecode(buf, cv2.IMREAD_GRAYSCALE), engines), 1.0)


def _imdecode(buf: np.ndarray, flags: int) -> np.ndarray:
    # The default flags apply EXIF orientation, so positions are in the photo as people see it.
    try:
        img = cv2.imdecode(buf, flags)
    except cv2.error as exc:  # some malformed streams raise instead of returning None
        raise CorruptImage("The image data is damaged and cannot be decoded.") from exc
    if img is None or img.size == 0:
        raise CorruptImage("The image data is damaged and cannot be decoded.")
    return img


def _codes(hits: list[_Hit], scale: float) -> list[Code]:
    """The public values: duplicates and misreads resolved, corners scaled to full size, reading order."""
    codes = []
    for hit in _resolve(hits):
        corners = [(round(float(x) * scale), round(float(y) * scale)) for x, y in hit.points]
        codes.append(Code(hit.format, hit.text, corners))
    return sorted(codes, key=lambda c: (min(y for _, y in c.position), min(x for x, _ in c.position)))


# --------------------------------------------------------------------------------------------------
# Camera frames

# Above this many pixels an image is a camera frame: located regions are read, not the whole.
_PHOTO_PIXELS = 1_000_000
# A region at least this long (pixels of the half-size frame) is read at half size. A shorter one
# holds a code whose bars are about a pixel wide there, often misread, so it is read at full size.
_HALF_SIZE_MIN_REGION = 320
# A half-size 1D read backed by fewer pixel rows than this is not trusted (see _trusted_at_half_size).
_HALF_SIZE_MIN_SUPPORT = 4.0
# A region that read nothing at half size is read at full size only up to this many pixels: beyond
# that it is busy with something else than a small code, and the time grows with its area.
_FULL_SIZE_MAX_PIXELS = 2_000_000
# Edge-dense parts of a region that no read accounts for get one quick look each, up to this many.
_MAX_EXTRA_LOOKS = 4
_OVERVIEW_SIDE = 1024


def _decode_photo(buf: np.ndarray, info: ImageInfo, engines: Sequence[str]) -> tuple[list[_Hit], float]:
    """Hits in a camera frame, and the factor from their coordinates to full-size ones.

    Regions are located on the half-size frame. Big regions are read at half size; small ones, and big
    ones that read nothing trustworthy, from a full-size decode, made only then. When no region reads
    anything, a downscaled view of the whole frame is tried, for a big code the locator missed.
    """
    full = None
    if info.kind == "jpeg":
        # libjpeg scales in the DCT and skips much of a full decode; a 12 MP photo becomes 3 MP,
        # plenty for a code that fills a fair part of the frame, the way people photograph one.
        half = _imdecode(buf, cv2.IMREAD_REDUCED_GRAYSCALE_2)
    else:  # PNG and WebP have no reduced decode
        full = _imdecode(buf, cv2.IMREAD_GRAYSCALE)
        half = cv2.resize(full, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)

    hits: list[_Hit] = []
    at_full: list[tuple[Box, list[_Hit]]] = []  # a box to read at full size, and its doubtful reads
    extra_looks = _MAX_EXTRA_LOOKS
    for region in _locate(half):
        x0, y0, x1, y1 = region.box
        found: list[_Hit] = []
        if max(x1 - x0, y1 - y0) >= _HALF_SIZE_MIN_REGION:
            found = _decode_boxes(half, [region.box], engines)
            if found and all(_trusted_at_half_size(h) for h in found):
                hits += found
                # The passes stop at the first that reads something, so a second, harder code in
                # the same region (a small EAN beside a big QR) gets a quick look of its own.
                for part in region.parts:
                    if extra_looks and not any(_accounts_for(h, part) for h in found):
                        extra_looks -= 1
                        more = _decode_boxes(half, [part], engines, _EXTRA_LOOK_PASSES)
                        if all(_trusted_at_half_size(h) for h in more):
                            hits += more
                        else:
                            at_full.append((part, more))
                continue
        # A big region that read nothing is busy with something else than a small code, and the
        # time grows with its area; one with doubtful reads is worth a closer look at any size.
        if found or (x1 - x0) * (y1 - y0) * 4 <= _FULL_SIZE_MAX_PIXELS:
            at_full.append((region.box, found))

    # EXIF orientation may have swapped the decoded image's axes; compare long sides.
    factor = max(info.width, info.height) / max(half.shape[:2])
    if at_full:
        if full is None:
            full = _imdecode(buf, cv2.IMREAD_GRAYSCALE)
        factor = full.shape[1] / half.shape[1]
        for box, doubtful in at_full:
            scaled = tuple(round(v * factor) for v in box)
            for hit in _decode_boxes(full, [scaled], engines):
                hit.points = hit.points / factor  # into half-size units, like the others
                hit.support = hit.support / factor
                # Half size read this symbol as something else, and never as this: no text for it
                # can be trusted. (When one of the half-size reads agrees, the closer look settled it.)
                if any(_disagree(h, hit) for h in doubtful) and all(h.text != hit.text for h in doubtful):
                    continue
                hits.append(hit)
    if hits:
        return hits, factor

    shrink = min(1.0, _OVERVIEW_SIDE / max(half.shape[:2]))
    overview = cv2.resize(half, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
    found = _cascade(overview, engines, _OVERVIEW_PASSES)
    return [h for h in found if _trusted_at_half_size(h)], factor / shrink


def _disagree(a: _Hit, b: _Hit) -> bool:
    """Two reads of one symbol, or maybe so, with different texts."""
    if a.text == b.text or not (a.linear and b.linear):
        return False
    strong, weak = (a, b) if a.support >= b.support else (b, a)
    return _relation(strong, weak) is not None


def _trusted_at_half_size(hit: _Hit) -> bool:
    """Whether a read from a reduced image can stand without a full-size look.

    2D symbols carry error correction. A 1D read needs a band of several pixel rows, bars of at least
    1.5 pixels (below that, neighbouring bars blur into each other and a wrong digit that still fits
    the check digit becomes likely), and no other read of the same symbol with a different text.
    """
    if not hit.linear:
        return True
    return (
        not hit.contested
        and hit.support >= _HALF_SIZE_MIN_SUPPORT
        and _axes(hit.points)[2] / _modules(hit) >= 1.5
    )


_RETAIL_MODULES = {"EAN13": 95, "UPCA": 95, "EAN8": 67, "UPCE": 51}


def _modules(hit: _Hit) -> int:
    """The fewest modules (narrow-bar widths) a 1D symbol with this text can span, quiet zones aside."""
    n = len(hit.text)
    if hit.format in _RETAIL_MODULES:
        return _RETAIL_MODULES[hit.format]
    if hit.format == "CODE128":  # start, data in code set C (two digits a symbol), check, stop
        return 11 * ((n + 1) // 2 + 3) + 2
    if hit.format == "ITF":  # two wide and three narrow elements a digit, start and stop
        return 7 * n + 9
    return 13 * (n + 2)  # Code 39: nine elements, three wide, and a gap a character, with the two stars


def _decode_boxes(gray: np.ndarray, boxes: Iterable[Box], engines: Sequence[str], passes=None) -> list[_Hit]:
    hits: list[_Hit] = []
    for x0, y0, x1, y1 in boxes:
        for hit in _cascade(gray[y0:y1, x0:x1], engines, passes):
            hit.points = hit.points + np.array([x0, y0], dtype=np.float32)
            hits.append(hit)
    return _resolve(hits)


# --------------------------------------------------------------------------------------------------
# Passes: (engine, preprocessed variant, engine options), tried in order until one reads something

# Images up to this many pixels are upscaled 2x for the "up" variants; larger ones do not need it,
# and the passes on 4x the pixels would cost more than the rest of the cascade together.
_UPSCALE_MAX_PIXELS = 500_000


def _clahe(img: np.ndarray) -> np.ndarray:
    # A new object per call: a CLAHE object is not safe to share between threads.
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(img)


def _upscale(img: np.ndarray) -> tuple[np.ndarray, float]:
    # Bars one or two pixels wide defeat both binarisers; at twice the size they resolve.
    if img.shape[0] * img.shape[1] > _UPSCALE_MAX_PIXELS:
        return img, 1.0
    return cv2.resize(img, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC), 2.0


class _Variants:
    """Preprocessed copies of one image, built on first use, each with its scale to the original."""

    def __init__(self, img: np.ndarray):
        self._made: dict[str, tuple[np.ndarray, float]] = {"raw": (img, 1.0)}

    def get(self, name: str) -> tuple[np.ndarray, float]:
        if name not in self._made:
            self._made[name] = _VARIANTS[name](self)
        return self._made[name]


_VARIANTS: dict[str, Callable[[_Variants], tuple[np.ndarray, float]]] = {
    "up": lambda v: _upscale(v.get("raw")[0]),
    "clahe": lambda v: (_clahe(v.get("raw")[0]), 1.0),
    "clahe_up": lambda v: _upscale(v.get("clahe")[0]),
}

Pass = tuple[str, str, dict]
_PASSES: tuple[Pass, ...] = (
    ("zxing", "raw", {}),
    ("zxing", "clahe_up", {"binarizer": zxingcpp.Binarizer.GlobalHistogram}),
    ("zxing", "clahe_up", {}),
    ("zbar", "raw", {}),
    ("zbar", "clahe_up", {}),
)
# A quick second look at an edge-dense part of a region where another code was read.
_EXTRA_LOOK_PASSES: tuple[Pass, ...] = (("zxing", "up", {}), ("zbar", "up", {}))
# The whole camera frame, downscaled: the last resort, one pass per engine.
_OVERVIEW_PASSES: tuple[Pass, ...] = (("zxing", "raw", {}), ("zbar", "clahe", {}))


def _cascade(img: np.ndarray, engines: Sequence[str], passes: Sequence[Pass] | None = None) -> list[_Hit]:
    """The first non-empty result of the chosen engines' passes over ``img``, in its coordinates."""
    variants = _Variants(img)
    for engine in engines:
        for pass_engine, variant, options in passes or _PASSES:
            if pass_engine != engine:
                continue
            work, scale = variants.get(variant)
            hits = _zxing(work, **options) if engine == "zxing" else _zbar(work)
            for hit in hits:
                hit.points = hit.points / scale
                hit.support = hit.support / scale
            hits = _resolve(hits)
            if hits:
                return hits
    return []


# --------------------------------------------------------------------------------------------------
# Hits: one engine's read, in the coordinates of the image it was given


@dataclass
class _Hit:
    format: str
    text: str
    points: np.ndarray  # (4, 2) float32 corners
    # How many pixel rows back a 1D read: the thickness of zxing-cpp's scan band, or the number of
    # zbar scan lines that agreed. Infinite for 2D symbols, whose error correction vouches for them.
    support: float
    linear: bool
    contested: bool = False  # another read of the same symbol (or maybe so) gave a different text


_LINEAR = frozenset({"EAN13", "EAN8", "UPCA", "UPCE", "CODE128", "CODE39", "ITF"})
_FAMILY = {"EAN13": "EANUPC", "EAN8": "EANUPC", "UPCA": "EANUPC", "UPCE": "EANUPC"}


def _hit(name: str, text: str, points: np.ndarray, rows: float) -> _Hit:
    # An EAN-13 that starts with 0 is a UPC-A by definition (the US number system, zero-padded); the
    # engines report it either way, so settle it here.
    if name in ("EAN13", "UPCA") and len(text) == 13 and text.startswith("0"):
        name, text = "UPCA", text[1:]
    linear = name in _LINEAR
    return _Hit(name, text, points, rows if linear else math.inf, linear)


def _resolve(hits: list[_Hit]) -> list[_Hit]:
    """Drop repeated (format, text) and, where two 1D reads lie on one symbol, the weaker read.

    Reads that lost, or may lie on one symbol with a different text, mark the others ``contested``.
    """
    kept: list[_Hit] = []
    for hit in sorted(hits, key=lambda h: -h.support):
        if any(k.format == hit.format and k.text == hit.text for k in kept):
            continue
        relations = [(k, _relation(k, hit)) for k in kept if k.linear and hit.linear]
        if any(r == _SAME for _, r in relations):
            for k, r in relations:
                k.contested |= r == _SAME
            continue
        for k, r in relations:
            if r == _MAYBE_SAME:
                k.contested = hit.contested = True
        kept.append(hit)
    return kept


def _axes(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Centre, unit vector along the long side, length and thickness of a quad's min-area rectangle."""
    box = cv2.boxPoints(cv2.minAreaRect(points.astype(np.float32)))
    e1, e2 = box[1] - box[0], box[2] - box[1]
    n1, n2 = float(np.hypot(*e1)), float(np.hypot(*e2))
    along, length, thickness = (e1, n1, n2) if n1 >= n2 else (e2, n2, n1)
    unit = along / length if length > 0 else np.array([1.0, 0.0], dtype=np.float32)
    return box.mean(axis=0), unit, length, thickness


_SAME, _MAYBE_SAME = "same", "maybe"


def _relation(strong: _Hit, weak: _Hit) -> str | None:
    """Whether a weaker EAN/UPC or ITF read lies on the symbol a stronger read of its family covers.

    A scan band covers only part of a symbol's bar height, so two reads of one symbol can lie apart
    across the bars, but not along them. Judged in the strong read's frame, :data:`_SAME` (the weak
    read is a misread) is a clearly shorter read inside its length (a UPC-E "found" in half a UPC-A,
    a short ITF in a long one), or an equally long parallel EAN/UPC read across the same bars.
    :data:`_MAYBE_SAME` is an equally long parallel read further across: a second read of a full-height
    symbol, or a second label stacked right below; only a closer look can tell. Code 128 and Code 39
    are left alone: their start and stop patterns rule out partial reads, and a GS1 logistics label
    stacks several Code 128 symbols that must all come back.
    """
    family = _FAMILY.get(strong.format, strong.format)
    if family not in ("EANUPC", "ITF") or family != _FAMILY.get(weak.format, weak.format):
        return None
    c_s, u_s, len_s, thick_s = _axes(strong.points)
    c_w, u_w, len_w, thick_w = _axes(weak.points)
    if len_s <= 0 or abs(float(u_s @ u_w)) < 0.985:  # not parallel within 10 degrees
        return None
    offset = c_w - c_s
    along = abs(float(offset @ u_s))
    across = abs(float(offset[1] * u_s[0] - offset[0] * u_s[1]))
    if along + len_w / 2 > 0.6 * len_s:  # reaches beyond the strong read's ends (10 % slack)
        return None
    gap = max(0.0, across - (thick_s + thick_w) / 2)
    if len_w < 0.8 * len_s:
        return _SAME if gap < 0.5 * len_s else None
    if family != "EANUPC" or gap >= len_s:
        return None
    # EAN/UPC bars are about 0.7 of the symbol's length high, often cut to half that on packs.
    return _SAME if gap < 0.3 * len_s else _MAYBE_SAME


# --------------------------------------------------------------------------------------------------
# zxing-cpp

_ZX_FORMATS = zxingcpp.barcode_formats_from_str(
    # Code 39 standard only: "extended" would turn +A into a and garble plain labels using + % / $.
    # Micro QR, rMQR, MicroPDF417, Code 32 and PZN are left out: not warehouse labels, more misreads.
    "EAN13,EAN8,UPCA,UPCE,Code128,Code39Std,ITF,QRCodeModel1,QRCodeModel2,DataMatrix,PDF417,CompactPDF417"
)
_ZX_NAMES = {
    zxingcpp.BarcodeFormat.EAN13: "EAN13",
    zxingcpp.BarcodeFormat.EAN8: "EAN8",
    zxingcpp.BarcodeFormat.UPCA: "UPCA",
    zxingcpp.BarcodeFormat.UPCE: "UPCE",
    zxingcpp.BarcodeFormat.Code128: "CODE128",
    zxingcpp.BarcodeFormat.Code39: "CODE39",
    zxingcpp.BarcodeFormat.ITF: "ITF",
    zxingcpp.BarcodeFormat.QRCode: "QRCODE",
    zxingcpp.BarcodeFormat.DataMatrix: "DATAMATRIX",
    zxingcpp.BarcodeFormat.PDF417: "PDF417",
}


def _zxing(img: np.ndarray, binarizer: zxingcpp.Binarizer = zxingcpp.Binarizer.LocalAverage) -> list[_Hit]:
    # is_pure is never set: with PDF417 enabled, zxing-cpp 3.1.1 corrupts the heap with it on some
    # photos (free(): invalid pointer, the process aborts); it is meant for renders anyway.
    # TextMode.Plain keeps GS1 raw (FNC1 as GS); the default, HRI, would write "(01)...".
    hits = []
    for bc in zxingcpp.read_barcodes(
        img, formats=_ZX_FORMATS, text_mode=zxingcpp.TextMode.Plain, binarizer=binarizer
    ):
        name = _ZX_NAMES.get(bc.format) or _ZX_NAMES.get(bc.symbology)
        if name is None:
            continue
        text = bc.text
        if bc.content_type == zxingcpp.ContentType.GS1:
            text = bc.symbology_identifier + text
        if name == "UPCE":  # zxing-cpp 3 expands UPC-E to 13 digits and keeps the printed 8 aside
            text = (bc.extra or {}).get("UPCE", text)
        p = bc.position
        corners = (p.top_left, p.top_right, p.bottom_right, p.bottom_left)
        points = np.array([(c.x, c.y) for c in corners], dtype=np.float32)
        hits.append(_hit(name, text, points, _axes(points)[3] + 1.0))
    return hits


# --------------------------------------------------------------------------------------------------
# zbar, through pyzbar's ctypes bindings (its decode() hides the modifiers and forces zbar's charset
# guess on QR, so the loop is written out here)

_zbar_symbol_get_modifiers = _zb.zbar_function(
    "zbar_symbol_get_modifiers", ctypes.c_uint, ctypes.POINTER(_zb.zbar_symbol)
)
_ZBAR_MOD_GS1 = 1 << 0  # the symbol starts with FNC1: GS1 data
_ZBAR_CFG_BINARY = 4  # zbar >= 0.23: QR data as raw bytes (pyzbar's enum predates it)
_ZBAR_Y800 = 0x30303859  # fourcc "Y800": 8-bit grey
_ZBAR_NAMES = {
    _zb.ZBarSymbol.EAN13: "EAN13",
    _zb.ZBarSymbol.EAN8: "EAN8",
    _zb.ZBarSymbol.UPCA: "UPCA",
    _zb.ZBarSymbol.UPCE: "UPCE",
    _zb.ZBarSymbol.CODE128: "CODE128",
    _zb.ZBarSymbol.CODE39: "CODE39",
    _zb.ZBarSymbol.I25: "ITF",
    _zb.ZBarSymbol.QRCODE: "QRCODE",
}
_ZBAR_GS1_PREFIX = {"CODE128": "]C1", "QRCODE": "]Q3"}
# zbar's EAN and ITF decoders accept a single scan line through text or texture; a real symbol is
# crossed by many, so a 1D read needs this many agreeing lines.
_ZBAR_MIN_LINES = 8


def _zbar(img: np.ndarray) -> list[_Hit]:
    img = np.ascontiguousarray(img, dtype=np.uint8)
    height, width = img.shape[:2]
    scanner = _zb.zbar_image_scanner_create()
    image = _zb.zbar_image_create()
    try:
        _zb.zbar_image_scanner_set_config(scanner, 0, _zb.ZBarConfig.CFG_ENABLE, 0)  # all off, then ours
        for symbology in _ZBAR_NAMES:
            _zb.zbar_image_scanner_set_config(scanner, symbology, _zb.ZBarConfig.CFG_ENABLE, 1)
        _zb.zbar_image_scanner_set_config(scanner, _zb.ZBarSymbol.QRCODE, _ZBAR_CFG_BINARY, 1)
        _zb.zbar_image_set_format(image, _ZBAR_Y800)
        _zb.zbar_image_set_size(image, width, height)
        _zb.zbar_image_set_data(image, img.ctypes.data_as(ctypes.c_void_p), img.size, None)
        if _zb.zbar_scan_image(scanner, image) <= 0:
            return []
        hits = []
        symbol = _zb.zbar_image_first_symbol(image)
        while symbol:
            hit = _zbar_hit(symbol)
            if hit is not None:
                hits.append(hit)
            symbol = _zb.zbar_symbol_next(symbol)
        return hits
    finally:
        _zb.zbar_image_destroy(image)  # also frees its symbols
        _zb.zbar_image_scanner_destroy(scanner)


def _zbar_hit(symbol) -> _Hit | None:
    name = _ZBAR_NAMES.get(symbol.contents.type)
    if name is None:
        return None
    raw = ctypes.string_at(_zb.zbar_symbol_get_data(symbol), _zb.zbar_symbol_get_data_length(symbol))
    try:
        # QR data comes as raw bytes (binary mode): zbar's own charset guess turns Shift_JIS half-width
        # katakana into kanji and a backslash into a yen sign. Only UTF-8 (ASCII included) is kept;
        # other charsets are left to zxing-cpp, which honours ECI. A wrong text is worse than none.
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if _zbar_symbol_get_modifiers(symbol) & _ZBAR_MOD_GS1 and name in _ZBAR_GS1_PREFIX:
        text = _ZBAR_GS1_PREFIX[name] + text
    lines = _zb.zbar_symbol_get_quality(symbol)
    count = _zb.zbar_symbol_get_loc_size(symbol)
    if count == 0 or (name in _LINEAR and lines < _ZBAR_MIN_LINES):
        return None
    outline = [
        (_zb.zbar_symbol_get_loc_x(symbol, i), _zb.zbar_symbol_get_loc_y(symbol, i)) for i in range(count)
    ]
    return _hit(name, text, _quad(outline), float(lines))


def _quad(points: Iterable[tuple[float, float]]) -> np.ndarray:
    """The min-area rectangle around zbar's outline points, clockwise from the top-left-most corner."""
    box = cv2.boxPoints(cv2.minAreaRect(np.asarray(list(points), dtype=np.float32).reshape(-1, 2)))
    centre = box.mean(axis=0)
    box = box[np.argsort(np.arctan2(box[:, 1] - centre[1], box[:, 0] - centre[0]))]  # clockwise: y is down
    return np.roll(box, -int(np.argmin(box.sum(axis=1))), axis=0).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# Locating codes in a camera frame

_CELL = 16  # pixels per cell of the edge-density map
_MAX_REGIONS = 6
_MIN_REGION_CELLS = 12

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, ends exclusive


@dataclass
class _Region:
    box: Box  # what is decoded: its parts with generous margins, merged
    parts: list[Box]  # each edge-dense blob on its own, with a small margin


def _locate(gray: np.ndarray) -> list[_Region]:
    """Regions dense in strong edges, densest first, at most :data:`_MAX_REGIONS`.

    Barcodes are the densest edge regions a photo has; printed text comes next. Edges are measured at
    the working resolution (downscaling first would average fine bars into grey) and pooled per cell;
    the threshold adapts to the photo (Otsu) but never drops to the level of sensor noise. Blobs whose
    margins overlap form one region, so a code split by glare is decoded whole.
    """
    h, w = gray.shape[:2]
    if h < 2 * _CELL or w < 2 * _CELL:
        return [_Region((0, 0, w, h), [(0, 0, w, h)])]
    # Neighbour differences, horizontal and vertical: bars at any angle show in one or both.
    edge = cv2.max(cv2.absdiff(gray[:-1, 1:], gray[:-1, :-1]), cv2.absdiff(gray[1:, :-1], gray[:-1, :-1]))
    rows, cols = (h - 1) // _CELL, (w - 1) // _CELL
    # Whole cells only: INTER_AREA has a fast path for integer factors (ten times faster on 3 MP).
    cells = cv2.resize(edge[: rows * _CELL, : cols * _CELL], (cols, rows), interpolation=cv2.INTER_AREA)
    otsu, _ = cv2.threshold(cells, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    mask = (cells > max(otsu, 2.0 * float(np.median(cells)), 10.0)).astype(np.uint8)
    # Close one-cell gaps (the wide spaces of a 1D code, the middle of a QR finder); wider gaps are
    # bridged by the margins below, which keeps two codes side by side two parts of one region.
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    energy = np.bincount(labels.ravel(), weights=cells.ravel(), minlength=n)

    def grown(i: int, share: float, least: int) -> list[int]:
        """Blob ``i``'s box plus a margin (the quiet zone, bars too faint for the threshold) and at
        least ``least`` cells each way (a low-contrast code may pass the threshold only in part)."""
        x, y, cw, ch = (int(v) for v in stats[i][:4])
        mx = max(round(share * max(cw, ch)), (least - cw + 1) // 2, 1)
        my = max(round(share * max(cw, ch)), (least - ch + 1) // 2, 1)
        return [max(0, x - mx), max(0, y - my), min(cols, x + cw + mx), min(rows, y + ch + my)]

    groups: list[tuple[float, list[int], list[list[int]]]] = []  # (energy, box, parts) in cells
    for i in sorted(range(1, n), key=lambda i: -energy[i]):
        if stats[i][4] < 2:  # a speck
            continue
        total, box, parts = float(energy[i]), grown(i, 0.3, _MIN_REGION_CELLS), [grown(i, 0.1, 0)]
        for group in [g for g in groups if _intersects(box, g[1])]:  # merge with all it touches
            groups.remove(group)
            total += group[0]
            box = [
                min(box[0], group[1][0]),
                min(box[1], group[1][1]),
                max(box[2], group[1][2]),
                max(box[3], group[1][3]),
            ]
            parts += group[2]
        groups.append((total, box, parts))
    groups.sort(key=lambda g: -g[0])

    def pixels(b: list[int]) -> Box:
        return (b[0] * _CELL, b[1] * _CELL, min(w, b[2] * _CELL), min(h, b[3] * _CELL))

    return [_Region(pixels(box), [pixels(p) for p in parts]) for _, box, parts in groups[:_MAX_REGIONS]]


def _intersects(a: Sequence[int], b: Sequence[int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _accounts_for(hit: _Hit, part: Box) -> bool:
    """Whether a read explains an edge-dense part: their boxes share much of the smaller one.

    A 1D read is a band across the bars, so its box is first grown across them to about the height a
    symbol of its length has.
    """
    (hx0, hy0), (hx1, hy1) = hit.points.min(axis=0), hit.points.max(axis=0)
    if hit.linear:
        grow = 0.35 * max(hx1 - hx0, hy1 - hy0)
        if hx1 - hx0 >= hy1 - hy0:
            hy0, hy1 = hy0 - grow, hy1 + grow
        else:
            hx0, hx1 = hx0 - grow, hx1 + grow
    x0, y0, x1, y1 = part
    ix, iy = min(x1, hx1) - max(x0, hx0), min(y1, hy1) - max(y0, hy0)
    smaller = min((x1 - x0) * (y1 - y0), (hx1 - hx0) * (hy1 - hy0))
    return ix > 0 and iy > 0 and ix * iy >= 0.3 * smaller
