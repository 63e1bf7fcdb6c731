"""Ledger invariants under concurrency that tests/test_races.py does not already race: conservation
under a mixed load, one key replayed with different bodies, a move reversed twice at once, and a
real retryable PostgreSQL error (lock timeout, deadlock) that is retried and posts once.

Real threads, each with its own app context, session and connection, released by a barrier;
every race repeated 20 times; SQLite and PostgreSQL (the retry tests need PostgreSQL)."""

import random
import sys
import threading
import time
import uuid
from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, func, select, text

from scanapp.extensions import db
from scanapp.inventory.models import Item, StockBalance, StockMove
from tests.conftest import race

pytestmark = pytest.mark.race
REPEATS = 20
LOCATIONS = ("WH1-A-01", "WH1-A-02", "WH1-A-03")


@pytest.fixture
def shelves(make_location):
    for code in LOCATIONS:
        make_location(code)
    return LOCATIONS


def _ledger_problems(app):
    from scanapp.inventory.queries import ledger_check

    with app.app_context():
        problems = ledger_check()
        db.session.remove()
    return problems


def _service(app, fn, *args, **kwargs):
    """fn(*args, **kwargs) as one unit of work in this thread's own app context and connection."""
    from scanapp.web import run_in_transaction

    with app.app_context():
        try:
            return run_in_transaction(fn, *args, **kwargs)
        finally:
            db.session.remove()


def test_every_balance_equals_the_sum_of_its_moves_under_mixed_load(app, shelves, make_item, receive):
    """Eight workers post random receipts, issues, transfers and scraps of two items (one by lot)
    over three shelves at once; after every round the ledger check finds nothing and the stock on
    hand is what came in minus what went out."""
    from scanapp.inventory import services
    from scanapp.inventory.errors import InsufficientStock

    make_item("MIX")
    make_item("MIXLOT", lot_tracked=True)
    for code in LOCATIONS:
        receive("MIX", code, 5)
        receive("MIXLOT", code, 5, lot="L1")
    net = {"MIX": Decimal(15), "MIXLOT": Decimal(15)}
    lock = threading.Lock()

    def worker(i, rep):
        rng = random.Random(rep * 100 + i)  # noqa: S311 - a reproducible load, not secrets
        for _ in range(6):
            sku = rng.choice(("MIX", "MIXLOT"))
            kind = rng.choice(("receipt", "issue", "transfer", "transfer", "scrap"))
            a, b = rng.sample(LOCATIONS, 2)
            qty = rng.randint(1, 4)
            args = {"type": kind, "sku": sku, "qty": qty, "user_id": None,
                    "lot": "L1" if sku == "MIXLOT" else None}
            if kind == "receipt":
                args["to_location"] = a
            elif kind == "transfer":
                args.update(from_location=a, to_location=b)
            else:
                args["from_location"] = a
            try:
                _service(app, services.move_stock, **args)
            except InsufficientStock:
                continue
            sign = {"receipt": 1, "transfer": 0}.get(kind, -1)
            with lock:
                net[sku] += sign * qty

    for rep in range(REPEATS):
        race(8, lambda i, rep=rep: worker(i, rep))
        assert _ledger_problems(app) == []
        with app.app_context():
            on_hand = dict(db.session.execute(
                select(Item.sku, func.sum(StockBalance.qty)).join(StockBalance.item).group_by(Item.sku)
            ).all())
            negative = db.session.execute(select(func.count()).where(StockBalance.qty < 0)).scalar_one()
            db.session.remove()
        assert {sku: Decimal(q) for sku, q in on_hand.items()} == net
        assert negative == 0


def _post(app, token, body, key):
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "en", "Idempotency-Key": key}
    response = client.post("/api/v1/moves", json=body, headers=headers)
    return response.status_code, response.get_json()


