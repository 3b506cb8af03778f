"""Reading and writing documents: the one place views, admin and consumers call."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.dispatch import Signal
from django.utils import timezone

from collab.access import rights as access
from collab.access import sharing
from collab.models import Document, Membership, Role

# Sent when a document goes into the trash (its webhooks tell of it: collab.webhooks).
document_trashed = Signal()  # sender=Document, document=, actor=


class NoAccess(Exception):
    """The visitor may not see the document (or it does not exist)."""


class RoleTooLow(Exception):
    """The visitor sees the document but may not do this."""


def documents_for_user(*, user) -> QuerySet[Document]:
    return Document.objects.filter(owner=user, trashed_at__isnull=True).select_related("owner").order_by("-updated")


def memberships_for_user(*, user) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user, document__trashed_at__isnull=True)
        .select_related("document", "document__owner__profile")
        .order_by("-document__updated")
    )


def document_for(*, user, session, document_id, minimum: Role = Role.VIEWER) -> tuple[Document, Role]:
    """The document and the visitor's role; NoAccess or RoleTooLow otherwise."""
    role = access.role_for(user=user, session=session, document_id=document_id)
    if role is None:
        raise NoAccess(document_id)
    if role.rank < minimum.rank:
        raise RoleTooLow(document_id)
    return Document.objects.select_related("owner").get(pk=document_id), role


def document_create(*, owner, title: str = "") -> Document:
    return Document.objects.create(owner=owner, title=title.strip() or "Untitled")


def document_rename(*, document: Document, title: str) -> Document:
    document.title = title.strip()
    document.save(update_fields=["title", "updated"])
    return document


def document_delete(*, document: Document) -> None:
    """For good: the document, its content and its history."""
    document.delete()


# -- the trash ------------------------------------------------------------------
# A trashed document is gone for everyone (load_rights and the ticker read None for it,
# so open connections close with 4404) until its owner restores it or it is purged.


def trash_days() -> int:
    return settings.COLLAB_TRASH_DAYS


def purge_date(trashed_at: datetime) -> datetime:
    return trashed_at + timedelta(days=trash_days())


def trash_for_user(*, user) -> QuerySet[Document]:
    return Document.objects.filter(owner=user, trashed_at__isnull=False).order_by("-trashed_at")


def trashed_document_for(*, user, document_id) -> Document:
    """The user's own trashed document; Document.DoesNotExist for anyone else's."""
    return trash_for_user(user=user).get(pk=document_id)


@transaction.atomic
def document_trash(*, document: Document, actor) -> None:
    Document.objects.filter(pk=document.pk).update(trashed_at=timezone.now(), trashed_by=actor)
    sharing.rights_changed(document_id=document.pk)
    document_trashed.send(sender=Document, document=document, actor=actor)


@transaction.atomic
def document_restore(*, document: Document) -> None:
    """Back where it was, with its content, history, members and links."""
    Document.objects.filter(pk=document.pk).update(trashed_at=None, trashed_by=None)
    sharing.rights_changed(document_id=document.pk)


def trash_purge(*, now: datetime | None = None) -> int:
    """Delete for good what has been in the trash longer than COLLAB_TRASH_DAYS; how many."""
    cutoff = (now or timezone.now()) - timedelta(days=trash_days())
    count = 0
    for document in Document.objects.filter(trashed_at__lt=cutoff).iterator():
        document_delete(document=document)
        count += 1
    return count
