from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Document(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=200, default="Untitled")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="documents")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    # Sequence number of the newest entry in the update log (see collab.persistence).
    last_seq = models.BigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["-updated"]
        indexes = [models.Index(fields=["owner", "-updated"])]

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
