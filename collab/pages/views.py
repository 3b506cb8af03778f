from __future__ import annotations

import re
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.contrib.messages.views import SuccessMessageMixin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.middleware.csrf import REASON_NO_CSRF_COOKIE
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from collab.access import documents, sharing
from collab.access.identity import display_name, identity_for
from collab.access.rights import SESSION_GUEST_NAME
from collab.discussion import service as discussion
from collab.history.versions import history_visible
from collab.models import Document, Membership, Role, ShareLink
from collab.moderation import actions as moderation
from collab.pages import health, tokens
from collab.pages.forms import (
    AccountForm,
    AddMemberForm,
    CreateLinkForm,
    DiscussionSettingsForm,
    GuestForm,
    HistoryVisibilityForm,
    ImportForm,
    MemberRoleForm,
    RenameForm,
    ReportForm,
    SignUpForm,
    TransferForm,
)
from collab.storage import persistence


def with_document(minimum: Role = Role.VIEWER):
    """Resolve the document and the visitor's role; 404 for those who may not see it."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, document_id, *args, **kwargs):
            try:
                document, role = documents.document_for(
                    user=request.user, session=request.session, document_id=document_id, minimum=minimum
                )
            except documents.NoAccess:
                if not request.user.is_authenticated:
                    return redirect_to_login(request.get_full_path())
                raise Http404 from None
            except documents.RoleTooLow:
                raise PermissionDenied from None
            return view(request, document, role, *args, **kwargs)

        return wrapper

    return decorator


def home(request):
    if not request.user.is_authenticated:
        return render(request, "collab/landing.html")
    return documents_page(request)


DOCUMENTS_PER_PAGE = 50
SORT_CHOICES = [("updated", "Last edited"), ("title", "Title")]
SHOW_CHOICES = [("all", "All documents"), ("mine", "Mine"), ("shared", "Shared with me")]


def documents_page(request, *, import_form=None, status: int = 200):
    """The documents page: owned and shared documents, searched, sorted and paginated
    in a few queries however many there are; the import form (with its errors if given)."""
    search = request.GET.get("q", "").strip()[:200]
    sort = request.GET.get("sort") if request.GET.get("sort") in dict(SORT_CHOICES) else "updated"
    show = request.GET.get("show") if request.GET.get("show") in dict(SHOW_CHOICES) else "all"
    listing = documents.document_listing(user=request.user, search=search, sort=sort, show=show)
    page = Paginator(listing, DOCUMENTS_PER_PAGE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    editors = documents.last_editors(rows)
    for document in rows:
        document.role = Role.OWNER if document.owner_id == request.user.pk else Role(document.member_role)
        document.last_editor = editors.get(document.pk)
        document.last_edited_by_guest = document.pk in editors and editors[document.pk] is None
    context = {
        "documents": rows,
        "page": page,
        "search": search,
        "sort": sort,
        "show": show,
        "sort_choices": SORT_CHOICES,
        "show_choices": SHOW_CHOICES,
        "filtered": bool(search) or show != "all",
        "import_form": import_form or ImportForm(),
        "mentions": discussion.mentions_for(user=request.user),
    }
    return render(request, "collab/home.html", context, status=status)


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def account(request):
    form = AccountForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        name = display_name(request.user)
        messages.success(request, f"Saved. You appear as {name} in the documents you open from now on.")
        return redirect("account")
    return tokens.account_page(request, form=form, status=400 if request.method == "POST" else 200)


class PasswordChangeView(SuccessMessageMixin, auth_views.PasswordChangeView):
    """Django's own, back to the account page with a word of what happened."""

    success_url = reverse_lazy("account")
    success_message = "Your password was changed. Your other sessions were signed out."


@login_required
@require_POST
def document_new(request):
    document = documents.document_create(owner=request.user)
    return redirect(document)


@require_GET
@with_document()
def document_page(request, document, role):
    identity = identity_for(
        user=request.user,
        guest_name=request.session.get(SESSION_GUEST_NAME, ""),
        key=f"session:{request.session.session_key}",
    )
    context = {
        "document": document,
        "role": role,
        "can_write": role.can_write,
        "is_owner": role == Role.OWNER,
        # The History link and the Authors view (authors.json answers only them).
        "history_visible": history_visible(document=document, role=role),
        "identity": identity,
        # The page refuses a change over these before it enters the document.
        "max_message_bytes": settings.COLLAB_MAX_MESSAGE_BYTES,
        "max_document_bytes": settings.COLLAB_MAX_DOCUMENT_BYTES,
        "max_chat_chars": settings.COLLAB_MAX_CHAT_CHARS,
        "max_comment_chars": settings.COLLAB_MAX_COMMENT_CHARS,
    }
    return render(request, "collab/document.html", context)


