"""Real gunicorn servers on a scratch PostgreSQL database, for the crash and scale-out tests.

`scratch_database()` makes and migrates a database of its own (dropped afterwards); `Gunicorn`
runs `gunicorn -c gunicorn.conf.py wsgi:app` on a free port against it, exactly as `make run`
does, and finds its worker processes in /proc (psutil is not a dependency)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from scanapp import create_app
from scanapp.extensions import db

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("TEST_DATABASE_URL")


@contextlib.contextmanager
def scratch_database():
    """A migrated PostgreSQL database of its own; yields its SQLAlchemy URL."""
    from tests.conftest import _run_migrations

    url = make_url(PG_URL).set(drivername="postgresql+psycopg")
    url = url.set(database=f"{url.database or 'scanapp_test'}_srv_{uuid.uuid4().hex[:10]}")
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    rendered = url.render_as_string(hide_password=False)
    try:
        _run_migrations(rendered)
        yield rendered
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        admin.dispose()


def app_for(url: str):
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "servers-test"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid …": comm may contain spaces, so split after the last ")".
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


class Gunicorn:
    """`gunicorn -c gunicorn.conf.py wsgi:app` against ``url`` on a free port."""

    def __init__(self, url: str, workers: int = 2, threads: int = 4, log_path: Path | None = None):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "DATABASE_URL": url, "PORT": str(self.port), "HOST": "127.0.0.1",
               "WEB_CONCURRENCY": str(workers), "SCANAPP_THREADS": str(threads), "SECRET_KEY": "servers-test"}
        self.log = open(log_path or os.devnull, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(  # noqa: S603 - our own gunicorn
            [str(ROOT / ".venv/bin/gunicorn"), "-c", "gunicorn.conf.py", "--access-logfile", "-",
             "wsgi:app"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.workers = workers
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}")
            try:
                if httpx.get(self.base_url + "/api/v1/openapi.json", timeout=2).status_code == 200 and \
                        len(self.worker_pids()) >= self.workers:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("gunicorn did not start")

    def worker_pids(self) -> list[int]:
        return _children(self.proc.pid)

    def kill_a_worker(self, rng) -> int | None:
        pids = self.worker_pids()
        if not pids:
            return None
        pid = rng.choice(pids)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


def seed(url: str, *, locations=(), items=(), stock=(), users=("worker",)) -> dict[str, str]:
    """Warehouse WH1, ``locations``, ``items`` and ``stock`` ((sku, location, qty) receipts); returns
    an API token per user name (each a worker)."""
    from decimal import Decimal

    from scanapp.auth import services as auth
    from scanapp.inventory import services

    app = app_for(url)
    tokens = {}
    with app.app_context():
        services.create_warehouse("WH1", "Main")
        for code in locations:
            services.create_location(code, "WH1", code)
        for sku in items:
            services.create_item(sku, sku)
        for sku, location, qty in stock:
            services.move_stock(type="receipt", sku=sku, qty=Decimal(qty), to_location=location, user_id=None)
        for name in users:
            tokens[name] = auth.create_token(auth.create_user(name, "worker", "correct horse battery"), "test")
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return tokens


def check(url: str) -> dict:
    """The ledger check and the figures the tests assert on, read after the servers stopped."""
    from sqlalchemy import func, select

    from scanapp.idempotency import IdempotencyRecord
    from scanapp.inventory.models import StockMove
    from scanapp.inventory.queries import ledger_check

    app = app_for(url)
    with app.app_context():
        result = {
            "problems": ledger_check(),
            "moves_per_key": dict(db.session.execute(
                select(StockMove.idempotency_key, func.count()).group_by(StockMove.idempotency_key)).all()),
            "unanswered_keys": db.session.execute(
                select(func.count()).where(IdempotencyRecord.status.is_(None))).scalar_one(),
        }
        db.session.remove()
        db.engine.dispose()
    return result


def post_until_answered(client: httpx.Client, base_urls, token: str, body: dict, key: str, *,
                        give_up_after: float = 60.0) -> tuple[int, dict, int]:
    """POST /api/v1/moves with ``key`` until a server answers (not a dropped connection or a 5xx),
    like a handheld that retries; returns (status, payload, retries). ``base_urls`` are tried in turn."""
    deadline = time.monotonic() + give_up_after
    retries = 0
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key, "Accept-Language": "en"}
    while True:
        base = base_urls[retries % len(base_urls)]
        try:
            response = client.post(base + "/api/v1/moves", json=body, headers=headers, timeout=15)
            if response.status_code < 500:
                return response.status_code, response.json(), retries
        except httpx.HTTPError:
            pass
        retries += 1
        if time.monotonic() > deadline:
            raise AssertionError(f"no answer for key {key} after {retries} tries")
        time.sleep(0.05)
