"""Confide relay: an aiohttp server on SQLite that stores only ciphertext."""
