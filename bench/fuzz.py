"""A longer fuzz run of collab's input handling, with figures.

1. Decoder: random, mutated and hostile frames through the server's own checks
   (`decode_frame`, then `check_update` / `check_state_vector` / `decode_awareness`),
   timing each message and measuring the worker's peak RSS growth per message.
   For contrast, the known hostile inputs are also timed straight through pycrdt.
2. Consumer: random and mutated frames on one WebSocket connection (Channels'
   WebsocketCommunicator, in process) while a second client edits; counts closes
   with a code outside our table and any exception that escapes ("crashes").

    .venv/bin/python bench/fuzz.py [--cases 20000] [--consumer-cases 300] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "fuzz-bench")
os.environ.setdefault("LOG_LEVEL", "ERROR")
os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/fuzz.sqlite3"
os.environ["REDIS_URL"] = ""

import django  # noqa: E402

django.setup()

from pycrdt import Doc, Text  # noqa: E402

from collab.exceptions import CloseCode, ConnectionClosingError  # noqa: E402
from collab.yjs import protocol  # noqa: E402
from collab.yjs.crdt import check_state_vector, check_update  # noqa: E402
from collab.yjs.protocol import MessageType, SyncStep  # noqa: E402

HOSTILE = {
    "state vector claiming 250M entries": protocol.sync_step1(b"\xff\xff\xff\x7a"),
    "update claiming 250M clients": protocol.sync_update(b"\xff\xff\xff\x7a\x00"),
    "update claiming 268M structs": protocol.sync_update(b"\x01\xff\xff\xff\x7f\x01\x00"),
    "any-array claiming 268M values": protocol.sync_update(bytes([1, 1, 1, 0, 8, 1, 4, 1, 65, 0xFF, 0xFF, 0xFF, 0x7F])),
}


def rss_kib(field: str = "VmHWM") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        pass


def valid_frames() -> list[bytes]:
    doc = Doc()
    text = doc.get("content", type=Text)
    updates = []
    doc.observe(lambda event: updates.append(event.update))
    for i in range(20):
        text.insert(len(text) // 2, f"word{i} ")
        if i % 5 == 4:
            del text[0:3]
    return [
        protocol.sync_step1(doc.get_state()),
        protocol.sync_step2(doc.get_update()),
        *(protocol.sync_update(u) for u in updates),
        protocol.awareness_frame(protocol.encode_awareness([protocol.AwarenessEntry(7, 3, '{"user":{"name":"x"}}')])),
        protocol.QUERY_AWARENESS_FRAME,
    ]


def mutate(rng: random.Random, frame: bytes) -> bytes:
    data = bytearray(frame)
    for _ in range(rng.randint(1, 4)):
        op = rng.choice(("flip", "insert", "delete", "truncate", "varint"))
        pos = rng.randrange(max(1, len(data)))
        if op == "flip" and data:
            data[pos] ^= 1 << rng.randrange(8)
        elif op == "insert":
            data[pos:pos] = rng.randbytes(rng.randint(1, 6))
        elif op == "delete" and data:
            del data[pos]
        elif op == "truncate":
            del data[pos:]
        else:  # a large length claim where a varuint may stand
            data[pos:pos] = rng.choice([b"\xff\xff\xff\x7f", b"\x80\x80\x80\x80\x08", b"\xff\xff\x03"])
    return bytes(data)


def server_path(frame: bytes) -> None:
    """What the room does with a client's frame before anything is stored."""
    for message in protocol.decode_frame(frame):
        if message.type == MessageType.SYNC:
            if message.step == SyncStep.STEP1:
                check_state_vector(message.payload)
                Doc().get_update(message.payload)
            else:
                check_update(message.payload)
        elif message.type == MessageType.AWARENESS:
            protocol.decode_awareness(message.payload)


def measure(frame: bytes, fn) -> tuple[float, int, str]:
    reset_peak()
    before = rss_kib("VmRSS")
    started = time.perf_counter()
    outcome = "accepted"
    try:
        fn(frame)
    except ConnectionClosingError as exc:
        outcome = f"closed {exc.code}"
    except Exception as exc:  # an escape: the consumer would log it and close with 4500
        outcome = f"ESCAPED {exc.__class__.__name__}"
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        outcome = f"ESCAPED {exc.__class__.__name__}"
    elapsed = time.perf_counter() - started
    return elapsed, max(0, rss_kib("VmHWM") - before), outcome


def pycrdt_directly(frame: bytes) -> None:
    message = protocol.decode_frame(frame)[0]
    if message.step == SyncStep.STEP1:
        Doc().get_update(message.payload)
    else:
        Doc().apply_update(message.payload)


