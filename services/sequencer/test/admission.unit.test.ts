/** Admission of untrusted ingest messages: every bad input maps to a stable reject code, never an exception. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeIngestBatch, eventToProto, pb, decodeIngestBatch } from '@hwledger/proto';
import { admitIngestMessage, MAX_EVENTS_PER_MESSAGE, singleEventBatch, splitBatchEvents } from '@hwledger/sequencer';
import { makeEvent } from './helpers.js';

const codeOf = (body: Uint8Array, maxBytes?: number): string => {
  const a = admitIngestMessage(body, maxBytes === undefined ? {} : { maxBytes });
  return a.ok ? a.events.map((e) => (e.ok ? 'OK' : e.rejection.code)).join(',') : a.rejection.code;
};

describe('admitIngestMessage', () => {
  it('accepts valid batches event by event', () => {
    expect(codeOf(encodeIngestBatch([makeEvent(1), makeEvent(2), makeEvent(5)]))).toBe('OK,OK,OK');
  });

  it('rejects whole messages with stable codes', () => {
    expect(codeOf(new Uint8Array([0x0f, 1, 2, 3]))).toBe('MALFORMED_PROTOBUF');
    expect(codeOf(pb.IngestBatch.encode({ version: 1, events: [] }).finish())).toBe('EMPTY_BATCH');
    expect(codeOf(new Uint8Array(0))).toBe('UNSUPPORTED_ENVELOPE');
    expect(codeOf(pb.IngestBatch.encode({ version: 7, events: [eventToProto(makeEvent(1))] }).finish())).toBe('UNSUPPORTED_ENVELOPE');
    expect(codeOf(new Uint8Array(2000), 1000)).toBe('OVERSIZED');
    const good = encodeIngestBatch([makeEvent(1)]);
    expect(codeOf(good.subarray(0, good.length - 3))).toBe('MALFORMED_PROTOBUF');
    const bad = Buffer.from(good);
    const at = bad.indexOf(Buffer.from('test/node-1'));
    bad[at] = 0xff;
    expect(codeOf(bad)).toBe('INVALID_UTF8');
  });

  it('rejects single events without taking their batch-mates down', () => {
    const p = eventToProto(makeEvent(5));
    if (p.data?.$case === 'inferenceRequestCompleted') p.data.value.reason = 42 as pb.CompletionReason; // not a defined reason: hostile input
    const noPayload = { ...eventToProto(makeEvent(1)), data: undefined };
    const badTenant = eventToProto({ ...makeEvent(1), tenant: 'has space' });
    const body = pb.IngestBatch.encode({ version: 1, events: [eventToProto(makeEvent(1)), p, noPayload, badTenant, eventToProto(makeEvent(2))] }).finish();
    expect(codeOf(body)).toBe('OK,UNKNOWN_REASON,MISSING_PAYLOAD,INVALID_FIELD,OK');
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        expect(() => admitIngestMessage(b)).not.toThrow();
      }),
      { numRuns: 3000 },
    );
    for (let i = 0; i < 200; i++) expect(() => admitIngestMessage(randomBytes(1 + i * 13))).not.toThrow();
  });
});

describe('dead-letter bodies of single events', () => {
  it('splits a batch into the raw bytes of each event and re-wraps one as a valid one-event batch', () => {
    const events = [makeEvent(1), makeEvent(2), makeEvent(3)];
    const body = encodeIngestBatch(events);
    const parts = splitBatchEvents(body);
    expect(parts).toHaveLength(3);
    const one = decodeIngestBatch(singleEventBatch(parts[1]!));
    expect(one.events).toHaveLength(1);
    expect(one.events[0]).toMatchObject({ ok: true, event: { eventId: events[1]!.eventId } });
  });

  it('encodes long event bodies with a multi-byte length', () => {
    const e = { ...makeEvent(4), data: { job_id: 'j', error_message: 'x'.repeat(3000) } } as ReturnType<typeof makeEvent>;
    const parts = splitBatchEvents(encodeIngestBatch([e]));
    const back = decodeIngestBatch(singleEventBatch(parts[0]!));
    expect(back.events[0]).toMatchObject({ ok: true });
  });
});

describe('the event cap (TOO_MANY_EVENTS)', () => {
  it('refuses a message of more events than MAX_EVENTS_PER_MESSAGE as one rejection', () => {
    const n = MAX_EVENTS_PER_MESSAGE + 1;
    const body = new Uint8Array(2 + 2 * n);
    body.set([0x08, 0x01]);
    for (let i = 0; i < n; i++) body.set([0x12, 0x00], 2 + 2 * i);
    const a = admitIngestMessage(body);
    expect(a.ok).toBe(false);
    if (!a.ok) expect(a.rejection.code).toBe('TOO_MANY_EVENTS');
    // At the limit it is decoded event by event as before.
    const atLimit = body.subarray(0, body.length - 2);
    const b = admitIngestMessage(atLimit);
    expect(b.ok).toBe(true);
    if (b.ok) expect(b.events).toHaveLength(MAX_EVENTS_PER_MESSAGE);
  });
});
