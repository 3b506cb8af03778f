"""Differences between two texts, line first and then within the lines that changed.

A character-level `difflib` match is quadratic: 2.7 s for 12k characters and no
end in sight for 120k. Matching lines first leaves only the changed blocks to
compare character by character, milliseconds for either.
"""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import Literal

Op = Literal["equal", "insert", "delete"]

# A changed block larger than this on either side is not compared character by
# character (a rewrite is shown as one deletion and one insertion).
CHAR_DIFF_LIMIT = 20_000


def opcodes(old: str, new: str) -> list[tuple[Op, str]]:
    """`old` turned into `new` as runs: ("equal", text), ("delete", text), ("insert", text)."""
    runs: list[tuple[Op, str]] = []
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        before, after = "".join(a[i1:i2]), "".join(b[j1:j2])
        if tag == "equal":
            _add(runs, "equal", before)
        elif tag == "replace" and len(before) <= CHAR_DIFF_LIMIT and len(after) <= CHAR_DIFF_LIMIT:
            for ctag, k1, k2, l1, l2 in SequenceMatcher(None, before, after, autojunk=False).get_opcodes():
                if ctag == "equal":
                    _add(runs, "equal", before[k1:k2])
                else:
                    _add(runs, "delete", before[k1:k2])
                    _add(runs, "insert", after[l1:l2])
        else:
            _add(runs, "delete", before)
            _add(runs, "insert", after)
    return runs


def _add(runs: list[tuple[Op, str]], op: Op, text: str) -> None:
    if not text:
        return
    if runs and runs[-1][0] == op:
        runs[-1] = (op, runs[-1][1] + text)
    else:
        runs.append((op, text))


def counts(old: str, new: str) -> tuple[int, int]:
    """Characters added and removed from `old` to `new`."""
    added = removed = 0
    for op, text in opcodes(old, new):
        if op == "insert":
            added += len(text)
        elif op == "delete":
            removed += len(text)
    return added, removed


def edits(old: str, new: str) -> list[tuple[int, int, str]]:
    """(position in `old`, characters to delete there, text to insert there), in order."""
    found: list[tuple[int, int, str]] = []
    position = 0
    for op, text in opcodes(old, new):
        if op == "equal":
            position += len(text)
        elif op == "delete":
            found.append((position, len(text), ""))
            position += len(text)
        elif found and found[-1][0] + found[-1][1] == position and not found[-1][2]:
            start, deleted, _ = found[-1]
            found[-1] = (start, deleted, text)  # a replacement: delete, then insert in its place
        else:
            found.append((position, 0, text))
    return found


def readable(runs: list[tuple[Op, str]]) -> list[tuple[Op, str]]:
    """The runs with short common pieces between two changes folded into them, as people
    read a rewrite: "Meeting" replaced by "BUY" is one deletion and one insertion, not a
    shared "e" between scraps. Both texts read back from the result unchanged."""
    blocks: list[list] = []  # ["equal", text] or ["change", deleted, inserted]
    for op, text in runs:
        if op == "equal":
            blocks.append(["equal", text])
            continue
        if not blocks or blocks[-1][0] != "change":
            blocks.append(["change", "", ""])
        blocks[-1][1 if op == "delete" else 2] += text
        while len(blocks) >= 3 and blocks[-2][0] == "equal" and blocks[-3][0] == "change":
            before, common, after = blocks[-3], blocks[-2][1], blocks[-1]
            if len(common) > min(max(len(before[1]), len(before[2])), max(len(after[1]), len(after[2]))):
                break
            blocks[-3:] = [["change", before[1] + common + after[1], before[2] + common + after[2]]]
    folded: list[tuple[Op, str]] = []
    for block in blocks:
        if block[0] == "equal":
            folded.append(("equal", block[1]))
        else:
            folded += [(op, text) for op, text in (("delete", block[1]), ("insert", block[2])) if text]
    return folded
