"""Fixtures: an app on a fresh database per test (SQLite always, PostgreSQL when
TEST_DATABASE_URL is set), page and API clients per role, factories, and a ledger check after
every test that touched stock."""

from __future__ import annotations

import os
import re
import shutil
import threading
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from scanapp import create_app
from scanapp.extensions import db

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("TEST_DATABASE_URL")
DB_KINDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
PASSWORD = "correct horse battery"


def _pg_url_for_worker(worker_id: str) -> str:
    url = make_url(PG_URL).set(drivername="postgresql+psycopg")
    # One database per test process (pid too: two suites run at once must not drop each other's).
    name = f"{url.database or 'scanapp_test'}_{worker_id}_{os.getpid()}"
    return url.set(database=name).render_as_string(hide_password=False)


def _run_migrations(url: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(directory=str(ROOT / "migrations"))
        db.engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing():
    """Argon2id at its production cost takes about a second per hash on a busy CI machine, and
    most tests log a user in; the tests hash with the same algorithm at a tiny cost instead."""
    from argon2 import PasswordHasher

    from scanapp.auth import services

    production = services._hasher
    services._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    services._hasher = production


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file, copied for every test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    _run_migrations(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database():
    """A PostgreSQL database for this test process, migrated once; truncated before each test."""
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL not set")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    url = _pg_url_for_worker(worker)
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    _run_migrations(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


def _truncate_pg(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
            )
        ]
        if tables:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=DB_KINDS)
def db_url(request, tmp_path, sqlite_template):
    if request.param == "sqlite":
        path = tmp_path / "scanapp.sqlite3"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_database")
    _truncate_pg(url)
    return url


@pytest.fixture
def app(db_url, tmp_path):
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": db_url,
            "TESTING": True,
            "SECRET_KEY": "test-" + uuid.uuid4().hex,
        }
    )
    app.instance_path = str(tmp_path / "instance")
    yield app
    with app.app_context():
        from scanapp.inventory.queries import ledger_check

        problems = ledger_check()
        db.session.remove()
        db.engine.dispose()
    assert problems == [], f"ledger-check failed after the test: {problems}"


@pytest.fixture
def is_postgres(app) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# --- users and clients -----------------------------------------------------------------------


@pytest.fixture
def make_user(app):
    def make(username: str, role: str = "worker", password: str = PASSWORD):
        from scanapp.auth import services

        with app.app_context():
            user = services.create_user(username, role, password)
            db.session.commit()
            return user.id

    return make


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class PageClient:
    """A Flask test client that logs in through the form and sends the CSRF token like a browser."""

    def __init__(self, app):
        self.app = app
        self.client = app.test_client()
        self.csrf = None

    def refresh_csrf(self, path="/login"):
        page = self.client.get(path)
        match = CSRF_META.search(page.get_data(as_text=True))
        assert match, f"no CSRF token on {path}"
        self.csrf = match.group(1)

    def login(self, username, password=PASSWORD):
        self.refresh_csrf()
        response = self.post("/login", data={"username": username, "password": password})
        self.refresh_csrf("/")
        return response

    def get(self, *args, **kwargs):
        return self.client.get(*args, **kwargs)

    def post(self, path, data=None, csrf=True, htmx=False, **kwargs):
        data = dict(data or {})
        if csrf and self.csrf and "csrf_token" not in data:
            data["csrf_token"] = self.csrf
        headers = kwargs.pop("headers", {})
        if htmx:
            headers["HX-Request"] = "true"
        return self.client.post(path, data=data, headers=headers, **kwargs)


@pytest.fixture
def page_client(app, make_user):
    """page_client(role) → a PageClient logged in as a new user with that role."""

    def make(role="worker", username=None):
        username = username or f"{role}-{uuid.uuid4().hex[:6]}"
        make_user(username, role)
        client = PageClient(app)
        response = client.login(username)
        assert response.status_code == 303, response.get_data(as_text=True)
        return client

    return make


