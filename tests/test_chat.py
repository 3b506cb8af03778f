"""The chat's and the discussion's pages: the commenter role and the owner's switches on
the share page, mentions on the documents page, reports pointing at a comment or a chat
message, and moderators deleting them (audited, and live pages told over the socket)."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from collab.access import sharing
from collab.discussion import service
from collab.history.authorship import author_for_user
from collab.models import AuditEntry, ChatMessage, Comment, Document, Membership, Report, Role, ShareLink
from collab.moderation import actions as moderation
from tests.conftest import make_user, until
from tests.test_discussion import received, say, talker, until_received

ANCHOR = {
    "start": {"type": None, "tname": "content", "item": None, "assoc": 0},
    "end": {"tname": "content", "assoc": -1},
}


@pytest.fixture
def document(owner, editor, viewer):
    document = Document.objects.create(owner=owner, title="Plans")
    sharing.membership_set(document=document, user=editor, role="editor")
    sharing.membership_set(document=document, user=viewer, role="viewer")
    document.refresh_from_db()
    return document


def share(client, document, **data):
    return client.post(f"/docs/{document.id}/share/", data)


def a_thread(document, author, body: str) -> dict:
    return service.thread_create(
        document_id=document.id,
        author=author_for_user(author),
        anchor=ANCHOR,
        quote="budget",
        prefix="",
        suffix="",
        body=body,
    )


def a_chat_message(document, author, body: str) -> ChatMessage:
    sent = service.chat_send(document_id=document.id, author=author_for_user(author), body=body)
    return ChatMessage.objects.get(pk=sent["message"]["id"])


# -- the share page ------------------------------------------------------------


def test_the_share_page_offers_the_commenter_role_for_people_and_links(owner_client, document, editor):
    page = owner_client.get(f"/docs/{document.id}/share/").content.decode()
    assert page.count('<option value="commenter"') >= 4  # adding someone, each member's select, a new link
    response = share(owner_client, document, action="add_member", **{"add-username": "oscar", "add-role": "commenter"})
    assert response.status_code == 400  # no such user yet
    make_user("carla")
    response = share(owner_client, document, action="add_member", **{"add-username": "carla", "add-role": "commenter"})
    assert response.status_code == 302
    assert Membership.objects.get(document=document, user__username="carla").role == Role.COMMENTER
    assert "carla can now comment." in owner_client.get(f"/docs/{document.id}/share/").content.decode()
    membership = Membership.objects.get(document=document, user=editor)
    share(owner_client, document, action="set_role", membership=membership.pk, role="commenter")
    assert Membership.objects.get(pk=membership.pk).role == Role.COMMENTER
    share(owner_client, document, action="create_link", **{"link-role": "commenter", "link-expires": ""})
    assert ShareLink.objects.get(document=document).role == Role.COMMENTER


def test_the_owner_turns_comments_and_chat_off_and_on(owner_client, document):
    before = document.rights_version
    page = owner_client.get(f"/docs/{document.id}/share/").content.decode()
    assert "Allow comments" in page and "Allow chat" in page
    response = share(owner_client, document, action="discussion", comments_enabled="on")
    assert response.status_code == 302
    document.refresh_from_db()
    assert document.comments_enabled and not document.chat_enabled
    assert document.rights_version == before + 1  # open rooms read the rights again
    share(owner_client, document, action="discussion")
    document.refresh_from_db()
    assert not document.comments_enabled and not document.chat_enabled
    share(owner_client, document, action="discussion", comments_enabled="on", chat_enabled="yes")
    document.refresh_from_db()
    assert document.comments_enabled and document.chat_enabled


def test_only_the_owner_may_switch_and_only_with_the_csrf_token(document, editor, owner):
    client = Client()
    client.force_login(editor)
    assert share(client, document, action="discussion").status_code == 403
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    assert share(strict, document, action="discussion").status_code == 403
    document.refresh_from_db()
    assert document.comments_enabled and document.chat_enabled


def test_nonsense_in_the_switches_is_not_an_error(owner_client, document):
    response = share(owner_client, document, action="discussion", comments_enabled="\x00" * 3, chat_enabled=["a", "b"])
    assert response.status_code == 302


# -- mentions -------------------------------------------------------------------


def test_the_documents_page_lists_mentions_with_a_link_to_the_thread(client, document, owner, editor, outsider):
    sent = a_thread(document, owner, "Which <b>budget</b>, @edith? And @oscar?")
    thread_id = sent["thread"]["id"]
    client.force_login(editor)
    page = client.get("/").content.decode()
    assert "Mentions" in page
    assert f'href="/docs/{document.id}/#thread-{thread_id}"' in page
    assert "olivia mentioned you" in page
    assert "Which &lt;b&gt;budget&lt;/b&gt;, @edith?" in page  # escaped
    client.force_login(outsider)  # no access: not mentioned, nothing listed
    assert "Mentions" not in client.get("/").content.decode()


# -- reports --------------------------------------------------------------------


def test_a_report_may_point_at_a_comment_or_a_chat_message_of_the_document(client, document, owner, editor):
    a_thread(document, owner, "A rude remark")
    comment = Comment.objects.get()
    message = a_chat_message(document, owner, "A rude message")
    client.force_login(editor)
    page = client.get(f"/docs/{document.id}/report/?chat_message={message.pk}").content.decode()
    assert "A rude message" in page and f'value="{message.pk}"' in page
    url = f"/docs/{document.id}/report/"
    assert client.post(url, {"reason": "rude", "comment": comment.pk}).status_code == 302
    assert client.post(url, {"reason": "also rude", "chat_message": message.pk}).status_code == 302
    reports = {r.reason: r for r in Report.objects.all()}
    assert reports["rude"].comment == comment and reports["also rude"].chat_message == message


def test_a_report_on_another_documents_comment_is_a_form_error(client, document, owner, editor):
    other = Document.objects.create(owner=owner, title="Other")
    a_thread(other, owner, "elsewhere")
    client.force_login(editor)
    url = f"/docs/{document.id}/report/"
    response = client.post(url, {"reason": "x", "comment": Comment.objects.get().pk})
    assert response.status_code == 200 and "not in this document" in response.content.decode()
    response = client.post(url, {"reason": "x", "chat_message": "nonsense"})
    assert response.status_code == 200 and response.context["form"].errors
    assert client.get(f"{url}?comment=999999").status_code == 200
    assert not Report.objects.exists()


def test_the_report_admin_shows_the_comment_it_points_at(client, moderator, document, owner, editor):
    a_thread(document, owner, "<script>alert(1)</script> rude")
    report = moderation.report_create(
        document=document, reporter=editor, reporter_name="edith", reason="rude", comment=Comment.objects.get()
    )
    client.force_login(moderator)
    page = client.get(f"/admin/collab/report/{report.pk}/change/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; rude" in page and "<script>alert(1)" not in page
    assert f"/admin/collab/document/{document.id}/discussion/#thread-" in page


# -- moderation -------------------------------------------------------------------


def test_moderators_read_comments_and_chat_and_others_may_not(client, moderator, plain_staff, document, owner):
    a_thread(document, owner, "a comment")
    a_chat_message(document, owner, "a chat message")
    url = f"/admin/collab/document/{document.id}/discussion/"
    client.force_login(plain_staff)
    assert client.get(url).status_code == 403
    client.force_login(moderator)
    page = client.get(url).content.decode()
    assert "a comment" in page and "a chat message" in page
    assert "Delete comment" in page and "Delete message" in page
    change = client.get(f"/admin/collab/document/{document.id}/change/").content.decode()
    assert url in change


def test_deleting_needs_the_permission_to_delete_documents(client, moderator, plain_staff, document, owner):
    from django.contrib.auth.models import Permission

    a_thread(document, owner, "a comment")
    comment = Comment.objects.get()
    plain_staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_document", "view_content"], content_type__app_label="collab")
    )
    client.force_login(plain_staff)
    url = f"/admin/collab/document/{document.id}/discussion/"
    assert "Delete comment" not in client.get(url).content.decode()
    assert client.post(f"{url}comment/{comment.pk}/delete/", {"reason": "x"}).status_code == 403
    assert client.get(f"{url}comment/{comment.pk}/delete/").status_code == 403
    client.force_login(moderator)
    assert client.get(f"{url}comment/{comment.pk}/delete/").status_code == 403  # only by POST
    other = Document.objects.create(owner=owner, title="Other")
    assert client.post(f"/admin/collab/document/{other.id}/discussion/comment/{comment.pk}/delete/").status_code == 404
    comment.refresh_from_db()
    assert comment.deleted_at is None and not AuditEntry.objects.exists()


def test_a_banned_accounts_chat_messages_are_marked(document, owner, editor):
    a_chat_message(document, editor, "hello")
    moderation.user_ban(user=editor, actor=owner, reason="spam")
    chat, _ = service.chat_page(document.id)
    assert chat[0]["author"]["banned"] and chat[0]["body"] == "hello"


# -- over the socket ----------------------------------------------------------------


@pytest.mark.processes
async def test_a_moderators_deletion_reaches_a_live_page_and_is_audited(server, document, owner, editor, moderator):
    await database_sync_to_async(a_thread)(document, owner, "a rude comment")
    message = await database_sync_to_async(a_chat_message)(document, owner, "a rude message")
    comment = await database_sync_to_async(Comment.objects.select_related("thread__document").get)()
    edith = await talker(server, document, editor, "edith")
    await edith.send(say({"type": "discussion.load"}))
    await until_received(edith, "discussion")
    await database_sync_to_async(moderation.comment_delete)(comment=comment, actor=moderator, reason="rude")
    removed = await until_received(edith, "thread.removed", timeout=3)
    assert removed["id"] == comment.thread_id
    message = await database_sync_to_async(ChatMessage.objects.select_related("document").get)(pk=message.pk)
    await database_sync_to_async(moderation.chat_message_delete)(message=message, actor=moderator, reason="spam")
    deleted = await until_received(edith, "chat.message", timeout=3)
    assert deleted["message"]["deleted"] and deleted["message"]["body"] == ""
    entries = await database_sync_to_async(lambda: list(AuditEntry.objects.values_list("action", "reason")))()
    assert sorted(entries) == [("delete chat message in", "spam"), ("delete comment in", "rude")]
    await edith.close()


@pytest.mark.processes
async def test_a_connected_page_is_told_at_once_when_the_owner_turns_the_chat_off(server, document, owner, editor):
    edith = await talker(server, document, editor, "edith")
    await edith.send(say({"type": "discussion.load"}))
    first = await until_received(edith, "discussion")
    assert first["chat_on"] and first["can_chat"]
    await database_sync_to_async(a_chat_message)(document, owner, "before")
    await database_sync_to_async(sharing.discussion_settings_set)(document=document, comments=True, chat=False)
    off = await until_received(edith, "discussion", 2, timeout=3)
    assert not off["chat_on"] and not off["can_chat"] and off["chat"] == [] and off["can_comment"]
    await database_sync_to_async(sharing.discussion_settings_set)(document=document, comments=True, chat=True)
    on = await until_received(edith, "discussion", 3, timeout=3)
    assert on["chat_on"] and [m["body"] for m in on["chat"]] == ["before"]
    # A change that leaves what she may do alone sends nothing more.
    await database_sync_to_async(sharing.membership_set)(document=document, user=editor, role="editor")
    assert not await until(lambda: len(received(edith, "discussion")) > 3, timeout=1.5)
    await edith.close()


@pytest.mark.processes
async def test_a_viewer_made_commenter_is_told_they_may_chat_now(server, document, viewer):
    victor = await talker(server, document, viewer, "victor")
    await victor.send(say({"type": "discussion.load"}))
    assert not (await until_received(victor, "discussion"))["can_chat"]
    await database_sync_to_async(sharing.membership_set)(document=document, user=viewer, role=Role.COMMENTER)
    assert (await until_received(victor, "discussion", 2, timeout=3))["can_chat"]
    await victor.close()
