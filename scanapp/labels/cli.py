"""``flask print-labels``: batch label printing from the command line, through `labels.service`."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..errors import ScanAppError
from ..extensions import db
from . import service
from .layouts import LAYOUTS
from .zpl import ZPL_DPIS


@click.command("print-labels")
@click.argument("kind", type=click.Choice(service.KINDS))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="The file to write (- for standard output, e.g. to pipe ZPL to a printer).")
@click.option("--format", "fmt", type=click.Choice(service.FORMATS), default="pdf", show_default=True)
@click.option("--layout", type=click.Choice(list(LAYOUTS)), default=None,
              help="Default: a4-3x8 for PDF; for ZPL 100x50 (locations, lots, documents) or 50x30 (items).")
@click.option("--size", default=None, help="WIDTHxHEIGHT in mm, e.g. 60x40 (instead of --layout).")
@click.option("--margins", default=None, help="Page margins in mm: 5, '10,5' or '10,5,10,5'.")
@click.option("--skip", "start", type=int, default=0, show_default=True,
              help="Labels already used on the first sheet.")
@click.option("--dpi", type=click.Choice([str(d) for d in ZPL_DPIS]), default="203", show_default=True,
              help="ZPL printer resolution.")
@click.option("--copies", type=click.IntRange(1, service.MAX_COPIES), default=1, show_default=True)
@click.option("--warehouse", help="locations: the warehouse code.")
@click.option("--prefix", default="", help="locations: the code prefix, e.g. WH1-A.")
@click.option("--from", "first", default=None, help="locations: the first code (inclusive).")
@click.option("--to", "last", default=None, help="locations: the last code (inclusive, with the ones below it).")
@click.option("--arrow", type=click.Choice(service.ARROWS), default=None, help="locations: an arrow to the shelf.")
@click.option("--sku", "skus", multiple=True,
              help="items: SKUs (repeat; none: every active item); lots: the item.")
@click.option("--category", default=None, help="items: only this category.")
@click.option("--lot", "lots", multiple=True, help="lots: lot numbers (repeat).")
@click.option("--document-kind", type=click.Choice(["PO", "SO", "PL", "CNT"]), default=None,
              help="documents: the kind.")
@click.option("--number", "numbers", multiple=True, help="documents: document numbers (repeat).")
@click.option("--title", default="", help="documents: a line under the number.")
@with_appcontext
def print_labels(kind, output, fmt, layout, size, margins, start, dpi, copies, warehouse, prefix, first, last,
                 arrow, skus, category, lots, document_kind, numbers, title):
    """Write location, item, lot or document labels to a PDF or ZPL file.

    \b
    flask print-labels locations --warehouse WH1 --prefix WH1-A --layout a4-3x8 -o labels.pdf
    flask print-labels items --sku SKU-1 --sku SKU-2 --format zpl --dpi 300 -o items.zpl
    flask print-labels lots --sku SKU-1 --lot L2405 --layout 100x50 -o lot.pdf
    """
    try:
        options = service.print_options(format=fmt, layout=layout, size=size, margins=margins, dpi=dpi,
                                        start=start, default=service.default_layout(kind, fmt))
        if kind == "locations":
            if not warehouse:
                raise click.UsageError("locations need --warehouse")
            labels = service.location_labels(warehouse, prefix, first, last, arrow)
        elif kind == "items":
            labels = service.item_labels(skus, category)
        elif kind == "lots":
            if len(skus) > 1:
                raise click.UsageError("lots take one --sku")
            labels = service.lot_labels(skus[0] if skus else None, lots)
        else:
            labels = service.document_labels(document_kind or "", numbers, title)
        rendered = service.render_labels(service.repeat(labels, copies), options)
    except ScanAppError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc.message)) from None
    with click.open_file(output, "wb") as fh:  # "-": standard output
        fh.write(rendered.data)
    if output != "-":
        what = f"{rendered.pages} pages" if rendered.extension == "pdf" else "ZPL"
        click.echo(f"wrote {rendered.labels} labels ({what}) to {output}")
