/**
 * Strict parser of
 *   nvidia-smi --query-gpu=index,uuid,name,memory.used,memory.total,utilization.gpu,temperature.gpu,power.draw
 *              --format=csv,noheader,nounits
 * Every field is checked; anything nvidia-smi could not measure becomes an
 * NvidiaSmiError naming the GPU and the field, never a zero (threat: a GPU
 * whose power sensor reads [N/A] would otherwise be billed at 0 W).
 *
 * Two levels: a line whose identity (index, uuid, name, memory.total) cannot
 * be read is an error for the whole line; a GPU with a readable identity but
 * an unreadable metric is still a known device (device_registered can be
 * emitted) whose `metrics` is the error (no metrics_collected is emitted).
 */
import { FORBIDDEN_CONTROL_RE, I32_MAX, I32_MIN, U32_MAX, U64_MAX } from '@hwledger/chain';
import { parseScaledDecimal, parseUnsignedInteger } from './decimal.js';
import { NvidiaSmiError, type NvidiaSmiReason } from './nvidia-smi-error.js';

export const NVIDIA_SMI_FIELDS = ['index', 'uuid', 'name', 'memory.used', 'memory.total', 'utilization.gpu', 'temperature.gpu', 'power.draw'] as const;

/** The exact arguments the agent passes to nvidia-smi. */
export const NVIDIA_SMI_ARGS: readonly string[] = [`--query-gpu=${NVIDIA_SMI_FIELDS.join(',')}`, '--format=csv,noheader,nounits'];

export interface GpuMetrics {
  memoryUsedMib: bigint;
  memoryTotalMib: bigint;
  /** 0..100 */
  utilizationPct: number;
  /** milli-degrees Celsius (spec: temperature_mc) */
  temperatureMc: number;
  /** milliwatts (spec: power_mw) */
  powerMw: number;
}

export interface GpuReading {
  /** 1-based output line. */
  line: number;
  index: number;
  uuid: string;
  name: string;
  memoryTotalMib: bigint;
  /** The metrics, or why they could not be read. */
  metrics: GpuMetrics | NvidiaSmiError;
}

export interface NvidiaSmiSample {
  /** GPUs with a readable identity, in output order. */
  gpus: GpuReading[];
  /** Lines that could not be read at all. */
  errors: NvidiaSmiError[];
}

const UUID_RE = /^GPU-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Thrown inside the parser with the field; wrapped with the line's GPU context. */
class FieldError {
  constructor(
    readonly reason: NvidiaSmiReason,
    readonly field: string,
    readonly raw: string,
    readonly why: string,
  ) {}
}

function statusReason(raw: string): { reason: NvidiaSmiReason; why: string } | undefined {
  const t = raw.toLowerCase();
  if (t === '[n/a]' || t === 'n/a') return { reason: 'not_available', why: 'not available' };
  if (t === '[not supported]') return { reason: 'not_supported', why: 'not supported by this GPU/driver' };
  if (t === '[unknown error]') return { reason: 'unknown_error', why: 'the driver reported an unknown error' };
  if (raw.startsWith('[') && raw.endsWith(']')) return { reason: 'unavailable', why: 'reported as a status instead of a value' };
  return undefined;
}

function present(field: string, raw: string): string {
  if (raw === '') throw new FieldError('empty_field', field, raw, 'is empty');
  const s = statusReason(raw);
  if (s) throw new FieldError(s.reason, field, raw, `is ${raw} (${s.why})`);
  return raw;
}

function mib(field: string, raw: string, positive: boolean): bigint {
  const v = parseUnsignedInteger(present(field, raw));
  if (v === undefined) throw new FieldError('not_numeric', field, raw, `is ${JSON.stringify(raw)}, not a whole number of MiB`);
  if (v > U64_MAX) throw new FieldError('out_of_range', field, raw, 'exceeds u64');
  if (positive && v === 0n) throw new FieldError('out_of_range', field, raw, 'is 0; a GPU has memory');
  return v;
}

function percent(field: string, raw: string): number {
  const v = parseUnsignedInteger(present(field, raw));
  if (v === undefined) throw new FieldError('not_numeric', field, raw, `is ${JSON.stringify(raw)}, not a whole percentage`);
  if (v > 100n) throw new FieldError('out_of_range', field, raw, 'is above 100 %');
  return Number(v);
}

function milli(field: string, raw: string, min: number, max: number, unit: string): number {
  const text = present(field, raw);
  const v = parseScaledDecimal(text, 3);
  if (v === undefined) throw new FieldError('not_numeric', field, raw, `is ${JSON.stringify(raw)}, not a number of ${unit}`);
  // A field that cannot be negative: "-0.0004" scales to 0 (as does "-0"), a garbage reading that must not become a zero.
  if (min >= 0 && text.trimStart().startsWith('-')) throw new FieldError('out_of_range', field, raw, `is ${JSON.stringify(raw)}, negative`);
  if (v < BigInt(min) || v > BigInt(max)) throw new FieldError('out_of_range', field, raw, `is outside the wire type's range`);
  return Number(v);
}

