/**
 * Samples the node's GPUs with nvidia-smi every `intervalMs` and emits
 * `device_registered` once per GPU (remembered across restarts in
 * `<stateDir>/devices.json`, re-emitted when the GPU's name, memory or host
 * changes) and `metrics_collected` per GPU per sample. A GPU whose metrics
 * nvidia-smi cannot read gets no metrics event for that sample, only a
 * logged and counted NvidiaSmiError: never zeros. A registered GPU absent
 * from a sample's output is the same: a `gpu_missing` NvidiaSmiError every
 * sample while it is absent (counted; logged at warn once per disappearance,
 * then at debug), the `hwl_agent_gpus_missing` gauge, and an info line when
 * it comes back.
 */
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { DEFAULT_LIMITS, FORBIDDEN_CONTROL_RE, isWellFormed, type ChainEvent } from '@hwledger/chain';
import { HwlError, silentLogger, type Logger } from '@hwledger/core';
import { Counter, Gauge, type Registry } from 'prom-client';
import { deviceRegistered, metricsCollected } from './event-builders.js';
import { isNvidiaSmiError, NvidiaSmiError } from './nvidia-smi-error.js';
import { sampleNvidiaSmi } from './nvidia-smi-run.js';
import type { Acceptance } from './shipper.js';
import { createUlidFactory, type UlidFactory } from './ulid.js';

export interface EventSink {
  readonly source: string;
  submit(e: ChainEvent): Promise<Acceptance>;
}

export interface GpuSamplerOptions {
  sink: EventSink;
  /** nvidia-smi binary (default `nvidia-smi` on PATH). */
  bin?: string;
  /** Sampling period (default 10 000 ms). */
  intervalMs?: number;
  /** Per-run timeout (default: min(interval, 10 s)). */
  timeoutMs?: number;
  /** Hostname in device_registered (default os.hostname()). */
  hostname?: string;
  /** Where devices.json lives (default: registrations are remembered in memory only). */
  stateDir?: string;
  logger?: Logger;
  registry?: Registry;
  clock?: () => number;
  ids?: UlidFactory;
}

export interface SampleResult {
  registered: number;
  metrics: number;
  /** Per-GPU problems (the sample as a whole worked), `gpu_missing` ones included. */
  errors: NvidiaSmiError[];
  /** Uuids of registered GPUs absent from this sample (each also a `gpu_missing` error). */
  missing: string[];
  /** Uuids of registered GPUs that were missing and are back in this sample. */
  returned: string[];
}

/** One entry of devices.json, keyed by uuid. */
interface KnownDevice {
  device_type: string;
  vram_total_mib: string;
  hostname: string;
  /** nvidia-smi index as last seen (absent in files written before it was recorded). */
  index?: number;
}

interface MissingGpu {
  sinceMs: number;
  samples: number;
}

/** Errors with the same key are logged at warn once, then at debug. */
const errorKey = (e: { reason: string; gpuUuid?: string | undefined; field?: string | undefined }): string => `${e.reason}|${e.gpuUuid ?? ''}|${e.field ?? ''}`;
/** The index a devices.json entry last saw (the file is not trusted to hold a number). */
const lastIndex = (dev: KnownDevice | undefined): string | undefined => (typeof dev?.index === 'number' ? String(dev.index) : undefined);

export class GpuSampler {
  private readonly logger: Logger;
  private readonly clock: () => number;
  private readonly ids: UlidFactory;
  private readonly intervalMs: number;
  private readonly hostname: string;
  private known: Record<string, KnownDevice> | undefined;
  private readonly errorsTotal: Counter<'reason'> | undefined;
  private readonly missingGauge: Gauge | undefined;
  private readonly seenErrors = new Set<string>();
  /** Registered GPUs absent from the last successful sample, by uuid. */
  private readonly missing = new Map<string, MissingGpu>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  /** The `onDone` of the current run, until it is called (run finished, or stop()). */
  private onDone: (() => void) | undefined;
  private stopped = false;
  samples = 0;

