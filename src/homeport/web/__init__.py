"""Shared ASGI plumbing: Kinto-shaped errors and authentication."""
