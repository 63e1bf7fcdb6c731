"""`flask import-purchase-orders FILE`: the same import as the page, all rows or none."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from ..extensions import db
from . import services
from .errors import ImportFailed


@click.command("import-purchase-orders")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def import_purchase_orders(file):
    """Import purchase orders from CSV or XLSX (number,supplier,warehouse,sku,qty,unit_cost); all or nothing."""
    path = Path(file)
    try:
        created = services.import_purchase_orders(services.read_rows(path.name, path.read_bytes()))
        db.session.commit()
    except ImportFailed as exc:
        db.session.rollback()
        lines = [str(exc.message)] + [f"row {row}: {message}" for row, message in exc.errors]
        raise click.ClickException("\n".join(lines)) from None
    for po in created:
        click.echo(f"{po.number}\t{po.supplier.code}\t{len(po.lines)} lines")
    click.echo(f"{len(created)} purchase orders imported")
