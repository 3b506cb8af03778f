"""Versions, restore and retention against the database (collab.history)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone
from pycrdt import Assoc, Doc, StickyIndex, Text

from collab.history import restore, retention, textdiff, versions
from collab.history.authorship import author_for_user, authors_of, claim
from collab.models import Document, Restore, Version
from collab.storage import persistence
from collab.yjs import protocol
from collab.yjs.crdt import TEXT_NAME
from tests.conftest import make_user, until
from tests.helpers import FakeConnection, sender_and_listener


class Writer:
    """A Yjs client of its own whose updates are appended to the log as `user`."""

    def __init__(self, document, user, doc: Doc | None = None):
        self.document, self.user = document, user
        self.doc = doc or Doc()
        self.text = self.doc.get(TEXT_NAME, type=Text)
        self.updates: list[bytes] = []
        self.doc.observe(lambda event: self.updates.append(event.update))
        claim(document.id, [self.doc.client_id], author_for_user(user))

    def write(self, change) -> None:
        change(self.text)
        persistence.append(self.document.id, self.updates, [self.user.pk] * len(self.updates))
        self.updates.clear()

    def catch_up(self) -> None:
        for update in persistence.read_since(self.document.id).all_updates():
            self.doc.apply_update(update)
        self.updates.clear()


@pytest.fixture
def document(owner):
    return Document.objects.create(owner=owner, title="Plans")


def test_a_version_is_cut_only_when_the_text_changed(document, owner):
    writer = Writer(document, owner)
    writer.write(lambda text: text.insert(0, "Hello"))
    first = versions.version_cut(document_id=document.id)
    assert first.text == "Hello" and (first.chars_added, first.chars_removed) == (5, 0)
    assert versions.version_cut(document_id=document.id) is None  # a second worker trying the same
    writer.write(lambda text: text.insert(5, " world"))
    second = versions.version_cut(document_id=document.id)
    assert second.text == "Hello world" and (second.chars_added, second.chars_removed) == (6, 0)
    assert list(versions.versions_of(document.id)) == [second, first]


def test_a_version_lists_everyone_who_changed_the_text_since_the_one_before(document, owner, editor):
    """Not only the last editor: one who only deleted counts too, and so do writers
    whose log entries compaction folded away."""
    alice = Writer(document, owner)
    alice.write(lambda text: text.insert(0, "one two three"))
    versions.version_cut(document_id=document.id)
    edith = Writer(document, editor)
    edith.catch_up()
    edith.write(lambda text: text.__delitem__(slice(0, 4)))  # she only deletes
    persistence.compact(document.id)  # her entry is folded into the snapshot
    alice.catch_up()
    alice.write(lambda text: text.insert(0, "zero "))
    version = versions.version_cut(document_id=document.id)
    assert sorted(author["user_id"] for author in version.authors) == sorted([owner.pk, editor.pk])
    # Counted by the smallest difference between the two texts: "one" became "zero".
    assert (version.chars_added, version.chars_removed) == textdiff.counts("one two three", "zero two three") == (3, 2)


def test_naming_unchanged_text_names_the_latest_version(document, owner):
    Writer(document, owner).write(lambda text: text.insert(0, "Draft"))
    cut = versions.version_cut(document_id=document.id)
    named = versions.version_cut(document_id=document.id, kind=Version.Kind.NAMED, by=owner, name="Sent to Bob")
    assert named.pk == cut.pk and named.name == "Sent to Bob" and named.named_by == owner
    assert Version.objects.count() == 1


def test_a_version_rebuilds_the_same_text_after_any_number_of_compactions(document, owner):
    rng = random.Random(29)
    writer = Writer(document, owner)
    cut = []
    for round_ in range(6):
        for _ in range(60):

            def edit(text):
                if len(text) > 10 and rng.random() < 0.35:
                    start = rng.randrange(len(text) - 3)
                    del text[start : start + rng.randint(1, 3)]
                else:
                    text.insert(rng.randint(0, len(text)), rng.choice(["a", "bc", " ", "\n"]))

            writer.write(edit)
        cut.append(versions.version_cut(document_id=document.id))
        if round_ % 2:
            assert persistence.compact(document.id) > 0
    persistence.compact(document.id)
    archive, _ = versions.archive(document.id)
    for version in cut:
        version.refresh_from_db()
        assert versions.text_at(version, archive) == version.text
    assert len({version.text for version in cut}) == len(cut)


def test_compaction_keeps_what_a_garbage_collected_doc_would_lose(document, owner):
    """The archive must come from merging updates; a Doc's own update drops deleted items."""
    writer = Writer(document, owner)
    writer.write(lambda text: text.insert(0, "keep this, drop that"))
    version = versions.version_cut(document_id=document.id)
    writer.write(lambda text: text.__delitem__(slice(10, 20)))
    persistence.compact(document.id)
    assert versions.text_at(version) == "keep this, drop that"


