"""Load benchmark for collab's WebSocket relay: real daphne workers, real y-websocket clients.

Two configurations run one after the other: one worker with the in-memory channel
layer, then two workers sharing a private Redis. For each:

- "rooms": R rooms x C clients, each client inserting E marked edits per second
  for D seconds. Fan-out latency is the time from a local insert to the moment
  another client of the room receives an update holding that edit's marker.
- "join": one document of 1 MB of text; time from connect to synced for fresh
  clients, with the room already open in the worker (warm) and not (cold).

Usage: .venv/bin/python bench/run.py [--rooms 20] [--clients 5] [--rate 2] [--duration 20]
See bench/README.md. Results go to the terminal and bench/results/latest.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import math
import multiprocessing
import os
import platform
import random
import re
import resource
import secrets
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.postgres import ready_wal_segments, recreate_database  # noqa: E402
from bench.procstats import cpu_used, machine_busy, postgres_cpu, proc_sample  # noqa: E402
from bench.workers import logged_lines, start_workers, stop_workers  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/collab_bench"
SERVER_ENV = {"LOG_LEVEL": "WARNING"}  # keeps the worker logs small; warnings are what we look for
JOIN_CLIENTS = 10  # most clients the join scenario has open at once, with margin
LOOPBACK = {"127.0.0.1", "localhost", "::1", ""}
database_note = ""  # what bench.postgres found and did, for the report

CONNECT_TIMEOUT = 30.0  # seconds for one client to connect and sync
CONNECT_CONCURRENCY = 10  # clients connecting at once: a burst of 100 handshakes is not what we measure
QUIET_TIMEOUT = 10.0  # seconds after the last edit for missing deliveries (anti-entropy repairs in ~1 s)
JOIN_BYTES = 1024 * 1024
JOIN_CHUNK = 10 * 1024
JOINS = 5

MARKER = re.compile(rb"\[c(\d+)-(\d+)\]")


# -- options and database -------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark collab's relay on one and two daphne workers.")
    parser.add_argument("--rooms", type=int, default=20, help="documents edited at once (default 20)")
    parser.add_argument("--clients", type=int, default=5, help="clients per room (default 5)")
    parser.add_argument("--rate", type=float, default=2.0, help="edits per second per client (default 2)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of editing (default 20)")
    parser.add_argument("--only", choices=["one", "two"], help="run one configuration only")
    parser.add_argument("--skip-join", action="store_true", help="skip the 1 MB join scenario")
    parser.add_argument(
        "--procs", type=int, default=1, help="generator processes; rooms are split between them (default 1)"
    )
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help="benchmark database, dropped and recreated; its name must contain 'bench'"
        f" (default {DEFAULT_DATABASE_URL})",
    )
    args = parser.parse_args(argv)
    if args.rooms < 1 or args.clients < 2 or args.rate <= 0 or args.duration <= 0 or args.procs < 1:
        parser.error("need --rooms >= 1, --clients >= 2, --rate > 0, --duration > 0, --procs >= 1")
    args.procs = min(args.procs, args.rooms)  # a room never spans two generator processes
    return args


def reset_database(url: str) -> str:
    """Drop and recreate the benchmark database; return its URL (sqlite paths made absolute).

    It is destroyed, so it must be local and named for the bench: a mistyped URL
    must not wipe the CI's `test` database or real data.
    """
    import dj_database_url

    config = dj_database_url.parse(url)
    name = str(config["NAME"])
    if "bench" not in Path(name).name:
        raise SystemExit(f"refusing to drop {name!r}: the benchmark database's name must contain 'bench'")
    if config["ENGINE"].endswith("sqlite3"):
        path = Path(name).resolve()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    if config.get("HOST") not in LOOPBACK:
        raise SystemExit(f"refusing a database on {config['HOST']!r}: the bench runs on 127.0.0.1 only")
    global database_note
    params = {k: config[K] for k, K in (("user", "USER"), ("password", "PASSWORD"), ("host", "HOST")) if config.get(K)}
    if config.get("PORT"):
        params["port"] = config["PORT"]
    recreate_database(name, **params)
    database_note = ready_wal_segments(**params)  # a measurement must not pay for a new cluster's first files
    return url


def setup_django(database_url: str) -> None:
    """Configure Django in this process; the workers get the same database via tests.servers."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["SECRET_KEY"] = os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50)
    os.environ["DEBUG"] = "0"
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = ""  # this process uses no channel layer; each Server gets its own
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


