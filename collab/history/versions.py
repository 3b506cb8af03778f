"""Versions: the text of a document at moments worth going back to.

A version is cut from the update log, not from a room's Doc, so that every worker
cutting at once computes the same thing: under the document's row lock, a cut
whose log position is already covered, or whose text equals the last version's,
makes nothing. So "cut once, not once per worker" needs no coordination.

The log's snapshot is a merge of updates (collab.storage.persistence.compact),
which keeps deleted items: loaded into a Doc that skips garbage collection, it
is an archive from which a version's Yjs snapshot rebuilds the text exactly
(`text_at`), whatever was compacted since.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from pycrdt import Doc, Snapshot, Text

from collab.access.identity import color_for, display_name
from collab.history import textdiff
from collab.history.authorship import authors_of
from collab.models import Document, DocumentSnapshot, DocumentUpdate, Role, Version
from collab.storage import persistence
from collab.yjs.crdt import TEXT_NAME, apply_stored, decode_state_vector


def archive(document_id, state: persistence.LogState | None = None) -> tuple[Doc, int]:
    """The document with every item it ever had (deleted ones too), and its log position
    (of the log as read now, or as `state` holds it)."""
    state = state or persistence.read_since(document_id)
    doc = Doc(skip_gc=True)
    doc.get(TEXT_NAME, type=Text)
    for update in state.all_updates():
        apply_stored(doc, update)
    return doc, state.seq


def text_at(version: Version, doc: Doc | None = None) -> str:
    """The version's text rebuilt from the archive and its Yjs snapshot (not from `text`)."""
    doc = doc or archive(version.document_id)[0]
    past = Doc.from_snapshot(Snapshot.decode(bytes(version.snapshot)), doc)
    return str(past.get(TEXT_NAME, type=Text))


def history_visible(*, document: Document, role: Role | None) -> bool:
    """Owners and editors see a document's history (versions, diffs, authorship);
    viewers and link guests only if the owner allows it (drafts can be private)."""
    if role is None:
        return False
    return role.can_write or document.history_for_viewers


def versions_of(document_id) -> QuerySet[Version]:
    return Version.objects.filter(document_id=document_id).order_by("-created", "-id")


def due(now: float, edited_at: float | None, unversioned_since: float | None) -> bool:
    """Whether edits made since `unversioned_since` and last at `edited_at` (monotonic
    seconds) call for a version: after an idle pause, or after long continuous editing."""
    if unversioned_since is None or edited_at is None:
        return False
    return (
        now - edited_at >= settings.COLLAB_VERSION_IDLE_SECONDS
        or now - unversioned_since >= settings.COLLAB_VERSION_EVERY_SECONDS
    )


def version_cut(
    *, document_id, kind: str = Version.Kind.AUTO, by=None, name: str = "", state: persistence.LogState | None = None
) -> Version | None:
    """Cut a version of the log as it is (or as `state` read it); None if nothing
    changed since the last one.

    A named cut of unchanged text names the last version instead (if it has no name yet).
    The archive is read and its text built before the document's row is locked, so
    appends wait only for the comparison and the insert.
    """
    doc, seq = archive(document_id, state)
    text = str(doc.get(TEXT_NAME, type=Text))
    with transaction.atomic():
        # The row lock orders cuts of one document, whichever workers make them.
        if not Document.objects.select_for_update().filter(pk=document_id).exists():
            raise persistence.DocumentGone(document_id)
        latest = versions_of(document_id).first()
        if latest is not None and latest.text == text:
            if kind == Version.Kind.NAMED and latest.kind != Version.Kind.NAMED:
                latest.kind, latest.name, latest.named_by = Version.Kind.NAMED, name, by
                latest.save(update_fields=["kind", "name", "named_by"])
                return latest
            return None
        if latest is not None and latest.seq >= seq and kind == Version.Kind.AUTO:
            return None  # another worker cut a later state meanwhile
        state_vector = doc.get_state()
        added, removed = textdiff.counts(latest.text if latest else "", text)
        return Version.objects.create(
            document_id=document_id,
            seq=seq,
            kind=kind,
            name=name if kind == Version.Kind.NAMED else "",
            named_by=by if kind == Version.Kind.NAMED else None,
            text=text,
            snapshot=Snapshot.from_doc(doc).encode(),
            state_vector=state_vector,
            authors=contributors(document_id, latest, seq, state_vector),
            chars_added=added,
            chars_removed=removed,
        )


def contributors(document_id, previous: Version | None, seq: int, state_vector: bytes) -> list[dict]:
    """Everyone who changed the document between `previous` and log position `seq`.

    Whoever added text, by the owners of the client ids whose clocks moved (guests
    too), and every account that wrote a log entry meanwhile (deletions too), from
    the entries still in the log and from those compaction folded into the snapshot.
    """
    before = decode_state_vector(bytes(previous.state_vector)) if previous else {}
    moved = [client for client, clock in decode_state_vector(state_vector).items() if clock > before.get(client, 0)]
    people = {}
    for author in authors_of(document_id, moved).values():
        people.setdefault(author.user_id or author.person, author.as_json())
    since = previous.seq if previous else 0
    user_ids = set(
        DocumentUpdate.objects.filter(document_id=document_id, seq__gt=since, seq__lte=seq)
        .exclude(author=None)
        .values_list("author_id", flat=True)
    )
    folded = DocumentSnapshot.objects.filter(document_id=document_id).values_list("contributors", flat=True).first()
    user_ids |= {int(uid) for uid, last in (folded or {}).items() if since < last <= seq}
    missing = user_ids - set(people)
    if missing:
        from django.contrib.auth import get_user_model

        for user in get_user_model().objects.filter(pk__in=missing).select_related("profile"):
            people[user.pk] = {"name": display_name(user), "color": color_for(f"user:{user.pk}")[0], "user_id": user.pk}
    return sorted(people.values(), key=lambda author: author["name"].lower())
