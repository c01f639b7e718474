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

-- A database archived before this migration (archive --db then skipped the missing table): the
-- cut is where the stored records of a chain begin. Its hash here comes from the database (the
-- first stored record's prev_hash, or the projector's checkpoint when no record is left), not
-- from the signed checkpoint archival verified; `hwledger verify --archive` checks the archive
-- against the signed ones.
INSERT INTO archived_prefixes (chain_id, sequence, hash)
SELECT f.chain_id, f.first - 1, r.prev_hash
  FROM (SELECT c.chain_id, (SELECT min(x.sequence) FROM records x WHERE x.chain_id = c.chain_id) AS first FROM projector_checkpoints c) f
  JOIN records r ON r.chain_id = f.chain_id AND r.sequence = f.first
 WHERE f.first > 1
ON CONFLICT (chain_id) DO NOTHING;
INSERT INTO archived_prefixes (chain_id, sequence, hash)
SELECT c.chain_id, c.sequence, c.hash FROM projector_checkpoints c
 WHERE c.sequence > 0 AND NOT EXISTS (SELECT 1 FROM records r WHERE r.chain_id = c.chain_id)
ON CONFLICT (chain_id) DO NOTHING;