def test_one_key_sent_at_once_with_two_different_bodies_posts_one_of_them(
        app, shelves, make_item, api_client, move_count, balance):
    """A phone that reuses a key for another scan: 20 requests at once with one key, half for 2
    units and half for 3. Exactly one move is posted; every request with the winning body gets
    that move back; every request with the other body gets 422 idempotency_key_reused."""
    token = api_client("worker").token
    make_item("TWIN")
    for rep in range(REPEATS):
        key = f"twin-{rep}"
        bodies = [{"type": "receipt", "sku": "TWIN", "qty": 2 + i % 2, "to_location": "WH1-A-01"}
                  for i in range(20)]
        results = race(20, lambda i, key=key, bodies=bodies: _post(app, token, bodies[i], key))
        winners = {bodies[i]["qty"] for i, (status, _) in enumerate(results) if status == 201}
        assert len(winners) == 1, results
        qty = winners.pop()
        for i, (status, payload) in enumerate(results):
            if bodies[i]["qty"] == qty:
                assert status == 201
            else:
                assert status == 422 and payload["error"]["code"] == "idempotency_key_reused", payload
        assert len({p["move"]["id"] for s, p in results if s == 201}) == 1
        assert move_count(idempotency_key=None) == rep + 1
    total = balance("TWIN", "WH1-A-01")
    assert total >= 2 * REPEATS and total <= 3 * REPEATS


def test_reversing_one_move_twice_at_once_posts_one_reversal(app, shelves, make_item, receive, balance):
    from scanapp.inventory import ledger
    from scanapp.inventory.errors import AlreadyReversed

    make_item("UNDO")
    for rep in range(REPEATS):
        move_id = receive("UNDO", "WH1-A-02", 7)

        def reverse(_i, move_id=move_id):
            try:
                _service(app, ledger.reverse_move, move_id, user_id=None)
                return "reversed"
            except AlreadyReversed:
                return "already"

        assert Counter(race(2, reverse)) == Counter({"reversed": 1, "already": 1}), rep
        with app.app_context():
            reversals = db.session.execute(
                select(func.count()).where(StockMove.reverses_id == move_id)).scalar_one()
            db.session.remove()
        assert reversals == 1
        assert balance("UNDO", "WH1-A-02") == 0


# --- retryable PostgreSQL errors, provoked for real -----------------------------------------------


def _raw_engine(app):
    return create_engine(app.config["SQLALCHEMY_DATABASE_URI"], isolation_level="READ COMMITTED")


def _balance_id(app, sku, location):
    from scanapp.inventory import queries

    with app.app_context():
        item = queries.item_by_sku(sku)
        loc = queries.location_by_code(location)
        row = db.session.execute(select(StockBalance.id).where(
            StockBalance.item_id == item.id, StockBalance.location_id == loc.id)).scalar_one()
        db.session.remove()
    return row


