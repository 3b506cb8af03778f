"""A worker's subscription outlives Redis's host going away without a word."""

import json
import shutil
import subprocess
import sys

from tests.servers import ROOT


def test_a_subscription_to_a_redis_host_that_vanished_is_noticed_and_made_again():
    # tests/redis_partition.py: the host stops answering for longer than the
    # keepalive window, then comes back as a new Redis that knows no subscriber.
    missing = [tool for tool in ("unshare", "nsenter", "ip", "redis-server") if shutil.which(tool) is None]
    assert not missing, f"this test needs {', '.join(missing)} (util-linux, iproute2, Redis)"
    command = ["unshare", "--user", "--map-root-user", "--net", sys.executable, "-m", "tests.redis_partition"]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        raise AssertionError("the scenario never finished: the subscriber's event loop was stuck") from None
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["before"] is True
    assert seen["after"] is True, "no event arrived once the host was back: the subscription was not made again"
    assert seen["cpu_while_cut"] < 1.0  # it waited for the host, it did not spin
