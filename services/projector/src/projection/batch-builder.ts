/**
 * Applies a run of verified records, in chain order, to the read-model state
 * they touch (jobs, devices loaded from the database for this batch) and
 * accumulates the rows and rollup deltas the batch writes. Pure: no I/O, so
 * the same rules can be recomputed independently in tests.
 *
 * Rules (docs/read-models.md): the first dispatch/completion/failure of a job
 * fills its columns, later ones only count; only the first completion is
 * billed; a job is rated with the device type as of its completion record and
 * the model of its dispatch; every inference request is billed; windows are
 * cut on sealed_at_ms.
 */
import { recordToJson, type ChainRecord } from '@hwledger/chain';
import { bookForWindow, gpuRate, tokenRate, DEFAULT_RATE_KEY, type PriceBook } from '../pricing/price-book.js';
import { rateLine } from '../pricing/rating.js';
import { dayStart, hourStart } from '../windows.js';
import type { VerifiedEntry } from './entry-verifier.js';
import { emptyUsage, newDevice, newJob, type DeviceRow, type JobRow, type MetricsRollup, type ReasonUsage, type TenantUsage } from './rows.js';

export interface RecordRow {
  sequence: bigint;
  prevHash: Uint8Array;
  hash: Uint8Array;
  canonical: Uint8Array;
  kind: string;
  tenant: string;
  instanceId: string;
  source: string;
  eventId: string;
  observedAtMs: bigint;
  sealedAtMs: bigint;
  jobId: string | null;
  requestId: string | null;
  deviceId: string | null;
  data: string;
}

export interface MetricRow {
  sequence: bigint;
  deviceId: string;
  sealedAtMs: bigint;
  observedAtMs: bigint;
  vramUsedMib: bigint;
  vramTotalMib: bigint;
  utilizationPct: bigint;
  temperatureMc: number;
  powerMw: bigint;
}

export interface RequestRow {
  sequence: bigint;
  tenant: string;
  tenantId: string;
  requestId: string;
  totalTokens: bigint;
  computeMs: bigint;
  reason: string;
  sealedAtMs: bigint;
  observedAtMs: bigint;
  ratedCostMicroUsd: bigint | null;
  priceBookVersion: number | null;
}

/** Key of a (tenant|device, window[, reason]) rollup row. */
export const key = (...parts: (string | bigint)[]): string => parts.join('\u0000');

export class BatchBuilder {
  readonly records: RecordRow[] = [];
  readonly metrics: MetricRow[] = [];
  readonly requests: RequestRow[] = [];
  readonly touchedJobs = new Set<string>();
  readonly touchedDevices = new Set<string>();
  readonly usageHourly = new Map<string, { tenant: string; window: bigint; u: TenantUsage }>();
  readonly usageDaily = new Map<string, { tenant: string; window: bigint; u: TenantUsage }>();
  readonly reasonHourly = new Map<string, { tenant: string; window: bigint; reason: string; r: ReasonUsage }>();
  readonly reasonDaily = new Map<string, { tenant: string; window: bigint; reason: string; r: ReasonUsage }>();
  readonly metricsHourly = new Map<string, { deviceId: string; window: bigint; m: MetricsRollup }>();
  readonly metricsDaily = new Map<string, { deviceId: string; window: bigint; m: MetricsRollup }>();
  last: VerifiedEntry | undefined;

  constructor(
    /** Existing rows of the jobs and devices this batch touches (mutated in place). */
    readonly jobs: Map<string, JobRow>,
    readonly devices: Map<string, DeviceRow>,
    private readonly books: readonly PriceBook[],
    /**
     * eventKey(source, event_id) of the inference requests already billed
     * (claimed by earlier batches, claimRequestEvents) among this batch's;
     * grows with the batch's own.
     */
    private readonly seenRequests: Set<string> = new Set(),
  ) {}

  add(e: VerifiedEntry): void {
    const r = e.record;
    this.last = e;
    const row: RecordRow = {
      sequence: r.sequence,
      prevHash: e.prevHash,
      hash: e.hash,
      canonical: e.canonical,
      kind: r.kind,
      tenant: r.tenant,
      instanceId: r.instanceId,
      source: r.source,
      eventId: r.eventId,
      observedAtMs: r.observedAtMs,
      sealedAtMs: r.sealedAtMs,
      jobId: null,
      requestId: null,
      deviceId: null,
      data: JSON.stringify(recordToJson(r).data),
    };
    this.records.push(row);
    this.apply(r, row);
  }

