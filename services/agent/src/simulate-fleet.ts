/**
 * A simulated GPU fleet: N nodes x M GPUs serving inference for several
 * tenants and running batch jobs, as a deterministic stream of chain events.
 * Same options (seed, startMs) -> the identical event sequence, ids and
 * timestamps included, so tests, the sequencer's and projector's suites and
 * the benchmark can replay exactly the same traffic.
 *
 * Model (simulated time, independent of wall clock):
 * - every GPU registers first (device_registered), then reports
 *   metrics_collected every `metricsIntervalMs` (staggered);
 * - batch jobs arrive (Poisson) so that a GPU runs half a job on average:
 *   job_dispatched with requested VRAM and predicted cost, later
 *   job_completed with actual VRAM, tokens, duration and cost, or job_failed
 *   (7 %, or out of memory when no GPU has room);
 * - inference requests (Poisson) fill the rest of `eventsPerSecond` events
 *   per simulated second: one inference_request_completed each, with all five
 *   completion reasons (end_of_sequence, max_tokens_reached, engine_error,
 *   cancelled, preempted);
 * - tenants are Zipf-weighted; money is integer micro-USD at the GPU type's
 *   hourly price (half-up rounding of duration x price).
 */
import { DEFAULT_LIMITS, type ChainEvent, type CompletionReason } from '@hwledger/chain';
import { assertToken } from '@hwledger/core';
import { deviceRegistered, inferenceCompleted, jobCompleted, jobDispatched, jobFailed, metricsCollected } from './event-builders.js';
import { MinHeap } from './min-heap.js';
import { Prng } from './prng.js';
import { createUlidFactory, type UlidFactory } from './ulid.js';

export interface SimulateFleetOptions {
  /**
   * The source of the agent that publishes the fleet, `<chain>/<node>`
   * (`Agent.source`, `sourceOf`): each simulated node's source lies below it,
   * `<source>/<node name>`, as the sequencer requires of events on the
   * agent's subject hwl.ingest.<chain>.<node> (docs/sequencer.md, "Sources").
   */
  source: string;
  /** PRNG seed (default 1). */
  seed?: number | string;
  /** Nodes (default 2). */
  nodes?: number;
  /** GPUs per node (default 8). */
  gpusPerNode?: number;
  /** Tenants (default 4). */
  tenants?: number;
  /** Region, part of hostnames (default `us-east-1`). */
  region?: string;
  /** Node names are `<nodePrefix>-000`, ... (default `node`); sources `<source>/<node name>`. */
  nodePrefix?: string;
  /** Unix ms of simulated time 0 (default: now). Fix it for reproducible timestamps. */
  startMs?: number | bigint;
  /** Events per simulated second (default 100). */
  eventsPerSecond?: number;
  /** Per-GPU telemetry period in simulated ms (default 10 000). */
  metricsIntervalMs?: number;
  /** Stop after this many events (default: endless). */
  count?: number;
}

interface GpuType {
  name: string;
  vramMib: number;
  idleMw: number;
  tdpMw: number;
  /** Price of one GPU-hour in micro-USD. */
  microUsdPerHour: bigint;
}

const GPU_TYPES: readonly GpuType[] = [
  { name: 'NVIDIA H100 80GB HBM3', vramMib: 81559, idleMw: 72_000, tdpMw: 700_000, microUsdPerHour: 2_490_000n },
  { name: 'NVIDIA A100-SXM4-80GB', vramMib: 81920, idleMw: 58_000, tdpMw: 400_000, microUsdPerHour: 1_290_000n },
  { name: 'NVIDIA L40S', vramMib: 46068, idleMw: 35_000, tdpMw: 350_000, microUsdPerHour: 860_000n },
];
const GPU_TYPE_WEIGHTS = [0.5, 0.35, 0.15];

interface Model {
  id: string;
  weightsMib: number;
  tokensPerSecond: number;
}

const MODELS: readonly Model[] = [
  { id: 'llama-3.1-8b-instruct', weightsMib: 16_400, tokensPerSecond: 140 },
  { id: 'mistral-7b-instruct-v0.3', weightsMib: 14_500, tokensPerSecond: 150 },
  { id: 'qwen2.5-32b-instruct', weightsMib: 33_000, tokensPerSecond: 55 },
  { id: 'llama-3.1-70b-instruct-awq', weightsMib: 39_800, tokensPerSecond: 38 },
  { id: 'mixtral-8x7b-instruct-v0.1', weightsMib: 47_000, tokensPerSecond: 60 },
];

