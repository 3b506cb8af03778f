"""The admin as moderators use it. Every action calls collab.moderation.actions, the same
functions code would call, so it is audited and reaches the live sockets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import admin as auth_admin
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.utils.html import format_html, format_html_join

from collab.access import identity
from collab.api.tokens import PREFIX as TOKEN_PREFIX
from collab.api.tokens import digest_of
from collab.discussion import service as discussion
from collab.history import textdiff
from collab.history.versions import versions_of
from collab.models import (
    Account,
    ApiToken,
    AuditEntry,
    ChatMessage,
    Comment,
    Document,
    Membership,
    Profile,
    Report,
    ShareLink,
    Thread,
    Version,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from collab.moderation import actions as moderation
from collab.realtime import presence
from collab.storage import persistence
from collab.webhooks.delivery import send_again

admin.site.site_header = "collab moderation"
admin.site.site_title = "collab admin"


def _reason(request) -> str:
    """The optional reason typed next to a button or in the list's action bar."""
    return request.POST.get("reason", "").strip()[:1000]


class ReasonActionForm(helpers.ActionForm):
    """The list's action bar, with the reason the audit log records."""

    reason = forms.CharField(required=False, label="Reason (optional):")


class ResolutionActionForm(helpers.ActionForm):
    reason = forms.CharField(required=False, label="Resolution (optional):")


def local_time(value: datetime | str | None):
    """A time as the moderator's browser shows it (static/js/admin.js rewrites it in the
    browser's time zone); in the server's time zone without script. The full date on hover."""
    if not value:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    value = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" title="{}" class="collab-time">{}</time>',
        value.isoformat(),
        format_date(value, "l j F Y, H:i:s T"),
        format_date(value, "j M Y, H:i"),
    )


def timestamp(field: str, description: str):
    """A column or read-only field showing the datetime `field` through local_time."""

    @admin.display(description=description, ordering=field)
    def show(self, obj):
        return local_time(getattr(obj, field))

    return show


