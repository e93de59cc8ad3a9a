-- Objects, tombstones, per-collection timestamps, permissions and group membership.
-- Text columns are COLLATE "C": code point order (as in Python) and prefix LIKE can use indexes.
CREATE TABLE objects (
    resource_name TEXT COLLATE "C" NOT NULL,
    parent_id TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    last_modified BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    data JSONB NOT NULL DEFAULT '{}',
    PRIMARY KEY (resource_name, parent_id, id)
);
CREATE INDEX idx_objects_last_modified ON objects (resource_name, parent_id, last_modified);

CREATE TABLE timestamps (
    resource_name TEXT COLLATE "C" NOT NULL,
    parent_id TEXT COLLATE "C" NOT NULL,
    last_modified BIGINT NOT NULL,
    PRIMARY KEY (resource_name, parent_id)
);

CREATE TABLE access_control_entries (
    object_uri TEXT COLLATE "C" NOT NULL,
    permission TEXT COLLATE "C" NOT NULL,
    principal TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (object_uri, permission, principal)
);
CREATE INDEX idx_ace_principal ON access_control_entries (principal, permission);

CREATE TABLE user_principals (
    user_id TEXT COLLATE "C" NOT NULL,
    principal TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (user_id, principal)
);
CREATE INDEX idx_user_principals_principal ON user_principals (principal);
