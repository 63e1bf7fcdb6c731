"""Labels: plain dataclasses in, PDF bytes out (`render_pdf`); `zpl.render_zpl` gives ZPL.

Pure: no Flask, no database. The caller loads the rows and builds `LocationLabel`, `ItemLabel`,
`LotLabel` or `DocumentLabel`; each label knows its symbols (`label.symbols`), which carry exactly
ScanApp's payloads (`scanning.payloads`) or, for items with a GTIN, GS1 data, so that every label
scans back through `scanning.interpret.parse_scan`.

Which symbol a label carries:

* location — QR of ``LOC:<code>``, the code in large type (typable when the QR is damaged),
  warehouse and zone, an optional up/down arrow (which shelf the label belongs to);
* item — EAN-13 when the item's GTIN is an EAN-13 or a UPC-A (printed as EAN-13 with a leading 0);
  otherwise Code 128 of ``ITEM:<sku>`` (QR when the SKU is not printable ASCII, which Code 128
  cannot carry);
* lot — GTIN items: GS1 DataMatrix of (01) GTIN-14, (17) expiry YYMMDD, (10) lot, plus GS1-128 of the
  same data on labels wide enough for ≥ 0.25 mm bars. The variable-length lot goes last so no FNC1
  separator is needed inside the data. A lot GS1 cannot carry (more than 20 characters, or characters
  outside GS1's set 82) falls back to the non-GTIN form. Non-GTIN items: QR of ``LOT:<sku>:<lot>``
  with the expiry as text;
* document — QR of ``DOC:<kind>:<number>``.

QR codes come from segno, Code 128 and EAN-13 from reportlab's barcode module, GS1 DataMatrix from
zxing-cpp's writer (reportlab's ``ECC200DataMatrix`` is fixed at 44×44 C40 without FNC1, and its
``dmtx`` wrapper needs pylibdmtx plus libdmtx, which doesn't expose FNC1 either). Matrix symbols are
drawn as vector rectangles, one per horizontal run of dark modules, in module units under one
transform per symbol. 1,000 location labels take 2–5 s (`bench/labels_bench.py`), most of it segno
choosing each QR code's mask; drawing and writing the PDF is about 0.5 s.

Chinese (any text outside Latin-1) is set in WenQuanYi Micro Hei, embedded as a subset; the font is
looked up at the Debian path (package fonts-wqy-microhei) when first needed, and `LabelFontMissing`
says how to install it when it isn't there.
"""

from __future__ import annotations

import io
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Literal

import numpy as np
import segno
import zxingcpp
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.code128 import Code128
from reportlab.graphics.barcode.eanbc import Ean13BarcodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from scanapp.errors import ScanAppError
from scanapp.labels.layouts import LAYOUTS, Layout, Margins
from scanapp.scanning.interpret import gtin14 as normalise_gtin
from scanapp.scanning.payloads import document_payload, item_payload, location_payload, lot_payload

__all__ = [
    "CJK_FONT_PATHS",
    "DocumentLabel",
    "ItemLabel",
    "Label",
    "LabelFontMissing",
    "LocationLabel",
    "LotLabel",
    "Symbol",
    "gs1_element_string",
    "matrix_modules",
    "qr_code",
    "render_pdf",
]

# --- labels -------------------------------------------------------------------------------------

QR = "qr"
CODE128 = "code128"
EAN13 = "ean13"
GS1_DATAMATRIX = "gs1-datamatrix"
GS1_128 = "gs1-128"

# What `scanning.decode` reports in front of GS1 data (ISO/IEC 15424 symbology identifiers); other
# symbols come back as their plain text.
_SCAN_PREFIX = {GS1_DATAMATRIX: "]d2", GS1_128: "]C1"}


