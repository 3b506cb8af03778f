"""Talking about the text: comment threads anchored to it, and a chat beside it."""
