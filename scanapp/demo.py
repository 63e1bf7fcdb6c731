"""The demo warehouse loaded on first run: locations, items with EAN-13 barcodes, lots, stock, users."""

from __future__ import annotations

import secrets
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from .auth import services as auth
from .auth.models import User
from .clock import today
from .extensions import db
from .inventory import services
from .inventory.models import LocationType

DEMO_USERS = ("admin", "supervisor", "worker")

# (sku, name, category, uom, unit cost, lot-tracked, expiry-tracked, pack size of the case barcode)
DEMO_ITEMS = [
    ("WTR-550", "矿泉水 550ml / Mineral water 550 ml", "饮料 Drinks", "bottle", "1.20", False, False, 24),
    ("TEA-GRN-250", "绿茶 250g / Green tea 250 g", "食品 Food", "box", "38.00", True, True, 20),
    ("RICE-5KG", "东北大米 5kg / Rice 5 kg", "食品 Food", "bag", "42.50", True, True, 4),
    ("MASK-N95", "N95 口罩 / N95 mask", "医药 Pharma", "pcs", "3.80", True, True, 50),
    ("GLOVE-L", "丁腈手套 L / Nitrile gloves L", "劳保 Safety", "box", "26.00", False, False, 10),
    ("BOLT-M8", "六角螺栓 M8×30 / Hex bolt M8×30", "五金 Hardware", "pcs", "0.35", False, False, 100),
    ("CABLE-3M", "USB-C 数据线 3m / USB-C cable 3 m", "电子 Electronics", "pcs", "12.90", False, False, 20),
    ("LABEL-A4", "A4 标签纸 / A4 label paper", "办公 Office", "pack", "18.00", False, False, 5),
    ("OIL-5L", "食用油 5L / Cooking oil 5 l", "食品 Food", "bottle", "65.00", True, True, 4),
    ("VITC-100", "维生素C片 100片 / Vitamin C 100 tablets", "医药 Pharma", "bottle", "22.00", True, True, 12),
]