@dataclass
class Fixtures:
    cookie: str
    room_docs: list[str]
    join_doc: str


def make_fixtures(rooms: int, label: str) -> Fixtures:
    """A user, a session and fresh documents for one configuration."""
    from django.contrib.auth import get_user_model

    from collab.models import Document
    from tests.conftest import session_cookie

    user, _ = get_user_model().objects.get_or_create(username="bench")
    docs = [Document.objects.create(owner=user, title=f"bench {label} room {i}") for i in range(rooms)]
    join = Document.objects.create(owner=user, title=f"bench {label} join")
    return Fixtures(session_cookie(user), [str(d.id) for d in docs], str(join.id))


# -- processes we started: CPU and memory from /proc -----------------------------


# -- configurations ---------------------------------------------------------------


class Deployment:
    """The workers (and Redis) of one configuration; stop() ends all of them."""

    def __init__(self, key: str, workers: int, clients: int):
        from tests.servers import RedisServer

        self.key = key
        # All clients are one user's: let a worker take every one of them.
        self.env = {**SERVER_ENV, "COLLAB_MAX_CONNECTIONS_PER_USER": str(clients + JOIN_CLIENTS)}
        self.workers = workers
        self.title = "1 worker, in-memory layer" if workers == 1 else f"{workers} workers, Redis layer"
        self.redis = RedisServer() if workers > 1 else None
        self.servers: list = []  # tests.servers.Server, one per worker
        self.log_offsets: dict[Path, int] = {}

    def start(self) -> Deployment:
        if self.redis is not None:
            self.redis.start()
        redis_url = self.redis.url if self.redis else ""
        self.servers, self.log_offsets = start_workers(
            self.workers, redis_url=redis_url, env=self.env, log_prefix=f"bench-{self.key}"
        )
        return self

    def stop(self) -> None:
        stop_workers(self.servers)
        if self.redis is not None:
            self.redis.stop()

    def samples(self) -> dict[str, dict]:
        pids = {f"worker {i + 1}": s.proc.pid for i, s in enumerate(self.servers)}
        if self.redis is not None:
            pids["redis"] = self.redis.proc.pid
        return {name: proc_sample(pid) for name, pid in pids.items()}

    def log_problems(self) -> list[str]:
        """WARNING/ERROR lines and tracebacks the workers logged during this run."""
        words = (" WARNING ", " ERROR ", " CRITICAL ", "Traceback")
        return [f"{path.name}: {line}" for path, line in logged_lines(self.log_offsets, words)]


# -- scenario "rooms": the generator -------------------------------------------------


@dataclass
class Params:
    rooms: int
    clients: int
    rate: float
    duration: float
    ws_urls: list[str]  # one per worker
    origins: list[str]
    cookie: str
    room_docs: list[str]


@dataclass
class Probe:
    """What one generator process measured."""

    latencies: list[float] = field(default_factory=list)  # fan-out, seconds
    crossing: list[float] = field(default_factory=list)  # the part of them between two workers
    echoes: list[float] = field(default_factory=list)  # insert to own echo: commit + relay
    lags: list[float] = field(default_factory=list)  # how late edits went out against their schedule
    edits: int = 0
    planned: int = 0
    expected: int = 0
    frames: int = 0  # update messages received by all clients, echoes included
    cpu: float = 0.0  # this process, during the edit phase
    wall: float = 0.0
    converged: int = 0
    rooms: int = 0
    texts: dict[int, str | None] = field(default_factory=dict)  # room -> its text when converged
    lost: list[str] = field(default_factory=list)  # connections the server closed


