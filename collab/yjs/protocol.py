"""The y-websocket wire protocol (y-protocols): framing, sync and awareness messages.

Pure functions over bytes, no Django. A frame is ``varuint(type) + body``:

- ``0`` sync: ``varuint(step) + varUint8Array(payload)`` with step 0 (state
  vector), 1 (update answering a step 1) or 2 (incremental update);
- ``1`` awareness: ``varUint8Array(awareness update)``;
- ``3`` query awareness: no body;
- ``100`` extension (collab's own, server to page only): ``varString(JSON object)``
  whose ``"type"`` says what it is. Only connections that asked for them at the
  handshake (``?ext=1``) get these: a stock client logs an error for a type it
  does not know.

We send exactly one message per frame (the stable browser client reads only the
first); we accept several in one frame, as newer clients may send them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum

from collab.exceptions import MalformedMessage

MAX_VARUINT_BYTES = 8  # 2**56: more than any length or client id that can be real


class MessageType(IntEnum):
    SYNC = 0
    AWARENESS = 1
    AUTH = 2
    QUERY_AWARENESS = 3
    EXTENSION = 100  # far from y-protocols' own numbers, which may grow


class SyncStep(IntEnum):
    STEP1 = 0
    STEP2 = 1
    UPDATE = 2


@dataclass(frozen=True, slots=True)
class Message:
    type: MessageType
    step: SyncStep | None = None  # for sync messages
    payload: bytes = b""


# -- primitives ---------------------------------------------------------------


def write_var_uint(value: int) -> bytes:
    if value < 0:
        raise ValueError("varuint cannot be negative")
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def read_var_uint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Read a varuint at `pos`; return (value, next position)."""
    # Several per keystroke (client ids take 7-8 bytes): indexing past the end
    # is caught once rather than the length checked for every byte.
    try:
        byte = data[pos]
        if byte < 0x80:
            return byte, pos + 1
        value, shift, end = byte & 0x7F, 7, pos + MAX_VARUINT_BYTES
        pos += 1
        while pos < end:
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value, pos
            shift += 7
    except IndexError:
        raise MalformedMessage("truncated varuint") from None
    raise MalformedMessage(f"varuint longer than {MAX_VARUINT_BYTES} bytes")


def read_var_bytes(data: bytes | memoryview, pos: int) -> tuple[bytes, int]:
    length, pos = read_var_uint(data, pos)
    end = pos + length
    if end > len(data):
        raise MalformedMessage(f"length {length} runs past the end of the frame")
    return bytes(data[pos:end]), end


def write_var_bytes(payload: bytes) -> bytes:
    return write_var_uint(len(payload)) + payload


def write_var_string(text: str) -> bytes:
    # The length is in UTF-8 bytes, as lib0 writes it (not in characters).
    return write_var_bytes(text.encode("utf-8"))


def read_var_string(data: bytes | memoryview, pos: int) -> tuple[str, int]:
    raw, pos = read_var_bytes(data, pos)
    try:
        return raw.decode("utf-8"), pos
    except UnicodeDecodeError:
        raise MalformedMessage("string is not valid UTF-8") from None


# -- frames -------------------------------------------------------------------


def decode_frame(frame: bytes, *, from_server: bool = False, extensions: bool = False) -> list[Message]:
    """Every message in a frame; MalformedMessage on anything we do not understand.

    Clients never send auth (type 2) messages, and extension (100) messages only on
    a connection that asked for them (`extensions`, `?ext=1`); a client reading the
    server's frames passes `from_server=True` to accept both (an auth message's
    payload is the rest of the frame, an extension's its JSON text).
    """
    if not frame:
        raise MalformedMessage("empty frame")
    view = memoryview(frame)
    messages = []
    pos = 0
    while pos < len(view):
        kind, pos = read_var_uint(view, pos)
        if kind == MessageType.SYNC:
            step, pos = read_var_uint(view, pos)
            if step not in SyncStep._value2member_map_:
                raise MalformedMessage(f"unknown sync step {step}")
            payload, pos = read_var_bytes(view, pos)
            messages.append(Message(MessageType.SYNC, SyncStep(step), payload))
        elif kind == MessageType.AWARENESS:
            payload, pos = read_var_bytes(view, pos)
            messages.append(Message(MessageType.AWARENESS, None, payload))
        elif kind == MessageType.QUERY_AWARENESS:
            messages.append(Message(MessageType.QUERY_AWARENESS))
        elif kind == MessageType.AUTH and from_server:
            messages.append(Message(MessageType.AUTH, None, bytes(view[pos:])))
            pos = len(view)
        elif kind == MessageType.EXTENSION and (from_server or extensions):
            payload, pos = read_var_bytes(view, pos)
            messages.append(Message(MessageType.EXTENSION, None, payload))
        else:
            raise MalformedMessage(f"unknown message type {kind}")
    return messages


