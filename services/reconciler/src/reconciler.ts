/**
 * The reconciler (docs/read-models.md, "job_reconciliation"): reads the projector's tables, never
 * the chain, and materializes per-job reconciliation and flags
 * (job_reconciliation, reconciliation_flags) with the rules of
 * @hwledger/projector `evaluateJob`. Each run evaluates, in one
 * REPEATABLE READ transaction (one consistent snapshot of the projector's
 * tables): every job touched by records after the last run's sequence, every
 * job still running (its timeout and telemetry move with the chain), and all
 * jobs when the settings changed. The snapshot's projector checkpoint becomes
 * the new last_sequence in the same transaction.
 */
import type pg from 'pg';
import { Counter, Gauge, register as defaultRegistry, type Registry } from 'prom-client';
import { silentLogger, type Logger } from '@hwledger/core';
import {
  bulkWrite,
  inTransaction,
  chainTimeMs,
  evaluateJob,
  isTransientPgError,
  jobFactsFromRow,
  JOB_FACTS_SQL,
  RECONCILE_FLAGS,
  type JobReconciliation,
  type ReconcileSettings,
} from '@hwledger/projector';

export interface ReconcilerOptions {
  pool: pg.Pool;
  chainId: string;
  settings: ReconcileSettings;
  /** Run every intervalMs (default 5000). */
  intervalMs?: number;
  logger?: Logger;
  registry?: Registry;
}

export interface RunResult {
  evaluated: number;
  flagged: number;
  lastSequence: bigint;
  chainTimeMs: bigint;
}

interface Metrics {
  runs: Counter<'chain'>;
  failures: Counter<'chain'>;
  flagged: Gauge<'chain' | 'flag'>;
  sequence: Gauge<'chain'>;
}

function metrics(registry: Registry): Metrics {
  const registers = [registry];
  const get = <M>(name: string, make: () => M): M => (registry.getSingleMetric(name) as M | undefined) ?? make();
  return {
    runs: get(
      'hwl_reconciler_runs_total',
      () =>
        new Counter({
          name: 'hwl_reconciler_runs_total',
          help: 'Reconciliation runs completed',
          labelNames: ['chain'],
          registers,
        }),
    ),
    failures: get(
      'hwl_reconciler_failures_total',
      () =>
        new Counter({
          name: 'hwl_reconciler_failures_total',
          help: 'Reconciliation runs that failed (retried next interval)',
          labelNames: ['chain'],
          registers,
        }),
    ),
    flagged: get(
      'hwl_reconciler_flagged_jobs',
      () =>
        new Gauge({
          name: 'hwl_reconciler_flagged_jobs',
          help: 'Jobs currently carrying each reconciliation flag',
          labelNames: ['chain', 'flag'],
          registers,
        }),
    ),
    sequence: get(
      'hwl_reconciler_sequence',
      () =>
        new Gauge({
          name: 'hwl_reconciler_sequence',
          help: 'Chain sequence the reconciliation is up to',
          labelNames: ['chain'],
          registers,
        }),
    ),
  };
}

const pct = (v: number | null): string | null => (v === null ? null : v.toFixed(2));

export class Reconciler {
  private readonly log: Logger;
  private readonly m: Metrics;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  done: Promise<void> = Promise.resolve();
  lastRun: RunResult | undefined;
  lastError: string | undefined;

  constructor(private readonly o: ReconcilerOptions) {
    this.log = o.logger ?? silentLogger();
    this.m = metrics(o.registry ?? defaultRegistry);
  }