def _thread(results: dict, fn):
    """Start fn in a thread; its result lands in results["id"], an exception in results["error"]."""

    def run():
        try:
            results["id"] = fn()
        except Exception as exc:  # noqa: BLE001 - reported by the test's assertion
            results["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _wait_for_lock_wait(conn, timeout=10.0):
    """Wait until some other backend of this database waits for a row lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))  # else a transaction sees one snapshot
        waiting = conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")).scalar_one()
        if waiting:
            return
        time.sleep(0.01)
    raise AssertionError("the app's transaction never waited for the lock")  # pragma: no cover


def test_a_lock_timeout_is_retried_and_posts_once(app, is_postgres, shelves, make_item, receive, balance,
                                                  move_count):
    """Another session holds the balance row longer than the app's lock_timeout: the first attempt
    fails with SQLSTATE 55P03, the unit of work is retried and the issue posts exactly once."""
    if not is_postgres:
        pytest.skip("lock_timeout is PostgreSQL's")
    from scanapp.inventory import services

    make_item("HELD")
    receive("HELD", "WH1-A-01", 30)
    row_id = _balance_id(app, "HELD", "WH1-A-01")
    engine = _raw_engine(app)
    try:
        for rep in range(REPEATS):
            attempts = []

            def issue(attempts=attempts):
                attempts.append(1)
                db.session.execute(text("SET LOCAL lock_timeout = '100ms'"))
                return services.move_stock(type="issue", sku="HELD", qty=1,
                                           from_location="WH1-A-01", user_id=None).id

            results = {}
            with engine.connect() as holder:
                holder.execute(text("SELECT id FROM stock_balance WHERE id = :id FOR UPDATE"), {"id": row_id})
                thread = _thread(results, lambda: _service(app, issue))
                _wait_for_lock_wait(holder)
                time.sleep(0.15)  # past the first attempt's lock_timeout
                holder.rollback()
            thread.join(30)
            assert results.get("id"), f"rep {rep}: the issue did not post: {results}"
            assert len(attempts) >= 2, f"rep {rep}: the lock never timed out"
        assert move_count(type="issue") == REPEATS
        assert balance("HELD", "WH1-A-01") == 30 - REPEATS
    finally:
        engine.dispose()


def test_a_deadlock_is_retried_and_posts_once(app, is_postgres, shelves, make_item, receive, balance, move_count):
    """A real deadlock: the app's transfer locks shelf 1 and waits for shelf 2, which another
    session holds and which then asks for shelf 1. PostgreSQL aborts the app's transaction (it
    checks for deadlocks sooner), the transfer is retried once the other commits, and posts once."""
    if not is_postgres:
        pytest.skip("deadlock detection is PostgreSQL's")
    from scanapp.inventory import services

    make_item("KNOT")
    receive("KNOT", "WH1-A-01", 100)
    receive("KNOT", "WH1-A-02", 100)
    first, second = _balance_id(app, "KNOT", "WH1-A-01"), _balance_id(app, "KNOT", "WH1-A-02")
    engine = _raw_engine(app)
    try:
        for rep in range(REPEATS):
            attempts = []

            def transfer(attempts=attempts):
                attempts.append(1)
                if len(attempts) == 1:
                    db.session.execute(text("SET LOCAL deadlock_timeout = '50ms'"))
                return services.move_stock(type="transfer", sku="KNOT", qty=1, from_location="WH1-A-01",
                                           to_location="WH1-A-02", user_id=None).id

            results = {}
            with engine.connect() as other:
                other.execute(text("SET deadlock_timeout = '10s'"))
                other.execute(text("UPDATE stock_balance SET updated_at = updated_at WHERE id = :id"),
                              {"id": second})
                thread = _thread(results, lambda: _service(app, transfer))
                _wait_for_lock_wait(other)
                other.execute(text("UPDATE stock_balance SET updated_at = updated_at WHERE id = :id"),
                              {"id": first})
                other.commit()
            thread.join(30)
            assert results.get("id"), f"rep {rep}: the transfer did not post: {results}"
            assert len(attempts) == 2, f"rep {rep}: {len(attempts)} attempts"
        assert move_count(type="transfer") == REPEATS
        assert balance("KNOT", "WH1-A-01") == 100 - REPEATS
        assert balance("KNOT", "WH1-A-02") == 100 + REPEATS
    finally:
        engine.dispose()


def _database_setting(engine, setting: str) -> None:
    """ALTER DATABASE <this one> <setting>: applies to connections opened from now on."""
    with engine.connect() as conn:
        name = conn.execute(text("SELECT current_database()")).scalar_one()
        conn.execute(text(f'ALTER DATABASE "{name}" {setting}'))
        conn.commit()


def test_a_request_whose_lock_times_out_is_retried_over_http(app, is_postgres, shelves, make_item, receive,
                                                              api_client, move_count):
    """The same through the API with the key: the client sees one 201, never the database error."""
    if not is_postgres:
        pytest.skip("lock_timeout is PostgreSQL's")
    make_item("HTTPHELD")
    receive("HTTPHELD", "WH1-A-03", 5)
    row_id = _balance_id(app, "HTTPHELD", "WH1-A-03")
    token = api_client("worker").token
    engine = _raw_engine(app)
    _database_setting(engine, "SET lock_timeout = '100ms'")
    with app.app_context():
        db.engine.dispose()  # the app's next connections wait at most 100 ms for a row lock
    try:
        body = {"type": "issue", "sku": "HTTPHELD", "qty": 1, "from_location": "WH1-A-03"}
        result = {}
        with engine.connect() as holder:
            holder.execute(text("SET lock_timeout = 0"))
            holder.execute(text("SELECT id FROM stock_balance WHERE id = :id FOR UPDATE"), {"id": row_id})
            key = uuid.uuid4().hex
            thread = _thread(result, lambda: _post(app, token, body, key))
            _wait_for_lock_wait(holder)
            time.sleep(0.25)
            holder.rollback()
        thread.join(30)
        status, payload = result["id"]
        assert status == 201, payload
        assert move_count(type="issue") == 1
    finally:
        _database_setting(engine, "RESET lock_timeout")
        engine.dispose()
        with app.app_context():
            db.engine.dispose()


def _drop_app_connections(engine) -> int:
    """What a PostgreSQL restart does to the app's pooled connections: the server closes them."""
    with engine.connect() as conn:
        dropped = conn.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar_one()
        conn.commit()
    return dropped


