"""The handheld home, stock on hand, the ledger, and the move form."""

from __future__ import annotations

from flask import Blueprint, abort, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ..auth.access import AUTHENTICATED, access
from ..auth.models import Role
from ..extensions import db
from ..forms import parse_date, parse_int
from ..inventory import queries, services
from ..inventory.models import MoveType, Warehouse
from ..web import render, write

bp = Blueprint("stock", __name__)

PAGE_SIZE = 50


@bp.get("/")
@access(AUTHENTICATED)
def home():
    """The handheld home: big buttons to each workflow."""
    return render("stock/home.html")


@bp.get("/stock")
@access(AUTHENTICATED)
def stock_on_hand():
    """Stock on hand by location, item and lot, with filters."""
    warehouses = db.session.execute(select(Warehouse).order_by(Warehouse.code)).scalars().all()
    warehouse_id = parse_int(request.args.get("warehouse"))
    search = request.args.get("q", "").strip()[:60]
    page = parse_int(request.args.get("page"), 1, minimum=1, maximum=100000)
    flt = queries.StockFilter(warehouse_id=warehouse_id, search=search)
    rows = queries.stock(flt, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    total = queries.stock_count(flt)
    return render(
        "stock/stock.html", "stock/_stock_table.html",
        rows=rows, total=total, page=page, pages=max(1, -(-total // PAGE_SIZE)),
        warehouses=warehouses, warehouse_id=warehouse_id, q=search,
    )


@bp.get("/ledger")
@access(AUTHENTICATED)
def ledger():
    """The stock ledger, newest first, filtered by item and location."""
    sku = request.args.get("sku", "").strip()[:60]
    code = request.args.get("location", "").strip()[:60]
    before = parse_int(request.args.get("before"))
    item = queries.item_by_sku(sku) if sku else None
    location = queries.location_by_code(code) if code else None
    unknown = (sku and item is None) or (code and location is None)
    moves = [] if unknown else queries.ledger_latest(
        item_id=item.id if item else None,
        location_id=location.id if location else None,
        before_id=before,
        limit=PAGE_SIZE,
    )
    return render(
        "stock/ledger.html", "stock/_ledger_table.html",
        moves=moves, sku=sku, location=code, unknown=unknown,
        next_before=moves[-1].id if len(moves) == PAGE_SIZE else None,
    )


@bp.get("/moves/new")
@access(Role.WORKER)
def new_move():
    """A form to post one move: receipt, issue, transfer, scrap, return or adjustment."""
    return render("stock/move.html", "stock/_move_form.html", types=_move_types(), form={})


@bp.post("/moves")
@access(Role.WORKER)
@write(idempotent=True)
def post_move():
    """Post a move from the form; a repeated submission (same key) posts once."""
    form = request.form
    move_type = form.get("type", "")
    if move_type == MoveType.ADJUSTMENT.value and not current_user.has_role(Role.SUPERVISOR):
        abort(403)
    move = services.move_stock(
        type=move_type,
        sku=form.get("sku", ""),
        qty=form.get("qty", ""),
        from_location=form.get("from_location") or None,
        to_location=form.get("to_location") or None,
        lot=form.get("lot") or None,
        expiry=parse_date(form.get("expiry"), _("Expiry")),
        reason=form.get("reason", ""),
        user_id=current_user.id,
        idempotency_key=form.get("idempotency_key"),
    )
    return render(
        "stock/move.html", "stock/_move_posted.html", types=_move_types(), form={"type": move_type}, posted=move,
        oob_key=True,
    )


def _move_types():
    types = [
        (MoveType.RECEIPT.value, _("Receipt")),
        (MoveType.TRANSFER.value, _("Transfer")),
        (MoveType.ISSUE.value, _("Issue")),
        (MoveType.SCRAP.value, _("Scrap")),
        (MoveType.RETURN.value, _("Return to supplier")),
    ]
    if current_user.has_role(Role.SUPERVISOR):
        types.append((MoveType.ADJUSTMENT.value, _("Adjustment")))
    return types
