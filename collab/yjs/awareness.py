"""The awareness states a room knows, merged by y-protocols' rule.

A newer clock replaces a state; a `null` state with the same clock removes it
(that is how a removal is announced without a clock of its own). States not
renewed within `timeout` seconds are dropped, as browsers drop them: the clients
renew theirs every 15 s, and look for outdated states every `timeout / 10`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable

from collab.yjs.protocol import AwarenessEntry

OUTDATED_TIMEOUT = 30.0


class AwarenessStates:
    def __init__(self, *, timeout: float = OUTDATED_TIMEOUT, clock: Callable[[], float] = time.monotonic):
        self.timeout = timeout
        self.clock = clock
        self.entries: dict[int, AwarenessEntry] = {}  # removed clients keep their last clock
        self.seen: dict[int, float] = {}
        self._next_expiry = 0.0  # walking every state on every tick is wasted work

    def apply(self, entries: Iterable[AwarenessEntry]) -> list[AwarenessEntry]:
        """Merge entries; return those that changed what we know."""
        changed = []
        now = self.clock()
        for entry in entries:
            known = self.entries.get(entry.client_id)
            if (
                known is None
                or entry.clock > known.clock
                or (entry.clock == known.clock and entry.removed and not known.removed)
            ):
                self.entries[entry.client_id] = entry
                self.seen[entry.client_id] = now
                changed.append(entry)
        return changed

    def remove(self, client_ids: Iterable[int]) -> list[AwarenessEntry]:
        """Mark clients gone; return the `null` entries to broadcast."""
        removed = []
        for client_id in client_ids:
            known = self.entries.get(client_id)
            if known is not None and not known.removed:
                entry = AwarenessEntry(client_id, known.clock, "null")
                self.entries[client_id] = entry
                removed.append(entry)
        return removed

    def expire(self) -> list[AwarenessEntry]:
        """Drop states not renewed within the timeout; return their removals.

        Looks at most every `timeout / 10` seconds, as y-protocols does.
        """
        now = self.clock()
        if now < self._next_expiry:
            return []
        self._next_expiry = now + self.timeout / 10
        deadline = now - self.timeout
        stale = [cid for cid, entry in self.entries.items() if not entry.removed and self.seen[cid] < deadline]
        return self.remove(stale)

    def current(self) -> list[AwarenessEntry]:
        return [entry for entry in self.entries.values() if not entry.removed]


def stamp_identity(entry: AwarenessEntry, user: dict) -> AwarenessEntry:
    """The entry with `user.name` and `user.color` set by the server, whatever the client said."""
    if entry.removed:
        return entry
    state = json.loads(entry.state)
    if not isinstance(state, dict):
        return entry
    claimed = state.get("user")
    state["user"] = {**(claimed if isinstance(claimed, dict) else {}), **user}
    return AwarenessEntry(entry.client_id, entry.clock, json.dumps(state, separators=(",", ":"), ensure_ascii=False))
