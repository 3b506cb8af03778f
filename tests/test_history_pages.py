"""The History pages through the Django test client: who sees what, naming, diffs, export, restore."""

from __future__ import annotations

import base64
import re

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pycrdt import Doc, Snapshot, Text

from collab.access import sharing
from collab.history import versions
from collab.history.authorship import author_for_user, claim
from collab.models import Document, Restore, Version
from collab.storage import persistence
from collab.yjs.crdt import TEXT_NAME
from tests.conftest import guest_cookie


class Typist:
    """A Yjs client of `user`'s whose edits go to the document's log, as the server would store them."""

    def __init__(self, document, user):
        self.document, self.user = document, user
        self.doc = Doc()
        self.text = self.doc.get(TEXT_NAME, type=Text)
        self.updates: list[bytes] = []
        self.doc.observe(lambda event: self.updates.append(event.update))
        for update in persistence.read_since(document.id).all_updates():
            self.doc.apply_update(update)
        self.updates.clear()
        claim(document.id, [self.doc.client_id], author_for_user(user))

    def type(self, words: str, at: int | None = None) -> None:
        self.text.insert(len(str(self.text)) if at is None else at, words)
        self.flush()

    def delete(self, start: int, end: int) -> None:
        del self.text[start:end]
        self.flush()

    def flush(self) -> None:
        persistence.append(self.document.id, self.updates, [self.user.pk] * len(self.updates))
        self.updates.clear()


def cut(document, **options) -> Version:
    return versions.version_cut(document_id=document.id, **options)


@pytest.fixture
def history(shared_document, owner, editor):
    """Two versions of the shared document: the owner's first draft, then the editor's change."""
    typist = Typist(shared_document, owner)
    typist.type("Plans for May\n")
    first = cut(shared_document)
    Typist(shared_document, editor).type("Book the hall\n")
    second = cut(shared_document)
    return first, second


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def guest(document, role="viewer") -> Client:
    link = sharing.link_create(document=document, role=role, expires_at=None, created_by=document.owner)
    client = Client()
    client.cookies["sessionid"] = guest_cookie(link.token).split("=", 1)[1]
    return client


def pages_of(document, version) -> dict[str, str]:
    ids = [document.id, version.id]
    return {
        "list": reverse("document_history", args=[document.id]),
        "version": reverse("version", args=ids),
        "changes": reverse("version", args=ids) + "?compare=previous",
        "compare with now": reverse("version", args=ids) + "?compare=current",
        "attribution": reverse("version_changes", args=ids),
        "export": reverse("version_export", args=ids),
    }


def statuses(client, document, version) -> dict[str, int]:
    return {name: client.get(url).status_code for name, url in pages_of(document, version).items()}


