"""Connections to Redis and their outages: what storage and the real-time engine build on."""
