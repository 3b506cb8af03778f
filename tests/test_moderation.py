"""Moderation in the admin, and its effect on open connections across workers."""

from __future__ import annotations

import importlib
import os
import socket
from html.parser import HTMLParser

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Group, Permission
from django.test import Client

from collab.exceptions import CloseCode
from collab.models import AuditEntry, Document, Membership, Report
from collab.moderation import actions as moderation
from collab.realtime import presence
from tests.conftest import PASSWORD, session_cookie, until
from tests.helpers import an_update
from tests.yclient import open_client

ADMIN = "/admin/collab/document/"


def admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_moderator_group_has_exactly_the_moderation_permissions(db):
    spec = importlib.import_module("collab.migrations.0005_moderator_group")
    group = Group.objects.get(name="moderator")
    history = ["view_version", "restore_version"]  # added with versions (0008_history)
    assert sorted(group.permissions.values_list("codename", flat=True)) == sorted(
        [codename for _, _, codename in spec.MODERATOR_PERMISSIONS] + history
    )


BUTTONS = [
    ("lock/", "lock_document"),
    ("unlock/", "lock_document"),
    ("disconnect/", "disconnect_document"),
]


@pytest.mark.parametrize(("suffix", "perm"), BUTTONS)
def test_staff_without_the_permission_get_403(plain_staff, shared_document, suffix, perm):
    response = admin_client(plain_staff).post(f"{ADMIN}{shared_document.id}/{suffix}")
    assert response.status_code == 403
    shared_document.refresh_from_db()
    assert not shared_document.locked and shared_document.connection_epoch == 0
    assert not AuditEntry.objects.exists()


def test_staff_without_permissions_cannot_remove_ban_or_use_actions(plain_staff, shared_document, editor):
    client = admin_client(plain_staff)
    assert client.post(f"{ADMIN}{shared_document.id}/remove-member/{editor.pk}/").status_code == 403
    assert client.post(f"/admin/collab/account/{editor.pk}/ban/").status_code == 403
    assert client.post(ADMIN, {"action": "lock_selected", "_selected_action": [shared_document.pk]}).status_code == 403
    assert Membership.objects.filter(user=editor).exists()
    editor.refresh_from_db()
    assert editor.is_active


def test_a_moderator_may_use_the_actions_but_not_edit_accounts(moderator, shared_document, editor):
    client = admin_client(moderator)
    assert client.get(ADMIN).status_code == 200
    response = client.post(ADMIN, {"action": "lock_selected", "_selected_action": [shared_document.pk]})
    assert response.status_code == 302
    shared_document.refresh_from_db()
    assert shared_document.locked
    assert client.post(f"/admin/auth/user/{editor.pk}/change/", {"username": "x"}).status_code == 403


