-- Per list, the newest tombstone ever compacted away: a _since older than it would miss
-- deletions, so the API refuses it (docs/compatibility.md, "Tombstone compaction").
CREATE TABLE deletion_horizons (
    resource_name TEXT NOT NULL,
    parent_id TEXT NOT NULL,
    last_modified BIGINT NOT NULL,
    PRIMARY KEY (resource_name, parent_id)
) WITHOUT ROWID;
