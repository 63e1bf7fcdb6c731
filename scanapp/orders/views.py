"""Office pages for supervisors: customers, orders (create, import, release), pick lists with live
progress, shortages and the locations flagged for a count."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from ..auth.access import access
from ..auth.models import Role, User
from ..extensions import db
from ..inventory.models import Location, LocationType
from ..web import BadRequest, render, write
from . import services
from .models import OrderKind, OrderStatus, PickLine, PickLineStatus

bp = Blueprint("orders", __name__)

LABELS = {
    "sale": _l("Sale"), "production": _l("Production issue"), "transfer": _l("Transfer"),
    "open": _l("Open"), "released": _l("Released"), "picking": _l("Picking"), "picked": _l("Picked"),
    "shipped": _l("Shipped"), "cancelled": _l("Cancelled"), "short": _l("Short"),
    "pick": _l("Picked"), "ship": _l("Shipped"),
}


@bp.app_template_filter("order_label")
def order_label(value) -> str:
    """The words for an order/pick-list kind or status value, in the reader's language."""
    value = getattr(value, "value", value)
    return str(LABELS.get(value, value))

MAX_UPLOAD = 5 * 1024 * 1024


def kinds():
    return [(k.value, order_label(k)) for k in OrderKind]


def statuses():
    return [(s.value, order_label(s)) for s in OrderStatus]


@bp.get("/customers")
@access(Role.SUPERVISOR)
def customers():
    """Customers, and a form to add one."""
    return render("orders/customers.html", customers=services.list_customers())


@bp.post("/customers")
@access(Role.SUPERVISOR)
@write()
def create_customer():
    """Add a customer."""
    c = services.create_customer(request.form.get("code", ""), request.form.get("name", ""))
    flash(_("Customer %(code)s added.", code=c.code), "success")
    return redirect(url_for("orders.customers"), 303)


@bp.get("/orders")
@access(Role.SUPERVISOR)
def orders():
    """Orders, newest first; choose open ones to release onto a pick list."""
    status = request.args.get("status") or None
    workers = db.session.execute(select(User).where(User.active.is_(True)).order_by(User.username)).scalars().all()
    return render("orders/orders.html", orders=services.list_orders(status), status=status, statuses=statuses(),
                  workers=workers, releasable=services.releasable)


@bp.get("/orders/new")
@access(Role.SUPERVISOR)
def new_order():
    """A form for a new order: customer or destination, lines as "SKU quantity" rows."""
    return render("orders/new.html", customers=services.list_customers(), kinds=kinds(), form={},
                  destinations=_destinations())


def _destinations():
    return db.session.execute(
        select(Location).where(Location.type.in_([LocationType.PRODUCTION, LocationType.TRANSIT]),
                               Location.active.is_(True)).order_by(Location.code)
    ).scalars().all()


def _parse_lines(text: str) -> list[services.LineSpec]:
    lines = []
    for n, raw in enumerate((text or "").splitlines(), start=1):
        parts = raw.replace(",", " ").replace("\t", " ").split()
        if not parts:
            continue
        if len(parts) != 2:
            raise BadRequest(_("Line %(n)s: write the SKU and the quantity, e.g. SKU-1 12.", n=n), code="invalid_lines")
        lines.append(services.LineSpec(parts[0], parts[1]))
    return lines


@bp.post("/orders")
@access(Role.SUPERVISOR)
@write()
def create_order():
    """Create an order from the form."""
    form = request.form
    order = services.create_order(
        lines=_parse_lines(form.get("lines", "")), user_id=current_user.id, kind=form.get("kind", "sale"),
        customer=form.get("customer") or None, number=form.get("number") or None,
        destination=form.get("destination") or None, note=form.get("note", ""),
    )
    flash(_("Order %(number)s created.", number=order.number), "success")
    return redirect(url_for("orders.order", number=order.number), 303)


@bp.post("/orders/import")
@access(Role.SUPERVISOR)
@write()
def import_orders():
    """Import orders from a CSV or XLSX file (columns: order, customer, sku, qty; optional kind,
    warehouse, destination)."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise BadRequest(_("Choose a CSV or XLSX file."), code="missing_file")
    data = upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise BadRequest(_("The file is too large (at most 5 MB)."), code="file_too_large")
    made = services.import_orders(services.read_table(upload.filename, data), user_id=current_user.id)
    flash(_("%(count)s orders imported.", count=len(made)), "success")
    return redirect(url_for("orders.orders"), 303)


@bp.get("/orders/<number>")
@access(Role.SUPERVISOR)
def order(number: str):
    """One order: lines with picked, shipped and backorder quantities, and its pick lines."""
    o = services.get_order(number)
    picks = db.session.execute(
        select(PickLine).join(PickLine.order_line).where(PickLine.order_line_id.in_([ln.id for ln in o.lines]))
        .order_by(PickLine.pick_list_id, PickLine.seq)
    ).scalars().all()
    return render("orders/order.html", order=o, picks=picks)


@bp.post("/orders/release")
@access(Role.SUPERVISOR)
@write()
def release():
    """Release the chosen orders onto one pick list (batch picking) and reserve their stock."""
    refs = request.form.getlist("order")
    pl = services.release(refs, user_id=current_user.id, assigned_to=request.form.get("assigned_to") or None)
    flash(_("Pick list %(number)s released.", number=pl.number), "success")
    return redirect(url_for("orders.pick_list", number=pl.number), 303)


@bp.get("/pick-lists")
@access(Role.SUPERVISOR)
def pick_lists():
    """Pick lists, newest first, with their progress."""
    return render("orders/pick_lists.html", lists=services.list_pick_lists())


@bp.get("/pick-lists/<number>")
@access(Role.SUPERVISOR)
def pick_list(number: str):
    """A pick list with live progress (the table polls), shortages and who picked what."""
    pl = services.get_pick_list(number)
    return render("orders/pick_list.html", "orders/_pick_list_progress.html", pl=pl,
                  events=services.events(pl), shortage=services.shortage)


@bp.post("/pick-lists/<number>/cancel")
@access(Role.SUPERVISOR)
@write()
def cancel_pick_list(number: str):
    """Stop picking a list: open lines are closed, their reservations released, the rest backordered."""
    pl = services.get_pick_list(number)
    closed = services.cancel_open_lines(pl, user_id=current_user.id, reason=_("Cancelled by %(name)s",
                                                                          name=current_user.username))
    flash(_("%(count)s open lines cancelled; their stock is available again.", count=closed), "success")
    return redirect(url_for("orders.pick_list", number=pl.number), 303)


@bp.get("/pick-lists/shortages")
@access(Role.SUPERVISOR)
def shortages():
    """Short-picked lines and open backorders."""
    short = db.session.execute(
        select(PickLine).where(PickLine.status == PickLineStatus.SHORT).order_by(PickLine.id.desc()).limit(500)
    ).scalars().all()
    return render("orders/shortages.html", lines=short, flags=services.open_flags())


@bp.get("/count-flags")
@access(Role.SUPERVISOR)
def flags():
    """Locations flagged for a cycle count (e.g. after a short pick)."""
    return render("orders/flags.html", flags=services.open_flags())


@bp.post("/count-flags/<int:flag_id>/clear")
@access(Role.SUPERVISOR)
@write()
def clear_flag(flag_id: int):
    """Clear a flag (the location was counted)."""
    services.clear_flag(flag_id, user_id=current_user.id)
    return redirect(url_for("orders.flags"), 303)
