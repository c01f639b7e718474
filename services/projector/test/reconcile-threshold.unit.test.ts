/**
 * The variance threshold is "|actual − predicted| / predicted > threshold"
 * (docs/projector.md). overThreshold rounded the threshold to 4 decimals, so
 * a threshold the CLI accepts (any number >= 0) was silently changed (found
 * by a review helper); it is now compared exactly, as written.
 */
import { describe, expect, it } from 'vitest';
import { evaluateJob, type JobFacts } from '@hwledger/projector';

const facts = (predicted: bigint, actual: bigint): JobFacts => ({
  chainId: 'c',
  jobId: 'j',
  status: 'completed',
  deviceId: 'd',
  deviceType: 't',
  modelId: 'm',
  vramRequestedMib: predicted,
  predictedCostMicroUsd: 1n,
  dispatchSequence: 1n,
  dispatchedAtMs: 0n,
  dispatchCount: 1,
  completionSequence: 2n,
  actualVramMib: actual,
  reportedCostMicroUsd: 1n,
  completionCount: 1,
  failureSequence: null,
  failureCount: 0,
  ratedCostMicroUsd: null,
  priceBookVersion: null,
  telemetryMaxVramMib: null,
});

describe('variance threshold', () => {
  it('does not flag a variance below a threshold given with 5 decimals', () => {
    // 10.00002 % variance against a 10.00004 % threshold: not above it.
    const r = evaluateJob(facts(10_000_000n, 11_000_002n), 0n, { thresholdPct: 10.00004, dispatchTimeoutMs: 3_600_000n });
    expect(r.flags.map((f) => f.flag)).toEqual([]);
  });
  it('a threshold of 0.00004 % is not a threshold of 0 %', () => {
    // 0.00001 % variance: below 0.00004 %.
    const r = evaluateJob(facts(10_000_000n, 10_000_001n), 0n, { thresholdPct: 0.00004, dispatchTimeoutMs: 3_600_000n });
    expect(r.flags.map((f) => f.flag)).toEqual([]);
  });
});