  constructor(private readonly o: GpuSamplerOptions) {
    this.logger = o.logger ?? silentLogger();
    this.clock = o.clock ?? Date.now;
    this.ids = o.ids ?? createUlidFactory();
    this.intervalMs = o.intervalMs ?? 10_000;
    if (!Number.isSafeInteger(this.intervalMs) || this.intervalMs < 100) throw new RangeError('sampling interval must be >= 100 ms');
    this.hostname = o.hostname ?? osHostname();
    // Every device_registered carries it: one the chain refuses would refuse every GPU of the node, at every sample.
    if (this.hostname === '' || Buffer.byteLength(this.hostname) > DEFAULT_LIMITS.maxTextBytes || FORBIDDEN_CONTROL_RE.test(this.hostname) || !isWellFormed(this.hostname)) {
      throw new HwlError('CONFIG', `hostname ${JSON.stringify(this.hostname.slice(0, 80))} cannot be recorded (empty, over ${DEFAULT_LIMITS.maxTextBytes} bytes, or with control characters)`);
    }
    this.errorsTotal = o.registry
      ? new Counter({ name: 'hwl_agent_nvidia_smi_errors_total', help: 'nvidia-smi failures (whole sample or one GPU), by reason', labelNames: ['reason'], registers: [o.registry] })
      : undefined;
    this.missingGauge = o.registry
      ? new Gauge({ name: 'hwl_agent_gpus_missing', help: 'GPUs registered on this node (devices.json) absent from the last successful nvidia-smi sample', registers: [o.registry] })
      : undefined;
  }

  private get statePath(): string | undefined {
    return this.o.stateDir === undefined ? undefined : join(this.o.stateDir, 'devices.json');
  }

  private async loadKnown(): Promise<Record<string, KnownDevice>> {
    if (this.known) return this.known;
    this.known = {};
    const p = this.statePath;
    if (p) {
      try {
        const v = JSON.parse(await readFile(p, 'utf8')) as unknown;
        if (v && typeof v === 'object' && !Array.isArray(v)) this.known = v as Record<string, KnownDevice>;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.warn({ err: String(e), path: p }, 'agent: devices.json unreadable; GPUs will be registered again');
      }
    }
    return this.known;
  }

  private async saveKnown(): Promise<void> {
    const p = this.statePath;
    if (!p || !this.known) return;
    await writeFile(`${p}.tmp`, JSON.stringify(this.known, null, 2) + '\n');
    await rename(`${p}.tmp`, p);
  }

  private noteError(e: NvidiaSmiError): void {
    this.errorsTotal?.inc({ reason: e.reason });
    const key = errorKey(e);
    const first = !this.seenErrors.has(key);
    this.seenErrors.add(key);
    const line = { reason: e.reason, gpu: e.gpuIndex, uuid: e.gpuUuid, name: e.gpuName, field: e.field, raw: e.raw };
    if (first) this.logger.warn(line, e.message);
    else this.logger.debug(line, e.message);
  }

