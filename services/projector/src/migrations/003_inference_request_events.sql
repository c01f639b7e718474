-- The sequencer deduplicates (source, event_id) only over its last --recent-ids records
-- (docs/sequencer.md "Duplicate events"): an older event sent again is sealed again, and
-- consumers that must not double-count deduplicate on (source, event_id). The projector
-- bills an inference request only for the first record of its (source, event_id) on the
-- chain: this table holds that record's sequence per key. Each batch claims its keys with
-- INSERT … ON CONFLICT DO NOTHING, a primary-key probe per key whatever the planner
-- thinks of the table's size (a join against records chose a scan of all records once the
-- table grew, about 0.1 s per batch at 200,000 records). Archival (which deletes records
-- rows) leaves it alone, so a request sealed again after its first record was archived is
-- still billed once.
CREATE TABLE inference_request_events (
  chain_id  text   NOT NULL,
  source    text   NOT NULL,
  event_id  text   NOT NULL,
  -- the record that was billed
  sequence  bigint NOT NULL,
  PRIMARY KEY (chain_id, source, event_id)
);
-- Databases projected before this migration: their first records per key.
INSERT INTO inference_request_events (chain_id, source, event_id, sequence)
  SELECT DISTINCT ON (chain_id, source, event_id) chain_id, source, event_id, sequence
    FROM records WHERE kind = 'inference_request_completed'
   ORDER BY chain_id, source, event_id, sequence;
