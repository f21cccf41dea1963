"""Reliability under load: many client devices, one relay, offline periods and relay crashes (issue 10)."""
