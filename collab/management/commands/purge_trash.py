"""Delete for good the documents in the trash for longer than COLLAB_TRASH_DAYS.

Run it daily from cron (docs/operations.md); it never touches documents people can open.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from collab.access import documents


class Command(BaseCommand):
    help = "Delete for good the documents trashed more than COLLAB_TRASH_DAYS days ago."

    def handle(self, *args, **options):
        count = documents.trash_purge()
        self.stdout.write(f"Purged {count} document(s) from the trash.")
