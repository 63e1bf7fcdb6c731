"""Where labels go on paper: sheet grids for office printers and one-label pages for label printers.

All dimensions are millimetres, measured from the top-left corner of the page as label stock
vendors publish them. A layout's default margins and gaps match a common label stock, so a sheet
printed at 100 % ("actual size", not "fit to page") lands on the die-cut labels.

``padding`` is the blank band kept inside every label; it also adds to the symbols' quiet zones.
Sheet layouts also keep everything ``printable_inset`` (4.5 mm) from the paper's edge, because office
printers cannot print the outer ~4 mm and stock such as 70×37 mm runs to the paper's edge: without
it the outer labels would lose text and QR finder patterns. One-label pages (label printers, which
print to the label's edge) instead let linear barcodes' quiet zones run into the padding.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["LAYOUTS", "Layout", "Margins", "parse_size"]

A4 = (210.0, 297.0)
LETTER = (215.9, 279.4)
IN = 25.4


@dataclass(frozen=True)
class Margins:
    top: float
    right: float
    bottom: float
    left: float

    @classmethod
    def of(cls, value: float | tuple[float, ...] | Margins) -> Margins:
        """One number for all sides, or 2/4 numbers in CSS order (top right bottom left)."""
        if isinstance(value, Margins):
            return value
        if isinstance(value, int | float):
            return cls(value, value, value, value)
        values = tuple(float(v) for v in value)
        if len(values) == 2:
            return cls(values[0], values[1], values[0], values[1])
        if len(values) == 4:
            return cls(*values)
        raise ValueError("margins_mm takes one number, (vertical, horizontal) or (top, right, bottom, left)")


@dataclass(frozen=True)
class Layout:
    """A page of ``cols`` × ``rows`` labels of ``label_w`` × ``label_h`` mm."""

    name: str
    description: str
    page_w: float
    page_h: float
    cols: int
    rows: int
    label_w: float
    label_h: float
    margin_top: float = 0.0
    margin_left: float = 0.0
    gap_x: float = 0.0
    gap_y: float = 0.0
    padding_x: float = 2.0
    padding_y: float = 1.5
    printable_inset: float = 0.0  # office printers leave ~4 mm of the paper's edge blank

    def content_box(self, position: int) -> tuple[float, float, float, float]:
        """Where the label at ``position`` may draw: (x, y from the top, width, height), the cell
        less its padding and kept inside the printer's printable area."""
        x, y = self.cells()[position]
        left = max(x + self.padding_x, self.printable_inset)
        right = min(x + self.label_w - self.padding_x, self.page_w - self.printable_inset)
        top = max(y + self.padding_y, self.printable_inset)
        bottom = min(y + self.label_h - self.padding_y, self.page_h - self.printable_inset)
        return left, top, right - left, bottom - top

    @property
    def per_page(self) -> int:
        return self.cols * self.rows

    @property
    def single(self) -> bool:
        """One label per page: a label printer's roll, where the page *is* the label."""
        return self.per_page == 1

    def cells(self) -> list[tuple[float, float]]:
        """Top-left corner (x, y from the top) of every label, row by row."""
        pitch_x, pitch_y = self.label_w + self.gap_x, self.label_h + self.gap_y
        return [
            (self.margin_left + c * pitch_x, self.margin_top + r * pitch_y)
            for r in range(self.rows)
            for c in range(self.cols)
        ]

    def with_margins(self, margins_mm: float | tuple[float, ...] | Margins) -> Layout:
        """This layout with other page margins; the labels are resized to fill what is left.

        On a one-label page the margins shrink the printed area inside the label instead (for a
        printer that cannot print to the label's edge).
        """
        m = Margins.of(margins_mm)
        if min(m.top, m.right, m.bottom, m.left) < 0:
            raise ValueError("margins cannot be negative")
        label_w = (self.page_w - m.left - m.right - self.gap_x * (self.cols - 1)) / self.cols
        label_h = (self.page_h - m.top - m.bottom - self.gap_y * (self.rows - 1)) / self.rows
        if label_w < 15 or label_h < 10:
            raise ValueError(f"margins leave labels of {label_w:.1f}×{label_h:.1f} mm: too small")
        return replace(self, margin_top=m.top, margin_left=m.left, label_w=label_w, label_h=label_h)


def parse_size(size: str) -> tuple[float, float]:
    """``"50x30"`` → (50.0, 30.0) millimetres (``×`` and upper-case ``X`` also accepted)."""
    text = size.lower().replace("×", "x").removesuffix("mm").strip()
    w, sep, h = text.partition("x")
    try:
        width, height = float(w), float(h)
    except ValueError:
        raise ValueError(f"label size {size!r} is not WIDTHxHEIGHT in millimetres") from None
    if not sep or not (15 <= width <= 300 and 10 <= height <= 300):
        raise ValueError(f"label size {size!r} is not WIDTHxHEIGHT in millimetres (15–300)")
    return width, height


def _single(w: float, h: float, padding_x: float, padding_y: float) -> Layout:
    return Layout(
        name=f"{w:g}x{h:g}",
        description=f"one {w:g}×{h:g} mm label per page (label printers)",
        page_w=w,
        page_h=h,
        cols=1,
        rows=1,
        label_w=w,
        label_h=h,
        padding_x=padding_x,
        padding_y=padding_y,
    )


LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout(
            "a4-3x8", "A4, 24 labels 70×37 mm (3×8, no side margins)", *A4,
            cols=3, rows=8, label_w=70, label_h=37, margin_top=0.5, padding_x=2.5, padding_y=1.5,
            printable_inset=4.5,
        ),
        Layout(
            "a4-2x7", "A4, 14 labels 99.1×38.1 mm (2×7, L7163-type)", *A4,
            cols=2, rows=7, label_w=99.1, label_h=38.1, margin_top=15.15, margin_left=4.65, gap_x=2.5,
            padding_x=3.0, padding_y=1.5, printable_inset=4.5,
        ),
        Layout(
            "letter-3x10", "Letter, 30 labels 2⅝×1 in (3×10, 5160-type)", *LETTER,
            cols=3, rows=10, label_w=2.625 * IN, label_h=1 * IN, margin_top=0.5 * IN, margin_left=0.1875 * IN,
            gap_x=0.125 * IN, padding_x=2.0, padding_y=1.2, printable_inset=4.5,
        ),
        Layout(
            "letter-2x5", "Letter, 10 labels 4×2 in (2×5, 5163-type)", *LETTER,
            cols=2, rows=5, label_w=4 * IN, label_h=2 * IN, margin_top=0.5 * IN, margin_left=0.15625 * IN,
            gap_x=0.1875 * IN, padding_x=3.0, padding_y=2.0, printable_inset=4.5,
        ),
        _single(50, 30, padding_x=1.5, padding_y=1.0),
        _single(100, 50, padding_x=3.0, padding_y=2.5),
    )
}