def ean13(body12: str) -> str:
    """Append the EAN-13 check digit to 12 digits."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body12))
    return body12 + str((10 - total % 10) % 10)


def already_seeded() -> bool:
    return db.session.execute(select(User.id).where(User.username.in_(DEMO_USERS))).first() is not None


def seed() -> dict[str, str]:
    """Load the demo data; returns the generated passwords by username. Flushes, never commits."""
    passwords = {name: secrets.token_urlsafe(9) for name in DEMO_USERS}
    users = {name: auth.create_user(name, name, passwords[name]) for name in DEMO_USERS}

    services.create_warehouse("WH1", "上海中心仓 Shanghai DC")
    services.create_warehouse("WH2", "广州前置仓 Guangzhou hub")
    services.create_location("WH1-RCV", "WH1", "收货区 Receiving", LocationType.RECEIVING.value)
    services.create_location("WH1-QA", "WH1", "待检/隔离区 Quarantine", LocationType.QUARANTINE.value)
    services.create_location("WH1-OUT", "WH1", "发货区 Outbound", LocationType.OUTBOUND.value)
    services.create_location("WH1-TRANSIT", "WH1", "在途 In transit", LocationType.TRANSIT.value)
    storage = []
    for zone in "AB":
        for aisle in range(1, 4):
            for shelf in range(1, 5):
                code = f"WH1-{zone}-{aisle:02d}-{shelf:02d}"
                services.create_location(code, "WH1", f"{zone} 区 {aisle} 排 {shelf} 层")
                storage.append(code)
    services.create_location("WH2-RCV", "WH2", "收货区 Receiving", LocationType.RECEIVING.value)
    for shelf in range(1, 5):
        services.create_location(f"WH2-A-01-{shelf:02d}", "WH2", f"A 区 1 排 {shelf} 层")

    start = today()
    for n, (sku, name, category, uom, cost, lot_tracked, expiry_tracked, pack) in enumerate(DEMO_ITEMS):
        unit = ean13(f"690123450{n:02d}1")
        case = ean13(f"690123450{n:02d}2")
        services.create_item(
            sku, name, category=category, uom=uom, unit_cost=Decimal(cost),
            lot_tracked=lot_tracked, expiry_tracked=expiry_tracked,
            barcodes=[services.BarcodeSpec(unit), services.BarcodeSpec(case, Decimal(pack))],
        )
        home = storage[n * 2 % len(storage)]
        second = storage[(n * 2 + 5) % len(storage)]
        if lot_tracked:
            for k, (where, days, qty) in enumerate(((home, 60 + 30 * n, 40), (second, 200 + 20 * n, 25))):
                services.move_stock(
                    type="receipt", sku=sku, qty=qty, to_location=where, user_id=None,
                    lot=f"L{start:%y%m}{n:02d}{k}", expiry=start + timedelta(days=days), reason="demo",
                )
        else:
            services.move_stock(type="receipt", sku=sku, qty=100 + 10 * n, to_location=home, user_id=None,
                                reason="demo")
    _seed_purchasing(start)
    _demo_moves(storage)
    _demo_orders()
    # An open blind count of aisle WH1-A-01 for the demo worker (the handheld "Count" tile).
    from .count import services as count

    count.create_session(user=users["supervisor"], prefix="WH1-A-01-", counters=["worker"],
                         deadline=start + timedelta(days=3), note="Demo: weekly count of aisle A-01")
    return passwords


def _seed_purchasing(start) -> None:
    """A supplier, WH1's receiving rules, and an open PO for today with lot-tracked lines among them."""
    from .purchasing import services as purchasing

    purchasing.create_supplier("SUP-HUAXIN", "华信商贸 Huaxin Trading")
    purchasing.create_supplier("SUP-GREEN", "绿源食品 Green Source Foods")
    purchasing.save_settings("WH1", over_receipt_pct="5", allow_without_po=True, without_po_role="supervisor",
                             quarantine_location="WH1-QA")
    purchasing.create_purchase_order(
        supplier="SUP-HUAXIN", warehouse="WH1", expected_date=start, open_now=True,
        lines=[("WTR-550", 48, "1.10"), ("TEA-GRN-250", 20, "36.50"), ("GLOVE-L", 10, None), ("MASK-N95", 100, "3.60")],
    )
    purchasing.create_purchase_order(supplier="SUP-GREEN", warehouse="WH1", expected_date=start + timedelta(days=2),
                                     lines=[("RICE-5KG", 40, "41.00"), ("OIL-5L", 12, None)])


def _demo_moves(storage: list[str]) -> None:
    """A delivery waiting at the dock to be put away, and a transfer to Guangzhou on the road."""
    from .moves import services as moves

    services.move_stock(type="receipt", sku="CABLE-3M", qty=40, to_location="WH1-RCV", user_id=None, reason="demo")
    tr = moves.create_transfer(from_warehouse="WH1", to_warehouse="WH2", user_id=None, note="demo", lines=[
        moves.LineSpec("WTR-550", 48, storage[0]), moves.LineSpec("GLOVE-L", 20, storage[8])])
    moves.ship_transfer(tr.number, user_id=None)


def _demo_orders() -> None:
    """A customer and two open sales orders, ready to release onto a pick list."""
    from .orders import services as orders

    orders.create_customer("CUST-001", "华东超市 East China Mart")
    orders.create_order(customer="CUST-001", user_id=None, note="demo", lines=[
        orders.LineSpec("TEA-GRN-250", 30), orders.LineSpec("WTR-550", 48), orders.LineSpec("BOLT-M8", 200)])
    orders.create_order(customer="CUST-001", user_id=None, note="demo", lines=[
        orders.LineSpec("RICE-5KG", 10), orders.LineSpec("MASK-N95", 50)])
