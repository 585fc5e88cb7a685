-- Presignatures this node has consumed. The row is committed (synchronous =
-- FULL) before the partial signature made from the presignature leaves the
-- node, and the sealed presignature is deleted in the same transaction. Ids
-- are kept forever: no presignature is used twice, also across crashes,
-- restarts and a server that asks again.
CREATE TABLE presignatures_used (
    id       TEXT PRIMARY KEY,   -- hex presignature id (its presigning execution id)
    used_at  INTEGER NOT NULL
);

-- What this node took part in, in order: every job with its parameters and
-- result, so a node operator can see what their share was used for without
-- trusting the server. A row is written before the job runs (a node that
-- cannot journal does not run the job) and completed once with its outcome.
CREATE TABLE journal (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    session     TEXT NOT NULL,       -- hex session id
    kind        TEXT NOT NULL,       -- aux-info | keygen | presign | sign | sign-presigned
    key_id      TEXT,                -- hex, when the job uses a key
    detail      TEXT NOT NULL,       -- JSON: signers, path, message digest, …
    outcome     TEXT NOT NULL,       -- JSON: what the node reported
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER NOT NULL
);