const TENANT_NAMES = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne', 'wonka', 'tyrell', 'cyberdyne'];

/** Completion reasons and their shares of inference requests. */
export const SIM_REASON_WEIGHTS: Readonly<Record<CompletionReason, number>> = {
  end_of_sequence: 0.78,
  max_tokens_reached: 0.12,
  cancelled: 0.05,
  engine_error: 0.03,
  preempted: 0.02,
};
const REASONS = Object.keys(SIM_REASON_WEIGHTS) as CompletionReason[];
const REASON_WEIGHTS = REASONS.map((r) => SIM_REASON_WEIGHTS[r]);

const JOB_ERRORS = [
  'CUDA error: out of memory (tried to allocate 2.50 GiB)',
  'NCCL watchdog timeout after 1800000 ms',
  'Xid 79: GPU has fallen off the bus',
  'engine worker 3 exited with SIGSEGV',
  'preempted by a higher-priority lease',
];

const P_JOB_FAIL = 0.07;
/** Median job duration (log-normal, sigma 0.5) and the mean number of jobs a GPU runs at once. */
const JOB_MEDIAN_MS = 15_000;
const JOB_SIGMA = 0.5;
const JOBS_PER_GPU = 0.5;

interface Node {
  name: string;
  source: string;
  hostname: string;
  ids: UlidFactory;
  /**
   * This node's own numbers (forked from the seed by its name): its GPU
   * uuids and job ids, so that two agents simulating with one seed under
   * different --node names never share a device or a job (the read models
   * key both by id on a chain).
   */
  rng: Prng;
  gpus: Gpu[];
}

interface Gpu {
  node: Node;
  index: number;
  uuid: string;
  type: GpuType;
  served: Model;
  jobs: Map<string, number>;
  load: number;
}

interface Job {
  id: string;
  tenant: string;
  gpu: Gpu;
  model: Model;
  requestedMib: number;
  durationMs: number;
  fails: boolean;
  failMessage: string;
}

type Happening = { type: 'request' } | { type: 'job' } | { type: 'metrics'; gpu: Gpu } | { type: 'job_end'; job: Job };

function positiveInt(v: number | undefined, dflt: number, what: string, max = 1_000_000): number {
  const n = v ?? dflt;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new RangeError(`${what} must be an integer from 1 to ${max}, got ${String(v)}`);
  return n;
}

function gpuUuid(rng: Prng): string {
  return `GPU-${rng.hex(8)}-${rng.hex(4)}-${rng.hex(4)}-${rng.hex(4)}-${rng.hex(12)}`;
}

/** micro-USD for `ms` of a GPU at `perHour`, rounded half up (integer arithmetic). */
export function gpuCostMicroUsd(ms: bigint, microUsdPerHour: bigint): bigint {
  return (ms * microUsdPerHour + 1_800_000n) / 3_600_000n;
}

const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));

/** The node names a simulation uses (`<prefix>-000` ...). */
export function simulatedNodeNames(nodes: number, prefix = 'node'): string[] {
  return Array.from({ length: nodes }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);
}

