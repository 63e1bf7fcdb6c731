"""gunicorn settings used by `make run` and the README (see docs/benchmarks.md for the choice)."""

import multiprocessing
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
worker_class = "gthread"
threads = int(os.environ.get("SCANAPP_THREADS", 4))
timeout = 30
graceful_timeout = 20
# No keep-alive: a gthread worker accepts every connection it can, so a handful of keep-alive
# clients (handhelds, or a proxy's pooled connections) all ended up on one worker, i.e. one
# core: 16 clients on 4 workers ran at 170-192 posts/s with one process at 95 % CPU. A new
# connection per request lets every worker take its share (262 posts/s, 1.5 cores); the
# handshake on a LAN costs less than that, and no client can hold a worker's slots.
keepalive = 0
accesslog = "-"
# Workers are forked after the app is imported; create_app connects to nothing at import, so
# every worker opens its own database connections.
preload_app = False
