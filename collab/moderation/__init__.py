"""Moderators' actions, audited; the admin calls them."""