def decoder_fuzz(cases: int, seed: int) -> dict:
    rng = random.Random(seed)
    valid = valid_frames()
    times, worst_mem, outcomes, escapes = [], (0, ""), {}, []
    worst_time = (0.0, "")
    for _ in range(cases):
        kind = rng.random()
        if kind < 0.2:
            frame = rng.randbytes(rng.randint(0, 64))
        elif kind < 0.25:
            frame = rng.choice(list(HOSTILE.values()))
        else:
            frame = mutate(rng, rng.choice(valid))
        elapsed, grown, outcome = measure(frame, server_path)
        times.append(elapsed)
        key = outcome.split()[0] + (" " + outcome.split()[1] if outcome.startswith("closed") else "")
        outcomes[key] = outcomes.get(key, 0) + 1
        if outcome.startswith("ESCAPED"):
            escapes.append((outcome, frame.hex()))
        if elapsed > worst_time[0]:
            worst_time = (elapsed, frame[:24].hex())
        if grown > worst_mem[0]:
            worst_mem = (grown, frame[:24].hex())
    times.sort()
    return {
        "cases": cases,
        "outcomes": outcomes,
        "escapes": escapes,
        "p50_ms": times[len(times) // 2] * 1000,
        "p99_ms": times[int(len(times) * 0.99)] * 1000,
        "max_ms": worst_time[0] * 1000,
        "max_ms_frame": worst_time[1],
        "max_rss_growth_kib": worst_mem[0],
        "max_rss_frame": worst_mem[1],
    }


def hostile_contrast() -> list[tuple[str, float, int, float, int]]:
    rows = []
    for name, frame in HOSTILE.items():
        ours = measure(frame, server_path)
        raw = measure(frame, pycrdt_directly)
        rows.append((name, ours[0] * 1000, ours[1], raw[0] * 1000, raw[1]))
    return rows


async def consumer_fuzz(cases: int, seed: int) -> dict:
    from channels.db import database_sync_to_async
    from channels.layers import channel_layers
    from channels.testing import WebsocketCommunicator
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from collab.models import Document
    from collab.storage import persistence
    from config.asgi import application

    await database_sync_to_async(call_command)("migrate", verbosity=0)

    def setup():
        user = get_user_model().objects.create_user("fuzzer", password="x" * 12)
        client = Client()
        client.force_login(user)
        return user, f"sessionid={client.cookies['sessionid'].value}"

    user, cookie = await database_sync_to_async(setup)()
    allowed = {code for name, code in vars(CloseCode).items() if name.isupper()} - {CloseCode.INTERNAL}
    rng = random.Random(seed)
    valid = valid_frames()
    stats = {"cases": 0, "closed": 0, "open": 0, "bad_close_codes": [], "diverged": 0}
    headers = [(b"origin", b"http://127.0.0.1"), (b"cookie", cookie.encode())]
    from tests.yclient import CommunicatorTransport, YClient

    for case in range(cases):
        channel_layers.backends.clear()
        document = await database_sync_to_async(Document.objects.create)(owner=user)
        path = f"/ws/docs/{document.id}/"
        good_comm = WebsocketCommunicator(application, path, headers)
        bad = WebsocketCommunicator(application, path, headers)
        await good_comm.connect()
        await bad.connect()
        good = await YClient(CommunicatorTransport(good_comm), name="good").connect()
        code = None
        for i in range(rng.randint(1, 8)):
            frame = mutate(rng, rng.choice(valid)) if rng.random() < 0.8 else rng.randbytes(rng.randint(0, 48))
            good.insert(len(good.text), f"{case}.{i} ")
            await bad.send_input({"type": "websocket.receive", "bytes": frame})
            while not await bad.receive_nothing(timeout=0.005):
                message = await bad.receive_output()
                if message["type"] == "websocket.close":
                    code = message.get("code")
                    break
            if code is not None:
                break
        stats["cases"] += 1
        if code is None:
            stats["open"] += 1
            await bad.disconnect()
        else:
            stats["closed"] += 1
            if code not in allowed:
                stats["bad_close_codes"].append(code)

        # Accepted frames may add text anywhere: the good client's edits must all be
        # there, and it must end up equal to the database.
        markers = [f"{case}.{n} " for n in range(i + 1)]
        deadline = time.monotonic() + 5
        while True:
            stored = await database_sync_to_async(persistence.document_text)(document.id)
            if stored == good.value() and all(marker in stored for marker in markers):
                break
            if time.monotonic() > deadline:
                stats["diverged"] += 1
                stats.setdefault("diverged_cases", []).append((case, good.value()[-60:], stored[-60:]))
                break
            await asyncio.sleep(0.02)
        await good.close()
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--consumer-cases", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    started = time.monotonic()
    contrast = hostile_contrast()
    result = decoder_fuzz(args.cases, args.seed)
    print(f"# Decoder fuzz: {result['cases']} frames (seed {args.seed})")
    print(f"outcomes: {result['outcomes']}")
    print(f"escaped exceptions (crashes): {len(result['escapes'])}")
    for outcome, frame in result["escapes"][:5]:
        print(f"  {outcome}: {frame}")
    print(
        f"per message: p50 {result['p50_ms']:.3f} ms, p99 {result['p99_ms']:.3f} ms, "
        f"worst {result['max_ms']:.2f} ms (frame {result['max_ms_frame']}...)"
    )
    print(
        f"worst peak-RSS growth for one message: {result['max_rss_growth_kib']} KiB "
        f"(frame {result['max_rss_frame']}...)"
    )
    print("\n# Hostile length claims: our path vs pycrdt alone")
    print("| input | ours ms | ours RSS KiB | pycrdt alone ms | pycrdt alone RSS KiB |")
    print("|---|---:|---:|---:|---:|")
    for name, ours_ms, ours_kib, raw_ms, raw_kib in contrast:
        print(f"| {name} | {ours_ms:.3f} | {ours_kib} | {raw_ms:.1f} | {raw_kib} |")
    if args.consumer_cases:
        stats = asyncio.run(consumer_fuzz(args.consumer_cases, args.seed))
        print(f"\n# Consumer fuzz: {stats['cases']} connections")
        print(
            f"closed by the server: {stats['closed']}, still open: {stats['open']}, "
            f"close codes outside the table: {stats['bad_close_codes'] or 'none'}, "
            f"second client or database diverged: {stats['diverged']}"
        )
        for case, client_text, stored_text in stats.get("diverged_cases", [])[:5]:
            print(f"  case {case}: client …{client_text!r}, database …{stored_text!r}")
    print(f"\ntook {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
