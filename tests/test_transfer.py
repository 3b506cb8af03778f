"""Import, export and the documents page: files made documents, documents made files,
and a list of thousands searched, sorted and paged in a few queries."""

from __future__ import annotations

import html.parser
from datetime import timedelta
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from collab.access import documents, sharing
from collab.access.documents import HeadingTitles, title_from_text
from collab.access.rights import watch_state
from collab.api.tokens import token_create
from collab.history import versions
from collab.history.authorship import author_for_user
from collab.history.restore import text_write
from collab.models import Document, DocumentUpdate, Version
from collab.storage import persistence
from collab.storage.render import markdown_html
from config.asgi import application
from tests.browser import chromium, make_document, open_editor, screenshot, signed_in_context
from tests.conftest import make_user, session_cookie
from tests.helpers import an_update
from tests.yclient import CommunicatorTransport, YClient

HOSTILE = """# Plans <script>alert("title")</script>

<script>alert(1)</script>
<SCRIPT SRC=https://evil.example/x.js></SCRIPT>
<img src="x" onerror="alert(2)">
<a href="javascript:alert(3)">click</a> [also](javascript:alert(4)) [and](JaVaScRiPt:alert(5))
<iframe src="https://evil.example"></iframe>
<style>body { display: none }</style>
<form action="https://evil.example"><input type="text" name="q"><button>Go</button></form>
<div onclick="alert(6)" style="background: url(javascript:alert(7))">div</div>
<svg><script>alert(8)</script></svg><object data="x.swf"></object><embed src="x.swf">
<img src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=">
<a href="data:text/html,<script>alert(9)</script>">data</a>

| Item | Done |
|:-----|:----:|
| Menu | yes  |

- [x] shopping
- [ ] cooking
"""


class Elements(html.parser.HTMLParser):
    """Every start tag of an HTML text, with its attributes."""

    def __init__(self, text: str):
        super().__init__()
        self.found: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))

    def tags(self) -> set[str]:
        return {tag for tag, _ in self.found}


def body_of(page: str) -> str:
    return page[page.index("<main>") : page.index("</main>")]


def upload(name: str, content: bytes) -> dict:
    return {"import-file": SimpleUploadedFile(name, content)}


# -- the first heading as a title ----------------------------------------------------


@pytest.mark.parametrize(
    "text, title",
    [
        ("# Plans\n\nBody", "Plans"),
        ("Intro line.\n\n## Second level ##\n", "Second level"),
        ("Setext title\n============\n\ntext", "Setext title"),
        ("Also setext\n---\n", "Also setext"),
        ("```\n# not a heading\n```\n# After the code\n", "After the code"),
        ("~~~~md\n# inside\n~~~\n# still inside\n~~~~\n\n# Out\n", "Out"),
        ("# **Bold** and `code` with [a link](https://x.example) ![pic](p.png)\n", "Bold and code with a link pic"),
        ("#NoSpace\n\n- item\n---\n\nplain text only\n", None),
        ("#   \n\n", None),
        ("", None),
        ("# " + "x" * 300, "x" * 200),
        ("---\ntitle: Front\nlayout: post\n---\n\nIntro\n\n# After front matter\n", "After front matter"),
    ],
)
def test_the_title_is_the_plain_text_of_the_first_heading(text, title):
    assert title_from_text(text) == title


def test_a_document_follows_its_first_heading_until_someone_renames_it_across_restarts(owner):
    document = documents.document_create(owner=owner)
    key = str(document.pk)

    def typed(text: str, titles: HeadingTitles) -> str:
        """What the ticker does (collab.realtime.registry): only documents that follow are looked at."""
        state = watch_state([key], set(), set())
        if key in state.following and titles.looks_at(key, edited=True):
            titles.retitle({key: (state.titles[key], text)})
        return Document.objects.get(pk=document.pk).title

    worker = HeadingTitles()
    assert typed("no heading yet", worker) == "Untitled"
    assert typed("# P", worker) == "P"
    assert typed("# Plans", worker) == "Plans"  # still the heading's: it follows
    assert typed("# Plans for May\n\nbody", HeadingTitles()) == "Plans for May"  # after a restart too
    documents.document_rename(document=document, title="Our plans")
    assert typed("# Plans for June", worker) == "Our plans"  # renamed: it stays
    assert typed("# Plans for June", HeadingTitles()) == "Our plans"  # whichever worker looks
    assert key not in watch_state([key], set(), set()).following  # and its text is not read again


