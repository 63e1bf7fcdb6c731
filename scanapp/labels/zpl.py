"""ZPL II for Zebra (and ZPL-compatible) thermal printers: one ``^XA … ^XZ`` format per label.

The same labels as `render.render_pdf`, laid out the same way, but the printer draws the symbols
itself from their data:

* QR ``^BQN,2,m`` with ``^FD<ecc>A,<payload>`` (the ECC letter is the level segno chose, M boosted to
  Q/H when the version allows; ``A`` lets the printer pick numeric/alphanumeric/byte mode);
* Code 128 ``^BC`` in subset B (``>:``), with ``>``, ``^`` and ``~`` written as the invocation codes
  ``>0``, ``><`` and ``>=``; GS1-128 starts in subset C with FNC1 (``>;>8``) and switches to subset B
  (``>6``) for a lot that isn't all digits;
* EAN-13 ``^BE`` with the 12 data digits (the printer adds the check digit and the digits below);
* GS1 DataMatrix ``^BXN,h,200,,,,#,1`` with ``^FD#1<element string>``: ``#`` is the escape character
  (parameter g; set explicitly because firmware defaults differ) and ``#1`` is FNC1. ``#`` is not in
  GS1's character set 82, so no lot can contain it. The lot is the last element, so no FNC1
  separator follows it.

Text fields use ``^FH`` (hex escapes with ``_``): ``^``, ``~`` and ``_`` in field data are sent as
``_5E``, ``_7E`` and ``_5F``, so a name can't end the field or start a command. Per Zebra, ``^FH``
decoding happens before a barcode's own escape processing. ``^CI28`` makes field data UTF-8.

Chinese: ZPL's built-in font 0 (CG Triumvirate) has Latin glyphs only, so text outside Latin-1 is
set with ``^A@N,h,w,<font>``, a TrueType font stored on the printer, by default ``E:ANMDS.TTF``
(Zebra's Andale Mono Simplified Chinese). Most Zebras don't ship with one: download it once (Zebra
Setup Utilities or ZebraNet Bridge, or ``~DY``) or pass another stored font as ``cjk_font``.

Sizes are computed at the printer's resolution (8 dots/mm at 203 dpi, 11.8 at 300 dpi); ``^PW`` and
``^LL`` are the label's width and length in dots. ``^BQ`` magnification is at most 10, so a QR module
is at most 1.25 mm at 203 dpi and 0.85 mm at 300 dpi.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from scanapp.labels.layouts import LAYOUTS, parse_size
from scanapp.labels.render import (
    ARROW_ASPECT,
    CODE128,
    EAN13,
    GS1_DATAMATRIX,
    LEADING,
    QR,
    DocumentLabel,
    ItemLabel,
    Label,
    LocationLabel,
    LotLabel,
    Symbol,
    fit_lines,
    matrix_modules,
    qr_code,
    text_height,
)

__all__ = ["DM_ESCAPE", "ZPL_DPIS", "render_zpl", "zpl_code128_data", "zpl_hex_escape"]

ZPL_DPIS = (203, 300)
DEFAULT_CJK_FONT = "E:ANMDS.TTF"
DM_ESCAPE = "#"  # ^BX escape character (parameter g); "#1" is FNC1
MAX_QR_MAGNIFICATION = 10


def zpl_hex_escape(text: str) -> str:
    """Field data for ``^FH``: ``^``, ``~``, ``_`` and control characters as ``_XX``; UTF-8 (^CI28)
    stays as it is."""
    return "".join(f"_{ord(ch):02X}" if ch in "^~_" or ord(ch) < 0x20 or ch == "\x7f" else ch for ch in text)


_SUBSET_B_ESCAPES = {">": ">0", "^": "><", "~": ">="}


def _subset_b(text: str) -> str:
    return "".join(_SUBSET_B_ESCAPES.get(ch, ch) for ch in text)


def zpl_code128_data(symbol: Symbol) -> tuple[str, int]:
    """``^BC`` field data (mode N, with invocation codes) for a Code 128 or GS1-128 symbol and the
    number of Code 128 symbol characters it makes (start and check included, stop excluded)."""
    if symbol.symbology == CODE128:
        return ">:" + _subset_b(symbol.data), len(symbol.data) + 2
    # GS1: "01"+GTIN-14 [+"17"+YYMMDD] +"10" is an even run of digits, all in subset C after FNC1.
    head_len = (24 if symbol.data[16:18] == "17" else 16) + 2
    head, lot = symbol.data[:head_len], symbol.data[head_len:]
    count = 2 + len(head) // 2 + 1
    if lot.isascii() and lot.isdigit() and len(lot) % 2 == 0:
        return ">;>8" + head + lot, count + len(lot) // 2
    return ">;>8" + head + ">6" + _subset_b(lot), count + 1 + len(lot)


class _Format:
    """One label's ZPL, built in dots from the top-left corner."""

    def __init__(self, width_mm: float, height_mm: float, dpi: int, cjk_font: str):
        self.dpmm = dpi / 25.4
        self.width = round(width_mm * self.dpmm)
        self.height = round(height_mm * self.dpmm)
        self.cjk_font = cjk_font
        self.bleed = 0  # how far linear barcodes' quiet zones may run into the padding
        self.cmds = ["^XA", "^CI28", f"^PW{self.width}", f"^LL{self.height}", "^LH0,0"]

    def dots(self, value_mm: float) -> int:
        return round(value_mm * self.dpmm)

    def done(self) -> str:
        return "\n".join([*self.cmds, "^XZ"])

    # -- text --

    def _font(self, text: str, size: int) -> tuple[str, float, float]:
        """The font command and the estimated width of a Latin and of a wide character, / size."""
        if all(ord(ch) < 0x100 for ch in text):
            return f"^A0N,{size},{size}", 0.62, 1.0
        return f"^A@N,{size},{size},{self.cjk_font}", 0.62, 1.05

    def text(
        self, text: str, x: int, y: int, w: int, h: int, *, max_mm: float, max_lines: int = 1,
        code: bool = False, center: bool = False,
    ) -> int:
        """Text fitted into the box (w × h dots at x, y); returns the y below it."""
        _, narrow, wide = self._font(text, 10)

        def measure(s: str) -> float:
            return sum(wide if unicodedata.east_asian_width(ch) in "WF" else narrow for ch in s)

        min_size = max(10, self.dots(1.6))  # ^A0's minimum is 10 dots
        lines, size = fit_lines(
            text, w, h, measure, max_size=self.dots(max_mm), min_size=min_size,
            max_lines=max_lines, code=code, ellipsis="...",
        )
        size = int(size)
        font, _, _ = self._font(text, size)
        for i, line in enumerate(lines):
            block = f"^FB{w},1,0,C,0" if center else ""
            line_y = y + round(i * LEADING * size)
            self.cmds.append(f"^FO{x},{line_y}{font}{block}^FH^FD{zpl_hex_escape(line)}^FS")
        return y + round(text_height(len(lines), size))

    # -- symbols --

    def qr(self, symbol: Symbol, x: int, y: int, side: int) -> None:
        code = qr_code(symbol.data)
        n = len(code.matrix)
        mag = max(1, min(MAX_QR_MAGNIFICATION, side // (n + 4)))
        offset = (side - n * mag) // 2
        data = f"{code.error.upper()}A,{zpl_hex_escape(symbol.data)}"
        self.cmds.append(f"^FO{x + offset},{y + offset}^BQN,2,{mag}^FH^FD{data}^FS")

    def datamatrix(self, symbol: Symbol, x: int, y: int, side: int) -> None:
        n = len(matrix_modules(symbol))
        module = max(1, side // (n + 2))
        offset = (side - n * module) // 2
        self.cmds.append(
            f"^FO{x + offset},{y + offset}^BXN,{module},200,,,,{DM_ESCAPE},1"
            f"^FH^FD{DM_ESCAPE}1{zpl_hex_escape(symbol.data)}^FS"
        )

    def matrix(self, symbol: Symbol, x: int, y: int, side: int) -> None:
        if symbol.symbology == QR:
            self.qr(symbol, x, y, side)
        else:
            self.datamatrix(symbol, x, y, side)

    def code128(self, symbol: Symbol, x: int, y: int, w: int, h: int) -> None:
        data, count = zpl_code128_data(symbol)
        modules = count * 11 + 13 + 20  # + stop + quiet zones
        bar = max(1, min(4, (w + 2 * self.bleed) // modules))
        offset = (w - (modules - 20) * bar) // 2
        self.cmds.append(f"^FO{x + offset},{y}^BY{bar}^BCN,{h},N,N,N^FD{data}^FS")

    def code128_bar(self, symbol: Symbol, w: int) -> float:
        """The bar width in mm a Code 128 symbol gets in ``w`` dots."""
        _, count = zpl_code128_data(symbol)
        return max(1, min(4, (w + 2 * self.bleed) // (count * 11 + 33))) / self.dpmm

    def ean13(self, digits: str, x: int, y: int, w: int, h: int) -> None:
        bar = max(1, min(4, (w + 2 * self.bleed) // 113))
        hri = 10 * bar + 4  # the printer's digits below the bars
        offset = (w - 95 * bar) // 2
        self.cmds.append(f"^FO{x + offset},{y}^BY{bar}^BEN,{max(10, h - hri)},Y,N^FD{digits[:12]}^FS")

    def arrow(self, direction: str, x: int, y: int, height: int) -> None:
        """An up/down arrow as a ^GF bitmap (ZPL has no filled polygon), like the PDF's."""
        width = round(height * ARROW_ASPECT)
        row_bytes = (width + 7) // 8
        rows = []
        for r in range(height):
            v = (r + 0.5) / height  # 0 at the top
            if direction == "down":
                v = 1 - v
            bits = 0
            for col in range(width):
                u = (col + 0.5) / width
                dark = abs(u - 0.5) <= 0.5 * v / 0.48 if v <= 0.48 else 0.3 <= u <= 0.7
                bits = bits << 1 | dark
            rows.append(f"{bits << (row_bytes * 8 - width):0{row_bytes * 2}X}")
        total = row_bytes * height
        self.cmds.append(f"^FO{x},{y}^GFA,{total},{total},{row_bytes},{''.join(rows)}^FS")


def _location(f: _Format, label: LocationLabel, x: int, y: int, w: int, h: int) -> None:
    side = min(h, int(w * 0.58))
    f.qr(label.symbols[0], x, y + (h - side) // 2, side)
    gap = f.dots(1.5)
    tx, tw = x + side + gap, w - side - gap
    code_h = int(h * 0.62)
    f.text(label.code, tx, y, tw, code_h, max_mm=25, max_lines=3, code=True)
    meta_h = h - code_h - gap // 2
    meta_w = tw
    if label.arrow:
        arrow = min(meta_h, int(tw * 0.35 / ARROW_ASPECT))
        f.arrow(label.arrow, x + w - round(arrow * ARROW_ASPECT), y + h - arrow, arrow)
        meta_w = tw - round(arrow * ARROW_ASPECT) - gap
    parts = [p for p in (label.warehouse, label.zone) if p.strip()]
    top = y + h - meta_h
    for part in parts:
        f.text(part, tx, top, meta_w, meta_h // len(parts), max_mm=5.5, max_lines=3 - len(parts))
        top += meta_h // len(parts)


def _matrix_with_text(
    f: _Format, symbol: Symbol, x: int, y: int, w: int, h: int,
    lines: list[tuple[str, bool, int]], share: float = 0.45,
) -> None:
    side = min(h, int(w * share))
    f.matrix(symbol, x, y + (h - side) // 2, side)
    gap = f.dots(1.5)
    tx, tw = x + side + gap, w - side - gap
    lines = [line for line in lines if line[0].strip()]
    weights = [1.0 + 0.4 * (n - 1) for _, _, n in lines]
    top = y
    for (text, bold, max_lines), weight in zip(lines, weights, strict=True):
        bh = int(h * weight / sum(weights))
        f.text(text, tx, top, tw, bh, max_mm=7 if bold else 4.5, max_lines=max_lines)
        top += bh


def _item(f: _Format, label: ItemLabel, x: int, y: int, w: int, h: int) -> None:
    symbol = label.symbols[0]
    if symbol.symbology == QR:
        _matrix_with_text(f, symbol, x, y, w, h, [(label.name, False, 3), (label.sku, True, 2)])
        return
    text_h = int(h * 0.36)
    below = f.text(label.name, x, y, w, int(text_h * 0.62), max_mm=4.5, max_lines=2)
    f.text(label.sku, x, below, w, max(y + text_h - below, int(text_h * 0.3)), max_mm=4)
    bar_y = y + text_h + f.dots(0.75)
    bar_h = y + h - bar_y
    if symbol.symbology == EAN13:
        f.ean13(symbol.data, x, bar_y, w, bar_h)
    else:
        hri_h = max(10, int(bar_h * 0.22))
        f.code128(symbol, x, bar_y, w, bar_h - hri_h - f.dots(0.5))
        f.text(symbol.data, x, y + h - hri_h, w, hri_h, max_mm=3, center=True)


def _lot(f: _Format, label: LotLabel, x: int, y: int, w: int, h: int) -> None:
    symbols = label.symbols
    lines = [(label.name, False, 2), (f"LOT {label.lot}", True, 1)]
    if label.expiry is not None:
        lines.append((f"EXP {label.expiry:%Y-%m-%d}", True, 1))
    if symbols[0].symbology != GS1_DATAMATRIX:
        _matrix_with_text(f, symbols[0], x, y, w, h, [*lines, (label.sku, False, 1)])
        return
    lines.append((f"GTIN {symbols[0].data[2:16]}", False, 1))
    linear = symbols[1]
    if f.code128_bar(linear, w) >= 0.25 and h >= f.dots(40):
        upper = int(h * 0.58)
        _matrix_with_text(f, symbols[0], x, y, w, upper, lines, share=0.3)
        hri_h = int(h * 0.08)
        f.code128(linear, x, y + upper + f.dots(1.5), w, h - upper - f.dots(2) - hri_h)
        f.text(linear.hri, x, y + h - hri_h, w, hri_h, max_mm=3, center=True)
    else:
        _matrix_with_text(f, symbols[0], x, y, w, h, lines)


def _document(f: _Format, label: DocumentLabel, x: int, y: int, w: int, h: int) -> None:
    lines = [(label.kind, False, 1), (label.number, True, 2), (label.title, False, 2)]
    _matrix_with_text(f, label.symbols[0], x, y, w, h, lines)


_FORMAT = {LocationLabel: _location, ItemLabel: _item, LotLabel: _lot, DocumentLabel: _document}


def render_zpl(
    labels: Iterable[Label], size: str = "50x30", dpi: int = 203, *, cjk_font: str = DEFAULT_CJK_FONT
) -> str:
    """ZPL for ``labels`` on ``size`` ("WIDTHxHEIGHT" mm, e.g. ``50x30``, ``100x50``) at ``dpi``
    (203 or 300): one ``^XA … ^XZ`` format per label, in order. ``cjk_font`` is the printer-resident
    TrueType font used for text outside Latin-1 (see the module docstring)."""
    if dpi not in ZPL_DPIS:
        raise ValueError(f"dpi must be one of {ZPL_DPIS}")
    width_mm, height_mm = parse_size(size)
    known = LAYOUTS.get(f"{width_mm:g}x{height_mm:g}")
    pad_x, pad_y = (known.padding_x, known.padding_y) if known else (2.0, 1.5)
    formats = []
    for label in labels:
        try:
            draw = _FORMAT[type(label)]
        except KeyError:
            raise TypeError(f"not a label: {label!r}") from None
        f = _Format(width_mm, height_mm, dpi, cjk_font)
        px, py = f.dots(pad_x), f.dots(pad_y)
        f.bleed = px
        draw(f, label, px, py, f.width - 2 * px, f.height - 2 * py)
        formats.append(f.done())
    return "\n".join(formats) + "\n" if formats else ""
