/**
 * Independent recomputation of every read model from the chain, in plain
 * TypeScript over decoded records (no projector code), and a dump of the
 * tables in the same normalized shape, so tests compare them row by row.
 * Rules: docs/read-models.md.
 */
import type pg from 'pg';
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { chainHash, decodeRecord, genesisHash, recordToJson, toHex, type ChainRecord } from '@hwledger/chain';
import { streams } from '@hwledger/core';

export interface ChainRow {
  record: ChainRecord;
  canonical: Uint8Array;
  prevHash: Uint8Array;
  hash: Uint8Array;
}

/** Reads records 1..upTo (default: the whole stream) straight off the stream. */
export async function readChainRows(nc: NatsConnection, chainId: string, upTo?: bigint): Promise<ChainRow[]> {
  const js = jetstream(nc);
  const jsm = await js.jetstreamManager();
  const last = BigInt((await jsm.streams.info(streams.chain(chainId))).state.last_seq);
  const end = upTo ?? last;
  const out: ChainRow[] = [];
  if (end === 0n) return out;
  const c = await js.consumers.get(streams.chain(chainId), { deliver_policy: DeliverPolicy.All });
  const msgs = await c.consume({ max_messages: 4096 });
  let prev = genesisHash(chainId);
  for await (const m of msgs) {
    const record = decodeRecord(m.data);
    const hash = chainHash(prev, m.data);
    out.push({ record, canonical: m.data, prevHash: prev, hash });
    prev = hash;
    if (BigInt(m.seq) >= end) break;
  }
  await msgs.close();
  return out;
}

export interface Book {
  version: number;
  effectiveFromMs: bigint;
  gpu: Record<string, bigint>;
  tok: Record<string, bigint>;
}

type Row = Record<string, string | null>;
export type Tables = Record<string, Map<string, Row>>;

const str = (v: unknown): string | null =>
  v === null || v === undefined
    ? null
    : typeof v === 'object' && !(v instanceof Buffer)
      ? JSON.stringify(v)
      : v instanceof Buffer
        ? v.toString('hex')
        : String(v);
const H = 3_600_000n;
const D = 86_400_000n;

