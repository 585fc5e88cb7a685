-- The audit log: insert-only, one row per entry (postcard SignedEntry).
-- Entries are hash-linked and signed; nodes co-sign checkpoints over them,
-- so an edited or deleted row is detected by `custos audit verify`.
CREATE TABLE audit_entries (
    seq   INTEGER PRIMARY KEY,
    body  BLOB NOT NULL
);

-- Governance chain, checkpoints, pending proposals and transfer requests,
-- as documents of a kind (postcard or JSON bodies). Governance steps and
-- checkpoints are written once; proposals and requests change state.
CREATE TABLE documents (
    kind        TEXT NOT NULL,
    id          TEXT NOT NULL,
    body        BLOB NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
);
