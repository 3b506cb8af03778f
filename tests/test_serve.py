"""The app served as `make run` serves it: daphne, DEBUG off, the embedded defaults."""

import asyncio
import json
import urllib.request

import pytest

pytestmark = pytest.mark.processes


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers, response.read()


def test_daphne_serves_pages_static_files_and_health(server):
    status, _, body = fetch(server.url + "/accounts/login/")
    assert status == 200 and b"Log in" in body
    status, _, _ = fetch(server.url + "/")  # redirected to the login page
    assert status == 200
    status, headers, body = fetch(server.url + "/static/css/app.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css") and b"collab" in body
    status, headers, body = fetch(server.url + "/static/dist/editor.js")
    assert status == 200 and "javascript" in headers["Content-Type"]
    status, _, body = fetch(server.url + "/healthz")
    assert status == 200 and json.loads(body) == {"database": "ok", "channel_layer": "ok"}


async def test_websocket_connections_get_a_frame_writer_and_http_ones_do_not():
    from collab.management.commands.serve import CollabServer
    from collab.realtime.sockets import EXTENSION, FrameWriter

    scopes = []

    async def application(scope, receive, send):
        scopes.append(scope)

    server = CollabServer(application=application, endpoints=["tcp:port=0:interface=127.0.0.1"])  # never run
    ws, http = object(), object()
    server.connections = {ws: {}, http: {}}
    server.create_application(ws, {"type": "websocket", "path": "/ws/docs/x/"})
    server.create_application(http, {"type": "http", "path": "/"})
    await server.connections[ws]["application_instance"]
    await server.connections[http]["application_instance"]
    writer = scopes[0]["extensions"][EXTENSION]
    assert isinstance(writer, FrameWriter) and writer.protocol is ws
    assert EXTENSION not in scopes[1].get("extensions", {})


def test_start_up_objects_are_kept_out_of_full_collections_and_young_ones_collected_less_often():
    import gc

    from collab.management.commands.serve import YOUNG_COLLECTION_THRESHOLD, tune_garbage_collection

    assert gc.get_freeze_count() == 0
    threshold = gc.get_threshold()
    try:
        tune_garbage_collection()
        assert gc.get_freeze_count() > 10_000  # Django, the app and the test run so far
        assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, *threshold[1:])
        assert YOUNG_COLLECTION_THRESHOLD > threshold[0]
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_autobahn_formats_its_debug_arguments_only_when_they_are_written(monkeypatch):
    import pprint

    from autobahn import util
    from autobahn.twisted import websocket
    from autobahn.websocket import protocol

    from collab.management.commands.serve import defer_autobahn_debug_formatting

    for module, name in (
        (protocol, "pformat"),
        (protocol, "hltype"),
        (protocol, "hlval"),
        (websocket, "hltype"),
        (websocket, "hlval"),
    ):
        monkeypatch.setattr(module, name, getattr(module, name))  # put back afterwards
    monkeypatch.setattr(protocol.Timings, "__str__", protocol.Timings.__str__)
    formatted = []
    real_pformat = pprint.pformat
    monkeypatch.setattr(pprint, "pformat", lambda obj: formatted.append(obj) or real_pformat(obj))
    defer_autobahn_debug_formatting()

    config = [("openHandshakeTimeout", 5, "WebSocketServerFactory")] * 30
    attrs = protocol.pformat(config)  # as _connectionMade builds its debug line
    func = protocol.hltype(test_daphne_serves_pages_static_files_and_health)
    assert formatted == []  # nothing formatted for a line debug logging would drop
    assert f"\n{attrs}" == "\n" + real_pformat(config) and formatted == [config]
    assert f"{func}" == util.hltype(test_daphne_serves_pages_static_files_and_health)
    peer = websocket.hlval("tcp:127.0.0.1:5000")  # as every read of a WebSocket builds its debug line
    assert not isinstance(peer, str) and f"{peer}" == util.hlval("tcp:127.0.0.1:5000")
    timings = protocol.Timings()
    timings.track("onOpen")
    assert isinstance(str(timings), str) and "onOpen" in str(timings)


