"""How a person appears to others: a name and a stable colour."""

from __future__ import annotations

import colorsys
import hashlib
from dataclasses import dataclass

GOLDEN_ANGLE = 137.508  # degrees: consecutive numbers land far apart on the colour wheel
GUEST_MARK = "(guest)"  # after a guest's name; no account's display name may end with it


@dataclass(frozen=True)
class Identity:
    name: str
    color: str
    color_light: str

    def as_awareness_user(self) -> dict:
        return {"name": self.name, "color": self.color, "colorLight": self.color_light}


def _hex(hue: float, lightness: float, saturation: float) -> str:
    r, g, b = colorsys.hls_to_rgb(hue / 360, lightness, saturation)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def color_for(key: str) -> tuple[str, str]:
    """A colour readable on white and a light one for selections, the same for a key every time.

    Accounts are numbered, so "user:<id>" keys are spread by the golden angle:
    people who join one after another get clearly different colours.
    """
    kind, _, value = key.partition(":")
    if kind == "user" and value.isdigit():
        hue = (int(value) * GOLDEN_ANGLE) % 360
    else:
        hue = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % 360
    return _hex(hue, 0.42, 0.7), _hex(hue, 0.86, 0.8)


def display_name(user) -> str:
    """The name an account shows others: its display name, else its full name, else its username.

    Reads `user.profile`, a query unless it was loaded with the user (`with_profile`,
    `select_related("profile")`): on the event loop it must have been.
    """
    from django.core.exceptions import ObjectDoesNotExist

    try:
        name = user.profile.display_name
    except ObjectDoesNotExist:
        name = ""
    return name or user.get_full_name() or user.get_username()


def with_profile(user):
    """`user`, its profile (or its lack of one) loaded, so that `display_name` makes no query."""
    if user is not None and user.is_authenticated:
        display_name(user)
    return user


def identity_for(*, user=None, guest_name: str = "", key: str = "") -> Identity:
    if user is not None and user.is_authenticated:
        name = display_name(user)
        key = f"user:{user.pk}"
    else:
        name = f"{guest_name or 'Guest'} {GUEST_MARK}"
    color, light = color_for(key)
    return Identity(name=name, color=color, color_light=light)
