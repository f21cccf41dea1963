"""Confide protocol: sans-I/O wire formats, key agreement, ratchet, content and sealed sender."""
