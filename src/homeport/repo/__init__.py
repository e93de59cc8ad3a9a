"""The signed repository: objects, content-defined chunking, snapshots."""
