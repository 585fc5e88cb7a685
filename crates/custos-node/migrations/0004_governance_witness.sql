-- The governance chain this node validated itself, one row per height.
CREATE TABLE governance (
    height    INTEGER PRIMARY KEY,   -- 0: the genesis
    body      BLOB NOT NULL          -- postcard Genesis (0) or SignedProposal
);

-- The node as audit-log witness: its frontier and last co-signed checkpoint
-- (one row), and the signings it saw, which make up its velocity ledger.
CREATE TABLE witness_state (
    id        INTEGER PRIMARY KEY CHECK (id = 0),
    body      BLOB NOT NULL          -- postcard WitnessState
);

CREATE TABLE ledger (
    seq           INTEGER PRIMARY KEY,   -- audit entry
    request_id    TEXT NOT NULL,
    record        TEXT NOT NULL,         -- JSON SigningRecord
    witnessed_at  INTEGER NOT NULL
);
