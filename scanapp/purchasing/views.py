"""Office pages of purchasing (supervisors and admins, desktop or tablet): suppliers, purchase
orders with their lines and live progress, import, receiving settings, returns to supplier."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ..auth.access import access
from ..auth.models import Role
from ..errors import ScanAppError
from ..extensions import db
from ..forms import checkbox, parse_date
from ..inventory.models import Location, Warehouse
from ..web import render, write
from . import services
from .errors import ImportFailed
from .models import POStatus

bp = Blueprint("purchasing", __name__)

MAX_UPLOAD = 5 * 1024 * 1024


def _warehouses():
    return db.session.execute(select(Warehouse).order_by(Warehouse.code)).scalars().all()


@bp.get("/suppliers")
@access(Role.SUPERVISOR)
def suppliers():
    """Suppliers, and a form to add one."""
    return render("purchasing/suppliers.html", suppliers=services.suppliers())


@bp.post("/suppliers")
@access(Role.SUPERVISOR)
@write()
def create_supplier():
    """Create a supplier from the form."""
    supplier = services.create_supplier(request.form.get("code", ""), request.form.get("name", ""))
    flash(_("Supplier %(code)s created.", code=supplier.code), "success")
    return redirect(url_for("purchasing.suppliers"), 303)


@bp.get("/purchase-orders")
@access(Role.SUPERVISOR)
def orders():
    """Purchase orders, newest first, filtered by status."""
    status = request.args.get("status", "")
    return render("purchasing/orders.html", "purchasing/_orders_table.html", orders=services.purchase_orders(status),
                  current_status=status, statuses=list(POStatus))


@bp.get("/purchase-orders/new")
@access(Role.SUPERVISOR)
def new_order():
    """The form for a new purchase order (a draft; lines are added next)."""
    return render("purchasing/new.html", suppliers=services.suppliers(), warehouses=_warehouses())


@bp.post("/purchase-orders")
@access(Role.SUPERVISOR)
@write()
def create_order():
    """Create a draft PO and go to it to add lines."""
    form = request.form
    po = services.create_purchase_order(
        supplier=form.get("supplier", ""), number=form.get("number") or None, warehouse=form.get("warehouse") or None,
        expected_date=parse_date(form.get("expected_date"), _("Expected date")), note=form.get("note", ""),
        lines=[], user_id=current_user.id,
    )
    return redirect(url_for("purchasing.order", number=po.number), 303)


def _order_page(po, status=200, error=None):
    return render("purchasing/order.html", "purchasing/_order_body.html", status=status, po=po,
                  moves=services.order_moves(po), totals=services.totals(po), error=error)


@bp.get("/purchase-orders/<number>")
@access(Role.SUPERVISOR)
def order(number: str):
    """A PO: lines with live progress, every move posted against it, and its actions."""
    return _order_page(services.po_by_number(number))


@bp.get("/purchase-orders/<number>/progress")
@access(Role.SUPERVISOR)
def order_progress(number: str):
    """The PO's lines and moves (polled every few seconds by the PO page)."""
    po = services.po_by_number(number)
    return render("purchasing/_order_progress.html", po=po, moves=services.order_moves(po),
                  totals=services.totals(po))


@bp.post("/purchase-orders/<number>/lines")
@access(Role.SUPERVISOR)
@write()
def add_line(number: str):
    """Add a line to a draft PO."""
    po = services.po_by_number(number)
    try:
        services.add_line(po, services.LineSpec(request.form.get("sku", ""), request.form.get("qty", ""),
                                                request.form.get("unit_cost") or None))
    except ScanAppError as exc:
        return _order_page(po, 422, str(exc.message))
    return _order_page(po)


@bp.post("/purchase-orders/<number>/lines/<int:line_id>/delete")
@access(Role.SUPERVISOR)
@write()
def remove_line(number: str, line_id: int):
    """Remove a line from a draft PO."""
    po = services.po_by_number(number)
    services.remove_line(po, line_id)
    return _order_page(po)