  private apply(r: ChainRecord, row: RecordRow): void {
    switch (r.kind) {
      case 'device_registered': {
        row.deviceId = r.data.device_id;
        const d = this.device(r.data.device_id);
        d.registered = true;
        d.hostname = r.data.hostname;
        d.deviceType = r.data.device_type;
        d.vramTotalMib = r.data.vram_total_mib;
        d.registeredSequence = r.sequence;
        d.registeredAtMs = r.sealedAtMs;
        d.registrationCount++;
        return;
      }
      case 'metrics_collected': {
        row.deviceId = r.data.device_id;
        const d = this.device(r.data.device_id);
        d.lastMetricsSequence = r.sequence;
        d.lastSeenAtMs = r.sealedAtMs;
        d.vramUsedMib = r.data.vram_used_mib;
        d.reportedVramTotalMib = r.data.vram_total_mib;
        d.utilizationPct = BigInt(r.data.utilization_pct);
        d.temperatureMc = r.data.temperature_mc;
        d.powerMw = BigInt(r.data.power_mw);
        d.metricsCount++;
        const m: MetricRow = {
          sequence: r.sequence,
          deviceId: r.data.device_id,
          sealedAtMs: r.sealedAtMs,
          observedAtMs: r.observedAtMs,
          vramUsedMib: r.data.vram_used_mib,
          vramTotalMib: r.data.vram_total_mib,
          utilizationPct: BigInt(r.data.utilization_pct),
          temperatureMc: r.data.temperature_mc,
          powerMw: BigInt(r.data.power_mw),
        };
        this.metrics.push(m);
        addMetrics(this.metricsHourly, m, hourStart(r.sealedAtMs));
        addMetrics(this.metricsDaily, m, dayStart(r.sealedAtMs));
        return;
      }
      case 'job_dispatched': {
        row.jobId = r.data.job_id;
        row.deviceId = r.data.device_id;
        const j = this.job(r.data.job_id, r.sequence);
        j.dispatchCount++;
        if (j.dispatchSequence === null) {
          j.dispatchTenant = r.tenant;
          j.deviceId = r.data.device_id;
          j.modelId = r.data.model_id;
          j.vramRequestedMib = r.data.vram_requested_mib;
          j.predictedCostMicroUsd = r.data.predicted_cost_micro_usd;
          j.dispatchSequence = r.sequence;
          j.dispatchedAtMs = r.sealedAtMs;
          // A completion sealed before its dispatch (say, the scheduler's node and the worker's
          // node publish in another order) was rated knowing neither device nor model: the '*' rates.
          if (j.completionSequence !== null) this.rateLateDispatch(j);
        }
        return;
      }
      case 'job_completed': {
        row.jobId = r.data.job_id;
        const j = this.job(r.data.job_id, r.sequence);
        j.completionCount++;
        if (j.completionSequence !== null) return; // only the first completion is billed
        j.status = 'completed';
        j.completionTenant = r.tenant;
        j.tokensGenerated = BigInt(r.data.tokens_generated);
        j.durationMs = r.data.duration_ms;
        j.actualVramMib = r.data.actual_vram_mib;
        j.reportedCostMicroUsd = r.data.cost_micro_usd;
        j.completionSequence = r.sequence;
        j.completedAtMs = r.sealedAtMs;
        j.ratedDeviceType = j.deviceId !== null ? (this.devices.get(j.deviceId)?.deviceType ?? null) : null;
        j.ratedModelId = j.modelId;
        const hour = hourStart(r.sealedAtMs);
        const book = bookForWindow(this.books, hour);
        if (book) {
          j.ratedCostMicroUsd = rateLine(j.durationMs, gpuRate(book, j.ratedDeviceType), j.tokensGenerated, tokenRate(book, j.ratedModelId));
          j.priceBookVersion = book.version;
        }
        for (const [map, w] of [
          [this.usageHourly, hour],
          [this.usageDaily, dayStart(r.sealedAtMs)],
        ] as const) {
          const u = usage(map, r.tenant, w);
          u.jobsCompleted++;
          u.jobTokens += j.tokensGenerated;
          u.jobDurationMs += j.durationMs;
          u.jobReportedCostMicroUsd += j.reportedCostMicroUsd;
          if (book) {
            u.jobRatedCostMicroUsd += j.ratedCostMicroUsd ?? 0n;
            u.priceBookVersions.add(book.version);
          } else u.unratedJobCount++;
        }
        return;
      }
      case 'job_failed': {
        row.jobId = r.data.job_id;
        const j = this.job(r.data.job_id, r.sequence);
        j.failureCount++;
        if (j.failureSequence !== null) return;
        if (j.status !== 'completed') j.status = 'failed';
        j.failureTenant = r.tenant;
        j.errorMessage = r.data.error_message;
        j.failureSequence = r.sequence;
        j.failedAtMs = r.sealedAtMs;
        usage(this.usageHourly, r.tenant, hourStart(r.sealedAtMs)).jobsFailed++;
        usage(this.usageDaily, r.tenant, dayStart(r.sealedAtMs)).jobsFailed++;
        return;
      }
      case 'inference_request_completed': {
        row.requestId = r.data.request_id;
        // The sequencer's duplicate check has a horizon (docs/sequencer.md "Duplicate events"):
        // an event sealed again stays on the chain (records) but is billed once.
        const k = eventKey(r.source, r.eventId);
        if (this.seenRequests.has(k)) return;
        this.seenRequests.add(k);
        const hour = hourStart(r.sealedAtMs);
        const book = bookForWindow(this.books, hour);
        const tokens = BigInt(r.data.total_tokens);
        const cost = book ? rateLine(r.data.compute_ms, gpuRate(book, DEFAULT_RATE_KEY), tokens, tokenRate(book, DEFAULT_RATE_KEY)) : null;
        this.requests.push({
          sequence: r.sequence,
          tenant: r.tenant,
          tenantId: r.data.tenant_id,
          requestId: r.data.request_id,
          totalTokens: tokens,
          computeMs: r.data.compute_ms,
          reason: r.data.reason,
          sealedAtMs: r.sealedAtMs,
          observedAtMs: r.observedAtMs,
          ratedCostMicroUsd: cost,
          priceBookVersion: book?.version ?? null,
        });
        for (const [map, rmap, w] of [
          [this.usageHourly, this.reasonHourly, hour],
          [this.usageDaily, this.reasonDaily, dayStart(r.sealedAtMs)],
        ] as const) {
          const u = usage(map, r.tenant, w);
          u.requestCount++;
          u.requestTokens += tokens;
          u.requestComputeMs += r.data.compute_ms;
          if (book) {
            u.requestCostMicroUsd += cost ?? 0n;
            u.priceBookVersions.add(book.version);
          } else u.unratedRequestCount++;
          const k = key(r.tenant, w, r.data.reason);
          let e = rmap.get(k);
          if (!e)
            rmap.set(
              k,
              (e = {
                tenant: r.tenant,
                window: w,
                reason: r.data.reason,
                r: { requestCount: 0n, tokens: 0n, computeMs: 0n },
              }),
            );
          e.r.requestCount++;
          e.r.tokens += tokens;
          e.r.computeMs += r.data.compute_ms;
        }
        return;
      }
    }
  }