@dataclass(frozen=True)
class Symbol:
    """One barcode on a label.

    ``data`` is what is encoded: a ScanApp payload, EAN-13 digits, or for GS1 the element string
    without the leading FNC1, e.g. ``01095011015300031726123110ABC``: (01) GTIN-14, (17) expiry,
    (10) lot last, so no separator is needed. ``hri`` is the human-readable text printed with it.
    """

    symbology: str  # QR, CODE128, EAN13, GS1_DATAMATRIX or GS1_128
    data: str
    hri: str = ""

    @property
    def scan_text(self) -> str:
        """The text a scan of this symbol yields: GS1 symbols with their symbology identifier."""
        return _SCAN_PREFIX.get(self.symbology, "") + self.data


@dataclass(frozen=True)
class LocationLabel:
    code: str
    warehouse: str = ""
    zone: str = ""
    arrow: Literal["up", "down"] | None = None

    def __post_init__(self) -> None:
        if not self.code.strip():
            raise ValueError("a location label needs a code")
        if self.arrow not in (None, "up", "down"):
            raise ValueError(f"arrow must be None, 'up' or 'down', not {self.arrow!r}")

    @property
    def symbols(self) -> tuple[Symbol, ...]:
        return (Symbol(QR, location_payload(self.code), self.code),)


@dataclass(frozen=True)
class ItemLabel:
    sku: str
    name: str = ""
    gtin: str | None = None

    def __post_init__(self) -> None:
        if not self.sku.strip():
            raise ValueError("an item label needs a SKU")
        _gtin14(self.gtin)  # a wrong check digit is an error now, not a label that scans wrong

    @property
    def symbols(self) -> tuple[Symbol, ...]:
        ean = _ean13(self.gtin)
        if ean:
            return (Symbol(EAN13, ean, ean),)
        payload = item_payload(self.sku)
        return (Symbol(CODE128 if _code128_safe(payload) else QR, payload, self.sku),)


@dataclass(frozen=True)
class LotLabel:
    sku: str
    name: str
    gtin: str | None
    lot: str
    expiry: date | None = None

    def __post_init__(self) -> None:
        if not self.sku.strip() or not self.lot.strip():
            raise ValueError("a lot label needs a SKU and a lot")
        _gtin14(self.gtin)

    @property
    def gs1(self) -> bool:
        """True when the label carries GS1 data (the item has a GTIN and GS1 can carry the lot)."""
        return self.gtin is not None and _gs1_lot_ok(self.lot)

    @property
    def symbols(self) -> tuple[Symbol, ...]:
        """GS1 labels: the DataMatrix first, then the GS1-128 that wide labels add."""
        gtin = _gtin14(self.gtin)
        if gtin and _gs1_lot_ok(self.lot):
            data = gs1_element_string(gtin, self.expiry, self.lot)
            hri = _gs1_hri(gtin, self.expiry, self.lot)
            return (Symbol(GS1_DATAMATRIX, data, hri), Symbol(GS1_128, data, hri))
        return (Symbol(QR, lot_payload(self.sku, self.lot), self.lot),)


@dataclass(frozen=True)
class DocumentLabel:
    kind: str  # one of payloads.DOCUMENT_KINDS
    number: str
    title: str = ""

    def __post_init__(self) -> None:
        document_payload(self.kind, self.number)  # raises on an unknown kind
        if not self.number.strip():
            raise ValueError("a document label needs a number")

    @property
    def symbols(self) -> tuple[Symbol, ...]:
        return (Symbol(QR, document_payload(self.kind, self.number), self.number),)


Label = LocationLabel | ItemLabel | LotLabel | DocumentLabel


# --- GS1 ----------------------------------------------------------------------------------------

# GS1 General Specifications, figure 7.11-1: the characters AI (10) may hold.
_GS1_SET_82 = frozenset("!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")


def _gtin14(gtin: str | None) -> str | None:
    if gtin is None:
        return None
    value = normalise_gtin(gtin)
    if value is None:
        raise ValueError(f"GTIN {gtin!r} is not 8, 12, 13 or 14 digits with a correct check digit")
    return value


def _ean13(gtin: str | None) -> str | None:
    """The EAN-13 to print for ``gtin``: GTIN-13 as is, UPC-A with a leading 0; None for GTIN-8 and
    GTIN-14 with an indicator digit, which EAN-13 cannot carry."""
    value = _gtin14(gtin)
    if value is None or value[0] != "0" or value.startswith("000000"):
        return None
    return value[1:]