def test_short_frames_are_unmasked_as_autobahn_would(monkeypatch):
    import os

    from autobahn.websocket import protocol
    from autobahn.websocket.xormasker import create_xor_masker

    from collab.management.commands.serve import ShortFrameMasker, unmask_short_frames_in_python

    monkeypatch.setattr(protocol, "create_xor_masker", protocol.create_xor_masker)  # put back afterwards
    unmask_short_frames_in_python()
    unmask_short_frames_in_python()  # once is enough: no wrapper around the wrapper
    for length in (0, 1, 3, 4, 5, 17, 64, 255, 256, 1000):
        mask, payload = os.urandom(4), os.urandom(length)
        ours = protocol.create_xor_masker(mask, length)
        assert isinstance(ours, ShortFrameMasker) == (length < 256)
        # Frames arrive in pieces: unmask them piece by piece, as autobahn does.
        pieces = [payload[:1], payload[1:6], payload[6:]]
        assert b"".join(ours.process(piece) for piece in pieces) == create_xor_masker(mask, length).process(payload)
        assert ours.pointer() == length


def test_statuses_twisted_has_no_name_for_are_sent_with_their_reason(server, owner):
    import http.client

    from collab.access import documents
    from collab.api.tokens import token_create

    document = documents.document_create(owner=owner, title="Locked")
    documents.Document.objects.filter(pk=document.pk).update(locked=True)
    raw = token_create(user=owner, name="script", scopes=["documents:read", "documents:write"])[1]
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("PUT", f"/api/v1/documents/{document.pk}/content", b"text", {"Authorization": f"Bearer {raw}"})
    response = connection.getresponse()
    assert (response.status, response.reason) == (423, "Locked")
    assert "locked" in response.read().decode()
    connection.close()


@pytest.mark.parametrize(
    ("env", "logged"),
    [
        ({"LOG_LEVEL": "INFO"}, True),
        ({"LOG_LEVEL": "WARNING"}, False),
        ({"LOG_LEVEL": "WARNING", "ACCESS_LOG": "-"}, True),
    ],
)
def test_the_access_log_follows_the_log_level_unless_told(transactional_db, env, logged):
    from tests.servers import Server

    with Server(env=env, log_name="access-log") as server:
        fetch(server.url + "/accounts/login/")
    log = server.log_path.read_text()
    assert ('"GET /accounts/login/"' in log) is logged


# The C-level handler reports that it could not write to the full pipe: that is the scenario.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_stop_signal_is_not_lost_when_the_loop_has_not_drained_its_wakeup_pipe():
    """Under load, worker threads post results to the loop's self-pipe faster than
    a busy loop drains it; a SIGTERM arriving then must still start the shutdown."""
    import contextlib
    import os
    import signal

    from collab.management.commands.serve import handle_stop_signals

    loop = asyncio.get_running_loop()
    started = asyncio.Event()

    async def shutdown():
        started.set()

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    saved_wakeup = signal.set_wakeup_fd(loop._csock.fileno())  # as asyncio's signal handling does
    try:
        handle_stop_signals(loop, shutdown)
        with contextlib.suppress(BlockingIOError):
            while True:
                loop._csock.send(b"\0")  # the self-pipe, full
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(started.wait(), timeout=5)
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # a second one stops at once
    finally:
        signal.set_wakeup_fd(saved_wakeup)
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def test_nagle_is_off_on_accepted_connections_and_the_channel_keeps_no_closure(monkeypatch):
    from daphne.http_protocol import HTTPFactory
    from twisted.internet.testing import StringTransport

    from collab.management.commands.serve import disable_nagle

    monkeypatch.setattr(HTTPFactory, "buildProtocol", HTTPFactory.buildProtocol)  # put back afterwards

    class Transport(StringTransport):
        nodelay = False

        def setTcpNoDelay(self, enabled):
            self.nodelay = enabled

    disable_nagle()
    protocol = HTTPFactory(server=None).buildProtocol(("127.0.0.1", 5000))
    channel = getattr(protocol, "_channel", protocol)
    transport = Transport()
    protocol.makeConnection(transport)
    try:
        assert transport.nodelay is True
        # An instance attribute holding a closure over the channel would be a reference
        # cycle: the channel and all it holds could only go when the collector finds it.
        assert "connectionMade" not in vars(channel)
    finally:
        channel.setTimeout(None)


def test_the_http_request_of_an_upgraded_connection_is_let_go():
    from types import SimpleNamespace

    from twisted.web.http import HTTPChannel

    from collab.management.commands.serve import release_upgraded_request

    channel = HTTPChannel()
    upgraded = SimpleNamespace(channel=channel, transport=None)  # daphne took its transport
    plain = SimpleNamespace(channel=channel, transport=object())
    channel.requests = [upgraded, plain]
    release_upgraded_request(upgraded)
    release_upgraded_request(plain)
    assert channel.requests == [plain]
    release_upgraded_request(SimpleNamespace(channel=None, transport=None))  # nothing to do
    assert channel.requests == [plain]