function describe(line: number, index: string | undefined, uuid: string | undefined): string {
  const who = [index !== undefined && index !== '' ? `GPU ${index}` : undefined, uuid !== undefined && UUID_RE.test(uuid) ? uuid : undefined].filter(Boolean).join(' ');
  return who === '' ? `nvidia-smi line ${line}` : `nvidia-smi line ${line} (${who})`;
}

function wrap(e: FieldError, line: number, index: string | undefined, uuid: string | undefined, suffix = ''): NvidiaSmiError {
  return new NvidiaSmiError(
    { reason: e.reason, line, gpuIndex: index, gpuUuid: uuid, field: e.field, raw: e.raw },
    `${describe(line, index, uuid)}: ${e.field} ${e.why}${suffix}`,
  );
}

/**
 * Parses nvidia-smi's CSV output. Throws NvidiaSmiError('no_gpus') when the
 * output has no GPU line; per-line and per-field problems are returned.
 */
export function parseNvidiaSmiCsv(text: string): NvidiaSmiSample {
  const lines = text.split(/\r?\n/);
  const gpus: GpuReading[] = [];
  const errors: NvidiaSmiError[] = [];
  const seen = new Set<string>();
  let nonEmpty = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === '') continue;
    nonEmpty++;
    const lineNo = i + 1;
    if (/^no devices were found/i.test(raw)) {
      throw new NvidiaSmiError({ reason: 'no_gpus', line: lineNo, raw }, `nvidia-smi found no GPUs: ${raw}`);
    }
    const cols = raw.split(',').map((c) => c.trim());
    const [index, uuid, name, memUsed, memTotal, util, temp, power] = cols;
    if (cols.length !== NVIDIA_SMI_FIELDS.length) {
      errors.push(
        new NvidiaSmiError(
          { reason: 'column_count', line: lineNo, raw: raw.slice(0, 200) },
          `nvidia-smi line ${lineNo}: expected ${NVIDIA_SMI_FIELDS.length} columns (${NVIDIA_SMI_FIELDS.join(',')}), got ${cols.length}`,
        ),
      );
      continue;
    }
    let identity: { index: number; uuid: string; name: string; memoryTotalMib: bigint };
    try {
      const idx = parseUnsignedInteger(present('index', index!));
      if (idx === undefined || idx > 1023n) throw new FieldError('not_numeric', 'index', index!, `is ${JSON.stringify(index)}, not a GPU index`);
      const id = present('uuid', uuid!);
      if (!UUID_RE.test(id)) throw new FieldError('invalid_value', 'uuid', id, `is ${JSON.stringify(id.slice(0, 80))}, not a GPU uuid (GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`);
      const nm = present('name', name!);
      if (nm.length > 256) throw new FieldError('invalid_value', 'name', nm.slice(0, 80), 'is longer than 256 characters');
      // The name becomes device_registered's device_type, which the chain refuses with control characters (a garbled driver string).
      if (FORBIDDEN_CONTROL_RE.test(nm)) throw new FieldError('invalid_value', 'name', nm.slice(0, 80), `is ${JSON.stringify(nm.slice(0, 80))}, with control characters`);
      identity = { index: Number(idx), uuid: id, name: nm, memoryTotalMib: mib('memory.total', memTotal!, true) };
    } catch (e) {
      if (!(e instanceof FieldError)) throw e;
      errors.push(wrap(e, lineNo, index, uuid, '; the GPU cannot be identified'));
      continue;
    }
    if (seen.has(identity.uuid)) {
      errors.push(new NvidiaSmiError({ reason: 'duplicate_gpu', line: lineNo, gpuIndex: index, gpuUuid: identity.uuid, field: 'uuid' }, `${describe(lineNo, index, uuid)}: uuid appears twice`));
      continue;
    }
    seen.add(identity.uuid);
    let metrics: GpuMetrics | NvidiaSmiError;
    try {
      const memoryUsedMib = mib('memory.used', memUsed!, false);
      // More used than the GPU has: a garbled reading, not a sample (the chain would carry it as one).
      if (memoryUsedMib > identity.memoryTotalMib) throw new FieldError('out_of_range', 'memory.used', memUsed!, `is above memory.total (${identity.memoryTotalMib} MiB)`);
      metrics = {
        memoryUsedMib,
        memoryTotalMib: identity.memoryTotalMib,
        utilizationPct: percent('utilization.gpu', util!),
        temperatureMc: milli('temperature.gpu', temp!, I32_MIN, I32_MAX, '°C'),
        powerMw: milli('power.draw', power!, 0, U32_MAX, 'W'),
      };
    } catch (e) {
      if (!(e instanceof FieldError)) throw e;
      metrics = wrap(e, lineNo, index, uuid, '; no metrics are emitted for this GPU');
    }
    gpus.push({ line: lineNo, ...identity, metrics });
  }
  if (nonEmpty === 0) throw new NvidiaSmiError({ reason: 'no_gpus', raw: '' }, 'nvidia-smi printed no GPUs (empty output)');
  return { gpus, errors };
}
