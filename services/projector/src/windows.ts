/**
 * Time windows of the rollups. Windows are cut on chain time (sealed_at_ms,
 * the sequencer's clock), never on the producer's observed_at_ms: producers
 * are untrusted and their clocks skew (seed 003, "Clock skew across producers").
 */
export const HOUR_MS = 3_600_000n;
export const DAY_MS = 86_400_000n;

export function hourStart(ms: bigint): bigint {
  return (ms / HOUR_MS) * HOUR_MS;
}

export function dayStart(ms: bigint): bigint {
  return (ms / DAY_MS) * DAY_MS;
}
