"""collab as deploy/ ships it: nginx with deploy/nginx.conf, over TLS, in front of two
daphne workers and the webhooks' queue worker (`manage.py rqworker`), sharing Redis and
the test database (SQLite, or PostgreSQL with DATABASE_URL as CI sets it), reached the
way a browser, a script with a token and a webhook receiver do.

deploy/nginx.conf is a site file (read inside `http { }`); the test renders it by plain
string replacement of the strings its header names (worker ports 8001/8002, the listen
ports 443 and 80, the certificate paths, /srv/collab/) and includes it from a small main
configuration of its own that keeps logs, the PID file and temporary files in tmp_path.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
import websockets
from channels.db import database_sync_to_async
from redis import Redis
from rq import Queue
from standardwebhooks.webhooks import Webhook

from collab.api.tokens import token_create
from collab.exceptions import CloseCode
from collab.models import Document, WebhookDelivery
from collab.storage import persistence
from collab.webhooks import endpoints
from tests.conftest import PASSWORD, session_cookie, until
from tests.servers import ROOT, QueueWorker, RedisServer, Server, self_signed_certificate
from tests.test_metrics import value
from tests.test_webhooks import Receiver
from tests.yclient import YClient

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

SITE = ROOT / "deploy" / "nginx.conf"
TOKEN = "scrape-t0ken"
SOCKET_READ_TIMEOUT = 4  # seconds, in place of the shipped hour
WORKERS = ("w1", "w2")  # COLLAB_WORKER_NAME of deployment.workers[0] and [1]


def nginx_binary() -> str:
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if binary is None:
        pytest.fail("nginx is not installed: `apt-get install nginx` (Debian's 1.22; .ci/run installs it)")
    return binary


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def render_site(*, workers: list[int], tls_port: int, plain_port: int, cert: Path, key: Path) -> str:
    """deploy/nginx.conf with this run's ports and paths; each string replaced must be there."""
    replacements = [
        ("server 127.0.0.1:8001 ", f"server 127.0.0.1:{workers[0]} "),
        ("server 127.0.0.1:8002 ", f"server 127.0.0.1:{workers[1]} "),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{tls_port} ssl http2;"),
        ("listen [::]:443 ssl http2;\n", ""),
        ("listen 80;", f"listen 127.0.0.1:{plain_port};"),
        ("listen [::]:80;\n", ""),
        ("/etc/letsencrypt/live/collab.example.org/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/collab.example.org/privkey.pem", str(key)),
        ("/srv/collab/", f"{ROOT}/"),
        # Shorter than an idle socket is kept waiting by the test below, longer than the gap
        # between the workers' pings (COLLAB_PING_INTERVAL=1, and daphne looks every 2 s),
        # with room for a busy machine: the pings are what keep it open.
        ("proxy_read_timeout 1h;", f"proxy_read_timeout {SOCKET_READ_TIMEOUT}s;"),
    ]
    text = SITE.read_text()
    for old, new in replacements:
        assert old in text, f"deploy/nginx.conf no longer holds {old!r}: update tests/test_deployment.py"
        text = text.replace(old, new)
    return text


def main_config(tmp: Path, site: Path) -> str:
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers as root can read tmp_path (0700)
    temp = "".join(
        f"    {kind}_temp_path {tmp / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes 1;\nerror_log {tmp / 'error.log'} info;\n"
        "events { worker_connections 512; }\n"
        f"http {{\n    include /etc/nginx/mime.types;\n    access_log {tmp / 'access.log'};\n{temp}"
        f"    include {site};\n}}\n"
    )


