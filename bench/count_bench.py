"""How long a 5,000-line stocktake takes to review and post: submit + variance view + approve.

Run as ``.venv/bin/python bench/count_bench.py`` with ``DATABASE_URL`` naming a PostgreSQL
database (default postgresql://postgres@127.0.0.1/scanapp_bench_count). The database is created
(dropped first if it exists), migrated, filled and dropped again (``--keep`` keeps it).

It builds 100 locations × 50 items (10 of them lot-tracked) = 5,000 count lines, every one with a
difference (so approval posts 5,000 adjustments), with receipts and picks posted while counting.
Then it times, through the JSON API: submit (worker), GET variances (supervisor), approve of all
5,000 lines (supervisor). The target is under 5 s for the three together.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from scanapp import create_app  # noqa: E402
from scanapp.extensions import db  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1/scanapp_bench_count"
LOCATIONS = 100
ITEMS = 50
LOT_ITEMS = 10
TARGET_S = 5.0


def _admin_engine(url):
    target = make_url(url).set(drivername="postgresql+psycopg")
    return target, create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")


def _recreate(url) -> str:
    target, admin = _admin_engine(url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    return target.render_as_string(hide_password=False)


def _drop(url) -> None:
    target, admin = _admin_engine(url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


def _build(app, rng: random.Random):
    """Catalogue, stock (through the ledger), users and tokens, and a counted session; returns
    (session id, number, worker token, supervisor token, moves posted while counting)."""
    from flask_migrate import upgrade

    from scanapp.auth import services as auth
    from scanapp.auth.models import User
    from scanapp.count import services as count
    from scanapp.count.models import CountSession
    from scanapp.inventory import ledger, queries
    from scanapp.inventory import services as inventory
    from scanapp.inventory.models import LocationType, MoveType

    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        inventory.create_warehouse("WH1", "Main warehouse")
        locations = [inventory.create_location(f"WH1-A-{n:03d}", "WH1") for n in range(1, LOCATIONS + 1)]
        items = [inventory.create_item(f"SKU-{n:03d}", f"Item {n}", lot_tracked=n <= LOT_ITEMS,
                                       unit_cost=Decimal(rng.randint(1, 5000)) / 100) for n in range(1, ITEMS + 1)]
        lots = {item.id: ledger.get_or_create_lot(item, f"LOT-{item.sku}") for item in items if item.lot_tracked}
        supplier = inventory.virtual_location(LocationType.SUPPLIER)
        inventory.virtual_location(LocationType.ADJUSTMENT)
        ledger.post_moves([
            ledger.MoveSpec(MoveType.RECEIPT, item, rng.randint(20, 500), supplier, loc, lot=lots.get(item.id))
            for loc in locations for item in items
        ])
        sup = auth.create_user("bench-sup", "supervisor", "bench password 1")
        worker = auth.create_user("bench-worker", "worker", "bench password 1")
        sup_token, worker_token = auth.create_token(sup, "bench"), auth.create_token(worker, "bench")
        session = count.create_session(user=sup, warehouse="WH1")
        session_id, number, worker_id = session.id, session.number, worker.id
        db.session.commit()

        customer = inventory.virtual_location(LocationType.CUSTOMER)
        during = 0
        for loc in locations:
            session = db.session.get(CountSession, session_id)
            worker = db.session.get(User, worker_id)
            for item in items:
                book = queries.on_hand(item.id, loc.id)
                diff = rng.choice([-3, -2, -1, 1, 2, 3])
                count.add_line(session, loc.code, user=worker, sku=item.sku, lot=lots[item.id].number
                               if item.id in lots else None, qty=book + diff, replace=True)
            count.finish_location(session, loc.code, user=worker)
            db.session.commit()
            # Work goes on while counting: a pick and a receipt after this location is done.
            item = rng.choice(items)
            ledger.post_moves([
                ledger.MoveSpec(MoveType.ISSUE, item, 5, loc, customer, lot=lots.get(item.id)),
                ledger.MoveSpec(MoveType.RECEIPT, item, 7, supplier, loc, lot=lots.get(item.id)),
            ])
            db.session.commit()
            during += 2
        db.session.remove()
    return session_id, number, worker_token, sup_token, during


def _expect(response, step: str) -> None:
    if response.status_code != 200:
        raise SystemExit(f"{step} failed: {response.status_code} {response.get_json()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if not url.startswith(("postgresql", "postgres://")):
        print("DATABASE_URL must name a PostgreSQL database", file=sys.stderr)
        return 2
    rng = random.Random(5000)  # the same count every run
    url = _recreate(url)
    try:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": uuid.uuid4().hex})
        start = time.perf_counter()
        session_id, number, worker_token, sup_token, during = _build(app, rng)
        build_s = time.perf_counter() - start

        client = app.test_client()
        worker = {"Authorization": f"Bearer {worker_token}"}
        sup = {"Authorization": f"Bearer {sup_token}"}

        start = time.perf_counter()
        r = client.post(f"/api/v1/counts/{session_id}/submit", headers=worker)
        submit_s = time.perf_counter() - start
        _expect(r, "submit")

        start = time.perf_counter()
        r = client.get(f"/api/v1/counts/{session_id}/variances", headers=sup)
        variances_s = time.perf_counter() - start
        review = r.get_json()
        _expect(r, "variances")
        lines = [line["id"] for line in review["lines"]]

        start = time.perf_counter()
        r = client.post(f"/api/v1/counts/{session_id}/approve", json={"lines": lines}, headers=sup)
        approve_s = time.perf_counter() - start
        result = r.get_json()
        _expect(r, "approve")

        with app.app_context():
            from scanapp.inventory.models import StockMove
            from scanapp.inventory.queries import ledger_check

            posted = db.session.execute(
                select(func.count(StockMove.id)).where(StockMove.document_type == "count",
                                                       StockMove.document_id == number)
            ).scalar_one()
            problems = ledger_check()
            db.session.remove()
            db.engine.dispose()
    finally:
        if not args.keep:
            _drop(url)

    total = submit_s + variances_s + approve_s
    totals = review["totals"]
    print(f"count {number}: {len(lines)} lines ({LOCATIONS} locations × {ITEMS} items, {LOT_ITEMS} lot-tracked), "
          f"{during} moves posted while counting; built in {build_s:.1f} s")
    print(f"variances: {totals['lines_with_difference']} with a difference, value up {totals['value_up']}, "
          f"down {totals['value_down']}, accuracy {totals['accuracy_pct']} %")
    print(f"submit:         {submit_s * 1000:8.0f} ms")
    print(f"variance view:  {variances_s * 1000:8.0f} ms")
    print(f"approve:        {approve_s * 1000:8.0f} ms  ({result['approved']} lines, {result['adjustments']} "
          f"adjustment moves; {posted} in the ledger)")
    print(f"total:          {total * 1000:8.0f} ms  (target < {TARGET_S:.0f} s)")
    print(f"ledger-check:   {'ok' if not problems else problems[:3]}")
    if problems or posted != len(lines) or result["adjustments"] != len(lines):
        print("FAIL: the ledger does not match")
        return 1
    if total >= TARGET_S:
        print(f"FAIL: over the {TARGET_S:.0f} s target")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
