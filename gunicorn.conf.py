"""gunicorn settings used by `make run` and the README (see docs/benchmarks.md for the choice)."""

import multiprocessing
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
worker_class = "gthread"
threads = int(os.environ.get("SCANAPP_THREADS", 4))
timeout = 30
graceful_timeout = 20
# Keep-alive, short, with a cap on each worker's connections. A new TCP connection for every
# request costs about 1 ms of CPU per scan (accept, handshake, close on both sides); keeping it
# measured 290-310 -> 370-440 posts/s (docs/benchmarks.md). Uncapped, a gthread worker accepts
# every connection it can, and a handful of busy keep-alive clients all ended up on one worker,
# i.e. one core. Capped at 2 x threads, a worker serves `threads` requests at once and keeps at
# most as many idle connections (gunicorn closes a connection after its response when
# worker_connections - threads are idle already), so idle handhelds never take a busy one's
# thread, the connections spread over the workers, and an idle one is closed after 1 s.
keepalive = 1
worker_connections = int(os.environ.get("SCANAPP_WORKER_CONNECTIONS", 2 * threads))
accesslog = "-"
# Workers are forked after the app is imported; create_app connects to nothing at import, so
# every worker opens its own database connections.
preload_app = False


def post_worker_init(worker):
    """Move everything the worker built at start (modules, the ORM's mappers, catalogs) out of the
    garbage collector's sight. A full collection scanned all of it and stopped the worker's
    threads for 130-330 ms under load, the slowest scans of the benchmark; after `gc.freeze()` it
    takes under a millisecond (docs/benchmarks.md)."""
    import gc

    from sqlalchemy.orm import configure_mappers

    configure_mappers()  # otherwise done, and left to the collector, on the first request
    gc.collect()
    gc.freeze()
