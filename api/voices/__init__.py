"""Cloned voices: a user's voices made from samples, and their lifecycle."""
