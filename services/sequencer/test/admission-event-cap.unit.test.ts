/**
 * The TOO_MANY_EVENTS cap counts what the decoder decodes. Found in a review:
 * two encodings the reference decoder accepts made the pre-count
 * (countBatchEvents) miss events, so a message of more than
 * MAX_EVENTS_PER_MESSAGE events was admitted event by event (each sealed or
 * dead-lettered on its own), the fan-out the cap exists to stop. Now the
 * pre-count walks the bytes as the decoder does, and the decoded count is
 * checked too. A later review found two more (a field 0 of another wire
 * type, and a group, before the events: the decoder skips both, the
 * pre-count stopped or gave up): the message was then decoded whole before
 * the cap refused it, about 100 times the CPU. A walk of the bytes cannot
 * match the decoder on malformed events, so there is no pre-count any more:
 * the decoder itself stops one event past the cap (decodeIngestBatch's
 * maxEvents; packages/proto/test/ingest-bounded.unit.test.ts shows it
 * decodes what IngestBatch.decode decodes).
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

  it('a field 0 of another wire type, or a group, before the events changes nothing', () => {
    const events = Array.from({ length: N }, () => [0x12, 0x00]).flat();
    for (const prefix of [
      [0x02, 0x00], // field 0, LEN, empty
      [0x01, 1, 2, 3, 4, 5, 6, 7, 8], // field 0, I64
      [0x05, 1, 2, 3, 4], // field 0, I32
      [0x0b, 0x0c], // field 1, an empty group
      [0x1b, 0x08, 0x07, 0x23, 0x24, 0x1c], // field 3, a group holding a varint and an empty group of field 4
    ]) {
      const body = Uint8Array.from([0x08, 0x01, ...prefix, ...events]);
      expect(pb.IngestBatch.decode(body).events.length, `prefix ${prefix.join(' ')}`).toBe(N);
      const a = admitIngestMessage(body);
      expect(a.ok ? `admitted ${a.events.length} events` : a.rejection.code, `prefix ${prefix.join(' ')}`).toBe('TOO_MANY_EVENTS');
    }
  });

  it('decodes at most one event past the cap: what follows is never read', () => {
    // N empty events, then bytes the decoder would fail on (a field of wire type 7): refused for its count, not as malformed.
    const body = Uint8Array.from([0x08, 0x01, ...Array.from({ length: N }, () => [0x12, 0x00]).flat(), 0x0f]);
    expect(() => pb.IngestBatch.decode(body)).toThrow();
    const a = admitIngestMessage(body);
    expect(a.ok ? `admitted ${a.events.length} events` : `${a.rejection.code}: ${a.rejection.reason}`).toBe(`TOO_MANY_EVENTS: ingest message of more than ${MAX_EVENTS_PER_MESSAGE} events`);
    // At the cap the same bytes are decoded to the end, and refused as malformed.
    const atCap = Uint8Array.from([0x08, 0x01, ...Array.from({ length: MAX_EVENTS_PER_MESSAGE }, () => [0x12, 0x00]).flat(), 0x0f]);
    const b = admitIngestMessage(atCap);
    expect(b.ok ? 'admitted' : b.rejection.code).toBe('MALFORMED_PROTOBUF');
  });
});
