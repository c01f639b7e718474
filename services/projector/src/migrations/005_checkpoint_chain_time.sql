-- Chain time of the projector's checkpoint: sealed_at_ms of the last projected record. The
-- reconciler's chain time and the chain status's verified time joined the checkpoint to its own
-- row in `records`; `hwledger archive --db` deletes the rows up to its cut, and on a chain idle
-- past the retention the cut is the checkpoint: chain time read 0, and every stuck job lost its
-- missing_completion flag. Kept here, archival leaves it alone.
ALTER TABLE projector_checkpoints ADD COLUMN IF NOT EXISTS sealed_at_ms bigint;
UPDATE projector_checkpoints c SET sealed_at_ms = r.sealed_at_ms
  FROM records r
 WHERE r.chain_id = c.chain_id AND r.sequence = c.sequence AND c.sealed_at_ms IS NULL;
