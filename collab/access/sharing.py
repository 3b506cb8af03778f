"""Sharing a document: members, share links and ownership.

Every change bumps the document's `rights_version`; each worker's ticker sees
the new version within `COLLAB_RESYNC_INTERVAL` and re-checks every open
connection to the document (see `collab.realtime.room.Room.apply_rights`).
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from collab.access.rights import SESSION_GUEST_NAME, SESSION_LINKS
from collab.models import Document, Membership, Role, ShareLink


def rights_changed(*, document_id) -> None:
    Document.objects.filter(pk=document_id).update(rights_version=F("rights_version") + 1)


@transaction.atomic
def membership_set(*, document: Document, user, role: str) -> Membership:
    """Give `user` a role (editor, commenter or viewer), or change it."""
    if user.pk == document.owner_id:
        raise ValueError("the owner already has every right")
    membership, _ = Membership.objects.update_or_create(document=document, user=user, defaults={"role": role})
    rights_changed(document_id=document.pk)
    return membership


@transaction.atomic
def membership_remove(*, document: Document, user) -> None:
    Membership.objects.filter(document=document, user=user).delete()
    rights_changed(document_id=document.pk)


@transaction.atomic
def ownership_transfer(*, document: Document, new_owner) -> None:
    """The new owner takes over; the previous owner stays on as an editor."""
    previous = document.owner
    Membership.objects.filter(document=document, user=new_owner).delete()
    document.owner = new_owner
    document.save(update_fields=["owner", "updated"])
    Membership.objects.update_or_create(document=document, user=previous, defaults={"role": Role.EDITOR})
    rights_changed(document_id=document.pk)


@transaction.atomic
def discussion_settings_set(*, document: Document, comments: bool, chat: bool) -> None:
    """Allow or turn off comments and the chat; open pages show or hide them within a tick."""
    Document.objects.filter(pk=document.pk).update(comments_enabled=comments, chat_enabled=chat)
    document.comments_enabled, document.chat_enabled = comments, chat
    rights_changed(document_id=document.pk)


@transaction.atomic
def link_create(*, document: Document, role: str, expires_at: datetime | None, created_by) -> ShareLink:
    link = ShareLink.objects.create(document=document, role=role, expires_at=expires_at, created_by=created_by)
    rights_changed(document_id=document.pk)
    return link


@transaction.atomic
def link_revoke(*, link: ShareLink) -> None:
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
        rights_changed(document_id=link.document_id)


def link_open(*, session, link: ShareLink, guest_name: str = "") -> None:
    """Remember in the visitor's session that they hold this link."""
    grants = dict(session.get(SESSION_LINKS, {}))
    grants[str(link.document_id)] = link.token
    session[SESSION_LINKS] = grants
    if guest_name:
        session[SESSION_GUEST_NAME] = guest_name


def link_for_token(token: str) -> ShareLink | None:
    """A valid link by token; None when unknown, revoked or expired."""
    link = ShareLink.objects.select_related("document").filter(token=token).first()
    return link if link and link.is_valid() else None


def user_by_username(username: str):
    return get_user_model().objects.filter(username__iexact=username.strip(), is_active=True).first()
