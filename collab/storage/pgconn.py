"""One PostgreSQL connection driven from the event loop through libpq.

The group commit runs one small statement per keystroke. Through psycopg's
cursor each cost about 200 µs of the worker's CPU (adapting the parameters, its
generators, and registering the socket with the loop and removing it again for
every wait); straight through libpq, with the socket registered once, about
100 µs, and the round trip is about 0.1 ms shorter (`bench/appends.py`). The
connection is still opened, and closed, by psycopg; only the statements bypass
its cursor.

Parameters go as text, except `bytes`, which go in binary: every placeholder of
the statements sent here has a type PostgreSQL can tell, from a cast or from
the column it is compared with. Values come back as text (`str`) or `None`, or,
with `binary=True`, in PostgreSQL's binary format (`bytes`), which the `as_*`
functions below read.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import psycopg
from psycopg import pq
from psycopg.errors import error_from_result

from collab.infra.watchdog import Watchdog

# Statement shapes worth preparing per connection; the rare larger batch runs unprepared.
MAX_PREPARED = 64

_FAILED = {pq.ExecStatus.FATAL_ERROR, pq.ExecStatus.BAD_RESPONSE, pq.ExecStatus.NONFATAL_ERROR}


@lru_cache(maxsize=256)
def numbered(sql: str) -> bytes:
    """The statement with psycopg's `%s` placeholders numbered as libpq's `$1`, `$2`, ..."""
    count = iter(range(1, 1 << 16))
    return re.sub("%s", lambda _: f"${next(count)}", sql).encode()


def encode(params: list) -> tuple[list[bytes | None], list[int]]:
    """Parameters as libpq takes them, with their formats (0 text, 1 binary)."""
    values: list[bytes | None] = []
    formats: list[int] = []
    for value in params:
        if value is None:
            values.append(None)
            formats.append(0)
        elif isinstance(value, bytes):
            values.append(value)
            formats.append(1)
        elif isinstance(value, (int, str)) and not isinstance(value, bool):
            values.append(str(value).encode())
            formats.append(0)
        else:
            raise TypeError(f"cannot send a {type(value).__name__} as a parameter")
    return values, formats


def _rows(result: pq.PGresult, binary: bool) -> list[tuple]:
    columns, value = range(result.nfields), result.get_value
    if binary:
        return [tuple(value(row, col) for col in columns) for row in range(result.ntuples)]
    return [tuple(as_str(value(row, col)) for col in columns) for row in range(result.ntuples)]  # text format


def _checked(results: list[pq.PGresult | None]) -> list[pq.PGresult]:
    """The results, unless one is missing or failed: then raise (the first failure's error)."""
    for result in results:
        if result is not None and result.status in _FAILED:
            raise error_from_result(result)
    if not results or None in results:
        raise psycopg.OperationalError("no result from the server")
    return results


# -- values in PostgreSQL's binary format (`fetch(..., binary=True)`) ----------------

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # timestamps count microseconds from here


def as_int(value: bytes | None) -> int | None:
    """smallint, integer or bigint (big-endian two's complement)."""
    return None if value is None else int.from_bytes(value, "big", signed=True)


def as_bool(value: bytes | None) -> bool | None:
    return None if value is None else value != b"\x00"


def as_str(value: bytes | None) -> str | None:
    """text or varchar (and any value sent in the text format)."""
    return None if value is None else value.decode()


def as_datetime(value: bytes | None) -> datetime | None:
    """timestamptz, in UTC."""
    return None if value is None else _EPOCH + timedelta(microseconds=as_int(value))


class PgConnection:
    """An open autocommit connection that runs one statement at a time.

    The loop watches its socket for as long as it is open, so a connection the
    server ends while idle is seen at once (`broken`), not at the next commit.
    """

    def __init__(self, conn: psycopg.AsyncConnection, *, prepare: bool = True, timeout: float = 30):
        self.conn = conn
        self.pgconn = conn.pgconn
        self.pgconn.nonblocking = 1
        self.prepare = prepare
        self.prepared: dict[bytes, bytes] = {}
        self.broken: Exception | None = None
        self._waiter: asyncio.Future | None = None
        self._loop = asyncio.get_running_loop()
        self._fd = self.pgconn.socket
        self._loop.add_reader(self._fd, self._readable)
        # A server that stops answering mid-statement (its host gone without a word)
        # would hold the statement, and the room committing through it, until the
        # kernel gives up on the connection, a quarter of an hour later.
        self._watchdog = Watchdog(timeout, self._unanswered)

    @classmethod
    async def connect(cls, params: dict, *, prepare: bool = True, timeout: float = 30) -> PgConnection:
        """`timeout`: seconds a statement may wait for the server before the connection is given up."""
        conn = await psycopg.AsyncConnection.connect(autocommit=True, **params)
        return cls(conn, prepare=prepare, timeout=timeout)

    async def fetch(self, sql: str, params: list, *, binary: bool = False) -> list[tuple]:
        """Run one statement (psycopg's `%s` placeholders); return its rows as text,
        or with `binary` as PostgreSQL's binary values."""
        send = await self._sender(sql, params, binary)
        return _rows(await self._run(send), binary)

    async def fetch_each(self, statements: list[tuple[str, list]], *, binary: bool = False) -> list[list[tuple]]:
        """Run several statements in one round trip (libpq's pipeline mode), one after
        the other in one implicit transaction (under READ COMMITTED each still sees
        what was committed when it began); return each one's rows as `fetch` does. If
        one fails, those after it are skipped and its error is raised."""
        sends = [await self._sender(sql, params, binary) for sql, params in statements]
        return [_rows(result, binary) for result in await self._pipeline(sends)]

    async def _sender(self, sql: str, params: list, binary: bool):
        """What sends the statement, prepared first if it is to be and is not yet."""
        if self.broken is not None:
            raise psycopg.OperationalError(f"the connection was lost: {self.broken}")
        pgconn, text = self.pgconn, numbered(sql)
        values, formats = encode(params)
        name = self.prepared.get(text)
        if name is None and self.prepare and len(self.prepared) < MAX_PREPARED:
            name = b"collab_%d" % len(self.prepared)
            await self._run(lambda: pgconn.send_prepare(name, text))
            self.prepared[text] = name
        fmt = 1 if binary else 0
        if name is None:
            return lambda: pgconn.send_query_params(text, values, param_formats=formats, result_format=fmt)
        return lambda: pgconn.send_query_prepared(name, values, param_formats=formats, result_format=fmt)

    async def _run(self, send) -> pq.PGresult:
        """Send one command and wait for all its results; return the last, or raise its error."""
        with self._watchdog:
            send()
            await self._flush()
            results = []
            while True:
                while not self.pgconn.is_busy():
                    result = self.pgconn.get_result()
                    if result is None:
                        _checked(results)
                        return results[-1]
                    results.append(result)
                await self._more()

    async def _pipeline(self, sends) -> list[pq.PGresult]:
        """Send the commands and a sync point at once; return the last result of each,
        or raise the first error, once the sync point is reached."""
        pgconn = self.pgconn
        with self._watchdog:
            pgconn.enter_pipeline_mode()
            for send in sends:
                send()
            pgconn.pipeline_sync()
            await self._flush()
            results: list[pq.PGresult | None] = []
            last = None  # the current command's latest result
            while True:
                while not pgconn.is_busy():
                    result = pgconn.get_result()
                    if result is None:  # the end of one command's results
                        results.append(last)
                        last = None
                    elif result.status == pq.ExecStatus.PIPELINE_SYNC:
                        pgconn.exit_pipeline_mode()
                        return _checked(results)
                    else:
                        last = result
                await self._more()

    async def _flush(self) -> None:
        while self.pgconn.flush():  # nonblocking: part of it is still to go
            await self._writable()

    async def _more(self) -> None:
        """Wait until the server has sent more; raise if the connection was lost."""
        if self.broken is not None:
            raise psycopg.OperationalError(f"the connection was lost: {self.broken}")
        self._waiter = self._loop.create_future()
        await self._waiter

    def _readable(self) -> None:
        try:
            self.pgconn.consume_input()
            if self.pgconn.status == pq.ConnStatus.BAD:
                raise psycopg.OperationalError(self.pgconn.get_error_message())
        except Exception as exc:
            self._lost(exc)
            return
        waiter = self._waiter
        if waiter is not None and not waiter.done() and not self.pgconn.is_busy():
            waiter.set_result(None)

    def _unanswered(self) -> None:
        self._lost(psycopg.OperationalError(f"no answer from the server within {self._watchdog.timeout:g} s"))

    def _lost(self, exc: Exception) -> None:
        self.broken = exc
        self._loop.remove_reader(self._fd)  # a closed socket stays readable: stop watching it
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    async def _writable(self) -> None:
        waiter = self._waiter = self._loop.create_future()  # failed too if the connection is lost
        self._loop.add_writer(self._fd, lambda: waiter.done() or waiter.set_result(None))
        try:
            await waiter
        finally:
            self._loop.remove_writer(self._fd)

    async def close(self) -> None:
        if self.broken is None:
            self.broken = psycopg.OperationalError("closed")
            self._loop.remove_reader(self._fd)
        await self.conn.close()
