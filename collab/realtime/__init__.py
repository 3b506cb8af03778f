"""The real-time engine: rooms, the registry and its ticker, the consumer and its
handshake, events between workers, who is connected where.
"""
