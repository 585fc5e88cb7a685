-- Custos server store, SQLite. Times are Unix seconds supplied by the server.
CREATE TABLE nodes (
    id              TEXT PRIMARY KEY,      -- enrolled channel public key (hex)
    name            TEXT NOT NULL UNIQUE,
    tls_fingerprint TEXT NOT NULL,
    enrolled_at     INTEGER NOT NULL
);

CREATE TABLE committees (
    id          TEXT PRIMARY KEY,
    threshold   INTEGER NOT NULL,
    nodes       TEXT NOT NULL,             -- JSON array of node ids, in committee-index order
    aux_id      TEXT,                      -- set once the ECDSA aux info exists
    created_at  INTEGER NOT NULL
);

CREATE TABLE wallets (
    id            TEXT PRIMARY KEY,
    scheme        TEXT NOT NULL,
    committee_id  TEXT NOT NULL REFERENCES committees(id),
    key_id        TEXT NOT NULL UNIQUE,
    public_key    TEXT NOT NULL,         -- what signatures at the root verify against
    root_key      TEXT NOT NULL,         -- for watch-only derivation (BIP-340: internal key)
    chain_code    TEXT,
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,        -- 32-byte session id (hex)
    kind          TEXT NOT NULL,
    committee_id  TEXT NOT NULL REFERENCES committees(id),
    wallet_id     TEXT REFERENCES wallets(id),
    parties       TEXT NOT NULL,           -- JSON array of committee indices
    state         TEXT NOT NULL,
    error         TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE sign_requests (
    id          TEXT PRIMARY KEY,
    wallet_id   TEXT NOT NULL REFERENCES wallets(id),
    message     BLOB NOT NULL,
    path        TEXT NOT NULL,
    state       TEXT NOT NULL,
    session_id  TEXT REFERENCES sessions(id),
    signature   BLOB,
    error       TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX sign_requests_by_wallet ON sign_requests(wallet_id, created_at);
