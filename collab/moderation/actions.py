"""Moderators' actions. Each is recorded in the audit log in the same transaction
and reaches open connections through the rights check of every worker's ticker
(see collab.access.sharing.rights_changed)."""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from collab.access import documents, sharing
from collab.api.tokens import token_revoke as revoke
from collab.discussion import service as discussion
from collab.discussion.service import threads_reattach
from collab.history import restore
from collab.history.authorship import author_for_user
from collab.models import ApiToken, AuditEntry, ChatMessage, Comment, Document, Report, Restore, Version


def audit(*, actor, action: str, target, reason: str = "", target_repr: str | None = None) -> AuditEntry:
    return AuditEntry.objects.create(
        actor=actor,
        actor_name=actor.get_username() if actor else "system",
        action=action,
        target_type=target._meta.model_name,
        target_id=str(target.pk),
        target_repr=(str(target) if target_repr is None else target_repr)[:300],
        reason=reason,
    )


@transaction.atomic
def document_lock(*, document: Document, actor, reason: str = "") -> None:
    Document.objects.filter(pk=document.pk).update(locked=True, locked_at=timezone.now(), locked_by=actor)
    sharing.rights_changed(document_id=document.pk)
    audit(actor=actor, action="lock", target=document, reason=reason)


@transaction.atomic
def document_unlock(*, document: Document, actor, reason: str = "") -> None:
    Document.objects.filter(pk=document.pk).update(locked=False, locked_at=None, locked_by=None)
    sharing.rights_changed(document_id=document.pk)
    audit(actor=actor, action="unlock", target=document, reason=reason)


@transaction.atomic
def document_disconnect_all(*, document: Document, actor, reason: str = "") -> None:
    Document.objects.filter(pk=document.pk).update(connection_epoch=F("connection_epoch") + 1)
    sharing.rights_changed(document_id=document.pk)
    audit(actor=actor, action="disconnect everyone", target=document, reason=reason)


@transaction.atomic
def member_remove(*, document: Document, user, actor, reason: str = "") -> None:
    sharing.membership_remove(document=document, user=user)
    audit(actor=actor, action=f"remove {user.get_username()} from", target=document, reason=reason)


@transaction.atomic
def document_delete(*, document: Document, actor, reason: str = "") -> None:
    """Delete the document and its content; open connections are told and closed (4404)."""
    audit(actor=actor, action="delete", target=document, reason=reason)
    document.delete()


@transaction.atomic
def document_trash(*, document: Document, actor, reason: str = "") -> None:
    """Move the document to its owner's trash; open connections are closed (4404) as for a deletion."""
    documents.document_trash(document=document, actor=actor)
    audit(actor=actor, action="trash", target=document, reason=reason)


@transaction.atomic
def user_ban(*, user, actor, reason: str = "") -> None:
    """Deactivate the account: it cannot sign in, its sessions end, its sockets close (4410)."""
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    # Sessions are not indexed by user: look through the live ones.
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get(SESSION_KEY)) == str(user.pk):
            store.delete(session.session_key)  # from the session cache too, not only the table
    audit(actor=actor, action="ban", target=user, reason=reason)


@transaction.atomic
def token_revoke(*, token: ApiToken, actor, reason: str = "") -> bool:
    """Revoke someone's API token: their next request with it gets 401. False, and nothing
    on record, if it was revoked already."""
    token = ApiToken.objects.select_for_update().select_related("user").get(pk=token.pk)
    if token.revoked_at is not None:
        return False
    revoke(token=token)
    audit(
        actor=actor,
        action="revoke API token",
        target=token,
        reason=reason,
        target_repr=f"{token} of {token.user.get_username()}",
    )
    return True


@transaction.atomic
def version_restore(*, version: Version, actor, reason: str = "") -> Restore | None:
    """Make `version`'s text the document's again, as one edit by `actor` on top (open
    connections get it from the log within a second); None, and nothing on record,
    if the document has that text already."""
    restored = restore.version_restore(version=version, by=actor, author=author_for_user(actor))
    if restored is not None:
        threads_reattach(version.document_id)  # comments on text the restore brought back
        document = version.document
        audit(
            actor=actor,
            action="restore version of",
            target=document,
            reason=reason,
            target_repr=f"{document} (the version of {timezone.localtime(version.created):%Y-%m-%d %H:%M:%S})",
        )
    return restored


@transaction.atomic
def comment_delete(*, comment: Comment, actor, reason: str = "") -> None:
    """Delete a comment (a thread left empty goes with it); open pages are told within a
    second, through each room's discussion catch-up. NotAllowed if it is gone already."""
    document = comment.thread.document
    discussion.comment_delete(document_id=document.pk, comment=comment.pk, by_moderator=True)
    audit(
        actor=actor,
        action="delete comment in",
        target=document,
        reason=reason,
        target_repr=f"{document}: {comment.author_name}: “{comment.body[:120]}”",
    )


@transaction.atomic
def chat_message_delete(*, message: ChatMessage, actor, reason: str = "") -> None:
    """Delete a chat message (shown as deleted in the conversation), as comment_delete."""
    document = message.document
    discussion.chat_delete(document_id=document.pk, message=message.pk)
    audit(
        actor=actor,
        action="delete chat message in",
        target=document,
        reason=reason,
        target_repr=f"{document}: {message.author_name}: “{message.body[:120]}”",
    )


def report_create(
    *, document: Document, reporter, reporter_name: str, reason: str, comment=None, chat_message=None
) -> Report:
    """A report on the document, or on one of its comments or chat messages."""
    return Report.objects.create(
        document=document,
        reporter=reporter if reporter is not None and reporter.is_authenticated else None,
        reporter_name=reporter_name,
        reason=reason,
        comment=comment,
        chat_message=chat_message,
    )


@transaction.atomic
def report_resolve(*, report: Report, actor, resolution: str) -> None:
    report.status = Report.Status.RESOLVED
    report.resolved_by = actor
    report.resolved_at = timezone.now()
    report.resolution = resolution
    report.save(update_fields=["status", "resolved_by", "resolved_at", "resolution"])
    audit(actor=actor, action="resolve report on", target=report.document, reason=resolution)