def shortened(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def authors_of_version(version: Version):
    """Everyone who changed the text since the version before, each with their colour."""
    if not version.authors:
        return "-"
    return format_html_join(
        ", ",
        '<span class="collab-author"><span class="collab-dot" style="background:{}"></span>{}</span>',
        (
            (author["color"] if _COLOR.fullmatch(author.get("color", "")) else "#888888", author.get("name", "?"))
            for author in version.authors
        ),
    )


def version_label(version: Version) -> str:
    return f"{version.get_kind_display()}: {version.name}" if version.name else version.get_kind_display()


def versions_url(version: Version, show: str = "") -> str:
    url = reverse("admin:collab_document_version", args=[version.document_id, version.pk])
    return f"{url}?show={show}" if show else url


def version_row(version: Version) -> Version:
    """The version with what a list of versions shows of it."""
    version.when = format_date(timezone.localtime(version.created), "j M Y, H:i")
    version.time = local_time(version.created)
    version.label = version_label(version)
    version.people = authors_of_version(version)
    version.url = versions_url(version)
    return version


@dataclass(frozen=True)
class ModerationButton:
    """A form of its own above the change form: what it does, a reason, the button."""

    url: str
    what: str
    button: str


class PermissionActionsMixin:
    """Admin actions and buttons that staff without the permission get 403 for."""

    def response_action(self, request, queryset):
        action = request.POST.get("action")
        if action and action in self.get_action_choices_all() and action not in self.get_actions(request):
            raise PermissionDenied
        return super().response_action(request, queryset)

    def get_action_choices_all(self) -> set[str]:
        return {getattr(a, "__name__", str(a)) for a in self.actions or []}

    def require(self, request, perm: str) -> None:
        if not request.user.has_perm(f"collab.{perm}"):
            raise PermissionDenied


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown to those who may view; nobody adds, changes or deletes here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("user", "role", "created_time")
    readonly_fields = fields
    created_time = timestamp("created", "created")
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Document)
class DocumentAdmin(PermissionActionsMixin, admin.ModelAdmin):
    list_display = ("title", "owner", "live_connections", "locked", "open_reports", "updated_time")
    list_filter = ("locked", "trashed_at", "created", "updated")
    search_fields = ("title", "owner__username", "id")
    list_select_related = ("owner",)
    date_hierarchy = "updated"
    readonly_fields = (
        "id",
        "owner",
        "created_time",
        "updated_time",
        "locked",
        "locked_time",
        "locked_by",
        "trashed_at",
        "trashed_by",
        "connected_now",
        "content",
    )
    fields = ("title", "title_follows_heading") + readonly_fields
    inlines = [MembershipInline]
    actions = ["lock_selected", "unlock_selected", "disconnect_selected", "trash_selected", "delete_selected_documents"]
    action_form = ReasonActionForm

    # -- columns and fields ---------------------------------------------------

    # Sync views run one at a time on Django's sync thread, so per-request state
    # can sit on the admin instance for the columns below to read.

    def changelist_view(self, request, extra_context=None):
        self._live = presence.snapshot()  # one read for the whole page
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        if "title" in form.changed_data and "title_follows_heading" not in form.changed_data:
            obj.title_follows_heading = False  # a title given by hand stays, as a rename's does
        super().save_model(request, obj, form, change)

    @admin.display(description="connected now")
    def live_connections(self, obj):
        return len(getattr(self, "_live", {}).get(str(obj.pk), []))

    @admin.display(description="open reports")
    def open_reports(self, obj):
        return obj.reports.filter(status=Report.Status.OPEN).count()

    @admin.display(description="history")
    def history_link(self, obj):
        return format_html('<a href="{}">History</a>', reverse("admin:collab_document_versions", args=[obj.pk]))

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        return (*shown, "history_link") if request.user.has_perm("collab.view_version") else shown

    created_time = timestamp("created", "created")
    updated_time = timestamp("updated", "updated")
    locked_time = timestamp("locked_at", "locked at")

    @admin.display(description="who is connected now")
    def connected_now(self, obj):
        entries = presence.connected_to(obj.pk)
        if not entries:
            return "Nobody"
        return format_html(
            '<ul class="collab-connected">{}</ul>',
            format_html_join(
                "",
                "<li>{} ({}{}) since {} on worker {}</li>",
                (
                    (e["name"], e["role"], ", guest" if e["guest"] else "", local_time(e["since"]), e["worker"])
                    for e in sorted(entries, key=lambda e: (e["name"], e["since"]))
                ),
            ),
        )

    @admin.display(description="current text")
    def content(self, obj):
        if not self._request.user.has_perm("collab.view_content"):
            return "(you may not read documents' content)"
        # Escaped and shown as plain text: nothing in it can run in the moderator's page.
        return format_html('<pre class="collab-content">{}</pre>', persistence.document_text(obj.pk))

    def get_readonly_fields(self, request, obj=None):
        self._request = request
        return super().get_readonly_fields(request, obj)

    # -- actions --------------------------------------------------------------

    def has_lock_permission(self, request):
        return request.user.has_perm("collab.lock_document")

    def has_disconnect_permission(self, request):
        return request.user.has_perm("collab.disconnect_document")

    @admin.action(permissions=["lock"], description="Lock: nobody may edit")
    def lock_selected(self, request, queryset):
        for document in queryset:
            moderation.document_lock(document=document, actor=request.user, reason=_reason(request))
        messages.success(request, f"Locked {len(queryset)} document(s).")

    @admin.action(permissions=["lock"], description="Unlock")
    def unlock_selected(self, request, queryset):
        for document in queryset:
            moderation.document_unlock(document=document, actor=request.user, reason=_reason(request))
        messages.success(request, f"Unlocked {len(queryset)} document(s).")

    @admin.action(permissions=["disconnect"], description="Disconnect everyone")
    def disconnect_selected(self, request, queryset):
        for document in queryset:
            moderation.document_disconnect_all(document=document, actor=request.user, reason=_reason(request))
        messages.success(request, f"Disconnected everyone from {len(queryset)} document(s).")

    @admin.action(permissions=["delete"], description="Move selected documents to the trash (audited)")
    def trash_selected(self, request, queryset):
        for document in queryset:
            moderation.document_trash(document=document, actor=request.user, reason=_reason(request))
        messages.success(request, f"Moved {len(queryset)} document(s) to their owners' trash.")

    @admin.action(permissions=["delete"], description="Delete selected documents for good (audited)")
    def delete_selected_documents(self, request, queryset):
        for document in queryset:
            moderation.document_delete(document=document, actor=request.user, reason=_reason(request))
        messages.success(request, "Deleted.")

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # ours is audited
        return actions

    def get_deleted_objects(self, objs, request):
        """A document goes with its memberships, links, reports and content, which nobody may
        delete on their own here: the permission to delete documents is the one needed."""
        deleted, counts, _, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    def delete_view(self, request, object_id, extra_context=None):
        """Django's confirmation, which offers the trash beside deleting for good."""
        if request.method == "POST" and request.POST.get("mode") == "trash":
            document = self.get_object(request, object_id)
            if document is None or not self.has_delete_permission(request, document):
                raise PermissionDenied
            moderation.document_trash(document=document, actor=request.user, reason=_reason(request))
            messages.success(request, f"“{document}” is in its owner's trash.")
            return redirect(reverse("admin:collab_document_changelist"))
        extra_context = {**(extra_context or {}), "trash_days": settings.COLLAB_TRASH_DAYS}
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj):
        moderation.document_delete(document=obj, actor=request.user, reason=_reason(request))

    def delete_queryset(self, request, queryset):
        for document in queryset:
            moderation.document_delete(document=document, actor=request.user, reason=_reason(request))

    # -- buttons on the change page --------------------------------------------

    def get_urls(self):
        own = [
            path("<uuid:pk>/lock/", self.admin_site.admin_view(self.lock_view), name="collab_document_lock"),
            path("<uuid:pk>/unlock/", self.admin_site.admin_view(self.unlock_view), name="collab_document_unlock"),
            path(
                "<uuid:pk>/disconnect/",
                self.admin_site.admin_view(self.disconnect_view),
                name="collab_document_disconnect",
            ),
            path(
                "<uuid:pk>/remove-member/<int:user_id>/",
                self.admin_site.admin_view(self.remove_member_view),
                name="collab_document_remove_member",
            ),
            # Not "history/": that is Django's log of changes made in the admin.
            path(
                "<uuid:pk>/versions/",
                self.admin_site.admin_view(self.versions_view),
                name="collab_document_versions",
            ),
            path(
                "<uuid:pk>/versions/<int:version_id>/",
                self.admin_site.admin_view(self.version_view),
                name="collab_document_version",
            ),
            path(
                "<uuid:pk>/versions/<int:version_id>/restore/",
                self.admin_site.admin_view(self.version_restore_view),
                name="collab_document_version_restore",
            ),
            path(
                "<uuid:pk>/discussion/",
                self.admin_site.admin_view(self.discussion_view),
                name="collab_document_discussion",
            ),
            path(
                "<uuid:pk>/discussion/comment/<int:comment_id>/delete/",
                self.admin_site.admin_view(self.comment_delete_view),
                name="collab_document_comment_delete",
            ),
            path(
                "<uuid:pk>/discussion/chat/<int:message_id>/delete/",
                self.admin_site.admin_view(self.chat_delete_view),
                name="collab_document_chat_delete",
            ),
        ]
        return own + super().get_urls()

    def _button(self, request, pk, perm, act, done):
        if request.method != "POST":
            raise PermissionDenied
        self.require(request, perm)
        document = get_object_or_404(Document, pk=pk)
        act(document=document, actor=request.user, reason=_reason(request))
        messages.success(request, done)
        return redirect(reverse("admin:collab_document_change", args=[pk]))

    def lock_view(self, request, pk):
        return self._button(request, pk, "lock_document", moderation.document_lock, "Locked: nobody may edit.")

    def unlock_view(self, request, pk):
        return self._button(request, pk, "lock_document", moderation.document_unlock, "Unlocked.")

    def disconnect_view(self, request, pk):
        return self._button(
            request, pk, "disconnect_document", moderation.document_disconnect_all, "Everyone was disconnected."
        )

    def remove_member_view(self, request, pk, user_id):
        if request.method != "POST":
            raise PermissionDenied
        self.require(request, "remove_member")
        membership = get_object_or_404(Membership, document_id=pk, user_id=user_id)
        moderation.member_remove(
            document=membership.document, user=membership.user, actor=request.user, reason=_reason(request)
        )
        messages.success(request, f"{membership.user.get_username()} was removed from the document.")
        return redirect(reverse("admin:collab_document_change", args=[pk]))

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        if obj is not None:
            context["moderation_buttons"] = self.moderation_buttons(request, obj)
            if request.user.has_perm("collab.view_version"):
                context["versions_url"] = reverse("admin:collab_document_versions", args=[obj.pk])
            if request.user.has_perm("collab.view_content"):
                context["discussion_url"] = reverse("admin:collab_document_discussion", args=[obj.pk])
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    def moderation_buttons(self, request, document) -> list[ModerationButton]:
        """The buttons this moderator may press, each posting to its own view with a reason."""
        may = request.user.has_perm
        buttons = []
        if may("collab.lock_document") and document.locked:
            url = reverse("admin:collab_document_unlock", args=[document.pk])
            buttons.append(ModerationButton(url, "Unlock: owner and editors may edit again", "Unlock"))
        elif may("collab.lock_document"):
            url = reverse("admin:collab_document_lock", args=[document.pk])
            buttons.append(ModerationButton(url, "Lock: nobody may edit, the owner included", "Lock"))
        if may("collab.disconnect_document"):
            url = reverse("admin:collab_document_disconnect", args=[document.pk])
            buttons.append(ModerationButton(url, "Disconnect everyone who has it open", "Disconnect everyone"))
        if may("collab.remove_member"):
            for membership in document.memberships.select_related("user").order_by("user__username"):
                url = reverse("admin:collab_document_remove_member", args=[document.pk, membership.user_id])
                what = f"Remove {membership.user.get_username()} ({membership.get_role_display()}) from it"
                buttons.append(ModerationButton(url, what, "Remove"))
        return buttons

    # -- history: versions, their text and differences, restore ------------------

    versions_per_page = 25
    VERSION_VIEWS = {
        "text": "Text",
        "previous": "Changes from the version before",
        "current": "Changes since, to the current text",
    }

    def _may_see_versions(self, request, perm: str = "view_version") -> None:
        if not (self.has_view_or_change_permission(request) and request.user.has_perm(f"collab.{perm}")):
            raise PermissionDenied

    def _page(self, request, template: str, document, title: str, **context):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "document": document,
            "title": title,
            **context,
        }
        return TemplateResponse(request, f"admin/collab/document/{template}", context)

    def _version(self, pk, version_id) -> Version:
        return get_object_or_404(Version.objects.select_related("document"), pk=version_id, document_id=pk)

    def versions_view(self, request, pk):
        """The document's versions, newest first."""
        self._may_see_versions(request)
        document = get_object_or_404(Document, pk=pk)
        page = Paginator(versions_of(document.pk), self.versions_per_page).get_page(request.GET.get("p"))
        for version in page:
            version_row(version)
        return self._page(request, "versions.html", document, f"History of “{document}”", page=page)

    def version_view(self, request, pk, version_id):
        """One version: its text, or its differences from the version before or from the current text."""
        self._may_see_versions(request)
        version = self._version(pk, version_id)
        show = request.GET.get("show", "text")
        show = show if show in self.VERSION_VIEWS else "text"
        same = Q(document_id=pk, created=version.created)
        older = versions_of(pk).filter(Q(created__lt=version.created) | same & Q(id__lt=version.id)).first()
        newer = (
            versions_of(pk)
            .filter(Q(created__gt=version.created) | same & Q(id__gt=version.id))
            .order_by("created", "id")
            .first()
        )
        may_read = request.user.has_perm("collab.view_content")
        runs = None
        if may_read and show == "previous":
            runs = textdiff.readable(textdiff.opcodes(older.text if older else "", version.text))
        elif may_read and show == "current":
            runs = textdiff.readable(textdiff.opcodes(version.text, persistence.document_text(pk)))
        buttons = []
        if request.user.has_perm("collab.restore_version"):
            url = reverse("admin:collab_document_version_restore", args=[pk, version.pk])
            what = "Restore this version: its text becomes the document's, as one edit on top (you confirm next)"
            buttons.append(ModerationButton(url, what, "Restore this version"))
        version_row(version)
        return self._page(
            request,
            "version.html",
            version.document,
            f"“{version.document}” as it was on {version.when}",
            version=version,
            show=show,
            views=[(key, label, versions_url(version, key)) for key, label in self.VERSION_VIEWS.items()],
            may_read=may_read,
            runs=runs,
            older=older,
            newer=newer,
            moderation_buttons=buttons,
        )

    def version_restore_view(self, request, pk, version_id):
        """Asks for confirmation, then restores the version (POST with `confirmed=yes`)."""
        self._may_see_versions(request, "restore_version")
        version = self._version(pk, version_id)
        if request.method == "POST" and request.POST.get("confirmed") == "yes":
            restored = moderation.version_restore(version=version, actor=request.user, reason=_reason(request))
            when = format_date(timezone.localtime(version.created), "j M Y, H:i:s")
            if restored is None:
                messages.info(request, f"The document has the text of the version of {when} already: nothing changed.")
            else:
                messages.success(
                    request,
                    f"Restored the version of {when}: everyone connected has it within a second. "
                    "The text it replaced is the newest version: restoring that one undoes this.",
                )
            return redirect(reverse("admin:collab_document_versions", args=[pk]))
        may_read = request.user.has_perm("collab.view_content")
        runs = textdiff.readable(textdiff.opcodes(persistence.document_text(pk), version.text)) if may_read else None
        return self._page(
            request,
            "version_restore.html",
            version.document,
            "Restore this version?",
            version=version_row(version),
            may_read=may_read,
            runs=runs,
            reason=_reason(request),
        )

    # -- comments and chat: read with view_content, delete with delete_document -------

    chat_per_page = 50

    def _may_see_discussion(self, request) -> None:
        if not (self.has_view_or_change_permission(request) and request.user.has_perm("collab.view_content")):
            raise PermissionDenied

    def discussion_view(self, request, pk):
        """The document's comment threads (oldest first) and its chat (newest first, in pages)."""
        self._may_see_discussion(request)
        document = get_object_or_404(Document, pk=pk)
        threads = Thread.objects.filter(document=document).prefetch_related("comments__author")
        chat = ChatMessage.objects.filter(document=document).select_related("author").order_by("-id")
        page = Paginator(chat, self.chat_per_page).get_page(request.GET.get("p"))
        for thread in threads:
            thread.when = local_time(thread.created)
            for comment in thread.comments.all():
                comment.when = local_time(comment.created)
        for message in page:
            message.when = local_time(message.created)
        return self._page(
            request,
            "discussion.html",
            document,
            f"Comments and chat of “{document}”",
            threads=threads,
            page=page,
            may_delete=request.user.has_perm("collab.delete_document"),
        )

    def _discussion_delete(self, request, pk, act, done: str, anchor: str):
        if request.method != "POST":
            raise PermissionDenied
        self._may_see_discussion(request)
        self.require(request, "delete_document")
        try:
            act(actor=request.user, reason=_reason(request))
        except discussion.NotAllowed:
            messages.info(request, "It was deleted already.")
        else:
            messages.success(request, done)
        return redirect(reverse("admin:collab_document_discussion", args=[pk]) + anchor)

    def comment_delete_view(self, request, pk, comment_id):
        comment = get_object_or_404(
            Comment.objects.select_related("thread__document"), pk=comment_id, thread__document_id=pk
        )
        return self._discussion_delete(
            request,
            pk,
            lambda **kw: moderation.comment_delete(comment=comment, **kw),
            f"Deleted {comment.author_name}'s comment: everyone connected sees it gone within a second.",
            f"#thread-{comment.thread_id}",
        )

    def chat_delete_view(self, request, pk, message_id):
        message = get_object_or_404(ChatMessage.objects.select_related("document"), pk=message_id, document_id=pk)
        return self._discussion_delete(
            request,
            pk,
            lambda **kw: moderation.chat_message_delete(message=message, **kw),
            f"Deleted {message.author_name}'s chat message: everyone connected sees it gone within a second.",
            "#chat",
        )


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ("document", "user", "role", "created_time")
    list_filter = ("role",)
    search_fields = ("document__title", "user__username")
    list_select_related = ("document", "user")
    readonly_fields = ("document", "user", "role", "created_time")
    created_time = timestamp("created", "created")


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = ("document", "role", "expires_time", "revoked_time", "created_by", "created_time")
    list_filter = ("role", "created")
    search_fields = ("document__title",)
    readonly_fields = ("document", "token", "role", "expires_time", "created_by", "created_time", "revoked_time")
    expires_time = timestamp("expires_at", "expires")
    revoked_time = timestamp("revoked_at", "revoked")
    created_time = timestamp("created", "created")

    def has_add_permission(self, request):
        return False