  /**
   * Rates a completed job again once its first dispatch arrives after the
   * completion: with the dispatch's model and its device's type as known
   * now (the device's type as of the completion record is not kept), under
   * the book of the completion's hour, and moves the difference into the
   * completion's hourly and daily windows (the rollups are sums of lines).
   */
  private rateLateDispatch(j: JobRow): void {
    j.ratedDeviceType = j.deviceId !== null ? (this.devices.get(j.deviceId)?.deviceType ?? null) : null;
    j.ratedModelId = j.modelId;
    if (j.completedAtMs === null || j.durationMs === null || j.tokensGenerated === null || j.completionTenant === null) return;
    const book = bookForWindow(this.books, hourStart(j.completedAtMs));
    if (!book || j.ratedCostMicroUsd === null) return; // unrated: no book in effect then (a new book re-rates it)
    const cost = rateLine(j.durationMs, gpuRate(book, j.ratedDeviceType), j.tokensGenerated, tokenRate(book, j.ratedModelId));
    const delta = cost - j.ratedCostMicroUsd;
    j.ratedCostMicroUsd = cost;
    j.priceBookVersion = book.version;
    if (delta === 0n) return;
    usage(this.usageHourly, j.completionTenant, hourStart(j.completedAtMs)).jobRatedCostMicroUsd += delta;
    usage(this.usageDaily, j.completionTenant, dayStart(j.completedAtMs)).jobRatedCostMicroUsd += delta;
  }