def sync_step1(state_vector: bytes) -> bytes:
    return b"\x00\x00" + write_var_bytes(state_vector)


def sync_step2(update: bytes) -> bytes:
    return b"\x00\x01" + write_var_bytes(update)


def sync_update(update: bytes) -> bytes:
    return b"\x00\x02" + write_var_bytes(update)


def awareness_frame(awareness_update: bytes) -> bytes:
    return b"\x01" + write_var_bytes(awareness_update)


QUERY_AWARENESS_FRAME = b"\x03"


def rights_frame(role: str, can_write: bool, reason: str = "") -> bytes:
    """Tell a client its rights: an auth message (type 2, "permission denied") whose
    reason is JSON. Our page reads it to switch the editor to or from read-only;
    stock clients only log it.
    """
    body = json.dumps({"role": role, "canWrite": can_write, "reason": reason}, separators=(",", ":"))
    return b"\x02\x00" + write_var_string(body)


def extension_frame(message: dict) -> bytes:
    """One of collab's own messages: type 100 and a JSON object with a "type" field,
    e.g. {"type": "title", "title": "Plans"}. For connections that asked (`?ext=1`)."""
    return bytes([MessageType.EXTENSION]) + write_var_string(json.dumps(message, separators=(",", ":")))


# -- awareness updates --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AwarenessEntry:
    client_id: int
    clock: int
    state: str  # the JSON text as sent; "null" means the client is gone

    @property
    def removed(self) -> bool:
        return self.state == "null"

    def parsed(self):
        return json.loads(self.state)


def decode_awareness(payload: bytes, *, max_entries: int = 1000) -> list[AwarenessEntry]:
    view = memoryview(payload)
    count, pos = read_var_uint(view, 0)
    if count > max_entries:
        raise MalformedMessage(f"awareness update claims {count} entries")
    entries = []
    for _ in range(count):
        client_id, pos = read_var_uint(view, pos)
        clock, pos = read_var_uint(view, pos)
        state, pos = read_var_string(view, pos)
        try:
            json.loads(state)
        except ValueError:
            raise MalformedMessage("awareness state is not JSON") from None
        entries.append(AwarenessEntry(client_id, clock, state))
    if pos != len(view):
        raise MalformedMessage("trailing bytes after awareness entries")
    return entries


def encode_awareness(entries: list[AwarenessEntry]) -> bytes:
    return write_var_uint(len(entries)) + b"".join(map(_encode_entry, entries))


def _encode_entry(entry: AwarenessEntry) -> bytes:
    return write_var_uint(entry.client_id) + write_var_uint(entry.clock) + write_var_string(entry.state)


AWARENESS_HEADER_BYTES = 9  # an awareness message's bytes before its entries: type, length, count


def awareness_frames(entries: list[AwarenessEntry], max_bytes: int) -> list[bytes]:
    """Awareness messages carrying `entries` in order, each within `max_bytes` (an
    entry larger than that goes alone); one, with no entries, for none."""
    runs: list[list[bytes]] = [[]]
    space = max_bytes - AWARENESS_HEADER_BYTES  # left in the last run
    for encoded in map(_encode_entry, entries):
        if runs[-1] and len(encoded) > space:
            runs.append([])
            space = max_bytes - AWARENESS_HEADER_BYTES
        runs[-1].append(encoded)
        space -= len(encoded)
    return [awareness_frame(write_var_uint(len(run)) + b"".join(run)) for run in runs]