def test_restore_is_one_small_edit_that_leaves_unchanged_text_and_cursors_alone(document, owner, editor):
    paragraphs = [f"Paragraph {i}: " + "lorem ipsum dolor sit amet " * 30 + "\n" for i in range(25)]
    alice = Writer(document, owner)
    alice.write(lambda text: text.insert(0, "".join(paragraphs)))
    good = versions.version_cut(document_id=document.id)
    alice.write(lambda text: text.insert(len("".join(paragraphs[:12]).encode()), "VANDALISM " * 10))
    # A reader's cursor in paragraph 20, which neither the vandal nor the restore touches.
    edith = Writer(document, editor)
    edith.catch_up()
    cursor_at = len(str(edith.text)[: len("".join(paragraphs[:20])) + 100 + 5].encode())
    under_cursor = str(edith.text).encode()[cursor_at : cursor_at + 20]
    cursor = StickyIndex.new(edith.text, cursor_at, Assoc.AFTER)
    made = restore.version_restore(version=good, by=editor, author=author_for_user(editor))
    assert isinstance(made, Restore) and made.by_name == "edith"
    assert persistence.document_text(document.id) == "".join(paragraphs)
    entry = document.updates.get(seq=made.seq)
    assert len(bytes(entry.data)) < 1024 and entry.author == editor
    edith.catch_up()
    moved_to = cursor.get_index()
    assert str(edith.text).encode()[moved_to : moved_to + 20] == under_cursor  # still on the same words
    # The state just before is a version: restoring it undoes the restore.
    before = Version.objects.get(document=document, kind=Version.Kind.BEFORE_RESTORE)
    assert "VANDALISM" in before.text
    restore.version_restore(version=before, by=owner, author=author_for_user(owner))
    assert persistence.document_text(document.id) == before.text


def test_restoring_the_current_text_changes_nothing(document, owner):
    Writer(document, owner).write(lambda text: text.insert(0, "Same"))
    version = versions.version_cut(document_id=document.id)
    seq = Document.objects.get(pk=document.pk).last_seq
    assert restore.version_restore(version=version, by=owner, author=author_for_user(owner)) is None
    assert Document.objects.get(pk=document.pk).last_seq == seq


def test_restored_text_belongs_to_whoever_restored_it(document, owner, editor):
    alice = Writer(document, owner)
    alice.write(lambda text: text.insert(0, "Original words"))
    original = versions.version_cut(document_id=document.id)
    alice.write(lambda text: text.__delitem__(slice(0, 9)))
    restore.version_restore(version=original, by=editor, author=author_for_user(editor))
    names = {author.name for author in authors_of(document.id).values()}
    assert names == {"olivia", "edith"}


def test_restore_counts_positions_in_characters_whatever_their_bytes(document, owner):
    alice = Writer(document, owner)
    alice.write(lambda text: text.insert(0, "naïve café 😀 — done\nsecond line\n"))
    version = versions.version_cut(document_id=document.id)
    alice.write(lambda text: text.insert(len("naïve café 😀".encode()), " (edited)"))
    restore.version_restore(version=version, by=owner, author=author_for_user(owner))
    assert persistence.document_text(document.id) == "naïve café 😀 — done\nsecond line\n"


def test_the_diff_compares_lines_first_then_characters_within_them():
    old = "".join(f"line {i}\n" for i in range(5000))
    new = old.replace("line 2500\n", "line 2500, changed\n")
    assert textdiff.opcodes(old, new)[1] == ("insert", ", changed")
    assert textdiff.counts(old, new) == (9, 0)
    assert textdiff.edits("abc", "axc") == [(1, 1, "x")]


