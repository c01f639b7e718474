/**
 * Reconciliation rules (seed 000 "Cost Reconciliation Workflow"): pair a
 * job's dispatch (predicted VRAM and cost) with its completion (actual) and
 * the device's telemetry while it ran. Pure; shared by `reconcileJob` (on
 * demand, for the API) and the reconciler service (materialized flags).
 *
 * Time is chain time: a dispatched job is `missing_completion` when the
 * chain's verified head was sealed more than dispatchTimeoutMs after the
 * dispatch. Measuring against the chain rather than the wall clock means a
 * stalled or lagging projector does not flag every running job, and a replay
 * flags exactly the same jobs.
 * "While the job ran" is chain order: metrics records of the job's device
 * after its dispatch and up to its first completion or failure.
 */
export type ReconcileFlag =
  'vram_variance' | 'cost_variance' | 'missing_completion' | 'orphan_completion' | 'orphan_failure' | 'telemetry_over_request' | 'duplicate_terminal';

export const RECONCILE_FLAGS: readonly ReconcileFlag[] = [
  'vram_variance',
  'cost_variance',
  'missing_completion',
  'orphan_completion',
  'orphan_failure',
  'telemetry_over_request',
  'duplicate_terminal',
];

export interface ReconcileSettings {
  /** Absolute variance in percent above which a job is flagged (default 10). */
  thresholdPct: number;
  /** Chain-time ms after dispatch without completion or failure (default 1 h). */
  dispatchTimeoutMs: bigint;
}

export const DEFAULT_RECONCILE_SETTINGS: ReconcileSettings = {
  thresholdPct: 10,
  dispatchTimeoutMs: 3_600_000n,
};

export interface JobFacts {
  chainId: string;
  jobId: string;
  status: 'dispatched' | 'completed' | 'failed';
  deviceId: string | null;
  deviceType: string | null;
  modelId: string | null;
  vramRequestedMib: bigint | null;
  predictedCostMicroUsd: bigint | null;
  dispatchSequence: bigint | null;
  dispatchedAtMs: bigint | null;
  dispatchCount: number;
  completionSequence: bigint | null;
  actualVramMib: bigint | null;
  reportedCostMicroUsd: bigint | null;
  completionCount: number;
  failureSequence: bigint | null;
  failureCount: number;
  ratedCostMicroUsd: bigint | null;
  priceBookVersion: number | null;
  /** Max vram_used_mib of the device's telemetry while the job ran (null: none). */
  telemetryMaxVramMib: bigint | null;
}

export interface FlagDetail {
  flag: ReconcileFlag;
  detail: string;
}

export interface JobReconciliation extends JobFacts {
  /** (actual - predicted) / predicted × 100, 2 decimals; null when not both known or predicted is 0. */
  vramVariancePct: number | null;
  costVariancePct: number | null;
  flags: FlagDetail[];
  /** Chain time the evaluation was made at. */
  chainTimeMs: bigint;
}

/** Percent variance rounded half away from zero to 2 decimals (exact bigint arithmetic). */
export function variancePct(predicted: bigint, actual: bigint): number | null {
  if (predicted === 0n) return null;
  const num = (actual - predicted) * 10_000n;
  const q = (2n * (num < 0n ? -num : num) + predicted) / (2n * predicted);
  return Number(num < 0n ? -q : q) / 100;
}

/**
 * A threshold as the exact fraction num / den of its shortest decimal form
 * (what was written: 10.00004, 0.5, 1e-7), not rounded to a fixed number of
 * decimals (it was rounded to 4: 0.00004 % acted as 0 %).
 */
function thresholdFraction(pct: number): { num: bigint; den: bigint } {
  if (!Number.isFinite(pct) || pct < 0) throw new RangeError(`threshold_pct must be a finite number >= 0, got ${pct}`);
  const [mantissa = '0', exponent = '0'] = String(pct).toLowerCase().split('e');
  const [whole = '0', fraction = ''] = mantissa.split('.');
  let num = BigInt(whole + fraction);
  let scale = fraction.length - Number(exponent);
  if (scale < 0) {
    num *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { num, den: 10n ** BigInt(scale) };
}

function overThreshold(predicted: bigint, actual: bigint, thresholdPct: number): boolean {
  if (predicted === 0n) return actual > 0n;
  const diff = actual > predicted ? actual - predicted : predicted - actual;
  // diff / predicted * 100 > num / den, compared exactly.
  const { num, den } = thresholdFraction(thresholdPct);
  return diff * 100n * den > predicted * num;
}

export function evaluateJob(f: JobFacts, chainTimeMs: bigint, s: ReconcileSettings = DEFAULT_RECONCILE_SETTINGS): JobReconciliation {
  const flags: FlagDetail[] = [];
  const dispatched = f.dispatchSequence !== null;
  const completed = f.completionSequence !== null;
  const failed = f.failureSequence !== null;
  let vramVariancePct: number | null = null;
  let costVariancePct: number | null = null;
  if (dispatched && completed) {
    const pv = f.vramRequestedMib ?? 0n;
    const av = f.actualVramMib ?? 0n;
    vramVariancePct = variancePct(pv, av);
    if (overThreshold(pv, av, s.thresholdPct)) {
      flags.push({
        flag: 'vram_variance',
        detail: `actual VRAM ${av} MiB vs predicted ${pv} MiB (${vramVariancePct ?? '∞'}%, threshold ${s.thresholdPct}%)`,
      });
    }
    const pc = f.predictedCostMicroUsd ?? 0n;
    const ac = f.reportedCostMicroUsd ?? 0n;
    costVariancePct = variancePct(pc, ac);
    if (overThreshold(pc, ac, s.thresholdPct)) {
      flags.push({
        flag: 'cost_variance',
        detail: `reported cost ${ac} µUSD vs predicted ${pc} µUSD (${costVariancePct ?? '∞'}%, threshold ${s.thresholdPct}%)`,
      });
    }
  }
  if (dispatched && !completed && !failed && f.dispatchedAtMs !== null && chainTimeMs - f.dispatchedAtMs > s.dispatchTimeoutMs) {
    flags.push({
      flag: 'missing_completion',
      detail: `dispatched at ${f.dispatchedAtMs}, no completion or failure after ${chainTimeMs - f.dispatchedAtMs} ms of chain time (timeout ${s.dispatchTimeoutMs} ms)`,
    });
  }
  if (!dispatched && completed)
    flags.push({
      flag: 'orphan_completion',
      detail: `completed at sequence ${f.completionSequence} without a dispatch`,
    });
  if (!dispatched && failed)
    flags.push({
      flag: 'orphan_failure',
      detail: `failed at sequence ${f.failureSequence} without a dispatch`,
    });
  if (dispatched && f.telemetryMaxVramMib !== null && f.vramRequestedMib !== null && f.telemetryMaxVramMib > f.vramRequestedMib) {
    flags.push({
      flag: 'telemetry_over_request',
      detail: `device ${f.deviceId} reported ${f.telemetryMaxVramMib} MiB VRAM used while the job ran, above the ${f.vramRequestedMib} MiB requested`,
    });
  }
  if (f.dispatchCount > 1 || f.completionCount + f.failureCount > 1) {
    flags.push({
      flag: 'duplicate_terminal',
      detail: `${f.dispatchCount} dispatch, ${f.completionCount} completion and ${f.failureCount} failure records`,
    });
  }
  return { ...f, vramVariancePct, costVariancePct, flags, chainTimeMs };
}