def _gs1_lot_ok(lot: str) -> bool:
    return 0 < len(lot) <= 20 and all(ch in _GS1_SET_82 for ch in lot)


def gs1_element_string(gtin14: str, expiry: date | None, lot: str) -> str:
    """``01<GTIN-14>17<YYMMDD>10<lot>``: fixed-length AIs first so the variable-length lot is last
    and needs no FNC1 separator after it."""
    parts = ["01", gtin14]
    if expiry is not None:
        parts += ["17", expiry.strftime("%y%m%d")]
    parts += ["10", lot]
    return "".join(parts)


def _gs1_hri(gtin14: str, expiry: date | None, lot: str) -> str:
    expiry_part = f"(17){expiry:%y%m%d}" if expiry is not None else ""
    return f"(01){gtin14}{expiry_part}(10){lot}"


def _code128_safe(text: str) -> bool:
    return all(" " <= ch <= "~" for ch in text)


# --- matrix symbols -----------------------------------------------------------------------------

# QR error correction: level M, raised by segno's boost_error to Q or H whenever that fits in the same
# version. At 1–2 m from a phone the limit is pixels per module, not damage: a level that pushes a
# code to the next version (21 → 25 modules) makes every module 16 % smaller. "LOC:WH1-A-01-02" (upper
# case, so QR's alphanumeric mode) is version 1 at Q; lower-case codes use byte mode, version 2 at Q.
QR_ERROR = "m"


@lru_cache(maxsize=4096)
def qr_code(data: str) -> segno.QRCode:
    """The QR code for ``data`` (cached: sheets often repeat a label)."""
    if data.isascii():
        return segno.make(data, error=QR_ERROR, boost_error=True, micro=False)
    # UTF-8 in byte mode (not Kanji mode, which segno picks for text that fits Shift JIS): what
    # phones and zxing-cpp read back as the same text.
    return segno.make(data, error=QR_ERROR, boost_error=True, micro=False, encoding="utf-8", mode="byte")


@lru_cache(maxsize=1024)
def _gs1_datamatrix(element_string: str) -> tuple[bytes, ...]:
    """GS1 DataMatrix (FNC1 first, as zxing-cpp's writer puts it for ``gs1=True``), square."""
    # zxing-cpp takes bracketed AIs; square brackets are not in GS1's set 82, so any lot is safe.
    if not element_string.startswith("01"):
        raise ValueError(f"not a gs1_element_string: {element_string!r}")
    gtin, rest = element_string[2:16], element_string[16:]
    text = f"[01]{gtin}"
    if rest.startswith("17"):
        text += f"[17]{rest[2:8]}"
        rest = rest[8:]
    text += f"[10]{rest[2:]}"
    symbol = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.DataMatrix, gs1=True, force_square=True)
    dark = np.asarray(symbol.to_image(scale=1, add_quiet_zones=False)) < 128
    return tuple(bytes(row) for row in dark.astype(np.uint8))


def matrix_modules(symbol: Symbol) -> Sequence[Sequence[int]]:
    """The dark (1) and light (0) modules of a QR or GS1 DataMatrix symbol, without quiet zone."""
    if symbol.symbology == QR:
        return qr_code(symbol.data).matrix
    if symbol.symbology == GS1_DATAMATRIX:
        return _gs1_datamatrix(symbol.data)
    raise ValueError(f"{symbol.symbology} is not a matrix symbol")


# --- fonts --------------------------------------------------------------------------------------

CJK_FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # Debian/Ubuntu fonts-wqy-microhei
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",  # Fedora, Arch
)
CJK_FONT = "WenQuanYiMicroHei"
LATIN = "Helvetica"
LATIN_BOLD = "Helvetica-Bold"


class LabelFontMissing(ScanAppError):
    code = "label_font_missing"
    status = 500


