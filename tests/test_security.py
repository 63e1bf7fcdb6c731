"""Security checks that tests/test_auth.py does not make: cookies over HTTPS, the headers on every
kind of response (pages, API, errors), the account throttle across addresses, and API tokens
that cannot be used as cookies or in the query string."""

import re

import pytest

from scanapp.auth import throttle
from scanapp.extensions import db
from tests.conftest import PASSWORD, PageClient


@pytest.fixture
def https_app(app):
    app.config.update(SCANAPP_HTTPS=True, SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)
    return app


def _cookies(response) -> list[str]:
    return response.headers.getlist("Set-Cookie")


def test_cookies_are_secure_httponly_and_samesite_over_https(https_app, make_user):
    make_user("ivy", "worker")
    client = PageClient(https_app)
    client.client = https_app.test_client()
    page = client.client.get("/login", base_url="https://localhost")
    client.csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.get_data(as_text=True)).group(1)
    r = client.client.post("/login", data={"username": "ivy", "password": PASSWORD, "csrf_token": client.csrf},
                           base_url="https://localhost")
    assert r.status_code == 303
    cookies = _cookies(r)
    assert cookies
    for cookie in cookies:
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie, cookie
    assert "max-age=31536000" in r.headers["Strict-Transport-Security"]


def test_setting_scanapp_https_turns_on_secure_cookies(monkeypatch, tmp_path):
    """The environment switch an operator uses (SCANAPP_HTTPS=true) is what sets the flags."""
    from scanapp import create_app

    monkeypatch.setenv("SCANAPP_HTTPS", "true")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}", "SECRET_KEY": "k"})
    assert app.config["SESSION_COOKIE_SECURE"] is True and app.config["REMEMBER_COOKIE_SECURE"] is True
    response = app.test_client().get("/login")  # plain HTTP here: TLS ends at the proxy
    assert "Strict-Transport-Security" in response.headers


@pytest.mark.parametrize("path, api", [("/login", False), ("/no-such-page", False), ("/api/v1/openapi.json", True),
                                       ("/api/v1/stock", True), ("/api/v1/no-such-thing", True)])
def test_every_kind_of_response_carries_the_security_headers(app, path, api):
    r = app.test_client().get(path)
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "object-src 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in r.headers  # plain HTTP: HSTS would be ignored or wrong


def test_a_server_error_carries_the_headers_and_says_nothing_inside(app):
    from scanapp.auth.access import PUBLIC, access

    @app.get("/boom")
    @access(PUBLIC)
    def boom():
        raise RuntimeError("secret detail from the database")

    r = app.test_client().get("/boom")
    assert r.status_code == 500
    assert "secret detail" not in r.get_data(as_text=True)
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_the_account_throttle_holds_across_addresses(app, make_user):
    """Guessing one account's password from many addresses is still throttled per account."""
    make_user("jay", "worker")
    app.config["SCANAPP_LOGIN_LIMIT_ACCOUNT"] = "3 per 15 minutes"
    codes = []
    for n in range(5):
        client = PageClient(app)
        client.client.environ_base["REMOTE_ADDR"] = f"10.0.0.{n + 1}"
        client.refresh_csrf()
        codes.append(client.post("/login", {"username": "jay", "password": "wrong"}).status_code)
    assert codes == [401, 401, 401, 429, 429]


def test_the_address_throttle_does_not_lock_out_other_addresses(app, make_user):
    make_user("kim", "worker")
    app.config["SCANAPP_LOGIN_LIMIT_IP"] = "3 per 15 minutes"
    attacker = PageClient(app)
    attacker.client.environ_base["REMOTE_ADDR"] = "10.9.9.9"
    attacker.refresh_csrf()
    codes = [attacker.post("/login", {"username": f"x{n}", "password": "x"}).status_code for n in range(4)]
    assert codes[-1] == 429
    colleague = PageClient(app)
    colleague.client.environ_base["REMOTE_ADDR"] = "10.1.1.1"
    assert colleague.login("kim").status_code == 303


def test_looking_at_the_login_page_is_not_a_failed_login(app, make_user):
    """An uptime monitor's HEAD (or GET) of /login neither answers 401 nor counts against the
    address: behind a proxy that would lock the whole floor out."""
    make_user("nia", "worker")
    app.config["SCANAPP_LOGIN_LIMIT_IP"] = "2 per 15 minutes"
    monitor = app.test_client()
    for _ in range(5):
        assert monitor.head("/login").status_code == 200
        assert monitor.get("/login").status_code == 200
    assert PageClient(app).login("nia").status_code == 303


REDIS_URL = "redis://127.0.0.1:6379/15"


