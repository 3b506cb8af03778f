from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    """What a person may do with a document, weakest first."""

    VIEWER = "viewer", "Viewer"
    EDITOR = "editor", "Editor"
    OWNER = "owner", "Owner"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    @property
    def can_write(self) -> bool:
        return self in (Role.EDITOR, Role.OWNER)


SHARED_ROLES = [(Role.EDITOR.value, Role.EDITOR.label), (Role.VIEWER.value, Role.VIEWER.label)]


class Document(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=200, default="Untitled")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="documents")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    # Sequence number of the newest entry in the update log (see collab.storage.persistence).
    last_seq = models.BigIntegerField(default=0, editable=False)
    # Bumped by every change of who may do what: open connections re-check their rights.
    rights_version = models.BigIntegerField(default=0, editable=False)
    # Moderation: while locked nobody's updates are applied, the owner's included.
    locked = models.BooleanField(default=False)
    locked_at = models.DateTimeField(null=True, blank=True)
    locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Connections opened before the current epoch are closed ("disconnect everyone").
    connection_epoch = models.IntegerField(default=0, editable=False)
    # In the trash: gone for everyone, the owner may restore it until it is purged
    # (COLLAB_TRASH_DAYS after this, by `manage.py purge_trash`).
    trashed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    trashed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-updated"]
        indexes = [models.Index(fields=["owner", "-updated"])]
        permissions = [
            ("lock_document", "Can lock and unlock documents"),
            ("disconnect_document", "Can disconnect everyone from a document"),
            ("remove_member", "Can remove people from documents"),
            ("view_content", "Can read documents' content"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("document", args=[self.id])


class DocumentUpdate(models.Model):
    """One entry of a document's append-only update log: a Yjs (V1) update."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="updates")
    seq = models.BigIntegerField()
    data = models.BinaryField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["document", "seq"]
        constraints = [models.UniqueConstraint(fields=["document", "seq"], name="unique_update_seq")]

    def __str__(self) -> str:
        return f"{self.document_id} #{self.seq}"


class DocumentSnapshot(models.Model):
    """The merge of every log entry up to `seq`; those entries are then deleted."""

    document = models.OneToOneField(Document, primary_key=True, on_delete=models.CASCADE, related_name="snapshot")
    seq = models.BigIntegerField(default=0)
    data = models.BinaryField(default=b"")
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.document_id} @{self.seq}"


class Membership(models.Model):
    """A person the owner shared the document with, and their role."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=SHARED_ROLES, default=Role.EDITOR)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["document", "user"], name="unique_membership")]
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) on {self.document}"


def new_token() -> str:
    return secrets.token_urlsafe(24)


class ShareLink(models.Model):
    """A link that gives whoever opens it a role on the document."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="share_links")
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    role = models.CharField(max_length=10, choices=SHARED_ROLES, default=Role.VIEWER)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.role} link to {self.document}"

    def is_valid(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("share_link", args=[self.token])


class Report(models.Model):
    """A participant flagged a document for the moderators."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reporter_name = models.CharField(max_length=150, help_text="Account or guest name at the time of the report.")
    reason = models.TextField(max_length=2000)
    created = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True, max_length=2000)

    class Meta:
        ordering = ["status", "-created"]

    def __str__(self) -> str:
        return f"Report on {self.document} by {self.reporter_name}"


class AuditEntry(models.Model):
    """A moderation action or a report resolution, on record for good."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=40)
    target_type = models.CharField(max_length=40)
    target_id = models.CharField(max_length=64)
    target_repr = models.CharField(max_length=300)
    reason = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.actor_name} {self.action} {self.target_type} {self.target_repr}"


class Account(User):
    """The accounts as moderators see them: they may ban, nothing else."""

    class Meta:
        proxy = True
        permissions = [("ban_user", "Can ban (deactivate) accounts")]


class Profile(models.Model):
    """What an account shows others: its display name (the username when it has none)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="profile"
    )
    display_name = models.CharField(max_length=50, blank=True, help_text="Shown to others instead of the username.")

    def __str__(self) -> str:
        return self.display_name or str(self.user)