def boundary_position(text: str, rng: random.Random) -> int:
    """A random position between two markers.

    Inserting only at marker boundaries keeps every marker whole in the text, so it
    stays verbatim in any update the server builds later (a catch-up re-encodes
    items; one split by an insert would show up in two pieces).
    """
    starts = [m.start() for m in re.finditer(r"\[", text)]
    return rng.choice(starts + [len(text)])


class RoomsLoad:
    """The clients of some rooms, their edits and what they received."""

    def __init__(self, params: Params, room_indices: list[int], seed: int):
        self.p = params
        self.room_indices = room_indices
        self.rng = random.Random(seed)
        self.sent: dict[bytes, float] = {}  # marker -> time of the local insert
        self.seen: set[tuple[bytes, int]] = set()
        self.probe = Probe(rooms=len(room_indices))
        self.clients: dict[int, list] = {}  # room -> its YClients

    def on_update(self, receiver: int, payload: bytes) -> None:
        now = time.monotonic()
        for match in MARKER.finditer(payload):
            marker = match.group(0)
            sent_at = self.sent.get(marker)
            if sent_at is None or (marker, receiver) in self.seen:
                continue
            self.seen.add((marker, receiver))
            if int(match.group(1)) == receiver:
                self.probe.echoes.append(now - sent_at)
            else:
                self.probe.latencies.append(now - sent_at)
                if self.worker_of(int(match.group(1))) != self.worker_of(receiver):
                    self.probe.crossing.append(now - sent_at)

    def worker_of(self, sender: int) -> int:
        """Clients of a room alternate between the workers."""
        return (sender % self.p.clients) % len(self.p.ws_urls)

    async def connect(self) -> None:
        from tests.yclient import YClient

        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def one(room: int, k: int):
            sender = room * self.p.clients + k
            w = self.worker_of(sender)  # every room has clients on every worker
            url = f"{self.p.ws_urls[w]}/ws/docs/{self.p.room_docs[room]}/"
            client = YClient.websocket(url, cookie=self.p.cookie, origin=self.p.origins[w], name=f"c{sender}")
            client.on_update = lambda payload, s=sender: self.on_update(s, payload)
            async with gate:
                try:
                    await client.connect(timeout=CONNECT_TIMEOUT)
                except TimeoutError:
                    raise RuntimeError(f"{client.name} not synced; closed with {client.close_code}") from None
            return client

        for room in self.room_indices:
            self.clients[room] = await asyncio.gather(*(one(room, k) for k in range(self.p.clients)))

    async def edit(self, client, sender: int, start: float) -> None:
        count = int(self.p.rate * self.p.duration)
        offset = self.rng.random() / self.p.rate  # spread clients over the period
        for n in range(count):
            due = start + offset + n / self.p.rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.probe.lags.append(max(0.0, -delay))
            if client.closed.is_set():
                return
            marker = f"[c{sender}-{n}]"
            position = boundary_position(client.value(), self.rng)
            self.sent[marker.encode()] = time.monotonic()
            client.insert(position, marker)
            self.probe.edits += 1
            self.probe.expected += self.p.clients - 1

    async def run_edits(self) -> None:
        self.probe.planned = int(self.p.rate * self.p.duration) * self.p.clients * len(self.room_indices)
        start = time.monotonic() + 0.1
        cpu0, wall0 = cpu_seconds(), time.monotonic()
        tasks = [
            self.edit(client, room * self.p.clients + k, start)
            for room, clients in self.clients.items()
            for k, client in enumerate(clients)
        ]
        await asyncio.wait_for(asyncio.gather(*tasks), self.p.duration + 60)
        self.probe.cpu, self.probe.wall = cpu_seconds() - cpu0, time.monotonic() - wall0

    async def settle(self) -> None:
        """Wait for the missing deliveries (bounded), then compare the rooms' texts."""
        deadline = time.monotonic() + QUIET_TIMEOUT
        while len(self.probe.latencies) < self.probe.expected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # a quiet moment before comparing texts
        for room, clients in self.clients.items():
            values = {client.value() for client in clients}
            converged = len(values) == 1
            self.probe.converged += converged
            self.probe.texts[room] = values.pop() if converged else None
        self.probe.frames = sum(c.received_updates for cs in self.clients.values() for c in cs)
        for clients in self.clients.values():
            for client in clients:
                if client.closed.is_set():
                    self.probe.lost.append(f"{client.name} closed with {client.close_code}")

    async def close(self) -> None:
        clients = [c for cs in self.clients.values() for c in cs]
        await asyncio.wait_for(asyncio.gather(*(c.close() for c in clients), return_exceptions=True), 30)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def generate(params: Params, room_indices: list[int], seed: int, barrier) -> Probe:
    """One generator process: connect, meet the others, edit, meet again, settle."""
    load = RoomsLoad(params, room_indices, seed)
    try:
        await load.connect()
        # Waiting in a thread keeps the loop reading the sockets meanwhile.
        await asyncio.to_thread(barrier.wait, CONNECT_TIMEOUT * 4)
        await load.run_edits()
        await asyncio.to_thread(barrier.wait, 60)
        await load.settle()
        return load.probe
    finally:
        await load.close()


