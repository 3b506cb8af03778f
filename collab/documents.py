"""Reading and writing documents: the one place views, admin and consumers call."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from .models import Document


def documents_for_user(*, user) -> QuerySet[Document]:
    return Document.objects.filter(owner=user).select_related("owner").order_by("-updated")


def document_for_user(*, user, document_id) -> Document:
    """The document if `user` may see it; Http404 otherwise, so existence is not revealed."""
    if not user.is_authenticated:
        raise Http404
    try:
        return Document.objects.select_related("owner").get(pk=document_id, owner=user)
    except (Document.DoesNotExist, ValueError):
        raise Http404 from None


def document_create(*, owner, title: str = "") -> Document:
    return Document.objects.create(owner=owner, title=title.strip() or "Untitled")


def document_rename(*, document: Document, title: str) -> Document:
    document.title = title.strip()
    document.save(update_fields=["title", "updated"])
    return document


def document_delete(*, document: Document) -> None:
    document.delete()