@pytest.fixture
def worker_who_just_posted(app, is_postgres, shelves, make_item, receive, api_client):
    """PostgreSQL only: a worker whose first scan (an issue of DROPPED from WH1-A-01, 5 there) has
    just left its connection in the app's pool; yields (api client, a separate engine)."""
    if not is_postgres:
        pytest.skip("the server dropping connections is PostgreSQL's")
    make_item("DROPPED")
    receive("DROPPED", "WH1-A-01", 5)
    api = api_client("worker")
    assert api.move(type="issue", sku="DROPPED", qty=1, from_location="WH1-A-01").status_code == 201
    engine = _raw_engine(app)
    yield api, engine
    engine.dispose()


def test_a_connection_dropped_while_idle_is_replaced_before_use(worker_who_just_posted, move_count, monkeypatch):
    """The server restarted while the pool sat idle: the next scan is pinged onto a new connection
    and posts, the worker sees nothing of it."""
    api, engine = worker_who_just_posted
    monkeypatch.setattr(sys.modules["scanapp.db"], "IDLE_PING_SECONDS", 0.2)
    assert _drop_app_connections(engine) >= 1
    time.sleep(0.3)
    response = api.move(type="issue", sku="DROPPED", qty=1, from_location="WH1-A-01")
    assert response.status_code == 201, response.get_json()
    assert move_count(type="issue") == 2


def test_a_connection_dropped_while_busy_answers_503_and_the_keyed_retry_posts_once(
        worker_who_just_posted, move_count, balance):
    """A connection dropped between two scans of a busy handheld (no ping: it was just used): the
    scan gets a clear 503 and writes nothing; the retry with its key posts once; reads recover."""
    api, engine = worker_who_just_posted
    assert _drop_app_connections(engine) >= 1
    key = uuid.uuid4().hex
    response = api.move(key=key, type="issue", sku="DROPPED", qty=1, from_location="WH1-A-01")
    assert response.status_code == 503
    assert response.get_json()["error"]["message"] == \
        "The database connection was reset. Nothing was saved; try again."
    assert move_count(type="issue") == 1
    for _attempt in range(2):
        response = api.move(key=key, type="issue", sku="DROPPED", qty=1, from_location="WH1-A-01")
        assert response.status_code == 201, response.get_json()
    assert move_count(type="issue") == 2
    assert balance("DROPPED", "WH1-A-01") == 3

    assert _drop_app_connections(engine) >= 1
    assert api.get("/stock?sku=DROPPED").status_code == 503
    response = api.get("/stock?sku=DROPPED")
    assert response.status_code == 200 and response.get_json()["items"][0]["qty"] == 3


def test_a_connection_lost_during_commit_is_not_retried():
    """Lost before COMMIT: nothing was written, run the unit again. Lost during COMMIT: it may have
    been written, so no blind retry (the client's keyed retry replays instead)."""
    from sqlalchemy.exc import DBAPIError

    from scanapp.web import is_retryable

    lost = DBAPIError("COMMIT", {}, OSError("server closed the connection"), connection_invalidated=True)
    assert is_retryable(lost)
    assert not is_retryable(lost, committing=True)
    deadlock = DBAPIError("UPDATE", {}, type("Deadlock", (Exception,), {"sqlstate": "40P01"})())
    assert is_retryable(deadlock, committing=True)  # a deadlock or serialisation failure never committed
