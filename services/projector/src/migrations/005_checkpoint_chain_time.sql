-- Chain time of the projector's checkpoint: sealed_at_ms of the last projected record. The
-- reconciler's chain time and the chain status's verified time joined the checkpoint to its own
-- row in `records`; `hwledger archive --db` deletes the rows up to its cut, and on a chain idle
-- past the retention the cut is the checkpoint: chain time read 0, and every stuck job lost its
-- missing_completion flag. Kept here, archival leaves it alone.
ALTER TABLE projector_checkpoints ADD COLUMN IF NOT EXISTS sealed_at_ms bigint;
UPDATE projector_checkpoints c SET sealed_at_ms = r.sealed_at_ms
  FROM records r
 WHERE r.chain_id = c.chain_id AND r.sequence = c.sequence AND c.sealed_at_ms IS NULL;
-- A database archived before this migration may have lost the checkpoint's own row (on a chain
-- idle past the retention the cut is the checkpoint): then the latest chain time the derived rows
-- still hold at or before it. sealed_at_ms never decreases along a chain, so this is exact when
-- one of them is the checkpoint's record, and never later than it otherwise.
UPDATE projector_checkpoints c SET sealed_at_ms = GREATEST(
    (SELECT m.sealed_at_ms FROM device_metrics m WHERE m.chain_id = c.chain_id AND m.sequence <= c.sequence ORDER BY m.sequence DESC LIMIT 1),
    (SELECT r.sealed_at_ms FROM inference_requests r WHERE r.chain_id = c.chain_id AND r.sequence <= c.sequence ORDER BY r.sequence DESC LIMIT 1),
    (SELECT max(j.dispatched_at_ms) FROM jobs j WHERE j.chain_id = c.chain_id AND j.dispatch_sequence <= c.sequence),
    (SELECT max(j.completed_at_ms) FROM jobs j WHERE j.chain_id = c.chain_id AND j.completion_sequence <= c.sequence),
    (SELECT max(j.failed_at_ms) FROM jobs j WHERE j.chain_id = c.chain_id AND j.failure_sequence <= c.sequence),
    (SELECT max(d.registered_at_ms) FROM devices d WHERE d.chain_id = c.chain_id AND d.registered_sequence <= c.sequence),
    (SELECT max(d.last_seen_at_ms) FROM devices d WHERE d.chain_id = c.chain_id AND d.last_metrics_sequence <= c.sequence)
  )
 WHERE c.sealed_at_ms IS NULL AND c.sequence > 0;
