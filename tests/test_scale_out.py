"""Two app servers, one PostgreSQL: two gunicorn instances on different ports against one
database, load on both at once. Nobody oversells a hot item across servers, a key replayed on
the other server posts once, and the ledger check holds afterwards."""

import threading
import uuid
from collections import Counter

import httpx
import pytest

from tests.conftest import race
from tests.servers import PG_URL, Gunicorn, check, post_until_answered, scratch_database, seed

pytestmark = [pytest.mark.race, pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set")]

STOCK = 60
CLIENTS = 8
ATTEMPTS = 12  # 96 attempts at 60 units
REPLAYS = 20


def test_two_servers_share_one_ledger(tmp_path):
    with scratch_database() as url:
        tokens = seed(url, locations=("WH1-A-01", "WH1-A-02"), items=("HOT", "KEYED"),
                      stock=(("HOT", "WH1-A-01", STOCK),), users=[f"hand{i}" for i in range(CLIENTS)])
        servers = [Gunicorn(url, workers=1, threads=4, log_path=tmp_path / f"gunicorn{n}.log") for n in (1, 2)]
        try:
            urls = [s.base_url for s in servers]
            codes = Counter()
            lock = threading.Lock()

            def oversell(i):
                token = tokens[f"hand{i}"]
                body = {"type": "issue", "sku": "HOT", "qty": 1, "from_location": "WH1-A-01"}
                with httpx.Client() as client:
                    for n in range(ATTEMPTS):
                        # Alternate servers: every client hits both instances.
                        status, _payload, _ = post_until_answered(client, [urls[(i + n) % 2]], token, body,
                                                                  uuid.uuid4().hex)
                        with lock:
                            codes[status] += 1

            race(CLIENTS, oversell)
            assert codes == Counter({201: STOCK, 409: CLIENTS * ATTEMPTS - STOCK}), codes

            # One key sent to both servers at the same moment, as a phone that switched access points.
            replay_clients = [httpx.Client() for _ in range(2)]
            try:
                for rep in range(REPLAYS):
                    key = f"both-{rep}"
                    body = {"type": "receipt", "sku": "KEYED", "qty": 1, "to_location": "WH1-A-02",
                            "idempotency_key": key}
                    results = race(2, lambda i, key=key, body=body: post_until_answered(
                        replay_clients[i], [urls[i]], tokens["hand0"], body, key))
                    assert [status for status, _p, _r in results] == [201, 201], results
                    assert len({payload["move"]["id"] for _s, payload, _r in results}) == 1
            finally:
                for client in replay_clients:
                    client.close()
        finally:
            for server in servers:
                server.stop()

        result = check(url)
        assert result["problems"] == []
        assert result["unanswered_keys"] == 0
        assert {k: v for k, v in result["moves_per_key"].items() if k} == {f"both-{rep}": 1 for rep in range(REPLAYS)}
