"""`flask import-orders FILE`: orders from a CSV or XLSX file, all or none."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from ..errors import ScanAppError
from ..extensions import db


@click.command("import-orders")
@with_appcontext
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def import_orders(file):
    """Import orders from CSV/XLSX with a header: order,customer,sku,qty[,kind,warehouse,destination];
    rows with the same order number make one order. All rows or none."""
    from . import services

    path = Path(file)
    try:
        made = services.import_orders(services.read_table(path.name, path.read_bytes()), user_id=None)
    except ScanAppError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc.message)) from None
    db.session.commit()
    click.echo(f"imported {len(made)} orders: {', '.join(o.number for o in made)}")