  start(): this {
    this.done = this.loop();
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wake?.();
    await this.done;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        const r = await this.runOnce();
        this.lastError = undefined;
        this.log.debug(
          {
            evaluated: r.evaluated,
            flagged: r.flagged,
            sequence: r.lastSequence.toString(),
          },
          'reconciled',
        );
      } catch (e) {
        this.lastError = e instanceof Error ? e.message : String(e);
        this.m.failures.inc({ chain: this.o.chainId });
        this.log[isTransientPgError(e) ? 'warn' : 'error']({ err: this.lastError }, 'reconciliation run failed; retrying next interval');
      }
      if (this.stopped) break;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.timer = setTimeout(resolve, this.o.intervalMs ?? 5_000);
      });
    }
  }

  /** One reconciliation pass (also usable without the loop). */
  async runOnce(): Promise<RunResult> {
    const { pool, chainId, settings } = this.o;
    // The state row is committed before the pass, not inside it: a re-rate (a new price book) asks
    // for a full re-evaluation by resetting it, and a row only this pass could see (its first pass)
    // made that request match nothing while the pass recorded costs read before the re-rate.
    // With the row there, the reset waits for the pass's lock on it and lands after it.
    await pool.query(
      `INSERT INTO reconciler_state (chain_id, last_sequence, threshold_pct, dispatch_timeout_ms) VALUES ($1, 0, $2, $3)
       ON CONFLICT (chain_id) DO NOTHING`,
      [chainId, settings.thresholdPct, settings.dispatchTimeoutMs.toString()],
    );
    const result = await inTransaction(
      pool,
      async (client) => {
        const cp = await client.query<{ sequence: string }>('SELECT sequence FROM projector_checkpoints WHERE chain_id = $1', [chainId]);
        const head = BigInt(cp.rows[0]?.sequence ?? '0');
        const st = await client.query<{
          last_sequence: string;
          threshold_pct: string;
          dispatch_timeout_ms: string;
        }>('SELECT * FROM reconciler_state WHERE chain_id = $1 FOR UPDATE', [chainId]);
        const state = st.rows[0]!;
        const settingsChanged = Number(state.threshold_pct) !== settings.thresholdPct || BigInt(state.dispatch_timeout_ms) !== settings.dispatchTimeoutMs;
        const since = settingsChanged ? -1n : BigInt(state.last_sequence);
        const now = await chainTimeMs(client, chainId);
        const rows = await client.query<Record<string, string | number | null>>(
          // Jobs changed since the last pass, running jobs, and jobs whose device type
          // comes from the device (not rated) when that device registered again since:
          // the stored report must show the type a fresh one shows (reconcile-job.ts).
          `${JOB_FACTS_SQL} WHERE j.chain_id = $1 AND (j.last_sequence > $2 OR j.status = 'dispatched'
             OR (j.rated_device_type IS NULL AND j.device_id IN (SELECT x.device_id FROM devices x WHERE x.chain_id = $1 AND x.registered_sequence > $2)))`,
          [chainId, since.toString()],
        );
        const reports: JobReconciliation[] = rows.rows.map((r) => evaluateJob(jobFactsFromRow(r), now, settings));
        await this.write(client, reports);
        await client.query(
          'UPDATE reconciler_state SET last_sequence = $2, threshold_pct = $3, dispatch_timeout_ms = $4, updated_at = now() WHERE chain_id = $1',
          [chainId, head.toString(), settings.thresholdPct, settings.dispatchTimeoutMs.toString()],
        );
        const counts = await client.query<{ flag: string; n: string }>(
          'SELECT flag, count(*) AS n FROM reconciliation_flags WHERE chain_id = $1 GROUP BY flag',
          [chainId],
        );
        return {
          counts,
          head,
          now,
          evaluated: reports.length,
          flagged: reports.filter((r) => r.flags.length > 0).length,
        };
      },
      'BEGIN ISOLATION LEVEL REPEATABLE READ',
    );
    {
      const { counts, head, now } = result;
      const byFlag = new Map(counts.rows.map((x) => [x.flag, Number(x.n)]));
      for (const f of RECONCILE_FLAGS) this.m.flagged.set({ chain: chainId, flag: f }, byFlag.get(f) ?? 0);
      this.m.runs.inc({ chain: chainId });
      this.m.sequence.set({ chain: chainId }, Number(head));
      const run = {
        evaluated: result.evaluated,
        flagged: result.flagged,
        lastSequence: head,
        chainTimeMs: now,
      };
      this.lastRun = run;
      return run;
    }
  }

  private async write(client: pg.PoolClient, reports: JobReconciliation[]): Promise<void> {
    const chainId = this.o.chainId;
    const s = (v: bigint | null): string | null => (v === null ? null : v.toString());
    await bulkWrite(
      client,
      'job_reconciliation AS t',
      [
        { name: 'chain_id', type: 'text' },
        { name: 'job_id', type: 'text' },
        { name: 'status', type: 'text' },
        { name: 'device_id', type: 'text' },
        { name: 'device_type', type: 'text' },
        { name: 'model_id', type: 'text' },
        { name: 'predicted_vram_mib', type: 'numeric' },
        { name: 'actual_vram_mib', type: 'numeric' },
        { name: 'vram_variance_pct', type: 'numeric' },
        { name: 'predicted_cost_micro_usd', type: 'numeric' },
        { name: 'actual_cost_micro_usd', type: 'numeric' },
        { name: 'cost_variance_pct', type: 'numeric' },
        { name: 'rated_cost_micro_usd', type: 'numeric' },
        { name: 'price_book_version', type: 'integer' },
        { name: 'telemetry_max_vram_mib', type: 'numeric' },
        { name: 'flags', type: 'text', select: 'x.flags::text[]' },
        { name: 'chain_time_ms', type: 'bigint' },
      ],
      reports.map((r) => [
        chainId,
        r.jobId,
        r.status,
        r.deviceId,
        r.deviceType,
        r.modelId,
        s(r.dispatchSequence === null ? null : r.vramRequestedMib),
        s(r.completionSequence === null ? null : r.actualVramMib),
        pct(r.vramVariancePct),
        s(r.dispatchSequence === null ? null : r.predictedCostMicroUsd),
        s(r.completionSequence === null ? null : r.reportedCostMicroUsd),
        pct(r.costVariancePct),
        s(r.ratedCostMicroUsd),
        r.priceBookVersion,
        s(r.telemetryMaxVramMib),
        `{${r.flags.map((f) => f.flag).join(',')}}`,
        r.chainTimeMs,
      ]),
      `ON CONFLICT (chain_id, job_id) DO UPDATE SET status = excluded.status, device_id = excluded.device_id, device_type = excluded.device_type,
         model_id = excluded.model_id, predicted_vram_mib = excluded.predicted_vram_mib, actual_vram_mib = excluded.actual_vram_mib,
         vram_variance_pct = excluded.vram_variance_pct, predicted_cost_micro_usd = excluded.predicted_cost_micro_usd,
         actual_cost_micro_usd = excluded.actual_cost_micro_usd, cost_variance_pct = excluded.cost_variance_pct,
         rated_cost_micro_usd = excluded.rated_cost_micro_usd, price_book_version = excluded.price_book_version,
         telemetry_max_vram_mib = excluded.telemetry_max_vram_mib, flags = excluded.flags, chain_time_ms = excluded.chain_time_ms, evaluated_at = now()`,
    );
    const flagJobs: string[] = [];
    const flagNames: string[] = [];
    const flagDetails: string[] = [];
    for (const r of reports) {
      for (const f of r.flags) {
        flagJobs.push(r.jobId);
        flagNames.push(f.flag);
        flagDetails.push(f.detail);
      }
    }
    // Flags no longer raised for the evaluated jobs disappear; persisting ones keep raised_at.
    await client.query(
      `DELETE FROM reconciliation_flags f WHERE f.chain_id = $1 AND f.job_id = ANY($2::text[])
         AND NOT EXISTS (SELECT 1 FROM unnest($3::text[], $4::text[]) AS c(job_id, flag) WHERE c.job_id = f.job_id AND c.flag = f.flag)`,
      [chainId, reports.map((r) => r.jobId), flagJobs, flagNames],
    );
    await client.query(
      `INSERT INTO reconciliation_flags (chain_id, job_id, flag, detail, chain_time_ms)
       SELECT $1, j, f, d, $5 FROM unnest($2::text[], $3::text[], $4::text[]) AS x(j, f, d)
       ON CONFLICT (chain_id, job_id, flag) DO UPDATE SET detail = excluded.detail, chain_time_ms = excluded.chain_time_ms`,
      [chainId, flagJobs, flagNames, flagDetails, reports[0]?.chainTimeMs.toString() ?? '0'],
    );
  }
}
