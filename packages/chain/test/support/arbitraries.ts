/**
 * fast-check arbitraries for records of every kind: u64 over the whole range
 * (biased to values past 2^53, where a JS number would silently round) and
 * strings of arbitrary well-formed Unicode (any code point, astral included).
 */
import fc from 'fast-check';
import { KIND_NAMES, U64_MAX, type ChainEvent, type ChainRecord, type KindName } from '@hwledger/chain';

const TWO_53 = 2n ** 53n;

/** fc.record with ordinary prototypes (fast-check 4 draws null-prototype objects by default). */
const rec = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> => fc.record(model, { noNullPrototype: true }) as fc.Arbitrary<T>;

/** Any u64, with the edges and the region just past 2^53 drawn often. */
export const u64 = (): fc.Arbitrary<bigint> =>
  fc.oneof(
    fc.bigInt({ min: 0n, max: U64_MAX }),
    fc.bigInt({ min: TWO_53 - 2n, max: TWO_53 + 1024n }),
    fc.bigInt({ min: U64_MAX - 1024n, max: U64_MAX }),
    fc.constantFrom(0n, 1n, TWO_53, TWO_53 + 1n, 2n ** 63n, U64_MAX),
  );

export const u32 = (): fc.Arbitrary<number> => fc.oneof(fc.integer({ min: 0, max: 0xffff_ffff }), fc.constantFrom(0, 1, 0xffff_ffff));
export const i32 = (): fc.Arbitrary<number> => fc.oneof(fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff }), fc.constantFrom(-0x8000_0000, -1, 0, 0x7fff_ffff));

/** Well-formed strings of any code points (unit 'binary': U+0000..U+10FFFF less lone surrogates). */
export const text = (maxLength = 24): fc.Arbitrary<string> =>
  fc.oneof(fc.string({ unit: 'binary', maxLength }), fc.string({ unit: 'grapheme', maxLength }), fc.constant(''));

const dataArb: { [K in KindName]: fc.Arbitrary<Extract<ChainEvent, { kind: K }>['data']> } = {
  device_registered: rec({ device_id: text(), hostname: text(), device_type: text(), vram_total_mib: u64() }),
  job_dispatched: rec({ job_id: text(), device_id: text(), model_id: text(), vram_requested_mib: u64(), predicted_cost_micro_usd: u64() }),
  job_completed: rec({ job_id: text(), tokens_generated: u32(), duration_ms: u64(), actual_vram_mib: u64(), cost_micro_usd: u64() }),
  job_failed: rec({ job_id: text(), error_message: text(200) }),
  metrics_collected: rec({ device_id: text(), vram_used_mib: u64(), vram_total_mib: u64(), utilization_pct: u32(), temperature_mc: i32(), power_mw: u32() }),
  inference_request_completed: rec({
    tenant_id: text(),
    request_id: text(),
    total_tokens: u32(),
    compute_ms: u64(),
    // Known reasons and any other string: readers must accept unknown ones.
    reason: fc.oneof(fc.constantFrom('end_of_sequence', 'max_tokens_reached', 'engine_error', 'cancelled', 'preempted'), text()),
  }),
};

export function eventOf<K extends KindName>(kind: K): fc.Arbitrary<ChainEvent> {
  return rec({ source: text(), eventId: text(), observedAtMs: u64(), tenant: text(), instanceId: text(), data: dataArb[kind] as fc.Arbitrary<object> }).map(
    (e) => ({ ...e, kind }) as unknown as ChainEvent,
  );
}

export const anyEvent = (): fc.Arbitrary<ChainEvent> => fc.oneof(...KIND_NAMES.map((k) => eventOf(k)));

export function recordOf(kind: KindName): fc.Arbitrary<ChainRecord> {
  return fc.tuple(eventOf(kind), rec({ chainId: text(), sequence: u64(), sealedAtMs: u64() })).map(([e, s]) => ({ ...e, ...s }) as ChainRecord);
}

export const anyRecord = (): fc.Arbitrary<ChainRecord> => fc.oneof(...KIND_NAMES.map((k) => recordOf(k)));
