"""The installable app's server side: manifest, service worker, offline pages, asset versions,
compression and page weight, the device heartbeat and the device page."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from tests.conftest import PageClient

GZIP = {"Accept-Encoding": "gzip, deflate, br"}
ASSET = re.compile(r'<(?:script|link)\b[^>]*?(?:src|href)="([^"]+)"')


def test_manifest_is_in_the_users_language(app):
    client = app.test_client()
    zh = client.get("/manifest.webmanifest", headers={"Accept-Language": "zh-CN"})
    assert zh.status_code == 200 and zh.mimetype == "application/manifest+json"
    data = json.loads(zh.get_data(as_text=True))
    assert data["name"] == "ScanApp 扫码库存" and data["lang"] == "zh-CN"
    assert data["display"] == "standalone" and data["scope"] == "/" and data["start_url"] == "/"
    assert data["theme_color"] == "#12263f"
    sizes = {icon["sizes"] for icon in data["icons"] if icon["type"] == "image/png"}
    assert {"192x192", "512x512"} <= sizes
    for icon in data["icons"]:  # every icon is served from here, nothing from another origin
        assert icon["src"].startswith("/static/")
        with client.get(icon["src"]) as r:
            assert r.status_code == 200
    en = json.loads(client.get("/manifest.webmanifest", headers={"Accept-Language": "en"}).get_data(as_text=True))
    assert en["name"] == "ScanApp Inventory" and en["lang"] == "en"


def test_the_service_worker_is_served_from_the_root_uncached_with_its_version(app):
    app.config["SCANAPP_ASSET_VERSION"] = "r42"
    r = app.test_client().get("/sw.js")
    assert r.status_code == 200 and r.mimetype == "application/javascript"
    assert r.headers["Service-Worker-Allowed"] == "/"
    assert "no-cache" in r.headers["Cache-Control"]
    body = r.get_data(as_text=True)
    assert 'var VERSION = "r42";' in body
    assert '"/static/offline.js?v=r42"' in body and 'var OFFLINE_URL = "/offline";' in body


def test_the_offline_page_is_public_and_holds_no_user_data(app, page_client):
    client = page_client("worker", username="wanda")
    r = client.get("/offline")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "wanda" not in html and "csrf" not in html.lower()
    assert "没有网络连接" in html and "No connection" in html
    assert app.test_client().get("/offline").status_code == 200


def test_asset_urls_carry_the_version_and_are_cached_for_a_year(app, page_client):
    client = page_client("worker")
    html = client.get("/").get_data(as_text=True)
    from scanapp.offline.assets import asset_version

    with app.app_context():
        version = asset_version()
    assets = [url for url in ASSET.findall(html) if url.startswith("/static/")]
    assert len(assets) >= 6 and all(url.endswith(f"?v={version}") for url in assets)
    r = client.get(assets[0])
    assert "immutable" in r.headers["Cache-Control"] and "max-age=31536000" in r.headers["Cache-Control"]
    r.close()
    unversioned = client.get("/static/app.js")
    assert "immutable" not in (unversioned.headers.get("Cache-Control") or "")
    unversioned.close()


def test_a_changed_asset_is_a_new_version(app, tmp_path):
    from scanapp import create_app
    from scanapp.offline import assets

    with app.app_context():
        first = assets.asset_version()
    other = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "TESTING": True,
                        "SECRET_KEY": "x"})
    other.static_folder = str(tmp_path)
    (tmp_path / "app.js").write_text("// changed")
    with other.app_context():
        assert assets.asset_version() != first


def test_a_handheld_page_loads_under_100_kb_compressed_from_one_origin(page_client, capsys):
    client = page_client("worker")
    for path in ("/", "/moves/new", "/scan"):
        page = client.get(path, headers=GZIP)
        assert page.headers.get("Content-Encoding") == "gzip"
        html = gzip.decompress(page.data).decode()
        urls = ASSET.findall(html)
        assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls  # no other origin
        total = len(page.data)
        for url in urls:
            r = client.get(url, headers=GZIP)
            assert r.status_code == 200, url
            if r.mimetype.startswith(("text/", "application/javascript", "application/manifest+json")):
                assert r.headers.get("Content-Encoding") == "gzip", url
                assert gzip.decompress(r.data)  # a real gzip body
            total += len(r.data)
            r.close()
        with capsys.disabled():
            print(f"\n{path}: first load {total / 1024:.1f} KB compressed ({len(urls) + 1} responses)")
        assert total < 100 * 1024


def test_no_gzip_without_accept_encoding_and_small_bodies_stay_plain(app):
    client = app.test_client()
    r = client.get("/offline")
    assert "Content-Encoding" not in r.headers and "Accept-Encoding" in r.headers["Vary"]
    r = client.get("/manifest.webmanifest", headers=GZIP)
    assert r.status_code == 200


def test_pages_tell_the_service_worker_whose_they_are(app, make_user):
    uid = make_user("una", "worker")
    client = PageClient(app)
    client.refresh_csrf()
    assert "X-ScanApp-User" not in client.get("/login").headers
    client.login("una")
    assert client.get("/").headers["X-ScanApp-User"] == str(uid)


def test_session_state_gives_a_fresh_token_or_sends_to_login(app, page_client):
    r = app.test_client().get("/offline/session")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    client = page_client("worker", username="sam")
    data = client.get("/offline/session").get_json()
    assert data["username"] == "sam" and data["csrf_token"]
    # The token works for a stock post (what the queue does on replay).
    r = client.post("/devices/heartbeat", {"device": "abcd-1234-efgh", "csrf_token": data["csrf_token"]})
    assert r.status_code == 200


def test_a_stale_csrf_token_is_marked_so_the_queue_keeps_the_request(page_client):
    client = page_client("worker")
    r = client.post("/moves", {"type": "receipt", "sku": "X", "qty": "1", "to_location": "A",
                               "idempotency_key": "k-1", "csrf_token": "stale"}, htmx=True)
    assert r.status_code == 400 and r.headers["X-ScanApp-Error"] == "csrf_failed"


def test_heartbeat_registers_and_updates_a_device(app, page_client):
    client = page_client("worker", username="walt")
    r = client.post("/devices/heartbeat", {"device": "dev-0001-aaaa", "waiting": "3", "conflicts": "1"})
    assert r.status_code == 200 and r.get_json() == {"device": "dev-0001-aaaa", "name": ""}
    r = client.post("/devices/heartbeat", {"device": "dev-0001-aaaa", "waiting": "0", "conflicts": "1",
                                           "name": "  Cold   room 1 "})
    assert r.get_json()["name"] == "Cold room 1"
    r = client.post("/devices/heartbeat", {"device": "dev-0001-aaaa", "waiting": "-5", "conflicts": "x"})
    assert r.get_json()["name"] == "Cold room 1"  # kept when the handheld sends none
    from scanapp.extensions import db
    from scanapp.offline.models import Device

    with app.app_context():
        devices = db.session.query(Device).all()
        assert len(devices) == 1
        assert (devices[0].waiting, devices[0].conflicts, devices[0].user.username) == (0, 0, "walt")


@pytest.mark.parametrize("device", ["", "short", "has space in it", "x" * 65, "<script>"])
def test_heartbeat_refuses_a_bad_device_id(page_client, device):
    client = page_client("worker")
    r = client.post("/devices/heartbeat", {"device": device, "waiting": "1"})
    assert r.status_code == 400


def test_heartbeat_needs_login_and_csrf(app, page_client):
    assert app.test_client().post("/devices/heartbeat", data={"device": "dev-0001-aaaa"}).status_code in (302, 400)
    client = page_client("worker")
    assert client.post("/devices/heartbeat", {"device": "dev-0001-aaaa"}, csrf=False).status_code == 400


def test_the_device_page_is_for_supervisors_who_can_rename(app, page_client):
    worker = page_client("worker", username="wes")
    worker.post("/devices/heartbeat", {"device": "dev-0002-bbbb", "waiting": "4", "conflicts": "2"})
    assert worker.get("/devices").status_code == 403
    boss = page_client("supervisor")
    html = boss.get("/devices").get_data(as_text=True)
    assert 'data-device="dev-0002-bbbb"' in html and "wes" in html
    assert '<td class="num" data-col="waiting">4</td>' in html
    fragment = boss.get("/devices", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.startswith('<div id="devices-table">')
    from scanapp.extensions import db
    from scanapp.offline.models import Device

    with app.app_context():
        device_id = db.session.query(Device).one().id
    assert boss.post(f"/devices/{device_id}/name", {"name": "Truck 2"}).status_code == 303
    assert 'value="Truck 2"' in boss.get("/devices").get_data(as_text=True)
    assert worker.post(f"/devices/{device_id}/name", {"name": "Mine"}).status_code == 403
    assert boss.post("/devices/9999/name", {"name": "x"}).status_code == 404


def test_the_queue_page_and_the_badge_are_on_every_page(page_client):
    client = page_client("worker")
    html = client.get("/offline/conflicts").get_data(as_text=True)
    assert 'id="offline-queue"' in html and 'id="offline-conflicts"' in html and 'id="offline-waiting"' in html
    for path in ("/", "/stock", "/moves/new", "/scan", "/ledger"):
        page = client.get(path).get_data(as_text=True)
        assert 'id="offline-badge"' in page and 'id="offline-config"' in page, path
    assert "data-stock-post" in client.get("/moves/new").get_data(as_text=True)
