"""The event loop's own PostgreSQL connections (`collab.storage.pgconn`), against the real server.

On SQLite there are none: those tests check only that appends stay in the threads.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.utils import timezone

from collab.models import Document, DocumentUpdate
from collab.realtime import db
from collab.storage import persistence
from collab.storage.pgconn import PgConnection, as_bool, as_datetime, as_int, as_str, encode, numbered
from tests.conftest import until
from tests.helpers import edits
from tests.servers import SilencingProxy


def test_statements_are_numbered_and_parameters_sent_as_libpq_takes_them():
    assert numbered("SELECT %s::int, %s::bytea WHERE x = %s") == b"SELECT $1::int, $2::bytea WHERE x = $3"
    assert encode([7, "a3f0", b"\x00\xff", None]) == ([b"7", b"a3f0", b"\x00\xff", None], [0, 0, 1, 0])
    for unsupported in (True, 1.5, object()):
        with pytest.raises(TypeError):
            encode([unsupported])


@pytest.fixture
def pg_params(transactional_db):
    """Connection parameters of the test database (tests using it are marked `postgres`)."""
    return db.loop_connection_params()[0]


@pytest.mark.postgres
async def test_a_statement_returns_its_rows_as_text_and_an_error_leaves_the_connection_usable(pg_params):
    conn = await PgConnection.connect(pg_params)
    try:
        rows = await conn.fetch("SELECT %s::bytea, %s::int, %s::text, %s::int", [b"\x00\xff", 5, "héllo", None])
        assert rows == [("\\x00ff", "5", "héllo", None)]
        with pytest.raises(psycopg.errors.DivisionByZero):
            await conn.fetch("SELECT 1 / %s::int", [0])
        assert await conn.fetch("SELECT 1 / %s::int", [1]) == [("1",)]
        assert await conn.fetch("SELECT 1 WHERE false", []) == []
        assert len(conn.prepared) == 3  # one per statement text, the failed one included
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_statements_run_unprepared_when_told_or_past_the_limit(pg_params, monkeypatch):
    unprepared = await PgConnection.connect(pg_params, prepare=False)
    monkeypatch.setattr("collab.storage.pgconn.MAX_PREPARED", 1)
    limited = await PgConnection.connect(pg_params)
    try:
        for conn in (unprepared, limited):
            assert await conn.fetch("SELECT %s::int + 1", [1]) == [("2",)]
            assert await conn.fetch("SELECT %s::int + 2", [1]) == [("3",)]
            names = await conn.fetch("SELECT count(*) FROM pg_prepared_statements", [])
            assert names == [(str(len(conn.prepared)),)]
        assert unprepared.prepared == {} and len(limited.prepared) == 1
    finally:
        await unprepared.close()
        await limited.close()


@pytest.mark.postgres
async def test_a_connection_the_server_ends_while_idle_is_seen_broken_at_once(pg_params):
    conn = await PgConnection.connect(pg_params)
    other = await PgConnection.connect(pg_params)
    try:
        pid = conn.pgconn.backend_pid
        assert await other.fetch("SELECT pg_terminate_backend(%s::int)", [pid]) == [("t",)]
        assert await until(lambda: conn.broken is not None)  # without a statement sent on it
        with pytest.raises(psycopg.OperationalError):
            await conn.fetch("SELECT 1", [])
    finally:
        await conn.close()
        await other.close()


@pytest.mark.postgres
async def test_appends_after_the_server_ended_the_loops_connections_reconnect_and_store(pg_params, owner, settings):
    from channels.db import database_sync_to_async

    document = await database_sync_to_async(Document.objects.create)(owner=owner)
    assert db.use_loop_connections()
    conns = db._loop_connections[asyncio.get_running_loop()]
    try:
        updates = edits("a", "b")
        assert await db.append(document.id, updates[:1], [None]) == 1
        await conns._opening
        pids = [conn.pgconn.backend_pid for conn in conns.idle]
        assert len(pids) == settings.COLLAB_DB_THREADS
        killer = await PgConnection.connect(pg_params)
        try:
            for pid in pids:  # as a database restart would
                await killer.fetch("SELECT pg_terminate_backend(%s::int)", [pid])
        finally:
            await killer.close()
        assert await until(lambda: all(conn.broken is not None for conn in conns.idle))  # each socket's end read
        assert await db.append(document.id, updates[1:], [owner.pk]) == 2
        assert conns.opened == 1  # the ended ones were let go, one new one opened
    finally:
        await db.close_loop_connections()
    rows = await database_sync_to_async(list)(
        DocumentUpdate.objects.filter(document=document).order_by("seq").values_list("seq", "data")
    )
    assert rows == [(1, updates[0]), (2, updates[1])]
    assert await database_sync_to_async(persistence.document_text)(document.id) == "ab"


@pytest.mark.postgres
async def test_an_append_the_server_never_answers_fails_after_the_timeout_and_the_next_one_stores(
    pg_params, owner, settings, monkeypatch
):
    # A server whose host went away without a word: without the timeout the append
    # (and the room committing through it) waits until the kernel gives up.
    from channels.db import database_sync_to_async

    document = await database_sync_to_async(Document.objects.create)(owner=owner)
    settings.COLLAB_DB_TIMEOUT = 0.5
    settings.COLLAB_DB_THREADS = 1
    proxy = SilencingProxy(int(pg_params.get("port") or 5432))
    async with proxy as port:
        params = {**pg_params, "host": "127.0.0.1", "port": port}
        monkeypatch.setattr(db, "loop_connection_params", lambda: (params, True))
        assert db.use_loop_connections()
        try:
            updates = edits("a", "b", "c")
            assert await db.append(document.id, updates[:1], [None]) == 1
            proxy.silence()
            started = time.monotonic()
            with pytest.raises(psycopg.OperationalError, match="no answer from the server within 0.5 s"):
                await asyncio.wait_for(db.append(document.id, updates[1:2], [None]), 10)
            assert time.monotonic() - started >= 0.5  # not given up before the timeout
            assert await db.append(document.id, updates[2:], [None]) == 2  # over a new connection
        finally:
            await db.close_loop_connections()
    rows = await database_sync_to_async(list)(
        DocumentUpdate.objects.filter(document=document).order_by("seq").values_list("seq", "data")
    )
    assert rows == [(1, updates[0]), (2, updates[2])]  # the unanswered append never reached the server


@pytest.mark.postgres
async def test_the_loops_connections_prepare_statements_unless_the_settings_turn_them_off(pg_params, monkeypatch):
    from django.db import connection

    for setting, prepared in ((0, True), (None, False)):
        monkeypatch.setitem(connection.settings_dict["OPTIONS"], "prepare_threshold", setting)
        assert db.use_loop_connections()
        conns = db._loop_connections[asyncio.get_running_loop()]
        try:
            await asyncio.sleep(0)  # the loop starts opening them on its next turn
            await conns._opening
            assert conns.prepare is prepared
            assert all(conn.prepare is prepared for conn in conns.idle) and conns.idle
        finally:
            await db.close_loop_connections()


@pytest.mark.postgres
async def test_binary_rows_read_as_python_values(pg_params):
    conn = await PgConnection.connect(pg_params)
    try:
        [row] = await conn.fetch(
            "SELECT %s::int2, %s::int4, %s::int8, true, false, %s::text, %s::bytea, "
            "timestamptz '2026-11-27 18:00:00.123456+01', NULL::int8",
            [-7, 123456, -(2**40), "héllo", b"\x00\xff"],
            binary=True,
        )
    finally:
        await conn.close()
    small, integer, big, yes, no, text, data, when, nothing = row
    assert (as_int(small), as_int(integer), as_int(big)) == (-7, 123456, -(2**40))
    assert (as_bool(yes), as_bool(no), as_str(text), data) == (True, False, "héllo", b"\x00\xff")
    assert as_datetime(when) == datetime(2026, 11, 27, 17, 0, 0, 123456, tzinfo=UTC)
    assert (as_int(nothing), as_bool(nothing), as_str(nothing), as_datetime(nothing)) == (None,) * 4


@pytest.mark.postgres
async def test_a_rooms_reads_from_the_event_loop_match_the_threads(pg_params, owner, outsider):
    """Rights (members, links: expiring, lasting, revoked) and log (snapshot and entries),
    and a document that is gone, read both ways."""
    from channels.db import database_sync_to_async as in_thread

    from collab.access.rights import load_rights, load_rights_async
    from collab.models import Membership, Role, ShareLink

    def make():
        document = Document.objects.create(owner=owner, locked=True)
        Membership.objects.create(document=document, user=outsider, role=Role.EDITOR)
        expiry = timezone.now() + timedelta(days=1)
        ShareLink.objects.create(document=document, role=Role.VIEWER, expires_at=expiry)
        ShareLink.objects.create(document=document, role=Role.EDITOR)
        ShareLink.objects.create(document=document, role=Role.EDITOR, revoked_at=timezone.now())
        persistence.append(document.id, edits("a", "b", "c"))
        persistence.compact(document.id)
        persistence.append(document.id, edits("d"))
        return document

    document = await in_thread(make)()
    conn = await PgConnection.connect(pg_params)
    try:
        rights = await load_rights_async(conn, document.id)
        assert rights == await in_thread(load_rights)(document.id)
        assert rights.locked and rights.members == {outsider.pk: Role.EDITOR} and len(rights.links) == 2
        for seq in (0, 2, 3, 4):
            assert await persistence.read_since_async(conn, document.id, seq) == await in_thread(
                persistence.read_since
            )(document.id, seq)
        state = await persistence.read_since_async(conn, document.id)
        assert (state.seq, len(state.updates)) == (4, 1) and state.snapshot
        gone = uuid.uuid4()
        assert await load_rights_async(conn, gone) is None
        with pytest.raises(persistence.DocumentGone):
            await persistence.read_since_async(conn, gone)
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_several_statements_in_one_round_trip_and_a_failure_raised_after_all(pg_params):
    for prepare in (True, False):
        conn = await PgConnection.connect(pg_params, prepare=prepare)
        try:
            first, second = await conn.fetch_each([("SELECT %s::int", [1]), ("SELECT %s::text WHERE false", ["x"])])
            assert (first, second) == ([("1",)], [])
            with pytest.raises(psycopg.errors.DivisionByZero):
                await conn.fetch_each([("SELECT 1 / %s::int", [0]), ("SELECT %s::int", [2])])
            assert await conn.fetch_each([("SELECT %s::int", [3])], binary=True) == [[(b"\x00\x00\x00\x03",)]]
            assert conn.pgconn.pipeline_status == 0  # out of pipeline mode: a plain statement runs
            assert await conn.fetch("SELECT 1 / %s::int", [1]) == [("1",)]
        finally:
            await conn.close()
