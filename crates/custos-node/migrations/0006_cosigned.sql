-- Every checkpoint this node co-signed: a signing job's majority checkpoint
-- must have the root this node itself co-signed at that size.
CREATE TABLE cosigned (
    size      INTEGER PRIMARY KEY,
    root      BLOB NOT NULL
);
