"""Races with real threads, separate connections, released together by a barrier; each repeated
20 times. They run on SQLite and, in CI, on PostgreSQL (where row locks are the real test)."""

import uuid
from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from scanapp.extensions import db
from scanapp.inventory.models import StockBalance
from tests.conftest import race

pytestmark = pytest.mark.race
REPEATS = 20




@pytest.fixture
def worker_api(api_client, make_location, make_item):
    make_location("WH1-A-01")
    make_location("WH1-A-02")
    return api_client("worker")


def _post(api, body, key=None):
    # A fresh test client per call: its own app context, session and database connection.
    client = api.client.application.test_client()
    headers = api._headers(key or uuid.uuid4().hex)
    response = client.post("/api/v1/moves", json=body, headers=headers)
    return response.status_code, response.get_json()


def test_sixteen_workers_never_oversell(app, make_location, make_item, receive, balance):
    """1,000 units, 16 threads × 100 attempts to issue one unit → exactly 1,000 succeed, balance 0.

    Straight through the service layer (each thread its own app context, session and connection)
    so that twenty repetitions stay quick; the HTTP path is raced in the tests below."""
    from scanapp.inventory import services
    from scanapp.inventory.errors import InsufficientStock
    from scanapp.web import run_in_transaction

    make_location("WH1-A-01")
    for rep in range(REPEATS):
        sku = f"HOT-{rep}"
        make_item(sku)
        receive(sku, "WH1-A-01", 1000)

        def attempts(_i, sku=sku):
            codes = Counter()
            with app.app_context():
                for _ in range(100):
                    try:
                        run_in_transaction(services.move_stock, type="issue", sku=sku, qty=1,
                                           from_location="WH1-A-01", user_id=None)
                        codes["posted"] += 1
                    except InsufficientStock:
                        codes["refused"] += 1
                db.session.remove()
            return codes

        totals = sum(race(16, attempts), Counter())
        assert totals == Counter({"posted": 1000, "refused": 600}), totals
        assert balance(sku, "WH1-A-01") == 0


def test_last_unit_goes_to_exactly_one_worker(worker_api, make_item, receive, balance):
    for rep in range(REPEATS):
        sku = f"LAST-{rep}"
        make_item(sku)
        receive(sku, "WH1-A-01", 1)
        body = {"type": "issue", "sku": sku, "qty": 1, "from_location": "WH1-A-01"}
        codes = [status for status, _ in race(20, lambda _i, body=body: _post(worker_api, body))]
        assert Counter(codes) == Counter({201: 1, 409: 19}), codes
        assert balance(sku, "WH1-A-01") == 0


def test_twenty_five_repeats_of_one_key_post_once(worker_api, make_item, move_count):
    make_item("KEYED")
    for rep in range(REPEATS):
        key = f"retry-{rep}"
        body = {"type": "receipt", "sku": "KEYED", "qty": 2, "to_location": "WH1-A-01"}
        results = race(20, lambda _i, body=body, key=key: _post(worker_api, body, key))
        results += [_post(worker_api, body, key) for _ in range(5)]
        assert {status for status, _ in results} == {201}
        assert len({payload["move"]["id"] for _, payload in results}) == 1
    assert move_count(type="receipt") == REPEATS


def test_two_first_receipts_into_an_empty_balance(worker_api, app, make_item, balance):
    for rep in range(REPEATS):
        sku = f"FIRST-{rep}"
        make_item(sku)
        body = {"type": "receipt", "sku": sku, "qty": 3, "to_location": "WH1-A-02"}
        codes = [status for status, _ in race(2, lambda _i, body=body: _post(worker_api, body))]
        assert codes == [201, 201]
        assert balance(sku, "WH1-A-02") == Decimal(6)
        with app.app_context():
            rows = db.session.execute(
                select(func.count()).select_from(StockBalance).join(StockBalance.item).where(
                    StockBalance.item.has(sku=sku))
            ).scalar_one()
            db.session.remove()
        assert rows == 1


def test_opposite_transfers_do_not_deadlock(worker_api, make_item, receive, balance):
    make_item("SWAP")
    receive("SWAP", "WH1-A-01", 100)
    receive("SWAP", "WH1-A-02", 100)
    a_to_b = {"type": "transfer", "sku": "SWAP", "qty": 1, "from_location": "WH1-A-01", "to_location": "WH1-A-02"}
    b_to_a = {**a_to_b, "from_location": "WH1-A-02", "to_location": "WH1-A-01"}
    for _rep in range(REPEATS):
        results = race(8, lambda i: _post(worker_api, a_to_b if i % 2 else b_to_a))
        assert [status for status, _ in results] == [201] * 8, results
    assert balance("SWAP", "WH1-A-01") == 100
    assert balance("SWAP", "WH1-A-02") == 100
