"""Reading and writing documents: the one place views, admin and consumers call."""

from __future__ import annotations

from django.db.models import QuerySet

from collab.access import rights as access
from collab.models import Document, Membership, Role


class NoAccess(Exception):
    """The visitor may not see the document (or it does not exist)."""


class RoleTooLow(Exception):
    """The visitor sees the document but may not do this."""


def documents_for_user(*, user) -> QuerySet[Document]:
    return Document.objects.filter(owner=user).select_related("owner").order_by("-updated")


def memberships_for_user(*, user) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user)
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
    document.delete()