@lru_cache(maxsize=1)
def _cjk_font() -> str:
    for path in CJK_FONT_PATHS:
        if os.path.exists(path):
            # Subset-embedded (reportlab's default for TTF): only the glyphs used go into the PDF.
            pdfmetrics.registerFont(TTFont(CJK_FONT, path, subfontIndex=0))
            return CJK_FONT
    raise LabelFontMissing(
        "Labels with Chinese text need the WenQuanYi Micro Hei font: install the Debian package "
        f"fonts-wqy-microhei (looked in {', '.join(CJK_FONT_PATHS)})."
    )


def _font(text: str, bold: bool) -> str:
    """Helvetica when the text is Latin-1 (the PDF base fonts' WinAnsi range), else the CJK font."""
    if all(ord(ch) < 0x100 for ch in text):
        return LATIN_BOLD if bold else LATIN
    return _cjk_font()


# --- text fitting -------------------------------------------------------------------------------

LEADING = 1.18  # line pitch / font size
_ASCENT = 0.76  # first baseline below the top of the text box, / font size
_BLOCK = 0.98  # height of one line from its ascent to its descent, / font size
_CODE_BREAK = re.compile(r"[^-./_: ]*[-./_: ]?")


def _atoms(text: str, code: bool) -> list[str]:
    """Pieces a line may break between: after separators in a code; words and single CJK
    characters in names."""
    if code:
        return [a for a in _CODE_BREAK.findall(text) if a]
    atoms: list[str] = []
    word = ""
    for ch in text:
        if unicodedata.east_asian_width(ch) in "WF":
            if word:
                atoms.append(word)
            atoms.append(ch)
            word = ""
        elif ch.isspace():
            word += ch
            atoms.append(word)
            word = ""
        else:
            word += ch
    if word:
        atoms.append(word)
    return atoms


def _greedy(full: list[float], stripped: list[float], limit: float) -> list[int]:
    """Indexes where lines start when atoms (widths with and without trailing blanks) fill lines of
    at most ``limit``; an atom wider than the limit gets a line of its own."""
    starts = [0]
    line = 0.0
    for i in range(len(full)):
        if i > starts[-1] and line + stripped[i] > limit:
            starts.append(i)
            line = 0.0
        line += full[i]
    return starts


def _join(atoms: list[str], starts: list[int]) -> list[str]:
    bounds = [*starts, len(atoms)]
    return ["".join(atoms[a:b]).strip() for a, b in zip(bounds, bounds[1:], strict=False)]


def _split(atoms: list[str], measure: Callable[[str], float], target: float) -> list[str]:
    """Greedy lines of at most ``target`` width (in ``measure``'s units: width at size 1)."""
    full = [measure(a) for a in atoms]
    stripped = [measure(a.rstrip()) for a in atoms]
    return _join(atoms, _greedy(full, stripped, target))


def _balanced(atoms: list[str], measure: Callable[[str], float], n: int) -> list[str]:
    """At most ``n`` lines with the narrowest widest line (binary search on the line width)."""
    full = [measure(a) for a in atoms]
    stripped = [measure(a.rstrip()) for a in atoms]
    lo, hi = max(stripped), sum(full)
    for _ in range(24):
        mid = (lo + hi) / 2
        if len(_greedy(full, stripped, mid)) <= n:
            hi = mid
        else:
            lo = mid
    return _join(atoms, _greedy(full, stripped, hi))


def fit_lines(
    text: str,
    width: float,
    height: float,
    measure: Callable[[str], float],
    *,
    max_size: float,
    min_size: float,
    max_lines: int = 1,
    code: bool = False,
    ellipsis: str = "…",
) -> tuple[tuple[str, ...], float]:
    """The lines and the largest size (≤ max_size) at which ``text`` fits ``width`` × ``height`` in
    at most ``max_lines`` lines, ``measure(s)`` being the width of ``s`` at size 1; when even
    ``min_size`` is too big the text is cut with ``ellipsis``. Shared by the PDF and ZPL renderers."""
    text = " ".join(text.split())
    if not text or width <= 0 or height <= 0:
        return (), min_size
    atoms = _atoms(text, code)
    best: tuple[tuple[str, ...], float] = ((), 0.0)
    for n in range(1, max_lines + 1):
        lines = [text] if n == 1 else _balanced(atoms, measure, n)
        if len(lines) > n:
            continue
        widest = max(measure(line) for line in lines)
        size = min(max_size, width / widest, height / (_BLOCK + LEADING * (len(lines) - 1)))
        # A second line must earn its place: a code read as one piece is easier to type.
        if size > best[1] * (1.5 if code else 1.1):
            best = (tuple(lines), size)
    if best[1] >= min_size:
        return best
    size = min_size
    max_lines = max(1, min(max_lines, int((height / size - _BLOCK) / LEADING) + 1))
    limit = width / size
    lines = [piece for line in _split(atoms, measure, limit) for piece in _hard_wrap(line, measure, limit)]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and measure(last + ellipsis) > limit:
            last = last[:-1]
        lines[-1] = last.rstrip() + ellipsis
    return tuple(lines), size


