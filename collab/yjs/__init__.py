"""The Yjs formats, without Django: the y-websocket wire protocol, update checks,
awareness.
"""
