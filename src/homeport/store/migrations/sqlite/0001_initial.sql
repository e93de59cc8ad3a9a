-- Objects, tombstones, per-collection timestamps, permissions and group membership.
-- Text columns use SQLite's default BINARY collation: code point order, as in Python.
CREATE TABLE objects (
    resource_name TEXT NOT NULL,
    parent_id TEXT NOT NULL,
    id TEXT NOT NULL,
    last_modified INTEGER NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    data TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (resource_name, parent_id, id)
) WITHOUT ROWID;
CREATE INDEX idx_objects_last_modified ON objects (resource_name, parent_id, last_modified);

CREATE TABLE timestamps (
    resource_name TEXT NOT NULL,
    parent_id TEXT NOT NULL,
    last_modified INTEGER NOT NULL,
    PRIMARY KEY (resource_name, parent_id)
) WITHOUT ROWID;

CREATE TABLE access_control_entries (
    object_uri TEXT NOT NULL,
    permission TEXT NOT NULL,
    principal TEXT NOT NULL,
    PRIMARY KEY (object_uri, permission, principal)
) WITHOUT ROWID;
CREATE INDEX idx_ace_principal ON access_control_entries (principal, permission);

CREATE TABLE user_principals (
    user_id TEXT NOT NULL,
    principal TEXT NOT NULL,
    PRIMARY KEY (user_id, principal)
) WITHOUT ROWID;
CREATE INDEX idx_user_principals_principal ON user_principals (principal);