@require_http_methods(["GET", "POST"])
@with_document(Role.OWNER)
def document_rename(request, document, role):
    form = RenameForm(request.POST or None, instance=document)
    if request.method == "POST" and form.is_valid():
        documents.document_rename(document=document, title=form.cleaned_data["title"])
        return redirect(document)
    # The editor posts in the background and shows the errors of a 400 (static/src/title.js).
    status = 400 if request.method == "POST" else 200
    return render(request, "collab/rename.html", {"document": document, "form": form}, status=status)


@require_http_methods(["GET", "POST"])
@with_document(Role.OWNER)
def document_delete(request, document, role):
    if request.method == "POST":
        documents.document_trash(document=document, actor=request.user)
        messages.success(request, f"“{document.title}” is in the trash: you can restore it from there.")
        return redirect("home")
    return render(request, "collab/delete.html", {"document": document, "days": documents.trash_days()})


@login_required
@require_GET
def trash(request):
    trashed = [
        (document, documents.purge_date(document.trashed_at))
        for document in documents.trash_for_user(user=request.user)
    ]
    return render(request, "collab/trash.html", {"trashed": trashed, "days": documents.trash_days()})


def with_trashed_document(view):
    """The visitor's own trashed document; 404 for anything else."""

    @wraps(view)
    @login_required
    @require_http_methods(["GET", "POST"])
    def wrapper(request, document_id):
        try:
            document = documents.trashed_document_for(user=request.user, document_id=document_id)
        except Document.DoesNotExist:
            raise Http404 from None
        return view(request, document)

    return wrapper


@with_trashed_document
def trash_restore(request, document):
    if request.method == "POST":
        documents.document_restore(document=document)
        messages.success(request, f"“{document.title}” is back.")
        return redirect(document)
    return redirect("trash")


@with_trashed_document
def trash_delete(request, document):
    if request.method == "POST":
        documents.document_delete(document=document)
        messages.success(request, f"“{document.title}” was deleted for good.")
        return redirect("trash")
    return render(request, "collab/delete_forever.html", {"document": document})


@require_GET
@with_document()
def document_export(request, document, role):
    response = HttpResponse(persistence.document_text(document.id), content_type="text/markdown; charset=utf-8")
    # A download named after the title (RFC 5987's filename* when it is not ASCII).
    response["Content-Disposition"] = content_disposition_header(True, export_filename(document.title))
    return response


# Characters file systems refuse (Windows' set, which covers the others) and control characters.
UNSAFE_IN_FILENAMES = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')


def export_filename(title: str, extension: str = "md") -> str:
    """`title`.md (or another extension) with no path separators or characters a file system
    refuses; "document.md" if nothing is left."""
    name = " ".join(UNSAFE_IN_FILENAMES.sub(" ", title).split())[:120].strip(" .")
    return f"{name or 'document'}.{extension}"


@require_http_methods(["GET", "POST"])
@with_document()
def document_report(request, document, role):
    # A comment or chat message is reported from its own Report link (?comment=<id> or ?chat_message=<id>).
    initial = {key: request.GET[key] for key in ("comment", "chat_message") if request.GET.get(key, "").isdigit()}
    form = ReportForm(request.POST or None, initial=initial, document=document)
    if request.method == "POST" and form.is_valid():
        moderation.report_create(
            document=document,
            reporter=request.user,
            reporter_name=identity_for(user=request.user, guest_name=request.session.get(SESSION_GUEST_NAME, "")).name,
            reason=form.cleaned_data["reason"],
            comment=form.cleaned_data["comment"],
            chat_message=form.cleaned_data["chat_message"],
        )
        messages.success(request, "Thank you: the moderators will look at this document.")
        return redirect(document)
    context = {"document": document, "form": form, "reported": form.reported()}
    return render(request, "collab/report.html", context)


# -- sharing ------------------------------------------------------------------

SHARE_ACTIONS = (
    "add_member",
    "set_role",
    "remove_member",
    "create_link",
    "revoke_link",
    "transfer",
    "history",
    "discussion",
)
CAN = {Role.EDITOR: "edit", Role.COMMENTER: "comment", Role.VIEWER: "view"}


