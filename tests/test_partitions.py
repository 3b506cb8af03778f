"""A worker's connections outlive their servers' hosts going away without a word.

Each scenario runs in network namespaces of its own (`tests.netns`), with the
server on another host whose link goes silent.
"""

import json
import shutil
import subprocess
import sys

from tests.servers import ROOT


def scenario(module: str, *tools: str) -> dict:
    """Run `python -m module` in a user and network namespace of its own; what it saw."""
    missing = [tool for tool in ("unshare", "nsenter", "ip", *tools) if shutil.which(tool) is None]
    assert not missing, f"this test needs {', '.join(missing)} (util-linux, iproute2, the server)"
    command = ["unshare", "--user", "--map-root-user", "--net", sys.executable, "-m", module]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{module} never finished: its event loop was stuck") from None
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_subscription_to_a_redis_host_that_vanished_is_noticed_and_made_again():
    # The host stops answering for longer than the keepalive window, then comes
    # back as a new Redis that knows no subscriber.
    seen = scenario("tests.redis_partition", "redis-server")
    assert seen["before"] is True
    assert seen["after"] is True, "no event arrived once the host was back: the subscription was not made again"
    assert seen["cpu_while_cut"] < 1.0  # it waited for the host, it did not spin


def test_postgresql_connections_to_a_host_that_vanished_fail_instead_of_waiting():
    # A statement sent to the silent host (a handshake's, over Django's connection)
    # fails once unacknowledged for the user timeout (2 s here) instead of after
    # the kernel's retransmissions; an idle loop connection is seen broken once
    # its keepalive probes go unanswered (about 3 s here), before a commit uses it.
    seen = scenario("tests.postgres_partition")
    assert seen["before"] is True
    # The scenario waits 20 s for it, where the kernel's retransmissions take minutes.
    assert seen["statement_failed_after_s"] is not None, "the statement still waited for the silent server"
    assert seen["idle_seen_broken"] is True
