"""Configuration: defaults here, then instance/config.py, then the environment.

Environment: DATABASE_URL (any SQLAlchemy URL; ``postgres://`` accepted), SECRET_KEY (generated
and kept in instance/secret_key when unset) and SCANAPP_<NAME> for any setting below.
Nothing here connects to anything; it only computes values.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import timedelta
from pathlib import Path


class Defaults:
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    MAX_CONTENT_LENGTH = 12 * 1024 * 1024  # photos are at most 10 MiB; room for the form around them
    MAX_FORM_MEMORY_SIZE = 1024 * 1024
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session: a handheld left open all shift
    WTF_CSRF_SSL_STRICT = False  # behind TLS-terminating proxies the Referer check breaks real handhelds
    PERMANENT_SESSION_LIFETIME = timedelta(hours=14)  # a long shift plus overtime
    # The session is a signed cookie: a response that re-sent it unchanged (heartbeats, live
    # progress polls, the service worker's fetches) would put back that request's older copy over
    # what a concurrent request just saved (a receive step in progress, the CSRF token). So the
    # cookie is only sent when the session changed; it lives 14 hours from its last change.
    SESSION_REFRESH_EACH_REQUEST = False
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_TRANSLATION_DIRECTORIES = str(Path(__file__).parent / "translations")
    LANGUAGES = ("zh_CN", "en")
    RATELIMIT_STORAGE_URI = "database"  # login-failure counters: see auth/throttle.py
    SCANAPP_LOGIN_LIMIT_ACCOUNT = "10 per 15 minutes"  # failed logins per account
    SCANAPP_LOGIN_LIMIT_IP = "30 per 15 minutes"  # failed logins per client address
    SCANAPP_IDEMPOTENCY_DAYS = 8  # keys are kept at least a week: a handheld can be offline a weekend
    SCANAPP_SCAN_LOG_DAYS = 90  # scan-log retention ("it didn't scan" support)
    SCANAPP_RETRY_ATTEMPTS = 5  # retries of a deadlocked or serialisation-failed transaction
    SCANAPP_HTTPS = False  # set when served over HTTPS: Secure cookies and HSTS
    SCANAPP_TRUSTED_PROXIES = 0  # number of reverse proxies to trust for X-Forwarded-For


def _secret_key(instance_path: Path) -> str:
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # Two workers may start at once: create exclusively and re-read whichever won.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def database_url(url: str | None, instance_path: Path) -> str:
    """Normalise DATABASE_URL: default SQLite file, ``postgres://`` → psycopg 3 driver."""
    if not url:
        return f"sqlite:///{instance_path / 'scanapp.sqlite3'}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _from_env(value: str):
    try:
        return json.loads(value)
    except ValueError:
        return value


def load(app, overrides: dict | None) -> None:
    """Fill app.config from defaults, instance/config.py, the environment and ``overrides``."""
    instance_path = Path(app.instance_path)
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)
    for name, value in os.environ.items():
        if name.startswith("SCANAPP_"):
            app.config[name] = _from_env(value)
    if os.environ.get("SCANAPP_RATELIMIT_STORAGE_URI"):
        app.config["RATELIMIT_STORAGE_URI"] = os.environ["SCANAPP_RATELIMIT_STORAGE_URI"]
    if overrides:
        app.config.update(overrides)
    url = app.config.get("SQLALCHEMY_DATABASE_URI") or os.environ.get("DATABASE_URL")
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url(url, instance_path)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY") or _secret_key(instance_path)
    if app.config["SCANAPP_HTTPS"]:
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["REMEMBER_COOKIE_SECURE"] = True