def _hard_wrap(line: str, measure: Callable[[str], float], limit: float) -> Iterable[str]:
    """Cut a line wider than ``limit`` per character (a long word, a code without separators)."""
    while measure(line) > limit and len(line) > 1:
        cut = len(line) - 1
        while cut > 1 and measure(line[:cut]) > limit:
            cut -= 1
        yield line[:cut]
        line = line[cut:]
    yield line


def text_height(lines: int, size: float) -> float:
    return size * (_BLOCK + LEADING * (lines - 1)) if lines else 0.0


@dataclass(frozen=True)
class _Text:
    lines: tuple[str, ...]
    font: str
    size: float

    @property
    def height(self) -> float:
        return text_height(len(self.lines), self.size)


def _fit(
    text: str,
    width: float,
    height: float,
    *,
    bold: bool = False,
    max_size: float = 40.0,
    min_size: float = 5.0,
    max_lines: int = 1,
    code: bool = False,
) -> _Text:
    font = _font(text, bold)
    lines, size = fit_lines(
        text, width, height, lambda s: pdfmetrics.stringWidth(s, font, 1),
        max_size=max_size, min_size=min_size, max_lines=max_lines, code=code,
    )
    return _Text(lines, font, size)


def _draw_text(c: Canvas, t: _Text, x: float, top: float, width: float, align: str = "left") -> float:
    """Draw ``t`` with its first line's top at ``top``; return the bottom of the block."""
    faux_bold = t.font == CJK_FONT and t.size >= 10  # WenQuanYi has no bold face: stroke the outline
    for i, line in enumerate(t.lines):
        baseline = top - _ASCENT * t.size - i * LEADING * t.size
        w = pdfmetrics.stringWidth(line, t.font, t.size)
        lx = x + (width - w) / 2 if align == "center" else x
        if faux_bold:
            obj = c.beginText(lx, baseline)
            obj.setFont(t.font, t.size)
            obj.setTextRenderMode(2)
            c.setLineWidth(t.size * 0.03)
            obj.textLine(line)
            c.drawText(obj)
        else:
            c.setFont(t.font, t.size)
            c.drawString(lx, baseline, line)
    return top - t.height


# --- drawing symbols ----------------------------------------------------------------------------

QUIET_MODULES = 2  # inside the symbol's box; the label's padding adds more white


def _draw_matrix(c: Canvas, modules: Sequence[Sequence[int]], x: float, y: float, side: float) -> float:
    """Draw a square matrix symbol with its quiet zone into the square at (x, y) (bottom-left) of
    ``side`` points; return the module size.

    Vector rectangles, one per horizontal run of dark modules, written in module units under one
    transform: whole numbers that need no float formatting, which keeps a 1,000-label sheet fast."""
    n = len(modules)
    module = side / (n + 2 * QUIET_MODULES)
    runs = []
    for r, row in enumerate(modules):
        start = -1
        for col, dark in enumerate(row):
            if dark and start < 0:
                start = col
            elif not dark and start >= 0:
                runs.append(f"{start} {r} {col - start} 1 re")
                start = -1
        if start >= 0:
            runs.append(f"{start} {r} {len(row) - start} 1 re")
    c.saveState()
    # Origin at the symbol's top-left module, rows counting down.
    c.transform(module, 0, 0, -module, x + QUIET_MODULES * module, y + side - QUIET_MODULES * module)
    c.addLiteral("\n".join(runs) + "\nf")
    c.restoreState()
    return module


