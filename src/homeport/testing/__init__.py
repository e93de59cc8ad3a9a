"""Test helpers shipped with Homeport (throwaway PostgreSQL clusters and the like).

Nothing here is used by the server at run time; it exists for the test suites, benchmarks and
developers (``python -m homeport.testing.postgres``, ``python -m homeport.testing.seaweed`` for
an S3-compatible server).
"""
