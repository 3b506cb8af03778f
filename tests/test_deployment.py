"""collab as deploy/ ships it: nginx with deploy/nginx.conf, over TLS, in front of two
daphne workers sharing Redis and the test database, reached the way a browser does.

deploy/nginx.conf is a site file (read inside `http { }`); the test renders it by plain
string replacement of the strings its header names (worker ports 8001/8002, the listen
ports 443 and 80, the certificate paths, /srv/collab/) and includes it from a small main
configuration of its own that keeps logs, the PID file and temporary files in tmp_path.
"""

from __future__ import annotations

import asyncio
import http.client
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
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import websockets
from channels.db import database_sync_to_async

from collab.models import Document
from collab.storage import persistence
from tests.conftest import PASSWORD, session_cookie, until
from tests.servers import ROOT, RedisServer, Server, self_signed_certificate
from tests.test_metrics import value
from tests.yclient import YClient

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

SITE = ROOT / "deploy" / "nginx.conf"
TOKEN = "scrape-t0ken"
SOCKET_READ_TIMEOUT = 3  # seconds, in place of the shipped hour


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
        # Shorter than an idle socket is kept waiting by the test below, longer than the
        # workers' ping interval (COLLAB_PING_INTERVAL=1): the pings are what keep it open.
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

    def metrics(self, token: str | None = TOKEN) -> tuple[int, str]:
        status, _, body = self.request("GET", "/metrics", headers={"Authorization": f"Bearer {token}"} if token else {})
        return status, body.decode()

    def connections(self) -> dict[str, float]:
        """Open document sockets per worker, as /metrics through the proxy counts them."""
        status, text = self.metrics()
        assert status == 200
        return {w: value(text, "collab_ws_connections", f'worker="{w}"') for w in ("w1", "w2")}

    async def client(self, document, cookie: str, name: str, *, origin: str | None = None) -> YClient:
        url = f"wss://127.0.0.1:{self.tls_port}/ws/docs/{document.id}/"
        client = YClient.websocket(url, cookie=cookie, origin=origin or self.origin, name=name)
        client.transport.ssl_context = self.tls
        return await client.connect()


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
    """nginx with deploy/nginx.conf in front of workers w1 and w2, for the module's tests
    (each brings its own users and documents); every process is stopped by PID."""
    binary = nginx_binary()
    tmp_path = tmp_path_factory.mktemp("deployment")
    cert, key = self_signed_certificate(tmp_path, "127.0.0.1")  # a throw-away CA that signs itself
    tls = ssl.create_default_context(cafile=cert)
    with ExitStack() as stack:
        redis_server = stack.enter_context(RedisServer())
        workers = []
        for name in ("w1", "w2"):
            env = {
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
        with ThreadPoolExecutor(len(workers)) as pool:
            list(pool.map(Server.start, workers))
        tls_port, plain_port = free_port(), free_port()
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
        yield Deployment(tls_port, plain_port, tls, workers, nginx, tmp_path)


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


def cookies(headers) -> dict[str, str]:
    """Set-Cookie lines by cookie name."""
    return {line.split("=", 1)[0]: line for name, line in headers if name.lower() == "set-cookie"}


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


async def test_a_documents_clients_land_on_one_worker_and_converge_through_the_proxy(deployment, owner):
    cookie = await database_sync_to_async(session_cookie)(owner)
    document = await make_document(owner, "Routed")
    a = await deployment.client(document, cookie, "a")
    b = await deployment.client(document, cookie, "b")
    try:
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
    finally:
        for client in (a, b):
            await client.close()


async def test_a_socket_idle_for_longer_than_the_proxys_read_timeout_stays_open(deployment, owner):
    cookie = await database_sync_to_async(session_cookie)(owner)
    document = await make_document(owner, "Quiet")
    a = await deployment.client(document, cookie, "a")
    b = await deployment.client(document, cookie, "b")
    try:
        await asyncio.sleep(SOCKET_READ_TIMEOUT + 2)  # nothing sent either way but the workers' pings
        assert not a.closed.is_set() and not b.closed.is_set()
        a.insert(0, "still here")
        assert await converge([a, b]) == "still here"
    finally:
        for client in (a, b):
            await client.close()


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
    # Documents until one lands on each worker (the hash spreads them; ~1 in 2 each).
    clients, placed = [], set()
    try:
        for i in range(30):
            before = await asyncio.to_thread(deployment.connections)
            clients.append(await deployment.client(await make_document(owner, f"Spread {i}"), cookie, f"c{i}"))
            expected = sum(before.values()) + 1
            assert await until(lambda n=expected: sum(deployment.connections().values()) == n)
            after = await asyncio.to_thread(deployment.connections)
            placed |= {worker for worker in after if after[worker] > before[worker]}
            if len(placed) == 2:
                break
        assert placed == {"w1", "w2"}, "thirty documents all hashed to one worker"
        status, text = await asyncio.to_thread(deployment.metrics)
        assert status == 200
        assert value(text, "collab_ws_connections") == len(clients)  # summed over both workers
        assert value(text, "collab_ws_connections", 'worker="w1"') >= 1
        assert value(text, "collab_ws_connections", 'worker="w2"') >= 1
    finally:
        for client in clients:
            await client.close()


# Last in the module: it leaves one worker dead.
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
        saved = await converge([a, b])

        async def stored():
            return await stored_text(document) == saved

        assert await until(stored)
        held = await asyncio.to_thread(deployment.connections)
        victim = 0 if held["w1"] == 2 else 1
        # As a crashed daphne: gone, and its port closed (the test holds the listening socket).
        deployment.workers[victim].kill()
        deployment.workers[victim].sock.close()
        await a.wait_closed()
        await b.wait_closed()
        for client in (a, b):
            await client.reconnect()  # the proxy skips the dead worker
        survivor = "w2" if victim == 0 else "w1"
        assert await until(lambda: deployment.connections()[survivor] == 2)
        await converge([a, b], saved)
        a.insert(0, "after ")
        await converge([a, b], "after " + saved)
        fresh = await deployment.client(document, cookie, "fresh")
        assert fresh.value() == "after " + saved
        await fresh.close()
    finally:
        for client in (a, b):
            await client.close()