def test_a_title_given_at_creation_stays_and_one_taken_from_a_heading_follows(owner):
    given = documents.document_create(owner=owner, title="Minutes")
    from_heading = documents.document_create(owner=owner, title="Intro", follows_heading=True)
    assert not Document.objects.get(pk=given.pk).title_follows_heading
    assert HeadingTitles().retitle({str(from_heading.pk): ("Intro", "# Introduction")}) == {
        str(from_heading.pk): "Introduction"
    }


def test_a_heading_never_overwrites_a_rename_made_since_the_title_was_read(owner):
    document = documents.document_create(owner=owner)
    titles = HeadingTitles()
    documents.document_rename(document=document, title="Renamed meanwhile")
    assert titles.retitle({str(document.pk): ("Untitled", "# From the heading")}) == {}
    assert Document.objects.get(pk=document.pk).title == "Renamed meanwhile"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_channel_layer")
async def test_a_new_document_typed_into_takes_its_heading_as_title_live(owner, settings):
    settings.COLLAB_RESYNC_INTERVAL = 0.1
    document = await database_sync_to_async(documents.document_create)(owner=owner)
    cookie = await database_sync_to_async(session_cookie)(owner)
    headers = [(b"origin", b"http://127.0.0.1"), (b"cookie", cookie.encode())]
    comm = WebsocketCommunicator(application, f"/ws/docs/{document.id}/?ext=1", headers=headers)
    assert (await comm.connect())[0]
    page = await YClient(CommunicatorTransport(comm), name="page").connect()
    page.insert(0, "# Launch\n\nWe launch in May.")
    await page.wait_for(lambda: {"type": "title", "title": "Launch"} in page.extensions)
    page.insert(len("# Launch"), " plans")
    await page.wait_for(lambda: {"type": "title", "title": "Launch plans"} in page.extensions)
    stored = await database_sync_to_async(Document.objects.get)(pk=document.pk)
    assert stored.title == "Launch plans"
    await page.close()


# -- import ------------------------------------------------------------------------


def test_a_markdown_file_becomes_a_document_of_the_uploader_titled_by_its_first_heading(owner_client, owner):
    text = "Some words first.\n\n# Quarterly report\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    response = owner_client.post("/docs/import/", upload("report-2026.md", text.encode()))
    document = Document.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/docs/{document.id}/"
    assert document.owner == owner and document.title == "Quarterly report"
    assert persistence.document_text(document.id) == text
    assert DocumentUpdate.objects.get(document=document).author == owner
    version = versions.versions_of(document.id).get()
    assert version.kind == Version.Kind.NAMED and version.name == "Imported report-2026.md" and version.text == text


def test_a_text_file_without_a_heading_is_titled_by_its_name_and_loses_its_bom_and_crlf(owner_client):
    owner_client.post("/docs/import/", upload("meeting notes.TXT", "\ufeffLine one\r\nLine two\r\n".encode()))
    document = Document.objects.get()
    assert document.title == "meeting notes"
    assert persistence.document_text(document.id) == "Line one\nLine two\n"


@pytest.mark.parametrize(
    "name, content, error",
    [
        ("latin1.md", "Caf\xe9 cr\xe8me".encode("latin-1"), "not UTF-8 text (byte 4 is not valid)"),
        ("picture.png", b"\x89PNG\r\n", "Only Markdown (.md) and text (.txt) files"),
        ("big.md", b"x" * 101, "This file is 101 bytes; files of up to 100 bytes can be imported."),
        ("nul.txt", b"text\x00more", "it contains NUL characters"),
        ("empty.md", b"", "This file is empty."),
    ],
)
def test_a_bad_file_is_refused_with_a_clear_error_on_the_documents_page(
    owner_client, owner, settings, name, content, error
):
    settings.COLLAB_MAX_IMPORT_BYTES = 100
    Document.objects.create(owner=owner, title="Kept")
    response = owner_client.post("/docs/import/", upload(name, content))
    assert response.status_code == 400
    page = response.content.decode()
    assert error in page and 'class="field-errors" role="alert"' in page
    assert "Kept" in page  # the documents page, with its list
    assert list(Document.objects.values_list("title", flat=True)) == ["Kept"]