  /**
   * Runs nvidia-smi once and submits the events. Rejects with NvidiaSmiError
   * when the sample as a whole failed (missing binary, non-zero exit,
   * timeout, no GPUs, no GPU line readable); resolves once every event is
   * durable.
   */
  async sampleOnce(): Promise<SampleResult> {
    const known = await this.loadKnown();
    const observedAtMs = this.clock();
    let sample;
    try {
      sample = await sampleNvidiaSmi({ bin: this.o.bin, timeoutMs: this.o.timeoutMs ?? Math.min(this.intervalMs, 10_000) });
    } catch (e) {
      if (isNvidiaSmiError(e)) this.noteError(e);
      throw e;
    }
    if (sample.gpus.length === 0) {
      // Not one GPU could be identified: the sample as a whole failed, as
      // no_gpus (docs/agent.md's alert), each line also counted as its own
      // error. Threat: a node whose GPUs all fell off the bus ([Unknown Error]
      // on every line), or a locale that writes decimal commas, counted only
      // under line reasons nobody alerts on, silently stopping its metrics.
      for (const e of sample.errors) this.noteError(e);
      const first = sample.errors[0];
      const e = new NvidiaSmiError(
        { reason: 'no_gpus', line: first?.line, raw: first?.raw },
        `nvidia-smi printed no readable GPU line${first ? ` (${sample.errors.length} line${sample.errors.length === 1 ? '' : 's'} in error; the first: ${first.message})` : ''}`,
        first ? { cause: first } : undefined,
      );
      this.noteError(e);
      throw e;
    }
    this.samples++;
    const errors = [...sample.errors];
    const env = (): { source: string; eventId: string; observedAtMs: bigint } => ({ source: this.o.sink.source, eventId: this.ids.next(observedAtMs), observedAtMs: BigInt(observedAtMs) });
    const registrations: { uuid: string; device: KnownDevice; done: Promise<Acceptance> }[] = [];
    const accepted: Promise<Acceptance>[] = [];
    // One GPU's event that the agent refuses (validation throws before
    // anything is stored) is that GPU's error, like an unreadable line: the
    // other GPUs are still registered and sampled.
    const refused = new Set<string>();
    const submitFor = (gpu: (typeof sample.gpus)[number], event: () => ChainEvent): Promise<Acceptance> | undefined => {
      try {
        return this.o.sink.submit(event());
      } catch (e) {
        refused.add(gpu.uuid);
        errors.push(
          new NvidiaSmiError(
            { reason: 'invalid_value', line: gpu.line, gpuIndex: String(gpu.index), gpuUuid: gpu.uuid },
            `GPU ${gpu.index} ${gpu.uuid}: its event was refused (${e instanceof Error ? e.message : String(e)}); no events are emitted for this GPU`,
            { cause: e },
          ),
        );
        return undefined;
      }
    };
    // Registrations first (a device is known before its first metrics), then metrics.
    let knownChanged = false;
    for (const gpu of sample.gpus) {
      const device: KnownDevice = { device_type: gpu.name, vram_total_mib: gpu.memoryTotalMib.toString(), hostname: this.hostname, index: gpu.index };
      const prev = known[gpu.uuid];
      if (prev && prev.index !== gpu.index) {
        // Remembered so that a GPU missing later (even after a restart) is reported with its index.
        prev.index = gpu.index;
        knownChanged = true;
      }
      if (!prev || prev.device_type !== device.device_type || prev.vram_total_mib !== device.vram_total_mib || prev.hostname !== device.hostname) {
        const done = submitFor(gpu, () => deviceRegistered(env(), { device_id: gpu.uuid, hostname: this.hostname, device_type: gpu.name, vram_total_mib: gpu.memoryTotalMib }));
        if (done !== undefined) registrations.push({ uuid: gpu.uuid, device, done });
      }
    }
    let metrics = 0;
    for (const gpu of sample.gpus) {
      if (isNvidiaSmiError(gpu.metrics)) {
        errors.push(gpu.metrics);
        continue;
      }
      if (refused.has(gpu.uuid)) continue;
      const m = gpu.metrics;
      const done = submitFor(gpu, () =>
        metricsCollected(env(), {
          device_id: gpu.uuid,
          vram_used_mib: m.memoryUsedMib,
          vram_total_mib: m.memoryTotalMib,
          utilization_pct: m.utilizationPct,
          temperature_mc: m.temperatureMc,
          power_mw: m.powerMw,
        }),
      );
      if (done === undefined) continue;
      accepted.push(done);
      metrics++;
    }
    // A GPU whose line nvidia-smi printed but that could not be read (its uuid could) is present, not missing: its line error says what is wrong.
    const present = [...sample.gpus.map((g) => g.uuid), ...sample.errors.flatMap((e) => (e.gpuUuid !== undefined ? [e.gpuUuid] : []))];
    const { missing, returned } = this.checkMissing(known, present, observedAtMs, errors);
    for (const e of errors) this.noteError(e);
    await Promise.all([...accepted, ...registrations.map((r) => r.done)]);
    if (registrations.length > 0 || knownChanged) {
      for (const r of registrations) known[r.uuid] = r.device;
      await this.saveKnown();
    }
    return { registered: registrations.length, metrics, errors, missing, returned };
  }

