"""The sync protocol's endpoints under ``/_homeport/v1`` (``docs/protocol.md``), one module per
concern: ``context`` (what every endpoint needs), ``http`` (bodies and the error mapping),
``signed`` (which tenant signed a request), ``enroll``, ``tenant``, ``objects``, ``publishing``,
``domains``, and ``routes`` (the table). Work on a tenant's repository runs in a worker thread,
one job per tenant at a time in any worker process (``locks.py``).
"""
