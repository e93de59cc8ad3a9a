"""The sync protocol between a home and its providers (``docs/protocol.md``)."""
