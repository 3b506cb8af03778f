"""JSON log lines (LOG_FORMAT=json): one object per line, for a log collector.

Each line has time, level, logger, message and worker; and document, user and
connection when the line was logged on behalf of a connection (the consumer
binds them for its task: `bind`) or passes them as `extra`.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
from datetime import UTC, datetime

FIELDS = ("document", "user", "connection")
_context: contextvars.ContextVar[dict | None] = contextvars.ContextVar("collab_log_context", default=None)


def bind(**fields) -> None:
    """Fields for every line logged from here on in this task (a connection's consumer)."""
    _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "worker": os.environ.get("COLLAB_WORKER_NAME") or str(os.getpid()),
        }
        for field in FIELDS:
            value = getattr(record, field, None) or (_context.get() or {}).get(field)
            if value is not None:
                line[field] = str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)
