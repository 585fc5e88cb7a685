-- The server's view of the ECDSA presignature pool. It only schedules: the
-- presignatures themselves live sealed in the signers' vaults, and each node
-- keeps its own record of use, so a server that hands one out twice gets a
-- refusal, not a second partial signature.
CREATE TABLE presignatures (
    id          TEXT PRIMARY KEY,        -- presignature id (hex), equal at every signer
    wallet_id   TEXT NOT NULL REFERENCES wallets(id),
    signers     TEXT NOT NULL,           -- JSON array of committee indices, sorted
    state       TEXT NOT NULL,           -- ready | taken
    created_at  BIGINT NOT NULL,
    taken_at    BIGINT
);
CREATE INDEX presignatures_ready ON presignatures(wallet_id, state, created_at);
