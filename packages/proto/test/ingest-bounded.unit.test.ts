/**
 * decodeIngestBatch with `maxEvents` decodes exactly what the generated
 * IngestBatch.decode decodes (its own loop, with a bound), on messages built
 * from every kind of field the decoder meets: events (well formed, empty, or
 * malformed bytes that make IngestEvent.decode read past their length),
 * field 0 of each wire type, unknown fields, nested groups, and the tags that
 * end a message. Past the bound it stops with TOO_MANY_EVENTS, decoding at
 * most one event more (the sequencer's cap, services/sequencer admission.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeIngestBatch, encodeIngestBatch, IngestDecodeError } from '@hwledger/proto';

const varint = (v: number): number[] => {
  const out: number[] = [];
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
};

const oneEvent = { kind: 'job_failed' as const, source: 'eu/n', eventId: 'e', observedAtMs: 1n, tenant: 't', instanceId: 'i', data: { job_id: 'j', error_message: 'x' } };
// The event's own bytes: a one-event batch is 08 01 12 <len> <event> (len < 128 here).
const validEvent = ((b: Uint8Array): number[] => {
  expect([b[0], b[1], b[2]]).toEqual([0x08, 0x01, 0x12]);
  return Array.from(b.subarray(4, 4 + b[3]!));
})(encodeIngestBatch([oneEvent]));

const field: fc.Memo<number[]> = fc.memo(
  (depth): fc.Arbitrary<number[]> =>
  fc.oneof<fc.Arbitrary<number[]>[]>(
    fc.constant([0x12, 0x00]), // an empty event
    fc.constant([0x12, validEvent.length, ...validEvent]),
    fc.uint8Array({ maxLength: 6 }).map((b) => [0x12, b.length, ...b]), // an event of arbitrary bytes
    fc.integer({ min: 0, max: 9 }).chain((f) => fc.uint8Array({ maxLength: 12 }).map((b) => [...varint((f << 3) | 2), b.length, ...b])),
    fc.integer({ min: 0, max: 9 }).map((f) => [...varint((f << 3) | 1), 1, 2, 3, 4, 5, 6, 7, 8]),
    fc.integer({ min: 0, max: 9 }).map((f) => [...varint((f << 3) | 5), 1, 2, 3, 4]),
    fc.tuple(fc.integer({ min: 3, max: 9 }), fc.nat()).map(([f, v]) => [...varint(f << 3), ...varint(v)]),
    fc.constantFrom([0x00], [0x0c], [0x24], [0x0f]), // a zero tag, end-groups, a wire type 7
    depth > 1
      ? fc.tuple(fc.integer({ min: 0, max: 9 }), fc.array(field(depth - 1), { maxLength: 4 })).map(([f, inner]) => [...varint((f << 3) | 3), ...inner.flat(), ...varint((f << 3) | 4)])
      : fc.constant([0x12, 0x00]),
  ),
);

type Outcome = { events: number } | { threw: string };
/** decodeIngestBatch's outcome: without maxEvents it runs the generated IngestBatch.decode (with its strict UTF-8 reader). */
function outcome(body: Uint8Array, maxEvents?: number): Outcome {
  try {
    return { events: decodeIngestBatch(body, maxEvents === undefined ? {} : { maxEvents }).events.length };
  } catch (e) {
    if (e instanceof IngestDecodeError) return { threw: e.code };
    throw e;
  }
}

describe('decodeIngestBatch({ maxEvents })', () => {
  it('decodes what IngestBatch.decode decodes, and refuses more than maxEvents', () => {
    fc.assert(
      fc.property(fc.array(field(3), { maxLength: 25 }), fc.integer({ min: 0, max: 12 }), (fields, max) => {
        const body = Uint8Array.from([0x08, 0x01, ...fields.flat()]);
        const want = outcome(body); // the generated decoder, no bound
        // Without a reachable bound: exactly its outcome, events and errors alike.
        expect(outcome(body, 1_000_000)).toEqual(want);
        // With one: the same while the message holds at most max events; past it,
        // TOO_MANY_EVENTS (also where the generated decoder would have failed further on).
        const got = outcome(body, max);
        if ('events' in want && want.events <= max) expect(got).toEqual(want);
        else if ('events' in want) expect(got).toEqual({ threw: 'TOO_MANY_EVENTS' });
        else expect([{ threw: 'TOO_MANY_EVENTS' }, want]).toContainEqual(got);
      }),
      { numRuns: 4_000 },
    );
  });

  it('gives the same events as without a bound, under it', () => {
    const events = Array.from({ length: 5 }, (_, i) => ({ ...oneEvent, eventId: `e-${i}`, instanceId: `i-${i}` }));
    const body = encodeIngestBatch(events);
    expect(decodeIngestBatch(body, { maxEvents: 5 })).toEqual(decodeIngestBatch(body));
    expect(() => decodeIngestBatch(body, { maxEvents: 4 })).toThrow(/ingest message of more than 4 events/);
  });
});
