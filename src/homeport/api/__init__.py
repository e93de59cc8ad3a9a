"""The Kinto-compatible HTTP API under /v1/."""
