"""Users, passwords, sessions and tokens."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select, update

from ..clock import utcnow
from ..errors import ScanAppError
from ..extensions import db
from .models import ApiToken, Role, User, UserSession, new_secret, token_digest

# Argon2id with the library's defaults (RFC 9106 low-memory profile: t=3, m=64 MiB, p=4).
_hasher = PasswordHasher()
# A fixed hash to verify against when the user does not exist, so timing does not reveal names.
_DUMMY_HASH = _hasher.hash("not a real password")
USERNAME = re.compile(r"[A-Za-z0-9_.@-]{1,80}")


class UserError(ScanAppError):
    code = "invalid_user"
    status = 422


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def create_user(username: str, role: str, password: str) -> User:
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        raise UserError(_l("A username is 1 to 80 letters, digits or . _ @ -."))
    try:
        role = Role(role)
    except ValueError:
        raise UserError(_l("The role must be worker, supervisor or admin.")) from None
    if len(password) < 8:
        raise UserError(_l("A password needs at least 8 characters."))
    if db.session.execute(select(User.id).where(User.username == username)).first():
        raise UserError(_l("User %(name)s already exists.", name=username), code="duplicate", status=409)
    user = User(username=username, role=role, password_hash=hash_password(password))
    db.session.add(user)
    db.session.flush()
    return user


def authenticate(username: str, password: str) -> User | None:
    """The active user with this username and password, or None (in constant-ish time)."""
    user = db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def start_session(user: User, user_agent: str = "") -> str:
    """Open a login session for ``user``; returns the secret kept in the signed session cookie."""
    secret = new_secret()
    db.session.add(UserSession(user_id=user.id, token_hash=token_digest(secret), user_agent=user_agent[:300]))
    db.session.flush()
    user.session_token = secret
    return secret


# Built once: one of these runs before every request (building a select is a good part of its cost).
_USER_FOR_SESSION = (
    select(UserSession, User)
    .join(User, User.id == UserSession.user_id)
    .where(UserSession.token_hash == bindparam("digest"), UserSession.revoked_at.is_(None), User.active)
)
_USER_FOR_TOKEN = (
    select(User)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("digest"), ApiToken.revoked_at.is_(None), User.active)
)


def user_for_session(secret: str) -> User | None:
    row = db.session.execute(_USER_FOR_SESSION, {"digest": token_digest(secret)}).first()
    if row is None:
        return None
    user = row.User
    user.session_token = secret
    return user


def end_session(secret: str | None) -> None:
    if secret:
        db.session.execute(
            update(UserSession).where(UserSession.token_hash == token_digest(secret)).values(revoked_at=utcnow())
        )


def set_active(user: User, active: bool) -> None:
    """Enable or disable a user; disabling ends every session and revokes every token at once."""
    user.active = active
    if not active:
        now = utcnow()
        db.session.execute(
            update(UserSession)
            .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        db.session.execute(
            update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=now)
        )


def create_token(user: User, name: str = "") -> str:
    """A new API token for ``user``; only its digest is stored, so it is shown once."""
    token = new_secret("sa_")
    db.session.add(ApiToken(user_id=user.id, token_hash=token_digest(token), name=name[:100]))
    db.session.flush()
    return token


def user_for_token(token: str) -> User | None:
    return db.session.execute(_USER_FOR_TOKEN, {"digest": token_digest(token)}).scalar_one_or_none()


def user_by_name(username: str) -> User | None:
    return db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()


def set_language(user: User, language: str | None) -> None:
    user.language = language