def generator_main(params: Params, room_indices: list[int], seed: int, barrier, queue) -> None:
    """Entry point of a generator process: its Probe, or the error, goes to the queue."""
    # Ctrl-C reaches the whole process group: the parent decides, and ends us if need be.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        queue.put(("ok", asyncio.run(generate(params, room_indices, seed, barrier))))
    except BaseException:
        barrier.abort()  # the others (and the parent) stop waiting for us
        queue.put(("error", traceback.format_exc()))


def run_rooms(args, deployment: Deployment, fixtures: Fixtures) -> dict:
    """Run the rooms scenario with `args.procs` generator processes; return the figures."""
    from django.db import connections

    params = Params(
        rooms=args.rooms,
        clients=args.clients,
        rate=args.rate,
        duration=args.duration,
        ws_urls=[s.ws_url for s in deployment.servers],
        origins=[s.url for s in deployment.servers],
        cookie=fixtures.cookie,
        room_docs=fixtures.room_docs,
    )
    connections.close_all()  # forked children must not share our database socket
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(args.procs + 1)
    queue = ctx.Queue()
    children = [
        ctx.Process(
            target=generator_main,
            args=(params, list(range(i, args.rooms, args.procs)), 1000 + i, barrier, queue),
            name=f"bench-generator-{i}",
        )
        for i in range(args.procs)
    ]
    finished = False
    try:
        for child in children:
            child.start()
        barrier.wait(CONNECT_TIMEOUT * 4)  # every client connected
        before, pg_before, busy0, wall0 = deployment.samples(), postgres_cpu(), machine_busy(), time.monotonic()
        barrier.wait(args.duration + 60)  # every edit sent
        after, pg_after, busy, wall = deployment.samples(), postgres_cpu(), machine_busy(), time.monotonic() - wall0
        probes = collect(queue, len(children), timeout=QUIET_TIMEOUT + 60)
        finished = True
    except threading.BrokenBarrierError:
        errors = drain_errors(queue)
        raise RuntimeError("a generator process failed:\n" + "\n".join(errors)) from None
    finally:
        for child in children:
            child.join(timeout=10 if finished else 0)
            if child.is_alive():
                child.terminate()
                child.join(timeout=5)
    stored = stored_matches(fixtures, probes)
    # Backends that lived through the whole edit phase (the workers' pooled connections).
    pg_cpu = cpu_used(pg_before, pg_after) if pg_after else None
    cpu = {name: after[name]["cpu"] - before[name]["cpu"] for name in before}
    if pg_cpu is not None:
        cpu["postgres backends"] = pg_cpu
    cpu.update({f"generator {i + 1}": p.cpu for i, p in enumerate(probes)})
    cpu["whole machine"] = busy - busy0
    return summarize(args, deployment, probes, after, cpu, wall, stored)