@require_http_methods(["GET", "POST"])
@with_document(Role.OWNER)
def document_share(request, document, role):
    action = request.POST.get("action") if request.method == "POST" else None
    if request.method == "POST" and action not in SHARE_ACTIONS:
        messages.error(request, "Unknown action.")
        return redirect("document_share", document.id)
    data = request.POST if request.method == "POST" else None
    add_form = AddMemberForm(data if action == "add_member" else None, document=document, prefix="add")
    link_form = CreateLinkForm(data if action == "create_link" else None, prefix="link")
    transfer_form = TransferForm(data if action == "transfer" else None, document=document, prefix="transfer")

    if action == "add_member" and add_form.is_valid():
        user = add_form.cleaned_data["username"]
        sharing.membership_set(document=document, user=user, role=add_form.cleaned_data["role"])
        messages.success(request, f"{display_name(user)} can now {CAN[Role(add_form.cleaned_data['role'])]}.")
        return redirect("document_share", document.id)
    if action in ("set_role", "remove_member"):
        membership = get_object_or_404(Membership, pk=request.POST.get("membership"), document=document)
        if action == "remove_member":
            sharing.membership_remove(document=document, user=membership.user)
            messages.success(request, f"{display_name(membership.user)} no longer has access.")
        else:
            role_form = MemberRoleForm(request.POST)
            if role_form.is_valid():
                sharing.membership_set(document=document, user=membership.user, role=role_form.cleaned_data["role"])
                messages.success(request, f"{display_name(membership.user)} is now {role_form.cleaned_data['role']}.")
            else:
                messages.error(request, "Choose editor, commenter or viewer.")
        return redirect("document_share", document.id)
    if action == "create_link" and link_form.is_valid():
        sharing.link_create(
            document=document,
            role=link_form.cleaned_data["role"],
            expires_at=link_form.expires_at(),
            created_by=request.user,
        )
        messages.success(request, "Link created.")
        return redirect("document_share", document.id)
    if action == "revoke_link":
        link = get_object_or_404(ShareLink, pk=request.POST.get("link"), document=document)
        sharing.link_revoke(link=link)
        messages.success(request, "Link revoked: it no longer opens the document.")
        return redirect("document_share", document.id)
    if action == "history":
        history_form = HistoryVisibilityForm(request.POST)
        history_form.is_valid()  # a box left out of the form is False, never an error
        document.history_for_viewers = history_form.cleaned_data["history_for_viewers"]
        document.save(update_fields=["history_for_viewers"])
        messages.success(
            request, "Viewers can see the history." if document.history_for_viewers else "Only editors see the history."
        )
        return redirect("document_share", document.id)
    if action == "discussion":
        talk_form = DiscussionSettingsForm(request.POST)
        talk_form.is_valid()  # a box left out of the form is False, never an error
        sharing.discussion_settings_set(
            document=document,
            comments=talk_form.cleaned_data["comments_enabled"],
            chat=talk_form.cleaned_data["chat_enabled"],
        )
        on = [
            name
            for name, allowed in (("comments", document.comments_enabled), ("chat", document.chat_enabled))
            if allowed
        ]
        messages.success(request, f"Allowed: {' and '.join(on)}." if on else "Comments and chat are turned off.")
        return redirect("document_share", document.id)
    if action == "transfer" and transfer_form.is_valid():
        new_owner = transfer_form.cleaned_data["username"]
        sharing.ownership_transfer(document=document, new_owner=new_owner)
        messages.success(request, f"{display_name(new_owner)} now owns “{document.title}”.")
        return redirect(document)

    context = {
        "document": document,
        "memberships": document.memberships.select_related("user__profile"),
        "links": document.share_links.all(),
        "add_form": add_form,
        "link_form": link_form,
        "transfer_form": transfer_form,
        "history_form": HistoryVisibilityForm(initial={"history_for_viewers": document.history_for_viewers}),
        "discussion_form": DiscussionSettingsForm(
            initial={"comments_enabled": document.comments_enabled, "chat_enabled": document.chat_enabled}
        ),
        "roles": MemberRoleForm.base_fields["role"].choices,
    }
    return render(request, "collab/share.html", context, status=400 if request.method == "POST" else 200)


@require_http_methods(["GET", "POST"])
def share_link_open(request, token):
    link = sharing.link_for_token(token)
    if link is None:
        return render(request, "collab/link_invalid.html", status=404)
    if request.user.is_authenticated:
        sharing.link_open(session=request.session, link=link)
        return redirect(link.document)
    form = GuestForm(request.POST or None, initial={"name": request.session.get(SESSION_GUEST_NAME, "")})
    if request.method == "POST" and form.is_valid():
        sharing.link_open(session=request.session, link=link, guest_name=form.cleaned_data["name"])
        return redirect(link.document)
    return render(request, "collab/guest.html", {"form": form, "link": link})


@require_GET
def healthz(request):
    results = health.run_checks()
    healthy = all(value == "ok" for value in results.values())
    return JsonResponse(results, status=200 if healthy else 503)


def csrf_failure(request, reason=""):
    """A form refused by the CSRF check (an expired page, cookies off): the site's own page."""
    return render(request, "403_csrf.html", {"no_cookie": reason == REASON_NO_CSRF_COOKIE}, status=403)
