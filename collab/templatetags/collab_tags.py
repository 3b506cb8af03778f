"""Template filters of collab's pages."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

from collab.access import identity

register = template.Library()


@register.filter
def display_name(user) -> str:
    """The name an account shows others (collab.access.identity.display_name)."""
    return identity.display_name(user)


@register.filter
def ago(moment) -> str:
    """How long ago: "just now" within the last minute (where timesince says "0 minutes"), else "5 minutes ago"."""
    if timezone.now() - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment)} ago"