@admin.register(Report)
class ReportAdmin(PermissionActionsMixin, admin.ModelAdmin):
    list_display = (
        "document",
        "short_reason",
        "reporter_name",
        "status",
        "created_time",
        "resolved_by",
        "short_resolution",
    )
    history_shown = 5  # the latest versions a report's page lists
    list_filter = ("status", "created")
    search_fields = ("document__title", "reporter_name", "reason")
    list_select_related = ("document", "resolved_by")
    readonly_fields = (
        "document",
        "reported_item",
        "reporter",
        "reporter_name",
        "reason",
        "created_time",
        "status",
        "resolved_by",
        "resolved_time",
    )
    fields = readonly_fields + ("resolution",)
    history_fields = ("document_versions",)  # with collab.view_version only
    actions = ["resolve_selected"]
    action_form = ResolutionActionForm
    created_time = timestamp("created", "created")
    resolved_time = timestamp("resolved_at", "resolved at")

    @admin.display(description="reason")
    def short_reason(self, obj):
        return shortened(obj.reason)

    @admin.display(description="reported comment or chat message")
    def reported_item(self, obj):
        """What the report points at, as plain text, with the way to it in the document's discussion."""
        item = obj.comment or obj.chat_message
        if item is None:
            return "The document itself"
        kind = "Comment" if obj.comment else "Chat message"
        url = reverse("admin:collab_document_discussion", args=[obj.document_id])
        url += f"#thread-{item.thread_id}" if obj.comment else f"#chat-{item.pk}"
        state = " (deleted)" if item.deleted_at else ""
        return format_html(
            '{} by {}{}, {}: <pre class="collab-content collab-reported">{}</pre>'
            '<a href="{}">See it in the discussion</a>',
            kind,
            item.author_name,
            state,
            local_time(item.created),
            item.body,
            url,
        )

    # A document reported for vandalism is one click from its last good version.

    @admin.display(description="the document's latest versions")
    def document_versions(self, obj):
        latest = [version_row(v) for v in versions_of(obj.document_id)[: self.history_shown]]
        everything = format_html(
            '<a href="{}">All versions</a>', reverse("admin:collab_document_versions", args=[obj.document_id])
        )
        if not latest:
            return format_html("None yet. {}", everything)
        rows = format_html_join(
            "",
            '<li>{} <a href="{}">{}</a> <span class="collab-counts"><span class="collab-added">+{}</span> '
            '<span class="collab-removed">−{}</span></span> by {}</li>',
            ((v.time, v.url, v.label, v.chars_added, v.chars_removed, v.people) for v in latest),
        )
        return format_html('<ul class="collab-versions">{}</ul>{}', rows, everything)

    def _shows_history(self, request) -> bool:
        return request.user.has_perm("collab.view_version")

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if obj is None or not self._shows_history(request):
            return fields
        at = fields.index("document") + 1
        return (*fields[:at], *self.history_fields, *fields[at:])

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return (*fields, *self.history_fields) if self._shows_history(request) else fields

    @admin.display(description="resolution")
    def short_resolution(self, obj):
        return shortened(obj.resolution) if obj.resolution else "-"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(permissions=["change"], description="Resolve selected reports")
    def resolve_selected(self, request, queryset):
        for report in queryset.filter(status=Report.Status.OPEN):
            resolution = _reason(request) or "Resolved from the list."
            moderation.report_resolve(report=report, actor=request.user, resolution=resolution)
        messages.success(request, "Resolved.")

    def save_model(self, request, obj, form, change):
        if obj.status == Report.Status.OPEN and obj.resolution.strip():
            moderation.report_resolve(report=obj, actor=request.user, resolution=obj.resolution.strip())
        elif "resolution" in form.changed_data:
            obj.save(update_fields=["resolution"])