# Bars are whole dots of a 300 dpi grid (so also of 600 and 1200 dpi) from the page's edge: printed
# at those resolutions every bar and space keeps its width instead of rounding ±1 dot each way,
# which at 2–4 dots per module would be a 25–50 % width error.
DOT = 72 / 300


def _on_dots(bar: float) -> float:
    return max(2, int(bar / DOT + 1e-6)) * DOT


def _snap(x: float) -> float:
    return round(x / DOT) * DOT


def _draw_code128(
    c: Canvas, value: str, x: float, y: float, width: float, height: float, bleed: float = 0.0
) -> float:
    """Code 128 centred in the box, bars as wide as fit up to 0.5 mm with quiet zones of 10 modules
    (which may run ``bleed`` into the padding); returns the bar width.

    ``value`` may start with FNC1, which reportlab's Code128 takes as ``\\xf1`` (GS1-128)."""
    probe = Code128(value, barWidth=1, quiet=True, lquiet=10, rquiet=10)
    bar = _on_dots(min(0.5 * mm, (width + 2 * bleed) / probe.width))
    code = Code128(value, barWidth=bar, barHeight=height, humanReadable=False, quiet=True)
    code.drawOn(c, _snap(x + (width - code.width) / 2), y)
    return bar


def _draw_ean13(
    c: Canvas, digits: str, x: float, y: float, width: float, height: float, bleed: float = 0.0
) -> None:
    """EAN-13 with its digits below, centred; module up to 0.495 mm (150 %), down to what fits."""
    bar = _on_dots(min(0.33 * mm * 1.5, (width + 2 * bleed) / 113))
    font_size = 8 * bar / (0.33 * mm)
    widget = Ean13BarcodeWidget(
        digits[:12], barWidth=bar, barHeight=height, fontSize=font_size, humanReadable=1, fontName=LATIN
    )
    drawing = Drawing(widget.width, height)
    drawing.add(widget)
    renderPDF.draw(drawing, c, _snap(x + (width - widget.width) / 2), y)


ARROW_ASPECT = 0.7  # width / height


def _draw_arrow(c: Canvas, direction: str, x: float, y: float, height: float) -> None:
    """A solid up/down arrow ``height`` tall and ``ARROW_ASPECT`` × ``height`` wide at (x, y)."""
    shape = ((0.5, 1), (1, 0.52), (0.7, 0.52), (0.7, 0), (0.3, 0), (0.3, 0.52), (0, 0.52))
    if direction == "down":
        shape = tuple((px, 1 - py) for px, py in shape)
    width = height * ARROW_ASPECT
    path = c.beginPath()
    path.moveTo(x + shape[0][0] * width, y + shape[0][1] * height)
    for px, py in shape[1:]:
        path.lineTo(x + px * width, y + py * height)
    path.close()
    c.drawPath(path, stroke=0, fill=1)


# --- drawing labels -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Box:
    """The printable inside of one label, in points, origin bottom-left."""

    x: float
    y: float
    w: float
    h: float
    bleed: float = 0.0  # how far a linear barcode's quiet zones may run into the padding, left and right

    @property
    def top(self) -> float:
        return self.y + self.h


GAP = 1.5 * mm


