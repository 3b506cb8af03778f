from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    """What a person may do with a document, weakest first."""

    VIEWER = "viewer", "Viewer"
    COMMENTER = "commenter", "Commenter"
    EDITOR = "editor", "Editor"
    OWNER = "owner", "Owner"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    @property
    def can_write(self) -> bool:
        return self in (Role.EDITOR, Role.OWNER)

    @property
    def can_comment(self) -> bool:
        """Comment and chat (collab.discussion): commenters and up."""
        return self.rank >= Role.COMMENTER.rank


SHARED_ROLES = [(role.value, role.label) for role in (Role.EDITOR, Role.COMMENTER, Role.VIEWER)]


class DocumentManager(models.Manager):
    """Rows without their search columns (up to COLLAB_SEARCH_CHARS each): only searches
    read them, as filters; listing thousands of documents must not carry their texts."""

    def get_queryset(self):
        return super().get_queryset().defer("search_text", "search_vector")


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
    # History (versions, authorship) is for the owner and editors; viewers and link
    # guests see it only when the owner allows it here.
    history_for_viewers = models.BooleanField(default=False)
    # Comments and chat (collab.discussion): the owner may turn either off.
    comments_enabled = models.BooleanField(default=True)
    chat_enabled = models.BooleanField(default=True)
    # Numbers every change to the document's comments and chat, as `last_seq` numbers
    # edits: each thread and chat message carries the number of its last change, so a
    # room that missed one reads what changed since the number it holds.
    discussion_seq = models.BigIntegerField(default=0, editable=False)
    # The title follows the text's first heading until someone gives it one (collab.access.documents).
    title_follows_heading = models.BooleanField(default=True)
    # What the documents page and the API search (collab.access.search): the text as of
    # the last few seconds of editing, and on PostgreSQL its words, indexed.
    search_text = models.TextField(default="", blank=True, editable=False)
    search_vector = SearchVectorField(null=True, editable=False)

    objects = DocumentManager()

    class Meta:
        ordering = ["-updated"]
        # On SQLite the GIN index is a plain one over an always-empty column.
        indexes = [
            models.Index(fields=["owner", "-updated"]),
            GinIndex(fields=["search_vector"], name="document_search"),
        ]
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
    # Who wrote the entries folded in, by account id: the seq of their last one. A
    # version lists everyone who wrote since the one before, folded or not.
    contributors = models.JSONField(default=dict, blank=True)

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
    # A report may point at one comment or chat message of the document.
    comment = models.ForeignKey("Comment", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports")
    chat_message = models.ForeignKey(
        "ChatMessage", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
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


class Version(models.Model):
    """The text of a document at one moment, with who changed it since the version before.

    `snapshot` is a Yjs snapshot (state vector and delete set) of the update log at
    `seq`: with the log's merged archive it rebuilds the document as it was, item
    for item (collab.storage.versions.text_at); `text` is that text, kept so that
    listing, viewing, diffing and export need no rebuild.
    """

    class Kind(models.TextChoices):
        AUTO = "auto", "Automatic"
        NAMED = "named", "Named"
        BEFORE_RESTORE = "before_restore", "Before a restore"

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="versions")
    seq = models.BigIntegerField()
    created = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.AUTO)
    name = models.CharField(max_length=100, blank=True)
    named_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField(blank=True)
    snapshot = models.BinaryField(default=b"")
    state_vector = models.BinaryField(default=b"")  # the log's at `seq`: whose clocks moved since the version before
    # Everyone who changed the text since the version before: [{"name", "color", "user_id"}].
    authors = models.JSONField(default=list, blank=True)
    chars_added = models.IntegerField(default=0)
    chars_removed = models.IntegerField(default=0)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["document", "-created"])]
        permissions = [("restore_version", "Can restore versions of documents")]

    def __str__(self) -> str:
        label = self.name or self.get_kind_display()
        return f"{label}, {timezone.localtime(self.created):%Y-%m-%d %H:%M}"


class ClientOwner(models.Model):
    """Who a Yjs client id of a document belongs to: everything written under it is theirs.

    Claimed on the server when the id first writes (collab.storage.authorship), from
    the connection's account or guest name, never from what the client says.
    """

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="client_owners")
    client_id = models.BigIntegerField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The person as the connection knew them: a hash of its principal key (an account
    # or a guest's session), to tell whether a later write comes from the same person.
    person = models.CharField(max_length=64)
    name = models.CharField(max_length=150)
    color = models.CharField(max_length=7)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["document", "client_id"], name="unique_client_owner")]

    def __str__(self) -> str:
        return f"{self.name} as {self.client_id} in {self.document_id}"