@admin.register(Version)
class VersionAdmin(ReadOnlyAdmin):
    """Every document's versions, to search and filter; each opens on its document's history."""

    list_display = ("document", "created_time", "label", "people", "chars_added", "chars_removed")
    list_filter = ("kind", "created")
    search_fields = ("document__title", "=document__id", "name")
    list_select_related = ("document",)
    created_time = timestamp("created", "created")

    @admin.display(description="version")
    def label(self, obj):
        return version_label(obj)

    @admin.display(description="changed by")
    def people(self, obj):
        return authors_of_version(obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not str(object_id).isdigit():
            raise Http404
        version = get_object_or_404(Version, pk=object_id)
        return redirect(versions_url(version))


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """On record for good: nobody adds, changes or deletes entries here."""

    list_display = ("created_time", "actor_name", "action", "target_type", "target_repr", "reason")
    list_filter = ("action", "target_type", "created")
    search_fields = ("actor_name", "target_repr", "target_id", "reason")
    readonly_fields = (
        "created_time",
        "actor",
        "actor_name",
        "action",
        "target_type",
        "target_id",
        "target_repr",
        "reason",
    )
    created_time = timestamp("created", "when")


class ProfileInline(admin.StackedInline):
    model = Profile
    can_delete = False


admin.site.unregister(User)


@admin.register(User)
class UserAdmin(auth_admin.UserAdmin):
    """Django's, with the display name: administrators can change one (an offensive one, say)."""

    inlines = [*auth_admin.UserAdmin.inlines, ProfileInline]


@admin.register(Account)
class AccountAdmin(PermissionActionsMixin, ReadOnlyAdmin):
    list_display = ("username", "display_name", "is_active", "is_staff", "last_login_time", "joined_time")
    list_filter = ("is_active", "is_staff")
    list_select_related = ("profile",)
    search_fields = ("username", "profile__display_name", "email")
    fields = ("username", "display_name", "is_active", "is_staff", "last_login_time", "joined_time")
    readonly_fields = fields
    actions = ["ban_selected"]
    action_form = ReasonActionForm
    last_login_time = timestamp("last_login", "last login")
    joined_time = timestamp("date_joined", "joined")

    @admin.display(description="display name")
    def display_name(self, obj):
        return identity.display_name(obj)

    def has_ban_permission(self, request):
        return request.user.has_perm("collab.ban_user")

    @admin.action(permissions=["ban"], description="Ban: deactivate and disconnect")
    def ban_selected(self, request, queryset):
        for user in queryset.exclude(pk=request.user.pk):
            moderation.user_ban(user=user, actor=request.user, reason=_reason(request))
        messages.success(request, "Banned.")

    def get_urls(self):
        own = [path("<int:pk>/ban/", self.admin_site.admin_view(self.ban_view), name="collab_account_ban")]
        return own + super().get_urls()

    def ban_view(self, request, pk):
        if request.method != "POST":
            raise PermissionDenied
        self.require(request, "ban_user")
        user = get_object_or_404(Account, pk=pk)
        if user.pk == request.user.pk:
            messages.error(request, "You cannot ban yourself.")
        else:
            moderation.user_ban(user=user, actor=request.user, reason=_reason(request))
            messages.success(request, f"{user.username} is banned: signed out everywhere and disconnected.")
        return redirect(reverse("admin:collab_account_change", args=[pk]))

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        if obj is not None and obj.is_active and obj.pk != request.user.pk and request.user.has_perm("collab.ban_user"):
            url = reverse("admin:collab_account_ban", args=[obj.pk])
            what = "Ban: deactivate, sign out everywhere and disconnect"
            context["moderation_buttons"] = [ModerationButton(url, what, "Ban")]
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)


