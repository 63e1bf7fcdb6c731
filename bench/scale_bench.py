"""Data scale: 100,000 items, 5,000 locations and 1,000,000 ledger moves in PostgreSQL.

Run as ``.venv/bin/python bench/scale_bench.py`` (``make bench-scale``). The first run builds the
database ``scanapp_bench_scale`` (BENCH_SCALE_DB) on BENCH_PG_SERVER (postgresql://postgres@
127.0.0.1:5432) with bulk INSERT … SELECT — a few minutes — and keeps it, so later runs only
migrate it (new indexes apply) and measure; ``--rebuild`` builds it again, ``--drop`` removes it.

The data follow the ledger's rules: every item has two home locations; its first moves are
receipts into them, later ones transfers between them and issues from them, in id order, so no
balance ever goes below zero; balances are then computed as the sums of the moves, and the app's
own ledger check runs at the end of every run.

Measured in-process through the Flask test client (routing, query, JSON/HTML; no network),
each as p50/p95 over many random items or locations; for the stock of one item also the app's
own time from its Server-Timing header (the test client's own work left out):
  stock of one item (API, target ≤ 5 ms; also the bare SQL), a location's contents (API),
  the stock-on-hand page (50 rows, with filters, target ≤ 200 ms), an item's ledger (API, first
  and a later page; and the ledger page), and posting one more move (API) — compared with the
  same post on an empty database.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, create_database, database_exists, drop_database, machine, percentile, pg_url, verdict  # noqa: E402

DB_NAME = os.environ.get("BENCH_SCALE_DB", "scanapp_bench_scale")
ITEMS, LOCATIONS, MOVES = 100_000, 5_000, 1_000_000
WAREHOUSES = 5
PASSWORD = "bench password 1"
STOCK_ITEM_MS, STOCK_PAGE_MS = 5, 200
VIRTUAL = "('supplier', 'customer', 'adjustment', 'scrap')"


def make_app(url: str):
    from scanapp import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False})


def _upgrade(app) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))


def _users(app) -> tuple[str, int]:
    """The bench users (created once) and a fresh API token for the worker."""
    from scanapp.auth import services as auth
    from scanapp.extensions import db

    with app.app_context():
        worker = auth.user_by_name("scale-worker") or auth.create_user("scale-worker", "worker", PASSWORD)
        if auth.user_by_name("scale-super") is None:
            auth.create_user("scale-super", "supervisor", PASSWORD)
        token = auth.create_token(worker, "scale bench")
        worker_id = worker.id
        db.session.commit()
        db.session.remove()
    return token, worker_id


# --- the generator ------------------------------------------------------------------------------


def build(app) -> float:
    """Fill an empty, migrated database; returns seconds taken."""
    from sqlalchemy import text

    from scanapp.extensions import db
    from scanapp.inventory import services as inventory
    from scanapp.inventory.models import LocationType

    started = time.perf_counter()
    _token, worker_id = _users(app)
    with app.app_context():
        supplier = inventory.virtual_location(LocationType.SUPPLIER).id
        customer = inventory.virtual_location(LocationType.CUSTOMER).id
        db.session.commit()
        step = time.perf_counter()

        def run(label: str, sql: str, **params) -> None:
            nonlocal step
            for statement in filter(str.strip, sql.split(";")):
                db.session.execute(text(statement), params)
            print(f"  {label}: {time.perf_counter() - step:.1f} s", flush=True)
            step = time.perf_counter()

        run("warehouses and 5,000 locations", f"""
            INSERT INTO warehouse (code, name, created_at)
              SELECT 'WH' || w, 'Warehouse ' || w, now() FROM generate_series(1, {WAREHOUSES}) w;
            INSERT INTO location (code, name, type, warehouse_id, active, created_at)
              SELECT wh.code || '-' || chr(65 + z) || '-' || lpad(a::text, 2, '0') || '-' || lpad(s::text, 2, '0'),
                     '', 'storage', wh.id, true, now()
              FROM warehouse wh, generate_series(0, 9) z, generate_series(1, 10) a, generate_series(1, 10) s
              WHERE wh.code LIKE 'WH%';
        """)
        run("100,000 items (2 % lot-tracked, one lot each)", f"""
            INSERT INTO item (sku, name, category, uom, whole_units, lot_tracked, expiry_tracked,
                              min_shelf_life_days, unit_cost, active, created_at)
              SELECT 'SKU-' || lpad(n::text, 6, '0'),
                     (ARRAY['Bolt','Nut','Washer','Cable','Bracket','Hinge','Filter','Valve','Sensor','Label'])
                       [1 + n % 10] || ' ' || (n % 997) || ' mm, type ' || n,
                     'Category ' || (n % 20), 'pcs', true, n % 50 = 0, false, 0, (n % 997) / 10.0, true, now()
              FROM generate_series(1, {ITEMS}) n;
            INSERT INTO lot (item_id, number, expiry, created_at)
              SELECT id, 'L' || id, date '2027-06-30', now() FROM item WHERE lot_tracked;
        """)
        run("index tables", """
            CREATE TEMP TABLE loc_ix AS
              SELECT (row_number() OVER (ORDER BY id) - 1)::int AS ix, id FROM location WHERE type = 'storage';
            CREATE TEMP TABLE item_ix AS
              SELECT (row_number() OVER (ORDER BY i.id) - 1)::int AS ix, i.id, i.unit_cost, l.id AS lot_id,
                     ((row_number() OVER (ORDER BY i.id) - 1) * 7919 % 5000)::int AS a
              FROM item i LEFT JOIN lot l ON l.item_id = i.id;
            ALTER TABLE item_ix ADD COLUMN b int;
            UPDATE item_ix SET b = (a + 1 + (ix * 31) % 4999) % 5000;
            CREATE UNIQUE INDEX ON loc_ix (ix);
            CREATE UNIQUE INDEX ON item_ix (ix);
            ANALYZE loc_ix; ANALYZE item_ix;
        """)
        # Move n belongs to item n % ITEMS in round n / ITEMS: round 0 receives 1,000 into the
        # item's location a, round 1 receives 500 into b; later rounds transfer a → b, issue from a
        # or issue from b, 1–5 each. Receipts come first in id order, so no balance ever dips
        # below zero, and the moves of one item are spread over the whole table, as in real life.
        run("1,000,000 moves", f"""
            INSERT INTO stock_move (created_at, type, item_id, lot_id, from_location_id, to_location_id, qty,
                                    unit_cost, user_id, reason)
              SELECT now() - interval '365 days' + g.n * interval '31 seconds',
                     CASE WHEN g.r < 2 THEN 'receipt' WHEN g.r % 3 = 2 THEN 'transfer' ELSE 'issue' END,
                     it.id, it.lot_id,
                     CASE WHEN g.r < 2 THEN :supplier WHEN g.r % 3 = 0 THEN lb.id ELSE la.id END,
                     CASE WHEN g.r = 0 THEN la.id WHEN g.r = 1 THEN lb.id WHEN g.r % 3 = 2 THEN lb.id
                          ELSE :customer END,
                     CASE WHEN g.r = 0 THEN 1000 WHEN g.r = 1 THEN 500 ELSE 1 + (g.n * 13) % 5 END,
                     it.unit_cost, :worker, ''
              FROM (SELECT n, n / {ITEMS} AS r, n % {ITEMS} AS ix FROM generate_series(0, {MOVES - 1}) n) g
              JOIN item_ix it ON it.ix = g.ix
              JOIN loc_ix la ON la.ix = it.a
              JOIN loc_ix lb ON lb.ix = it.b
              ORDER BY g.n;
        """, supplier=supplier, customer=customer, worker=worker_id)
        run("balances = sums of the moves", f"""
            INSERT INTO stock_balance (item_id, location_id, lot_id, qty, updated_at)
              SELECT item_id, loc, lot_id, sum(q), now() FROM (
                SELECT m.item_id, m.to_location_id AS loc, m.lot_id, m.qty AS q
                  FROM stock_move m JOIN location l ON l.id = m.to_location_id WHERE l.type NOT IN {VIRTUAL}
                UNION ALL
                SELECT m.item_id, m.from_location_id, m.lot_id, -m.qty
                  FROM stock_move m JOIN location l ON l.id = m.from_location_id WHERE l.type NOT IN {VIRTUAL}
              ) x GROUP BY item_id, loc, lot_id;
        """)
        db.session.commit()  # one transaction: the temporary tables live on its connection
        db.session.remove()
    analyze(app)
    return time.perf_counter() - started


def analyze(app) -> None:
    from sqlalchemy import text

    from scanapp.extensions import db

    with app.app_context(), db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def counts(app) -> dict:
    from sqlalchemy import text

    from scanapp.extensions import db

    with app.app_context():
        row = db.session.execute(text("""
            SELECT (SELECT count(*) FROM item), (SELECT count(*) FROM location WHERE type = 'storage'),
                   (SELECT count(*) FROM stock_move), (SELECT count(*) FROM stock_balance)""")).one()
        db.session.remove()
    return {"items": row[0], "locations": row[1], "moves": row[2], "balances": row[3]}


# --- measuring ----------------------------------------------------------------------------------


def timed(fn, n: int, label: str, results: list, *, expect=200) -> list[float]:
    """Call fn(i) n times after two warm-up calls; record p50/p95 in ms under ``label``.

    fn returns an HTTP status, or a response: then the app's own time from its Server-Timing
    header is recorded too, under ``label + " (server)"``."""
    from scanapp.headers import server_ms

    for i in range(2):
        fn(-1 - i)
    samples, server = [], []
    for i in range(n):
        start = time.perf_counter()
        outcome = fn(i)
        samples.append((time.perf_counter() - start) * 1000)
        status = getattr(outcome, "status_code", outcome)
        if hasattr(outcome, "headers") and server_ms(outcome) is not None:
            server.append(server_ms(outcome))
        if expect is not None and status != expect:
            raise SystemExit(f"{label}: HTTP {status}")
    for name, values in ((label, samples), (f"{label} (server)", server)):
        if values:
            values.sort()
            results.append((name, percentile(values, 50), percentile(values, 95), n))
            print(f"  {name:58} p50 {percentile(values, 50):7.1f} ms   p95 {percentile(values, 95):7.1f} ms   "
                  f"(n={n})", flush=True)
    return samples


def measure(url: str, token: str, rng: random.Random) -> tuple[list, dict]:
    from sqlalchemy import select

    from scanapp.extensions import db
    from scanapp.inventory import queries
    from scanapp.inventory.models import Location, StockBalance, Warehouse

    app = make_app(url)
    api = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    page = app.test_client()
    r = page.post("/login", data={"username": "scale-super", "password": PASSWORD})
    if r.status_code != 303:
        raise SystemExit(f"login failed: {r.status_code}")
    with app.app_context():
        stocked = db.session.execute(
            select(StockBalance.item_id, StockBalance.location_id).where(StockBalance.qty > 10)
            .order_by(StockBalance.id).limit(20000)
        ).all()
        sample = rng.sample(stocked, 400)
        from scanapp.inventory.models import Item

        wanted = {i for i, _ in sample}
        rows = db.session.execute(select(Item.id, Item.sku, Item.lot_tracked).where(Item.id.in_(wanted)))
        skus, lot_tracked = {}, set()
        for item_id, sku, has_lots in rows:
            skus[item_id] = sku
            if has_lots:
                lot_tracked.add(sku)
        codes = dict(db.session.execute(select(Location.id, Location.code).where(Location.type == "storage")).all())
        warehouses = dict(db.session.execute(select(Warehouse.code, Warehouse.id)).all())
        db.session.remove()
    picks = [(skus[i], codes[loc]) for i, loc in sample]
    code_list = sorted(codes.values())
    results: list = []

    def get(client, path, headers=None):
        return lambda i: client.get(path(i), headers=headers).status_code

    timed(lambda i: api.get(f"/api/v1/stock?sku={picks[i][0]}", headers=auth), 200,
          "stock of one item: GET /api/v1/stock?sku=", results)
    with app.app_context():
        item_ids = [queries.item_by_sku(sku).id for sku, _ in picks[:200]]

        def bare(i):
            queries.on_hand(item_ids[i])
            return 200

        timed(bare, 198, "stock of one item: the SQL alone (queries.on_hand)", results)
        db.session.remove()
    timed(get(api, lambda i: f"/api/v1/stock?location={rng.choice(code_list)}", auth), 200,
          "a location's contents: GET /api/v1/stock?location=", results)
    timed(get(page, lambda i: "/stock"), 30, "stock page, 50 rows, no filter: GET /stock", results)
    timed(get(page, lambda i: f"/stock?warehouse={warehouses['WH3']}&page=20"), 30,
          "stock page, warehouse filter, page 20", results)
    timed(get(page, lambda i: f"/stock?q={picks[i][0][:9]}"), 30, "stock page, search SKU prefix (q=SKU-0123)",
          results)
    timed(get(page, lambda i: f"/stock?q={picks[i][1][:6]}&warehouse={warehouses[picks[i][1][:3]]}"), 30,
          "stock page, search location zone + warehouse (q=WH2-C-)", results)
    timed(get(page, lambda i: "/stock?q=Valve"), 30, "stock page, search name (q=Valve)", results)
    timed(get(api, lambda i: f"/api/v1/ledger?sku={picks[i][0]}&limit=50", auth), 200,
          "ledger of an item: GET /api/v1/ledger?sku=&limit=50", results)
    cursors = {}

    def ledger_page2(i):
        sku = picks[i][0]
        if sku not in cursors:
            first = api.get(f"/api/v1/ledger?sku={sku}&limit=5", headers=auth).get_json()
            cursors[sku] = first["next_cursor"] or "0"
        return api.get(f"/api/v1/ledger?sku={sku}&limit=5&cursor={cursors[sku]}", headers=auth).status_code

    for i in range(-2, 100):
        ledger_page2(i)  # fetch the cursors first; the timed call is the second page
    timed(ledger_page2, 100, "ledger of an item, next page: GET /api/v1/ledger?cursor=", results)
    timed(get(page, lambda i: f"/ledger?sku={picks[i][0]}"), 50, "ledger page of an item: GET /ledger?sku=",
          results)
    plain = [(sku, code) for sku, code in picks if sku not in lot_tracked]  # the post names no lot
    post = post_moves(app, token, plain, "posting one more move (1,000,000 moves)", results)
    with app.app_context():
        db.engine.dispose()
    return results, post


def post_moves(app, token: str, picks, label: str, results: list, n: int = 200) -> list[float]:
    client = app.test_client()

    def one(i):
        sku, code = picks[i % len(picks)]
        r = client.post("/api/v1/moves", json={"type": "issue", "sku": sku, "qty": 1, "from_location": code},
                        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex})
        return r.status_code

    return timed(one, n, f"{label}: POST /api/v1/moves", results, expect=201)


def empty_database_post(results: list) -> list[float]:
    """The same post on a database holding only what it needs."""
    from scanapp.extensions import db
    from scanapp.inventory import ledger
    from scanapp.inventory import services as inventory
    from scanapp.inventory.models import LocationType, MoveType

    url = pg_url(f"scanapp_bench_scale_empty_{os.getpid()}")
    create_database(url)
    try:
        app = make_app(url)
        _upgrade(app)
        token, _worker = _users(app)
        with app.app_context():
            inventory.create_warehouse("WH1", "Warehouse 1")
            locs = [inventory.create_location(f"WH1-A-01-{n:02d}", "WH1") for n in range(1, 11)]
            items = [inventory.create_item(f"SKU-{n:06d}", f"Item {n}") for n in range(1, 21)]
            supplier = inventory.virtual_location(LocationType.SUPPLIER)
            inventory.virtual_location(LocationType.CUSTOMER)
            picks = [(item.sku, locs[n % 10].code) for n, item in enumerate(items)]
            ledger.post_moves([ledger.MoveSpec(MoveType.RECEIPT, item, 100000, supplier, locs[n % 10])
                               for n, item in enumerate(items)])
            db.session.commit()
            db.session.remove()
        samples = post_moves(app, token, picks, "posting one more move (empty database)", results)
        with app.app_context():
            db.engine.dispose()
        return samples
    finally:
        drop_database(url)


def ledger_check(url: str) -> tuple[list, float]:
    from scanapp.extensions import db
    from scanapp.inventory.queries import ledger_check as check

    app = make_app(url)
    started = time.perf_counter()
    with app.app_context():
        problems = check()
        db.session.remove()
        db.engine.dispose()
    return problems, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="build the database again")
    parser.add_argument("--drop", action="store_true", help="drop the kept database and exit")
    args = parser.parse_args()
    url = pg_url(DB_NAME)
    if args.drop:
        drop_database(url)
        print(f"dropped {DB_NAME}")
        return 0
    print(f"data-scale bench — {machine(pg_url('postgres'))}")
    app = make_app(url)
    reuse = not args.rebuild and database_exists(url)
    if reuse:
        _upgrade(app)
        have = counts(app)
        reuse = have["items"] >= ITEMS and have["locations"] >= LOCATIONS and have["moves"] >= MOVES
    if not reuse:
        print(f"building {DB_NAME}: {ITEMS:,} items, {LOCATIONS:,} locations, {MOVES:,} moves …", flush=True)
        create_database(url)
        _upgrade(app)
        print(f"built in {build(app):.0f} s")
    else:
        analyze(app)
    have = counts(app)
    print(f"{DB_NAME}{' (kept from an earlier run)' if reuse else ''}: {have['items']:,} items, "
          f"{have['locations']:,} locations, {have['moves']:,} moves, {have['balances']:,} balances")
    token, _worker = _users(app)
    rng = random.Random(100)
    results, post_big = measure(url, token, rng)
    post_empty = empty_database_post(results)
    problems, check_s = ledger_check(url)
    print(f"  ledger-check over {have['moves']:,}+ moves: {'ok' if not problems else f'{len(problems)} mismatches'} "
          f"({check_s:.1f} s)")

    by_label = {label: (p50, p95) for label, p50, p95, _n in results}
    stock_p50 = by_label["stock of one item: GET /api/v1/stock?sku="][0]
    stock_server_p50 = by_label["stock of one item: GET /api/v1/stock?sku= (server)"][0]
    sql_p50 = by_label["stock of one item: the SQL alone (queries.on_hand)"][0]
    page_p95 = max(p95 for label, _p50, p95, _n in results if label.startswith("stock page"))
    big, empty = percentile(post_big, 50), percentile(post_empty, 50)
    print("\ntargets:")
    lines = [
        (f"stock of one item ≤ {STOCK_ITEM_MS} ms server time (p50): {stock_server_p50:.1f} ms in the app "
         f"(Server-Timing), {stock_p50:.1f} ms with the test client, {sql_p50:.2f} ms the SQL",
         stock_server_p50 <= STOCK_ITEM_MS),
        (f"stock page, 50 rows with filters ≤ {STOCK_PAGE_MS} ms (worst p95 of the variants): {page_p95:.0f} ms",
         page_p95 <= STOCK_PAGE_MS),
        (f"posting one more move no slower than on an empty database (p50): {big:.1f} ms vs {empty:.1f} ms "
         f"(within 20 %)", big <= empty * 1.2),
        ("ledger-check holds", not problems),
    ]
    for text, ok in lines:
        print(f"  {verdict(ok)}  {text}")
    if problems:
        print(f"FAIL: ledger-check: {problems[:3]}")
        return 1
    if os.environ.get("BENCH_STRICT") == "1" and not all(ok for _t, ok in lines):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
