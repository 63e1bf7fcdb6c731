"""Idempotency keys: a repeated stock-moving request returns the first response and writes nothing.

The key is claimed by inserting a row in the same transaction as the stock change; the unique
index on (user, key) is what makes a repeat — even twenty at once — post once. On PostgreSQL a
concurrent repeat blocks on that index until the first commits, then sees the stored response.
Failed requests (4xx) roll back, key included, so a corrected retry can still go through.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from .clock import utcnow
from .errors import ScanAppError
from .extensions import db

MAX_KEY_LENGTH = 200


class IdempotencyRecord(db.Model):
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class MissingKey(ScanAppError):
    code = "idempotency_key_missing"
    status = 400


class InvalidKey(ScanAppError):
    code = "idempotency_key_invalid"
    status = 400


class KeyReused(ScanAppError):
    code = "idempotency_key_reused"
    status = 422


def validate_key(key: str | None) -> str:
    from flask_babel import lazy_gettext as _l

    if key is None or not key.strip():
        raise MissingKey(_l("This request needs an idempotency key so that a retry cannot post twice."))
    if len(key) > MAX_KEY_LENGTH or not all(33 <= ord(c) < 127 for c in key):
        raise InvalidKey(_l("The idempotency key must be 1 to 200 visible ASCII characters."))
    return key


def fingerprint(method: str, path: str, payload) -> str:
    """A digest of what the request asks for; the same key with another fingerprint is refused."""
    canonical = json.dumps([method, path, payload], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# Built once: these run on every stock-moving request.
_CLAIM = insert(IdempotencyRecord.__table__).returning(IdempotencyRecord.__table__.c.id)
_RECORD = update(IdempotencyRecord.__table__).where(IdempotencyRecord.__table__.c.id == bindparam("record_id"))


def claim(user_id: int, key: str, digest: str) -> IdempotencyRecord | None:
    """Claim ``key`` for this transaction; return None if claimed, or the earlier record.

    Raises KeyReused when the earlier request with this key asked for something else. On a
    conflict the session is rolled back (PostgreSQL has aborted the transaction anyway).
    The row is written with plain INSERT and UPDATE statements, not through the ORM's unit of
    work: it is on every stock-moving request, and a flush costs several times the statement.
    """
    from flask_babel import lazy_gettext as _l

    try:
        record_id = db.session.connection().execute(
            _CLAIM, {"user_id": user_id, "key": key, "fingerprint": digest, "created_at": utcnow()}
        ).scalar_one()
    except IntegrityError:
        db.session.rollback()
        earlier = db.session.execute(
            select(IdempotencyRecord).where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
        ).scalar_one()
        if earlier.fingerprint != digest:
            raise KeyReused(
                _l("This idempotency key was already used for a different request. Use a new key.")
            ) from None
        return earlier
    db.session.info["idempotency_record"] = record_id
    return None


def record_response(status: int, body: str, content_type: str) -> None:
    record_id = db.session.info.pop("idempotency_record", None)
    if record_id is not None:
        db.session.flush()  # the statement below bypasses the session's autoflush
        db.session.connection().execute(
            _RECORD, {"record_id": record_id, "status": status, "body": body, "content_type": content_type}
        )


def purge(older_than_days: int) -> int:
    """Delete keys older than the retention; returns how many."""
    cutoff = utcnow() - timedelta(days=older_than_days)
    result = db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return result.rowcount or 0
