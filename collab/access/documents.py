"""Reading and writing documents: the one place views, admin and consumers call."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Lower
from django.dispatch import Signal
from django.utils import timezone
from markdown_it import MarkdownIt

from collab.access import rights as access
from collab.access import sharing
from collab.access.search import search_matching
from collab.models import Document, DocumentSnapshot, DocumentUpdate, Membership, Role

DEFAULT_TITLE = "Untitled"

# Sent when a document goes into the trash (its webhooks tell of it: collab.webhooks).
document_trashed = Signal()  # sender=Document, document=, actor=
# Sent when a document's text is written other than by typing in a room (the API, an
# import, a restore: collab.history.restore.text_write); its webhooks tell of it.
text_written = Signal()  # sender=Document, document_id=


class NoAccess(Exception):
    """The visitor may not see the document (or it does not exist)."""


class RoleTooLow(Exception):
    """The visitor sees the document but may not do this."""


def documents_for_user(*, user) -> QuerySet[Document]:
    return Document.objects.filter(owner=user, trashed_at__isnull=True).select_related("owner").order_by("-updated")


def memberships_for_user(*, user) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user, document__trashed_at__isnull=True)
        .select_related("document", "document__owner__profile")
        .order_by("-document__updated")
    )


def document_for(*, user, session, document_id, minimum: Role = Role.VIEWER) -> tuple[Document, Role]:
    """The document and the visitor's role; NoAccess or RoleTooLow otherwise."""
    role = access.role_for(user=user, session=session, document_id=document_id)
    if role is None:
        raise NoAccess(document_id)
    if role.rank < minimum.rank:
        raise RoleTooLow(document_id)
    return Document.objects.select_related("owner").get(pk=document_id), role


def document_create(*, owner, title: str = "", follows_heading: bool | None = None) -> Document:
    """A new document; its title follows its first heading unless given one
    (`follows_heading` says otherwise, for a title the caller took from a heading or a file)."""
    title = title.strip()[:TITLE_LENGTH]
    follows = not title if follows_heading is None else follows_heading
    return Document.objects.create(owner=owner, title=title or DEFAULT_TITLE, title_follows_heading=follows)


TITLE_LENGTH = Document._meta.get_field("title").max_length


def document_rename(*, document: Document, title: str) -> Document:
    document.title, document.title_follows_heading = title.strip(), False
    document.save(update_fields=["title", "title_follows_heading", "updated"])
    return document


def document_delete(*, document: Document) -> None:
    """For good: the document, its content and its history."""
    document.delete()


# -- the trash ------------------------------------------------------------------
# A trashed document is gone for everyone (load_rights and the ticker read None for it,
# so open connections close with 4404) until its owner restores it or it is purged.


def trash_days() -> int:
    return settings.COLLAB_TRASH_DAYS


def purge_date(trashed_at: datetime) -> datetime:
    return trashed_at + timedelta(days=trash_days())


def trash_for_user(*, user) -> QuerySet[Document]:
    return Document.objects.filter(owner=user, trashed_at__isnull=False).order_by("-trashed_at")


def trashed_document_for(*, user, document_id) -> Document:
    """The user's own trashed document; Document.DoesNotExist for anyone else's."""
    return trash_for_user(user=user).get(pk=document_id)


@transaction.atomic
def document_trash(*, document: Document, actor) -> None:
    Document.objects.filter(pk=document.pk).update(trashed_at=timezone.now(), trashed_by=actor)
    sharing.rights_changed(document_id=document.pk)
    document_trashed.send(sender=Document, document=document, actor=actor)


@transaction.atomic
def document_restore(*, document: Document) -> None:
    """Back where it was, with its content, history, members and links."""
    Document.objects.filter(pk=document.pk).update(trashed_at=None, trashed_by=None)
    sharing.rights_changed(document_id=document.pk)


def trash_purge(*, now: datetime | None = None) -> int:
    """Delete for good what has been in the trash longer than COLLAB_TRASH_DAYS; how many."""
    cutoff = (now or timezone.now()) - timedelta(days=trash_days())
    count = 0
    for document in Document.objects.filter(trashed_at__lt=cutoff).iterator():
        document_delete(document=document)
        count += 1
    return count


# -- the documents page -----------------------------------------------------------

SORTS = {"updated": ("-updated", "-pk"), "title": (Lower("title"), "-updated", "pk")}


