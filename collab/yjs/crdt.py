"""Guards around pycrdt: it can raise ValueError, or PanicException (a BaseException)."""

from __future__ import annotations

import asyncio
import logging

from pycrdt import Doc, Text, get_state

from collab.exceptions import RejectedUpdate
from collab.yjs.protocol import read_var_uint
from collab.yjs.updates import walk_update

logger = logging.getLogger(__name__)

TEXT_NAME = "content"  # the Y.Text that holds a document's text
EMPTY_UPDATE = b"\x00\x00"  # no structs, no deletions
EMPTY_STATE_VECTOR = b"\x00"  # a client that holds nothing yet: a new tab

_NOT_OURS = (KeyboardInterrupt, SystemExit, asyncio.CancelledError, GeneratorExit)


def apply_update(doc: Doc, update: bytes) -> None:
    """Apply an update or raise RejectedUpdate; a Rust panic is turned into that too."""
    _guarded(doc.apply_update, update)


def _guarded(call, update: bytes):
    try:
        return call(update)
    except BaseException as exc:
        if isinstance(exc, _NOT_OURS):
            raise
        raise RejectedUpdate(f"update rejected by the CRDT: {exc!r}") from None


def apply_stored(doc: Doc, update: bytes) -> bool:
    """Apply a stored update; a bad one is logged and skipped rather than blocking a load."""
    try:
        apply_update(doc, update)
        return True
    except RejectedUpdate as exc:
        logger.error("skipping a stored update: %s", exc)
        return False


# Applying an update can grow a document's encoding by more than the update's own
# bytes: a struct inserted inside an existing item, or a deletion that starts or
# ends inside one, splits that item, and each part is then encoded with its own
# origins (up to 13 bytes each) and length. Each struct can split up to two items
# (at its origin and at its right origin), each deletion two (at its ends).
SPLIT_BYTES = 32


def check_update(update: bytes) -> int:
    """Raise RejectedUpdate unless the bytes are a plausible update that pycrdt decodes.

    The structural walk comes first: it refuses hostile length claims cheaply,
    before the decoder would allocate for them. Then pycrdt decodes every struct,
    as applying would, but without a scratch Doc to apply it to: that cost twice
    as much, a Doc and its transaction per keystroke.

    Returns the most that applying it can add to a document's encoded size.
    """
    return checked_update(update)[0]


def checked_update(update: bytes) -> tuple[int, dict[int, int]]:
    """`check_update`, and the clients it writes as: {client id: the clock past its last struct}."""
    pieces, clients = walk_update(update)
    _guarded(get_state, update)  # pycrdt decodes every struct, as applying would
    return len(update) + 2 * SPLIT_BYTES * pieces, clients


def decode_state_vector(state_vector: bytes) -> dict[int, int]:
    """{client id: clock} of an encoded state vector (pycrdt's, so well-formed)."""
    clocks = {}
    count, pos = read_var_uint(state_vector, 0)
    for _ in range(count):
        client, pos = read_var_uint(state_vector, pos)
        clocks[client], pos = read_var_uint(state_vector, pos)
    return clocks


def check_state_vector(state_vector: bytes) -> None:
    """A state vector is varuint(n) then n (client, clock) pairs: check it before pycrdt reads it.

    pycrdt allocates for the claimed count before reading, so a short hostile
    vector claiming millions of entries costs a lot; each entry takes 2 bytes at least.
    """
    try:
        count, pos = read_var_uint(state_vector, 0)
        if count * 2 > len(state_vector) - pos:
            raise RejectedUpdate(f"state vector claims {count} entries in {len(state_vector)} bytes")
        for _ in range(count * 2):
            _, pos = read_var_uint(state_vector, pos)
    except RejectedUpdate:
        raise
    except Exception as exc:
        raise RejectedUpdate(f"malformed state vector: {exc}") from None
    if pos != len(state_vector):
        raise RejectedUpdate("trailing bytes after the state vector")


def new_doc() -> tuple[Doc, Text]:
    doc = Doc()
    return doc, doc.get(TEXT_NAME, type=Text)
