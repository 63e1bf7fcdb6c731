"""Printable labels for locations, items, lots and documents: PDF sheets and ZPL.

Pure (no Flask, no database): the labels page, the API and the CLI build the dataclasses from
their rows and call `render_pdf` or `render_zpl`.
"""

from scanapp.labels.layouts import LAYOUTS, Layout, Margins
from scanapp.labels.render import (
    DocumentLabel,
    ItemLabel,
    Label,
    LabelFontMissing,
    LocationLabel,
    LotLabel,
    Symbol,
    render_pdf,
)
from scanapp.labels.zpl import ZPL_DPIS, render_zpl

__all__ = [
    "LAYOUTS",
    "ZPL_DPIS",
    "DocumentLabel",
    "ItemLabel",
    "Label",
    "LabelFontMissing",
    "Layout",
    "LocationLabel",
    "LotLabel",
    "Margins",
    "Symbol",
    "render_pdf",
    "render_zpl",
]
