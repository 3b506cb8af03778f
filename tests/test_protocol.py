"""The wire protocol as pure functions: no Django, no sockets."""

import pytest
from pycrdt import Doc, Text

from collab.exceptions import MalformedMessage, RejectedUpdate
from collab.yjs import protocol
from collab.yjs.crdt import check_state_vector, check_update
from collab.yjs.protocol import AwarenessEntry, Message, MessageType, SyncStep


@pytest.mark.parametrize(
    ("value", "encoded"), [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (300, b"\xac\x02"), (2**32 - 1, None)]
)
def test_varuint_round_trips(value, encoded):
    data = protocol.write_var_uint(value)
    if encoded is not None:
        assert data == encoded
    assert protocol.read_var_uint(data + b"tail", 0) == (value, len(data))


def test_var_string_counts_utf8_bytes_not_characters():
    data = protocol.write_var_string("héllo ✓")
    assert data[0] == len("héllo ✓".encode())
    assert protocol.read_var_string(data, 0) == ("héllo ✓", len(data))


def test_sync_messages_round_trip():
    doc = Doc()
    doc.get("content", type=Text).insert(0, "hi")
    update, state = doc.get_update(), doc.get_state()
    assert protocol.decode_frame(protocol.sync_step1(state)) == [Message(MessageType.SYNC, SyncStep.STEP1, state)]
    assert protocol.decode_frame(protocol.sync_step2(update)) == [Message(MessageType.SYNC, SyncStep.STEP2, update)]
    assert protocol.decode_frame(protocol.sync_update(update)) == [Message(MessageType.SYNC, SyncStep.UPDATE, update)]


def test_empty_sync_step2_is_the_documented_bytes():
    assert protocol.sync_step2(b"\x00\x00") == b"\x00\x01\x02\x00\x00"
    assert protocol.sync_step1(b"\x00") == b"\x00\x00\x01\x00"


def test_awareness_round_trips_with_unicode_names():
    entries = [AwarenessEntry(123456789, 3, '{"user":{"name":"Zoë ✓"}}'), AwarenessEntry(7, 1, "null")]
    frame = protocol.awareness_frame(protocol.encode_awareness(entries))
    (message,) = protocol.decode_frame(frame)
    assert message.type == MessageType.AWARENESS
    assert protocol.decode_awareness(message.payload) == entries
    assert entries[1].removed and not entries[0].removed


def test_several_messages_in_one_frame_are_all_read():
    frame = protocol.sync_step1(b"\x00") + protocol.QUERY_AWARENESS_FRAME
    assert [m.type for m in protocol.decode_frame(frame)] == [MessageType.SYNC, MessageType.QUERY_AWARENESS]


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"", "empty"),
        (b"\x80", "truncated varuint"),
        (b"\x00\x00\x85", "truncated varuint"),
        (b"\xff\xff\xff\xff\xff\xff\xff\xff\xff", "longer than"),
        (b"\x07", "unknown message type"),
        (b"\x02\x00\x00", "unknown message type"),  # auth is never sent by clients
        (b"\x00\x05\x00", "unknown sync step"),
        (b"\x00\x02\x05\x00\x00", "runs past the end"),
        (b"\x01\x03\x01\x01", "runs past the end"),
    ],
)
def test_malformed_frames_are_refused(frame, reason):
    with pytest.raises(MalformedMessage, match=reason):
        protocol.decode_frame(frame)


@pytest.mark.parametrize(
    "payload",
    [
        b"\x01\x01\x01\x03abc",  # state not JSON
        b"\x01\x01\x01\x02\xff\xfe",  # not UTF-8
        b"\x02\x01\x01\x04null",  # claims two entries, has one
        b"\x01\x01\x01\x04nullX",  # trailing bytes
        b"\xe9\x07",  # 1001 entries
    ],
)
def test_malformed_awareness_is_refused(payload):
    with pytest.raises(MalformedMessage):
        protocol.decode_awareness(payload)


def test_hostile_state_vector_claims_are_refused_before_decoding():
    with pytest.raises(RejectedUpdate, match="claims"):
        check_state_vector(b"\xff\xff\xff\x7a")
    with pytest.raises(RejectedUpdate):
        check_state_vector(b"\x01\x05")  # one entry, clock missing
    check_state_vector(b"\x00")
    check_state_vector(Doc().get_state())


def test_updates_that_pycrdt_rejects_are_refused():
    with pytest.raises(RejectedUpdate):
        check_update(b"\x01\x02\x03")
    doc = Doc()
    doc.get("content", type=Text).insert(0, "fine")
    check_update(doc.get_update())