def test_an_import_without_a_file_or_a_session_is_refused(owner_client):
    assert "Choose a .md or .txt file to import." in owner_client.post("/docs/import/").content.decode()
    assert owner_client.get("/docs/import/").status_code == 405
    response = Client().post("/docs/import/", upload("notes.md", b"# Notes"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not Document.objects.exists()


# -- export ------------------------------------------------------------------------


def test_the_html_export_of_hostile_markdown_runs_nothing(owner_client, owner):
    document = make_document(owner, title='Plans <b>"2026"</b>', text=HOSTILE)
    response = owner_client.get(f"/docs/{document.id}/export.html")
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="Plans b 2026 b.html"'
    page = response.content.decode()
    assert "<title>Plans &lt;b&gt;&quot;2026&quot;&lt;/b&gt;</title>" in page
    body = body_of(page)
    elements = Elements(body)
    assert elements.tags().isdisjoint({"script", "style", "iframe", "form", "object", "embed", "svg", "button"})
    assert "alert" not in body.replace("alert(3)", "").replace("alert(4)", "").replace("alert(5)", "")
    for tag, attributes in elements.found:
        assert not [name for name in attributes if name.startswith("on") or name == "style" and tag not in "thtd"]
        for name in ("href", "src", "action", "data"):
            assert not (attributes.get(name) or "").strip().lower().startswith(("javascript:", "data:")), (tag, name)
    # The Markdown links with javascript: are left as text, not links.
    assert "[also](javascript:alert(4))" in body
    # GitHub's tables and task lists, the boxes unchangeable.
    assert '<th style="text-align:left">Item</th>' in body and '<td style="text-align:center">yes</td>' in body
    boxes = [attributes for tag, attributes in elements.found if tag == "input"]
    assert boxes[-2:] == [
        {"checked": "checked", "type": "checkbox", "disabled": "disabled"},
        {"type": "checkbox", "disabled": "disabled"},
    ]
    assert all(box == {"type": "checkbox", "disabled": "disabled"} for box in boxes[:-2])  # the form's text field


def test_markdown_renders_as_github_does_with_safe_raw_html_kept(db):
    rendered = markdown_html(
        "~~gone~~ https://example.com <kbd>Ctrl</kbd>\n\n```python\nprint(1)\n```\n\n"
        "<details><summary>More</summary>hidden</details>\n"
    )
    assert "<s>gone</s>" in rendered or "<del>gone</del>" in rendered
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">https://example.com</a>' in rendered
    assert '<code class="language-python">print(1)' in rendered
    assert "<kbd>Ctrl</kbd>" in rendered and "<details><summary>More</summary>hidden</details>" in rendered


def test_the_text_export_is_the_markdown_source(client, shared_document, viewer):
    persistence.append(shared_document.id, [an_update("# Shared\n\n*plain* text")])
    client.force_login(viewer)
    response = client.get(f"/docs/{shared_document.id}/export.txt")
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="Shared plans.txt"'
    assert response.content.decode() == "# Shared\n\n*plain* text"


def test_the_editor_offers_every_format(owner_client, owner):
    document = Document.objects.create(owner=owner, title="Plans")
    page = owner_client.get(f"/docs/{document.id}/").content.decode()
    for name in ("export.md", "export.html", "export.txt"):
        assert f'href="/docs/{document.id}/{name}" download' in page


def test_the_api_exports_each_format_and_creates_titled_by_the_heading(owner, outsider, shared_document):
    raw = token_create(user=owner, name="script", scopes=["documents:read", "documents:write"])[1]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    persistence.append(shared_document.id, [an_update("# Hi <script>x()</script>\n\n- [x] done\n")])
    api = Client(HTTP_HOST="127.0.0.1", **headers)
    url = f"/api/v1/documents/{shared_document.id}/export"
    as_md, as_txt, as_html = (api.get(f"{url}?format={kind}") for kind in ("md", "txt", "html"))
    assert as_md["Content-Type"] == "text/markdown; charset=utf-8" and as_md.content.startswith(b"# Hi <script>")
    assert as_txt["Content-Type"] == "text/plain; charset=utf-8" and as_txt.content == as_md.content
    assert as_html["Content-Type"] == "text/html; charset=utf-8"
    assert "<script" not in body_of(as_html.content.decode()) and 'disabled="disabled"' in as_html.content.decode()
    assert api.get(url).content == as_md.content  # md by default
    assert api.get(f"{url}?format=pdf").status_code == 422
    outsiders = token_create(user=outsider, name="x", scopes=["documents:read"])[1]
    assert Client(HTTP_HOST="127.0.0.1").get(url, HTTP_AUTHORIZATION=f"Bearer {outsiders}").status_code == 404
    made = api.post("/api/v1/documents", {"content": "Intro\n\n## From a script\n"}, content_type="application/json")
    assert made.json()["title"] == "From a script"


# -- the documents page ---------------------------------------------------------------


@pytest.fixture
def listed(owner, editor):
    """Olivia's two documents and one Edith shares with her."""
    old = Document.objects.create(owner=owner, title="Budget")
    new = Document.objects.create(owner=owner, title="agenda")
    theirs = Document.objects.create(owner=editor, title="Roadmap")
    sharing.membership_set(document=theirs, user=owner, role="commenter")
    Document.objects.filter(pk=old.pk).update(updated=timezone.now() - timedelta(days=2))
    Document.objects.filter(pk=theirs.pk).update(updated=timezone.now() - timedelta(days=1))
    return old, new, theirs


def titles(response) -> list[str]:
    return [document.title for document in response.context["documents"]]


def test_the_documents_page_lists_owned_and_shared_documents_with_role_and_last_editor(owner_client, listed, editor):
    old, new, theirs = listed
    persistence.append(theirs.id, [an_update("edited")], [editor.pk])
    persistence.append(new.id, [an_update("mine")], [old.owner.pk])
    persistence.append(old.id, [an_update("as a guest")], [None])
    Document.objects.filter(pk=theirs.pk).update(updated=timezone.now() - timedelta(days=1))
    Document.objects.filter(pk=old.pk).update(updated=timezone.now() - timedelta(days=2))
    response = owner_client.get("/")
    assert titles(response) == ["agenda", "Roadmap", "Budget"]
    page = response.content.decode()
    assert page.count('data-role="owner">Owner</span>') == 2
    assert 'data-role="commenter">Commenter</span>' in page and "owned by edith" in page
    assert "1\xa0day ago</time> by edith" in page and "just now</time> by you" in page
    assert "2\xa0days ago</time> by a guest" in page


def test_the_last_editor_is_found_in_the_snapshot_once_the_log_is_merged(owner_client, owner, editor):
    document = Document.objects.create(owner=owner, title="Merged")
    persistence.append(document.id, [an_update("one")], [owner.pk])
    persistence.append(document.id, [an_update("two")], [editor.pk])
    persistence.compact(document.id)
    assert not DocumentUpdate.objects.filter(document=document).exists()
    assert "</time> by edith" in owner_client.get("/").content.decode()


def test_documents_are_searched_by_title_and_by_text(owner_client, listed, owner):
    old, new, theirs = listed
    text_write(document_id=old.id, text="Costs of the new ROOF, by quarter.", by=owner, author=author_for_user(owner))
    assert titles(owner_client.get("/?q=ROAD")) == ["Roadmap"]
    assert titles(owner_client.get("/?q=roof")) == ["Budget"]
    assert titles(owner_client.get("/?q=nothing+like+it")) == []
    assert "No documents match “nothing like it”." in owner_client.get("/?q=nothing+like+it").content.decode()
    other = Document.objects.create(owner=make_user("otto"), title="Roof repairs")
    assert other.title not in titles(owner_client.get("/?q=roof"))  # only one's own and shared documents


def test_documents_are_sorted_filtered_and_paginated(owner_client, listed, owner):
    assert titles(owner_client.get("/?sort=title")) == ["agenda", "Budget", "Roadmap"]
    assert titles(owner_client.get("/?show=shared")) == ["Roadmap"]
    assert titles(owner_client.get("/?show=mine&sort=title")) == ["agenda", "Budget"]
    assert titles(owner_client.get("/?sort=nonsense&show=nonsense")) == ["agenda", "Roadmap", "Budget"]
    Document.objects.bulk_create(Document(owner=owner, title=f"Note {i:03}") for i in range(60))
    first = owner_client.get("/?sort=title&q=note")
    assert len(titles(first)) == 50 and titles(first)[0] == "Note 000"
    assert 'href="?sort=title&amp;q=note&amp;page=2" rel="next"' in first.content.decode()
    second = owner_client.get("/?sort=title&q=note&page=2")
    assert titles(second)[-1] == "Note 059" and len(titles(second)) == 10
    assert "Page 2 of 2 · 60 documents" in second.content.decode()
    assert titles(owner_client.get("/?sort=title&q=note&page=99")) == titles(second)  # the last page


def test_the_documents_page_makes_the_same_few_queries_for_300_documents(
    owner_client, owner, editor, django_assert_max_num_queries
):
    made = Document.objects.bulk_create(Document(owner=owner, title=f"Doc {i}") for i in range(200))
    shared = Document.objects.bulk_create(Document(owner=editor, title=f"Theirs {i}") for i in range(100))
    for document in shared:
        sharing.membership_set(document=document, user=owner, role="editor")
    for document in made[:60] + shared[:60]:
        persistence.append(document.id, [an_update("text")], [editor.pk])
    for document in made[60:80]:  # their log merged into a snapshot: the contributors say who
        persistence.append(document.id, [an_update("x")], [owner.pk])
        persistence.compact(document.id)
    with django_assert_max_num_queries(12):
        response = owner_client.get("/")
    assert response.status_code == 200 and len(response.context["documents"]) == 50
    with django_assert_max_num_queries(12):
        assert len(owner_client.get("/?q=doc&sort=title&page=3").context["documents"]) == 50


# -- in Chromium -----------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.processes
def test_a_person_imports_a_file_and_downloads_each_export_format(server, owner, tmp_path):
    source = tmp_path / "launch.md"
    source.write_text("# Launch plan\n\n| Step | Done |\n|---|---|\n| Venue | yes |\n\n- [x] venue\n- [ ] food\n")
    bad = tmp_path / "old.txt"
    bad.write_bytes("Caf\xe9".encode("latin-1"))
    cookie = session_cookie(owner)
    with chromium() as browser:
        page = signed_in_context(browser, server.url, cookie).new_page()
        page.goto(server.url + "/")
        page.get_by_label("Import a file").set_input_files(bad)
        page.get_by_role("button", name="Import", exact=True).click()
        expect(page.get_by_role("alert")).to_contain_text("This file is not UTF-8 text")
        page.get_by_label("Import a file").set_input_files(source)
        page.get_by_role("button", name="Import", exact=True).click()
        expect(page).to_have_title("Launch plan · collab")
        document = Document.objects.get()
        expect(page.locator(".cm-content")).to_contain_text("Launch plan")

        downloads = {}
        for name in ("Markdown (.md)", "Web page (.html)", "Plain text (.txt)"):
            if not page.locator(".export-menu[open]").count():  # a download leaves it open
                page.get_by_label("More formats").click()
            with page.expect_download() as info:
                page.get_by_role("link", name=name).click()
            downloads[info.value.suggested_filename] = Path(info.value.path()).read_text(encoding="utf-8")
        assert sorted(downloads) == ["Launch plan.html", "Launch plan.md", "Launch plan.txt"]
        assert downloads["Launch plan.md"] == downloads["Launch plan.txt"] == source.read_text()
        assert "<td>Venue</td>" in downloads["Launch plan.html"]
        assert page.url == f"{server.url}/docs/{document.id}/"

        exported = signed_in_context(browser, server.url, cookie).new_page()
        exported.set_content(downloads["Launch plan.html"])  # as someone opens the file
        expect(exported.get_by_role("heading", name="Launch plan")).to_be_visible()
        expect(exported.get_by_role("checkbox")).to_have_count(2)
        expect(exported.get_by_role("checkbox").first).to_be_disabled()
        screenshot(exported, "export-html")


@pytest.mark.browser
@pytest.mark.processes
def test_the_documents_page_is_searched_and_fits_a_phone_in_both_schemes(server, owner, editor):
    for i in range(3):
        make_document(owner, title=f"Garden plan {i}")
    make_document(editor, title="Kitchen", share=[(owner, "viewer")])
    cookie = session_cookie(owner)
    with chromium() as browser:
        for scheme in ("light", "dark"):
            context = signed_in_context(
                browser, server.url, cookie, viewport={"width": 360, "height": 740}, color_scheme=scheme
            )
            page = context.new_page()
            page.goto(server.url + "/")
            page.get_by_label("Search titles and text").fill("kitchen")
            page.get_by_role("button", name="Search").click()
            items = page.get_by_role("list", name="Documents").get_by_role("listitem")
            expect(items).to_have_count(1)
            expect(items.first).to_contain_text("Viewer")
            expect(items.first).to_contain_text("owned by edith")
            assert page.evaluate("document.documentElement.scrollWidth") <= 360
            screenshot(page, f"documents-search-360-{scheme}")
            context.close()


@pytest.mark.browser
@pytest.mark.processes
def test_the_export_menu_fits_a_phone(server, owner):
    document = make_document(owner, title="Plans", text="# Plans\n")
    cookie = session_cookie(owner)
    with chromium() as browser:
        _, page = open_editor(browser, server.url, cookie, document, viewport={"width": 360, "height": 740})
        page.locator(".export-menu summary").click()
        link = page.get_by_role("link", name="Web page (.html)")
        expect(link).to_be_visible()
        box = link.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 360
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        screenshot(page, "export-menu-360")
