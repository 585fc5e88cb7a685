-- Wallets carry the nodes' attestations (issue 13): each member signed the
-- wallet's record with its witness key, and readers verify them against the
-- committee's keys in the governance chain. Rows from before have none and
-- so convince no reader.
ALTER TABLE wallets ADD COLUMN blind BIGINT NOT NULL DEFAULT 0;
ALTER TABLE wallets ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE wallets ADD COLUMN attestations TEXT NOT NULL DEFAULT '[]';
