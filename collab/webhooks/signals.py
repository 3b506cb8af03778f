"""Events from the models' own signals, so that pages, the API and the admin all send them."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from collab.access.documents import document_trashed, text_written
from collab.access.identity import display_name
from collab.models import Comment, Document, Membership
from collab.webhooks import changes
from collab.webhooks.events import emit


def person(user) -> dict | None:
    return {"user_id": user.pk, "name": display_name(user)} if user is not None else None


@receiver(post_save, sender=Document, dispatch_uid="webhooks-document-created")
def document_created(sender, instance: Document, created: bool, **kwargs) -> None:
    if created:
        emit("document.created", instance, {"actor": person(instance.owner)})


@receiver(document_trashed, dispatch_uid="webhooks-document-deleted")
def document_deleted(sender, document: Document, actor, **kwargs) -> None:
    emit("document.deleted", document, {"actor": person(actor)})


@receiver(text_written, dispatch_uid="webhooks-document-changed")
def document_written(sender, document_id, **kwargs) -> None:
    changes.written(document_id)


@receiver(post_save, sender=Membership, dispatch_uid="webhooks-member-added")
def member_added(sender, instance: Membership, created: bool, **kwargs) -> None:
    if created:
        emit("member.added", instance.document, {"member": person(instance.user), "role": instance.role})


@receiver(post_delete, sender=Membership, dispatch_uid="webhooks-member-removed")
def member_removed(sender, instance: Membership, **kwargs) -> None:
    document = Document.objects.filter(pk=instance.document_id).first()
    if document is not None:
        emit("member.removed", document, {"member": person(instance.user)})


@receiver(post_save, sender=Comment, dispatch_uid="webhooks-comment-created")
def comment_created(sender, instance: Comment, created: bool, **kwargs) -> None:
    if created:
        emit(
            "comment.created",
            instance.thread.document,
            {
                "comment": {"id": instance.pk, "thread": instance.thread_id, "excerpt": instance.body[:200]},
                "actor": {"user_id": instance.author_id, "name": instance.author_name},
            },
        )
