"""Helpers for ``bench/records.py``: servers, wrk scripts, report tables."""