def flashed(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# -- who sees history ------------------------------------------------------------


def test_the_owner_and_editors_see_the_history_and_viewers_guests_and_outsiders_do_not(
    shared_document, history, owner, editor, viewer, outsider
):
    _, version = history
    everything = dict.fromkeys(pages_of(shared_document, version), 200)
    assert statuses(client_of(owner), shared_document, version) == everything
    assert statuses(client_of(editor), shared_document, version) == everything
    assert statuses(client_of(viewer), shared_document, version) == dict.fromkeys(everything, 403)
    assert statuses(guest(shared_document), shared_document, version) == dict.fromkeys(everything, 403)
    assert statuses(client_of(outsider), shared_document, version) == dict.fromkeys(everything, 404)
    anonymous = Client().get(pages_of(shared_document, version)["list"])
    assert anonymous.status_code == 302 and anonymous.url.startswith(reverse("login"))


def test_viewers_and_link_guests_see_the_history_when_the_owner_allows_it_but_never_name_or_restore(
    shared_document, history, viewer
):
    _, version = history
    shared_document.history_for_viewers = True
    shared_document.save(update_fields=["history_for_viewers"])
    for client in (client_of(viewer), guest(shared_document)):
        assert statuses(client, shared_document, version) == dict.fromkeys(pages_of(shared_document, version), 200)
        listing = client.get(reverse("document_history", args=[shared_document.id]))
        assert b"Name this version" not in listing.content
        assert (
            b"Restore this version" not in client.get(reverse("version", args=[shared_document.id, version.id])).content
        )
        restore_url = reverse("version_restore", args=[shared_document.id, version.id])
        assert client.get(restore_url).status_code == 403
        assert client.post(restore_url).status_code == 403
        assert client.post(reverse("document_history", args=[shared_document.id]), {"name": "Mine"}).status_code == 403
    assert not Restore.objects.exists()
    assert not Version.objects.filter(kind=Version.Kind.NAMED).exists()


def test_a_link_guest_who_may_edit_names_and_restores_versions(shared_document, history):
    first, _ = history
    client = guest(shared_document, role="editor")
    response = client.post(reverse("document_history", args=[shared_document.id]), {"name": "Guest's pick"})
    assert response.status_code == 302
    assert Version.objects.get(kind=Version.Kind.NAMED).named_by is None
    client.post(reverse("version_restore", args=[shared_document.id, first.id]))
    assert persistence.document_text(shared_document.id) == first.text
    assert Restore.objects.get().by is None and Restore.objects.get().by_name == "Gus (guest)"


def test_the_owner_lets_viewers_see_the_history_from_the_share_page(shared_document, owner, viewer):
    client = client_of(owner)
    share = reverse("document_share", args=[shared_document.id])
    page = client.get(share)
    assert b"Let viewers see the history" in page.content
    client.post(share, {"action": "history", "history_for_viewers": "on"})
    shared_document.refresh_from_db()
    assert shared_document.history_for_viewers
    assert client_of(viewer).get(reverse("document_history", args=[shared_document.id])).status_code == 200
    assert b'name="history_for_viewers" id="id_history_for_viewers" checked' in client.get(share).content

    client.post(share, {"action": "history"})  # the box unticked
    shared_document.refresh_from_db()
    assert not shared_document.history_for_viewers
    assert client_of(viewer).get(reverse("document_history", args=[shared_document.id])).status_code == 403
    # Only the owner changes it.
    assert client_of(viewer).post(share, {"action": "history", "history_for_viewers": "on"}).status_code == 403


def test_an_unknown_version_or_one_of_another_document_is_not_found(shared_document, history, owner):
    _, version = history
    other = Document.objects.create(owner=owner, title="Other")
    Typist(other, owner).type("Elsewhere")
    elsewhere = cut(other)
    client = client_of(owner)
    for name in ("version", "version_changes", "version_export", "version_restore"):
        assert client.get(reverse(name, args=[shared_document.id, 999_999])).status_code == 404, name
        assert client.get(reverse(name, args=[shared_document.id, elsewhere.id])).status_code == 404, name
    assert client.post(reverse("version_restore", args=[shared_document.id, elsewhere.id])).status_code == 404
    assert persistence.document_text(other.id) == "Elsewhere"


def test_naming_and_restoring_need_the_csrf_token(shared_document, history, owner):
    first, _ = history
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    listing = reverse("document_history", args=[shared_document.id])
    restore = reverse("version_restore", args=[shared_document.id, first.id])
    assert client.post(listing, {"name": "Forged"}).status_code == 403
    assert client.post(restore).status_code == 403
    assert not Restore.objects.exists() and not Version.objects.filter(kind=Version.Kind.NAMED).exists()

    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', client.get(restore).content).group(1).decode()
    assert client.post(restore, {"csrfmiddlewaretoken": token}).status_code == 302
    assert Restore.objects.count() == 1


# -- the list --------------------------------------------------------------------


def test_the_list_shows_each_version_newest_first_with_its_authors_counts_and_links(shared_document, history, owner):
    first, second = history
    response = client_of(owner).get(reverse("document_history", args=[shared_document.id]))
    html = response.content.decode()
    rows = html.split('<li class="version-row')[1:]
    assert len(rows) == 2
    assert f"/history/{second.id}/" in rows[0] and f"/history/{first.id}/" in rows[1]
    assert ">edith<" in rows[0] and ">olivia<" not in rows[0]
    assert ">olivia<" in rows[1]
    assert "+14" in rows[0] and "−0" in rows[0]
    for link in ("View", "Changes", "Compare with now", "Download .md"):
        assert f">{link}</a>" in rows[0]
    assert f'href="/docs/{shared_document.id}/history/{second.id}/?compare=current"' in rows[0]


def test_the_list_is_paginated_twenty_a_page(shared_document, owner):
    typist = Typist(shared_document, owner)
    made = []
    for n in range(23):
        typist.type(f"line {n}\n")
        made.append(cut(shared_document))
    client = client_of(owner)
    url = reverse("document_history", args=[shared_document.id])
    first_page = client.get(url).content.decode()
    second_page = client.get(url + "?page=2").content.decode()
    listed = [int(n) for n in re.findall(r'class="version-when" href="/docs/[^/]+/history/(\d+)/"', first_page)]
    assert listed == [version.id for version in reversed(made)][:20]
    later = [int(n) for n in re.findall(r'class="version-when" href="/docs/[^/]+/history/(\d+)/"', second_page)]
    assert later == [version.id for version in reversed(made)][20:]
    assert "Page 1 of 2" in first_page and 'rel="next"' in first_page
    assert client.get(url + "?page=nonsense").status_code == 200


def test_a_document_without_versions_says_so(shared_document, owner):
    response = client_of(owner).get(reverse("document_history", args=[shared_document.id]))
    assert response.status_code == 200
    assert b"No versions yet." in response.content and b"Name this version" in response.content


def test_named_versions_stand_out(shared_document, history, owner):
    client = client_of(owner)
    url = reverse("document_history", args=[shared_document.id])
    response = client.post(url, {"name": "Ready for review"})
    assert response.status_code == 302
    assert flashed(response) == [
        f"Named “Ready for review”, the version of {timezone.localtime(history[1].created):%H:%M}."
    ]
    html = client.get(url).content.decode()
    assert re.search(
        r'<li class="version-row named">.*?<strong class="version-name">Ready for review</strong>', html, re.S
    )


# -- naming ----------------------------------------------------------------------


def test_naming_the_present_cuts_a_named_version_and_naming_it_again_says_nothing_changed(
    shared_document, history, editor
):
    Typist(shared_document, editor).type("Invite the team\n")
    client = client_of(editor)
    url = reverse("document_history", args=[shared_document.id])
    response = client.post(url, {"name": "Draft 2"})
    client.get(url)  # shows the message
    named = Version.objects.get(kind=Version.Kind.NAMED)
    assert (named.name, named.named_by, named.text) == (
        "Draft 2",
        editor,
        "Plans for May\nBook the hall\nInvite the team\n",
    )
    assert flashed(response) == [f"Named “Draft 2”, the version of {timezone.localtime(named.created):%H:%M}."]

    again = client.post(url, {"name": "Draft 3"})
    assert flashed(again) == [f"Nothing changed since “Draft 2” of {timezone.localtime(named.created):%H:%M}."]
    assert Version.objects.filter(kind=Version.Kind.NAMED).count() == 1


def test_a_bad_name_shows_the_form_s_error(shared_document, history, owner):
    client = client_of(owner)
    url = reverse("document_history", args=[shared_document.id])
    empty = client.post(url, {"name": "   "})
    assert empty.status_code == 200 and "Give the version a name." in empty.content.decode()
    long = client.post(url, {"name": "x" * 101})
    assert long.status_code == 200 and "at most 100 characters" in long.content.decode()
    assert not Version.objects.filter(kind=Version.Kind.NAMED).exists()


# -- one version -----------------------------------------------------------------


def test_a_version_shows_its_text_as_text_never_as_html(shared_document, owner):
    Typist(shared_document, owner).type('# Title\n<script>alert("x")</script>\n')
    version = cut(shared_document)
    html = client_of(owner).get(reverse("version", args=[shared_document.id, version.id])).content.decode()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "<script>alert" not in html
    assert re.search(r'<pre class="version-text"[^>]*>\n# Title', html)


def test_changes_show_insertions_and_deletions_and_who_made_them(shared_document, history, owner, editor):
    first, second = history
    Typist(shared_document, owner).delete(0, len("Plans for "))
    third = cut(shared_document)
    client = client_of(owner)
    html = client.get(reverse("version", args=[shared_document.id, second.id]) + "?compare=previous").content.decode()
    assert "Plans for May\n<ins>Book the hall\n</ins>" in html
    assert re.search(r'class="author-chip" style="--author: #[0-9a-f]{6}">edith<', html)
    html = client.get(reverse("version", args=[shared_document.id, third.id]) + "?compare=previous").content.decode()
    assert "<del>Plans for </del>May\n" in html

    # Against the current text: what changed since, and by whom.
    Typist(shared_document, editor).type("Order food\n")
    html = client.get(reverse("version", args=[shared_document.id, first.id]) + "?compare=current").content.decode()
    # A short common piece between two changes reads as part of one rewrite (textdiff.readable).
    assert "<del>Plans for May\n</del><ins>May\nBook the hall\nOrder food\n</ins>" in html
    assert ">edith<" in html and ">olivia<" in html  # the later versions' authors

    # The very first version: everything was added.
    html = client.get(reverse("version", args=[shared_document.id, first.id]) + "?compare=previous").content.decode()
    assert "<ins>Plans for May\n</ins>" in html and "The first version" in html


def test_the_attribution_data_rebuilds_both_sides_of_a_diff_and_names_each_client(shared_document, history, editor):
    first, second = history
    Typist(shared_document, editor).type("Order food\n")
    client = client_of(editor)
    url = reverse("version_changes", args=[shared_document.id, second.id])

    def rebuilt(data, key):
        doc = Doc(skip_gc=True)
        doc.apply_update(base64.b64decode(data["archive"]))
        return str(Doc.from_snapshot(Snapshot.decode(base64.b64decode(data[key])), doc).get(TEXT_NAME, type=Text))

    previous = client.get(url).json()
    assert previous["compare"] == "previous"
    assert (rebuilt(previous, "snapshot"), rebuilt(previous, "previous")) == (second.text, first.text)
    current = client.get(url + "?compare=current").json()
    assert rebuilt(current, "previous") == "Plans for May\nBook the hall\nOrder food\n"
    assert sorted(author["name"] for author in current["authors"].values()) == ["edith", "edith", "olivia"]
    assert client.get(reverse("version_changes", args=[shared_document.id, first.id])).json()["previous"] is None


def test_a_version_downloads_as_markdown_named_after_the_title_and_its_time(shared_document, history, owner):
    first, _ = history
    shared_document.title = 'Plans: "May"'
    shared_document.save(update_fields=["title"])
    response = client_of(owner).get(reverse("version_export", args=[shared_document.id, first.id]))
    assert response.content.decode() == "Plans for May\n"
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    stamp = f"{timezone.localtime(first.created):%Y-%m-%d %H.%M}"
    assert response["Content-Disposition"] == f'attachment; filename="Plans May ({stamp}).md"'


# -- restore ---------------------------------------------------------------------


def test_restoring_asks_first_then_brings_the_text_back_and_says_so(shared_document, history, editor):
    first, _ = history
    Typist(shared_document, editor).type("Order food\n")
    client = client_of(editor)
    url = reverse("version_restore", args=[shared_document.id, first.id])
    confirm = client.get(url)
    assert (
        confirm.status_code == 200
        and b'<button type="submit" class="button primary">Restore</button>' in confirm.content
    )
    assert persistence.document_text(shared_document.id) == "Plans for May\nBook the hall\nOrder food\n"  # not yet

    response = client.post(url)
    assert response.status_code == 302 and response.url == shared_document.get_absolute_url()
    assert flashed(response) == [f"Restored the version of {timezone.localtime(first.created):%H:%M}."]
    assert persistence.document_text(shared_document.id) == "Plans for May\n"
    restore = Restore.objects.get()
    assert (restore.by, restore.by_name, restore.version) == (editor, "edith", first)
    # The text before the restore is a version of its own, to go back to.
    assert Version.objects.get(kind=Version.Kind.BEFORE_RESTORE).text == "Plans for May\nBook the hall\nOrder food\n"

    client.get(shared_document.get_absolute_url())  # shows the message
    again = client.post(url)
    assert flashed(again) == ["That version is the current text already."]
    assert Restore.objects.count() == 1


def test_the_page_of_a_version_offers_restore_only_to_those_who_may_edit(shared_document, history, owner, viewer):
    _, version = history
    url = reverse("version", args=[shared_document.id, version.id])
    assert b"Restore this version" in client_of(owner).get(url).content
    shared_document.history_for_viewers = True
    shared_document.save(update_fields=["history_for_viewers"])
    assert b"Restore this version" not in client_of(viewer).get(url).content
