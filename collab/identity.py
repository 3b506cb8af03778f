"""How a person appears to others: a name and a stable colour."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# Distinct, readable on white; each with a light variant for selections.
PALETTE = [
    ("#e03131", "#ffc9c9"),
    ("#1971c2", "#a5d8ff"),
    ("#2f9e44", "#b2f2bb"),
    ("#f08c00", "#ffec99"),
    ("#9c36b5", "#eebefa"),
    ("#0c8599", "#99e9f2"),
    ("#e8590c", "#ffd8a8"),
    ("#5f3dc4", "#d0bfff"),
    ("#c2255c", "#fcc2d7"),
    ("#2b8a3e", "#d3f9d8"),
]


@dataclass(frozen=True)
class Identity:
    name: str
    color: str
    color_light: str

    def as_awareness_user(self) -> dict:
        return {"name": self.name, "color": self.color, "colorLight": self.color_light}


def color_for(key: str) -> tuple[str, str]:
    digest = hashlib.sha256(key.encode()).digest()
    return PALETTE[digest[0] % len(PALETTE)]


def identity_for(*, user=None, guest_name: str = "", key: str = "") -> Identity:
    if user is not None and user.is_authenticated:
        name = user.get_full_name() or user.get_username()
        key = f"user:{user.pk}"
    else:
        name = f"{guest_name or 'Guest'} (guest)"
    color, light = color_for(key)
    return Identity(name=name, color=color, color_light=light)
