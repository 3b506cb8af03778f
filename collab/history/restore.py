"""Restore: bring a version back as one new edit on top, never by rewinding.

Rewinding the stored state does not work with a CRDT: connected clients keep
the newer items and the next sync undoes the rewind or doubles the text. So the
server diffs the current text against the version's (line first, then within
lines), applies the difference in one transaction to a Doc holding the log,
under a client id of its own claimed for the person restoring, and appends that
transaction's update to the log like any other. Every worker's room applies it
from the log at its next tick (COLLAB_RESYNC_INTERVAL) and relays it to its
clients, and tells the pages who restored what (`restores_between`).

What people typed meanwhile is kept: the edit deletes only the items that existed
when it was computed, and unchanged text keeps its items, so cursors on it stay.
A version is cut just before, so a restore is undone by restoring that one.
"""

from __future__ import annotations

import secrets

from django.db import transaction
from pycrdt import Doc, Text

from collab.access.documents import text_written
from collab.access.search import search_index
from collab.history import textdiff
from collab.history.authorship import Author, claim
from collab.history.versions import version_cut
from collab.models import ClientOwner, Document, Restore, Version
from collab.storage import persistence
from collab.yjs.crdt import TEXT_NAME, apply_stored, new_doc

ORIGIN = "restore"


def restore_update(current: list[bytes], old_text: str, client_id: int) -> tuple[bytes | None, str]:
    """The update that turns the document made of `current` into `old_text`, written
    as `client_id`, and the text it replaces; None when they are equal already."""
    doc = Doc(client_id=client_id)
    text = doc.get(TEXT_NAME, type=Text)
    for update in current:
        apply_stored(doc, update)
    now = str(text)
    changes = textdiff.edits(now, old_text)
    if not changes:
        return None, now
    updates: list[bytes] = []
    subscription = doc.observe(lambda event: updates.append(event.update))
    # pycrdt counts positions in UTF-8 bytes; the diff in characters.
    offsets, done, bytes_before = [], 0, 0
    for position, _, _ in changes:
        bytes_before += len(now[done:position].encode())
        offsets.append(bytes_before)
        done = position
    with doc.transaction(origin=ORIGIN):
        for (position, deleted, inserted), offset in reversed(list(zip(changes, offsets, strict=True))):
            if deleted:
                del text[offset : offset + len(now[position : position + deleted].encode())]
            if inserted:
                text.insert(offset, inserted)
    doc.unobserve(subscription)
    return updates[0], now


def unowned_client_id(document_id) -> int:
    """A Yjs client id (32 bits, as Yjs makes them) nobody of the document has yet."""
    while True:
        candidate = secrets.randbits(32)
        if not ClientOwner.objects.filter(document_id=document_id, client_id=candidate).exists():
            return candidate


class Changed(Exception):
    """The document changed since the log position the writer last read."""


def text_write(
    *,
    document_id,
    text: str,
    by,
    author: Author,
    append: bool = False,
    expect_seq: int | None = None,
    state: persistence.LogState | None = None,
) -> int | None:
    """Make the document's text `text` (or add `text` at its end), as one edit by
    `author` computed as a restore is; the log position of the edit, or None if the
    text is that already. Open editors get it from the log as they get a restore.
    With `expect_seq`, Changed unless the log is still at that position; `state`: the
    log as the caller read it, to diff against."""
    client_id = unowned_client_id(document_id)
    state = state or persistence.read_since(document_id)
    if expect_seq is not None and state.seq != expect_seq:
        raise Changed(f"the document is at {state.seq}, not {expect_seq}")
    current = state.all_updates()
    if append:
        doc, now = new_doc()
        for update in current:
            apply_stored(doc, update)
        text = str(now) + text
    update, _ = restore_update(current, text, client_id)
    if update is None:
        return None
    claim(document_id, [client_id], author)
    seq = persistence.append(document_id, [update], [by.pk if by is not None else None])
    search_index({document_id: text})  # open rooms store it again with what is typed meanwhile
    text_written.send(sender=Document, document_id=document_id)
    return seq


def version_restore(*, version: Version, by, author: Author) -> Restore | None:
    """Make `version`'s text the document's again, as `by`; None if it already is."""
    document_id = version.document_id
    # The version cut before and the restore's diff come from one read of the log: all
    # that the restore removes is in that version (what is typed later, it leaves alone).
    state = persistence.read_since(document_id)
    version_cut(document_id=document_id, kind=Version.Kind.BEFORE_RESTORE, state=state)
    with transaction.atomic():
        seq = text_write(document_id=document_id, text=version.text, by=by, author=author, state=state)
        if seq is None:
            return None
        return Restore.objects.create(
            document_id=document_id,
            version=version,
            version_created=version.created,
            by=by,
            by_name=author.name,
            seq=seq,
        )


def restores_between(document_id, after: int, upto: int) -> list[Restore]:
    """The restores stored as log entries after..upto, oldest first."""
    return list(Restore.objects.filter(document_id=document_id, seq__gt=after, seq__lte=upto).order_by("seq"))