class ApiClient:
    def __init__(self, app, token):
        self.client = app.test_client()
        self.token = token

    def _headers(self, key=None, extra=None):
        # Integrators' scripts usually send no Accept-Language (→ Chinese); tests read English.
        headers = {"Authorization": f"Bearer {self.token}", "Accept-Language": "en"}
        if key:
            headers["Idempotency-Key"] = key
        headers.update(extra or {})
        return headers

    def get(self, path, headers=None, **kwargs):
        return self.client.get("/api/v1" + path, headers=self._headers(extra=headers), **kwargs)

    def post(self, path, json=None, key=None, headers=None, **kwargs):
        return self.client.post("/api/v1" + path, json=json, headers=self._headers(key, headers), **kwargs)

    def move(self, key=None, **body):
        return self.post("/moves", json=body, key=key or uuid.uuid4().hex)


@pytest.fixture
def api_client(app, make_user):
    """api_client(role) → an ApiClient with a bearer token of a new user with that role."""

    def make(role="worker", username=None):
        from scanapp.auth import services

        username = username or f"api-{role}-{uuid.uuid4().hex[:6]}"
        make_user(username, role)
        with app.app_context():
            token = services.create_token(services.user_by_name(username), "test")
            db.session.commit()
        return ApiClient(app, token)

    return make


# --- factories (stock only through the ledger) -----------------------------------------------


@pytest.fixture
def make_warehouse(app):
    def make(code="WH1", name="Main warehouse"):
        from scanapp.inventory import services

        with app.app_context():
            services.create_warehouse(code, name)
            db.session.commit()
        return code

    return make


@pytest.fixture
def make_location(app, make_warehouse):
    created = set()

    def make(code, warehouse="WH1", type_="storage"):
        from scanapp.inventory import queries, services

        with app.app_context():
            if queries.warehouse_by_code(warehouse) is None:
                services.create_warehouse(warehouse, warehouse)
            services.create_location(code, warehouse, code, type_)
            db.session.commit()
        created.add(code)
        return code

    return make


@pytest.fixture
def make_item(app):
    def make(sku, name=None, barcodes=(), **kwargs):
        from scanapp.inventory import services

        specs = [services.BarcodeSpec(b) if isinstance(b, str) else services.BarcodeSpec(*b) for b in barcodes]
        with app.app_context():
            services.create_item(sku, name or f"Item {sku}", barcodes=specs, **kwargs)
            db.session.commit()
        return sku

    return make


@pytest.fixture
def receive(app):
    """receive(sku, location, qty, lot=None, expiry=None) posts a receipt through the ledger."""

    def post(sku, location, qty, lot=None, expiry=None):
        from scanapp.inventory import services

        with app.app_context():
            move = services.move_stock(type="receipt", sku=sku, qty=Decimal(str(qty)), to_location=location,
                                       lot=lot, expiry=expiry, user_id=None)
            db.session.commit()
            return move.id

    return post


@pytest.fixture
def balance(app):
    """balance(sku, location, lot=None) → the on-hand Decimal (0 when there is no row)."""

    def get(sku, location, lot=None):
        from sqlalchemy import select

        from scanapp.inventory import queries
        from scanapp.inventory.models import StockBalance

        with app.app_context():
            item = queries.item_by_sku(sku)
            loc = queries.location_by_code(location)
            stmt = select(StockBalance.qty).where(StockBalance.item_id == item.id, StockBalance.location_id == loc.id)
            if lot is None:
                stmt = stmt.where(StockBalance.lot_id.is_(None))
            else:
                stmt = stmt.where(StockBalance.lot_id == queries.lot_by_number(item.id, lot).id)
            rows = db.session.execute(stmt).scalars().all()
            db.session.remove()
            return rows[0] if rows else Decimal(0)

    return get


@pytest.fixture
def move_count(app):
    def count(**filters):
        from sqlalchemy import func, select

        from scanapp.inventory.models import StockMove

        with app.app_context():
            stmt = select(func.count(StockMove.id))
            for name, value in filters.items():
                stmt = stmt.where(getattr(StockMove, name) == value)
            n = db.session.execute(stmt).scalar_one()
            db.session.remove()
            return n

    return count


# --- concurrency -----------------------------------------------------------------------------


def race(workers: int, fn):
    """Run fn(i) in ``workers`` threads released at once; return their results in order."""
    barrier = threading.Barrier(workers)
    results = [None] * workers
    errors = []

    def run(i):
        try:
            barrier.wait(timeout=30)
            results[i] = fn(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return results
