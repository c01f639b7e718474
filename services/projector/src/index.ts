/**
 * @hwledger/projector: projects a verified chain into Postgres read models
 * (docs/read-models.md), prices usage, and answers queries over them.
 */
export { migrate, loadMigrations, schemaVersion, MIGRATION_LOCK_KEY, type Migration } from './migrate.js';
export { Projector, type ProjectorOptions, type ProjectorState, type ProjectorHealth } from './projection/projector.js';
export { rebuildChain, DERIVED_TABLES } from './projection/rebuild.js';
export { readCheckpoint, ensureCheckpoint } from './projection/checkpoint.js';
export { EntryVerifier, type ChainBreak, type BreakReason, type VerifiedEntry } from './projection/entry-verifier.js';
export { ChainSource, type SourceEntry } from './projection/chain-source.js';
export { projectorMetrics, type ProjectorMetrics } from './metrics.js';
export { startHealthServer, type HealthSource } from './health-server.js';
export { isTransientPgError } from './pg-errors.js';
export { toJsonSafe, type JsonSafe } from './json-safe.js';
export { HOUR_MS, DAY_MS, hourStart, dayStart } from './windows.js';
export { rateLine } from './pricing/rating.js';
export {
  loadPriceBooks,
  bookForWindow,
  gpuRate,
  tokenRate,
  parsePriceBookJson,
  priceBookToJson,
  DEFAULT_RATE_KEY,
  type PriceBook,
  type PriceBookInput,
} from './pricing/price-book.js';
export { setPriceBook, listPriceBooks, type SetPriceBookResult } from './pricing/set-price-book.js';
export { rerateRange, type RerateResult } from './pricing/rerate.js';
export { PRICING_LOCK_KEY } from './pricing/lock.js';
export * from './queries/index.js';
export { bulkWrite, type Column } from './projection/bulk.js';
export { withClient, inTransaction } from './pg-client.js';
