"""The provider: a multi-tenant server that receives homes' snapshots and serves their sites."""