@dataclass
class Deployment:
    tls_port: int
    plain_port: int
    tls: ssl.SSLContext
    workers: list[Server]
    nginx: subprocess.Popen
    tmp: Path
    redis_url: str

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"

    def request(self, method: str, path: str, *, headers: dict | None = None, body: str | None = None):
        """(status, headers as a list of pairs, body) of one request through the proxy."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.tls_port, context=self.tls, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def api(self, method: str, path: str, token: str, body: str | None = None, *, content_type: str = "text/markdown"):
        """(status, parsed JSON or text) of an API request through the proxy, as a script sends it."""
        headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
        status, response_headers, raw = self.request(method, path, headers=headers, body=body)
        is_json = dict(response_headers).get("Content-Type", "").startswith("application/json")
        return status, json.loads(raw) if is_json else raw.decode()

    def metrics(self, token: str | None = TOKEN) -> tuple[int, str]:
        status, _, body = self.request("GET", "/metrics", headers={"Authorization": f"Bearer {token}"} if token else {})
        return status, body.decode()

    def connections(self) -> dict[str, float]:
        """Open document sockets per worker, as /metrics through the proxy counts them."""
        status, text = self.metrics()
        assert status == 200
        return {w: value(text, "collab_ws_connections", f'worker="{w}"') for w in WORKERS}

    def on(self, worker_name: str) -> int:
        """Open document sockets of one worker (w1 or w2)."""
        return self.connections()[worker_name]

    async def client(self, document, cookie: str, name: str, *, origin: str | None = None) -> YClient:
        url = f"wss://127.0.0.1:{self.tls_port}/ws/docs/{document.id}/"
        client = YClient.websocket(url, cookie=cookie, origin=origin or self.origin, name=name)
        client.transport.ssl_context = self.tls
        return await client.connect()


def straight(worker: Server, path: str) -> int:
    """The status of a plain GET straight to a worker, as a health checker beside it sends it."""
    conn = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=10)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # nginx: fast shutdown
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for_tls(port: int, tls: ssl.SSLContext, nginx: subprocess.Popen, log: Path, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    answered = False
    while not answered:
        if nginx.poll() is not None:
            raise RuntimeError(f"nginx exited with {nginx.returncode}: {log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"nginx did not answer on port {port}: {log.read_text()[-2000:]}")
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=1) as raw,
                tls.wrap_socket(raw, server_hostname="127.0.0.1"),
            ):
                answered = True
        except OSError:
            time.sleep(0.05)


@pytest.fixture(scope="module")
def deployment(django_db_setup, tmp_path_factory):
    """nginx with deploy/nginx.conf in front of workers w1 and w2, and the queue worker,
    for the module's tests (each brings its own users and documents); every process is
    stopped by PID."""
    binary = nginx_binary()
    tmp_path = tmp_path_factory.mktemp("deployment")
    cert, key = self_signed_certificate(tmp_path, "127.0.0.1")  # a throw-away CA that signs itself
    tls = ssl.create_default_context(cafile=cert)
    tls_port, plain_port = free_port(), free_port()
    # deploy/env.example's settings that matter here; webhooks may go to a receiver on loopback.
    common = {"COLLAB_SITE_URL": f"https://127.0.0.1:{tls_port}", "COLLAB_WEBHOOKS_ALLOW_PRIVATE": "1"}
    with ExitStack() as stack:
        redis_server = stack.enter_context(RedisServer())
        workers = []
        for name in WORKERS:
            env = {
                **common,
                "HTTPS": "1",
                "TRUST_PROXY_HEADERS": "1",
                "COLLAB_METRICS_DIR": str(tmp_path / "metrics"),
                "COLLAB_METRICS_TOKEN": TOKEN,
                "COLLAB_WORKER_NAME": name,
                "COLLAB_PING_INTERVAL": "1",
            }
            worker = Server(redis_url=redis_server.url, env=env, log_name=f"deploy-{name}", args=("--proxy-headers",))
            stack.callback(worker.close)
            workers.append(worker)
        queue_worker = QueueWorker(redis_url=redis_server.url, env=common, log_name="deploy-rqworker")
        stack.callback(queue_worker.stop)
        with ThreadPoolExecutor(len(workers) + 1) as pool:
            list(pool.map(lambda process: process.start(), [*workers, queue_worker]))
        site = tmp_path / "collab.conf"
        site.write_text(
            render_site(workers=[w.port for w in workers], tls_port=tls_port, plain_port=plain_port, cert=cert, key=key)
        )
        conf = tmp_path / "nginx.conf"
        conf.write_text(main_config(tmp_path, site))
        log = tmp_path / "nginx.out"
        with open(log, "wb") as out:
            nginx = subprocess.Popen(
                [binary, "-c", str(conf), "-g", f"daemon off; pid {tmp_path / 'nginx.pid'};"],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        stack.callback(stop, nginx)
        wait_for_tls(tls_port, tls, nginx, log)
        yield Deployment(tls_port, plain_port, tls, workers, nginx, tmp_path, redis_server.url)


@pytest.fixture(autouse=True)
async def _workers_done_with_the_tests_documents(deployment, transactional_db):
    """After each test, every room its edited documents had has stored what it held and
    closed, so that no worker still writes them when the test's data is flushed away (on
    PostgreSQL such writes and the flush's TRUNCATE can deadlock)."""
    yield

    def idle() -> bool:
        _, text = deployment.metrics()
        return value(text, "collab_ws_connections") == value(text, "collab_rooms_open") == 0

    assert await until(idle), "sockets or rooms still open after the test"
    # A room that has just lost its last client is still storing; a handshake waits for that.
    edited = await database_sync_to_async(
        lambda: list(Document.objects.filter(last_seq__gt=0).select_related("owner"))
    )()
    for document in edited:
        cookie = await database_sync_to_async(session_cookie)(document.owner)
        for worker in deployment.workers:
            if worker.proc.poll() is None:
                probe = YClient.websocket(
                    f"{worker.ws_url}/ws/docs/{document.id}/", cookie=cookie, origin=worker.url, name="probe"
                )
                await probe.connect()
                await probe.close()


