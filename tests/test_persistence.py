"""The update log and snapshots, against the real database."""

import asyncio

import pytest

from collab.models import Document, DocumentSnapshot, DocumentUpdate
from collab.storage import persistence
from tests.helpers import edits


@pytest.fixture
def document(owner):
    return Document.objects.create(owner=owner, title="Log")


def test_append_numbers_entries_in_order(document, owner):
    updates = edits("a", "b", "c")
    assert persistence.append(document.id, updates[:2], [owner.pk, owner.pk]) == 1
    assert persistence.append(document.id, updates[2:]) == 3
    document.refresh_from_db()
    assert document.last_seq == 3
    assert list(DocumentUpdate.objects.values_list("seq", flat=True)) == [1, 2, 3]
    assert DocumentUpdate.objects.get(seq=1).author == owner


def test_read_since_returns_what_follows(document):
    updates = edits("one ", "two ", "three")
    persistence.append(document.id, updates)
    assert persistence.read_since(document.id, 0).updates == updates
    state = persistence.read_since(document.id, 2)
    assert state.seq == 3 and state.updates == updates[2:] and state.snapshot is None
    assert persistence.document_text(document.id) == "one two three"


def test_compaction_folds_the_log_into_a_snapshot(document):
    updates = edits("one ", "two ", "three", "!")
    persistence.append(document.id, updates[:3])
    assert persistence.compact(document.id) == 3
    assert not DocumentUpdate.objects.exists()
    assert DocumentSnapshot.objects.get(document=document).seq == 3
    persistence.append(document.id, updates[3:])
    assert persistence.document_text(document.id) == "one two three!"
    state = persistence.read_since(document.id, 1)  # behind the snapshot: it is included
    assert state.snapshot is not None and state.seq == 4


def test_compaction_keeps_updates_whose_dependencies_are_missing(document):
    first, second = edits("abc", "def")
    persistence.append(document.id, [second])
    persistence.compact(document.id)
    persistence.append(document.id, [first])
    assert persistence.document_text(document.id) == "abcdef"


