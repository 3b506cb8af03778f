"""Real daphne processes on loopback for tests, and RQ's queue worker: started by us, stopped by PID.

Each server runs in a session of its own, as a service does. Linux's autogroup
scheduling shares CPU time between sessions first: in the starter's session a
worker would be weighed together with, and preempted by, whatever else runs
there (the benchmarks' load generator).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """A URL for the database the test run is using, for processes we start."""
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or ""
    auth = f"{user}:{s['PASSWORD']}@" if s.get("PASSWORD") else (f"{user}@" if user else "")
    return f"postgres://{auth}{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def process_env(redis_url: str, env: dict[str, str] | None) -> dict[str, str]:
    """The environment of a collab process we start: production-like, on the test database."""
    inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return {
        **inherited,
        "DEBUG": "0",
        # The test process's own key (from the environment or data/secret_key): both sign sessions.
        "SECRET_KEY": settings.SECRET_KEY,
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }


def listening_socket(port: int) -> socket.socket:
    """A socket listening on loopback, with SO_REUSEADDR as daphne's own has it: the
    connections it accepts inherit it, so that a restart can bind the port again while
    the last process's connections are still closing."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock


def artifact(name: str) -> Path:
    """A path for a log kept after the run, in test-artifacts/."""
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    return artifacts / name


class Server:
    """One `manage.py serve` process listening on a socket we bound (no port race)."""

    def __init__(
        self,
        *,
        redis_url: str = "",
        env: dict[str, str] | None = None,
        log_name: str = "server",
        args: tuple[str, ...] = (),
    ):
        self.args = args  # more options for `manage.py serve` (--proxy-headers)
        self.sock = listening_socket(0)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.env = process_env(redis_url, env)
        self.log_path = artifact(f"{log_name}-{self.port}.log")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> Server:
        return self.launch().ready(timeout)

    def launch(self, *, nice: int = 0) -> Server:
        """Start the process without waiting for it to answer (`ready` waits); `nice`:
        at a lower priority, until `renice`."""
        fd = self.sock.fileno()
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--fd", str(fd), *self.args],
            cwd=ROOT,
            env=self.env,
            pass_fds=(fd,),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=(lambda: os.nice(nice)) if nice else None,
        )
        return self

    def renice(self) -> None:
        """Back to the normal priority, every thread (Linux keeps a priority per thread)."""
        for tid in os.listdir(f"/proc/{self.proc.pid}/task"):
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, int(tid), 0)

    def ready(self, timeout: float = 30) -> Server:
        """Wait until it answers its health check."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log_path}")
            try:
                # As a TLS proxy asks: a worker with HTTPS=1 and TRUST_PROXY_HEADERS=1 would
                # otherwise redirect to https://, which it does not speak.
                health = urllib.request.Request(self.url + "/healthz", headers={"X-Forwarded-Proto": "https"})
                with urllib.request.urlopen(health, timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not become healthy in {timeout}s; see {self.log_path}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def close_port(self) -> None:
        """Close our copy of the listening socket: with the process stopped, the port
        refuses connections, as a stopped service's does."""
        self.sock.close()

    def restart(self, timeout: float = 30) -> Server:
        """Start again on the same port after `stop` and `close_port`, as a service restarts."""
        self.sock = listening_socket(self.port)
        self.log.close()
        return self.start(timeout)

    def close(self) -> None:
        self.stop()
        self.sock.close()
        if getattr(self, "log", None):
            self.log.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


class QueueWorker:
    """`manage.py rqworker webhooks --with-scheduler`, as deploy/collab-rqworker.service
    runs it, on the test database and `redis_url`'s Redis."""

    def __init__(self, *, redis_url: str, env: dict[str, str] | None = None, log_name: str = "rqworker"):
        self.redis_url = redis_url
        self.env = process_env(redis_url, env)
        self.log_path = artifact(f"{log_name}-{os.getpid()}.log")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> QueueWorker:
        from redis import Redis
        from rq import Worker

        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "rqworker", "webhooks", "--with-scheduler"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        with Redis.from_url(self.redis_url) as redis:
            while Worker.count(connection=redis) == 0:  # it registers itself once it listens
                if self.proc.poll() is not None:
                    raise RuntimeError(f"rqworker exited with {self.proc.returncode}; see {self.log_path}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"rqworker did not start in {timeout}s; see {self.log_path}")
                time.sleep(0.1)
        return self

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM: rq finishes the job in hand, stops its scheduler and exits. Past the
        timeout, SIGKILL to its process group (the session we started it in)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()


class RedisServer:
    """A redis-server of our own on a free port, so a test may restart it.

    With `tls_dir` it speaks TLS only, with a certificate for 127.0.0.1 made there
    (`ca_path`, which clients must trust: the URL names it)."""

    def __init__(self, tls_dir: Path | None = None):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.tls: ssl.SSLContext | None = None
        self.options = ["--port", str(self.port)]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        if tls_dir is not None:
            self.ca_path, key_path = self_signed_certificate(tls_dir, "127.0.0.1")
            self.tls = ssl.create_default_context(cafile=self.ca_path)
            self.options = ["--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "no"]
            self.options += ["--tls-cert-file", str(self.ca_path), "--tls-key-file", str(key_path)]
            self.url = f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.ca_path}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: the multi-worker tests need Redis 7")
        self.proc = subprocess.Popen(
            [binary, *self.options, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as raw:
                    conn = self.tls.wrap_socket(raw, server_hostname="127.0.0.1") if self.tls else raw
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> None:
        """Kill and start again on the same port: every group membership is gone."""
        self.stop()
        self.start()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def self_signed_certificate(directory: Path, ip: str) -> tuple[Path, Path]:
    """A certificate for `ip`, signed by its own key, and that key: (cert.pem, key.pem)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ip)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class SilencingProxy:
    """A TCP proxy on 127.0.0.1 to `port` whose open connections can be made to stop
    answering, as a server whose host went away without a word; new ones go through."""

    def __init__(self, port: int):
        self.port = port
        self.silenced: list[asyncio.StreamWriter] = []
        self.links: list[asyncio.StreamWriter] = []
        self.tasks: set[asyncio.Task] = set()

    async def __aenter__(self) -> int:
        """The proxy's port."""
        self.server = await asyncio.start_server(self._link, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        for writer in self.links:
            writer.close()
        for task in self.tasks:
            task.cancel()

    def silence(self) -> None:
        self.silenced.extend(self.links)

    async def _link(self, client_reader, client_writer) -> None:
        redis_reader, redis_writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.links += [client_writer, redis_writer]
        for reader, writer in ((client_reader, redis_writer), (redis_reader, client_writer)):
            task = asyncio.create_task(self._pump(reader, writer))
            self.tasks.add(task)

    async def _pump(self, reader, writer) -> None:
        while data := await reader.read(65536):
            if writer not in self.silenced:
                writer.write(data)
