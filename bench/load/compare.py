"""collab side by side with the Node servers people would pick instead.

Every server is driven by the same Node load generator (bench/load/generator.mjs,
the reference yjs / y-protocols / lib0 packages over `ws`), on 127.0.0.1 only:

- collab: daphne via `manage.py serve`, DEBUG off, PostgreSQL (database
  collab_load); one worker with the in-memory layer ("collab"), and two workers
  with channels-redis on a private redis-server ("collab-2w"); on request, one
  worker recording its metrics as deployed, scraped ("collab-metrics");
- @hocuspocus/server alone ("hocuspocus"), and two instances with
  @hocuspocus/extension-redis on a private redis-server ("hocuspocus-redis");
- @y/websocket-server, the reference y-websocket server ("y-websocket").

Scenarios (the same for every server; see bench/load/README.md):
  A  20 rooms x 5 clients, 2 edits/s each, 30 s
  B  1 room x 50 clients, 1 edit/s each, 30 s
  C  1,000 idle connections in 100 rooms: server RSS per connection
  D  join time (connect to synced) of a 1 MiB document, median of 7
  E  most connections (100 rooms, 0.2 edits/s each, 10 s a step) held with fan-out
     p99 < 100 ms and nothing dropped: 500, 1000, 2000, 3000, 4000, up to the first failure
  S  collab only: two workers against one under a saturating closed-loop load

Usage:
  .venv/bin/python bench/load/compare.py                 # everything (about 15 minutes)
  .venv/bin/python bench/load/compare.py --quick         # smoke run, a few seconds each
  .venv/bin/python bench/load/compare.py --servers collab,hocuspocus --scenarios A,B

It prints the tables and writes them to bench/results/compare.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import platform
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
LOAD = BENCH / "load"
RESULTS = BENCH / "results"
LOGS = RESULTS / "logs"
sys.path.insert(0, str(ROOT))

from bench.appends import commit_alone  # noqa: E402
from bench.cpucap import CpuCap  # noqa: E402
from bench.diskprobe import FlushProbe  # noqa: E402
from bench.postgres import LOCAL as POSTGRES  # noqa: E402
from bench.postgres import database_url, ready_wal_segments, recreate_database  # noqa: E402
from bench.procstats import cpu_used, machine_busy, postgres_cpu, proc_sample  # noqa: E402
from bench.run import setup_django  # noqa: E402
from bench.workers import logged_lines, start_workers, stop_workers  # noqa: E402

DATABASE_NAME = "collab_load"
DATABASE_URL = database_url(DATABASE_NAME, **POSTGRES)
SERVER_KINDS = ["collab", "collab-2w", "hocuspocus", "hocuspocus-redis", "y-websocket"]
# Only when named: "collab" with COLLAB_METRICS_DIR set, as deploy/env.example has it, and
# /metrics scraped every METRICS_SCRAPE_S, to set beside "collab", whose series stay in
# the process's memory and are never read (bench/README.md, "Metrics overhead").
OPTIONAL_KINDS = ["collab-metrics"]
METRICS_SCRAPE_S = 5.0
SCENARIOS = ["A", "B", "C", "D", "E", "S"]
# collab's limits raised for a benchmark whose clients are all one account; nothing else changed.
COLLAB_ENV = {
    "LOG_LEVEL": "WARNING",
    "COLLAB_MAX_CONNECTIONS_PER_USER": "100000",
    "COLLAB_METRICS_DIR": "",  # set for collab-metrics only
    "PROMETHEUS_MULTIPROC_DIR": "",
}
E_P99_LIMIT_MS = 100.0


# -- options ------------------------------------------------------------------------


@dataclass
class Plan:
    """Sizes and durations of every scenario (full or --quick)."""

    a_rooms: int = 20
    a_clients: int = 5
    a_rate: float = 2.0
    a_duration: float = 30.0
    b_clients: int = 50
    b_rate: float = 1.0
    b_duration: float = 30.0
    c_rooms: int = 100
    c_per_room: int = 10
    d_bytes: int = 1024 * 1024
    d_chunk: int = 100 * 1024
    d_joins: int = 7
    e_rooms: int = 100
    e_steps: list[int] = field(default_factory=lambda: [500, 1000, 2000, 3000, 4000])
    e_rate: float = 0.2
    e_duration: float = 10.0
    s_rooms: int = 20
    s_clients: int = 5
    s_max_rate: float = 20.0
    s_duration: float = 20.0
    settle_s: float = 10.0

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            a_rooms=4, a_duration=3, b_clients=10, b_duration=3, c_rooms=10, c_per_room=10,
            d_bytes=256 * 1024, d_joins=3, e_rooms=10, e_steps=[50, 100], e_duration=3,
            s_rooms=4, s_duration=3, settle_s=5,
        )  # fmt: skip


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Benchmark collab against Hocuspocus and y-websocket-server.")
    parser.add_argument(
        "--servers", default=",".join(SERVER_KINDS), help=f"comma-separated, from {SERVER_KINDS + OPTIONAL_KINDS}"
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated, from {SCENARIOS}")
    parser.add_argument("--quick", action="store_true", help="smoke run: a few seconds and few clients each")
    parser.add_argument("--duration", type=float, help="seconds of editing in A, B and S")
    parser.add_argument("--e-steps", help="connection counts of E, comma-separated (default 500,1000,2000,3000,4000)")
    parser.add_argument("--e-duration", type=float, help="seconds of editing per step of E (default 10)")
    parser.add_argument("--procs", type=int, default=0, help="generator processes (default: 1, or 2 above 600 clients)")
    parser.add_argument(
        "--s-worker-cpu", type=float, default=0,
        help="in S, hold each collab worker to this %% of one CPU (a cgroup; needs root), so that a worker saturates",
    )  # fmt: skip
    parser.add_argument(
        "--placement", choices=["client", "room"], default="client",
        help="with several server processes: a room's clients alternate between them (client), or each room "
        "sits on one (room)",
    )  # fmt: skip
    parser.add_argument("--collab-log-level", default="WARNING", help="LOG_LEVEL of collab's workers (default WARNING)")
    parser.add_argument("--output", default=str(RESULTS / "compare.md"), help="Markdown report")
    args = parser.parse_args(argv)
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    args.scenarios = [s.strip().upper() for s in args.scenarios.split(",") if s.strip()]
    for s in args.servers:
        if s not in SERVER_KINDS + OPTIONAL_KINDS:
            parser.error(f"unknown server {s!r}")
    for s in args.scenarios:
        if s not in SCENARIOS:
            parser.error(f"unknown scenario {s!r}")
    plan = Plan.quick() if args.quick else Plan()
    if args.duration:
        plan.a_duration = plan.b_duration = plan.s_duration = args.duration
    if args.e_steps:
        plan.e_steps = [int(x) for x in args.e_steps.split(",")]
    if args.e_duration:
        plan.e_duration = args.e_duration
    args.plan = plan
    COLLAB_ENV["LOG_LEVEL"] = args.collab_log_level
    return args


# -- processes: CPU and memory from /proc ------------------------------------------------


def all_processes() -> dict[int, tuple[str, int, float]]:
    """Every process on the machine: PID -> (command name, parent PID, CPU seconds)."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        found[int(entry)] = (name, int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    return found


