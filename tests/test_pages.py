"""One request test per page (full page and htmx fragment), and the move form with its key."""

import re

import pytest


@pytest.fixture
def stocked(make_location, make_item, receive):
    make_location("WH1-A-01")
    make_location("WH1-A-02")
    make_item("RICE", name="东北大米 Rice", barcodes=["6901234500035"])
    receive("RICE", "WH1-A-01", 12)


def _key(html: str) -> str:
    return re.search(r'name="idempotency_key" value="([0-9a-f]+)"', html).group(1)


@pytest.mark.parametrize("path", ["/", "/stock", "/ledger", "/items", "/items/RICE", "/locations",
                                  "/locations/WH1-A-01", "/moves/new"])
def test_pages_render_for_a_worker(stocked, page_client, path):
    client = page_client("worker")
    r = client.get(path)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "<html" in html and "csrf-token" in html


def test_supervisors_reach_the_office_pages_from_every_page_header(stocked, page_client):
    """Purchase orders, orders and stocktake sit in the header for supervisors (not only as home
    tiles); workers do not see links to pages they may not open."""
    office = ('href="/purchase-orders"', 'href="/orders"', 'href="/counts"')
    supervisor_page = page_client("supervisor").get("/items/RICE").get_data(as_text=True)
    assert all(link in supervisor_page for link in office)
    worker = page_client("worker")
    worker_page = worker.get("/items/RICE").get_data(as_text=True)
    assert not any(link in worker_page for link in office)
    assert [worker.get(path).status_code for path in ("/purchase-orders", "/orders", "/counts")] == [403] * 3


def test_fragments_for_htmx_and_full_page_when_boosted(stocked, page_client):
    client = page_client("worker")
    fragment = client.get("/stock?q=RICE", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="stock-table">') and "<html" not in body
    assert "12" in body and "RICE" in body
    assert "HX-Request" in fragment.headers.get("Vary", "")
    boosted = client.get("/stock", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in boosted.get_data(as_text=True)


def test_stock_search_finds_by_sku_name_or_location_and_says_when_nothing_matches(
    stocked, make_item, receive, page_client
):
    """The search box matches a SKU or location code by its start, or any part of a name; a
    search that only items match, one that only locations match, and one nothing matches."""
    make_item("BEAN", name="Soy beans")
    receive("BEAN", "WH1-A-02", 3)
    client = page_client("worker")

    def listed(q: str) -> tuple[list[str], str]:
        html = client.get(f"/stock?q={q}", headers={"HX-Request": "true"}).get_data(as_text=True)
        return re.findall(r'href="/items/([^"]+)"', html), html

    assert listed("RI")[0] == ["RICE"]  # a SKU's start; no location code starts so
    assert listed("beans")[0] == ["BEAN"]  # part of a name
    assert listed("WH1-A-02")[0] == ["BEAN"]  # a location code; no item matches
    assert listed("WH1-A")[0] == ["RICE", "BEAN"]  # in walking order: WH1-A-01, then WH1-A-02
    rows, html = listed("NOTHING-LIKE-IT")
    assert rows == [] and "没有符合条件的库存。" in html  # "No stock matches." (the default language)


def test_stock_and_item_pages_show_quantities(stocked, page_client):
    client = page_client("worker")
    assert "东北大米 Rice" in client.get("/stock").get_data(as_text=True)
    item = client.get("/items/RICE").get_data(as_text=True)
    assert "6901234500035" in item and "WH1-A-01" in item
    assert client.get("/items/NOPE").status_code == 404
    assert client.get("/locations/NOPE").status_code == 404


def test_move_form_posts_once_per_key(stocked, page_client, balance, move_count):
    client = page_client("worker")
    key = _key(client.get("/moves/new").get_data(as_text=True))
    form = {"type": "transfer", "sku": "RICE", "qty": "5", "from_location": "WH1-A-01",
            "to_location": "WH1-A-02", "idempotency_key": key}
    first = client.post("/moves", form, htmx=True)
    assert first.status_code == 200
    assert "data-move" in first.get_data(as_text=True)
    new_key = _key(first.get_data(as_text=True))  # out-of-band swap gives the form a fresh key
    assert new_key != key
    double_click = client.post("/moves", form, htmx=True)
    assert double_click.get_data(as_text=True) == first.get_data(as_text=True)
    assert balance("RICE", "WH1-A-02") == 5
    assert move_count(type="transfer") == 1


def test_move_form_error_is_a_422_fragment_and_changes_nothing(stocked, page_client, balance):
    client = page_client("worker")
    form = {"type": "issue", "sku": "RICE", "qty": "50", "from_location": "WH1-A-01", "idempotency_key": "k1"}
    r = client.post("/moves", form, htmx=True)
    assert r.status_code == 409
    assert 'class="error-box"' in r.get_data(as_text=True)
    r = client.post("/moves", {**form, "qty": "-2", "idempotency_key": "k2"}, htmx=True)
    assert r.status_code == 422
    r = client.post("/moves", {**form, "idempotency_key": ""}, htmx=True)
    assert r.status_code == 400
    assert balance("RICE", "WH1-A-01") == 12


def test_worker_cannot_adjust_but_supervisor_can(stocked, page_client, balance):
    form = {"type": "adjustment", "sku": "RICE", "qty": "1", "to_location": "WH1-A-01", "idempotency_key": "a"}
    assert page_client("worker").post("/moves", form, htmx=True).status_code == 403
    assert page_client("supervisor").post("/moves", form, htmx=True).status_code == 200
    assert balance("RICE", "WH1-A-01") == 13


def test_admin_creates_warehouse_location_item_through_pages(page_client):
    admin = page_client("admin")
    assert admin.post("/warehouses", {"code": "WH9", "name": "Nine"}).status_code == 303
    assert admin.post("/locations", {"code": "WH9-A-01", "warehouse": "WH9", "type": "storage"}).status_code == 303
    r = admin.post("/items", {"sku": "PEN", "name": "Pen", "barcodes": "4006381333931\n4006381333948*12",
                              "unit_cost": "1.5"})
    assert r.status_code == 303
    page = admin.get("/items/PEN").get_data(as_text=True)
    assert "4006381333948" in page
    dup = admin.post("/items", {"sku": "PEN", "name": "Pen again"})
    assert dup.status_code == 409


def test_worker_cannot_use_admin_forms(page_client):
    worker = page_client("worker")
    assert worker.post("/warehouses", {"code": "WH9", "name": "Nine"}).status_code == 403
    assert worker.get("/users").status_code == 403


def test_language_switch_and_accept_language(app, page_client):
    client = page_client("worker")
    assert 'lang="zh-CN"' in client.get("/").get_data(as_text=True)
    client.post("/language", {"language": "en", "next": "/stock"})
    assert 'lang="en"' in client.get("/").get_data(as_text=True)
    anon = app.test_client()
    assert 'lang="en"' in anon.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert 'lang="zh-CN"' in anon.get("/login", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
