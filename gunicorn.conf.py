"""gunicorn settings used by `make run` and the README (see docs/benchmarks.md for the choice)."""

import multiprocessing
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
worker_class = "gthread"
threads = int(os.environ.get("SCANAPP_THREADS", 4))
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = "-"
# Workers are forked after the app is imported; create_app connects to nothing at import, so
# every worker opens its own database connections.
preload_app = False
