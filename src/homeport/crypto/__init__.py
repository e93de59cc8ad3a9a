"""Keys from the recovery phrase, signatures and did:key identities (thin over `cryptography`)."""
