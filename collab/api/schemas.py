"""What the API reads and writes (the OpenAPI schema is built from these)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from ninja import Schema


class DocumentOut(Schema):
    id: UUID
    title: str
    role: str
    owner: str
    created: datetime
    updated: datetime
    locked: bool
    url: str


class DocumentPage(Schema):
    items: list[DocumentOut]
    count: int
    page: int
    pages: int


class DocumentIn(Schema):
    title: str = ""
    content: str = ""


class DocumentPatch(Schema):
    title: str


class Written(Schema):
    changed: bool
    seq: int | None = None


class MemberOut(Schema):
    username: str
    name: str
    role: str


class MemberIn(Schema):
    role: str


class LinkOut(Schema):
    id: int
    role: str
    url: str
    expires_at: datetime | None
    revoked: bool


class LinkIn(Schema):
    role: str = "viewer"
    expires_at: datetime | None = None


class VersionOut(Schema):
    id: int
    created: datetime
    kind: str
    name: str
    authors: list[str]
    chars_added: int
    chars_removed: int


class VersionText(VersionOut):
    text: str


class VersionPage(Schema):
    items: list[VersionOut]
    count: int
    page: int
    pages: int


class Error(Schema):
    detail: str
