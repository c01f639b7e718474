-- job_reconciliation_fleet indexed (chain_id, device_type, model_id), but device_type is
-- free text the sequencer admits up to 4096 UTF-8 bytes (validateEvent): a btree entry
-- above 2704 bytes fails ("index row size … exceeds btree version 4 maximum"), and the
-- reconciler writes a whole chain in one transaction, so one such device stopped the
-- reconciliation of every job of the chain. fleetReconciliation reads one chain through
-- the primary key (chain_id, job_id) and groups in memory; the index is not needed.
DROP INDEX IF EXISTS job_reconciliation_fleet;
