/**
 * The sealing fast path (fast-ingest.ts) against the reference path
 * (admitIngestMessage = decodeIngestBatch + validateEvent, then encodeRecord):
 * whenever the fast path accepts a message, the reference accepts every event
 * of it and the canonical bytes, event keys, kinds and tenants are identical;
 * on the plain events producers send it does accept; on anything else it
 * hands the message to the reference path (and never throws).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { chainHash, encodeRecord, KIND_FIELDS, KIND_NAMES, sealEvent, toHex, type ChainEvent, type ChainRecord, type KindName, type ValidationLimits } from '@hwledger/chain';
import { recordMsgId } from '@hwledger/core';
import { encodeIngestBatch, eventToProto, pb } from '@hwledger/proto';
import { admitIngestMessage, canonicalPrefix, fastAdmit, fastAdmitPortable, MAX_EVENTS_PER_MESSAGE, ownsSource, sourceOwner, type FastBatch, type SourceOwner } from '@hwledger/sequencer';
import { nativeTranscodeIngest } from '@hwledger/native-hash';
import { nativeChainHash } from '../src/native-hash.js';
import { NATIVE_TABLE } from '../src/fast-ingest.js';
import { anyEvent } from '../../../packages/chain/test/support/arbitraries.js';
import { makeEvent } from './helpers.js';

const CHAIN = 'fast-chain';
const SEQ = 123_456_789_012n;
const SEALED = 1_700_000_000_123n;

/** The full canonical record the sequencer builds from a fast event. */
function assemble(tail: Uint8Array, start: number, end: number): Uint8Array {
  const prefix = canonicalPrefix(CHAIN);
  const out = new Uint8Array(prefix.length + 16 + end - start);
  out.set(prefix, 0);
  const v = new DataView(out.buffer);
  v.setBigUint64(prefix.length, SEQ, false);
  v.setBigUint64(prefix.length + 8, SEALED, false);
  out.set(tail.subarray(start, end), prefix.length + 16);
  return out;
}

/** A fast batch as plain data: every event's fields and its canonical tail. */
const summary = (b: FastBatch | undefined): unknown =>
  b && b.events.map((f) => ({ ...f, keyBinary: Buffer.from(f.keyBinary, 'latin1').toString('hex'), tail: Buffer.from(b.tail.subarray(f.start, f.end)).toString('hex') }));

/**
 * Fast accepted ⇒ reference accepted every event with identical bytes/keys. Returns whether fast accepted.
 * Also: the addon's transcoder (fastAdmit, where loaded) and the portable path give the same answer and bytes.
 */
function checkAgainstReference(body: Uint8Array, limits?: ValidationLimits, owner?: SourceOwner): boolean {
  const fast = fastAdmit(body, limits, undefined, undefined, owner);
  expect(summary(fast)).toEqual(summary(fastAdmitPortable(body, limits, undefined, undefined, owner)));
  if (!fast) return false;
  const ref = admitIngestMessage(body, { ...(limits ? { limits } : {}), ...(owner ? { owner } : {}) });
  expect(ref.ok).toBe(true);
  if (!ref.ok) return true;
  expect(fast.events.length).toBe(ref.events.length);
  fast.events.forEach((f, i) => {
    const r = ref.events[i]!;
    expect(r.ok, `event ${i}: ${r.ok ? '' : r.rejection.code}`).toBe(true);
    if (!r.ok) return;
    const e = r.event;
    expect(f.index).toBe(i);
    expect(f.kind).toBe(e.kind);
    expect(f.tenant).toBe(e.tenant);
    expect(Buffer.from(f.keyBinary, 'latin1').toString('hex')).toBe(recordMsgId(e.source, e.eventId));
    expect(f.observedAtMs).toBe(Number(e.observedAtMs));
    const expected = encodeRecord({ ...e, chainId: CHAIN, sequence: SEQ, sealedAtMs: SEALED } as ChainRecord);
    expect(Buffer.from(assemble(fast.tail, f.start, f.end)).toString('hex')).toBe(Buffer.from(expected).toString('hex'));
  });
  return true;
}