def document_listing(*, user, search: str = "", sort: str = "updated", show: str = "all") -> QuerySet[Document]:
    """The documents `user` owns or was given (`show`: "all", "mine" or "shared"), not trashed, each annotated with
    `member_role` (None for their own), `last_author_id` and `has_updates` (the newest
    entry of its update log, if any is left unmerged): one query however many rows.

    `search` matches titles and text (collab.access.search)."""
    memberships = Membership.objects.filter(user=user).order_by()  # one row a document: no join to sort by
    newest_update = DocumentUpdate.objects.filter(document=OuterRef("pk")).order_by("-seq")
    mine, shared = Q(owner=user), Q(pk__in=memberships.values("document"))
    whose = {"mine": mine, "shared": shared}.get(show, mine | shared)
    found = (
        Document.objects.filter(whose, trashed_at__isnull=True)
        .select_related("owner__profile")
        .annotate(
            member_role=Subquery(memberships.filter(document=OuterRef("pk")).values("role")[:1]),
            last_author_id=Subquery(newest_update.values("author")[:1]),
            has_updates=Exists(newest_update),
        )
    )
    search = search.strip()
    if search:
        found = search_matching(found, search)
    return found.order_by(*SORTS.get(sort, SORTS["updated"]))


def last_editors(documents: list[Document]) -> dict:
    """{document id: the account that made its newest change, or None for a guest}, for
    documents of `document_listing`: two queries at most, whatever their number.

    The update log's newest entry says who; once merged into the snapshot, the
    snapshot's contributors (each account's last position in the log) do."""
    who = {d.pk: d.last_author_id for d in documents if d.has_updates}
    merged = [d.pk for d in documents if not d.has_updates and d.last_seq]
    for pk, contributors in DocumentSnapshot.objects.filter(pk__in=merged).values_list("pk", "contributors"):
        if contributors:
            who[pk] = int(max(contributors, key=lambda user_id: contributors[user_id]))
    users = get_user_model().objects.filter(pk__in={i for i in who.values() if i}).select_related("profile")
    by_id = {user.pk: user for user in users}
    return {pk: by_id.get(user_id) for pk, user_id in who.items()}


# -- titles from headings ----------------------------------------------------------
# A new document is titled "Untitled"; it takes its first heading as its title and
# follows that heading as it changes, until someone renames it (its
# `title_follows_heading` flag, kept in the database so that every worker and every
# restart agree). The rooms' ticker calls HeadingTitles with the documents that
# follow and were edited since its last look (collab.realtime.registry), so the title
# follows the text within a tick.

HEADING_SCAN_CHARS = 65536  # the first heading is looked for in the first 64 KiB
ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
SETEXT = re.compile(r" {0,3}(=+|-+)[ \t]*$")
FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
NOT_PARAGRAPH = re.compile(r" {0,3}([-*+>|]|\d+[.)]|<|$)|    |\t")
FRONT_MATTER = re.compile(r"---[ \t]*\n.*?\n(?:---|\.\.\.)[ \t]*(?:\n|$)", re.S)  # YAML, as static sites use
_inline = MarkdownIt("commonmark")


def title_from_text(text: str) -> str | None:
    """The plain text of the first heading (ATX `# Title` or setext `Title` / `===`),
    outside code blocks, cut to a title's length; None if there is none."""
    text = text[:HEADING_SCAN_CHARS]
    if front_matter := FRONT_MATTER.match(text):
        text = text[front_matter.end() :]
    fence = None
    previous = None  # the line before, if it may be a setext heading's text
    for line in text.splitlines():
        opening = FENCE.match(line)
        if fence is not None:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = None
            continue
        if opening:
            fence, previous = opening.group(1), None
            continue
        if (atx := ATX.match(line)) and atx.group(2):
            return plain_title(atx.group(2))
        if previous is not None and SETEXT.match(line):
            return plain_title(previous)
        previous = None if NOT_PARAGRAPH.match(line) else line
    return None


def plain_title(markdown: str) -> str | None:
    """`**Plans** for [Q3](/q3)` -> `Plans for Q3`: the text of the inline Markdown."""
    words = []
    for token in _inline.parseInline(markdown)[0].children or []:
        if token.type in ("text", "code_inline", "image"):  # an image's content: its alternative text
            words.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            words.append(" ")
    title = " ".join("".join(words).split())[:TITLE_LENGTH].strip()
    return title or None


class HeadingTitles:
    """One process's look at the documents that follow their first heading.

    Titles are written only while the document still follows (a rename made
    meanwhile wins), without touching `updated`; the ticker then tells the open
    pages, as it does a rename.
    """

    def __init__(self):
        self.seen: set[str] = set()  # documents looked at since they were opened here

    def looks_at(self, document_id: str, *, edited: bool) -> bool:
        """Whether the text of a document that follows its heading is worth a look:
        edited since the last look, or never looked at here."""
        return edited or document_id not in self.seen

    def retitle(self, texts: dict[str, tuple[str, str]]) -> dict[str, str]:
        """{document id: (title as read, text)} -> {document id: new title} of those retitled."""
        retitled = {}
        for document_id, (title, text) in texts.items():
            self.seen.add(document_id)
            heading = title_from_text(text)
            if not heading or heading == title:
                continue
            following = Document.objects.filter(pk=document_id, title_follows_heading=True, trashed_at__isnull=True)
            if following.update(title=heading):
                retitled[document_id] = heading
        return retitled

    def keep(self, document_ids) -> None:
        """Forget the documents no longer open here."""
        self.seen.intersection_update(document_ids)