function stable(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  return `{${Object.keys(v)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stable((v as Record<string, unknown>)[k])}`)
    .join(',')}}`;
}

/** Round half up of durationMs×gpu/3.6e6 + tokens×tok/1e6, written independently of rating.ts. */
function cost(durationMs: bigint, gpu: bigint, tokens: bigint, tok: bigint): bigint {
  const den = 3_600_000_000_000n;
  const num = durationMs * gpu * 1_000_000n + tokens * tok * 3_600_000n;
  return (2n * num + den) / (2n * den);
}

function bookAt(books: Book[], hour: bigint): Book | undefined {
  const eligible = books.filter((b) => b.effectiveFromMs <= hour);
  eligible.sort((a, b) => (a.effectiveFromMs === b.effectiveFromMs ? a.version - b.version : a.effectiveFromMs < b.effectiveFromMs ? -1 : 1));
  return eligible[eligible.length - 1];
}

export const TABLE_KEYS: Record<string, string[]> = {
  records: ['sequence'],
  devices: ['device_id'],
  device_metrics: ['sequence'],
  device_metrics_hourly: ['device_id', 'window_start_ms'],
  device_metrics_daily: ['device_id', 'window_start_ms'],
  jobs: ['job_id'],
  inference_requests: ['sequence'],
  inference_request_events: ['source', 'event_id'],
  tenant_usage_hourly: ['tenant', 'window_start_ms'],
  tenant_usage_daily: ['tenant', 'window_start_ms'],
  tenant_reason_hourly: ['tenant', 'window_start_ms', 'reason'],
  tenant_reason_daily: ['tenant', 'window_start_ms', 'reason'],
};

export function recompute(chainId: string, rows: readonly ChainRow[], books: Book[] = []): Tables {
  const t: Tables = Object.fromEntries(Object.keys(TABLE_KEYS).map((k) => [k, new Map<string, Row>()]));
  const put = (table: string, row: Row): void => {
    t[table]!.set(TABLE_KEYS[table]!.map((k) => row[k]).join('|'), row);
  };
  const get = (table: string, ...key: string[]): Row | undefined => t[table]!.get(key.join('|'));
  const add = (row: Row, col: string, n: bigint): void => {
    row[col] = (BigInt(row[col] ?? '0') + n).toString();
  };
  const max = (row: Row, col: string, n: bigint): void => {
    if (row[col] === null || row[col] === undefined || BigInt(row[col]!) < n) row[col] = n.toString();
  };
  const usage = (table: string, tenant: string, w: bigint): Row => {
    let u = get(table, tenant, w.toString());
    if (!u) {
      u = { chain_id: chainId, tenant, window_start_ms: w.toString() };
      for (const c of [
        'request_count',
        'request_tokens',
        'request_compute_ms',
        'request_cost_micro_usd',
        'unrated_request_count',
        'jobs_completed',
        'jobs_failed',
        'job_tokens',
        'job_duration_ms',
        'job_reported_cost_micro_usd',
        'job_rated_cost_micro_usd',
        'unrated_job_count',
      ])
        u[c] = '0';
      u['price_book_versions'] = '[]';
      put(table, u);
    }
    return u;
  };
  const addVersion = (u: Row, v: number): void => {
    const vs = new Set<number>(JSON.parse(u['price_book_versions']!) as number[]);
    vs.add(v);
    u['price_book_versions'] = JSON.stringify([...vs].sort((a, b) => a - b));
  };
  const deviceRow = (id: string): Row => {
    let d = get('devices', id);
    if (!d) {
      d = {
        chain_id: chainId,
        device_id: id,
        registered: 'false',
        hostname: null,
        device_type: null,
        vram_total_mib: null,
        registered_sequence: null,
        registered_at_ms: null,
        registration_count: '0',
        last_metrics_sequence: null,
        last_seen_at_ms: null,
        vram_used_mib: null,
        reported_vram_total_mib: null,
        utilization_pct: null,
        temperature_mc: null,
        power_mw: null,
        metrics_count: '0',
      };
      put('devices', d);
    }
    return d;
  };
  const jobRow = (id: string): Row => {
    let j = get('jobs', id);
    if (!j) {
      j = { chain_id: chainId, job_id: id, status: 'dispatched' };
      for (const c of [
        'dispatch_tenant',
        'device_id',
        'model_id',
        'vram_requested_mib',
        'predicted_cost_micro_usd',
        'dispatch_sequence',
        'dispatched_at_ms',
        'completion_tenant',
        'tokens_generated',
        'duration_ms',
        'actual_vram_mib',
        'reported_cost_micro_usd',
        'completion_sequence',
        'completed_at_ms',
        'failure_tenant',
        'error_message',
        'failure_sequence',
        'failed_at_ms',
        'rated_device_type',
        'rated_model_id',
        'rated_cost_micro_usd',
        'price_book_version',
      ])
        j[c] = null;
      j['dispatch_count'] = j['completion_count'] = j['failure_count'] = '0';
      put('jobs', j);
    }
    return j;
  };

  /** `${source}\n${event_id}` of the inference requests billed so far (a re-sealed one is billed once). */
  const billedRequestEvents = new Set<string>();
  for (const { record: r, canonical, prevHash, hash } of rows) {
    const seq = r.sequence.toString();
    const at = r.sealedAtMs;
    const hour = (at / H) * H;
    const day = (at / D) * D;
    const rec: Row = {
      chain_id: chainId,
      sequence: seq,
      prev_hash: toHex(prevHash),
      hash: toHex(hash),
      canonical: toHex(canonical),
      kind: r.kind,
      tenant: r.tenant,
      instance_id: r.instanceId,
      source: r.source,
      event_id: r.eventId,
      observed_at_ms: r.observedAtMs.toString(),
      sealed_at_ms: at.toString(),
      job_id: null,
      request_id: null,
      device_id: null,
      data: stable(recordToJson(r).data),
    };
    put('records', rec);
    if (r.kind === 'device_registered') {
      rec['device_id'] = r.data.device_id;
      const d = deviceRow(r.data.device_id);
      Object.assign(d, {
        registered: 'true',
        hostname: r.data.hostname,
        device_type: r.data.device_type,
        vram_total_mib: r.data.vram_total_mib.toString(),
        registered_sequence: seq,
        registered_at_ms: at.toString(),
      });
      add(d, 'registration_count', 1n);
    } else if (r.kind === 'metrics_collected') {
      const x = r.data;
      rec['device_id'] = x.device_id;
      const d = deviceRow(x.device_id);
      Object.assign(d, {
        last_metrics_sequence: seq,
        last_seen_at_ms: at.toString(),
        vram_used_mib: x.vram_used_mib.toString(),
        reported_vram_total_mib: x.vram_total_mib.toString(),
        utilization_pct: String(x.utilization_pct),
        temperature_mc: String(x.temperature_mc),
        power_mw: String(x.power_mw),
      });
      add(d, 'metrics_count', 1n);
      put('device_metrics', {
        chain_id: chainId,
        sequence: seq,
        device_id: x.device_id,
        sealed_at_ms: at.toString(),
        observed_at_ms: r.observedAtMs.toString(),
        vram_used_mib: x.vram_used_mib.toString(),
        vram_total_mib: x.vram_total_mib.toString(),
        utilization_pct: String(x.utilization_pct),
        temperature_mc: String(x.temperature_mc),
        power_mw: String(x.power_mw),
      });
      for (const [table, w] of [
        ['device_metrics_hourly', hour],
        ['device_metrics_daily', day],
      ] as const) {
        let m = get(table, x.device_id, w.toString());
        if (!m) {
          m = {
            chain_id: chainId,
            device_id: x.device_id,
            window_start_ms: w.toString(),
            samples: '0',
            vram_used_sum_mib: '0',
            vram_used_max_mib: null,
            utilization_sum: '0',
            utilization_max: null,
            temperature_sum_mc: '0',
            temperature_max_mc: null,
            power_sum_mw: '0',
            power_max_mw: null,
          };
          put(table, m);
        }
        add(m, 'samples', 1n);
        add(m, 'vram_used_sum_mib', x.vram_used_mib);
        max(m, 'vram_used_max_mib', x.vram_used_mib);
        add(m, 'utilization_sum', BigInt(x.utilization_pct));
        max(m, 'utilization_max', BigInt(x.utilization_pct));
        add(m, 'temperature_sum_mc', BigInt(x.temperature_mc));
        max(m, 'temperature_max_mc', BigInt(x.temperature_mc));
        add(m, 'power_sum_mw', BigInt(x.power_mw));
        max(m, 'power_max_mw', BigInt(x.power_mw));
      }
    } else if (r.kind === 'job_dispatched') {
      const x = r.data;
      rec['job_id'] = x.job_id;
      rec['device_id'] = x.device_id;
      const j = jobRow(x.job_id);
      add(j, 'dispatch_count', 1n);
      j['last_sequence'] = seq;
      if (j['dispatch_sequence'] === null) {
        Object.assign(j, {
          dispatch_tenant: r.tenant,
          device_id: x.device_id,
          model_id: x.model_id,
          vram_requested_mib: x.vram_requested_mib.toString(),
          predicted_cost_micro_usd: x.predicted_cost_micro_usd.toString(),
          dispatch_sequence: seq,
          dispatched_at_ms: at.toString(),
        });
        // Completed before its dispatch: rated again with the dispatch's model and device type, in the completion's windows.
        if (j['completion_sequence'] !== null) {
          const deviceType = get('devices', x.device_id)?.['device_type'] ?? null;
          Object.assign(j, { rated_device_type: deviceType, rated_model_id: x.model_id });
          const doneAt = BigInt(j['completed_at_ms']!);
          const doneHour = (doneAt / 3_600_000n) * 3_600_000n;
          const book = bookAt(books, doneHour);
          const ratedBefore = j['rated_cost_micro_usd'];
          if (book && ratedBefore !== null && ratedBefore !== undefined) {
            const gpu = (deviceType !== null ? book.gpu[deviceType] : undefined) ?? book.gpu['*']!;
            const tok = book.tok[x.model_id] ?? book.tok['*']!;
            const rated = cost(BigInt(j['duration_ms']!), gpu, BigInt(j['tokens_generated']!), tok);
            const delta = rated - BigInt(ratedBefore);
            j['rated_cost_micro_usd'] = rated.toString();
            j['price_book_version'] = String(book.version);
            for (const [table, w] of [
              ['tenant_usage_hourly', doneHour],
              ['tenant_usage_daily', (doneAt / 86_400_000n) * 86_400_000n],
            ] as const) {
              add(usage(table, j['completion_tenant']!, w), 'job_rated_cost_micro_usd', delta);
            }
          }
        }
      }
    } else if (r.kind === 'job_completed') {
      const x = r.data;
      rec['job_id'] = x.job_id;
      const j = jobRow(x.job_id);
      add(j, 'completion_count', 1n);
      j['last_sequence'] = seq;
      if (j['completion_sequence'] === null) {
        const deviceType = j['device_id'] !== null ? (get('devices', j['device_id']!)?.['device_type'] ?? null) : null;
        Object.assign(j, {
          status: 'completed',
          completion_tenant: r.tenant,
          tokens_generated: String(x.tokens_generated),
          duration_ms: x.duration_ms.toString(),
          actual_vram_mib: x.actual_vram_mib.toString(),
          reported_cost_micro_usd: x.cost_micro_usd.toString(),
          completion_sequence: seq,
          completed_at_ms: at.toString(),
          rated_device_type: deviceType,
          rated_model_id: j['model_id'],
        });
        const book = bookAt(books, hour);
        let rated: bigint | undefined;
        if (book) {
          const gpu = (deviceType !== null ? book.gpu[deviceType] : undefined) ?? book.gpu['*']!;
          const tok = (j['model_id'] !== null ? book.tok[j['model_id']!] : undefined) ?? book.tok['*']!;
          rated = cost(x.duration_ms, gpu, BigInt(x.tokens_generated), tok);
          j['rated_cost_micro_usd'] = rated.toString();
          j['price_book_version'] = String(book.version);
        }
        for (const [table, w] of [
          ['tenant_usage_hourly', hour],
          ['tenant_usage_daily', day],
        ] as const) {
          const u = usage(table, r.tenant, w);
          add(u, 'jobs_completed', 1n);
          add(u, 'job_tokens', BigInt(x.tokens_generated));
          add(u, 'job_duration_ms', x.duration_ms);
          add(u, 'job_reported_cost_micro_usd', x.cost_micro_usd);
          if (book && rated !== undefined) {
            add(u, 'job_rated_cost_micro_usd', rated);
            addVersion(u, book.version);
          } else add(u, 'unrated_job_count', 1n);
        }
      }
    } else if (r.kind === 'job_failed') {
      rec['job_id'] = r.data.job_id;
      const j = jobRow(r.data.job_id);
      add(j, 'failure_count', 1n);
      j['last_sequence'] = seq;
      if (j['failure_sequence'] === null) {
        if (j['status'] !== 'completed') j['status'] = 'failed';
        Object.assign(j, { failure_tenant: r.tenant, error_message: r.data.error_message, failure_sequence: seq, failed_at_ms: at.toString() });
        add(usage('tenant_usage_hourly', r.tenant, hour), 'jobs_failed', 1n);
        add(usage('tenant_usage_daily', r.tenant, day), 'jobs_failed', 1n);
      }
    } else if (r.kind === 'inference_request_completed') {
      const x = r.data;
      rec['request_id'] = x.request_id;
      const eventKey = `${r.source}\n${r.eventId}`;
      if (billedRequestEvents.has(eventKey)) continue;
      billedRequestEvents.add(eventKey);
      put('inference_request_events', { chain_id: chainId, source: r.source, event_id: r.eventId, sequence: seq });
      const book = bookAt(books, hour);
      const rated = book ? cost(x.compute_ms, book.gpu['*']!, BigInt(x.total_tokens), book.tok['*']!) : undefined;
      put('inference_requests', {
        chain_id: chainId,
        sequence: seq,
        tenant: r.tenant,
        tenant_id: x.tenant_id,
        request_id: x.request_id,
        total_tokens: String(x.total_tokens),
        compute_ms: x.compute_ms.toString(),
        reason: x.reason,
        sealed_at_ms: at.toString(),
        observed_at_ms: r.observedAtMs.toString(),
        rated_cost_micro_usd: rated === undefined ? null : rated.toString(),
        price_book_version: book ? String(book.version) : null,
      });
      for (const [table, rtable, w] of [
        ['tenant_usage_hourly', 'tenant_reason_hourly', hour],
        ['tenant_usage_daily', 'tenant_reason_daily', day],
      ] as const) {
        const u = usage(table, r.tenant, w);
        add(u, 'request_count', 1n);
        add(u, 'request_tokens', BigInt(x.total_tokens));
        add(u, 'request_compute_ms', x.compute_ms);
        if (book && rated !== undefined) {
          add(u, 'request_cost_micro_usd', rated);
          addVersion(u, book.version);
        } else add(u, 'unrated_request_count', 1n);
        let rr = get(rtable, r.tenant, w.toString(), x.reason);
        if (!rr) {
          rr = { chain_id: chainId, tenant: r.tenant, window_start_ms: w.toString(), reason: x.reason, request_count: '0', tokens: '0', compute_ms: '0' };
          put(rtable, rr);
        }
        add(rr, 'request_count', 1n);
        add(rr, 'tokens', BigInt(x.total_tokens));
        add(rr, 'compute_ms', x.compute_ms);
      }
    }
  }
  return t;
}

/** Dumps a chain's rows of every compared table, normalized like recompute(). */
export async function dumpTables(pool: pg.Pool, chainId: string): Promise<Tables> {
  const t: Tables = {};
  for (const [table, keys] of Object.entries(TABLE_KEYS)) {
    const res = await pool.query<Record<string, unknown>>(`SELECT * FROM ${table} WHERE chain_id = $1`, [chainId]);
    const m = new Map<string, Row>();
    for (const raw of res.rows) {
      const row: Row = {};
      for (const [k, v] of Object.entries(raw)) {
        if (k === 'data') row[k] = stable(v);
        else if (k === 'price_book_versions') row[k] = JSON.stringify(v);
        else row[k] = str(v);
      }
      m.set(keys.map((k) => row[k]).join('|'), row);
    }
    t[table] = m;
  }
  return t;
}

/** Differences between two table sets (at most `limit`), empty when equal. */
export function diffTables(expected: Tables, actual: Tables, limit = 10): string[] {
  const out: string[] = [];
  for (const table of Object.keys(TABLE_KEYS)) {
    const e = expected[table] ?? new Map();
    const a = actual[table] ?? new Map();
    if (e.size !== a.size) out.push(`${table}: expected ${e.size} rows, found ${a.size}`);
    for (const [k, row] of e) {
      const got = a.get(k);
      if (!got) {
        out.push(`${table}[${k}]: missing`);
      } else {
        for (const [col, v] of Object.entries(row)) {
          if (got[col] !== v) out.push(`${table}[${k}].${col}: expected ${v}, found ${got[col]}`);
        }
      }
      if (out.length >= limit) return out;
    }
    for (const k of a.keys()) {
      if (!e.has(k)) out.push(`${table}[${k}]: unexpected`);
      if (out.length >= limit) return out;
    }
  }
  return out;
}
