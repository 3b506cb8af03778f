"""Where rooms do their database work: a small pool of threads, and on PostgreSQL
connections used straight from the event loop for the group commit.

The threads keep their connections open between calls (Django's per-request
closing does not reach them), so a call costs one round trip, not a new
connection. A failed call closes its thread's connection: the next one
reconnects, e.g. after a database restart.

A group commit is on every keystroke's path. Through a thread it also waits for
the thread to wake and, under load, for the event loop's thread to let go of
the GIL: on PostgreSQL, where `use_loop_connections()` was called (`manage.py
serve` does), appends go over connections driven by the loop itself
(`collab.storage.pgconn`), and appends from several rooms share a statement when they
have to wait. The reads of a room that opens (its rights and log) go there too.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection

from collab.access import rights as access
from collab.storage import persistence
from collab.storage.pgconn import PgConnection

logger = logging.getLogger(__name__)

_executor: ThreadPoolExecutor | None = None


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=settings.COLLAB_DB_THREADS, thread_name_prefix="collab-db")
    return _executor


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except BaseException:
        # The connection may be broken (database restarted): start afresh next time.
        connection.close()
        raise


async def run(fn, *args, **kwargs) -> Any:
    """Run a synchronous database function in the pool."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_get_executor(), partial(_call, fn, *args, **kwargs))


def shutdown() -> None:
    """Close every thread's connection and stop the pool (tests, process exit)."""
    global _executor
    if _executor is None:
        return
    executor, _executor = _executor, None
    threads = executor._max_workers
    # One task per thread: the barrier keeps a thread from taking a second one.
    barrier = threading.Barrier(threads)

    def close_this_threads_connection():
        connection.close()
        barrier.wait(timeout=10)

    for future in [executor.submit(close_this_threads_connection) for _ in range(threads)]:
        future.result()
    executor.shutdown(wait=True)


# -- PostgreSQL from the event loop ---------------------------------------------------


