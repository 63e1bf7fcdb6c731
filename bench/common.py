"""Helpers shared by the load and scale benchmarks: scratch PostgreSQL databases, the machine
description printed above every result, percentiles, and target lines."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

PG_SERVER = os.environ.get("BENCH_PG_SERVER", "postgresql://postgres@127.0.0.1:5432")


def pg_url(database: str) -> str:
    """A psycopg 3 SQLAlchemy URL for ``database`` on the benchmark server."""
    return make_url(f"{PG_SERVER}/{database}").set(drivername="postgresql+psycopg").render_as_string(
        hide_password=False
    )


def libpq_url(url: str) -> str:
    """The same database as a plain libpq URL (for psql and pgbench)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _admin(url: str):
    target = make_url(url)
    return target, create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")


def database_exists(url: str) -> bool:
    target, admin = _admin(url)
    with admin.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}).first()
    admin.dispose()
    return found is not None


def create_database(url: str) -> None:
    """Drop ``url``'s database if it exists and create it empty."""
    target, admin = _admin(url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def drop_database(url: str) -> None:
    target, admin = _admin(url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


def pg_version(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar_one()
    engine.dispose()
    return version.split()[0]


def machine(url: str | None = None) -> str:
    """One line: date, cores, RAM, Python, PostgreSQL, and the load average when we started."""
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    parts = [
        datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        f"{os.cpu_count()} cores",
        f"{mem_gib:.0f} GiB",
        f"Python {platform.python_version()}",
    ]
    if url:
        try:
            parts.append(f"PostgreSQL {pg_version(url)}")
        except Exception as exc:  # noqa: BLE001 - a description, never a reason to stop
            parts.append(f"PostgreSQL ? ({exc.__class__.__name__})")
    parts.append(f"load average {load}")
    return "; ".join(parts)


def percentile(sorted_values: list[float], pct: float) -> float:
    """The nearest-rank percentile of an already sorted list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, int(round(pct / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[rank]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def pgbench_tps(url: str, script: str, *, clients: int, seconds: int, variables: dict | None = None,
                threads: int = 2) -> float:
    """Run a pgbench custom script against ``url``; returns transactions per second."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
        fh.write(script)
        path = fh.name
    cmd = ["pgbench", "-n", "-c", str(clients), "-j", str(threads), "-T", str(seconds), "-f", path]
    for name, value in (variables or {}).items():
        cmd += ["-D", f"{name}={value}"]
    cmd.append(libpq_url(url))
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=seconds + 120)
    finally:
        os.unlink(path)
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out.stdout)
    if out.returncode != 0 or not match:
        raise RuntimeError(f"pgbench failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    failed = re.search(r"number of failed transactions: (\d+)", out.stdout)
    if failed and int(failed.group(1)):
        raise RuntimeError(f"pgbench: {failed.group(1)} failed transactions")
    return float(match.group(1))