def others_between(before: dict, after: dict, exclude: set[int]) -> list[tuple[str, float]]:
    """CPU the processes outside the bench used between two snapshots, largest first.

    The bench's own processes (this one and everything it started, directly or
    not) and the PostgreSQL backends serving collab_load are left out.
    """
    ours = {os.getpid()}
    grew = True
    while grew:
        grew = False
        for pid, (_, ppid, _) in after.items():
            if ppid in ours and pid not in ours:
                ours.add(pid)
                grew = True
    used = []
    for pid, (name, _, cpu) in after.items():
        if pid in ours or pid in exclude:
            continue
        delta = cpu - before[pid][2] if pid in before else cpu
        if delta >= 0.05:
            used.append((f"{command_line(pid) or name} ({pid})", delta))
    return sorted(used, key=lambda x: -x[1])


def command_line(pid: int, limit: int = 60) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            text = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_http(port: int, proc: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not answer in {timeout}s; see {log}")


def stop_process(proc: subprocess.Popen | None, timeout: float = 10) -> None:
    """SIGTERM one process we started, by its PID; SIGKILL if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


# -- collab's database -------------------------------------------------------------------


def reset_database() -> None:
    """Drop and recreate collab_load on the local PostgreSQL, then migrate it.

    WAL segments are made ready first (see bench.postgres): a measurement must
    not pay for a new cluster's first files.
    """
    global postgres_wal
    recreate_database(DATABASE_NAME, **POSTGRES)
    postgres_wal = ready_wal_segments(**POSTGRES)
    os.environ["LOG_LEVEL"] = "WARNING"
    setup_django(DATABASE_URL)


def time_commit_alone(appends: int = 500, pace_ms: float = 5) -> None:
    """Time collab's append in collab_load, for the report's header: what every one
    of collab's relays waits for on this machine, and the Node servers' do not."""
    global commit_figure
    p50, p99 = commit_alone(appends, pace_ms)
    commit_figure = (
        f"collab's commit alone (`bench/appends.py`, before the scenarios: one update appended "
        f"{pace_ms} ms after the previous one, {appends} times): p50 {p50 * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms"
    )


_cookie: str | None = None


def collab_cookie() -> str:
    global _cookie
    if _cookie is None:
        from django.contrib.auth import get_user_model

        from tests.conftest import session_cookie

        user, _ = get_user_model().objects.get_or_create(username="bench")
        _cookie = session_cookie(user)
    return _cookie


def collab_documents(count: int, label: str) -> list[str]:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from collab.models import Document

    user = get_user_model().objects.get(username="bench")
    docs = Document.objects.bulk_create([Document(owner=user, title=f"{label} {i}") for i in range(count)])
    connection.close()
    return [str(d.id) for d in docs]


# -- deployments ----------------------------------------------------------------------------


class Deployment:
    kind: str
    dialect = "y"
    processes = 1

    def __init__(self):
        self.redis = None

    def app_pids(self) -> list[int]:
        raise NotImplementedError

    def infra_pids(self) -> list[int]:
        return [self.redis.proc.pid] if self.redis is not None else []

    def rooms(self, count: int, label: str) -> list[str]:
        return [f"{label}-{uuid.uuid4()}" for _ in range(count)]

    def sample(self) -> dict:
        return {
            "app": {pid: proc_sample(pid) for pid in self.app_pids()},
            "infra": {pid: proc_sample(pid) for pid in self.infra_pids()},
            "pg": postgres_cpu() if self.kind.startswith("collab") else {},
            "busy": machine_busy(),
            "t": time.monotonic(),
            "procs": all_processes(),
        }

    def problems(self) -> list[str]:
        return []

    def _start_redis(self):
        from tests.servers import RedisServer

        self.redis = RedisServer().start()

    def _stop_redis(self):
        if self.redis is not None:
            self.redis.stop()


LOG_WORDS = (" INFO collab", " WARNING ", " ERROR ", " CRITICAL ", "Traceback")  # INFO only with --collab-log-level


class CollabDeployment(Deployment):
    def __init__(self, workers: int, label: str, *, metrics: bool = False):
        super().__init__()
        self.kind = "collab-metrics" if metrics else "collab" if workers == 1 else "collab-2w"
        self.processes = workers
        self.label = label
        self.servers = []
        self.log_offsets: dict[Path, int] = {}
        self.metrics_dir = tempfile.TemporaryDirectory(prefix="collab-metrics-") if metrics else None
        self.scraping = threading.Event()
        self.scraper = threading.Thread(target=self._scrape, daemon=True)
        self.scrape_errors: list[str] = []

    def start(self) -> CollabDeployment:
        if self.processes > 1:
            self._start_redis()
        redis_url = self.redis.url if self.redis else ""
        env = {**COLLAB_ENV, "COLLAB_METRICS_DIR": self.metrics_dir.name} if self.metrics_dir else COLLAB_ENV
        self.servers, self.log_offsets = start_workers(
            self.processes, redis_url=redis_url, env=env, log_prefix=f"compare-{self.label}"
        )
        if self.metrics_dir:
            self.scraper.start()
        return self

    def _scrape(self) -> None:
        """Read /metrics as Prometheus would (from 127.0.0.1, allowed without a token)."""
        while not self.scraping.wait(METRICS_SCRAPE_S):
            try:
                with urllib.request.urlopen(f"{self.servers[0].url}/metrics", timeout=5) as response:
                    response.read()
            except OSError as exc:
                self.scrape_errors.append(f"/metrics: {exc!r}")

    def stop(self) -> None:
        self.scraping.set()
        if self.scraper.is_alive():
            self.scraper.join(10)  # a scrape under way ends before its worker does
        stop_workers(self.servers)
        self._stop_redis()
        if self.metrics_dir:
            self.metrics_dir.cleanup()

    def endpoints(self) -> list[dict]:
        cookie = collab_cookie()
        return [
            {"url": f"{s.ws_url}/ws/docs/{{room}}/", "headers": {"Cookie": cookie, "Origin": s.url}}
            for s in self.servers
        ]

    def app_pids(self) -> list[int]:
        return [s.proc.pid for s in self.servers]

    def rooms(self, count: int, label: str) -> list[str]:
        return collab_documents(count, label)

    def problems(self) -> list[str]:
        """WARNING/ERROR lines and tracebacks the workers logged during this deployment."""
        logged = [f"{path.relative_to(ROOT)}: {line}" for path, line in logged_lines(self.log_offsets, LOG_WORDS)]
        return logged + self.scrape_errors


class NodeDeployment(Deployment):
    SCRIPTS = {"hocuspocus": "hocuspocus.mjs", "y-websocket": "y-websocket.mjs"}

    def __init__(self, kind: str, label: str):
        super().__init__()
        self.kind = kind
        self.base = "y-websocket" if kind == "y-websocket" else "hocuspocus"
        self.dialect = "hocuspocus" if self.base == "hocuspocus" else "y"
        self.processes = 2 if kind == "hocuspocus-redis" else 1
        self.label = label
        self.procs: list[subprocess.Popen] = []
        self.ports: list[int] = []
        self.logs: list[Path] = []

    def start(self) -> NodeDeployment:
        if self.processes > 1:
            self._start_redis()
        LOGS.mkdir(parents=True, exist_ok=True)
        for i in range(self.processes):
            port = free_port()
            env = {**os.environ, "PORT": str(port), "NODE_ENV": "production"}
            if self.redis is not None:
                env["REDIS_PORT"] = str(self.redis.port)
            log = LOGS / f"{self.label}-p{i + 1}-{port}.log"
            with open(log, "ab") as out:
                # A session of its own, like collab's workers (see tests/servers.py).
                proc = subprocess.Popen(
                    ["node", str(LOAD / "servers" / self.SCRIPTS[self.base])],
                    cwd=BENCH, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            self.procs.append(proc)
            self.ports.append(port)
            self.logs.append(log)
            wait_http(port, proc, log)
        return self

    def stop(self) -> None:
        for proc in self.procs:
            stop_process(proc)
        self._stop_redis()

    def endpoints(self) -> list[dict]:
        path = "{room}" if self.base == "y-websocket" else ""
        return [{"url": f"ws://127.0.0.1:{port}/{path}", "headers": {}} for port in self.ports]

    def app_pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def problems(self) -> list[str]:
        lines = []
        for log in self.logs:
            if log.exists():
                for line in log.read_text(errors="replace").splitlines():
                    if line.strip() and not line.startswith(("listening ", "running at ")):
                        lines.append(f"{log.relative_to(ROOT)}: {line}")
        return lines


def deploy(kind: str, label: str) -> Deployment:
    if kind == "collab":
        return CollabDeployment(1, label).start()
    if kind == "collab-2w":
        return CollabDeployment(2, label).start()
    if kind == "collab-metrics":
        return CollabDeployment(1, label, metrics=True).start()
    return NodeDeployment(kind, label).start()


# -- the generator ------------------------------------------------------------------------


class Generator:
    """bench/load/generator.mjs, driven phase by phase over its stdin and stdout."""

    def __init__(self, config: dict, label: str):
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log_path = LOGS / f"generator-{label}.log"
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["node", str(LOAD / "generator.mjs")],
            cwd=BENCH, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, bufsize=1,
            start_new_session=True,
        )  # fmt: skip
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.proc.stdin.write(json.dumps(config) + "\n")
        self.proc.stdin.flush()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def expect(self, event: str, timeout: float) -> dict:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"generator: no {event!r} in {timeout:.0f} s (log: {self.log_path})") from None
        if line is None:
            raise RuntimeError(f"generator exited before {event!r} (log: {self.log_path})")
        msg = json.loads(line)
        if msg.get("event") == "error":
            raise RuntimeError(f"generator failed: {msg['error']}")
        if msg.get("event") != event:
            raise RuntimeError(f"generator: expected {event!r}, got {msg.get('event')!r}")
        return msg

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            stop_process(self.proc)
        self.log.close()


def procs_for(clients: int, args) -> int:
    return args.procs or (1 if clients <= 600 else 2)


def base_config(dep: Deployment, args, mode: str, rooms: list[str], per_room: int) -> dict:
    return {
        "mode": mode,
        "dialect": dep.dialect,
        "endpoints": dep.endpoints(),
        "rooms": rooms,
        "clientsPerRoom": per_room,
        "procs": procs_for(len(rooms) * per_room, args),
        "settleTimeoutMs": args.plan.settle_s * 1000,
        "connectTimeoutMs": 30000,
        "connectConcurrency": 16,
        "placeByRoom": args.placement == "room",
    }


def cpu_between(s0: dict, s1: dict) -> dict:
    app = sum(s1["app"][p]["cpu"] - s0["app"][p]["cpu"] for p in s1["app"] if p in s0["app"])
    infra = sum(s1["infra"][p]["cpu"] - s0["infra"][p]["cpu"] for p in s1["infra"] if p in s0["infra"])
    pg = cpu_used(s0["pg"], s1["pg"])
    return {"app": app, "redis": infra, "pg": pg, "busy": s1["busy"] - s0["busy"], "wall": s1["t"] - s0["t"]}


def run_load(dep: Deployment, args, label: str, rooms: int, per_room: int, rate: float, duration: float,
             closed_loop: bool = False, max_rate: float = 20.0) -> dict:  # fmt: skip
    """Rooms of clients editing; the figures of one run."""
    config = base_config(dep, args, "load", dep.rooms(rooms, label), per_room)
    config.update(rate=rate, durationS=duration, closedLoop=closed_loop, maxRate=max_rate)
    gen = Generator(config, label)
    probe = FlushProbe(RESULTS)
    try:
        gen.expect("ready", 120)
        gen.go()
        connected = gen.expect("connected", 60 + rooms * per_room * 0.2)
        probe.start()
        s0 = dep.sample()
        gen.go()
        gen.expect("edited", duration + 120)
        gen.go()
        settled = gen.expect("settled", args.plan.settle_s + 120)
        s1 = dep.sample()
        disk = probe.stop()
        gen.go()
        result = gen.expect("result", 120)
    finally:
        probe.stop()  # also when the scenario failed: no flushing through the next one
        gen.close()
    gen_cpu = settled["cpu"] - connected["cpu"]  # every generator process, over the same interval
    cpu = cpu_between(s0, s1)
    others = others_between(s0["procs"], s1["procs"], set(s0["pg"]) | set(s1["pg"]))
    return {
        **result,
        "connect_s": connected["connectS"],
        "cpu": cpu,
        "gen_cpu": gen_cpu,
        "peak_rss": sum(v["hwm"] for v in s1["app"].values()),
        "other_cpu": max(0.0, cpu["busy"] - cpu["app"] - cpu["redis"] - cpu["pg"] - gen_cpu),
        "other_processes": [f"{name} {cpu_s:.1f} s" for name, cpu_s in others[:5]],
        "machine_pct": 100 * cpu["busy"] / cpu["wall"] / (os.cpu_count() or 1) if cpu["wall"] else None,
        "disk": disk,
    }


def run_idle(dep: Deployment, args, label: str) -> dict:
    p = args.plan
    config = base_config(dep, args, "idle", dep.rooms(p.c_rooms, label), p.c_per_room)
    config["warmupRoom"] = dep.rooms(1, label + "-warmup")[0]
    gen = Generator(config, label)
    try:
        gen.expect("ready", 120)
        time.sleep(1.0)
        s0 = dep.sample()
        gen.go()
        connected = gen.expect("connected", 60 + p.c_rooms * p.c_per_room * 0.2)
        time.sleep(3.0)  # let the servers finish whatever the joins started
        s1 = dep.sample()
        gen.go()
        result = gen.expect("result", 120)
    finally:
        gen.close()
    rss0 = sum(v["rss"] for v in s0["app"].values())
    rss1 = sum(v["rss"] for v in s1["app"].values())
    n = result["connected"]
    return {
        **result,
        "connect_s": connected["connectS"],
        "rss_before": rss0,
        "rss_after": rss1,
        "kib_per_conn": (rss1 - rss0) * 1024 / n if n else None,
        "peak_rss": sum(v["hwm"] for v in s1["app"].values()),
    }


def run_join(dep: Deployment, args, label: str) -> dict:
    p = args.plan
    config = base_config(dep, args, "join", dep.rooms(1, label), 1)
    config["join"] = {"bytes": p.d_bytes, "chunkBytes": p.d_chunk, "joins": p.d_joins}
    config["connectTimeoutMs"] = 60000
    gen = Generator(config, label)
    try:
        gen.expect("ready", 120)
        gen.go()
        connected = gen.expect("connected", 300)
        gen.go()
        result = gen.expect("result", 60 + p.d_joins * 70)
        s1 = dep.sample()
    finally:
        gen.close()
    return {**result, "seeded": connected.get("seeded"), "peak_rss": sum(v["hwm"] for v in s1["app"].values())}


def load_ok(r: dict) -> tuple[bool, str]:
    """Scenario E's criterion: p99 under 100 ms, nothing dropped, no closes, converged."""
    reasons = []
    if r["connectFailureCount"]:
        reasons.append(f"{r['connectFailureCount']} connections failed")
    if r["serverCloses"]:
        reasons.append(f"closed by server {r['serverCloses']}")
    if r["delivered"] < r["expected"]:
        reasons.append(f"{r['expected'] - r['delivered']} deliveries missing")
    if r["converged"] < r["rooms"]:
        reasons.append(f"{r['rooms'] - r['converged']} rooms diverged")
    p99 = r["fanout"].get("p99")
    if p99 is None or p99 >= E_P99_LIMIT_MS:
        reasons.append(f"p99 {fmt_ms(p99)} ms")
    return (not reasons, "; ".join(reasons))


# -- running everything ------------------------------------------------------------------------


@dataclass
class Outcome:
    results: dict = field(default_factory=dict)  # (server, scenario) -> figures
    steps: dict = field(default_factory=dict)  # server -> [E step figures]
    problems: dict = field(default_factory=dict)  # (server, scenario) -> log lines
    errors: dict = field(default_factory=dict)  # (server, scenario) -> error text
    versions: dict = field(default_factory=dict)  # (server, scenario) -> collab's code before and after it


def held_workers(dep: Deployment, args):
    """With --s-worker-cpu, each of collab's workers held to that share of a core."""
    if not (args.s_worker_cpu and dep.kind.startswith("collab")):
        return contextlib.nullcontext()
    cap = CpuCap("collab-bench", args.s_worker_cpu)
    try:
        for pid in dep.app_pids():
            cap.hold(pid)
    except BaseException:
        cap.release()
        raise
    return cap


def run_scenario(dep: Deployment, args, sc: str, label: str, connections: int = 0) -> dict:
    p = args.plan
    if sc == "A":
        return run_load(dep, args, label, p.a_rooms, p.a_clients, p.a_rate, p.a_duration)
    if sc == "B":
        return run_load(dep, args, label, 1, p.b_clients, p.b_rate, p.b_duration)
    if sc == "C":
        return run_idle(dep, args, label)
    if sc == "D":
        return run_join(dep, args, label)
    if sc == "S":
        with held_workers(dep, args):
            return run_load(dep, args, label, p.s_rooms, p.s_clients, 0, p.s_duration, True, p.s_max_rate)
    if sc == "E":
        per_room = max(2, connections // p.e_rooms)
        return run_load(dep, args, label, p.e_rooms, per_room, p.e_rate, p.e_duration)
    raise ValueError(sc)


def with_deployment(kind: str, sc: str, label: str, key, out: Outcome, args, connections: int = 0):
    """Start a fresh deployment, run one scenario on it, stop it; None on error."""
    dep = None
    before = code_version() if kind.startswith("collab") else None
    try:
        dep = deploy(kind, label)
        return run_scenario(dep, args, sc, label, connections)
    except Exception as exc:
        out.errors[key] = f"{type(exc).__name__}: {exc}"
        print(f"  error: {out.errors[key]}", file=sys.stderr)
        return None
    finally:
        if dep is not None:
            dep.stop()
            lines = dep.problems()
            if lines:
                out.problems.setdefault(key, []).extend(lines)
        if before is not None:
            out.versions[key] = (before, code_version())


def run_all(args) -> Outcome:
    """Every server through one scenario, then the next: the machine's speed drifts
    over a run (the same generator work took a third more or less CPU within minutes), so the
    figures a ratio compares are taken minutes, not a whole run, apart."""
    out = Outcome()
    for sc in args.scenarios:
        for kind in args.servers:
            if sc == "S" and not kind.startswith("collab"):
                continue
            print(f"[{time.strftime('%H:%M:%S')}] {kind}: scenario {sc}", flush=True)
            if sc == "E":
                r = run_steps(kind, args, out)
            else:
                r = with_deployment(kind, sc, f"{kind}-{sc}".lower(), (kind, sc), out, args)
            if r is not None:
                out.results[(kind, sc)] = r
                print("  " + brief(sc, r), flush=True)
    return out


def run_steps(kind: str, args, out: Outcome) -> dict:
    """Scenario E: step the connection count up until the first failure."""
    steps = []
    best = 0
    for n in args.plan.e_steps:
        key = (kind, f"E{n}")
        r = with_deployment(kind, "E", f"{kind}-e{n}", key, out, args, connections=n)
        if r is None:
            steps.append({"n": n, "ok": False, "why": out.errors.get(key, "error")})
            print(f"    {n} connections: error", flush=True)
            break
        ok, why = load_ok(r)
        steps.append({"n": n, "ok": ok, "why": why, "result": r})
        print(f"    {n} connections: {'ok' if ok else 'FAILED: ' + why}; {brief('E', r)}", flush=True)
        if not ok:
            break
        best = n
    out.steps[kind] = steps
    return {"best": best, "steps": steps, "capped": bool(steps) and steps[-1]["ok"]}


# -- formatting -----------------------------------------------------------------------------------


def fmt_ms(v) -> str:
    if v is None:
        return "–"
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def fmt(v, digits=1) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def closes_text(c: dict) -> str:
    return ", ".join(f"{k}×{v}" for k, v in sorted(c.items())) if c else "none"


def row(*cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def header(*cells) -> list[str]:
    return [row(*cells), row(*["---"] * len(cells))]


def pct(seconds: float, wall: float) -> str:
    return f"{100 * seconds / wall:.0f} %" if wall else "–"


def server_cpu(r: dict) -> float:
    c = r["cpu"]
    return c["app"] + c["redis"] + c["pg"]


def crossing(r: dict) -> str:
    """Fan-out between two server processes (sender and receiver on different ones)."""
    c = r.get("crossing") or {}
    return f"{fmt_ms(c['p50'])} / {fmt_ms(c['p99'])}" if c.get("n") else "–"


def generator_edit_pct(r: dict) -> str:
    wall = max((g["editWall"] for g in r["generators"]), default=0)
    return pct(sum(g["editCpu"] for g in r["generators"]), wall)


def brief(sc: str, r: dict) -> str:
    if "fanout" in r:
        f = r["fanout"]
        return "; ".join([
            f"fan-out p50 {fmt_ms(f.get('p50'))} p99 {fmt_ms(f.get('p99'))} max {fmt_ms(f.get('max'))} ms",
            f"delivered {r['delivered']}/{r['expected']}",
            f"converged {r['converged']}/{r['rooms']}",
            f"server CPU {server_cpu(r):.1f} s",
            f"generator CPU {r['gen_cpu']:.1f} s",
            f"closes {closes_text(r['serverCloses'])}",
        ])  # fmt: skip
    if sc == "C":
        return "; ".join([
            f"{r['connected']} connected",
            f"{fmt(r['kib_per_conn'])} KiB per connection",
            f"closes {closes_text(r['serverCloses'])}",
        ])  # fmt: skip
    if sc == "D":
        times = [round(t) for t in r["times"]]
        return f"join median {fmt_ms(r['join'].get('p50'))} ms of {times}; failures {r['failures']}"
    if sc == "E":
        return f"best {r['best']} connections"
    return ""


def ratio(a, b) -> str:
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def report(args, out: Outcome, started: datetime.datetime, wall: float) -> str:
    p = args.plan
    res = out.results
    command = shlex.join([".venv/bin/python", "bench/load/compare.py", *sys.argv[1:]])
    lines = [
        "# collab vs Hocuspocus vs y-websocket-server",
        "",
        f"- date: {started.strftime('%Y-%m-%d %H:%M %Z').strip()} ({wall / 60:.1f} min)",
        f"- command: `{command}`",
        f"- machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}, "
        f"Node {node_version()}; load average at the start {start_load}",
        f"- packages: {package_versions()}",
        *code_lines(out),
        *([f"- {postgres_wal}"] if postgres_wal else []),
        *([f"- {commit_figure}"] if commit_figure else []),
        "- every figure below was measured in this one run, on 127.0.0.1. The machine is shared: "
        '"other CPU" is what processes outside the bench used meanwhile.',
        "",
    ]
    lines += load_table(
        args, res, "A", f"A: {p.a_rooms} rooms × {p.a_clients} clients, {p.a_rate:g} edits/s each, {p.a_duration:g} s"
    )
    lines += load_table(
        args, res, "B", f"B: 1 room × {p.b_clients} clients, {p.b_rate:g} edit/s each, {p.b_duration:g} s"
    )
    lines += idle_table(args, res)
    lines += join_table(args, res)
    lines += steps_table(args, res)
    lines += scale_table(args, res)
    lines += ratio_table(args, res)
    lines += generator_table(args, res)
    lines += others_table(args, res)
    lines += disk_table(args, res)
    if out.errors or out.problems:
        lines.extend(["## Errors and server log lines", ""])
        for (s, sc), err in out.errors.items():
            lines.append(f"- **{s}, {sc}**: {err}")
        for (s, sc), log in out.problems.items():
            groups = group_lines(log)
            lines.append(f"- **{s}, {sc}**: {len(log)} line(s)")
            for text, (count, where) in list(groups.items())[:15]:
                lines.append(f"  - {count}× `{text[:300]}` ({where})")
            if len(groups) > 15:
                lines.append(f"  - … {len(groups) - 15} more kinds")
        lines.append("")
    return "\n".join(lines)


def code_lines(out: Outcome) -> list[str]:
    """The code collab ran from, checked before and after each of its scenarios."""
    seen = {describe_version(v) for pair in out.versions.values() for v in pair}
    if not seen:
        return []
    if len(seen) == 1:
        return [f"- collab: commit {seen.pop()}, unchanged during each of its scenarios"]
    lines = ["- collab: **its code changed during the run**; before → after each scenario:"]
    for (s, sc), (before, after) in out.versions.items():
        mark = "" if before == after else " **(changed during this scenario)**"
        lines.append(f"  - {s} {sc}: {describe_version(before)} → {describe_version(after)}{mark}")
    return lines


def load_table(args, res, sc: str, title: str) -> list[str]:
    rows = [(s, res[(s, sc)]) for s in args.servers if (s, sc) in res]
    if not rows:
        return []
    lines = [f"## {title}", ""]
    lines += header(
        "server", "fan-out p50 ms", "p95", "p99", "max", "between processes p50 / p99", "deliveries ≥ 50 ms",
        "delivered / expected",
        "converged rooms", "closed by server", "server CPU s (app + redis + pg)", "% of a core", "peak RSS MiB",
        "connect s", "generator CPU s", "other CPU s (rest of the machine)", "echo p50 ms",
    )  # fmt: skip
    for s, r in rows:
        f, c = r["fanout"], r["cpu"]
        cpu = f"{c['app']:.1f}" + (f" + {c['redis']:.1f} + {c['pg']:.1f}" if (c["redis"] or c["pg"]) else "")
        lines.append(row(
            s, fmt_ms(f.get("p50")), fmt_ms(f.get("p95")), fmt_ms(f.get("p99")), fmt_ms(f.get("max")),
            crossing(r), r["slowCount"], f"{r['delivered']} / {r['expected']}", f"{r['converged']} / {r['rooms']}",
            closes_text(r["serverCloses"]), cpu, pct(server_cpu(r), c["wall"]), f"{r['peak_rss']:.0f}",
            f"{r['connect_s']:.1f}", f"{r['gen_cpu']:.1f}", f"{r['other_cpu']:.1f}", fmt_ms(r["echo"].get("p50")),
        ))  # fmt: skip
    return lines + [""]


def idle_table(args, res) -> list[str]:
    p = args.plan
    rows = [(s, res[(s, "C")]) for s in args.servers if (s, "C") in res]
    if not rows:
        return []
    lines = [f"## C: {p.c_rooms * p.c_per_room} idle connections in {p.c_rooms} rooms", ""]
    lines += header(
        "server", "connected", "RSS before MiB", "RSS after MiB", "KiB per connection", "peak RSS MiB",
        "connect time s", "closed by server",
    )  # fmt: skip
    for s, r in rows:
        lines.append(row(
            s, r["connected"], f"{r['rss_before']:.0f}", f"{r['rss_after']:.0f}", fmt(r["kib_per_conn"]),
            f"{r['peak_rss']:.0f}", f"{r['connect_s']:.1f}", closes_text(r["serverCloses"]),
        ))  # fmt: skip
    return lines + [""]


def join_table(args, res) -> list[str]:
    p = args.plan
    rows = [(s, res[(s, "D")]) for s in args.servers if (s, "D") in res]
    if not rows:
        return []
    lines = [f"## D: join time of a {p.d_bytes // 1024} KiB document (connect to synced, {p.d_joins} joins)", ""]
    lines += header("server", "median ms", "min ms", "max ms", "every join ms", "failures", "peak RSS MiB")
    for s, r in rows:
        times = r["times"]
        lines.append(row(
            s, fmt_ms(r["join"].get("p50")), fmt_ms(min(times) if times else None),
            fmt_ms(max(times) if times else None), ", ".join(f"{t:.0f}" for t in times),
            "; ".join(r["failures"]) or "none", f"{r['peak_rss']:.0f}",
        ))  # fmt: skip
    return lines + [""]


def steps_table(args, res) -> list[str]:
    p = args.plan
    rows = [(s, res[(s, "E")]) for s in args.servers if (s, "E") in res]
    if not rows:
        return []
    lines = [
        f"## E: most connections held ({p.e_rooms} rooms, {p.e_rate:g} edits/s each, {p.e_duration:g} s per step; "
        f"pass = fan-out p99 < {E_P99_LIMIT_MS:.0f} ms, every update delivered, no closes, converged)",
        "",
    ]
    lines += header(
        "server", "most connections passed",
        "steps (connections: p99 ms, delivered / expected, server CPU %, generator CPU %)",
    )  # fmt: skip
    for s, r in rows:
        parts = []
        for st in r["steps"]:
            x = st.get("result")
            if x is None:
                parts.append(f"{st['n']}: error ({st['why']})")
                continue
            text = (
                f"{st['n']}: {fmt_ms(x['fanout'].get('p99'))}, {x['delivered']} / {x['expected']}, "
                f"{pct(server_cpu(x), x['cpu']['wall'])}, {generator_edit_pct(x)}"
            )
            if not st["ok"] and (x.get("machine_pct") or 0) >= 90:
                text += f" (the machine's {os.cpu_count()} cores were {x['machine_pct']:.0f} % busy)"
            parts.append(text + ("" if st["ok"] else f" — FAILED: {st['why']}"))
        best = f"{r['best']}" + (" (every step passed: the limit is higher)" if r["capped"] else "")
        lines.append(row(s, best, "<br>".join(parts)))
    return lines + [""]


def scale_table(args, res) -> list[str]:
    p = args.plan
    one, two = res.get(("collab", "S")), res.get(("collab-2w", "S"))
    if not (one or two):
        return []
    held = f"; each worker held to {args.s_worker_cpu:g} % of a core" if args.s_worker_cpu else ""
    placed = "; each room's clients on one worker" if args.placement == "room" else ""
    lines = [
        f"## S: two collab workers vs one under a saturating load ({p.s_rooms} rooms × {p.s_clients} clients, "
        f"closed loop: each client keeps one edit in flight, at most {p.s_max_rate:g}/s, "
        f"{p.s_duration:g} s{held}{placed})",
        "",
    ]
    lines += header(
        "configuration", "deliveries/s", "edits", "fan-out p50 / p99 ms", "between workers p50 / p99", "echo p50 ms",
        "server CPU % (app + redis + pg)", "generator CPU %", "other CPU s",
    )  # fmt: skip
    for name, r in (("collab, 1 worker", one), ("collab, 2 workers + Redis", two)):
        if not r:
            continue
        c = r["cpu"]
        r["deliveries_per_s"] = r["windowDeliveries"] / r["windowS"] if r["windowS"] else 0
        cpu = " + ".join(pct(c[k], c["wall"]) for k in ("app", "redis", "pg"))
        lines.append(row(
            name, f"{r['deliveries_per_s']:.0f}", r["edits"],
            f"{fmt_ms(r['fanout'].get('p50'))} / {fmt_ms(r['fanout'].get('p99'))}", crossing(r),
            fmt_ms(r["echo"].get("p50")),
            cpu, generator_edit_pct(r), f"{r['other_cpu']:.1f}",
        ))  # fmt: skip
    if one and two:
        factor = ratio(two["deliveries_per_s"], one["deliveries_per_s"])
        lines += ["", f"Two workers deliver **{factor}** what one does (target ≥ 1.8×)."]
    if one:
        # The target is for a saturated worker: say when the load left it short of that.
        share = args.s_worker_cpu or 100
        used = 100 * one["cpu"]["app"] / one["cpu"]["wall"] if one["cpu"]["wall"] else 0
        if used < 0.8 * share:
            lines += [
                "",
                f"One worker used {used:.0f} % of a core of the {share:g} % it could: the load did not saturate "
                "it, so this run does not test the target (`--s-worker-cpu` holds each worker to a share).",
            ]
    return lines + [""]


TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[,.]\d+ ")


def group_lines(log: list[str]) -> dict[str, tuple[int, str]]:
    """Identical log lines (timestamps aside) counted once, with the first file that has them."""
    groups: dict[str, tuple[int, str]] = {}
    for entry in log:
        where, _, text = entry.partition(": ")
        text = TIMESTAMP.sub("", text)
        count, first = groups.get(text, (0, where))
        groups[text] = (count + 1, first)
    return groups


def ratio_table(args, res) -> list[str]:
    """collab's figures divided by each peer's, from this run."""
    pairs = [("collab", peer) for peer in ("hocuspocus", "y-websocket", "hocuspocus-redis")]
    pairs.append(("collab-2w", "hocuspocus-redis"))
    pairs = [(a, b) for a, b in pairs if a in args.servers and b in args.servers]
    if not pairs:
        return []

    def get(s, sc, fn):
        r = res.get((s, sc))
        try:
            return fn(r) if r else None
        except (KeyError, TypeError, ZeroDivisionError):
            return None

    metrics = [
        ("A fan-out p50", "A", lambda r: r["fanout"]["p50"]),
        ("A fan-out p99", "A", lambda r: r["fanout"]["p99"]),
        ("A server CPU (app + redis + pg)", "A", server_cpu),
        ("A peak RSS", "A", lambda r: r["peak_rss"]),
        ("B fan-out p50", "B", lambda r: r["fanout"]["p50"]),
        ("B fan-out p99", "B", lambda r: r["fanout"]["p99"]),
        ("B server CPU (app + redis + pg)", "B", server_cpu),
        ("B peak RSS", "B", lambda r: r["peak_rss"]),
        ("C memory per connection", "C", lambda r: r["kib_per_conn"]),
        ("D join median", "D", lambda r: r["join"]["p50"]),
        ("E most connections", "E", lambda r: r["best"]),
    ]
    lines = [
        "## Ratios: collab ÷ peer, from this run",
        "",
        "Below 1× collab's figure is lower: faster, leaner, or, for E, fewer connections held.",
        "",
    ]
    lines += header("metric", *(f"{a} ÷ {b}" for a, b in pairs))
    for name, sc, fn in metrics:
        if any((a, sc) in res for a, _ in pairs):
            lines.append(row(name, *(ratio(get(a, sc, fn), get(b, sc, fn)) for a, b in pairs)))
    return lines + [""]


def measurements(res):
    """(server, scenario or E step, its figures) for every load measured: A, B, S and each step of E."""
    for (s, sc), r in res.items():
        if sc == "E":
            yield from ((s, f"E {st['n']}", st["result"]) for st in r["steps"] if st.get("result"))
        else:
            yield s, sc, r


def others_table(args, res) -> list[str]:
    """Who else used the machine during each measurement (it is shared)."""
    rows = [
        row(s, name, f"{x['other_cpu']:.1f}", ", ".join(x["other_processes"]) or "–")
        for s, name, x in measurements(res)
        if "other_processes" in x and (x["other_cpu"] >= 1 or x["other_processes"])
    ]
    if not rows:
        return []
    lines = [
        "## The rest of the machine during the edit phases",
        "",
        "CPU seconds not used by the bench's processes (servers, Redis, PostgreSQL backends of collab_load, "
        "generators): other processes, and the kernel's own work (loopback networking).",
        "",
    ]
    lines += header("server", "scenario", "other CPU s", "largest other processes")
    return lines + rows + [""]


def disk_table(args, res) -> list[str]:
    """What the disk's flushes took during each measurement (bench.diskprobe)."""
    rows = [
        row(s, name, d["count"], fmt_ms(d["p50"]), fmt_ms(d["p99"]), fmt_ms(d["max"]), d["slow"])
        for s, name, x in measurements(res)
        if (d := x.get("disk") or {}).get("count")
    ]
    if not rows:
        return []
    lines = [
        "## The disk's flushes during the edit phases",
        "",
        "A 4 KiB write flushed with `fdatasync` 20 times a second beside each measurement (bench.diskprobe), "
        "in bench/results: on the machines measured here, the disk that holds PostgreSQL's WAL. collab's "
        "relays wait for such a flush; the Node servers' do not.",
        "",
    ]
    lines += header("server", "scenario", "flushes", "p50 ms", "p99 ms", "max ms", "≥ 50 ms")
    return lines + rows + [""]


def generator_table(args, res) -> list[str]:
    rows = []
    for (s, sc), r in res.items():
        if sc == "E":
            items = [(f"E {st['n']}", st["result"]) for st in r["steps"] if st.get("result")]
        elif "lag" in r:
            items = [(sc, r)]
        else:
            items = []
        for name, x in items:
            shares = [g["editCpu"] / g["editWall"] for g in x["generators"] if g["editWall"]]
            per = ", ".join(f"{100 * v:.0f} %" + (" (saturated)" if v >= 0.8 else "") for v in shares)
            lag = f"{fmt_ms(x['lag'].get('p99'))} / {fmt_ms(x['lag'].get('max'))}"
            rows.append(row(s, name, x["connected"], len(x["generators"]), per, lag))
    if not rows:
        return []
    lines = ["## Generator CPU: each generator process during the edit phase (CPU s / wall s)", ""]
    lines += header("server", "scenario", "clients", "processes", "% of a core, per process", "edit lag p99 / max ms")
    return lines + rows + [""]


def node_version() -> str:
    try:
        return subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return "?"


def package_versions() -> str:
    names = [
        "@hocuspocus/server",
        "@hocuspocus/extension-redis",
        "@y/websocket-server",
        "yjs",
        "y-protocols",
        "lib0",
        "ws",
    ]
    found = []
    for name in names:
        try:
            found.append(
                f"{name} {json.loads((BENCH / 'node_modules' / name / 'package.json').read_text())['version']}"
            )
        except OSError:
            found.append(f"{name} ?")
    return ", ".join(found)


SERVER_CODE = ["collab", "config", "manage.py", "requirements.txt", "templates", "tests/servers.py"]


def code_version() -> dict:
    """The commit collab runs from, and a digest of uncommitted changes to its code.

    The work tree may be edited while a run goes on: comparing this at the start
    and at the end tells whether every collab figure comes from the same code.
    """

    def git(*argv) -> str:
        try:
            return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout
        except OSError:
            return ""

    diff = git("diff", "HEAD", "--", *SERVER_CODE)
    digest = hashlib.sha1(diff.encode()).hexdigest()[:10] if diff else ""
    return {"commit": git("rev-parse", "--short", "HEAD").strip(), "dirty": digest}


def describe_version(v: dict) -> str:
    return v["commit"] + (f" with uncommitted changes (diff {v['dirty']})" if v["dirty"] else "")


def ensure_node_modules() -> None:
    marker = BENCH / "node_modules" / ".package-lock.json"
    lock = BENCH / "package-lock.json"
    if not marker.exists() or marker.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BENCH, check=True)


start_load = ""
postgres_wal = ""  # what bench.postgres found and did, for the report
commit_figure = ""  # collab's commit alone, before the scenarios (bench.appends)


def main(argv=None) -> int:
    global start_load
    args = parse_args(argv)
    started = datetime.datetime.now().astimezone()
    t0 = time.monotonic()
    start_load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    ensure_node_modules()
    if any(s.startswith("collab") for s in args.servers):
        reset_database()
        time_commit_alone()
        collab_cookie()
    out = run_all(args)
    text = report(args, out, started, time.monotonic() - t0)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text + "\n")
    raw = {f"{k[0]} {k[1]}": v for k, v in out.results.items()}
    output.with_suffix(".json").write_text(
        json.dumps(
            {"results": raw, "errors": {f"{k[0]} {k[1]}": v for k, v in out.errors.items()}}, indent=1, default=str
        )
    )
    print()
    print(text)
    print(f"\nwritten to {output}")
    return 1 if out.errors else 0


if __name__ == "__main__":
    sys.exit(main())