def collect(queue, count: int, timeout: float) -> list[Probe]:
    deadline = time.monotonic() + timeout
    probes, errors = [], []
    for _ in range(count):
        status, value = queue.get(timeout=max(0.1, deadline - time.monotonic()))
        (probes if status == "ok" else errors).append(value)
    if errors:
        raise RuntimeError("a generator process failed:\n" + "\n".join(errors))
    return probes


def drain_errors(queue) -> list[str]:
    errors = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            status, value = queue.get(timeout=1)
        except Exception:
            break
        if status == "error":
            errors.append(value)
    return errors or ["(no traceback received)"]


def stored_matches(fixtures: Fixtures, probes: list[Probe]) -> int:
    """Rooms whose converged text is also what the database holds."""
    from collab.storage import persistence

    texts = {room: text for probe in probes for room, text in probe.texts.items()}
    return sum(
        text is not None and persistence.document_text(fixtures.room_docs[room]) == text for room, text in texts.items()
    )


# -- scenario "join" ------------------------------------------------------------------


def join_chunks() -> list[str]:
    """About JOIN_BYTES of prose in JOIN_CHUNK pieces, each starting with its marker."""
    line = "The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.\n"
    chunks, total, i = [], 0, 0
    while total < JOIN_BYTES:
        head = f"[j{i}]"
        size = min(JOIN_CHUNK, JOIN_BYTES - total)
        body = (line * (size // len(line) + 1))[: size - len(head)]
        chunks.append(head + body)
        total += size
        i += 1
    return chunks


async def open_client(server, document_id: str, cookie: str, name: str):
    from tests.yclient import YClient

    url = f"{server.ws_url}/ws/docs/{document_id}/"
    client = YClient.websocket(url, cookie=cookie, origin=server.url, name=name)
    return await client.connect(timeout=60)


async def build_big_document(server, document_id: str, cookie: str):
    """One client types the document chunk by chunk; each echo proves that chunk is stored."""
    builder = await open_client(server, document_id, cookie, "builder")
    echoed = asyncio.Event()
    wanted = b""
    builder.on_update = lambda payload: wanted in payload and echoed.set()
    for i, chunk in enumerate(join_chunks()):
        wanted = f"[j{i}]".encode()
        echoed.clear()
        builder.insert(len(builder.text), chunk)
        await asyncio.wait_for(echoed.wait(), 30)
    return builder


async def timed_joins(servers, document_id: str, cookie: str, pause: float) -> tuple[list[float], int]:
    """Connect-to-synced times of fresh clients, spread over the workers; and how many got it all."""
    times, complete = [], 0
    for i in range(JOINS):
        t0 = time.monotonic()
        client = await open_client(servers[i % len(servers)], document_id, cookie, f"joiner{i}")
        times.append(time.monotonic() - t0)
        complete += len(client.text) == JOIN_BYTES
        await client.close()
        await asyncio.sleep(pause)
    return times, complete


async def join_scenario(servers, document_id: str, cookie: str) -> dict:
    builder = await build_big_document(servers[0], document_id, cookie)
    # A client on every other worker too, so that each worker has the room open.
    holders = [await open_client(s, document_id, cookie, f"holder{i}") for i, s in enumerate(servers[1:])]
    warm, warm_ok = await timed_joins(servers, document_id, cookie, pause=0.1)
    for client in [builder, *holders]:
        await client.close()
    await asyncio.sleep(1.0)  # the last one out unloads the room: the next joins load it from the database
    # The pause lets each joiner's room unload before the next one comes.
    cold, cold_ok = await timed_joins(servers, document_id, cookie, pause=1.0)
    return {"warm": warm, "cold": cold, "complete": warm_ok + cold_ok}


def run_join(deployment: Deployment, fixtures: Fixtures) -> dict:
    from collab.storage import persistence

    result = asyncio.run(asyncio.wait_for(join_scenario(deployment.servers, fixtures.join_doc, fixtures.cookie), 600))
    result["stored"] = len(persistence.document_text(fixtures.join_doc))
    result["samples"] = deployment.samples()
    return result


# -- figures and tables -------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def core_share(seconds: float, wall: float) -> str:
    return f"{seconds:.1f} s ({100 * seconds / max(wall, 1e-9):.0f}% of a core)"


def summarize(args, deployment, probes: list[Probe], after, cpu: dict, wall: float, stored: int) -> dict:
    """The rows of the rooms scenario; `cpu` holds CPU seconds used during the edit phase, by process."""
    latencies = [x for p in probes for x in p.latencies]
    crossing = [x for p in probes for x in p.crossing]
    echoes = [x for p in probes for x in p.echoes]
    lags = [x for p in probes for x in p.lags]
    expected = sum(p.expected for p in probes)
    clients = f"{args.rooms} rooms x {args.clients} = {args.rooms * args.clients}"
    rows = [
        ("clients", f"{clients} on {len(deployment.servers)} worker(s)"),
        ("edits sent / planned", f"{sum(p.edits for p in probes)} / {sum(p.planned for p in probes)}"),
        (
            "fan-out latency p50 / p95 / p99 / max (ms)",
            " / ".join(ms(percentile(latencies, q)) for q in (0.5, 0.95, 0.99, 1.0)),
        ),
        ("echo latency p50 / p99 (ms)", " / ".join(ms(percentile(echoes, q)) for q in (0.5, 0.99))),
        ("deliveries / expected", f"{len(latencies)} / {expected} ({100 * len(latencies) / max(1, expected):.2f}%)"),
        ("deliveries per second", f"{len(latencies) / wall:.0f}"),
        ("update frames received per second (echoes included)", f"{sum(p.frames for p in probes) / wall:.0f}"),
        ("converged rooms / rooms", f"{sum(p.converged for p in probes)} / {sum(p.rooms for p in probes)}"),
        ("rooms whose stored text equals the clients'", f"{stored} / {args.rooms}"),
        ("connections closed by the server", str(sum(len(p.lost) for p in probes))),
    ]
    for name in after:
        rows.append((f"{name}: peak RSS (VmHWM)", f"{after[name]['hwm']:.0f} MB"))
    # Generators measure their own edit phase, which is a little shorter than the parent's.
    walls = {f"generator {i + 1}": p.wall for i, p in enumerate(probes)}
    for name, seconds in cpu.items():
        rows.append((f"{name}: CPU during edits", core_share(seconds, walls.get(name, wall))))
    others = cpu["whole machine"] - sum(seconds for name, seconds in cpu.items() if name != "whole machine")
    rows.append(("rest of the machine (kernel, other processes): CPU", core_share(max(0.0, others), wall)))
    if len(deployment.servers) > 1:
        between = " / ".join(ms(percentile(crossing, q)) for q in (0.5, 0.99, 1.0))
        rows.insert(3, ("fan-out latency between workers p50 / p99 / max (ms)", between))
    lag = f"{ms(percentile(lags, 0.99))} / {ms(percentile(lags, 1.0))}"
    rows.append(("generator: edit schedule lag p99 / max (ms)", lag))
    lost = [line for p in probes for line in p.lost]
    return {"rows": rows, "lost": lost}


def join_rows(join: dict) -> list[tuple[str, str]]:
    def median_and_all(values):
        return f"{ms(statistics.median(values))} (all: {', '.join(ms(x) for x in values)})"

    rows = [
        (f"join 1 MB, warm: median of {JOINS} (ms)", median_and_all(join["warm"])),
        (f"join 1 MB, cold: median of {JOINS} (ms)", median_and_all(join["cold"])),
        ("joiners that received the whole 1 MB", f"{join['complete']} / {2 * JOINS}"),
        ("1 MB document: characters stored / typed", f"{join['stored']} / {JOIN_BYTES}"),
    ]
    for name, sample in join["samples"].items():
        rows.append((f"{name}: peak RSS after join (VmHWM)", f"{sample['hwm']:.0f} MB"))
    return rows


def text_table(title: str, rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    lines = [title, "-" * len(title)]
    lines += [f"{k.ljust(width)}  {v}" for k, v in rows]
    return "\n".join(lines)


def markdown(header: list[str], results: dict[str, dict]) -> str:
    """One table, a column per configuration; a row only one of them has goes after its predecessor."""
    titles = list(results)
    metrics: list[str] = []
    for result in results.values():
        previous = None
        for metric, _ in result["rows"]:
            if metric not in metrics:
                metrics.insert(metrics.index(previous) + 1 if previous else 0, metric)
            previous = metric
    lines = [*header, "", "| metric | " + " | ".join(titles) + " |", "| --- |" + " --- |" * len(titles)]
    for metric in metrics:
        cells = [dict(results[t]["rows"]).get(metric, "") for t in titles]
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    for title, result in results.items():
        if result.get("notes"):
            lines += ["", f"Notes for {title}:", "", *[f"    {line}" for line in result["notes"]]]
    return "\n".join(lines) + "\n"


# -- main ---------------------------------------------------------------------------


def run_configuration(args, key: str, workers: int) -> tuple[str, dict]:
    fixtures = make_fixtures(args.rooms, key)
    deployment = Deployment(key, workers, clients=args.rooms * args.clients)
    try:
        deployment.start()
        print(f"\n== {deployment.title}: rooms scenario ({args.duration:g} s of edits) ...", flush=True)
        result = run_rooms(args, deployment, fixtures)
        if not args.skip_join:
            print(f"== {deployment.title}: join scenario ...", flush=True)
            result["rows"] += join_rows(run_join(deployment, fixtures))
    finally:
        deployment.stop()
    problems = deployment.log_problems()
    result["rows"].append(("worker log warnings/errors", str(len(problems))))
    result["notes"] = result["lost"][:10] + problems[:20]
    print(text_table(deployment.title, result["rows"]))
    for note in result["notes"]:
        print(f"  {note}")
    return deployment.title, result


def code_version() -> str:
    """The commit measured, and whether the working tree differs from it."""
    try:
        run = partial(subprocess.run, cwd=ROOT, capture_output=True, text=True, timeout=10, check=True)
        commit = run(["git", "rev-parse", "--short", "HEAD"]).stdout.strip()
        dirty = run(["git", "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return f"commit {commit}" + (" with uncommitted changes" if dirty else "")


def main(argv=None) -> None:
    args = parse_args(argv)
    database_url = reset_database(args.database_url)
    setup_django(database_url)
    command = shlex.join([".venv/bin/python", "bench/run.py", *(sys.argv[1:] if argv is None else argv)])
    header = [
        f"# collab bench, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        "",
        f"- command: `{command}`",
        f"- code: {code_version()}",
        f"- machine: {os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}",
        f"- database: {database_url.split('@')[-1]}" + (f"; {database_note}" if database_note else ""),
        f"- load: {args.rooms} rooms x {args.clients} clients, {args.rate:g} edits/s each for {args.duration:g} s;"
        f" {args.procs} generator process(es)",
    ]
    results: dict[str, dict] = {}
    plan = [("one", 1), ("two", 2)]
    try:
        for key, workers in plan:
            if args.only in (None, key):
                title, result = run_configuration(args, key, workers)
                results[title] = result
    finally:
        if results:
            out = ROOT / "bench" / "results" / "latest.md"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(markdown(header, results))
            print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