async def make_document(owner, title: str) -> Document:
    return await database_sync_to_async(Document.objects.create)(owner=owner, title=title)


async def converge(clients: list[YClient], expected: str | None = None, timeout: float = 10) -> str:
    """The text every client holds once they agree (and it is `expected`, if given)."""
    deadline = time.monotonic() + timeout
    while True:
        values = {client.value() for client in clients}
        if len(values) == 1 and expected in (None, *values):
            return values.pop()
        if time.monotonic() > deadline:
            raise AssertionError(f"no convergence in {timeout}s: {sorted(values)}")
        await asyncio.sleep(0.02)


async def stored_text(document) -> str:
    return await database_sync_to_async(persistence.document_text)(document.id)


async def becomes_stored(document, text: str) -> bool:
    """Whether the database holds `text` as the document's within 10 s."""

    async def holds() -> bool:
        return await stored_text(document) == text

    return await until(holds)


def cookies(headers) -> dict[str, str]:
    """Set-Cookie lines by cookie name."""
    return {line.split("=", 1)[0]: line for name, line in headers if name.lower() == "set-cookie"}


@dataclass
class Placed:
    document: Document
    clients: list[YClient]
    worker: str  # where the proxy sent them: w1 or w2


async def spread(deployment: Deployment, owner, cookie: str, *, clients_each: int = 1) -> list[Placed]:
    """New documents, each with `clients_each` clients through the proxy, until each
    worker holds one (the hash spreads documents ~1 in 2)."""
    placed: list[Placed] = []
    for i in range(30):
        before = await asyncio.to_thread(deployment.connections)
        document = await make_document(owner, f"Spread {i}")
        clients = [await deployment.client(document, cookie, f"d{i}{letter}") for letter in "abc"[:clients_each]]
        expected = sum(before.values()) + clients_each
        assert await until(lambda n=expected: sum(deployment.connections().values()) == n)
        after = await asyncio.to_thread(deployment.connections)
        placed.append(Placed(document, clients, next(w for w in after if after[w] > before[w])))
        if {p.worker for p in placed} == set(WORKERS):
            return placed
    raise AssertionError("thirty documents all hashed to one worker")


async def take_down(deployment: Deployment, worker: str, clients: list[YClient], sig=signal.SIGTERM) -> list[int]:
    """Stop a worker as systemd stops it (SIGTERM) or as a crash does (SIGKILL), its port
    then refusing connections; the close code each of its `clients` saw."""
    server = deployment.workers[WORKERS.index(worker)]
    await asyncio.to_thread(server.stop, sig)  # the loop goes on: clients read and type meanwhile
    server.close_port()
    return [await client.wait_closed() for client in clients]


async def move(deployment: Deployment, clients: list[YClient], to: str, total: int) -> None:
    """`clients` reconnect through the proxy, which skips the worker that refuses them;
    then `to` holds `total` sockets."""
    for client in clients:
        await client.reconnect()
    assert await until(lambda: deployment.on(to) == total), deployment.connections()


async def bring_back(deployment: Deployment, worker: str) -> None:
    """Start a stopped worker again on its port; a health check straight to it is answered."""
    server = deployment.workers[WORKERS.index(worker)]
    await asyncio.to_thread(server.restart)
    assert await asyncio.to_thread(straight, server, "/healthz") == 200