  /**
   * Registered GPUs absent from a sample that worked: one `gpu_missing`
   * error each (appended to `errors`), no event. GPUs that were missing and
   * are listed again are logged as back.
   */
  private checkMissing(known: Record<string, KnownDevice>, presentUuids: readonly string[], observedAtMs: number, errors: NvidiaSmiError[]): { missing: string[]; returned: string[] } {
    const listed = new Set(presentUuids);
    const missing: string[] = [];
    for (const [uuid, dev] of Object.entries(known)) {
      if (listed.has(uuid)) continue;
      const m = this.missing.get(uuid) ?? { sinceMs: observedAtMs, samples: 0 };
      m.samples++;
      this.missing.set(uuid, m);
      missing.push(uuid);
      const index = lastIndex(dev);
      const who = `${index === undefined ? '' : `GPU ${index} `}${uuid} (${dev.device_type})`;
      errors.push(
        new NvidiaSmiError(
          { reason: 'gpu_missing', gpuIndex: index, gpuUuid: uuid, gpuName: dev.device_type },
          `${who}, registered on this node, is missing from nvidia-smi's output (${m.samples} sample${m.samples === 1 ? '' : 's'} in a row); no metrics are emitted for it`,
        ),
      );
    }
    const returned: string[] = [];
    for (const [uuid, m] of this.missing) {
      if (!listed.has(uuid)) continue;
      this.missing.delete(uuid);
      returned.push(uuid);
      // A later disappearance is a new one: warn again.
      this.seenErrors.delete(errorKey({ reason: 'gpu_missing', gpuUuid: uuid }));
      const dev = known[uuid];
      this.logger.info(
        { uuid, gpu: lastIndex(dev), name: dev?.device_type, missingSamples: m.samples, missingForMs: observedAtMs - m.sinceMs },
        `agent: GPU ${uuid} is back in nvidia-smi's output after ${m.samples} sample${m.samples === 1 ? '' : 's'} missing`,
      );
    }
    this.missingGauge?.set(this.missing.size);
    return { missing, returned };
  }

  /**
   * Samples every interval until stop(); failures are logged and counted,
   * never fatal. `max` bounds the number of attempts; `delayFirst` waits one
   * interval before the first. `onDone` is called once, when the run ends:
   * `max` attempts made, or stop() (after the sample in progress, if any).
   */
  start(opts: { max?: number; delayFirst?: boolean; onDone?: () => void } = {}): void {
    let attempts = 0;
    this.onDone = opts.onDone;
    const done = (): void => {
      const cb = this.onDone;
      this.onDone = undefined;
      cb?.();
    };
    const tick = (): void => {
      if (this.stopped) return;
      const started = this.clock();
      attempts++;
      this.running = this.sampleOnce()
        .catch((e: unknown) => {
          if (!isNvidiaSmiError(e)) this.logger.error({ err: e instanceof Error ? e.message : String(e) }, 'agent: GPU sample not delivered');
        })
        .finally(() => {
          if (this.stopped) return;
          if (opts.max !== undefined && attempts >= opts.max) {
            done();
            return;
          }
          this.timer = setTimeout(tick, Math.max(0, started + this.intervalMs - this.clock()));
        });
    };
    if (opts.max !== undefined && opts.max <= 0) {
      done();
      return;
    }
    if (opts.delayFirst) this.timer = setTimeout(tick, this.intervalMs);
    else tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    const cb = this.onDone;
    this.onDone = undefined;
    cb?.();
  }
}