def test_the_audit_log_records_actions_and_cannot_be_changed(moderator, shared_document, editor):
    client = admin_client(moderator)
    client.post(f"{ADMIN}{shared_document.id}/lock/", {"reason": "spam"})
    client.post(f"{ADMIN}{shared_document.id}/remove-member/{editor.pk}/")
    entries = list(AuditEntry.objects.order_by("created").values_list("actor_name", "action", "target_id", "reason"))
    assert entries == [
        ("mona", "lock", str(shared_document.id), "spam"),
        ("mona", "remove edith from", str(shared_document.id), ""),
    ]
    entry = AuditEntry.objects.get(action="lock")
    superuser = type(moderator).objects.create_superuser("root", password=PASSWORD)
    for user in (moderator, superuser):
        c = admin_client(user)
        assert c.get(f"/admin/collab/auditentry/{entry.pk}/change/").status_code == 200  # view only
        assert c.post(f"/admin/collab/auditentry/{entry.pk}/change/", {"reason": "edited"}).status_code == 403
        assert c.post(f"/admin/collab/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
        assert c.get("/admin/collab/auditentry/add/").status_code == 403
    entry.refresh_from_db()
    assert entry.reason == "spam"


def test_reports_form_a_queue_that_moderators_resolve(client, moderator, shared_document, viewer):
    client.force_login(viewer)
    assert client.post(f"/docs/{shared_document.id}/report/", {"reason": "Offensive"}).status_code == 302
    assert client.post(f"/docs/{shared_document.id}/report/", {"reason": ""}).status_code == 200  # form error
    report = Report.objects.get()
    assert (report.reporter, report.reporter_name, report.status) == (viewer, "victor", "open")
    mod = admin_client(moderator)
    assert b"Offensive" in mod.get("/admin/collab/report/").content
    response = mod.post(f"/admin/collab/report/{report.pk}/change/", {"resolution": "Content removed"})
    assert response.status_code == 302
    report.refresh_from_db()
    assert (report.status, report.resolved_by, report.resolution) == ("resolved", moderator, "Content removed")
    assert AuditEntry.objects.filter(action="resolve report on", reason="Content removed").exists()


def test_the_admin_shows_the_text_escaped(moderator, shared_document):
    from collab.storage import persistence

    persistence.append(shared_document.id, [an_update("<script>alert(1)</script>")])
    page = admin_client(moderator).get(f"{ADMIN}{shared_document.id}/change/")
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in page.content
    assert b"<script>alert(1)</script>" not in page.content


# -- live, on two workers -------------------------------------------------------


@pytest.fixture
def clients_on_both_workers(two_workers, shared_document, owner, editor):
    """The owner and the editor, each on both workers."""

    async def connect():
        result = {}
        for name, user in (("owner", owner), ("editor", editor)):
            cookie = await database_sync_to_async(session_cookie)(user)
            result[name] = [
                await open_client(worker, shared_document, cookie, f"{name}{i}") for i, worker in enumerate(two_workers)
            ]
        return result

    return connect


async def test_lock_and_unlock_reach_both_workers(clients_on_both_workers, moderator, shared_document):
    clients = await clients_on_both_workers()
    everyone = clients["owner"] + clients["editor"]
    owner = clients["owner"][0]
    mod = await database_sync_to_async(admin_client)(moderator)
    await database_sync_to_async(mod.post)(f"{ADMIN}{shared_document.id}/lock/")
    assert await until(lambda: all((c.rights or {}).get("reason") == "locked" for c in everyone))
    owner.insert(0, "while locked")
    await owner.wait_for(lambda: owner.rights["reason"] == "read-only")  # refused, so dropped
    assert all(c.value() == "" for c in everyone if c is not owner)  # nobody else got it
    assert await database_sync_to_async(_stored)(shared_document) == ""  # nor was it stored

    await database_sync_to_async(mod.post)(f"{ADMIN}{shared_document.id}/unlock/")
    assert await until(lambda: all((c.rights or {}).get("canWrite") is True for c in everyone))
    owner.insert(len(owner.text), "!")  # the same connection edits again
    # The edit refused during the lock was held by the client; it arrives now too.
    assert await until(lambda: all(c.value() == "while locked!" for c in everyone))
    assert (await database_sync_to_async(_stored)(shared_document)).endswith("!")
    for c in everyone:
        await c.close()


def _stored(document):
    from collab.storage import persistence

    return persistence.document_text(document.id)


@pytest.mark.parametrize(
    ("what", "code"),
    [("disconnect", CloseCode.DISCONNECTED), ("remove", CloseCode.FORBIDDEN), ("ban", CloseCode.ACCOUNT_DISABLED)],
)
async def test_disconnect_remove_and_ban_close_sockets_on_both_workers(
    clients_on_both_workers, moderator, shared_document, editor, what, code
):
    clients = await clients_on_both_workers()
    mod = await database_sync_to_async(admin_client)(moderator)
    url = {
        "disconnect": f"{ADMIN}{shared_document.id}/disconnect/",
        "remove": f"{ADMIN}{shared_document.id}/remove-member/{editor.pk}/",
        "ban": f"/admin/collab/account/{editor.pk}/ban/",
    }[what]
    response = await database_sync_to_async(mod.post)(url, {"reason": "abuse"})
    assert response.status_code == 302
    targets = clients["editor"] + (clients["owner"] if what == "disconnect" else [])
    codes = [await c.wait_closed(timeout=10) for c in targets]
    assert codes == [code] * len(targets)
    if what != "disconnect":
        assert not any(c.closed.is_set() for c in clients["owner"])
    if what == "ban":
        login = Client()
        assert not await database_sync_to_async(login.login)(username=editor.username, password=PASSWORD)
    assert await database_sync_to_async(AuditEntry.objects.filter(reason="abuse").count)() == 1
    for c in clients["owner"] + clients["editor"]:
        await c.close()


async def test_deleting_a_document_tells_and_disconnects_everyone(clients_on_both_workers, moderator, shared_document):
    clients = await clients_on_both_workers()
    mod = await database_sync_to_async(admin_client)(moderator)
    await database_sync_to_async(mod.post)(
        ADMIN, {"action": "delete_selected_documents", "_selected_action": [shared_document.pk]}
    )
    codes = [await c.wait_closed(timeout=10) for c in clients["owner"] + clients["editor"]]
    assert codes == [CloseCode.NOT_FOUND] * 4
    assert not await database_sync_to_async(Document.objects.filter(pk=shared_document.pk).exists)()
    from collab.models import DocumentSnapshot, DocumentUpdate

    assert not await database_sync_to_async(DocumentUpdate.objects.filter(document_id=shared_document.pk).exists)()
    assert not await database_sync_to_async(DocumentSnapshot.objects.filter(document_id=shared_document.pk).exists)()


async def test_presence_registry_follows_connections_and_expires_with_a_dead_worker(
    two_workers, redis_server, shared_document, owner, editor, settings, moderator
):
    settings.REDIS_URL = redis_server.url
    doc_id = str(shared_document.id)

    def live():
        return sorted(e["name"] for e in presence.snapshot().get(doc_id, []))

    async def live_names():
        return await database_sync_to_async(live)()

    def live_are(*names):
        async def check():
            return await live_names() == list(names)

        return check

    cookie = await database_sync_to_async(session_cookie)(owner)
    a = await open_client(two_workers[0], shared_document, cookie, "a")
    cookie_e = await database_sync_to_async(session_cookie)(editor)
    b = await open_client(two_workers[1], shared_document, cookie_e, "b")
    assert await until(live_are("edith", "olivia")), await live_names()
    mod = await database_sync_to_async(admin_client)(moderator)
    page = await database_sync_to_async(mod.get)(f"{ADMIN}{doc_id}/change/")
    assert b"olivia (owner)" in page.content and b"edith (editor)" in page.content
    listing = await database_sync_to_async(mod.get)(ADMIN)
    assert b'<td class="field-live_connections">2</td>' in listing.content
    await a.close()
    assert await until(live_are("edith")), await live_names()  # gone on disconnect
    two_workers[1].kill()
    assert await until(live_are(), timeout=presence.TTL_SECONDS + 30), await live_names()  # gone by expiry
    await b.close()


def test_moderation_functions_are_what_the_admin_calls(moderator, shared_document):
    moderation.document_lock(document=shared_document, actor=moderator, reason="from code")
    shared_document.refresh_from_db()
    assert shared_document.locked and shared_document.locked_by == moderator
    assert AuditEntry.objects.get().reason == "from code"


# -- the pages' forms, reasons, times and worker names ---------------------------


class FormNesting(HTMLParser):
    """Records every form that opens inside another (the browser would drop it)."""

    def __init__(self):
        super().__init__()
        self.depth, self.nested, self.forms = 0, [], []

    def handle_starttag(self, tag, attrs):
        if tag == "form":
            attrs = dict(attrs)
            if self.depth:
                self.nested.append(attrs.get("action"))
            self.forms.append(attrs)
            self.depth += 1

    def handle_endtag(self, tag):
        if tag == "form":
            self.depth -= 1


def forms_of(response) -> FormNesting:
    assert response.status_code == 200
    parser = FormNesting()
    parser.feed(response.content.decode())
    return parser


def test_no_form_on_the_moderation_pages_sits_inside_another(moderator, shared_document, editor):
    superuser = type(moderator).objects.create_superuser("root", password=PASSWORD)
    for user in (moderator, superuser):
        client = admin_client(user)
        document_page = forms_of(client.get(f"{ADMIN}{shared_document.id}/change/"))
        account_page = forms_of(client.get(f"/admin/collab/account/{editor.pk}/change/"))
        assert document_page.nested == [] and account_page.nested == []
        actions = {form.get("action") for form in document_page.forms + account_page.forms}
        assert {
            f"{ADMIN}{shared_document.id}/lock/",
            f"{ADMIN}{shared_document.id}/disconnect/",
            f"{ADMIN}{shared_document.id}/remove-member/{editor.pk}/",
            f"/admin/collab/account/{editor.pk}/ban/",
        } <= actions


def test_staff_without_permissions_see_no_moderation_buttons(plain_staff, shared_document, editor):
    plain_staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_document", "view_account"]))
    client = admin_client(plain_staff)
    for url in (f"{ADMIN}{shared_document.id}/change/", f"/admin/collab/account/{editor.pk}/change/"):
        page = client.get(url)
        assert page.status_code == 200 and b"collab-moderation" not in page.content


def test_a_moderator_cannot_ban_themselves_from_their_own_page(moderator):
    page = admin_client(moderator).get(f"/admin/collab/account/{moderator.pk}/change/")
    assert page.status_code == 200 and b'/ban/"' not in page.content


LIST_ACTIONS = [
    (ADMIN, "lock_selected", "lock"),
    (ADMIN, "unlock_selected", "unlock"),
    (ADMIN, "disconnect_selected", "disconnect everyone"),
    (ADMIN, "delete_selected_documents", "delete"),
]


@pytest.mark.parametrize(("url", "action", "audited"), LIST_ACTIONS)
def test_list_actions_record_the_reason_typed_beside_them(moderator, shared_document, url, action, audited):
    data = {"action": action, "_selected_action": [shared_document.pk], "reason": "  spam wave  "}
    assert admin_client(moderator).post(url, data).status_code == 302
    assert list(AuditEntry.objects.values_list("action", "reason")) == [(audited, "spam wave")]


def test_the_ban_list_action_records_its_reason_and_spares_the_moderator(moderator, editor):
    data = {"action": "ban_selected", "_selected_action": [editor.pk, moderator.pk], "reason": "spam"}
    assert admin_client(moderator).post("/admin/collab/account/", data).status_code == 302
    assert list(AuditEntry.objects.values_list("action", "target_id", "reason")) == [("ban", str(editor.pk), "spam")]
    moderator.refresh_from_db()
    assert moderator.is_active


def test_resolving_reports_from_the_list_records_the_resolution_typed(moderator, shared_document, viewer):
    reports = [
        moderation.report_create(document=shared_document, reporter=viewer, reporter_name="v", reason=r) for r in "ab"
    ]
    client = admin_client(moderator)
    data = {"action": "resolve_selected", "_selected_action": [reports[0].pk]}
    client.post("/admin/collab/report/", {**data, "reason": "Warned the owner"})
    client.post("/admin/collab/report/", {**data, "_selected_action": [reports[1].pk]})
    assert sorted(Report.objects.values_list("resolution", flat=True)) == [
        "Resolved from the list.",
        "Warned the owner",
    ]


def test_the_delete_confirmation_asks_for_a_reason_and_records_it(moderator, shared_document):
    client = admin_client(moderator)
    confirmation = forms_of(client.get(f"{ADMIN}{shared_document.id}/delete/"))
    assert confirmation.nested == []
    assert b'name="reason"' in client.get(f"{ADMIN}{shared_document.id}/delete/").content
    assert client.post(f"{ADMIN}{shared_document.id}/delete/", {"post": "yes", "reason": "illegal"}).status_code == 302
    assert not Document.objects.filter(pk=shared_document.pk).exists()
    assert list(AuditEntry.objects.values_list("action", "reason")) == [("delete", "illegal")]


def test_a_worker_is_named_by_the_setting_else_its_host_and_port(settings, monkeypatch):
    monkeypatch.setattr(presence, "_listening_port", None)
    settings.COLLAB_WORKER_NAME = ""
    assert presence.worker_name() == f"{socket.gethostname()} (process {os.getpid()})"
    presence.listening_on(8002)
    assert presence.worker_name() == f"{socket.gethostname()}:8002"
    settings.COLLAB_WORKER_NAME = "web-2"
    assert presence.worker_name() == "web-2"


def test_serve_finds_the_port_of_an_inherited_socket_and_leaves_it_open():
    from collab.management.commands.serve import inherited_port

    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        assert inherited_port(listening.fileno()) == listening.getsockname()[1]
        assert listening.getsockname()[1] > 0  # still open


def test_who_is_connected_shows_times_and_workers_a_person_reads(moderator, shared_document, settings, monkeypatch):
    entry = {"name": "edith", "user_id": 1, "guest": False, "role": "editor", "worker": "web-1:8001"}
    since = "2026-11-26T12:07:31+00:00"
    monkeypatch.setattr(presence, "snapshot", lambda: {str(shared_document.id): [{**entry, "since": since}]})
    settings.TIME_ZONE = "Europe/Paris"  # without script, the page shows the server's time zone
    page = admin_client(moderator).get(f"{ADMIN}{shared_document.id}/change/").content.decode()
    assert (
        'edith (editor) since <time datetime="2026-11-26T13:07:31+01:00" '
        'title="Thursday 26 November 2026, 13:07:31 CET" class="collab-time">26 Nov 2026, 13:07</time> '
        "on worker web-1:8001"
    ) in page
    assert "2026-11-26T12:07:31" not in page
