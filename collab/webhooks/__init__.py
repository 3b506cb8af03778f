"""Telling other programs about changes: signed webhooks, delivered from a queue."""
