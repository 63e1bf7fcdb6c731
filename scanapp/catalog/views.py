"""Items, locations and warehouses: lists, detail pages with stock, and the admin's create forms."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from ..auth.access import AUTHENTICATED, access
from ..auth.models import Role
from ..extensions import db
from ..forms import checkbox, parse_int
from ..inventory import queries, services
from ..inventory.models import PHYSICAL_TYPES, Item, Location, Warehouse
from ..web import render, write

bp = Blueprint("catalog", __name__)

PAGE_SIZE = 50


@bp.get("/items")
@access(AUTHENTICATED)
def items():
    """Items, searchable by SKU, name or barcode."""
    q = request.args.get("q", "").strip()[:60]
    page = parse_int(request.args.get("page"), 1, minimum=1, maximum=100000)
    stmt = select(Item)
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(Item.sku.like(like, escape="\\"), Item.name.like(like, escape="\\")))
    total = db.session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = db.session.execute(
        stmt.order_by(Item.sku).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).scalars().all()
    return render("catalog/items.html", "catalog/_items_table.html", items=rows, q=q, page=page,
                  pages=max(1, -(-total // PAGE_SIZE)), total=total)


@bp.post("/items")
@access(Role.ADMIN)
@write()
def create_item():
    """Create an item with its barcodes (one per line, `code` or `code*pack`)."""
    form = request.form
    barcodes = []
    for line in form.get("barcodes", "").splitlines():
        line = line.strip()
        if not line:
            continue
        code, _sep, pack = line.partition("*")
        barcodes.append(services.BarcodeSpec(code.strip(), pack.strip() or "1"))
    item = services.create_item(
        form.get("sku", ""),
        form.get("name", ""),
        barcodes=barcodes,
        uom=form.get("uom", "pcs"),
        category=form.get("category", ""),
        lot_tracked=checkbox(form, "lot_tracked"),
        expiry_tracked=checkbox(form, "expiry_tracked"),
        whole_units=not checkbox(form, "fractional"),
        unit_cost=form.get("unit_cost", "") or "0",
    )
    flash(_("Item %(sku)s created.", sku=item.sku), "success")
    return redirect(url_for("catalog.item", sku=item.sku), 303)


@bp.get("/items/<path:sku>")
@access(AUTHENTICATED)
def item(sku: str):
    """One item: barcodes, stock per location and lot, recent moves."""
    row = queries.item_by_sku(sku) or abort(404)
    stock = queries.stock(queries.StockFilter(item_id=row.id))
    moves = queries.ledger_latest(item_id=row.id, limit=20)
    return render("catalog/item.html", item=row, stock=stock, moves=moves,
                  on_hand=sum((b.qty for b in stock), start=0))


@bp.get("/locations")
@access(AUTHENTICATED)
def locations():
    """Locations of a warehouse, searchable by code prefix."""
    warehouses = db.session.execute(select(Warehouse).order_by(Warehouse.code)).scalars().all()
    warehouse_id = parse_int(request.args.get("warehouse"))
    prefix = request.args.get("q", "").strip()[:60]
    page = parse_int(request.args.get("page"), 1, minimum=1, maximum=100000)
    stmt = select(Location).where(Location.type.in_(PHYSICAL_TYPES))
    if warehouse_id:
        stmt = stmt.where(Location.warehouse_id == warehouse_id)
    if prefix:
        esc = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Location.code.like(esc + "%", escape="\\"))
    total = db.session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = db.session.execute(
        stmt.order_by(Location.code).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).scalars().all()
    return render(
        "catalog/locations.html", "catalog/_locations_table.html",
        locations=rows, warehouses=warehouses, warehouse_id=warehouse_id, q=prefix, page=page,
        pages=max(1, -(-total // PAGE_SIZE)), total=total, types=PHYSICAL_TYPES,
    )


@bp.post("/locations")
@access(Role.ADMIN)
@write()
def create_location():
    """Create a location in a warehouse."""
    form = request.form
    loc = services.create_location(form.get("code", ""), form.get("warehouse", ""), form.get("name", ""),
                                   form.get("type", "storage"))
    flash(_("Location %(code)s created.", code=loc.code), "success")
    return redirect(url_for("catalog.location", code=loc.code), 303)


@bp.post("/warehouses")
@access(Role.ADMIN)
@write()
def create_warehouse():
    """Create a warehouse."""
    wh = services.create_warehouse(request.form.get("code", ""), request.form.get("name", ""))
    flash(_("Warehouse %(code)s created.", code=wh.code), "success")
    return redirect(url_for("catalog.locations", warehouse=wh.id), 303)


@bp.get("/locations/<path:code>")
@access(AUTHENTICATED)
def location(code: str):
    """One location: what is in it, and its recent moves."""
    row = queries.location_by_code(code) or abort(404)
    stock = queries.stock(queries.StockFilter(location_id=row.id))
    moves = queries.ledger_latest(location_id=row.id, limit=20)
    return render("catalog/location.html", location=row, stock=stock, moves=moves)
