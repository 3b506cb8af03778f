"""The trash: the owner's Delete moves a document there for COLLAB_TRASH_DAYS; while
it is there it is gone for everyone, the owner may restore it (with its history) or
delete it for good, and `manage.py purge_trash` deletes what expired. Moderators
choose between the trash and deleting for good."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from collab.access import documents
from collab.access.rights import load_rights, watch_state
from collab.exceptions import CloseCode
from collab.models import AuditEntry, Document, DocumentUpdate
from collab.storage import persistence
from tests.conftest import until
from tests.helpers import an_update, stored
from tests.servers import Server
from tests.yclient import open_client

ADMIN = "/admin/collab/document/"


@pytest.fixture
def document(owner):
    document = Document.objects.create(owner=owner, title="Plans")
    persistence.append(document.id, [an_update("Plans, with history")])
    return document


def trashed(document, *, days_ago: float = 0) -> Document:
    documents.document_trash(document=document, actor=document.owner)
    Document.objects.filter(pk=document.pk).update(trashed_at=timezone.now() - timedelta(days=days_ago))
    document.refresh_from_db()
    return document


def test_the_owners_delete_moves_the_document_to_the_trash(owner_client, document):
    confirm = owner_client.get(f"/docs/{document.id}/delete/")
    assert confirm.status_code == 200 and b"restore it, with its history, for 30 days" in confirm.content
    response = owner_client.post(f"/docs/{document.id}/delete/", follow=True)
    assert response.redirect_chain == [("/", 302)]
    assert "is in the trash" in response.content.decode()
    document.refresh_from_db()
    assert document.trashed_at is not None and document.trashed_by == document.owner


def test_a_trashed_document_is_gone_for_everyone_but_its_owners_trash(owner_client, shared_document, editor):
    version = shared_document.rights_version
    trashed(shared_document)
    assert shared_document.rights_version == version + 1  # open connections look again
    assert load_rights(shared_document.id) is None
    assert str(shared_document.id) not in watch_state([shared_document.id], set(), set()).documents
    for suffix in ("", "rename/", "delete/", "export.md", "share/", "report/"):
        assert owner_client.get(f"/docs/{shared_document.id}/{suffix}").status_code == 404
    assert "Shared plans" not in owner_client.get("/").content.decode()
    other = Client()
    other.force_login(editor)
    assert "Shared plans" not in other.get("/").content.decode()
    assert other.get(f"/docs/{shared_document.id}/").status_code == 404
    trash = owner_client.get("/trash/").content.decode()
    assert "Shared plans" in trash and "gone for good on" in trash


def test_the_documents_page_links_to_the_trash(owner_client):
    assert 'href="/trash/"' in owner_client.get("/").content.decode()


def test_restore_brings_the_document_back_with_its_content_for_everyone_it_was_shared_with(
    owner_client, shared_document, editor
):
    persistence.append(shared_document.id, [an_update("kept ")])
    trashed(shared_document)
    response = owner_client.post(f"/trash/{shared_document.id}/restore/")
    assert response.status_code == 302 and response["Location"] == shared_document.get_absolute_url()
    shared_document.refresh_from_db()
    assert shared_document.trashed_at is None and shared_document.trashed_by is None
    assert persistence.document_text(shared_document.id) == "kept "
    assert load_rights(shared_document.id).members[editor.pk] == "editor"
    assert owner_client.get(f"/docs/{shared_document.id}/").status_code == 200


def test_delete_forever_asks_first_then_deletes_the_document_and_its_history(owner_client, document):
    trashed(document)
    confirm = owner_client.get(f"/trash/{document.id}/delete/")
    assert confirm.status_code == 200 and b"cannot be undone" in confirm.content
    assert Document.objects.filter(pk=document.pk).exists()
    response = owner_client.post(f"/trash/{document.id}/delete/")
    assert response.status_code == 302 and response["Location"] == "/trash/"
    assert not Document.objects.filter(pk=document.pk).exists()
    assert not DocumentUpdate.objects.filter(document_id=document.id).exists()


@pytest.mark.parametrize("action", ["restore/", "delete/"])
def test_another_persons_trash_and_documents_not_in_the_trash_are_not_found(client, outsider, owner, action):
    theirs = trashed(Document.objects.create(owner=owner, title="Theirs"))
    live = Document.objects.create(owner=owner, title="Live")
    client.force_login(outsider)
    assert "Theirs" not in client.get("/trash/").content.decode()
    assert client.post(f"/trash/{theirs.id}/{action}").status_code == 404
    client.force_login(owner)
    assert client.post(f"/trash/{live.id}/{action}").status_code == 404
    theirs.refresh_from_db()
    assert theirs.trashed_at is not None and Document.objects.filter(pk=live.pk, trashed_at=None).exists()


def test_the_trash_needs_an_account(client, document):
    trashed(document)
    assert client.get("/trash/")["Location"].startswith("/accounts/login/")
    assert client.post(f"/trash/{document.id}/restore/")["Location"].startswith("/accounts/login/")
    document.refresh_from_db()
    assert document.trashed_at is not None


def test_purge_trash_deletes_only_what_has_been_in_the_trash_longer_than_the_setting(owner, settings):
    settings.COLLAB_TRASH_DAYS = 7
    old = trashed(Document.objects.create(owner=owner, title="Old"), days_ago=7.01)
    recent = trashed(Document.objects.create(owner=owner, title="Recent"), days_ago=6.9)
    live = Document.objects.create(owner=owner, title="Live")
    out = StringIO()
    call_command("purge_trash", stdout=out)
    assert out.getvalue() == "Purged 1 document(s) from the trash.\n"
    assert set(Document.objects.values_list("pk", flat=True)) == {recent.pk, live.pk}
    assert not Document.objects.filter(pk=old.pk).exists()


def test_a_moderator_chooses_the_trash_or_deleting_for_good_and_both_are_audited(moderator, owner):
    client = Client()
    client.force_login(moderator)
    to_trash = Document.objects.create(owner=owner, title="To trash")
    to_purge = Document.objects.create(owner=owner, title="To purge")
    page = client.get(f"{ADMIN}{to_trash.id}/delete/").content.decode()
    assert 'value="trash">Move to trash</button>' in page and 'value="purge">Delete for good</button>' in page
    data = {"post": "yes", "reason": "spam", "mode": "trash"}
    assert client.post(f"{ADMIN}{to_trash.id}/delete/", data).status_code == 302
    to_trash.refresh_from_db()
    assert to_trash.trashed_at is not None and to_trash.trashed_by == moderator
    data = {"post": "yes", "reason": "illegal", "mode": "purge"}
    assert client.post(f"{ADMIN}{to_purge.id}/delete/", data).status_code == 302
    assert not Document.objects.filter(pk=to_purge.pk).exists()
    assert sorted(AuditEntry.objects.values_list("action", "target_repr", "reason")) == [
        ("delete", "To purge", "illegal"),
        ("trash", "To trash", "spam"),
    ]


def test_the_trash_list_action_is_audited_with_its_reason(moderator, document):
    client = Client()
    client.force_login(moderator)
    data = {"action": "trash_selected", "_selected_action": [document.pk], "reason": "spam wave"}
    assert client.post(ADMIN, data).status_code == 302
    document.refresh_from_db()
    assert document.trashed_at is not None
    assert list(AuditEntry.objects.values_list("action", "reason")) == [("trash", "spam wave")]


@pytest.mark.processes
async def test_a_live_connection_closes_with_4404_when_the_owner_trashes_and_a_restore_opens_it_again(
    transactional_db, owner, cookie
):
    document = await database_sync_to_async(Document.objects.create)(owner=owner, title="Live")
    with Server(log_name="trash") as server:
        reader = await open_client(server, document, cookie, "reader")
        reader.insert(0, "still here")

        async def saved():
            return await stored(document) == "still here"

        assert await until(saved, timeout=30)
        await database_sync_to_async(documents.document_trash)(document=document, actor=owner)
        assert await reader.wait_closed(timeout=30) == CloseCode.NOT_FOUND
        await reader.close()
        await database_sync_to_async(documents.document_restore)(document=document)
        back = await open_client(server, document, cookie, "back")
        await back.wait_for(lambda: back.value() == "still here", timeout=30)
        await back.close()