class LoopConnections:
    """Appends of all rooms of an event loop, over up to `size` connections (`PgConnection`).

    Up to `size` statements run at once; appends that arrive meanwhile wait and go
    together into the next one (one transaction for several documents), so under
    load the database sees fewer, larger commits, and at low load every append has
    a statement of its own at once. The connections are opened as the loop starts.
    """

    def __init__(self, params: dict, size: int, *, prepare: bool = True):
        self.params = params
        self.prepare = prepare
        self.size = size
        self.idle: list = []
        self.running = 0
        self.waiting: list[tuple[str, list[bytes], list[int | None], asyncio.Future]] = []
        self._tasks: set[asyncio.Task] = set()
        self._opening: asyncio.Task | None = None
        self.opened = 0  # connections open or being opened, idle or in use
        self._reads = asyncio.Semaphore(size)  # reads at once, beside the appends

    async def append(self, document_id, updates: list[bytes], authors: list[int | None]) -> int:
        document_id = str(document_id)
        if self.running < self.size and not self.waiting:
            # A connection is free: store at once, from the caller's own task.
            self.running += 1
            try:
                firsts = await self._run(persistence.append_async, [(document_id, updates, authors)])
            finally:
                self.running -= 1
                self._start()
            if document_id not in firsts:
                raise persistence.DocumentGone(document_id)
            return firsts[document_id]
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((document_id, updates, authors, future))
        self._start()
        return await future

    async def read(self, fn, *args):
        """`await fn(conn, *args)` over one of the connections (a read: nothing waits to share it).

        Up to `size` reads run at once beside the appends, each on an idle
        connection or a new one, which then stays in the pool.
        """
        async with self._reads:
            return await self._run(fn, *args)

    def _start(self) -> None:
        while self.waiting and self.running < self.size:
            batch, self.waiting = self.waiting, []
            self.running += 1
            task = asyncio.create_task(self._store(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _store(self, batch) -> None:
        try:
            if len(batch) > 1 and len({entry[0] for entry in batch}) == len(batch):
                try:
                    firsts = await self._run(persistence.append_async, [entry[:3] for entry in batch])
                except Exception as exc:
                    # Store them one by one, so that one failing document fails alone.
                    logger.warning("appending to %d documents at once failed (%r); one by one", len(batch), exc)
                else:
                    for document_id, _, _, future in batch:
                        _settle(future, firsts.get(document_id), document_id)
                    return
            for document_id, updates, authors, future in batch:
                try:
                    firsts = await self._run(persistence.append_async, [(document_id, updates, authors)])
                except Exception as exc:
                    if not future.done():
                        future.set_exception(exc)
                else:
                    _settle(future, firsts.get(document_id), document_id)
        finally:
            self.running -= 1
            self._start()

    async def _run(self, fn, *args):
        conn = await self._take()
        try:
            result = await fn(conn, *args)
        except BaseException:
            await self._discard(conn)  # broken, or cancelled mid-statement: start afresh next time
            raise
        self.idle.append(conn)
        return result

    async def _take(self):
        """An idle connection the server has not ended (after a restart, say), or a new one."""
        while self.idle:
            conn = self.idle.pop()
            if conn.broken is None:
                return conn
            await self._discard(conn)
        return await self._connect()

    def open_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        """Open the connections ahead of the first edits (each costs milliseconds)."""
        loop.call_soon(lambda: setattr(self, "_opening", loop.create_task(self._open())))

    async def _open(self) -> None:
        try:
            while self.opened < self.size:
                self.idle.append(await self._connect())
        except Exception as exc:
            logger.warning("could not open database connections ahead of time (%r); opening them when needed", exc)

    async def _connect(self) -> PgConnection:
        self.opened += 1  # counted before the await: concurrent openers see it
        try:
            return await PgConnection.connect(self.params, prepare=self.prepare, timeout=settings.COLLAB_DB_TIMEOUT)
        except BaseException:
            self.opened -= 1
            raise

    async def _discard(self, conn) -> None:
        self.opened -= 1
        await _close_quietly(conn)

    async def close(self) -> None:
        if self._opening is not None:
            self._opening.cancel()
        idle, self.idle = self.idle, []
        for conn in idle:
            await self._discard(conn)


def _settle(future: asyncio.Future, first: int | None, document_id: str) -> None:
    if future.done():  # its room stopped waiting; catch-up finds the entries in the log
        return
    if first is None:
        future.set_exception(persistence.DocumentGone(document_id))
    else:
        future.set_result(first)


async def _close_quietly(conn) -> None:
    try:
        await conn.close()
    except Exception:
        pass


_loop_connections: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopConnections] = weakref.WeakKeyDictionary()


def use_loop_connections(loop: asyncio.AbstractEventLoop | None = None) -> bool:
    """Let the event loop (the running one by default) append over its own connections.

    PostgreSQL only; True if so.
    """
    if connection.vendor != "postgresql":
        return False
    params, prepare = loop_connection_params()
    loop = loop or asyncio.get_running_loop()
    conns = _loop_connections[loop] = LoopConnections(params, settings.COLLAB_DB_THREADS, prepare=prepare)
    conns.open_soon(loop)
    return True


def loop_connection_params() -> tuple[dict, bool]:
    """psycopg's connection parameters for Django's PostgreSQL database, and whether
    to prepare statements."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)  # Django's is a synchronous cursor
    params.pop("prepare_threshold", None)
    # These connections run a handful of statements on every keystroke, so they prepare
    # them, unless OPTIONS turns prepared statements off (None, as behind PgBouncer).
    prepare = connection.settings_dict["OPTIONS"].get("prepare_threshold", 0) is not None
    params.setdefault("connect_timeout", 10)  # an unreachable server fails the commit instead of holding it
    return params, prepare


async def close_loop_connections() -> None:
    conns = _loop_connections.pop(asyncio.get_running_loop(), None)
    if conns is not None:
        await conns.close()


async def read(fn_async, fn, *args):
    """A read on the event loop's own connections (`fn_async(conn, *args)`) where it
    has them, else `fn(*args)` in the pool.

    Rooms open for handshakes: under a reconnect, many at once. In the pool each
    read also waited for a thread, and the threads and the event loop took turns
    with the interpreter.
    """
    conns = _loop_connections.get(asyncio.get_running_loop())
    if conns is None:
        return await run(fn, *args)
    return await conns.read(fn_async, *args)


async def load_rights(document_id) -> access.DocumentRights | None:
    """`access.load_rights`, through `read`."""
    return await read(access.load_rights_async, access.load_rights, document_id)


async def read_since(document_id, seq: int = 0) -> persistence.LogState:
    """`persistence.read_since`, through `read`."""
    return await read(persistence.read_since_async, persistence.read_since, document_id, seq)


async def append(document_id, updates: list[bytes], authors: list[int | None]) -> int:
    """`persistence.append`, from the event loop when it has connections of its own."""
    conns = _loop_connections.get(asyncio.get_running_loop())
    if conns is None:
        return await run(persistence.append, document_id, updates, authors)
    return await conns.append(document_id, updates, authors)
