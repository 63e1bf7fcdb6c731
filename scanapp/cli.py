"""Flask commands; each calls the same services as the views and commits once."""

from __future__ import annotations

import csv
import sys
from decimal import Decimal
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade

from .errors import ScanAppError
from .extensions import db
from .labels.cli import print_labels
from .orders.cli import import_orders
from .purchasing.cli import import_purchase_orders


def register(app) -> None:
    for command in (init_db, seed_demo, create_user, create_token, import_items, ledger_check, purge_keys,
                    print_labels, purge_scan_log, import_purchase_orders, import_orders):
        app.cli.add_command(command)


def _fail(exc: ScanAppError):
    db.session.rollback()
    raise click.ClickException(str(exc.message))


@click.command("init-db")
@with_appcontext
def init_db():
    """Create or upgrade the database schema (runs the migrations; safe to run again)."""
    upgrade(directory=str(Path(current_app.root_path).parent / "migrations"))
    click.echo("database is up to date")


@click.command("seed-demo")
@with_appcontext
@click.option("--passwords-file", type=click.Path(dir_okay=False), default=None,
              help="Also write the demo passwords to this file (mode 600).")
def seed_demo(passwords_file):
    """Load the demo warehouse and the users admin, supervisor and worker (only once)."""
    from . import demo

    if demo.already_seeded():
        click.echo("demo data already loaded")
        return
    try:
        passwords = demo.seed()
        db.session.commit()
    except ScanAppError as exc:
        _fail(exc)
    lines = [f"{name:<11} {pw}" for name, pw in passwords.items()]
    if passwords_file:
        path = Path(passwords_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text("\n".join(lines) + "\n")
    if passwords_file:
        click.echo(f"demo warehouse loaded; passwords in {passwords_file}")
        return
    click.echo("demo warehouse loaded; users and passwords:")
    for line in lines:
        click.echo("  " + line)


@click.command("create-user")
@with_appcontext
@click.argument("username")
@click.option("--role", type=click.Choice(["worker", "supervisor", "admin"]), required=True)
@click.option("--password", default=None, help="Asked for when not given.")
def create_user(username, role, password):
    """Create a user with a role."""
    from .auth import services

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        services.create_user(username, role, password)
        db.session.commit()
    except ScanAppError as exc:
        _fail(exc)
    click.echo(f"created {role} {username}")


@click.command("create-token")
@with_appcontext
@click.argument("username")
@click.option("--name", default="cli")
def create_token(username, name):
    """Create an API token for USERNAME and print only the token."""
    from .auth import services

    user = services.user_by_name(username)
    if user is None or not user.active:
        raise click.ClickException(f"no active user {username}")
    token = services.create_token(user, name)
    db.session.commit()
    click.echo(token)


@click.command("import-items")
@with_appcontext
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def import_items(file):
    """Import items from a CSV with a header: sku,name[,barcodes,uom,category,lot_tracked,expiry_tracked,
    unit_cost]; barcodes separated by `|`, a pack barcode as `code*qty`. All rows or none."""
    from .inventory import services

    truthy = {"1", "true", "yes", "y", "是"}
    count = 0
    with open(file, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = {"sku", "name"} - set(reader.fieldnames or [])
        if missing:
            raise click.ClickException(f"the CSV needs the columns: {', '.join(sorted(missing))}")
        try:
            for line_no, row in enumerate(reader, start=2):
                barcodes = []
                for part in (row.get("barcodes") or "").split("|"):
                    code, _sep, pack = part.strip().partition("*")
                    if code:
                        barcodes.append(services.BarcodeSpec(code, Decimal(pack) if pack else Decimal(1)))
                try:
                    services.create_item(
                        row["sku"], row["name"], barcodes=barcodes, uom=row.get("uom") or "pcs",
                        category=row.get("category") or "",
                        lot_tracked=(row.get("lot_tracked") or "").strip().lower() in truthy,
                        expiry_tracked=(row.get("expiry_tracked") or "").strip().lower() in truthy,
                        unit_cost=(row.get("unit_cost") or "0").strip() or "0",
                    )
                except ScanAppError as exc:
                    raise click.ClickException(f"line {line_no}: {exc.message}") from None
                count += 1
        except click.ClickException:
            db.session.rollback()
            raise
        except ArithmeticError:
            db.session.rollback()
            raise click.ClickException("a pack quantity is not a number") from None
    db.session.commit()
    click.echo(f"imported {count} items")


@click.command("ledger-check")
@with_appcontext
def ledger_check():
    """Exit 0 when every balance equals the sum of its moves; otherwise report and exit 1."""
    from .inventory.queries import ledger_check as check

    problems = check()
    if not problems:
        click.echo("ledger ok: every balance equals the sum of its moves")
        return
    click.echo(f"{len(problems)} balance(s) differ from their moves:", err=True)
    for p in problems[:200]:
        click.echo(
            f"  item {p.item_id} location {p.location_id} lot {p.lot_id}: balance {p.balance}, moves {p.moves}",
            err=True,
        )
    sys.exit(1)


@click.command("purge-keys")
@with_appcontext
def purge_keys():
    """Delete idempotency keys older than the retention (SCANAPP_IDEMPOTENCY_DAYS, at least 7)."""
    from .idempotency import purge

    days = max(7, int(current_app.config["SCANAPP_IDEMPOTENCY_DAYS"]))
    removed = purge(days)
    db.session.commit()
    click.echo(f"removed {removed} keys older than {days} days")


@click.command("purge-scan-log")
@with_appcontext
@click.option("--days", type=int, default=None, help="Default: SCANAPP_SCAN_LOG_DAYS (90).")
def purge_scan_log(days):
    """Delete scan-log rows older than the retention."""
    from .scanning.resolve import purge_scan_log as purge

    count = purge(days)
    db.session.commit()
    click.echo(f"deleted {count} scan-log rows")
