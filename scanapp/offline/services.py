"""Handhelds report their offline queue (heartbeat); supervisors name them."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from ..clock import utcnow
from ..errors import ScanAppError
from ..extensions import db
from .models import Device

DEVICE_KEY = re.compile(r"^[A-Za-z0-9-]{8,64}$")
MAX_COUNT = 1_000_000


class InvalidDevice(ScanAppError):
    code = "invalid_device"
    status = 400


def _count(value) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        return 0
    return max(0, min(n, MAX_COUNT))


def clean_name(name: str | None) -> str:
    return " ".join((name or "").split())[:80]


def heartbeat(device_key: str, *, user_id: int, waiting, conflicts, name: str | None = None,
              user_agent: str = "") -> Device:
    """Record that a handheld is online, with its queue sizes; a first heartbeat registers it.

    One statement (INSERT … ON CONFLICT DO UPDATE) so two tabs starting at once cannot collide.
    A ``name`` given by the handheld renames it; otherwise the name stays (a supervisor's choice).
    """
    if not DEVICE_KEY.match(device_key or ""):
        raise InvalidDevice(_l("This handheld's device id is not valid. Reload the page."))
    now = utcnow()
    values = {
        "device_key": device_key, "user_id": user_id, "waiting": _count(waiting),
        "conflicts": _count(conflicts), "user_agent": (user_agent or "")[:300], "last_seen_at": now,
    }
    update = dict(values)
    del update["device_key"]
    name = clean_name(name)
    if name:
        update["name"] = name
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Device).values(**values, name=name, created_at=now)
    stmt = stmt.on_conflict_do_update(index_elements=[Device.device_key], set_=update)
    db.session.execute(stmt)
    return db.session.execute(select(Device).where(Device.device_key == device_key)).scalar_one()


def rename(device: Device, name: str) -> Device:
    device.name = clean_name(name)
    db.session.flush()
    return device


def devices() -> list[Device]:
    return list(db.session.execute(select(Device).order_by(Device.last_seen_at.desc())).scalars())
