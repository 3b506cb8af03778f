import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from collab.models import Document


@pytest.fixture
def document(owner):
    return Document.objects.create(owner=owner, title="Plans")


def test_home_lists_my_documents_newest_first(owner_client, owner, outsider):
    older = Document.objects.create(owner=owner, title="Older")
    newer = Document.objects.create(owner=owner, title="Newer")
    Document.objects.create(owner=outsider, title="Not mine")
    response = owner_client.get("/")
    assert list(response.context["documents"]) == [newer, older]
    assert b"Not mine" not in response.content


def test_new_document_is_created_and_opens_the_editor(owner_client, owner):
    response = owner_client.post("/docs/new/")
    document = Document.objects.get(owner=owner)
    assert response.status_code == 302 and response["Location"] == f"/docs/{document.id}/"
    page = owner_client.get(response["Location"])
    assert page.status_code == 200
    assert b'id="editor"' in page.content and document.title.encode() in page.content


def test_new_document_needs_a_post(owner_client, owner):
    assert owner_client.get("/docs/new/").status_code == 405
    assert not Document.objects.exists()


def test_owner_renames_a_document(owner_client, document):
    response = owner_client.post(f"/docs/{document.id}/rename/", {"title": "  Launch plans "})
    assert response.status_code == 302
    document.refresh_from_db()
    assert document.title == "Launch plans"


@pytest.mark.parametrize("title", ["", "   "])
def test_rename_to_blank_is_a_form_error(owner_client, document, title):
    response = owner_client.post(f"/docs/{document.id}/rename/", {"title": title})
    assert response.status_code == 400  # the editor's background rename shows the error (static/src/title.js)
    assert response.context["form"].errors["title"] == ["A title cannot be empty."]
    assert '<div class="field-errors" role="alert">' in response.content.decode()
    document.refresh_from_db()
    assert document.title == "Plans"


def test_a_document_edited_within_the_minute_reads_just_now(owner_client, owner):
    Document.objects.create(owner=owner, title="Fresh")
    older = Document.objects.create(owner=owner, title="Older")
    Document.objects.filter(pk=older.pk).update(updated=timezone.now() - timedelta(minutes=5))
    page = owner_client.get("/").content.decode()
    assert re.search(r"edited <time [^>]+>just now</time>", page)
    assert re.search(r"edited <time [^>]+>5\xa0minutes ago</time>", page)
    assert "0\xa0minutes" not in page


def test_the_owner_is_not_offered_to_report_their_own_document(client, shared_document, owner, editor):
    report = f'href="/docs/{shared_document.id}/report/"'
    client.force_login(owner)
    assert report not in client.get(f"/docs/{shared_document.id}/").content.decode()
    client.force_login(editor)
    assert report in client.get(f"/docs/{shared_document.id}/").content.decode()


def test_owner_deletes_after_confirmation_into_the_trash(owner_client, document):
    confirm = owner_client.get(f"/docs/{document.id}/delete/")
    assert confirm.status_code == 200 and b"It goes to your trash" in confirm.content
    assert Document.objects.get(pk=document.pk).trashed_at is None
    response = owner_client.post(f"/docs/{document.id}/delete/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert Document.objects.get(pk=document.pk).trashed_at is not None


@pytest.mark.parametrize("suffix", ["", "rename/", "delete/"])
def test_others_documents_are_not_found(client, outsider, document, suffix):
    client.force_login(outsider)
    assert client.get(f"/docs/{document.id}/{suffix}").status_code == 404
    if suffix:
        assert client.post(f"/docs/{document.id}/{suffix}", {"title": "pwned"}).status_code == 404
    document.refresh_from_db()
    assert document.title == "Plans"


def test_unknown_document_is_not_found(owner_client):
    assert owner_client.get(f"/docs/{uuid.uuid4()}/").status_code == 404


def test_the_editor_page_tells_the_page_the_size_limits(owner_client, document, settings):
    settings.COLLAB_MAX_MESSAGE_BYTES = 100_000
    settings.COLLAB_MAX_DOCUMENT_BYTES = 200_000
    page = owner_client.get(f"/docs/{document.id}/").content.decode()
    assert 'data-max-message-bytes="100000"' in page and 'data-max-document-bytes="200000"' in page


@pytest.mark.parametrize(
    ("title", "disposition"),
    [
        ("Plans", 'attachment; filename="Plans.md"'),
        # Path separators and characters file systems refuse become spaces.
        ('../notes: "Q3"?', 'attachment; filename="notes Q3.md"'),
        # Not ASCII: RFC 5987's filename*.
        ("Café plans/2024", "attachment; filename*=utf-8''Caf%C3%A9%20plans%202024.md"),
        ("...", 'attachment; filename="document.md"'),
    ],
)
def test_export_is_a_download_named_after_the_title(owner_client, document, title, disposition):
    document.title = title
    document.save(update_fields=["title"])
    response = owner_client.get(f"/docs/{document.id}/export.md")
    assert response.status_code == 200 and response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == disposition
