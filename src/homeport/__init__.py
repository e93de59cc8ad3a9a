"""Homeport: a home server for your data, spoken over a Kinto-compatible API."""

__version__ = "0.1.0"
