/**
 * The TOO_MANY_EVENTS cap counts what the decoder decodes. Found in a review:
 * two encodings the reference decoder accepts made the pre-count
 * (countBatchEvents) miss events, so a message of more than
 * MAX_EVENTS_PER_MESSAGE events was admitted event by event (each sealed or
 * dead-lettered on its own), the fan-out the cap exists to stop. Now the
 * pre-count walks the bytes as the decoder does, and the decoded count is
 * checked too.
 */
import { describe, expect, it } from 'vitest';
import { decodeIngestBatch, pb } from '@hwledger/proto';
import { admitIngestMessage, MAX_EVENTS_PER_MESSAGE } from '@hwledger/sequencer';

const N = MAX_EVENTS_PER_MESSAGE + 1;

describe('TOO_MANY_EVENTS cap', () => {
  it('a trailing end-group tag (which the decoder stops at) does not switch the cap off', () => {
    // version 1, N empty events, then 0x0c: field 1 wire type 4 (END_GROUP).
    const body = new Uint8Array(2 + 2 * N + 1);
    body.set([0x08, 0x01]);
    for (let i = 0; i < N; i++) body.set([0x12, 0x00], 2 + 2 * i);
    body[body.length - 1] = 0x0c;
    expect(decodeIngestBatch(body).events.length).toBe(N); // the decoder accepts all N
    const a = admitIngestMessage(body);
    expect(a.ok ? `admitted ${a.events.length} events` : a.rejection.code).toBe('TOO_MANY_EVENTS');
  });

  it('an events tag written as a 5-byte varint (the decoder keeps its low 32 bits) is still capped', () => {
    // 0x92 0x80 0x80 0x80 0x10 = 18 + 2^32: uint32() reads it as tag 18 (field 2, LEN).
    const ev = pb.IngestEvent.encode({ source: 's/n', eventId: 'e', observedAtMs: 1n, tenant: '', instanceId: 'i', data: undefined }).finish();
    const one = [0x92, 0x80, 0x80, 0x80, 0x10, ev.length, ...ev];
    const body = new Uint8Array(2 + one.length * N);
    body.set([0x08, 0x01]);
    for (let i = 0; i < N; i++) body.set(one, 2 + one.length * i);
    expect(body.length).toBeLessThan(1024 * 1024);
    expect(decodeIngestBatch(body).events.length).toBe(N);
    const a = admitIngestMessage(body);
    expect(a.ok ? `admitted ${a.events.length} events` : a.rejection.code).toBe('TOO_MANY_EVENTS');
  });
});
