"""Memberships: tiers and members as private records of the home (``store.py``), their pure
rules (``model.py``), Ghost and Substack CSV (``csvio.py``), and the entitlements a provider
checks at sign-in without holding a readable member list (``entitlements.py``)."""
