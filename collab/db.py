"""A small pool of threads for the database work of rooms.

Its threads keep their connections open between calls (Django's per-request
closing does not reach them), so a group commit costs one round trip, not a
new connection. A failed call closes its thread's connection: the next one
reconnects, e.g. after a database restart.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection

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
