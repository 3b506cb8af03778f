"""JSON log lines: one object per line, with the connection's fields where there is one."""

from __future__ import annotations

import asyncio
import json
import logging

from collab.infra import jsonlog


def test_a_line_is_one_json_object_with_the_bound_fields_of_its_task():
    formatter = jsonlog.JsonFormatter()

    async def connection(document: str) -> str:
        jsonlog.bind(document=document, user=7, connection="c1")
        record = logging.LogRecord("collab.realtime.room", logging.WARNING, __file__, 1, "closing %s", ("x",), None)
        return formatter.format(record)

    async def both():
        return await asyncio.gather(connection("doc-a"), connection("doc-b"))

    first, second = (json.loads(line) for line in asyncio.run(both()))
    assert first["message"] == "closing x" and first["level"] == "WARNING" and first["logger"] == "collab.realtime.room"
    assert (first["document"], second["document"]) == ("doc-a", "doc-b")  # each task its own
    assert first["user"] == "7" and first["connection"] == "c1" and first["worker"] and first["time"].endswith("+00:00")
    plain = json.loads(formatter.format(logging.LogRecord("x", logging.INFO, __file__, 1, "no context", (), None)))
    assert "document" not in plain


def test_the_setting_picks_the_format(monkeypatch):
    import importlib

    import pytest
    from django.core.exceptions import ImproperlyConfigured

    import config.settings as settings_module

    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ImproperlyConfigured):
        importlib.reload(settings_module)
    monkeypatch.setenv("LOG_FORMAT", "json")
    assert importlib.reload(settings_module).LOGGING["handlers"]["console"]["formatter"] == "json"
    monkeypatch.delenv("LOG_FORMAT")
    importlib.reload(settings_module)
