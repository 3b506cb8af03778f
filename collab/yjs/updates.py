"""A structural check of Yjs V1 updates, before pycrdt decodes them.

pycrdt (yrs) reserves memory for the counts an update claims before it reads
the elements: a few hostile bytes claiming hundreds of millions of entries cost
it half a second and hundreds of megabytes, with the GIL held. This walk reads
the same format (Yjs `UpdateDecoderV1`: structs, then the delete set) without
building anything, and refuses any count that the remaining bytes cannot hold,
since every element takes at least one byte. Its cost is linear in the size of
the update, which the frame limit bounds.
"""

from __future__ import annotations

from collab.exceptions import RejectedUpdate
from collab.yjs.protocol import MalformedMessage, read_var_uint

MAX_CLOCK = 2**53  # Yjs clocks are JavaScript integers
MAX_ANY_DEPTH = 64

# Struct kinds (the low 5 bits of a struct's info byte).
GC, DELETED, JSON, BINARY, STRING, EMBED, FORMAT, TYPE, ANY, DOC, SKIP = range(11)
TYPE_REFS_WITH_KEY = (3, 5)  # XmlElement (node name) and XmlHook (key)
TYPE_REF_MAX = 6


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.pos = 0

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def uint(self) -> int:
        value, self.pos = read_var_uint(self.data, self.pos)
        return value

    def count(self, what: str, min_size: int = 1) -> int:
        value = self.uint()
        if value * min_size > self.remaining():
            raise RejectedUpdate(f"{what} count {value} cannot fit in {self.remaining()} bytes")
        return value

    def clock(self) -> int:
        value = self.uint()
        if value >= MAX_CLOCK:
            raise RejectedUpdate(f"clock or length {value} out of range")
        return value

    def skip(self, size: int) -> None:
        if size > self.remaining():
            raise RejectedUpdate(f"{size} bytes claimed, {self.remaining()} left")
        self.pos += size

    def byte(self) -> int:
        self.skip(1)
        return self.data[self.pos - 1]

    def bytes(self) -> None:
        self.skip(self.uint())

    def string_length(self) -> int:
        """Skip a string; return its length in UTF-16 code units, as Yjs clocks count it."""
        start = self.pos
        self.bytes()
        raw = self.data[start : self.pos].tobytes()
        _, begin = read_var_uint(raw, 0)
        text = raw[begin:]
        # Every byte but UTF-8's continuation bytes starts a character; 4-byte ones take two units.
        return sum(1 for b in text if b & 0xC0 != 0x80) + sum(1 for b in text if b >= 0xF0)

    def signed(self) -> None:
        byte = self.byte()
        for _ in range(9):
            if byte < 0x80:
                return
            byte = self.byte()
        raise RejectedUpdate("varint too long")

    def any(self, depth: int = 0) -> None:
        if depth > MAX_ANY_DEPTH:
            raise RejectedUpdate("value nested too deeply")
        kind = self.byte()  # lib0 writes 127 - its type index
        if kind in (127, 126, 121, 120):  # undefined, null, false, true
            return
        if kind == 125:
            self.signed()
        elif kind == 124:
            self.skip(4)
        elif kind in (123, 122):
            self.skip(8)
        elif kind in (119, 116):  # string, bytes
            self.bytes()
        elif kind == 118:  # object: key, value pairs
            for _ in range(self.count("object entry", 2)):
                self.bytes()
                self.any(depth + 1)
        elif kind == 117:  # array
            for _ in range(self.count("array element")):
                self.any(depth + 1)
        else:
            raise RejectedUpdate(f"unknown value type {kind}")


def check_update_structure(update: bytes) -> int:
    """Raise RejectedUpdate unless `update` is a well-formed V1 update with plausible counts.

    Returns how many structs and deletions (ranges of the delete set) it holds.
    """
    return walk_update(update)[0]


def walk_update(update: bytes) -> tuple[int, dict[int, int]]:
    """`check_update_structure`, and the clients the update writes as: {client id: the
    clock past its last struct}. (pycrdt's `get_state` of an update counts only
    clients whose structs start at clock 0: nothing of a keystroke's update.)"""
    reader = _Reader(update)
    pieces = 0
    clients: dict[int, int] = {}
    try:
        for _ in range(reader.count("client", 3)):
            structs = reader.count("struct")
            pieces += structs
            client = reader.uint()
            clock = reader.clock()
            for _ in range(structs):
                clock += _struct(reader)
            clients[client] = max(clock, clients.get(client, 0))
        for _ in range(reader.count("delete set client", 2)):
            reader.uint()
            deletions = reader.count("deletion", 2)
            pieces += deletions
            for _ in range(deletions):
                reader.clock()
                reader.clock()
    except MalformedMessage as exc:
        raise RejectedUpdate(f"malformed update: {exc}") from None
    if reader.remaining():
        raise RejectedUpdate(f"{reader.remaining()} trailing bytes after the update")
    return pieces, clients


def _struct(reader: _Reader) -> int:
    """Read one struct; return its length in clock ticks."""
    info = reader.byte()
    kind = info & 0b11111
    if kind in (GC, SKIP):
        return reader.clock()
    has_origin, has_right_origin = info & 0x80, info & 0x40
    if has_origin:
        reader.uint(), reader.clock()
    if has_right_origin:
        reader.uint(), reader.clock()
    if not (has_origin or has_right_origin):
        if reader.uint() == 1:  # parent is a named root type
            reader.bytes()
        else:  # parent is an item id
            reader.uint(), reader.clock()
        if info & 0x20:  # parent sub (map key)
            reader.bytes()
    if kind == DELETED:
        return reader.clock()
    if kind == JSON:
        count = reader.count("JSON value")
        for _ in range(count):
            reader.bytes()
        return count
    if kind == STRING:
        return reader.string_length()
    if kind in (BINARY, EMBED):
        reader.bytes()
    elif kind == FORMAT:
        reader.bytes()
        reader.bytes()
    elif kind == TYPE:
        ref = reader.uint()
        if ref > TYPE_REF_MAX:
            raise RejectedUpdate(f"unknown type ref {ref}")
        if ref in TYPE_REFS_WITH_KEY:
            reader.bytes()
    elif kind == ANY:
        count = reader.count("value")
        for _ in range(count):
            reader.any()
        return count
    elif kind == DOC:
        reader.bytes()
        reader.any()
    else:
        raise RejectedUpdate(f"unknown struct kind {kind}")
    return 1
