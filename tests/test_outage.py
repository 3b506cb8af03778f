"""An outage of Redis told by its start, reminders and end, not by every failed try."""

from __future__ import annotations

import logging
import threading

from redis.exceptions import ConnectionError as RedisConnectionError

from collab.infra import outage
from collab.infra.outage import Outage, RedisFailures


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lines(caplog, level: int = logging.WARNING) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "collab.infra.outage" and r.levelno >= level]


def test_an_outage_is_one_warning_a_reminder_a_minute_and_one_line_when_it_ends(caplog):
    clock = Clock()
    redis = Outage("Redis", clock=clock)
    refused = RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    caplog.set_level(logging.DEBUG, logger="collab.infra.outage")

    redis.ok()  # nothing was wrong: nothing to say
    assert lines(caplog, logging.DEBUG) == []

    for second in range(130):  # a failure a second for 130 s
        clock.now = 1000.0 + second
        redis.failed("publishing presence", refused)
    assert lines(caplog) == [
        "Redis unreachable (publishing presence: ConnectionError: Error 111 connecting to 127.0.0.1:6379. "
        "Connection refused.). Edits are still stored, and rooms catch up from the database; retrying, "
        "and saying so here when Redis answers again",
        "Redis still unreachable after 60 s: 61 failed attempts (latest: publishing presence: "
        "ConnectionError: Error 111 connecting to 127.0.0.1:6379. Connection refused.)",
        "Redis still unreachable after 120 s: 121 failed attempts (latest: publishing presence: "
        "ConnectionError: Error 111 connecting to 127.0.0.1:6379. Connection refused.)",
    ]
    assert len(lines(caplog, logging.DEBUG)) == 130  # the other 127 at debug level

    clock.now += 2.5
    redis.ok()
    redis.ok()
    assert lines(caplog)[3:] == ["Redis answers again: 130 failed attempts over 129.0 s, the latest 2.5 s ago"]

    redis.failed("sending 3 events to the other workers", TimeoutError())
    assert lines(caplog)[4:] == [
        "Redis unreachable (sending 3 events to the other workers: TimeoutError). Edits are still stored, "
        "and rooms catch up from the database; retrying, and saying so here when Redis answers again"
    ]


def test_other_errors_are_each_a_warning_and_start_no_outage(caplog):
    redis = Outage("Redis", clock=Clock())
    caplog.set_level(logging.DEBUG, logger="collab.infra.outage")
    redis.failed("publishing presence", ValueError("not serialisable"))
    redis.failed("publishing presence", ValueError("not serialisable"))
    redis.ok()
    assert lines(caplog, logging.DEBUG) == ["publishing presence failed: ValueError: not serialisable"] * 2
    assert redis.since is None


def test_channels_redis_receive_tracebacks_go_to_the_outage(monkeypatch, caplog):
    monkeypatch.setattr(outage, "redis", Outage("Redis", clock=Clock()))
    caplog.set_level(logging.DEBUG)
    source = logging.getLogger("channels_redis.pubsub")
    # Installed by the settings' LOGGING, where channels-redis logs its receiver's failures.
    assert any(isinstance(f, RedisFailures) and f.what == "receiving from Redis" for f in source.filters)

    for _ in range(3):
        try:
            raise RedisConnectionError("Connection closed by server.")
        except RedisConnectionError:
            source.exception("Unexpected exception in receive task")
    try:
        raise KeyError("channel")
    except KeyError:
        source.exception("Unexpected exception in receive task")

    from_source = [r for r in caplog.records if r.name == "channels_redis.pubsub"]
    assert [r.exc_info[0] for r in from_source] == [KeyError]  # anything else still passes, traceback and all
    assert outage.redis.failures == 3
    assert lines(caplog) == [
        "Redis unreachable (receiving from Redis: ConnectionError: Connection closed by server.). Edits are "
        "still stored, and rooms catch up from the database; retrying, and saying so here when Redis answers again"
    ]


def test_failures_reported_from_several_threads_start_one_outage(caplog):
    redis = Outage("Redis")
    refused = RedisConnectionError("Connection refused.")
    caplog.set_level(logging.WARNING, logger="collab.infra.outage")
    threads = [
        threading.Thread(target=lambda: [redis.failed("reading a session", refused) for _ in range(200)])
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert redis.failures == 1600
    assert len(lines(caplog)) == 1
