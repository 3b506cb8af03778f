"""Thin old automatic versions (collab.history.retention); safe while people edit."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from collab.history.retention import versions_thin


class Command(BaseCommand):
    help = "Keep every version of the last day, one per hour for 30 days, one per day after; named ones for good."

    def handle(self, *args, **options):
        deleted = versions_thin()
        self.stdout.write(f"{deleted} automatic version(s) thinned out")