// Plain strings: printable ASCII plus tab, LF, CR (what the fast path takes).
const plainChar = fc.oneof(
  { weight: 20, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.constantFrom('\t', '\n', '\r') },
);
const plain = (min = 1, max = 40): fc.Arbitrary<string> => fc.string({ unit: plainChar, minLength: min, maxLength: max });
const token = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,20}$/);
const u64 = fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.constantFrom(0n, 1n, 127n, 128n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n));
const pos64 = u64.filter((v) => v > 0n);
const u32 = fc.oneof(fc.integer({ min: 0, max: 0xffff_ffff }), fc.constantFrom(0, 1, 127, 128, 0xffff_ffff));
const i32 = fc.oneof(fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff }), fc.constantFrom(-0x8000_0000, -1, 0, 0x7fff_ffff));
const REASONS = ['end_of_sequence', 'max_tokens_reached', 'engine_error', 'cancelled', 'preempted'];

/** Valid events of every kind with plain strings (the producers' normal traffic). */
const plainEvent: fc.Arbitrary<ChainEvent> = fc
  .record({ kind: fc.constantFrom(...KIND_NAMES), source: plain(), eventId: plain(), observedAtMs: pos64, tenant: fc.oneof(fc.constant(''), token), instanceId: plain() })
  .map((e) => (e.kind === 'inference_request_completed' && e.tenant === '' ? { ...e, tenant: 'acme' } : e)) // tenant_id must be non-empty
  .chain(({ kind, ...base }) => {
    const data: Record<KindName, fc.Arbitrary<object>> = {
      device_registered: fc.record({ device_id: plain(), hostname: plain(), device_type: plain(), vram_total_mib: pos64 }),
      job_dispatched: fc.record({ job_id: plain(), device_id: plain(), model_id: plain(), vram_requested_mib: u64, predicted_cost_micro_usd: u64 }),
      job_completed: fc.record({ job_id: plain(), tokens_generated: u32, duration_ms: u64, actual_vram_mib: u64, cost_micro_usd: u64 }),
      job_failed: fc.record({ job_id: plain(), error_message: plain(1, 300) }),
      metrics_collected: fc.record({ device_id: plain(), vram_used_mib: u64, vram_total_mib: pos64, utilization_pct: fc.integer({ min: 0, max: 100 }), temperature_mc: i32, power_mw: u32 }),
      inference_request_completed: fc.record({ tenant_id: fc.constant(base.tenant), request_id: plain(), total_tokens: u32, compute_ms: u64, reason: fc.constantFrom(...REASONS) }),
    };
    return data[kind].map((d) => ({ ...base, kind, data: d }) as ChainEvent);
  });

const varint = (n: number): number[] => {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n % 128) | 0x80);
  out.push(n);
  return out;
};

const encodeOrUndefined = (events: ChainEvent[]): Uint8Array | undefined => {
  try {
    return encodeIngestBatch(events);
  } catch {
    return undefined; // e.g. a reason with no ingest encoding
  }
};