class Restore(models.Model):
    """A version brought back: one edit on top, at log entry `seq`."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="restores")
    version = models.ForeignKey(Version, null=True, on_delete=models.SET_NULL, related_name="+")
    version_created = models.DateTimeField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    by_name = models.CharField(max_length=150)
    seq = models.BigIntegerField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["document", "seq"])]

    def __str__(self) -> str:
        return f"{self.by_name} restored {self.version_created:%Y-%m-%d %H:%M} of {self.document_id}"


class Thread(models.Model):
    """Comments on a stretch of a document's text.

    The anchor is two Yjs relative positions (their JSON, as Yjs writes it) that
    follow the text as people edit; `quote`, with a little text before and after,
    is what was selected, shown when the text is gone (the thread is detached).
    """

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="threads")
    anchor_start = models.JSONField()
    anchor_end = models.JSONField()
    quote = models.TextField(blank=True)
    prefix = models.CharField(max_length=100, blank=True)
    suffix = models.CharField(max_length=100, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by_name = models.CharField(max_length=150, blank=True)
    removed = models.BooleanField(default=False)  # every comment in it was deleted
    seq = models.BigIntegerField(default=0)  # Document.discussion_seq of its last change

    class Meta:
        ordering = ["created", "id"]
        indexes = [models.Index(fields=["document", "seq"])]

    def __str__(self) -> str:
        return f"Thread on “{self.quote[:40]}”"


class Comment(models.Model):
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_name = models.CharField(max_length=150)
    author_color = models.CharField(max_length=7)
    person = models.CharField(max_length=64)  # collab.history.authorship.person_of: who may edit or delete it
    body = models.TextField()
    created = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by_moderator = models.BooleanField(default=False)

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return f"{self.author_name}: {self.body[:60]}"


class ChatMessage(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chat_messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_name = models.CharField(max_length=150)
    author_color = models.CharField(max_length=7)
    body = models.TextField()
    created = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    seq = models.BigIntegerField(default=0)  # Document.discussion_seq of its last change

    class Meta:
        ordering = ["created", "id"]
        indexes = [models.Index(fields=["document", "seq"]), models.Index(fields=["document", "-id"])]

    def __str__(self) -> str:
        return f"{self.author_name}: {self.body[:60]}"


class Mention(models.Model):
    """Someone named with @ in a comment: listed on their documents page."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mentions")
    comment = models.ForeignKey(Comment, on_delete=models.CASCADE, related_name="mentions")
    created = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [models.UniqueConstraint(fields=["user", "comment"], name="unique_mention")]

    def __str__(self) -> str:
        return f"{self.user} in {self.comment_id}"


class ApiToken(models.Model):
    """A personal token for the HTTP API (collab.api): it may do what its owner may,
    within its scopes. Only a hash of it is kept, and its last four characters."""

    class Scope(models.TextChoices):
        DOCUMENTS_READ = "documents:read", "Read documents"
        DOCUMENTS_WRITE = "documents:write", "Create, change and delete documents"
        MEMBERS_WRITE = "members:write", "Share documents: members and links"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True)  # SHA-256 of the whole token, hex
    last4 = models.CharField(max_length=4)
    scopes = models.JSONField(default=list)
    created = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} (…{self.last4})"

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class WebhookEndpoint(models.Model):
    """Where to tell a program about changes (collab.webhooks): one document's, or all of a user's."""

    class Event(models.TextChoices):
        DOCUMENT_CREATED = "document.created", "A document was created"
        DOCUMENT_CHANGED = "document.changed", "A document's text changed"
        DOCUMENT_DELETED = "document.deleted", "A document was deleted"
        MEMBER_ADDED = "member.added", "Someone was given access"
        MEMBER_REMOVED = "member.removed", "Someone's access was removed"
        COMMENT_CREATED = "comment.created", "A comment was made"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks")
    document = models.ForeignKey(
        Document,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhooks",
        help_text="Empty: every document the user owns.",
    )
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list)
    # Standard Webhooks signing secrets (whsec_...): needed in full to sign, so kept as
    # they are. After a rotation the previous one signs too until `previous_until`.
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_until = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    failures = models.IntegerField(default=0)  # deliveries in a row that failed for good
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event for one endpoint, tried until it succeeds or the retries run out."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.CharField(max_length=40, unique=True)
    event = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.IntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event} to {self.endpoint}"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField(auto_now_add=True)
    status_code = models.IntegerField(null=True, blank=True)
    duration_ms = models.IntegerField(default=0)
    response = models.TextField(blank=True)  # the first 1,000 characters
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]


class DocumentChange(models.Model):
    """A document's text changed since its last document.changed event: when first and last."""

    document = models.OneToOneField(Document, primary_key=True, on_delete=models.CASCADE, related_name="+")
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
