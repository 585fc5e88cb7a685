-- Per key, the value each of its outpoints was first stated (or proven) to have when
-- this node signed for it: a later request stating another value is
-- refused (a segwit v0 signature commits only to its own input's amount).
CREATE TABLE outpoint_values (
    key_id TEXT NOT NULL,
    txid TEXT NOT NULL,
    vout INTEGER NOT NULL,
    value INTEGER NOT NULL,
    proven INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    PRIMARY KEY (key_id, txid, vout)
);

-- The presignature pool is gone (ADR 0008).
DROP TABLE presignatures_used;
