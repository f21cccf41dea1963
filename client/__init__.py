"""Confide client library and the confide command."""