/** The simulated fleet's events, in simulated-time order (endless unless `count`). */
export function* simulateFleet(opts: SimulateFleetOptions): Generator<ChainEvent, void, undefined> {
  const nodes = positiveInt(opts.nodes, 2, 'nodes', 10_000);
  const gpusPerNode = positiveInt(opts.gpusPerNode, 8, 'gpus per node', 64);
  const tenantCount = positiveInt(opts.tenants, 4, 'tenants', 100_000);
  const eventsPerSecond = opts.eventsPerSecond ?? 100;
  if (!(eventsPerSecond > 0) || !Number.isFinite(eventsPerSecond)) throw new RangeError('eventsPerSecond must be positive');
  const metricsIntervalMs = positiveInt(opts.metricsIntervalMs, 10_000, 'metrics interval ms', 86_400_000);
  const count = opts.count ?? Number.POSITIVE_INFINITY;
  if (count !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(count) || count < 0)) throw new RangeError('count must be a non-negative integer');
  const region = opts.region ?? 'us-east-1';
  const prefix = assertToken(opts.nodePrefix ?? 'node', 'node prefix');
  if (typeof opts.source !== 'string' || opts.source === '' || opts.source.endsWith('/')) throw new RangeError(`source must be the publishing agent's source <chain>/<node>, got ${JSON.stringify(opts.source)}`);
  // Every simulated source must pass validation (256 bytes by default): say so now, not at the first event of the longest name.
  const longest = `${opts.source}/${simulatedNodeNames(nodes, prefix).at(-1) ?? ''}`;
  if (Buffer.byteLength(longest) > DEFAULT_LIMITS.maxIdBytes) throw new RangeError(`simulated sources such as ${JSON.stringify(longest)} exceed ${DEFAULT_LIMITS.maxIdBytes} bytes; use a shorter node name or prefix`);
  const startMs = Number(opts.startMs ?? Date.now());
  if (!Number.isSafeInteger(startMs) || startMs <= 0) throw new RangeError('startMs must be a positive integer');
  if (count === 0) return;

  const rng = new Prng(opts.seed ?? 1);
  const tenants = Array.from({ length: tenantCount }, (_, i) => (i < TENANT_NAMES.length ? TENANT_NAMES[i]! : `tenant-${String(i).padStart(4, '0')}`));
  const tenantWeights = tenants.map((_, i) => 1 / (i + 1) ** 0.9);

  const fleet: Node[] = simulatedNodeNames(nodes, prefix).map((name) => {
    const nodeRng = rng.fork(name);
    const idRng = rng.fork(`${name}/identity`);
    const node: Node = { name, source: `${opts.source}/${name}`, hostname: `${name}.${region}.gpu.internal`, ids: createUlidFactory(() => nodeRng.u32()), rng: idRng, gpus: [] };
    const type = GPU_TYPES[rng.weighted(GPU_TYPE_WEIGHTS)]!;
    const fits = MODELS.filter((m) => m.weightsMib < type.vramMib * 0.7);
    for (let g = 0; g < gpusPerNode; g++) {
      node.gpus.push({ node, index: g, uuid: gpuUuid(idRng), type, served: rng.pick(fits), jobs: new Map(), load: rng.next() * 0.5 });
    }
    return node;
  });
  const allGpus = fleet.flatMap((n) => n.gpus);

  let emitted = 0;
  const env = (node: Node, t: number): { source: string; eventId: string; observedAtMs: bigint } => {
    const ms = startMs + t;
    return { source: node.source, eventId: node.ids.next(ms), observedAtMs: BigInt(ms) };
  };

  for (const gpu of allGpus) {
    yield deviceRegistered(env(gpu.node, 0), { device_id: gpu.uuid, hostname: gpu.node.hostname, device_type: gpu.type.name, vram_total_mib: BigInt(gpu.type.vramMib) });
    if (++emitted >= count) return;
  }

  const heap = new MinHeap<Happening>();
  allGpus.forEach((gpu, i) => heap.push(Math.floor(((i + 1) * metricsIntervalMs) / (allGpus.length + 1)), { type: 'metrics', gpu }));
  // Jobs arrive so that a GPU runs JOBS_PER_GPU of them on average (Little's law);
  // inference requests fill the rest of the event budget.
  const metricsPerSecond = (allGpus.length * 1000) / metricsIntervalMs;
  const meanJobMs = JOB_MEDIAN_MS * Math.exp((JOB_SIGMA * JOB_SIGMA) / 2);
  const jobsPerSecond = (allGpus.length * JOBS_PER_GPU * 1000) / meanJobMs;
  const requestsPerSecond = Math.max(eventsPerSecond - metricsPerSecond - 2 * jobsPerSecond, eventsPerSecond * 0.2);
  const requestGapMs = 1000 / requestsPerSecond;
  const jobGapMs = 1000 / jobsPerSecond;
  heap.push(Math.round(rng.exp(requestGapMs)), { type: 'request' });
  heap.push(Math.round(rng.exp(jobGapMs)), { type: 'job' });

  for (;;) {
    const next = heap.pop();
    if (!next) return;
    const t = next.t;
    const h = next.value;
    let event: ChainEvent;
    if (h.type === 'metrics') {
      const gpu = h.gpu;
      gpu.load = clamp(0.85 * gpu.load + 0.15 * rng.next() + (gpu.jobs.size > 0 ? 0.08 : 0), 0, 1);
      const util = Math.round(clamp(100 * (0.1 + 0.55 * gpu.load + 0.3 * Math.min(1, gpu.jobs.size * 0.5)) + rng.normal() * 3, 0, 100));
      let used = gpu.served.weightsMib + Math.round(gpu.load * 6_000) + rng.int(0, 512);
      for (const v of gpu.jobs.values()) used += v;
      used = Math.min(used, gpu.type.vramMib);
      const temperatureMc = Math.round(31_000 + util * 460 + rng.normal() * 1_200);
      const powerMw = Math.round(gpu.type.idleMw + ((gpu.type.tdpMw - gpu.type.idleMw) * util) / 100 + rng.normal() * 4_000);
      event = metricsCollected(env(gpu.node, t), {
        device_id: gpu.uuid,
        vram_used_mib: BigInt(used),
        vram_total_mib: BigInt(gpu.type.vramMib),
        utilization_pct: util,
        temperature_mc: temperatureMc,
        power_mw: Math.max(0, powerMw),
      });
      heap.push(t + metricsIntervalMs, h);
    } else if (h.type === 'job_end') {
      const job = h.job;
      job.gpu.jobs.delete(job.id);
      const e = env(job.gpu.node, t);
      if (job.fails) {
        event = jobFailed(e, job.tenant, { job_id: job.id, error_message: job.failMessage });
      } else {
        const actualMib = Math.min(job.gpu.type.vramMib, Math.round(job.requestedMib * (0.82 + rng.next() * 0.21)));
        const tokens = Math.floor((job.durationMs / 1000) * job.model.tokensPerSecond * (0.6 + rng.next() * 0.4));
        event = jobCompleted(e, job.tenant, {
          job_id: job.id,
          tokens_generated: Math.min(tokens, 0xffff_ffff),
          duration_ms: BigInt(job.durationMs),
          actual_vram_mib: BigInt(actualMib),
          cost_micro_usd: gpuCostMicroUsd(BigInt(job.durationMs), job.gpu.type.microUsdPerHour),
        });
      }
    } else {
      heap.push(t + Math.max(1, Math.round(rng.exp(h.type === 'request' ? requestGapMs : jobGapMs))), h);
      const tenant = tenants[rng.weighted(tenantWeights)]!;
      if (h.type === 'request') {
        const gpu = rng.pick(allGpus);
        const reason = REASONS[rng.weighted(REASON_WEIGHTS)]!;
        const maxTokens = rng.pick([512, 1024, 2048, 4096]);
        let tokens: number;
        switch (reason) {
          case 'max_tokens_reached':
            tokens = maxTokens;
            break;
          case 'end_of_sequence':
            tokens = Math.min(maxTokens - 1, Math.max(1, Math.round(rng.logNormal(320, 0.8))));
            break;
          case 'engine_error':
            tokens = rng.next() < 0.4 ? 0 : rng.int(1, 200);
            break;
          default: // cancelled, preempted: cut off part way
            tokens = rng.int(0, Math.round(maxTokens * 0.6));
        }
        const prefillMs = Math.round(rng.logNormal(90, 0.5));
        const computeMs = prefillMs + Math.round((tokens * 1000) / (gpu.served.tokensPerSecond * (0.8 + rng.next() * 0.4)));
        event = inferenceCompleted(env(gpu.node, t), { tenant_id: tenant, request_id: `req-${rng.hex(16)}`, total_tokens: tokens, compute_ms: BigInt(computeMs), reason });
      } else {
        const model = rng.pick(MODELS);
        const requestedMib = model.weightsMib + Math.round(rng.logNormal(6_000, 0.4));
        const candidates = allGpus.filter((g) => g.type.vramMib - [...g.jobs.values()].reduce((a, b) => a + b, g.served.weightsMib) >= requestedMib);
        const gpu = candidates.length > 0 ? rng.pick(candidates) : rng.pick(allGpus);
        const predictedMs = Math.round(clamp(rng.logNormal(JOB_MEDIAN_MS, JOB_SIGMA), 2_000, 3_600_000));
        const actualMs = Math.max(1_000, Math.round(predictedMs * rng.logNormal(1, 0.2)));
        const oom = candidates.length === 0 || requestedMib > gpu.type.vramMib;
        const fails = oom || rng.next() < P_JOB_FAIL;
        const job: Job = {
          id: `job-${gpu.node.rng.hex(12)}`,
          tenant,
          gpu,
          model,
          requestedMib,
          durationMs: fails ? Math.max(500, Math.round(actualMs * (0.05 + rng.next() * 0.85))) : actualMs,
          fails,
          failMessage: oom ? JOB_ERRORS[0]! : rng.pick(JOB_ERRORS),
        };
        gpu.jobs.set(job.id, requestedMib);
        event = jobDispatched(env(gpu.node, t), tenant, {
          job_id: job.id,
          device_id: gpu.uuid,
          model_id: model.id,
          vram_requested_mib: BigInt(requestedMib),
          predicted_cost_micro_usd: gpuCostMicroUsd(BigInt(predictedMs), gpu.type.microUsdPerHour),
        });
        heap.push(t + job.durationMs, { type: 'job_end', job });
      }
    }
    yield event;
    if (++emitted >= count) return;
  }
}
