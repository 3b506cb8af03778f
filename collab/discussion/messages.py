"""The discussion's messages on the document's socket (collab's extension messages,
type 100, JSON), checked before anything reads them (docs/protocol.md).

A message that is not one of these, or whose fields have the wrong types, closes
its connection with 4400 (MalformedMessage); one that is well formed but not
allowed (a viewer's comment, a body too long) is refused with a message back.
"""

from __future__ import annotations

import json

from collab.discussion.anchors import check_position
from collab.exceptions import MalformedMessage

MAX_CONTEXT = 100  # characters of text kept before and after a quote
MAX_QUOTE = 2000
MAX_REF = 64

FIELDS: dict[str, dict[str, type]] = {
    "discussion.load": {},
    "chat.older": {"before": int},
    "thread.create": {"anchor": dict, "quote": str, "prefix": str, "suffix": str, "body": str},
    "comment.create": {"thread": int, "body": str},
    "comment.edit": {"comment": int, "body": str},
    "comment.delete": {"comment": int},
    "thread.resolve": {"thread": int, "resolved": bool},
    "chat.send": {"body": str},
}


def parse(payload: bytes) -> dict:
    """The message, its fields checked; MalformedMessage otherwise."""
    try:
        message = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise MalformedMessage("an extension message must be JSON") from None
    if not isinstance(message, dict) or message.get("type") not in FIELDS:
        raise MalformedMessage("unknown extension message")
    for name, kind in FIELDS[message["type"]].items():
        value = message.get(name)
        if not isinstance(value, kind) or (kind is int and (isinstance(value, bool) or value < 0)):
            raise MalformedMessage(f"{message['type']}: {name} must be {kind.__name__}")
    ref = message.get("ref", "")
    if not isinstance(ref, str) or len(ref) > MAX_REF:
        raise MalformedMessage("ref must be a short string")
    if message["type"] == "thread.create":
        anchor = message["anchor"]
        message["anchor"] = {"start": check_position(anchor.get("start")), "end": check_position(anchor.get("end"))}
        if len(message["quote"]) > MAX_QUOTE:
            raise MalformedMessage("quote too long")
        message["prefix"], message["suffix"] = message["prefix"][-MAX_CONTEXT:], message["suffix"][:MAX_CONTEXT]
    return message