@bp.post("/purchase-orders/<number>/open")
@access(Role.SUPERVISOR)
@write()
def open_order(number: str):
    """Draft → open: workers can receive it."""
    po = services.open_order(services.po_by_number(number))
    flash(_("Purchase order %(number)s is open for receiving.", number=po.number), "success")
    return redirect(url_for("purchasing.order", number=po.number), 303)


@bp.post("/purchase-orders/<number>/close")
@access(Role.SUPERVISOR)
@write()
def close_order(number: str):
    """Close the PO (short when not every line is received in full)."""
    po = services.close_order(services.po_by_number(number))
    flash(_("Purchase order %(number)s closed short.", number=po.number) if po.closed_short
          else _("Purchase order %(number)s closed.", number=po.number), "success")
    return redirect(url_for("purchasing.order", number=po.number), 303)


@bp.get("/purchase-orders/import")
@access(Role.SUPERVISOR)
def import_page():
    """Upload a CSV or Excel file of purchase orders."""
    return render("purchasing/import.html")


@bp.post("/purchase-orders/import")
@access(Role.SUPERVISOR)
@write()
def import_orders():
    """Import POs from the uploaded file: all rows or none, with the problems listed by row."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return render("purchasing/import.html", status=422, message=_("Choose a CSV or Excel (.xlsx) file."),
                      errors=[])
    data = upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return render("purchasing/import.html", status=413, message=_("The upload is too large."), errors=[])
    try:
        created = services.import_purchase_orders(services.read_rows(upload.filename, data), user_id=current_user.id)
    except ImportFailed as exc:
        db.session.rollback()
        return render("purchasing/import.html", status=422, message=str(exc.message), errors=exc.errors)
    return render("purchasing/import.html", created=created)


@bp.get("/settings/receiving")
@access(Role.ADMIN)
def settings():
    """Receiving settings per warehouse: tolerance, receipts without a PO, quarantine."""
    rows = [(wh, services.settings_for(wh.id)) for wh in _warehouses()]
    quarantines = db.session.execute(select(Location).where(Location.warehouse_id.is_not(None))
                                     .order_by(Location.code)).scalars().all()
    return render("purchasing/settings.html", rows=rows, locations=quarantines, roles=list(Role))


@bp.post("/settings/receiving")
@access(Role.ADMIN)
@write()
def save_settings():
    """Save one warehouse's receiving settings."""
    form = request.form
    services.save_settings(form.get("warehouse", ""), over_receipt_pct=form.get("over_receipt_pct", "0"),
                           allow_without_po=checkbox(form, "allow_without_po"),
                           without_po_role=form.get("without_po_role", "supervisor"),
                           quarantine_location=form.get("quarantine_location") or None)
    flash(_("Receiving settings of %(code)s saved.", code=form.get("warehouse", "")), "success")
    return redirect(url_for("purchasing.settings"), 303)


@bp.get("/returns/new")
@access(Role.WORKER)
def new_return():
    """Return stock to a supplier: from quarantine or stock, against a PO or just the supplier."""
    return render("purchasing/return.html", "purchasing/_return_form.html", suppliers=services.suppliers(),
                  form={"po": request.args.get("po", "")[:40]})


@bp.post("/returns")
@access(Role.WORKER)
@write(idempotent=True)
def post_return():
    """Post a return to supplier; a repeated submission (same key) posts once."""
    form = request.form
    try:
        move = services.return_to_supplier(
            po_number=form.get("po") or None, supplier=form.get("supplier") or None, sku=form.get("sku", ""),
            qty=form.get("qty", ""), from_location=form.get("from_location", ""), lot=form.get("lot") or None,
            reason=form.get("reason", ""), user_id=current_user.id, idempotency_key=form.get("idempotency_key"),
        )
    except ScanAppError as exc:
        return render("purchasing/return.html", "purchasing/_return_form.html", status=exc.status,
                      suppliers=services.suppliers(), form=form.to_dict(), error=str(exc.message))
    return render("purchasing/return.html", "purchasing/_return_form.html", suppliers=services.suppliers(),
                  form={}, posted=move)




@bp.app_template_global("totals")
def _totals(po):
    return services.totals(po)
