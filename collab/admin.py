"""The admin as moderators use it. Every action calls collab.moderation, the same
functions code would call, so it is audited and reaches the live sockets."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from . import moderation, persistence, presence
from .models import Account, AuditEntry, Document, Membership, Report, ShareLink

admin.site.site_header = "collab moderation"
admin.site.site_title = "collab admin"


def _reason(request) -> str:
    return request.POST.get("reason", "").strip()[:1000]


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
    fields = ("user", "role", "created")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Document)
class DocumentAdmin(PermissionActionsMixin, admin.ModelAdmin):
    list_display = ("title", "owner", "live_connections", "locked", "open_reports", "updated")
    list_filter = ("locked", "created", "updated")
    search_fields = ("title", "owner__username", "id")
    list_select_related = ("owner",)
    date_hierarchy = "updated"
    readonly_fields = (
        "id",
        "owner",
        "created",
        "updated",
        "locked",
        "locked_at",
        "locked_by",
        "connected_now",
        "content",
    )
    fields = ("title",) + readonly_fields
    inlines = [MembershipInline]
    actions = ["lock_selected", "unlock_selected", "disconnect_selected", "delete_selected_documents"]
    change_form_template = "admin/collab/document/change_form.html"

    # -- columns and fields ---------------------------------------------------

    # Sync views run one at a time on Django's sync thread, so per-request state
    # can sit on the admin instance for the columns below to read.

    def changelist_view(self, request, extra_context=None):
        self._live = presence.snapshot()  # one read for the whole page
        return super().changelist_view(request, extra_context)

    @admin.display(description="connected now")
    def live_connections(self, obj):
        return len(getattr(self, "_live", {}).get(str(obj.pk), []))

    @admin.display(description="open reports")
    def open_reports(self, obj):
        return obj.reports.filter(status=Report.Status.OPEN).count()

    @admin.display(description="who is connected now")
    def connected_now(self, obj):
        entries = presence.connected_to(obj.pk)
        if not entries:
            return "Nobody"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{} ({}{}) since {} on {}</li>",
                (
                    (e["name"], e["role"], ", guest" if e["guest"] else "", e["since"], e["worker"])
                    for e in sorted(entries, key=lambda e: e["name"])
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
            moderation.document_lock(document=document, actor=request.user)
        messages.success(request, f"Locked {len(queryset)} document(s).")

    @admin.action(permissions=["lock"], description="Unlock")
    def unlock_selected(self, request, queryset):
        for document in queryset:
            moderation.document_unlock(document=document, actor=request.user)
        messages.success(request, f"Unlocked {len(queryset)} document(s).")

    @admin.action(permissions=["disconnect"], description="Disconnect everyone")
    def disconnect_selected(self, request, queryset):
        for document in queryset:
            moderation.document_disconnect_all(document=document, actor=request.user)
        messages.success(request, f"Disconnected everyone from {len(queryset)} document(s).")

    @admin.action(permissions=["delete"], description="Delete selected documents (audited)")
    def delete_selected_documents(self, request, queryset):
        for document in queryset:
            moderation.document_delete(document=document, actor=request.user)
        messages.success(request, "Deleted.")

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # ours is audited
        return actions

    def delete_model(self, request, obj):
        moderation.document_delete(document=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for document in queryset:
            moderation.document_delete(document=document, actor=request.user)

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
            context["memberships"] = obj.memberships.select_related("user")
            context["can_lock"] = request.user.has_perm("collab.lock_document")
            context["can_disconnect"] = request.user.has_perm("collab.disconnect_document")
            context["can_remove_member"] = request.user.has_perm("collab.remove_member")
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ("document", "user", "role", "created")
    list_filter = ("role",)
    search_fields = ("document__title", "user__username")
    list_select_related = ("document", "user")
    readonly_fields = ("document", "user", "role", "created")


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = ("document", "role", "expires_at", "revoked_at", "created_by", "created")
    list_filter = ("role", "created")
    search_fields = ("document__title",)
    readonly_fields = ("document", "token", "role", "expires_at", "created_by", "created", "revoked_at")

    def has_add_permission(self, request):
        return False


@admin.register(Report)
class ReportAdmin(PermissionActionsMixin, admin.ModelAdmin):
    list_display = ("document", "short_reason", "reporter_name", "status", "created", "resolved_by")
    list_filter = ("status", "created")
    search_fields = ("document__title", "reporter_name", "reason")
    list_select_related = ("document", "resolved_by")
    readonly_fields = (
        "document",
        "reporter",
        "reporter_name",
        "reason",
        "created",
        "status",
        "resolved_by",
        "resolved_at",
    )
    fields = readonly_fields + ("resolution",)
    actions = ["resolve_selected"]

    @admin.display(description="reason")
    def short_reason(self, obj):
        return obj.reason if len(obj.reason) <= 80 else obj.reason[:79] + "…"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(permissions=["change"], description="Resolve selected reports")
    def resolve_selected(self, request, queryset):
        for report in queryset.filter(status=Report.Status.OPEN):
            moderation.report_resolve(report=report, actor=request.user, resolution="Resolved from the list.")
        messages.success(request, "Resolved.")

    def save_model(self, request, obj, form, change):
        if obj.status == Report.Status.OPEN and obj.resolution.strip():
            moderation.report_resolve(report=obj, actor=request.user, resolution=obj.resolution.strip())
        elif "resolution" in form.changed_data:
            obj.save(update_fields=["resolution"])


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """On record for good: nobody adds, changes or deletes entries here."""

    list_display = ("created", "actor_name", "action", "target_type", "target_repr", "reason")
    list_filter = ("action", "target_type", "created")
    search_fields = ("actor_name", "target_repr", "target_id", "reason")
    readonly_fields = ("created", "actor", "actor_name", "action", "target_type", "target_id", "target_repr", "reason")


@admin.register(Account)
class AccountAdmin(PermissionActionsMixin, ReadOnlyAdmin):
    list_display = ("username", "is_active", "is_staff", "last_login", "date_joined")
    list_filter = ("is_active", "is_staff")
    search_fields = ("username", "email")
    fields = ("username", "is_active", "is_staff", "last_login", "date_joined")
    readonly_fields = fields
    actions = ["ban_selected"]
    change_form_template = "admin/collab/account/change_form.html"

    def has_ban_permission(self, request):
        return request.user.has_perm("collab.ban_user")

    @admin.action(permissions=["ban"], description="Ban: deactivate and disconnect")
    def ban_selected(self, request, queryset):
        for user in queryset.exclude(pk=request.user.pk):
            moderation.user_ban(user=user, actor=request.user)
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
        context["can_ban"] = request.user.has_perm("collab.ban_user")
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)
