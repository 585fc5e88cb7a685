-- Transfer requests this node has started signing. Written before the node
-- joins the signing, so a server that replays a request gets a refusal.
CREATE TABLE signed_requests (
    request_id   TEXT PRIMARY KEY,   -- hex, from the transfer intent
    intent_hash  TEXT NOT NULL,      -- hex SHA-256 of the canonical intent
    at           INTEGER NOT NULL
);