def test_retention_keeps_named_versions_the_latest_a_day_of_all_then_hourly_then_daily(document):
    now = timezone.now().replace(minute=30)
    made = []

    def version(age: timedelta, kind=Version.Kind.AUTO):
        made.append(Version.objects.create(document=document, seq=len(made), kind=kind, created=now - age))
        return made[-1]

    recent = [version(timedelta(minutes=m)) for m in (5, 50, 200)]  # within a day: all kept
    hour_a = [version(timedelta(days=3, minutes=m)) for m in (1, 10, 20)]  # one hour, three versions
    day_a = [version(timedelta(days=40, hours=h)) for h in (1, 2, 3)]  # one day (at most), three versions
    named = version(timedelta(days=40, hours=4), Version.Kind.NAMED)
    assert retention.versions_thin(now=now) == 4
    kept = set(Version.objects.values_list("pk", flat=True))
    assert {v.pk for v in recent} <= kept and named.pk in kept
    assert sum(v.pk in kept for v in hour_a) == 1 and sum(v.pk in kept for v in day_a) == 1
    assert retention.versions_thin(now=now) == 0


def test_a_purged_document_takes_its_history_with_it(document, owner):
    Writer(document, owner).write(lambda text: text.insert(0, "gone"))
    versions.version_cut(document_id=document.id)
    document.delete()
    assert not Version.objects.exists()


def test_a_version_is_due_after_an_idle_pause_or_long_editing(settings):
    settings.COLLAB_VERSION_IDLE_SECONDS, settings.COLLAB_VERSION_EVERY_SECONDS = 300, 600
    assert not versions.due(1000, None, None)
    assert not versions.due(1000, edited_at=900, unversioned_since=800)
    assert versions.due(1000, edited_at=700, unversioned_since=700)  # idle for 5 min
    assert versions.due(1000, edited_at=999, unversioned_since=400)  # 10 min of continuous edits


def test_who_sees_history(owner):
    from collab.models import Role

    document = Document.objects.create(owner=owner)
    assert versions.history_visible(document=document, role=Role.EDITOR)
    assert not versions.history_visible(document=document, role=Role.VIEWER)
    assert not versions.history_visible(document=document, role=None)
    document.history_for_viewers = True
    assert versions.history_visible(document=document, role=Role.VIEWER)


# -- in the room ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_room_cuts_a_version_when_editing_pauses_and_when_the_last_person_leaves(owner, settings):
    settings.COLLAB_VERSION_IDLE_SECONDS = 0
    async with sender_and_listener(owner) as (document, room, sender, listener):
        typist = Doc()
        typed = []
        typist.observe(lambda event: typed.append(event.update))
        typist.get(TEXT_NAME, type=Text).insert(0, "first")
        await room.receive(sender, protocol.sync_update(typed[0]))
        await room.drain()
        await room.tick((room.tracker.seq, room.rights.version), rejoin=False)
        await room._cutting
        await until_version_count(document, 1)
        settings.COLLAB_VERSION_IDLE_SECONDS = 3600
        typist.get(TEXT_NAME, type=Text).insert(5, " and second")
        await room.receive(sender, protocol.sync_update(typed[1]))
        await room.drain()
        await room.tick((room.tracker.seq, room.rights.version), rejoin=False)
        await until_version_count(document, 1)  # not idle long enough
    await until_version_count(document, 2)


async def until_version_count(document, count: int) -> None:
    @database_sync_to_async
    def reached():
        return Version.objects.filter(document=document).count() == count

    assert await until(reached)


@pytest.mark.django_db(transaction=True)
async def test_a_room_refuses_text_written_under_another_persons_client_id(owner):
    from collab.exceptions import CloseCode

    async with sender_and_listener(owner) as (document, room, sender, listener):
        mallory = await database_sync_to_async(make_user)("mallory")
        forger = FakeConnection(mallory.pk)
        from collab.access import sharing

        await database_sync_to_async(sharing.membership_set)(document=document, user=mallory, role="editor")
        await room.reload_rights()
        forger_member = await room.join(forger, forger.seat)
        victim = Doc()
        updates = []
        victim.observe(lambda event: updates.append(event.update))
        text = victim.get(TEXT_NAME, type=Text)
        text.insert(0, "Olivia wrote this")
        await room.receive(sender, protocol.sync_update(updates[-1]))
        await room.drain()
        # Mallory writes under Olivia's client id: refused, nothing stored.
        text.insert(0, "I resign. ")
        await room.receive(forger, protocol.sync_update(updates[-1]))
        await room.drain()
        assert forger.closed_with == CloseCode.FORGED_AUTHOR and forger_member.closing
        assert str(room.text) == "Olivia wrote this"
        assert await database_sync_to_async(persistence.document_text)(document.id) == "Olivia wrote this"
        # Relaying Olivia's own text back (what a reconnecting client does) is no forgery.
        relay = FakeConnection(mallory.pk)
        await room.join(relay, relay.seat)
        await room.receive(relay, protocol.sync_update(updates[0]))
        await room.drain()
        assert relay.closed_with is None