def may_revoke_tokens(user) -> bool:
    """Who may see and revoke everyone's API tokens: those who may ban an account (the
    moderator group), since a ban stops its tokens anyway, or change API tokens."""
    return user.has_perm("collab.ban_user") or user.has_perm("collab.change_apitoken")


class TokenStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        now = timezone.now()
        unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        if self.value() == "active":
            return queryset.filter(unexpired, revoked_at__isnull=True)
        if self.value() == "expired":
            return queryset.exclude(unexpired).filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(PermissionActionsMixin, ReadOnlyAdmin):
    """Personal API tokens: who made which, when it was last used, revoked or not. Only a
    digest of a token is kept, and never shown; paste a leaked token in the search box to
    find it."""

    list_display = ("name", "user", "last_four", "scope_list", "created_time", "used_time", "expires_time", "state")
    list_filter = (TokenStateFilter, "created")
    list_select_related = ("user",)
    search_fields = ("user__username", "name", "=last4")
    fields = ("user", "name", "last_four", "scope_list", "created_time", "used_time", "expires_time", "revoked_time")
    readonly_fields = fields
    actions = ["revoke_selected"]
    action_form = ReasonActionForm
    created_time = timestamp("created", "created")
    used_time = timestamp("last_used_at", "last used")
    expires_time = timestamp("expires_at", "expires")
    revoked_time = timestamp("revoked_at", "revoked")

    @admin.display(description="token")
    def last_four(self, obj):
        return f"…{obj.last4}"

    @admin.display(description="scopes")
    def scope_list(self, obj):
        return ", ".join(obj.scopes)

    @admin.display(description="state")
    def state(self, obj):
        if obj.revoked_at:
            return format_html("revoked {}", local_time(obj.revoked_at))
        return "active" if obj.is_usable() else "expired"

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term.startswith(TOKEN_PREFIX):  # a whole token, found by its digest
            return queryset.filter(digest=digest_of(term)), False
        return super().get_search_results(request, queryset, search_term)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or may_revoke_tokens(request.user)

    def has_revoke_permission(self, request):
        return may_revoke_tokens(request.user)

    @admin.action(permissions=["revoke"], description="Revoke: programs using them get 401")
    def revoke_selected(self, request, queryset):
        revoked = sum(
            moderation.token_revoke(token=token, actor=request.user, reason=_reason(request))
            for token in queryset.filter(revoked_at__isnull=True)
        )
        messages.success(request, f"Revoked {revoked} token(s).")

    def get_urls(self):
        own = [path("<int:pk>/revoke/", self.admin_site.admin_view(self.revoke_view), name="collab_apitoken_revoke")]
        return own + super().get_urls()

    def revoke_view(self, request, pk):
        if request.method != "POST" or not may_revoke_tokens(request.user):
            raise PermissionDenied
        token = get_object_or_404(ApiToken.objects.select_related("user"), pk=pk)
        if moderation.token_revoke(token=token, actor=request.user, reason=_reason(request)):
            messages.success(request, f"{token} of {token.user.get_username()} is revoked.")
        return redirect(reverse("admin:collab_apitoken_change", args=[pk]))

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        if obj is not None and obj.revoked_at is None and may_revoke_tokens(request.user):
            url = reverse("admin:collab_apitoken_revoke", args=[obj.pk])
            context["moderation_buttons"] = [ModerationButton(url, "Revoke: programs using it get 401", "Revoke")]
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    """People's webhook endpoints, to look at: their owners change them on the Webhooks
    page. The signing secret is never shown here."""

    list_display = ("url", "user", "scope", "event_list", "active", "disabled_reason", "failures", "created_time")
    list_filter = ("active", "created")
    list_select_related = ("user", "document")
    search_fields = ("url", "user__username")
    fields = ("user", "scope", "url", "event_list", "active", "disabled_reason", "failures", "created_time")
    readonly_fields = fields
    created_time = timestamp("created", "created")

    @admin.display(description="for")
    def scope(self, obj):
        return obj.document.title if obj.document else "all the user's documents"

    @admin.display(description="events")
    def event_list(self, obj):
        return ", ".join(obj.events)


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ("at_time", "status_code", "duration_ms", "error", "response")
    readonly_fields = fields
    extra = 0
    can_delete = False
    at_time = timestamp("at", "at")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(PermissionActionsMixin, ReadOnlyAdmin):
    """Every event sent to an endpoint, with each attempt; "Send again" sends one once more."""

    list_display = ("event", "endpoint", "owner", "status", "attempts", "last_answer", "created_time", "finished_time")
    list_filter = ("status", "event", "created")
    list_select_related = ("endpoint__user",)
    search_fields = ("message_id", "endpoint__url", "endpoint__user__username")
    fields = (
        "message_id",
        "event",
        "endpoint",
        "owner",
        "status",
        "attempts",
        "created_time",
        "finished_time",
        "payload",
    )
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
    actions = ["send_again_selected"]
    created_time = timestamp("created", "created")
    finished_time = timestamp("finished_at", "finished")

    def get_queryset(self, request):
        latest = WebhookAttempt.objects.order_by("-at", "-pk")
        return super().get_queryset(request).prefetch_related(Prefetch("attempt_log", queryset=latest))

    @admin.display(description="owner", ordering="endpoint__user__username")
    def owner(self, obj):
        return obj.endpoint.user

    @admin.display(description="last answer")
    def last_answer(self, obj):
        attempts = list(obj.attempt_log.all())
        if not attempts:
            return "-"
        last = attempts[0]
        answer = str(last.status_code) if last.status_code else shortened(last.error, 60)
        return f"{answer} in {last.duration_ms} ms"

    def has_send_permission(self, request):
        return request.user.has_perm("collab.change_webhookdelivery")

    @admin.action(permissions=["send"], description="Send again: the same event, as a new delivery")
    def send_again_selected(self, request, queryset):
        chosen = list(queryset.select_related("endpoint"))
        sent = [send_again(delivery) for delivery in chosen if delivery.endpoint.active]
        messages.success(request, f"Sent {len(sent)} deliver{'y' if len(sent) == 1 else 'ies'} again.")
        if len(sent) < len(chosen):
            messages.warning(request, f"{len(chosen) - len(sent)} not sent: their endpoint is off.")