async def assert_kept(deployment: Deployment, document, cookie: str, edits: set[str]) -> None:
    """A new client through the proxy, with nothing of its own to send, is given all `edits`."""
    fresh = await deployment.client(document, cookie, "fresh")
    try:
        missing = edits - set(EDIT.findall(fresh.value()))
        assert not missing, f"lost saved edits: {sorted(missing)}"
    finally:
        await fresh.close()


EDIT = re.compile(r"\[\w+:\d+\]")  # one typed edit: [client name:n]


def saved(clients: list[YClient]) -> set[str]:
    """Edits some client holds that another typed: the server relays an edit only once it
    is stored (and echoes it to its sender then, which is the page's "Saved")."""
    return {
        edit for client in clients for edit in EDIT.findall(client.value()) if edit[1:].split(":")[0] != client.name
    }


class Typist:
    """A client typing `[name:n]` at the end of its text every 20 ms, connected or not,
    as a person goes on typing while the page reconnects."""

    def __init__(self, client: YClient):
        self.client = client
        self.typed: list[str] = []
        self.task = asyncio.create_task(self._type())

    async def _type(self) -> None:
        while True:
            edit = f"[{self.client.name}:{len(self.typed)}]"
            self.client.insert(len(self.client.text), edit)
            self.typed.append(edit)
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self.task.cancel()
        with suppress(asyncio.CancelledError):
            await self.task


def test_pages_are_served_over_https_with_secure_cookies_and_django_sees_https(deployment, owner):
    # Served, not redirected: with HTTPS=1 Django redirects a request it sees as plain HTTP.
    status, headers, body = deployment.request("GET", "/accounts/login/")
    assert status == 200, (status, headers)
    assert "Strict-Transport-Security" in dict(headers)  # Django sends it only on a secure request
    csrf_cookie = cookies(headers)["csrftoken"]
    assert "; Secure" in csrf_cookie
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1).decode()
    form = urllib.parse.urlencode({"username": owner.username, "password": PASSWORD, "csrfmiddlewaretoken": token})
    status, headers, _ = deployment.request(
        "POST",
        "/accounts/login/",
        body=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": csrf_cookie.split(";", 1)[0],
            "Origin": deployment.origin,  # Django's CSRF check: https:// and the host with its port
            "Referer": f"{deployment.origin}/accounts/login/",
        },
    )
    assert status == 302, status
    assert "; Secure" in cookies(headers)["sessionid"] and "; HttpOnly" in cookies(headers)["sessionid"]
    # Static files come from nginx itself, compressed copies included.
    status, headers, _ = deployment.request("GET", "/static/favicon.svg", headers={"Accept-Encoding": "gzip"})
    assert status == 200 and dict(headers).get("Content-Encoding") == "gzip"
    assert "Expires" in dict(headers)
    # HTTP/2 is offered to whoever asks for it.
    h2 = ssl.create_default_context(cafile=deployment.tmp / "cert.pem")
    h2.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", deployment.tls_port), timeout=5) as raw,
        h2.wrap_socket(raw, server_hostname="127.0.0.1") as conn,
    ):
        assert conn.selected_alpn_protocol() == "h2"
    # Plain HTTP is sent to HTTPS.
    conn = http.client.HTTPConnection("127.0.0.1", deployment.plain_port, timeout=5)
    conn.request("GET", "/accounts/login/")
    response = conn.getresponse()
    assert response.status == 301 and response.getheader("Location").startswith("https://127.0.0.1")
    conn.close()


@asynccontextmanager
async def two_clients(deployment, owner, title: str):
    """A new document of the owner's and two of their clients through the proxy: (cookie, document, a, b)."""
    cookie = await database_sync_to_async(session_cookie)(owner)
    document = await make_document(owner, title)
    a = await deployment.client(document, cookie, "a")
    b = await deployment.client(document, cookie, "b")
    try:
        yield cookie, document, a, b
    finally:
        for client in (a, b):
            await client.close()


