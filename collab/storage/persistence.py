"""Document content in the database: the append-only update log and its snapshot.

The only module that reads or writes `DocumentUpdate` and `DocumentSnapshot`.

Each document numbers its log entries 1, 2, 3... (`seq`). An append takes the
document row's lock (`UPDATE ... SET last_seq = last_seq + n`), so appends from
several workers are serialised per document and commit in `seq` order: the
entries visible at any moment are contiguous. Compaction merges the snapshot
and the entries up to the committed `last_seq` into a new snapshot and deletes
those entries; it takes no lock that appends wait for (see `compact`).

The functions here are synchronous; rooms call them through `collab.realtime.db`, which
runs the `_async` ones instead on PostgreSQL, from the event loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from pycrdt import Doc, merge_updates

from collab.models import Document, DocumentSnapshot, DocumentUpdate
from collab.storage.pgconn import as_int
from collab.yjs.crdt import apply_stored, new_doc

logger = logging.getLogger(__name__)

DOCUMENTS = Document._meta.db_table
UPDATES = DocumentUpdate._meta.db_table
SNAPSHOTS = DocumentSnapshot._meta.db_table

# An append moves the document's `updated` (what the document list sorts and shows
# as "edited ... ago") only when it is older than this. The row is rewritten on
# every keystroke anyway (`last_seq`), but while no indexed column changes,
# PostgreSQL rewrites it in place (a HOT update) instead of adding an entry to
# each of its four indexes: 10 % less database CPU per append, a third less WAL.
UPDATED_EVERY_SECONDS = 10


class DocumentGone(Exception):
    """The document no longer exists (it was deleted)."""


@dataclass
class LogState:
    """What the database holds for a document after `seq`: a snapshot and/or entries."""

    seq: int  # every entry up to here is included
    snapshot: bytes | None = None
    updates: list[bytes] = field(default_factory=list)

    def all_updates(self) -> list[bytes]:
        return ([self.snapshot] if self.snapshot else []) + self.updates


# -- reading ------------------------------------------------------------------


# Entries first, then the snapshot: a compaction committing in between moves
# entries into the snapshot read second, so nothing falls through.
_LOG_ENTRIES = f"SELECT seq, data FROM {UPDATES} WHERE document_id = %s AND seq > %s ORDER BY seq"
_LOG_SNAPSHOT = f"SELECT seq, data FROM {SNAPSHOTS} WHERE document_id = %s AND seq > %s"
_DOCUMENT_EXISTS = f"SELECT 1 FROM {DOCUMENTS} WHERE id = %s"


def read_since(document_id, seq: int = 0) -> LogState:
    """Everything the log holds after `seq` (the snapshot too, when it covers more)."""
    # In SQL: every room that opens reads this, and under a reconnect many open at
    # once; building the ORM's queries took longer than running them.
    key = Document._meta.pk.get_db_prep_value(document_id, connection)
    with connection.cursor() as cursor:
        cursor.execute(_LOG_ENTRIES, [key, seq])
        rows = [(row_seq, bytes(data)) for row_seq, data in cursor.fetchall()]
        cursor.execute(_LOG_SNAPSHOT, [key, seq])
        snapshot = cursor.fetchone()
        if not rows and not snapshot:
            cursor.execute(_DOCUMENT_EXISTS, [key])
            if cursor.fetchone() is None:
                raise DocumentGone(document_id)
    return _log_state(seq, rows, snapshot and (snapshot[0], bytes(snapshot[1])))


async def read_since_async(conn, document_id, seq: int = 0) -> LogState:
    """`read_since` over a `collab.storage.pgconn.PgConnection` (PostgreSQL), from the event
    loop: its queries in one round trip (whether the document exists, too, asked
    in the same trip rather than in a second one when the log is empty)."""
    params = [str(document_id), seq]
    rows, snapshot, exists = await conn.fetch_each(
        [(_LOG_ENTRIES, params), (_LOG_SNAPSHOT, params), (_DOCUMENT_EXISTS, params[:1])], binary=True
    )
    if not rows and not snapshot and not exists:
        raise DocumentGone(document_id)
    rows = [(as_int(row_seq), data) for row_seq, data in rows]
    return _log_state(seq, rows, (as_int(snapshot[0][0]), snapshot[0][1]) if snapshot else None)


def _log_state(seq: int, rows: list[tuple[int, bytes]], snapshot: tuple[int, bytes] | None) -> LogState:
    state = LogState(seq=seq)
    if snapshot:
        state.seq, state.snapshot = snapshot
    state.updates = [data for row_seq, data in rows if row_seq > state.seq]
    if rows:
        state.seq = max(state.seq, rows[-1][0])
    return state


def last_seqs(document_ids) -> dict[str, int]:
    """The newest `seq` of each document, by id (as a string); deleted ones are absent."""
    return {
        str(pk): seq for pk, seq in Document.objects.filter(pk__in=list(document_ids)).values_list("pk", "last_seq")
    }


def document_text(document_id) -> str:
    """The current text, built from the database alone."""
    return text_and_seq(document_id)[0]


def text_and_seq(document_id) -> tuple[str, int]:
    """The current text and the log position it is at."""
    state = read_since(document_id)
    doc, text = new_doc()
    for update in state.all_updates():
        apply_stored(doc, update)
    return str(text), state.seq


# -- writing ------------------------------------------------------------------


def append(document_id, updates: list[bytes], authors: list[int | None] | None = None) -> int:
    """Append updates to the log in one transaction; return the `seq` of the first."""
    authors = authors or [None] * len(updates)
    if connection.vendor == "postgresql":
        return _append_in_one_statement(document_id, updates, authors)
    count = len(updates)
    now = timezone.now()
    updated = Document._meta.get_field("updated")
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Takes the row lock that orders appends and compaction (see the module doc).
            cursor.execute(
                f"UPDATE {DOCUMENTS} SET last_seq = last_seq + %s, "
                "updated = CASE WHEN updated < %s THEN %s ELSE updated END WHERE id = %s RETURNING last_seq",
                [
                    count,
                    updated.get_db_prep_value(now - timedelta(seconds=UPDATED_EVERY_SECONDS), connection),
                    updated.get_db_prep_value(now, connection),
                    Document._meta.pk.get_db_prep_value(document_id, connection),
                ],
            )
            row = cursor.fetchone()
        if row is None:
            raise DocumentGone(document_id)
        first = row[0] - count + 1
        DocumentUpdate.objects.bulk_create(
            DocumentUpdate(document_id=document_id, seq=first + i, data=data, author_id=author, created=now)
            for i, (data, author) in enumerate(zip(updates, authors, strict=True))
        )
    return first


def _append_in_one_statement(document_id, updates: list[bytes], authors: list[int | None]) -> int:
    """PostgreSQL: the same, as one statement (one round trip, its own transaction)."""
    with connection.cursor() as cursor:
        cursor.execute(*append_statement([(document_id, updates, authors)]))
        firsts = _first_seqs(cursor.fetchall())
    if str(document_id) not in firsts:
        raise DocumentGone(document_id)
    return firsts[str(document_id)]


async def append_async(conn, batch: list[tuple[str, list[bytes], list[int | None]]]) -> dict[str, int]:
    """Appends to one or more documents over a `collab.storage.pgconn.PgConnection` (PostgreSQL).

    `batch`: (document id, updates, authors) for distinct documents. Returns the first
    `seq` of each document's entries; a deleted document is absent.
    """
    rows = await conn.fetch(*append_statement(batch))
    return _first_seqs((document_id, int(seq)) for document_id, seq in rows)


_MOVE_UPDATED = (
    f"updated = CASE WHEN d.updated < now() - interval '{UPDATED_EVERY_SECONDS} seconds' THEN now() ELSE d.updated END"
)


def append_statement(batch: list[tuple[str, list[bytes], list[int | None]]]) -> tuple[str, list]:
    """PostgreSQL's append statement for (document id, updates, authors) of distinct documents.

    One statement, so one transaction: the UPDATE takes the documents' row locks
    and numbers each document's updates; the INSERT reads its result, so all of
    it commits together or not at all. Several documents are locked in id order
    first (`locked`), so that two workers appending to the same documents wait
    for each other rather than deadlock; one document, the usual case, needs no
    such step (13 % less database CPU per append).
    """
    if len(batch) == 1:
        document_id, updates, authors = batch[0]
        rows = ", ".join(["(%s::int, %s::bytea, %s::int)"] * len(updates))
        sql = (
            f"WITH docs AS (UPDATE {DOCUMENTS} d SET last_seq = d.last_seq + %s::int, {_MOVE_UPDATED} "
            "WHERE d.id = %s::uuid RETURNING d.id, d.last_seq) "
            f"INSERT INTO {UPDATES} (document_id, seq, data, author_id, created) "
            f"SELECT docs.id, docs.last_seq - %s::int + v.i, v.data, v.author, now() FROM docs, (VALUES {rows}) "
            "AS v(i, data, author) RETURNING document_id, seq"
        )
        params = [len(updates), str(document_id), len(updates)]
        for i, (data, author) in enumerate(zip(updates, authors, strict=True)):
            params += [i + 1, data, author]
        return sql, params
    counts, rows, params = [], [], []
    for document_id, updates, authors in batch:
        counts += [str(document_id), len(updates)]
        for i, (data, author) in enumerate(zip(updates, authors, strict=True)):
            rows.append("(%s::uuid, %s::int, %s::bytea, %s::int)")
            params += [str(document_id), i, data, author]
    sql = (
        f"WITH batch(doc, n) AS (VALUES {', '.join(['(%s::uuid, %s::int)'] * len(batch))}), "
        f"locked AS MATERIALIZED (SELECT id FROM {DOCUMENTS} WHERE id IN (SELECT doc FROM batch) "
        "ORDER BY id FOR UPDATE), "
        f"docs AS (UPDATE {DOCUMENTS} d SET last_seq = d.last_seq + batch.n, {_MOVE_UPDATED} FROM batch, locked "
        "WHERE d.id = batch.doc AND locked.id = batch.doc RETURNING d.id, d.last_seq, batch.n) "
        f"INSERT INTO {UPDATES} (document_id, seq, data, author_id, created) "
        "SELECT docs.id, docs.last_seq - docs.n + 1 + v.i, v.data, v.author, now() "
        f"FROM docs JOIN (VALUES {', '.join(rows)}) AS v(doc, i, data, author) ON v.doc = docs.id "
        "RETURNING document_id, seq"
    )
    return sql, counts + params


def _first_seqs(rows) -> dict[str, int]:
    firsts: dict[str, int] = {}
    for document_id, seq in rows:
        key = str(document_id)
        firsts[key] = min(seq, firsts.get(key, seq))
    return firsts


def merge_stored(updates: list[bytes]) -> bytes:
    """Merge updates into one, dropping any that cannot be decoded.

    `merge_updates` keeps updates whose dependencies are missing (a Doc would
    drop them from `get_update()`), so the snapshot loses nothing.
    """
    try:
        return merge_updates(*updates) if len(updates) > 1 else updates[0]
    except Exception:
        good = []
        for update in updates:
            try:
                merge_updates(update)
                good.append(update)
            except Exception as exc:
                logger.error("compaction drops an update that does not decode: %r", exc)
        return merge_updates(*good) if good else Doc().get_update()


def compact(document_id, *, min_entries: int = 1) -> int:
    """Fold the log into the snapshot; return how many entries were folded.

    Appends are never held up: the snapshot and entries are read and merged
    outside any lock, and the write touches only the snapshot and the folded
    entries, while appends add entries past `last_seq`. Two compactions of one
    document race on the snapshot: the write replaces only the snapshot that
    was read, so the second folds nothing instead of losing the first's work.
    """
    last_seq = Document.objects.filter(pk=document_id).values_list("last_seq", flat=True).first()
    if last_seq is None:
        raise DocumentGone(document_id)
    # Appends commit in seq order (the row lock), so every entry up to the
    # committed last_seq is there to read. Snapshot first: a compaction that
    # commits after this read makes our write below fail.
    snapshot = (
        DocumentSnapshot.objects.filter(document_id=document_id).values_list("seq", "data", "contributors").first()
    )
    base_seq = snapshot[0] if snapshot else None
    rows = list(
        DocumentUpdate.objects.filter(document_id=document_id, seq__gt=base_seq or 0, seq__lte=last_seq)
        .order_by("seq")
        .values_list("data", "author_id", "seq")
    )
    if len(rows) < min_entries:
        return 0
    parts = ([bytes(snapshot[1])] if snapshot and snapshot[1] else []) + [bytes(data) for data, _, _ in rows]
    merged = merge_stored(parts)
    # Who wrote what is folded away, for the versions to list (collab.history.versions).
    contributors = dict(snapshot[2] or {}) if snapshot else {}
    for _, author_id, seq in rows:
        if author_id is not None:
            contributors[str(author_id)] = seq
    try:
        with transaction.atomic():
            if base_seq is None:
                DocumentSnapshot.objects.create(
                    document_id=document_id, seq=last_seq, data=merged, contributors=contributors
                )
            elif not DocumentSnapshot.objects.filter(document_id=document_id, seq=base_seq).update(
                seq=last_seq, data=merged, contributors=contributors, updated=timezone.now()
            ):
                return 0  # another compaction replaced the snapshot since we read it
            DocumentUpdate.objects.filter(document_id=document_id, seq__lte=last_seq).delete()
    except IntegrityError:
        # Another compaction created the first snapshot meanwhile, or the document is gone.
        if not Document.objects.filter(pk=document_id).exists():
            raise DocumentGone(document_id) from None
        return 0
    return len(rows)
