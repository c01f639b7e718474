-- `hwledger archive --db` deletes a chain's records up to its cut, a signed checkpoint whose
-- head it has verified. The cut's sequence and head hash are kept here (written before the
-- delete), so that VerifyRange starts the records still stored from the archive's anchor
-- instead of failing on the deleted ones as a gap; the archived records themselves are verified
-- with `hwledger verify --archive`.
CREATE TABLE IF NOT EXISTS archived_prefixes (
  chain_id    text PRIMARY KEY,
  sequence    bigint NOT NULL CHECK (sequence > 0),
  hash        bytea NOT NULL CHECK (octet_length(hash) = 32),
  archived_at timestamptz NOT NULL DEFAULT now()
);
