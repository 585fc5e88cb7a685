-- Custos node store (SQLite). Every secret is sealed by the vault before it
-- reaches this file; rows are inserted, never updated.
CREATE TABLE vault_header (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    header  BLOB NOT NULL
);

CREATE TABLE vault_entries (
    kind        INTEGER NOT NULL,
    key_id      TEXT NOT NULL,       -- hex; zeros for node-wide entries
    epoch       INTEGER NOT NULL,
    sealed      BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (kind, key_id, epoch)
);
