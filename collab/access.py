"""Who may open a document, and with which rights."""

from __future__ import annotations

from dataclasses import dataclass

from .models import Document


@dataclass(frozen=True)
class Access:
    document_id: str
    user_id: int | None
    can_write: bool


def access_for(*, user, document_id) -> Access | None:
    """The access `user` has to the document, or None (unknown document included)."""
    if not user.is_authenticated:
        return None
    if not Document.objects.filter(pk=document_id, owner=user).exists():
        return None
    return Access(document_id=str(document_id), user_id=user.pk, can_write=True)
