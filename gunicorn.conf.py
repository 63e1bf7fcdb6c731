"""gunicorn settings used by `make run` and the README (see docs/benchmarks.md for the choice)."""

import multiprocessing
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# Single-threaded processes, 4 per core: a scan spends much of its time waiting for the database,
# so several processes keep the cores busy; one thread each means no request of a worker waits for
# the interpreter lock while another holds it. That wait made the slowest 1 % of scans, above all
# on a hot item, whose balance row stays locked until the request commits: on two cores 4 x 4 gave
# p99 47-70 ms, 8 x 1 36 ms spread and hot; 16 x 1 was as fast spread but its hot item queued
# behind lock holders waiting for a core (docs/benchmarks.md). Capped at 32 so that three app
# servers stay within PostgreSQL's default 100 connections (a worker uses one).
workers = int(os.environ.get("WEB_CONCURRENCY", min(4 * multiprocessing.cpu_count(), 32)))
worker_class = "gthread"
threads = int(os.environ.get("SCANAPP_THREADS", 1))
timeout = 30
graceful_timeout = 20
# Keep-alive, short, with a cap on each worker's connections. A new TCP connection for every
# request costs about 1 ms of CPU per scan (accept, handshake, close on both sides); keeping it
# measured 290-310 -> 370-440 posts/s (docs/benchmarks.md). Uncapped, a gthread worker accepts
# every connection it can, and a handful of busy keep-alive clients all ended up on one worker,
# i.e. one core. Capped at 2 x threads, a worker serves `threads` requests at once and keeps at
# most as many idle connections (gunicorn closes a connection after its response when
# worker_connections - threads are idle already), so idle handhelds never take a busy one's
# thread, the connections spread over the workers, and an idle one is closed after 1 s. With one
# thread, 4 (3 idle kept): at 2 a worker closed most connections after their response (601 posts/s,
# p99 80 ms) and at 16 the clients piled onto a few workers (424 posts/s).
keepalive = 1
worker_connections = int(os.environ.get("SCANAPP_WORKER_CONNECTIONS", max(4, 2 * threads)))
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
