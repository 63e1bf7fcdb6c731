"""A server process dies mid-request: gunicorn with two workers on a scratch PostgreSQL database,
eight handhelds posting keyed moves, and a worker SIGKILLed again and again. Afterwards every
move is whole or absent (the ledger check holds, no key is claimed without its answer) and every
handheld that retried with its keys ends with exactly one move per key."""

import random
import threading
import time
import uuid

import httpx
import pytest

from tests.servers import PG_URL, Gunicorn, check, post_until_answered, scratch_database, seed

pytestmark = [pytest.mark.race, pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set")]

CLIENTS = 8
MOVES_PER_CLIENT = 15
KILLS = 5


def test_killed_workers_lose_no_move_and_post_none_twice(tmp_path):
    with scratch_database() as url:
        tokens = seed(url, locations=("WH1-A-01", "WH1-A-02"), items=("CRASH",),
                      stock=(("CRASH", "WH1-A-01", 400),), users=[f"hand{i}" for i in range(CLIENTS)])
        server = Gunicorn(url, workers=2, threads=4, log_path=tmp_path / "gunicorn.log")
        answers: dict[str, tuple[int, dict]] = {}
        retries = []
        lock = threading.Lock()
        done = threading.Event()

        def handheld(i):
            rng = random.Random(i)  # noqa: S311 - a reproducible load
            token = tokens[f"hand{i}"]
            with httpx.Client() as client:
                for _ in range(MOVES_PER_CLIENT):
                    key = uuid.uuid4().hex
                    if rng.random() < 0.5:
                        body = {"type": "receipt", "sku": "CRASH", "qty": 1, "to_location": "WH1-A-01"}
                    else:
                        body = {"type": "transfer", "sku": "CRASH", "qty": 1, "from_location": "WH1-A-01",
                                "to_location": "WH1-A-02"}
                    body["idempotency_key"] = key  # stored on the move: how many moves each key made
                    status, payload, tries = post_until_answered(client, [server.base_url], token, body, key)
                    with lock:
                        answers[key] = (status, payload)
                        retries.append(tries)

        def killer():
            rng = random.Random(42)  # noqa: S311
            for _ in range(KILLS):
                time.sleep(0.3)
                if done.is_set():
                    return
                server.kill_a_worker(rng)
                # Wait for the master to fork a replacement so that one worker is always up.
                deadline = time.monotonic() + 15
                while len(server.worker_pids()) < server.workers and time.monotonic() < deadline:
                    time.sleep(0.05)

        try:
            threads = [threading.Thread(target=handheld, args=(i,)) for i in range(CLIENTS)]
            kill_thread = threading.Thread(target=killer)
            for t in threads:
                t.start()
            kill_thread.start()
            for t in threads:
                t.join(180)
            done.set()
            kill_thread.join(30)
        finally:
            server.stop()

        assert len(answers) == CLIENTS * MOVES_PER_CLIENT
        assert sum(retries) > 0, "no request was cut off: the kills missed every request"
        bad = {k: a for k, a in answers.items() if a[0] != 201}
        assert not bad, list(bad.values())[:3]  # 400 in stock: no transfer can run short
        result = check(url)
        assert result["problems"] == []
        assert result["unanswered_keys"] == 0
        per_key = result["moves_per_key"]
        assert {k: per_key.get(k, 0) for k in answers} == dict.fromkeys(answers, 1)
        moved = {payload["move"]["id"] for _status, payload in answers.values()}
        assert len(moved) == len(answers)  # a retry got the first answer back, not a second move