@pytest.mark.django_db(transaction=True)
def test_appends_go_on_while_a_compaction_merges(document, monkeypatch):
    """A compaction of a large document takes tens of milliseconds; appends must not wait for it."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    updates = edits("one ", "two ", "three ", "four")
    persistence.append(document.id, updates[:2])
    merge = persistence.merge_stored

    def merge_while_appending(parts):
        # Another connection appends meanwhile; it would wait for a lock the compaction held.
        def append_and_close():
            try:
                return persistence.append(document.id, updates[2:3])
            finally:
                connection.close()

        pool = ThreadPoolExecutor(1)
        try:
            assert pool.submit(append_and_close).result(timeout=10) == 3
        finally:
            pool.shutdown(wait=False)  # a blocked append ends when the compaction does
        return merge(parts)

    monkeypatch.setattr(persistence, "merge_stored", merge_while_appending)
    assert persistence.compact(document.id) == 2  # what it read: entries 1 and 2
    persistence.append(document.id, updates[3:])
    assert list(DocumentUpdate.objects.filter(document=document).values_list("seq", flat=True)) == [3, 4]
    assert DocumentSnapshot.objects.get(document=document).seq == 2
    assert persistence.document_text(document.id) == "one two three four"


@pytest.mark.parametrize("first_snapshot", [True, False])
def test_of_two_racing_compactions_the_second_folds_nothing(document, monkeypatch, first_snapshot):
    updates = edits("a", "b", "c", "d", "e")
    persistence.append(document.id, updates[:2])
    if not first_snapshot:
        persistence.compact(document.id)  # the race is then on replacing a snapshot
    persistence.append(document.id, updates[2:4])
    merge = persistence.merge_stored
    raced = []

    def merge_after_another_compaction(parts):
        if not raced:
            raced.append(True)
            persistence.append(document.id, updates[4:])
            assert persistence.compact(document.id) >= 1  # the other one, starting later, writes first
        return merge(parts)

    monkeypatch.setattr(persistence, "merge_stored", merge_after_another_compaction)
    assert persistence.compact(document.id) == 0
    assert DocumentSnapshot.objects.get(document=document).seq == 5
    assert not DocumentUpdate.objects.filter(document=document).exists()
    assert persistence.document_text(document.id) == "abcde"


def test_a_deleted_document_is_gone(document):
    document_id = document.id
    document.delete()
    with pytest.raises(persistence.DocumentGone):
        persistence.append(document_id, edits("x"))
    with pytest.raises(persistence.DocumentGone):
        persistence.read_since(document_id)


@pytest.mark.django_db(transaction=True)  # each append its own transaction, as in a worker
def test_an_append_moves_updated_only_when_it_is_older_than_the_granularity(document):
    from datetime import timedelta

    from django.utils import timezone

    an_hour_ago = timezone.now() - timedelta(hours=1)
    Document.objects.filter(pk=document.pk).update(updated=an_hour_ago)
    persistence.append(document.id, edits("a"))
    document.refresh_from_db()
    moved = document.updated
    assert moved > an_hour_ago + timedelta(minutes=59)  # edited "now" in the document list
    persistence.append(document.id, edits("b"))
    document.refresh_from_db()
    assert document.updated == moved  # a keystroke seconds later leaves the row's indexed columns alone
    assert document.last_seq == 2
    Document.objects.filter(pk=document.pk).update(
        updated=moved - timedelta(seconds=persistence.UPDATED_EVERY_SECONDS + 1)
    )
    persistence.append(document.id, edits("c"))
    document.refresh_from_db()
    assert document.updated > moved
    assert document.updated - moved < timedelta(minutes=1)


@pytest.mark.postgres
def test_the_single_document_statement_numbers_and_stores_as_the_batch_form_does(document, owner):
    typed = edits("a", "b", "c")  # one editor, so the text's order does not depend on client ids
    assert persistence.append(document.id, typed[:2], [owner.pk, None]) == 1
    assert persistence.append(document.id, typed[2:], [None]) == 3
    rows = list(DocumentUpdate.objects.filter(document=document).order_by("seq").values_list("seq", "author_id"))
    assert rows == [(1, owner.pk), (2, None), (3, None)]
    assert persistence.document_text(document.id) == "abc"


def test_last_seqs_reads_many_documents_at_once(document, owner):
    other = Document.objects.create(owner=owner)
    persistence.append(document.id, edits("a", "b"))
    assert persistence.last_seqs([document.id, other.id]) == {str(document.id): 2, str(other.id): 0}


@pytest.mark.django_db(transaction=True)
async def test_appends_from_the_event_loop_number_and_store_like_the_threads(owner, settings):
    from channels.db import database_sync_to_async
    from django.db import connection

    from collab.realtime import db

    document = await database_sync_to_async(Document.objects.create)(owner=owner, title="Loop")
    on_loop = db.use_loop_connections()
    assert on_loop == (connection.vendor == "postgresql")
    try:
        updates = edits("a", "b", "c", "d")
        assert await db.append(document.id, updates[:3], [owner.pk, None, owner.pk]) == 1
        assert await db.append(str(document.id), updates[3:], [None]) == 4
        if on_loop:
            conns = db._loop_connections[asyncio.get_running_loop()]
            await conns._opening
            assert len(conns.idle) == settings.COLLAB_DB_THREADS  # the loop's own, opened ahead of the edits
        gone = await database_sync_to_async(Document.objects.create)(owner=owner)
        gone_id = gone.id
        await database_sync_to_async(gone.delete)()
        with pytest.raises(persistence.DocumentGone):
            await db.append(gone_id, updates[:1], [None])
    finally:
        await db.close_loop_connections()
    rows = await database_sync_to_async(list)(
        DocumentUpdate.objects.filter(document=document).order_by("seq").values_list("seq", "data", "author_id")
    )
    assert rows == [(1, updates[0], owner.pk), (2, updates[1], None), (3, updates[2], owner.pk), (4, updates[3], None)]
    text = await database_sync_to_async(persistence.document_text)(document.id)
    assert text == "abcd"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
async def test_appends_that_wait_for_a_connection_go_together_and_fail_alone(owner, monkeypatch, settings):
    from channels.db import database_sync_to_async

    from collab.realtime import db

    create = database_sync_to_async(Document.objects.create)
    documents = [await create(owner=owner, title=f"doc {i}") for i in range(4)]
    gone = await create(owner=owner)
    gone_id = gone.id
    await database_sync_to_async(gone.delete)()
    batches = []
    append_async = persistence.append_async

    async def recording(conn, batch):
        batches.append(len(batch))
        return await append_async(conn, batch)

    monkeypatch.setattr(persistence, "append_async", recording)
    settings.COLLAB_DB_THREADS = 1
    db.use_loop_connections()
    try:
        words = edits("a", "b", "c")
        results = await asyncio.gather(
            *(db.append(d.id, words, [owner.pk] * 3) for d in documents),
            db.append(gone_id, words[:1], [None]),
            return_exceptions=True,
        )
        assert results[:4] == [1, 1, 1, 1]
        assert isinstance(results[4], persistence.DocumentGone)
        assert batches == [1, 4]  # the first went alone; those that waited went together
        batches.clear()
        more = edits("d")
        results = await asyncio.gather(
            db.append(documents[1].id, more, [None]),
            db.append(documents[2].id, more, [123456]),  # no such author: the foreign key fails
            db.append(documents[3].id, more, [owner.pk]),
            return_exceptions=True,
        )
        assert results[0] == 4 and results[2] == 4
        assert isinstance(results[1], Exception) and not isinstance(results[1], persistence.DocumentGone)
        assert batches == [1, 2, 1, 1]  # the pair failed together, then each on its own
    finally:
        await db.close_loop_connections()
    texts = [await database_sync_to_async(persistence.document_text)(d.id) for d in documents]
    assert ["".join(sorted(text)) for text in texts] == ["abc", "abcd", "abc", "abcd"]