async def test_a_documents_clients_land_on_one_worker_and_converge_through_the_proxy(deployment, owner):
    async with two_clients(deployment, owner, "Routed") as (cookie, document, a, b):
        a.insert(0, "over TLS ")
        b.insert(0, "through nginx ")
        text = await converge([a, b])
        assert "over TLS " in text and "through nginx " in text
        # hash $uri consistent: both on one worker, none on the other.
        assert sorted((await asyncio.to_thread(deployment.connections)).values()) == [0, 2]
        # A client of the same document on the other worker (straight to it) converges too, over Redis.
        held = await asyncio.to_thread(deployment.connections)
        other = deployment.workers[0 if held["w2"] == 2 else 1]
        direct = YClient.websocket(
            f"{other.ws_url}/ws/docs/{document.id}/", cookie=cookie, origin=other.url, name="direct"
        )
        await direct.connect()
        direct.insert(0, "elsewhere ")
        assert await converge([a, b, direct]) == "elsewhere " + text
        await direct.close()


async def test_a_socket_idle_for_longer_than_the_proxys_read_timeout_stays_open(deployment, owner):
    async with two_clients(deployment, owner, "Quiet") as (_, _, a, b):
        await asyncio.sleep(SOCKET_READ_TIMEOUT + 2)  # nothing sent either way but the workers' pings
        assert not a.closed.is_set() and not b.closed.is_set(), (a.close_code, b.close_code)
        a.insert(0, "still here")
        assert await converge([a, b]) == "still here"


async def test_a_foreign_origin_is_refused_through_the_proxy(deployment, owner):
    cookie = await database_sync_to_async(session_cookie)(owner)
    document = await make_document(owner, "Guarded")
    with pytest.raises(websockets.InvalidStatus) as refused:
        await deployment.client(document, cookie, "foreign", origin="https://evil.example")
    assert refused.value.response.status_code == 403
    welcome = await deployment.client(document, cookie, "own")  # the site's own origin is let in
    await welcome.close()


async def test_metrics_through_the_proxy_need_the_token_and_count_both_workers(deployment, owner):
    cookie = await database_sync_to_async(session_cookie)(owner)
    assert (await asyncio.to_thread(deployment.metrics, None))[0] == 403
    assert (await asyncio.to_thread(deployment.metrics, "wrong"))[0] == 403
    placed = await spread(deployment, owner, cookie)
    try:
        status, text = await asyncio.to_thread(deployment.metrics)
        assert status == 200
        assert value(text, "collab_ws_connections") == len(placed)  # summed over both workers
        assert value(text, "collab_ws_connections", 'worker="w1"') >= 1
        assert value(text, "collab_ws_connections", 'worker="w2"') >= 1
    finally:
        for client in (c for p in placed for c in p.clients):
            await client.close()


def test_a_health_check_straight_to_a_worker_is_answered_where_other_pages_go_to_https(deployment):
    # HTTPS=1 and no proxy in between (no X-Forwarded-Proto): Django sees plain HTTP.
    for worker in deployment.workers:
        assert straight(worker, "/healthz") == 200
        assert straight(worker, "/accounts/login/") == 301


async def test_an_api_write_reaches_an_open_editor_and_the_queue_worker_delivers_a_signed_webhook(
    deployment, owner, settings
):
    settings.COLLAB_WEBHOOKS_ALLOW_PRIVATE = True  # here to save the endpoint; the processes have it too
    receiver = Receiver()
    editor = None
    try:
        _, token = await database_sync_to_async(token_create)(
            user=owner, name="deploy", scopes=["documents:read", "documents:write"]
        )
        endpoint = await database_sync_to_async(endpoints.endpoint_create)(
            user=owner, url=receiver.url, events=["document.created"]
        )
        # A worker reads which events are wanted at most every 5 s (collab.webhooks.events):
        # a script creates documents through the proxy until one is announced.
        announced = database_sync_to_async(WebhookDelivery.objects.filter(endpoint=endpoint).exists)
        for attempt in range(40):
            body = json.dumps({"title": f"Hooked {attempt}"})
            status, made = await asyncio.to_thread(
                partial(deployment.api, content_type="application/json"), "POST", "/api/v1/documents", token, body
            )
            assert status == 201, made
            if await announced():
                break
            await asyncio.sleep(0.25)
        assert await announced(), "no worker announced a document in 10 s"
        # Delivered by the rqworker process from RQ, to a receiver that checks the signature.
        assert await until(lambda: receiver.received, 15), "no delivery"
        headers, body = receiver.received[0]
        payload = Webhook(endpoint.secret).verify(body, headers)
        assert payload["type"] == "document.created" and payload["data"]["document"]["id"] == made["id"]
        content_url = payload["data"]["document"]["content_url"]
        assert content_url == f"{deployment.origin}/api/v1/documents/{made['id']}/content"
        with Redis.from_url(deployment.redis_url) as redis:  # RQ's job, not a thread of a web worker
            finished = Queue("webhooks", connection=redis).finished_job_registry
            assert await until(lambda: finished.get_job_ids())
        # The script writes the document while someone has it open over the proxy's socket.
        document = await database_sync_to_async(Document.objects.get)(pk=made["id"])
        editor = await deployment.client(document, await database_sync_to_async(session_cookie)(owner), "editor")
        text = "# Hooked\n\nWritten by a script through nginx.\n"
        path = content_url.removeprefix(deployment.origin)
        status, written = await asyncio.to_thread(deployment.api, "PUT", path, token, text)
        assert status == 200 and written["changed"], written
        await editor.wait_for(lambda: editor.value() == text)
        assert await asyncio.to_thread(deployment.api, "GET", path, token) == (200, text)  # what a receiver reads
    finally:
        if editor is not None:
            await editor.close()
        receiver.close()