def _redis_reachable() -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.parametrize("store", [
    "database",
    pytest.param(REDIS_URL, marks=pytest.mark.skipif(not _redis_reachable(), reason="no Redis on 127.0.0.1:6379")),
], ids=["database", "redis"])
def test_app_servers_sharing_a_store_share_the_login_counters(db_url, make_user, app, store):
    """Two app servers (two apps, each with its own process-local state) on one database, counting
    in it (the default) or in one Redis: failed logins on one count on the other, so the limit is
    not multiplied by the servers, nor by `make run`'s worker processes."""
    import uuid

    from scanapp import create_app

    # Redis outlives the test: a fresh account and address every run, or the counters of earlier
    # runs in the same 15 minutes would throttle this one early.
    name = "mo" + uuid.uuid4().hex[:8]
    address = "10.{}.{}.{}".format(*uuid.uuid4().bytes[:3])
    make_user(name, "worker")
    servers = [
        create_app({"SQLALCHEMY_DATABASE_URI": db_url, "TESTING": True, "SECRET_KEY": app.config["SECRET_KEY"],
                    "RATELIMIT_STORAGE_URI": store, "SCANAPP_LOGIN_LIMIT_ACCOUNT": "4 per 15 minutes"})
        for _ in range(2)
    ]
    codes = []
    def client_of(server):
        client = PageClient(server)
        client.client.environ_base["REMOTE_ADDR"] = address
        client.refresh_csrf()
        return client

    for n in range(6):
        codes.append(client_of(servers[n % 2]).post("/login", {"username": name, "password": "wrong"}).status_code)
    assert codes == [401, 401, 401, 401, 429, 429]
    # The right password is refused too while the account is throttled, on either server.
    client = client_of(servers[1])
    assert client.post("/login", {"username": name, "password": PASSWORD}).status_code == 429
    for server in servers:
        with server.app_context():
            db.engine.dispose()


def test_a_redis_that_cannot_be_reached_does_not_lock_the_floor_out(app, make_user, caplog):
    """The counter store is down: logins still work (the password decides) and it is logged."""
    make_user("pia", "worker")
    app.config["RATELIMIT_STORAGE_URI"] = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    throttle.init_app(app)
    client = PageClient(app)
    client.refresh_csrf()
    assert client.post("/login", {"username": "pia", "password": "wrong"}).status_code == 401
    assert client.login("pia").status_code == 303
    assert "login throttle storage unavailable" in caplog.text


def test_failures_older_than_the_window_no_longer_count_and_are_cleared(app, make_user):
    """The database store forgets: a failure outside the moving window neither blocks nor stays."""
    from datetime import timedelta

    from sqlalchemy import func, select, update

    from scanapp.auth.models import LoginFailure
    from scanapp.clock import utcnow

    make_user("ola", "worker")
    app.config["SCANAPP_LOGIN_LIMIT_ACCOUNT"] = "3 per 15 minutes"
    client = PageClient(app)
    client.refresh_csrf()
    assert [client.post("/login", {"username": "ola", "password": "wrong"}).status_code for _ in range(4)] == [
        401, 401, 401, 429]
    with app.app_context():
        # Sixteen minutes pass for the three failures (the address limit's window is 15 minutes too).
        db.session.execute(update(LoginFailure).values(at=utcnow() - timedelta(minutes=16)))
        db.session.commit()
    assert client.post("/login", {"username": "ola", "password": "wrong"}).status_code == 401
    with app.app_context():
        # That failure cleared the old ones: only its own two rows (account and address) are left.
        assert db.session.scalar(select(func.count()).select_from(LoginFailure)) == 2
    assert client.login("ola").status_code == 303


def test_api_tokens_work_only_in_the_authorization_header(app, api_client):
    api = api_client("worker")
    client = app.test_client()
    assert client.get("/api/v1/stock", headers={"Authorization": f"Bearer {api.token}"}).status_code == 200
    assert client.get(f"/api/v1/stock?token={api.token}").status_code == 401
    assert client.get(f"/api/v1/stock?access_token={api.token}").status_code == 401
    client.set_cookie("session", api.token)
    assert client.get("/api/v1/stock").status_code == 401
    assert client.get("/api/v1/stock", headers={"Authorization": f"Basic {api.token}"}).status_code == 401


def test_a_page_session_cannot_call_the_api(app, make_user):
    """The API is exempt from CSRF because it ignores cookies: a logged-in browser gets 401 there."""
    make_user("lee", "admin")
    client = PageClient(app)
    client.login("lee")
    assert client.get("/stock").status_code == 200
    r = client.client.post("/api/v1/items", json={"sku": "EVIL", "name": "x"})
    assert r.status_code == 401