def _draw_location(c: Canvas, label: LocationLabel, b: _Box) -> None:
    # The QR takes the label's height (up to 58 % of its width): module size is what reading from
    # 1–2 m needs, more than error correction (see QR_ERROR). For a version 1 code (21 modules, plus
    # 2 + 2 of quiet zone): 70×37 mm → 34 mm → 1.36 mm modules (1.26 mm in the top and bottom rows,
    # kept off the paper's edge); 100×50 mm → 45 mm → 1.80 mm; 50×30 mm → 27 mm → 1.09 mm; the
    # 1-inch letter-3x10 → 0.9 mm, close range only. A 12 MP phone (4032 px across, ~70° lens) sees
    # 2.1 m across at 1.5 m, ≈ 1.9 px/mm, and ≈ 1.45 px/mm at 2 m: a 1.36 mm module is 2.6 px at
    # 1.5 m, 2 px at 2 m, enough for zxing-cpp (tests/test_label_render.py checks it).
    side = min(b.h, b.w * 0.58)
    symbol = label.symbols[0]
    _draw_matrix(c, matrix_modules(symbol), b.x, b.y + (b.h - side) / 2, side)
    tx = b.x + side + GAP
    tw = b.x + b.w - tx
    code_h = b.h * 0.62
    code = _fit(label.code, tw, code_h, bold=True, max_size=72, max_lines=3, code=True)
    _draw_text(c, code, tx, b.top, tw)
    meta_h = b.h - code_h - GAP / 2
    meta_w = tw
    if label.arrow:
        arrow = min(meta_h, tw * 0.35 / ARROW_ASPECT)
        _draw_arrow(c, label.arrow, b.x + b.w - arrow * ARROW_ASPECT, b.y, arrow)
        meta_w = tw - arrow * ARROW_ASPECT - GAP
    parts = [part for part in (label.warehouse, label.zone) if part.strip()]
    top = b.y + meta_h
    for part in parts:
        t = _fit(part, meta_w, meta_h / len(parts), max_size=16, min_size=4.5, max_lines=2)
        _draw_text(c, t, tx, top, meta_w)
        top -= meta_h / len(parts)


def _draw_item(c: Canvas, label: ItemLabel, b: _Box) -> None:
    symbol = label.symbols[0]
    if symbol.symbology == QR:
        _draw_matrix_with_text(c, symbol, b, [(label.name, False, 3), (label.sku, True, 2)])
        return
    text_h = b.h * 0.36
    name = _fit(label.name, b.w, text_h * 0.62, max_size=14, min_size=5, max_lines=2)
    bottom = _draw_text(c, name, b.x, b.top, b.w)
    sku = _fit(label.sku, b.w, max(bottom - (b.top - text_h), text_h * 0.3), bold=True, max_size=12)
    _draw_text(c, sku, b.x, bottom, b.w)
    bar_top = b.top - text_h - GAP / 2
    if symbol.symbology == EAN13:
        _draw_ean13(c, symbol.data, b.x, b.y, b.w, bar_top - b.y, b.bleed)
    else:
        hri = _fit(symbol.data, b.w, (bar_top - b.y) * 0.22, max_size=9, min_size=4)
        bar_h = bar_top - b.y - hri.height - 0.5 * mm
        _draw_code128(c, symbol.data, b.x, b.y + hri.height + 0.5 * mm, b.w, bar_h, b.bleed)
        _draw_text(c, hri, b.x, b.y + hri.height, b.w, align="center")


def _draw_lot(c: Canvas, label: LotLabel, b: _Box) -> None:
    symbols = label.symbols
    lines: list[tuple[str, bool, int]] = [(label.name, False, 2), (f"LOT {label.lot}", True, 1)]
    if label.expiry is not None:
        lines.append((f"EXP {label.expiry:%Y-%m-%d}", True, 1))
    if not label.gs1:
        lines.append((label.sku, False, 1))
        _draw_matrix_with_text(c, symbols[0], b, lines)
        return
    lines.append((f"GTIN {_gtin14(label.gtin)}", False, 1))
    linear = symbols[1]
    # GS1-128 only where it gets bars of at least 0.25 mm and the label is tall enough for both.
    probe = Code128("\xf1" + linear.data, barWidth=1, quiet=True, lquiet=10, rquiet=10)
    if (b.w + 2 * b.bleed) / probe.width >= 0.25 * mm and b.h >= 40 * mm:
        upper = _Box(b.x, b.y + b.h * 0.42, b.w, b.h * 0.58)
        _draw_matrix_with_text(c, symbols[0], upper, lines, share=0.3)
        hri = _fit(linear.hri, b.w, b.h * 0.08, max_size=9, min_size=4)
        bar_h = b.h * 0.42 - GAP - hri.height - 0.5 * mm
        _draw_code128(c, "\xf1" + linear.data, b.x, b.y + hri.height + 0.5 * mm, b.w, bar_h, b.bleed)
        _draw_text(c, hri, b.x, b.y + hri.height, b.w, align="center")
    else:
        _draw_matrix_with_text(c, symbols[0], b, lines)


