"""Database engine behaviour that must hold on every connection.

SQLite: WAL (readers never wait for the writer), foreign keys on, a busy timeout, and every
write transaction opened with BEGIN IMMEDIATE. A deferred BEGIN takes its write lock only at the
first write; if another writer committed meanwhile, SQLite cannot upgrade the stale read
snapshot and fails at once with "database is locked" (the busy timeout does not help). Read-only
page views (GET) keep a deferred BEGIN so they run alongside the writer.

Writers also queue for SQLite's one write lock on a lock file (``<database>-writers.lock``)
before BEGIN IMMEDIATE. SQLite's own busy handler polls with sleeps growing to 100 ms, so
under load a writer could lose the race again and again (seconds, for one scan); in the queue
the kernel wakes the next writer when the last one commits (see `_WriterQueue`).
The queue only orders writers: if it cannot be had within the busy timeout, the transaction
goes on to BEGIN IMMEDIATE and SQLite's own lock, which is what keeps writes serial.
"""

from __future__ import annotations

import fcntl
import os
import queue
import sqlite3
import threading
import time

from flask import has_request_context, request
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BUSY_TIMEOUT_S = 15


class _Turn:
    """One request for the lock file, handed to the queue's helper thread."""

    def __init__(self, fd: int):
        self.fd = fd
        self.granted = threading.Event()
        self.state_lock = threading.Lock()
        self.abandoned = False
        self.failed = False


class _WriterQueue:
    """One per database file and process: a thread lock orders the threads of this process, and
    an ``flock`` on the lock file the processes.

    The flock is taken *blocking*, so the kernel wakes a waiting process the moment the lock is
    free. Polling it instead (flock has no timeout) was unfair: a process that had waited long
    slept between polls while a newcomer took the lock at once, and with keep-alive connections
    the unlucky handhelds waited half a second (docs/benchmarks.md). A blocking call cannot time
    out, so it runs in a helper thread (one per process, started when first needed: at most one
    thread of a process waits for the file at a time, the one holding the thread lock) and the
    writer waits for it with the busy timeout. A turn given up after the timeout is released by
    the helper as soon as it arrives.
    """

    def __init__(self, path: str):
        self.path = f"{path}-writers.lock"
        self.thread_lock = threading.Lock()
        self.fd: int | None = None
        self._turns: queue.SimpleQueue[_Turn] = queue.SimpleQueue()
        self._helper_pid: int | None = None

    def acquire(self) -> bool:
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        if not self.thread_lock.acquire(timeout=BUSY_TIMEOUT_S):
            return False
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:  # a read-only directory: SQLite's own lock still orders the writers
            self.thread_lock.release()
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not self._wait_for_turn(fd, deadline):
                self.thread_lock.release()
                return False
        self.fd = fd
        return True

    def _wait_for_turn(self, fd: int, deadline: float) -> bool:
        if self._helper_pid != os.getpid():  # first use in this process (workers are forked)
            self._turns = queue.SimpleQueue()
            threading.Thread(target=self._take_turns, name="sqlite-writers-queue", daemon=True).start()
            self._helper_pid = os.getpid()
        turn = _Turn(fd)
        self._turns.put(turn)
        turn.granted.wait(max(0.0, deadline - time.monotonic()))
        with turn.state_lock:
            if not turn.granted.is_set():
                turn.abandoned = True  # the helper closes the file (and so gives the turn back)
                return False
        if turn.failed:
            os.close(fd)
            return False
        return True

    def _take_turns(self) -> None:
        turns = self._turns
        while True:
            turn = turns.get()
            try:
                fcntl.flock(turn.fd, fcntl.LOCK_EX)
            except OSError:  # the writer goes on to SQLite's own lock
                turn.failed = True
            with turn.state_lock:
                if turn.abandoned:
                    os.close(turn.fd)
                else:
                    turn.granted.set()

    def release(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)  # closing the file releases the flock
        self.thread_lock.release()


_queues: dict[str, _WriterQueue] = {}
_holders: dict[int, _WriterQueue] = {}  # id(connection record) → the queue whose turn it holds
_queues_lock = threading.Lock()


def _queue_for(path: str) -> _WriterQueue:
    with _queues_lock:
        if path not in _queues:
            _queues[path] = _WriterQueue(path)
        return _queues[path]


def _is_sqlite(dbapi_connection) -> bool:
    return type(dbapi_connection).__module__.startswith("sqlite3")


@event.listens_for(Engine, "connect")
def _on_connect(dbapi_connection, connection_record):
    if not _is_sqlite(dbapi_connection):
        return
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL: a crash loses no committed data
    path = next((row[2] for row in cursor.execute("PRAGMA database_list") if row[1] == "main"), "")
    cursor.close()
    if path:  # not for an in-memory database
        connection_record.info["writer_queue"] = _queue_for(path)


@event.listens_for(Engine, "begin")
def _on_begin(conn):
    if conn.dialect.name != "sqlite":
        return
    if has_request_context() and request.method in _READ_METHODS:
        conn.exec_driver_sql("BEGIN")
        return
    record = conn.connection._connection_record
    queue = record.info.get("writer_queue")
    if queue is not None and id(record) not in _holders and queue.acquire():
        _holders[id(record)] = queue
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _next_writer(connection_record) -> None:
    queue = _holders.pop(id(connection_record), None)
    if queue is not None:
        queue.release()


@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _on_end(conn):
    """The transaction ends: the next writer may start (SQLite's own lock covers the commit)."""
    if conn.dialect.name != "sqlite":
        return
    try:
        record = conn.connection._connection_record
    except Exception:  # noqa: BLE001 - an invalidated connection: the pool's events release it
        return
    _next_writer(record)


@event.listens_for(Pool, "checkin")
def _on_checkin(dbapi_connection, connection_record):
    """Back in the pool: the connection holds no writer's turn (a safety net for SQLite), and it is
    idle from now (`_ping_after_idle`)."""
    if connection_record is not None:
        _next_writer(connection_record)
        connection_record.info["idle_since"] = time.monotonic()


@event.listens_for(Pool, "invalidate")
def _on_invalidate(dbapi_connection, connection_record, exception):
    _next_writer(connection_record)


# A pooled PostgreSQL connection idle for longer than this is pinged before it is handed out.
IDLE_PING_SECONDS = 5.0


@event.listens_for(Pool, "checkout")
def _ping_after_idle(dbapi_connection, connection_record, connection_proxy):
    """Ping a connection that sat idle (the server may have restarted meanwhile), not every one.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: one more round trip per request, a
    tenth of a scan post's time under load, to guard against what happens after idle hours. A
    busy connection is checked by its own statements: if the server dropped it anyway, the pool
    is renewed, a write is retried on a new connection (`web.run_in_transaction`) and anything
    else answers 503 "try again" (`web.handle_unexpected`)."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        return
    idle_since = connection_record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.rollback()
    except Exception as error:  # noqa: BLE001 - any failure means: not usable, take another
        raise exc.DisconnectionError(str(error)) from error


def engine_options(url: str) -> dict:
    """SQLite: a busy timeout, shared across threads. PostgreSQL: a pool for the worker's
    threads, without ``pool_pre_ping`` (see `_ping_after_idle`)."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 15, "check_same_thread": False}}
    return {"pool_size": 10, "max_overflow": 10}
