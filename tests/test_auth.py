"""Login, sessions, throttling, CSRF, headers, and a role check on every route."""

import re

import pytest

from scanapp.auth import throttle
from tests.conftest import PASSWORD, PageClient


def test_login_wrong_password_is_401_and_right_one_works(app, make_user):
    make_user("ann", "worker")
    client = PageClient(app)
    client.refresh_csrf()
    r = client.post("/login", {"username": "ann", "password": "nope"})
    assert r.status_code == 401
    assert client.login("ann").status_code == 303
    assert client.get("/").status_code == 200


def test_anonymous_pages_redirect_to_login(app):
    r = app.test_client().get("/stock")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_logout_invalidates_the_session_cookie(app, make_user):
    make_user("bob", "worker")
    client = PageClient(app)
    client.login("bob")
    cookie = client.client.get_cookie("session")
    assert client.post("/logout").status_code == 303
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    assert thief.get("/stock").status_code == 302  # the copied cookie no longer works


def test_disabling_a_user_ends_their_sessions_and_tokens(app, make_user, page_client):
    from scanapp.auth import services
    from scanapp.extensions import db

    uid = make_user("carl", "worker")
    client = PageClient(app)
    client.login("carl")
    with app.app_context():
        token = services.create_token(services.user_by_name("carl"))
        db.session.commit()
    admin = page_client("admin")
    assert admin.post(f"/users/{uid}/active", {"active": "0"}).status_code == 303
    assert client.get("/stock").status_code == 302
    assert app.test_client().get("/api/v1/stock", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    fresh = PageClient(app)
    fresh.refresh_csrf()
    assert fresh.post("/login", {"username": "carl", "password": PASSWORD}).status_code == 401


@pytest.mark.parametrize("store", ["database", "memory://"])
def test_login_is_throttled_per_account(app, make_user, store):
    make_user("dan", "worker")
    app.config["SCANAPP_LOGIN_LIMIT_ACCOUNT"] = "3 per 15 minutes"
    app.config["RATELIMIT_STORAGE_URI"] = store
    throttle.init_app(app)
    client = PageClient(app)
    client.refresh_csrf()
    codes = [client.post("/login", {"username": "dan", "password": "wrong"}).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    # Even the right password is refused while the account is throttled.
    assert client.post("/login", {"username": "dan", "password": PASSWORD}).status_code == 429


def test_login_is_throttled_per_ip_across_accounts(app, make_user):
    app.config["SCANAPP_LOGIN_LIMIT_IP"] = "4 per 15 minutes"
    client = PageClient(app)
    client.refresh_csrf()
    codes = [client.post("/login", {"username": f"user{n}", "password": "x"}).status_code for n in range(5)]
    assert codes[-1] == 429


def test_csrf_is_required_on_state_changes(app, make_user, make_location, make_item):
    make_user("eve", "supervisor")
    make_location("WH1-A-01")
    make_item("NUT")
    client = PageClient(app)
    client.login("eve")
    r = client.post("/moves", {"type": "receipt", "sku": "NUT", "qty": "1", "to_location": "WH1-A-01",
                               "idempotency_key": "k"}, csrf=False)
    assert r.status_code == 400
    r = client.post("/moves", {"type": "receipt", "sku": "NUT", "qty": "1", "to_location": "WH1-A-01",
                               "idempotency_key": "k", "csrf_token": "stale"}, csrf=False)
    assert r.status_code == 400
    anon = app.test_client()
    assert anon.post("/login", data={"username": "eve", "password": PASSWORD}).status_code == 400


def test_htmx_requests_send_csrf_in_a_header(app, make_user, make_location, make_item):
    make_user("fay", "worker")
    make_location("WH1-A-01")
    make_item("NUT")
    client = PageClient(app)
    client.login("fay")
    r = client.client.post("/moves", data={"type": "receipt", "sku": "NUT", "qty": "1", "to_location": "WH1-A-01",
                                           "idempotency_key": "k"},
                           headers={"HX-Request": "true", "X-CSRFToken": client.csrf})
    assert r.status_code == 200


def test_security_headers_and_cookie_flags(app, make_user):
    make_user("gus", "worker")
    client = PageClient(app)
    r = client.client.get("/login")
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in r.headers
    client.refresh_csrf()
    r = client.post("/login", {"username": "gus", "password": PASSWORD})
    cookie = r.headers.get("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    https = app.test_client().get("/login", base_url="https://localhost")
    assert "max-age" in https.headers["Strict-Transport-Security"]


def test_passwords_are_argon2id(app, make_user):
    from scanapp.auth import services

    make_user("hal", "worker")
    with app.app_context():
        assert services.user_by_name("hal").password_hash.startswith("$argon2id$")


ROLE_ORDER = ["worker", "supervisor", "admin"]


def _sample_url(rule) -> str:
    values = {arg: "1" for arg in rule.arguments}
    url = rule.rule
    for arg in rule.arguments:
        url = re.sub(r"<(?:[a-z]+:)?" + arg + ">", values[arg], url)
    return url


def test_every_route_declares_its_access_and_enforces_it(app, page_client, api_client):
    """Walks the URL map: each view is public, needs login, or needs a role — and a user below
    that role gets 403 (pages) or 403/401 (API)."""
    from scanapp.auth.access import AUTHENTICATED, PUBLIC

    clients = {role: page_client(role) for role in ROLE_ORDER}
    apis = {role: api_client(role) for role in ROLE_ORDER}
    anon = app.test_client()
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        level = getattr(view, "access_level", None)
        assert level is not None, f"{rule.endpoint} declares no access level"
        url = _sample_url(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            is_api = rule.endpoint.startswith("api.")
            if level == PUBLIC:
                continue
            if is_api:
                r = anon.open(url, method=method)
                assert r.status_code == 401, (url, method)
            else:
                r = anon.open(url, method=method)
                assert r.status_code in (302, 400), (url, method, r.status_code)  # 400: CSRF first
            if level == AUTHENTICATED:
                checked += 1
                continue
            for role in ROLE_ORDER[: ROLE_ORDER.index(level.value)]:
                if is_api:
                    r = apis[role].client.open(url, method=method, headers=apis[role]._headers("k"), json={})
                else:
                    r = clients[role].client.open(url, method=method, data={"csrf_token": clients[role].csrf})
                assert r.status_code == 403, (url, method, role, r.status_code)
            checked += 1
    assert checked > 20