describe('fastAdmit', () => {
  it('accepts plain valid batches and produces the reference canonical bytes, keys, kinds and tenants', () => {
    fc.assert(
      fc.property(fc.array(plainEvent, { minLength: 1, maxLength: 8 }), (events) => {
        expect(checkAgainstReference(encodeIngestBatch(events))).toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });

  it('with an owner, accepts only messages whose every source the subject\'s node owns, and otherwise exactly as without', () => {
    // Sources around the owner `fast-chain/n1` (subject hwl.ingest.fast-chain.n1): itself, below it, and near misses.
    const near = ['fast-chain/n1', 'fast-chain/n1/sim-000', 'fast-chain/n1/a/b', 'fast-chain/n1/', 'fast-chain/n10', 'fast-chain/n', 'fast-chain/n2', 'other/n1', 'fast-chain', 'fast-chain/N1'];
    const owners = [sourceOwner(CHAIN, 'hwl.ingest.fast-chain.n1'), sourceOwner(CHAIN, 'hwl.ingest.fast-chain.n2'), sourceOwner(CHAIN, 'hwl.ingest.other.n1')];
    const event = plainEvent.chain((e) => fc.oneof(fc.constantFrom(...near), plain()).map((source) => ({ ...e, source })));
    fc.assert(
      fc.property(fc.array(event, { minLength: 1, maxLength: 6 }), fc.constantFrom(...owners), (events, owner) => {
        const body = encodeIngestBatch(events);
        const owned = events.every((e) => ownsSource(owner, e.source));
        // Fast with the owner: what it was without, when every source is owned; nothing otherwise.
        expect(checkAgainstReference(body, undefined, owner)).toBe(owned);
        // The reference names each foreign event, and only those.
        const ref = admitIngestMessage(body, { owner });
        expect(ref.ok).toBe(true);
        if (!ref.ok) return;
        ref.events.forEach((r, i) => expect(r.ok ? 'ok' : r.rejection.code).toBe(ownsSource(owner, events[i]!.source) ? 'ok' : 'FOREIGN_SOURCE'));
      }),
      { numRuns: 2_000 },
    );
    // A subject with no single node token owns nothing: the fast path declines, the reference rejects every event.
    const nobody = sourceOwner(CHAIN, 'hwl.ingest.fast-chain.n1.extra');
    const body = encodeIngestBatch([{ ...makeEvent(1), source: 'fast-chain/n1.extra' }]);
    expect(fastAdmit(body, undefined, undefined, undefined, nobody)).toBeUndefined();
    const ref = admitIngestMessage(body, { owner: nobody });
    expect(ref.ok && ref.events.map((r) => (r.ok ? 'ok' : r.rejection.code))).toEqual(['FOREIGN_SOURCE']);
  });

  it.skipIf(process.env['HWL_NATIVE_HASH'] === '0' || process.env['HWL_NATIVE_INGEST'] === '0')('uses the addon\'s transcoder where it is built', () => {
    expect(nativeTranscodeIngest).toBeDefined();
  });

  it('admits a message larger than the transcoder\'s output scratch (portable path once, then a larger scratch), identically', () => {
    // About 1.5 MB of canonical tails: more than the first 256 KiB scratch and its first growth.
    const body = encodeIngestBatch(Array.from({ length: MAX_EVENTS_PER_MESSAGE }, (_, i) => makeEvent(i, 'big/a')));
    const portable = summary(fastAdmitPortable(body));
    for (let i = 0; i < 3; i++) expect(summary(fastAdmit(body))).toEqual(portable);
    expect((portable as unknown[]).length).toBe(MAX_EVENTS_PER_MESSAGE);
  });

  it('leaves a message of more than MAX_EVENTS_PER_MESSAGE valid events to the reference path, which rejects it whole', () => {
    const at = (n: number): Uint8Array => encodeIngestBatch(Array.from({ length: n }, (_, i) => makeEvent(i, 'cap/a')));
    expect(fastAdmit(at(MAX_EVENTS_PER_MESSAGE))?.events).toHaveLength(MAX_EVENTS_PER_MESSAGE);
    const over = at(MAX_EVENTS_PER_MESSAGE + 1);
    expect(fastAdmit(over)).toBeUndefined();
    expect(admitIngestMessage(over)).toMatchObject({ ok: false, rejection: { code: 'TOO_MANY_EVENTS' } });
  });

  it('accepts the test traffic of every kind (helpers.makeEvent)', () => {
    const events = Array.from({ length: 60 }, (_, i) => makeEvent(i));
    expect(new Set(events.map((e) => e.kind)).size).toBe(KIND_NAMES.length);
    expect(checkAgainstReference(encodeIngestBatch(events))).toBe(true);
  });

  it('computes the same event keys with and without the SHA-256 addon (HWL_NATIVE_HASH=0: node:crypto)', () => {
    const events = Array.from({ length: 60 }, (_, i) => makeEvent(i, `src/node-${i % 7}`));
    const body = encodeIngestBatch(events);
    const expected = events.map((e) => recordMsgId(e.source, e.eventId));
    const script = `
      const { fastAdmit } = await import(${JSON.stringify(fileURLToPath(new URL('../dist/index.js', import.meta.url)))});
      const { nativeHash } = await import('@hwledger/native-hash');
      const body = Buffer.from(${JSON.stringify(Buffer.from(body).toString('base64'))}, 'base64');
      const r = fastAdmit(new Uint8Array(body.buffer, body.byteOffset, body.length));
      process.stdout.write(JSON.stringify({ addon: nativeHash !== undefined, keys: r.events.map((f) => Buffer.from(f.keyBinary, 'latin1').toString('hex')) }));
    `;
    const run = (env: Record<string, string>): { addon: boolean; keys: string[] } =>
      JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('..', import.meta.url)), env: { ...process.env, ...env }, encoding: 'utf8' }));
    const without = run({ HWL_NATIVE_HASH: '0' });
    expect(without.addon).toBe(false);
    expect(without.keys).toEqual(expected);
    const inProcess = fastAdmit(body)!.events.map((f) => Buffer.from(f.keyBinary, 'latin1').toString('hex'));
    expect(inProcess).toEqual(expected);
  });

  it('on arbitrary events (any Unicode, out-of-policy values) accepts only what the reference accepts, identically', () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.array(fc.oneof(anyEvent(), plainEvent), { minLength: 1, maxLength: 4 }), (events) => {
        const body = encodeOrUndefined(events);
        if (body && checkAgainstReference(body)) accepted++;
      }),
      { numRuns: 2_000 },
    );
    expect(accepted).toBeGreaterThan(0);
  });

  it('on corrupted messages (flipped, inserted, deleted bytes, truncation) never throws and accepts only identically', () => {
    fc.assert(
      fc.property(
        fc.array(plainEvent, { minLength: 1, maxLength: 3 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'set', 'insert', 'delete', 'truncate')), { minLength: 1, maxLength: 3 }),
        (events, edits) => {
          let b = Array.from(encodeIngestBatch(events));
          for (const [at, v, op] of edits) {
            const i = at % (b.length + 1);
            if (op === 'flip') b[i % b.length] = b[i % b.length]! ^ (1 << v % 8);
            else if (op === 'set') b[i % b.length] = v;
            else if (op === 'insert') b.splice(i, 0, v);
            else if (op === 'delete') b.splice(i % b.length, 1);
            else b = b.slice(0, i);
          }
          checkAgainstReference(Uint8Array.from(b));
        },
      ),
      { numRuns: 5_000 },
    );
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        checkAgainstReference(b);
      }),
      { numRuns: 5_000 },
    );
  });

  it('hands unusual but valid encodings to the reference path, or reads them identically', () => {
    const e = makeEvent(5);
    const body = encodeIngestBatch([e]);
    // Unknown field in the event (field 7, varint): the reference skips it.
    const p = pb.IngestEvent.encode(eventToProto(e)).finish();
    const withUnknown = Uint8Array.from([0x08, 0x01, 0x12, p.length + 2, ...p, 0x38, 0x05]);
    expect(admitIngestMessage(withUnknown).ok).toBe(true);
    expect(fastAdmit(withUnknown)).toBeUndefined();
    // A repeated field (last wins in the reference).
    const twice = Uint8Array.from([...body.subarray(0, 2), 0x12, p.length + 4, ...p, 0x0a, 0x02, 0x41, 0x42]);
    expect(admitIngestMessage(twice).ok).toBe(true);
    expect(fastAdmit(twice)).toBeUndefined();
    // Version given twice; version first or last: fine either way.
    const versionLast = Uint8Array.from([0x12, p.length, ...p, 0x08, 0x01]);
    expect(checkAgainstReference(versionLast)).toBe(true);
    expect(fastAdmit(Uint8Array.from([0x08, 0x01, ...body]))).toBeUndefined();
    // Non-minimal varint for observed_at_ms (0x18 = field 3): 1 as 0x81 0x80 0x00.
    const ev = Uint8Array.from([0x0a, 1, 0x73, 0x12, 1, 0x65, 0x18, 0x81, 0x80, 0x00, 0x2a, 1, 0x69, 0x6a, 6, 0x0a, 1, 0x6a, 0x12, 1, 0x78]);
    expect(checkAgainstReference(Uint8Array.from([0x08, 0x01, 0x12, ev.length, ...ev]))).toBe(true);
    // A payload whose last field runs past the payload's declared length: the
    // generated decoder reads on regardless; the fast path leaves it to it.
    const overrun = Uint8Array.from(ev);
    overrun[14] = 5;
    expect(admitIngestMessage(Uint8Array.from([0x08, 0x01, 0x12, overrun.length, ...overrun])).ok).toBe(true);
    expect(fastAdmit(Uint8Array.from([0x08, 0x01, 0x12, overrun.length, ...overrun]))).toBeUndefined();
    // Non-ASCII strings, control characters, over-long ids, bad tenant, unknown reason: reference decides.
    for (const bad of [
      { ...e, source: 'nöde' },
      { ...e, eventId: 'a\u0001b' },
      { ...e, instanceId: 'x'.repeat(257) },
      { ...e, tenant: '-bad' },
      { ...e, tenant: 'ac.me' },
      { ...e, tenant: 'ac me' },
      { ...e, tenant: 'x'.repeat(129) },
      { ...e, data: { ...(e.data as object), tenant_id: 'other' } } as ChainEvent,
    ]) {
      expect(fastAdmit(encodeIngestBatch([makeEvent(1), bad]))).toBeUndefined();
    }
  });

  it('applies every per-kind rule at its boundaries exactly as the reference (numbers, reasons, observed_at_ms)', () => {
    const U32 = [0, 1, 99, 100, 101, 255, 2 ** 31, 2 ** 32 - 1];
    const U64 = [0n, 1n, 100n, 101n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n];
    const I32 = [-(2 ** 31), -1, 0, 1, 100, 101, 2 ** 31 - 1];
    const outcomes = new Set<boolean>();
    for (let i = 0; i < 6; i++) {
      const base = makeEvent(i);
      for (const f of KIND_FIELDS[base.kind]) {
        const values = f.type === 'u32' ? U32 : f.type === 'u64' ? U64 : f.type === 'i32' ? I32 : [];
        for (const v of values) {
          const e = { ...base, data: { ...(base.data as object), [f.name]: v } } as unknown as ChainEvent;
          outcomes.add(checkAgainstReference(encodeIngestBatch([e])));
          checkAgainstReference(encodeIngestBatch([makeEvent(7), e]));
        }
      }
      for (const observedAtMs of [0n, 1n, 2n ** 32n, 2n ** 64n - 1n]) outcomes.add(checkAgainstReference(encodeIngestBatch([{ ...base, observedAtMs }])));
    }
    expect(outcomes).toEqual(new Set([true, false]));
    // Completion reasons by number, defined (1-5) or not (0, 6, 7, 2^31 - 1, -1 as ten bytes), straight into the protobuf.
    const inference = makeEvent(5);
    const proto = eventToProto(inference);
    const accepted: number[] = [];
    for (const reason of [0, 1, 2, 3, 4, 5, 6, 7, 0x7fff_ffff, -1]) {
      const value = { ...(proto.data as { value: object }).value, reason };
      const p = pb.IngestEvent.encode({ ...proto, data: { ...(proto.data as object), value } } as typeof proto).finish();
      const body = pb.IngestBatch.encode({ version: 1, events: [] }).finish();
      const batch = Uint8Array.from([...body, 0x12, ...varint(p.length), ...p]);
      if (checkAgainstReference(batch)) accepted.push(reason);
    }
    expect(accepted).toEqual([1, 2, 3, 4, 5]);
  });

  it('treats raw edge encodings exactly as the portable path (explicit zeros, over-long varints, tenant tokens)', () => {
    const str = (field: number, text: string): number[] => [(field << 3) | 2, ...varint(text.length), ...Buffer.from(text)];
    const batch = (ev: number[]): Uint8Array => Uint8Array.from([0x08, 0x01, 0x12, ...varint(ev.length), ...ev]);
    const head = (obs: number[]): number[] => [...str(1, 's'), ...str(2, 'e'), 0x18, ...obs, ...str(5, 'i')];
    // job_completed (payload field 12): job_id, tokens_generated (u32) as given.
    const job = (tokens: number[]): number[] => [0x62, 3 + tokens.length + 1, ...str(1, 'j'), 0x10, ...tokens];
    const results = [
      batch([...head([0x01]), ...job([0x01])]), // plain
      batch([...head([0x00]), ...job([0x01])]), // observed_at_ms written out as 0
      batch([...head([0x01]), ...job([0x81, 0x80, 0x80, 0x80, 0x00])]), // u32 in 5 bytes
      batch([...head([0x01]), ...job([0x81, 0x80, 0x80, 0x80, 0x80, 0x00])]), // u32 in 6 bytes
      batch([...head([0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), ...job([0x01])]), // u64 in 10 bytes, bit 63
      batch([...head([0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02]), ...job([0x01])]), // beyond 64 bits
      // A string length in 6 bytes.
      batch([0x0a, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00, 0x73, ...str(2, 'e'), 0x18, 0x01, ...str(5, 'i'), ...job([0x01])]),
      // Tenant tokens: the longest allowed, one more, inner '_' and '-', a leading '_', a dot, a wildcard.
      batch([...head([0x01]), ...str(4, 'x'.repeat(128)), ...job([0x01])]),
      batch([...head([0x01]), ...str(4, 'x'.repeat(129)), ...job([0x01])]),
      batch([...head([0x01]), ...str(4, 'a_b-c'), ...job([0x01])]),
      batch([...head([0x01]), ...str(4, '_ab'), ...job([0x01])]),
      batch([...head([0x01]), ...str(4, 'a.b'), ...job([0x01])]),
      batch([...head([0x01]), ...str(4, 'a*'), ...job([0x01])]),
    ].map((b) => checkAgainstReference(b));
    expect(results).toEqual([true, false, true, false, true, false, false, true, false, true, false, false, false]);
  });

  it('treats structural edge encodings exactly as the portable path (field numbers 0 and past 15, wrong wire types, empty and repeated payloads)', () => {
    const str = (field: number, text: string): number[] => [...varint((field << 3) | 2), ...varint(text.length), ...Buffer.from(text)];
    const batch = (ev: number[]): Uint8Array => Uint8Array.from([0x08, 0x01, 0x12, ...varint(ev.length), ...ev]);
    const head = [...str(1, 's'), ...str(2, 'e'), 0x18, 0x01, ...str(5, 'i')];
    const job = [0x62, 5, ...str(1, 'j'), 0x10, 0x01];
    const cases = [
      batch([...head, ...job]), // plain
      batch([...head, ...str(16, 'x'), ...job]), // field 16: a two-byte tag
      batch([...head, 0x02, 0x00, ...job]), // field 0
      batch([...head.slice(0, 6), 0x19, 0, 0, 0, 0, 0, 0, 0, 1, ...str(5, 'i'), ...job]), // observed_at_ms as fixed64
      batch([...str(1, 's'), 0x10, 0x01, ...str(2, 'e'), 0x18, 0x01, ...str(5, 'i'), ...job]), // source again as a varint
      batch([...head, 0x62, 0x00]), // an empty payload message
      batch([...head, ...job, ...job]), // the payload twice
      batch([...head, ...job, 0x6a, 3, ...str(1, 'j')]), // two payloads
      batch([...head, 0x62, 7, ...str(1, 'j'), 0x10, 0x01, 0x10, 0x02]), // a payload field twice
      batch([...head, 0x62, 6, ...str(1, 'j'), 0x80, 0x01, 0x01]), // a payload field number past 15
      Uint8Array.from([0x08, 0x01]), // no events
      Uint8Array.from([0x08, 0x02, 0x12, 0]), // version 2
    ].map((b) => checkAgainstReference(b));
    expect(cases[0]).toBe(true);
    expect(cases.slice(1).every((c) => c === false)).toBe(true);
  });

  it.skipIf(process.env['HWL_NATIVE_HASH'] === '0' || process.env['HWL_NATIVE_INGEST'] === '0')('the C transcoder with the real schema writes nothing outside its outputs, whatever the input and however small the outputs', () => {
    const transcode = nativeTranscodeIngest!;
    const GUARD = 64;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 400 }),
          fc.tuple(fc.array(plainEvent, { minLength: 1, maxLength: 4 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 })).map(([events, edits]) => {
            const b = Array.from(encodeIngestBatch(events));
            for (const [at, v] of edits) b[at % b.length] = v;
            return Uint8Array.from(b);
          }),
        ),
        fc.nat(2_000),
        fc.nat(40),
        fc.nat(150),
        (body, outLen, descLen, keysLen) => {
          const out = new Uint8Array(outLen + 2 * GUARD).fill(0xaa);
          const desc = new Int32Array(descLen + 2 * GUARD).fill(-7);
          const keys = new Uint8Array(keysLen + 2 * GUARD).fill(0xaa);
          const n = transcode(body, NATIVE_TABLE, Int32Array.of(256, 4096, 10_000, 1), out.subarray(GUARD, GUARD + outLen), desc.subarray(GUARD, GUARD + descLen), keys.subarray(GUARD, GUARD + keysLen), null);
          expect(n === -1 || n === -2 || (n >= 1 && n * 7 <= descLen && n * 24 <= keysLen)).toBe(true);
          for (const [a, len] of [[out, outLen], [keys, keysLen]] as const) expect(a.subarray(0, GUARD).every((x) => x === 0xaa) && a.subarray(GUARD + len).every((x) => x === 0xaa)).toBe(true);
          expect(desc.subarray(0, GUARD).every((x) => x === -7) && desc.subarray(GUARD + descLen).every((x) => x === -7)).toBe(true);
        },
      ),
      { numRuns: 5_000 },
    );
  });

  it('respects custom limits and the size cap', () => {
    const e = { ...makeEvent(1), source: 'x'.repeat(50) };
    const body = encodeIngestBatch([e]);
    expect(fastAdmit(body, { maxIdBytes: 49, maxTextBytes: 4096 })).toBeUndefined();
    expect(fastAdmit(body, { maxIdBytes: 50, maxTextBytes: 4096 })).toBeDefined();
    for (const limits of [
      { maxIdBytes: 49, maxTextBytes: 4096 },
      { maxIdBytes: 50, maxTextBytes: 4096 },
      { maxIdBytes: 50.5, maxTextBytes: 4096 },
      { maxIdBytes: Infinity, maxTextBytes: 3 },
      { maxIdBytes: NaN, maxTextBytes: NaN },
      { maxIdBytes: -1, maxTextBytes: 4096 },
      // Not numbers (limits come from code, but both paths must still agree): undefined and text limit nothing, null refuses.
      { maxIdBytes: 256 } as unknown as ValidationLimits,
      { maxIdBytes: 'abc', maxTextBytes: 4096 } as unknown as ValidationLimits,
      { maxIdBytes: null, maxTextBytes: 4096 } as unknown as ValidationLimits,
    ]) {
      checkAgainstReference(body, limits);
      checkAgainstReference(encodeIngestBatch(Array.from({ length: 60 }, (_, i) => makeEvent(i))), limits);
    }
    expect(fastAdmit(body, undefined, body.length - 1)).toBeUndefined();
  });
});

describe('nativeChainHash', () => {
  it('links exactly like the portable @noble/hashes chainHash (same records, same hashes)', () => {
    fc.assert(
      fc.property(plainEvent, fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }), (e, prev, sequence) => {
        const fields = { chainId: CHAIN, sequence, sealedAtMs: SEALED };
        const a = sealEvent(e, fields, prev);
        const b = sealEvent(e, fields, prev, nativeChainHash);
        expect(b.canonical).toEqual(a.canonical);
        expect(toHex(b.hash)).toBe(toHex(a.hash));
        expect(toHex(nativeChainHash(prev, a.canonical))).toBe(toHex(chainHash(prev, a.canonical)));
      }),
      { numRuns: 500 },
    );
    expect(() => nativeChainHash(new Uint8Array(31), new Uint8Array(1))).toThrow(/prev_hash/);
  });
});
