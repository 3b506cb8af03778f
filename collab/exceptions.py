"""Errors that end a WebSocket connection, each with its close code.

daphne lets an application close only with 1000 or 3000-4999, so every code
here is in the 4xxx range, echoing the HTTP status it resembles. The consumer
maps them to a close in one place.
"""

from __future__ import annotations


class CloseCode:
    MALFORMED = 4400  # a frame we cannot decode, or an update the CRDT rejects
    UNAUTHORIZED = 4401  # the session ended (logout, password change)
    FORBIDDEN = 4403  # access to the document was taken away
    NOT_FOUND = 4404  # the document was deleted
    DISCONNECTED = 4409  # a moderator disconnected everyone from the document
    ACCOUNT_DISABLED = 4410  # the account was deactivated (banned)
    TOO_SLOW = 4408  # the client stopped reading: its backlog passed the limit
    TOO_LARGE = 4413  # a message over COLLAB_MAX_MESSAGE_BYTES
    TEXT_FRAME = 4415  # text frames are not part of the protocol
    FORGED_AUTHOR = 4422  # the update adds text under a client id that belongs to another person
    RATE_LIMITED = 4429  # too many messages or bytes per second, or too many connections
    INTERNAL = 4500  # a bug on our side; the client reconnects
    GOING_AWAY = 4503  # this worker is shutting down; reconnect (to another worker)
    DOCUMENT_TOO_LARGE = 4507  # the update would make the document larger than COLLAB_MAX_DOCUMENT_BYTES


class ConnectionClosingError(Exception):
    """Base: the connection must be closed with `code`."""

    code = CloseCode.INTERNAL


class MalformedMessage(ConnectionClosingError):
    """The frame does not follow the protocol."""

    code = CloseCode.MALFORMED


class RejectedUpdate(ConnectionClosingError):
    """The CRDT refused the update, or it looks hostile."""

    code = CloseCode.MALFORMED


class MessageTooLarge(ConnectionClosingError):
    """The message is larger than the configured limit."""

    code = CloseCode.TOO_LARGE


class DocumentTooLarge(ConnectionClosingError):
    """The update would make the document larger than the configured limit."""

    code = CloseCode.DOCUMENT_TOO_LARGE


class TextFrame(ConnectionClosingError):
    """A text frame arrived; the protocol is binary."""

    code = CloseCode.TEXT_FRAME


class ClientTooSlow(ConnectionClosingError):
    """The client's unread backlog passed the limit."""

    code = CloseCode.TOO_SLOW


class RateLimited(ConnectionClosingError):
    """Too many messages or bytes per second, or too many connections."""

    code = CloseCode.RATE_LIMITED


class AccessRemoved(ConnectionClosingError):
    """The connection's access to the document is gone."""

    code = CloseCode.FORBIDDEN


class DisconnectedByModerator(ConnectionClosingError):
    """A moderator disconnected everyone from the document."""

    code = CloseCode.DISCONNECTED


class ForgedAuthor(ConnectionClosingError):
    """The update adds text under a Yjs client id that belongs to another person."""

    code = CloseCode.FORGED_AUTHOR