  private job(jobId: string, sequence: bigint): JobRow {
    let j = this.jobs.get(jobId);
    if (!j) this.jobs.set(jobId, (j = newJob(jobId, sequence)));
    j.lastSequence = sequence;
    this.touchedJobs.add(jobId);
    return j;
  }

  private device(deviceId: string): DeviceRow {
    let d = this.devices.get(deviceId);
    if (!d) this.devices.set(deviceId, (d = newDevice(deviceId)));
    this.touchedDevices.add(deviceId);
    return d;
  }
}

function usage(map: Map<string, { tenant: string; window: bigint; u: TenantUsage }>, tenant: string, window: bigint): TenantUsage {
  const k = key(tenant, window);
  let e = map.get(k);
  if (!e) map.set(k, (e = { tenant, window, u: emptyUsage() }));
  return e.u;
}

function addMetrics(map: Map<string, { deviceId: string; window: bigint; m: MetricsRollup }>, row: MetricRow, window: bigint): void {
  const k = key(row.deviceId, window);
  const e = map.get(k);
  const temp = BigInt(row.temperatureMc);
  if (!e) {
    map.set(k, {
      deviceId: row.deviceId,
      window,
      m: {
        samples: 1n,
        vramUsedSum: row.vramUsedMib,
        vramUsedMax: row.vramUsedMib,
        utilizationSum: row.utilizationPct,
        utilizationMax: row.utilizationPct,
        temperatureSum: temp,
        temperatureMax: row.temperatureMc,
        powerSum: row.powerMw,
        powerMax: row.powerMw,
      },
    });
    return;
  }
  const m = e.m;
  m.samples++;
  m.vramUsedSum += row.vramUsedMib;
  if (row.vramUsedMib > m.vramUsedMax) m.vramUsedMax = row.vramUsedMib;
  m.utilizationSum += row.utilizationPct;
  if (row.utilizationPct > m.utilizationMax) m.utilizationMax = row.utilizationPct;
  m.temperatureSum += temp;
  if (row.temperatureMc > m.temperatureMax) m.temperatureMax = row.temperatureMc;
  m.powerSum += row.powerMw;
  if (row.powerMw > m.powerMax) m.powerMax = row.powerMw;
}

/** Identity of an event on a chain (spec: event_id is unique per source). */
export const eventKey = (source: string, eventId: string): string => key(source, eventId);

/** Job and device ids, and inference request (source, event_id) keys, a run of records needs loaded before it is applied. */
export function idsOf(entries: readonly VerifiedEntry[]): {
  jobIds: Set<string>;
  deviceIds: Set<string>;
  requestEvents: { source: string; eventId: string; sequence: bigint }[];
} {
  const jobIds = new Set<string>();
  const deviceIds = new Set<string>();
  const requestEvents: { source: string; eventId: string; sequence: bigint }[] = [];
  for (const { record: r } of entries) {
    switch (r.kind) {
      case 'inference_request_completed':
        requestEvents.push({ source: r.source, eventId: r.eventId, sequence: r.sequence });
        break;
      case 'device_registered':
      case 'metrics_collected':
        deviceIds.add(r.data.device_id);
        break;
      case 'job_dispatched':
        jobIds.add(r.data.job_id);
        deviceIds.add(r.data.device_id);
        break;
      case 'job_completed':
      case 'job_failed':
        jobIds.add(r.data.job_id);
        break;
      default:
        break;
    }
  }
  return { jobIds, deviceIds, requestEvents };
}