def _draw_document(c: Canvas, label: DocumentLabel, b: _Box) -> None:
    _draw_matrix_with_text(c, label.symbols[0], b, [(label.kind, False, 1), (label.number, True, 2),
                                                    (label.title, False, 2)], weights=(0.8, 2.2, 1.4))


def _draw_matrix_with_text(
    c: Canvas,
    symbol: Symbol,
    b: _Box,
    lines: list[tuple[str, bool, int]],
    share: float = 0.45,
    weights: Sequence[float] | None = None,
) -> None:
    """A QR/DataMatrix on the left, text blocks (text, bold, max lines) stacked on the right."""
    side = min(b.h, b.w * share)
    _draw_matrix(c, matrix_modules(symbol), b.x, b.y + (b.h - side) / 2, side)
    tx = b.x + side + GAP
    tw = b.x + b.w - tx
    lines = [line for line in lines if line[0].strip()]
    weights = weights or [1.0 + 0.4 * (n - 1) for _, _, n in lines]
    total = sum(weights[: len(lines)])
    top = b.top
    for (text, bold, max_lines), weight in zip(lines, weights, strict=False):
        h = b.h * weight / total
        t = _fit(text, tw, h, bold=bold, max_size=22 if bold else 13, min_size=4.5, max_lines=max_lines)
        _draw_text(c, t, tx, top, tw)
        top -= h


_DRAW = {
    LocationLabel: _draw_location,
    ItemLabel: _draw_item,
    LotLabel: _draw_lot,
    DocumentLabel: _draw_document,
}


# --- PDF ----------------------------------------------------------------------------------------


def render_pdf(
    labels: Iterable[Label],
    layout: str | Layout = "a4-3x8",
    margins_mm: float | tuple[float, ...] | Margins | None = None,
    start_position: int = 0,
) -> bytes:
    """Render ``labels`` into a PDF, in order, ``layout``'s grid row by row, as many pages as needed.

    ``layout`` is a name in `LAYOUTS` (sheets ``a4-3x8``, ``a4-2x7``, ``letter-3x10``,
    ``letter-2x5``; one label per page ``50x30``, ``100x50``) or a `Layout`. ``margins_mm`` replaces
    the layout's page margins (labels are resized to fill the rest). ``start_position`` skips that
    many labels on the first sheet, to reuse a partly used sheet. The output is deterministic for
    the same input (no timestamps), so it can be cached or compared.
    """
    if isinstance(layout, str):
        try:
            layout = LAYOUTS[layout]
        except KeyError:
            raise ValueError(f"unknown label layout {layout!r}; choose from {', '.join(LAYOUTS)}") from None
    if margins_mm is not None:
        layout = layout.with_margins(margins_mm)
    if not 0 <= start_position < layout.per_page:
        raise ValueError(f"start_position must be 0–{layout.per_page - 1} for {layout.name}")
    labels = list(labels)
    if not labels:
        raise ValueError("no labels to render")
    for label in labels:
        if type(label) not in _DRAW:
            raise TypeError(f"not a label: {label!r}")

    buf = io.BytesIO()
    page_w, page_h = layout.page_w * mm, layout.page_h * mm
    c = Canvas(buf, pagesize=(page_w, page_h), invariant=1, pageCompression=1)
    c.setTitle("ScanApp labels")
    c.setCreator("ScanApp")
    bleed = layout.padding_x * mm if layout.single else 0.0
    position = start_position
    for label in labels:
        if position == layout.per_page:
            c.showPage()
            position = 0
        x, top, w, h = layout.content_box(position)
        box = _Box(x * mm, page_h - (top + h) * mm, w * mm, h * mm, bleed)
        _DRAW[type(label)](c, label, box)
        position += 1
    c.showPage()
    c.save()
    return buf.getvalue()
