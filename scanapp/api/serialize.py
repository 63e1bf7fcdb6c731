"""JSON shapes of the API's objects (quantities as JSON numbers)."""

from __future__ import annotations

from ..inventory.models import Item, Location, StockBalance, StockMove, Warehouse


def warehouse(w: Warehouse) -> dict:
    return {"code": w.code, "name": w.name}


def location(loc: Location) -> dict:
    return {
        "code": loc.code,
        "name": loc.name,
        "type": loc.type.value,
        "warehouse": loc.warehouse.code if loc.warehouse else None,
        "virtual": loc.is_virtual,
        "active": loc.active,
    }


def item(i: Item) -> dict:
    return {
        "sku": i.sku,
        "name": i.name,
        "category": i.category,
        "uom": i.uom,
        "whole_units": i.whole_units,
        "lot_tracked": i.lot_tracked,
        "expiry_tracked": i.expiry_tracked,
        "unit_cost": i.unit_cost,
        "barcodes": [{"code": b.code, "pack_qty": b.pack_qty} for b in i.barcodes],
    }


def balance(b: StockBalance) -> dict:
    return {
        "sku": b.item.sku,
        "location": b.location.code,
        "lot": b.lot.number if b.lot else None,
        "expiry": b.lot.expiry.isoformat() if b.lot and b.lot.expiry else None,
        "qty": b.qty,
        "reserved": b.reserved,
        "available": b.available,
    }


def move(m: StockMove) -> dict:
    return {
        "id": m.id,
        "type": m.type.value,
        "sku": m.item.sku,
        "lot": m.lot.number if m.lot else None,
        "expiry": m.lot.expiry.isoformat() if m.lot and m.lot.expiry else None,
        "from_location": m.from_location.code,
        "to_location": m.to_location.code,
        "qty": m.qty,
        "unit_cost": m.unit_cost,
        "user": m.user.username if m.user else None,
        "document": {"type": m.document_type, "id": m.document_id} if m.document_type else None,
        "reason": m.reason,
        "reverses": m.reverses_id,
        "created_at": m.created_at.isoformat() + "Z",
    }