async def test_a_rolling_restart_moves_typing_clients_from_worker_to_worker_and_loses_no_saved_edit(deployment, owner):
    cookie = await database_sync_to_async(session_cookie)(owner)
    placed = await spread(deployment, owner, cookie, clients_each=2)
    clients = [c for p in placed for c in p.clients]
    typists = [Typist(client) for client in clients]
    try:
        for worker, other in (("w1", "w2"), ("w2", "w1")):
            # Some of every document's edits saved since the last step, then systemd's stop.
            seen = {p.document.id: saved(p.clients) for p in placed}
            assert await until(lambda s=seen: all(saved(p.clients) - s[p.document.id] for p in placed))
            leaving = [p for p in placed if p.worker == worker]
            kept = {p.document.id: saved(p.clients) for p in leaving}
            codes = await take_down(deployment, worker, [c for p in leaving for c in p.clients])
            assert codes == [CloseCode.GOING_AWAY] * len(codes)
            for p in leaving:  # on the other worker, from what the stopped one stored
                await assert_kept(deployment, p.document, cookie, kept[p.document.id])
            await move(deployment, [c for p in leaving for c in p.clients], other, len(clients))
            for p in leaving:
                p.worker = other
            await bring_back(deployment, worker)
        for typist in typists:
            await typist.stop()
        for p in placed:
            text = await converge(p.clients)
            typed = {edit for typist in typists if typist.client in p.clients for edit in typist.typed}
            assert typed <= set(EDIT.findall(text)), "edits typed while moving are missing"
            assert await becomes_stored(p.document, text)
            await assert_kept(deployment, p.document, cookie, typed)
    finally:
        for typist in typists:
            await typist.stop()
        for client in clients:
            await client.close()


async def test_a_killed_workers_clients_reconnect_through_the_proxy_and_lose_no_saved_edit(deployment, owner):
    cookie = await database_sync_to_async(session_cookie)(owner)
    document = await make_document(owner, "Survives")
    a = await deployment.client(document, cookie, "a")
    b = await deployment.client(document, cookie, "b")
    try:
        for i in range(20):
            (a if i % 2 else b).insert(0, f"{i},")
        # Saved: the server echoes an edit once it is stored, and only what it stored reaches
        # the other client; the page's "Saved" is that echo. Here: stored, as both hold it.
        saved_text = await converge([a, b])
        assert await becomes_stored(document, saved_text)
        held = await asyncio.to_thread(deployment.connections)
        victim = "w1" if held["w1"] == 2 else "w2"
        survivor = "w2" if victim == "w1" else "w1"
        # As a crashed daphne: gone at once, its port closed.
        await take_down(deployment, victim, [a, b], signal.SIGKILL)
        fresh = await deployment.client(document, cookie, "fresh")
        assert fresh.value() == saved_text
        await fresh.close()
        await move(deployment, [a, b], survivor, 2)
        await converge([a, b], saved_text)
        a.insert(0, "after ")
        await converge([a, b], "after " + saved_text)
        assert await becomes_stored(document, "after " + saved_text)
        await bring_back(deployment, victim)
    finally:
        for client in (a, b):
            await client.close()
