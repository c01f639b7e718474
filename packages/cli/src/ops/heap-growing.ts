/**
 * V8's old-generation growing factor for long-running services.
 *
 * The sequencer's live heap is small and bounded (about 16 MiB: a fixed
 * recent-id table, the append window, the ingest buffer), but at 100k
 * records/s a little of what it allocates lives through two scavenges and is
 * promoted, then dies. V8 lets the old generation grow to up to 4× the live
 * heap before a full collection, so RSS rose in a slow sawtooth of about
 * 40 MiB (118 to 155 MiB over 2.5M records in bench/seal.bench.mjs) and
 * dropped back at each full collection. A growing factor of 2 bounds that:
 * RSS rose from 115 to 124 MiB over the first 450,000 records of a 2M-record
 * run and then held. Tighter is flatter but not free (docs/bench-seal.md):
 * 1.2 held RSS within 1 MiB but cost about 0.7 µs of CPU per record in more
 * full collections; 1.5 cost about 0.5 µs; 2 cost nothing measurable.
 *
 * `--heap-growing-percent` is read at every full collection, so setting it
 * after start-up takes effect from the next one (tested in
 * test/heap-growing.unit.test.ts). It is process-wide: only the
 * `hwledger sequencer` command calls this, never the libraries.
 */
import { setFlagsFromString } from 'node:v8';

/** Default for `hwledger sequencer --heap-growing-percent`. */
export const DEFAULT_HEAP_GROWING_PERCENT = 100;

/** Sets V8's old-generation growing factor to 1 + percent/100; 0 leaves V8's own heuristics. */
export function setHeapGrowingPercent(percent: number): void {
  if (!Number.isSafeInteger(percent) || percent < 0 || percent > 1_000) throw new RangeError(`heap growing percent must be an integer 0..1000, got ${percent}`);
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}
