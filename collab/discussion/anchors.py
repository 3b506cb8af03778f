"""Where a thread is: two Yjs relative positions, as Yjs writes them in JSON.

`Y.relativePositionToJSON` gives {"item": {"client", "clock"}, "assoc"} for a
position next to a character, or {"tname": "content", "assoc"} for the end of
the text. They follow the text as people edit; when everything between them is
deleted, both resolve to the same place and the thread is detached.
"""

from __future__ import annotations

import asyncio

from pycrdt import StickyIndex, Text

from collab.exceptions import MalformedMessage
from collab.yjs.crdt import TEXT_NAME

MAX_CLOCK = 2**53
_NOT_OURS = (KeyboardInterrupt, SystemExit, asyncio.CancelledError, GeneratorExit)


def check_position(data) -> dict:
    """The position, reduced to the fields Yjs writes; MalformedMessage if it is not one."""
    if not isinstance(data, dict):
        raise MalformedMessage("an anchor position must be an object")
    assoc = data.get("assoc", 0)
    if not isinstance(assoc, int) or isinstance(assoc, bool) or abs(assoc) > 2**31:
        raise MalformedMessage("an anchor's assoc must be an integer")
    item = data.get("item")
    if item is not None:
        if not isinstance(item, dict) or not all(
            isinstance(item.get(key), int) and not isinstance(item.get(key), bool) and 0 <= item[key] < MAX_CLOCK
            for key in ("client", "clock")
        ):
            raise MalformedMessage("an anchor's item must be {client, clock}")
        return {"item": {"client": item["client"], "clock": item["clock"]}, "assoc": assoc}
    if data.get("tname") == TEXT_NAME:
        return {"tname": TEXT_NAME, "assoc": assoc}
    raise MalformedMessage("an anchor position names neither an item nor the text")


def resolve(text: Text, position: dict) -> int | None:
    """Where the position is in `text` now (pycrdt's offset), or None if the text has no such item."""
    if "item" not in position:
        return len(text)
    try:
        return StickyIndex.from_json(position, text).get_index()
    except BaseException as exc:  # an unknown item makes pycrdt panic (a BaseException)
        if isinstance(exc, _NOT_OURS):
            raise
        return None
