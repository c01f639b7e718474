/** Small building blocks of the sequencer: recent-id set, watermark, msg ids, raw headers, serial runner. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { headers } from '@nats-io/transport-node';
import { b64Length, BatchKeys, CHAIN_MSG_ID_LENGTH, chainMsgId, encodeRecordHeaders, eventKeyOfMsgId, isCovered, putBase64Url, RawHeaders, RecentIds, SerialRunner, Slab, streamSeqOfReply, WATERMARK_ORIGIN, watermarkFromHeaders } from '@hwledger/sequencer';
import { sha256, toHex } from '@hwledger/chain';
import { recordMsgId } from '@hwledger/core';

describe('RecentIds', () => {
  it('remembers the last `capacity` ids and forgets the oldest', () => {
    const r = new RecentIds(3);
    for (const id of ['a', 'b', 'c']) r.add(id);
    expect(['a', 'b', 'c'].map((x) => r.has(x))).toEqual([true, true, true]);
    r.add('d');
    expect(r.has('a')).toBe(false);
    expect(r.has('d')).toBe(true);
    r.add('d'); // re-adding does not evict
    expect(r.has('b')).toBe(true);
    expect(r.size).toBe(3);
  });

  it('stays bounded however many ids pass through', () => {
    const r = new RecentIds(1000);
    for (let i = 0; i < 100_000; i++) r.add(`id-${i}`);
    expect(r.size).toBe(1000);
    expect(r.has('id-99999')).toBe(true);
    expect(r.has('id-98999')).toBe(false);
  });
});

describe('RecentIds under keys aimed at one slot', () => {
  it('keeps probes short when keys share the low bits of their first four bytes', () => {
    // A hostile producer can grind (source, event_id) for digests whose first
    // bytes agree in chosen bits; here the keys are written directly. With
    // the digest's low bits as the slot, these 5,000 keys would all share
    // one home and form a probe run of 5,000 entries.
    const r = new RecentIds(10_000); // a table of 32,768 slots
    for (let i = 0; i < 5_000; i++) {
      const key = new Uint8Array(24);
      key[0] = i >> 8; // the first byte and the high bits vary...
      key[1] = i & 0xff;
      key[2] = 0xab; // ...the low 16 bits are the same for every key
      key[3] = 0xcd;
      key[4] = i & 7;
      r.addBinary(String.fromCharCode(...key));
    }
    expect(r.size).toBe(5_000);
    expect(r.maxProbeDistance()).toBeLessThan(64);
  });
});

describe('RecentIds against a reference model', () => {
  it('behaves like "the last N distinct ids" for random operations, collisions included', () => {
    // Keys sharing their first bytes land in the same probe run: exercises
    // backward-shift deletion. They differ within their first 16 bytes (the
    // part compared), and are given whole (48 digits) or as those 16 bytes
    // (32 digits, as from a record's Nats-Msg-Id): the same key either way.
    const keyArb = fc
      .tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 40 }), fc.boolean())
      .map(([a, b, whole]) => `${'0'.repeat(6)}${a}${'f'.repeat(9)}${b.toString(16).padStart(16, '0')}${whole ? '5a'.repeat(8) : ''}`);
    const canon = (k: string): string => (/^[0-9a-f]{48}$/.test(k) ? k.slice(0, 32) : k);
    const opArb = fc.oneof(keyArb, fc.string({ maxLength: 8 }));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.array(fc.tuple(fc.boolean(), opArb), { maxLength: 300 }), (cap, ops) => {
        const r = new RecentIds(cap);
        const order: string[] = [];
        for (const [isAdd, k] of ops) {
          if (isAdd) {
            if (!order.includes(canon(k))) {
              order.push(canon(k));
              if (order.length > cap) order.shift();
            }
            r.add(k);
          } else {
            expect(r.has(k)).toBe(order.includes(canon(k)));
          }
        }
        for (const k of order) expect(r.has(k)).toBe(true);
        expect(r.size).toBe(order.length);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('BatchKeys (repeats within one ingest message)', () => {
  it('answers like a fresh Set per message, across growth, shrinking and short or colliding keys', () => {
    // Keys: 24-char binary keys, short strings, and keys equal in their first
    // eight characters (the part the slot is computed from: they all collide).
    const keyArb = fc.oneof(
      fc.uint8Array({ minLength: 24, maxLength: 24 }).map((b) => String.fromCharCode(...b)),
      fc.string({ maxLength: 3 }),
      fc.integer({ min: 0, max: 50 }).map((i) => `samefirst8-${i}`),
    );
    // Messages of repeated picks from a small pool (so repeats happen), some large.
    const messageArb = fc.array(keyArb, { minLength: 1, maxLength: 40 }).chain((pool) =>
      fc.array(fc.integer({ min: 0, max: pool.length - 1 }), { minLength: 1, maxLength: 700 }).map((picks) => picks.map((i) => pool[i]!)),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(messageArb, fc.boolean()), { minLength: 1, maxLength: 8 }), (messages) => {
        const t = new BatchKeys();
        for (const [keys, undersized] of messages) {
          // Sometimes told too small a count: the table grows during the message.
          t.reset(undersized ? keys.length >> 3 : keys.length);
          const model = new Set<string>();
          for (const k of keys) {
            const fresh = !model.has(k);
            model.add(k);
            expect(t.add(k)).toBe(fresh);
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('spreads keys that were ground to share one slot under a known seed', () => {
    // A producer who knew the slot function could grind digests for one slot.
    // Find 100 keys that share a slot for seed 0 (a table of 256 slots)...
    const known = new BatchKeys(0);
    known.reset(100);
    const slotOf = (k: string): number => (known as unknown as { slotOf(k: string): number }).slotOf(k);
    const ground: string[] = [];
    let target: number | undefined;
    for (let n = 0; ground.length < 100; n++) {
      const key = String.fromCharCode(...new Uint8Array(new Uint32Array([n, Math.imul(n, 2654435761), 7, 9, 11, 13]).buffer));
      const slot = slotOf(key);
      target ??= slot;
      if (slot === target) ground.push(key);
    }
    for (const k of ground) known.add(k);
    expect(known.maxProbeDistance()).toBe(99); // one probe run: every lookup walks it
    // ...which the random seed of a real instance spreads out.
    const t = new BatchKeys();
    t.reset(100);
    for (const k of ground) expect(t.add(k)).toBe(true);
    expect(t.maxProbeDistance()).toBeLessThan(40);
  });

  it('grows when given more keys than reset() was told, and works before any reset()', () => {
    const t = new BatchKeys();
    for (let i = 0; i < 1_000; i++) expect(t.add(`a${i}`)).toBe(true);
    for (let i = 0; i < 1_000; i++) expect(t.add(`a${i}`)).toBe(false);
    t.reset(1);
    for (let i = 0; i < 3_000; i++) expect(t.add(`b${i}`)).toBe(true);
    expect(t.add('a0')).toBe(true);
    expect(t.add('b2999')).toBe(false);
  });

  it('forgets the previous message at reset, also after many messages', () => {
    const t = new BatchKeys();
    for (let m = 0; m < 5_000; m++) {
      t.reset(2);
      expect(t.add('a')).toBe(true);
      expect(t.add('b')).toBe(true);
      expect(t.add('a')).toBe(false);
    }
    // After a large message, a small one sees none of its keys.
    t.reset(10_000);
    for (let i = 0; i < 10_000; i++) expect(t.add(`k${i}`)).toBe(true);
    t.reset(3);
    for (let i = 0; i < 3; i++) expect(t.add(`k${i}`)).toBe(true);
  });
});

describe('watermark', () => {
  it('covers events at or before (ingestSeq, index)', () => {
    const w = { ingestSeq: 10, index: 2 };
    expect(isCovered(9, 99, w)).toBe(true);
    expect(isCovered(10, 2, w)).toBe(true);
    expect(isCovered(10, 3, w)).toBe(false);
    expect(isCovered(11, 0, w)).toBe(false);
    expect(isCovered(1, 0, WATERMARK_ORIGIN)).toBe(false);
  });

  it('reads Hwl-Ingest, and only well-formed', () => {
    const read = (v: string): unknown => {
      const h = headers();
      h.set('Hwl-Ingest', v);
      return watermarkFromHeaders(h);
    };
    expect(read('12.0.100')).toEqual({ ingestSeq: 12, index: 0 });
    expect(read('9007199254740991.65535.65536')).toEqual({ ingestSeq: Number.MAX_SAFE_INTEGER, index: 65_535 });
    for (const bad of ['12.0', '12.0.1.2', '0.0.1', '-1.0.1', '12.-1.1', '012.0.1', '12.0.', '1e3.0.1', '12..1', '9007199254740992.0.1', '']) expect(read(bad)).toBeUndefined();
    // A malformed Hwl-Ingest is not read through the older headers beside it.
    const h = headers();
    h.set('Hwl-Ingest', 'x');
    h.set('Hwl-Ingest-Seq', '12');
    h.set('Hwl-Ingest-Index', '0');
    expect(watermarkFromHeaders(h)).toBeUndefined();
  });

  it('reads the older headers of records sealed by earlier versions, and only well-formed', () => {
    const h = headers();
    h.set('Hwl-Ingest-Seq', '12');
    h.set('Hwl-Ingest-Index', '0');
    expect(watermarkFromHeaders(h)).toEqual({ ingestSeq: 12, index: 0 });
    h.set('Hwl-Ingest-Seq', '-1');
    expect(watermarkFromHeaders(h)).toBeUndefined();
    expect(watermarkFromHeaders(undefined)).toBeUndefined();
  });
});

describe('chain record msg ids', () => {
  it('are 16 bytes of the event key and 8 of current_hash in base64url (32 characters), and give those 16 bytes back', () => {
    const key = recordMsgId('eu-west-1/node-1', 'ev-1');
    const id = chainMsgId(key, 'ab'.repeat(32));
    // Written out by hand from RFC 4648 §5, and cross-checked against node:buffer's encoder.
    expect(id).toBe('GSg6h2tLI0AJTQN8OvitL6urq6urq6ur');
    expect(id).toBe(Buffer.from(key.slice(0, 32) + 'ab'.repeat(8), 'hex').toString('base64url'));
    expect(id).toHaveLength(CHAIN_MSG_ID_LENGTH);
    expect(CHAIN_MSG_ID_LENGTH).toBe(32);
    expect(eventKeyOfMsgId(id)).toBe(key.slice(0, 32));
    const ids = new RecentIds(4);
    ids.add(eventKeyOfMsgId(id));
    expect(ids.has(key)).toBe(true);
    expect(ids.hasBinary(Buffer.from(key, 'hex').toString('latin1'))).toBe(true);
    expect(ids.has(recordMsgId('eu-west-1/node-1', 'ev-2'))).toBe(false);
  });

  it('give the whole key back from the base64url form of 2026-12-07 (55 characters)', () => {
    const key = recordMsgId('eu-west-1/node-1', 'ev-1');
    const id = `${Buffer.from(key, 'hex').toString('base64url')}.${Buffer.from('ab'.repeat(16), 'hex').toString('base64url')}`;
    expect(id).toBe('GSg6h2tLI0AJTQN8OvitL9wZ2Jo4W-Kr.q6urq6urq6urq6urq6urqw');
    expect(eventKeyOfMsgId(id)).toBe(key);
  });

  it('give the key back from ids in the hex form of records sealed before 2026-12-07, and from a bare key', () => {
    const key = recordMsgId('eu-west-1/node-1', 'ev-1');
    expect(eventKeyOfMsgId(`${key}.${'ab'.repeat(16)}`)).toBe(key);
    expect(eventKeyOfMsgId(key)).toBe(key);
    // Anything else comes back as it is (its part before the dot): it matches no event key.
    expect(eventKeyOfMsgId('not-a-key.x')).toBe('not-a-key');
  });

  it('putBase64Url writes exactly what node:buffer writes, for every length and byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const out = new Uint8Array(b64Length(bytes.length));
        expect(putBase64Url(out, 0, bytes, bytes.length)).toBe(out.length);
        expect(Buffer.from(out).toString('latin1')).toBe(Buffer.from(bytes).toString('base64url'));
      }),
      { numRuns: 2_000 },
    );
  });

  it('refuse an event key that is not 48 lowercase hex digits', () => {
    expect(() => chainMsgId('ABC', 'ab'.repeat(32))).toThrow(RangeError);
    expect(() => chainMsgId('0'.repeat(48), 'xyz')).toThrow(RangeError);
  });
});

describe('RawHeaders', () => {
  it('encodes exactly what nats.js MsgHdrs encodes', () => {
    const pairs: [string, string][] = [
      ['Nats-Msg-Id', 'abc.def'],
      ['Nats-Expected-Last-Sequence', '41'],
      ['Hwl-Hash', 'ff'.repeat(32)],
    ];
    const h = headers();
    for (const [k, v] of pairs) h.set(k, v);
    const ours = new RawHeaders(pairs);
    expect(Buffer.from(ours.encode()).toString('latin1')).toBe(Buffer.from((h as unknown as { encode(): Uint8Array }).encode()).toString('latin1'));
    expect(ours.get('Nats-Expected-Last-Sequence')).toBe('41');
    expect(() => RawHeaders.checked([['Bad', 'x\r\nInjected: 1']])).toThrow();
  });

  it('encodes the same bytes into a slab, each block a view of its own', () => {
    const slab = new Slab();
    const blocks = Array.from({ length: 3000 }, (_, i) => new RawHeaders([['Nats-Expected-Last-Sequence', String(i)], ['Nats-Msg-Id', `id-${i}`]], slab).encode());
    blocks.forEach((b, i) => expect(Buffer.from(b).toString('latin1')).toBe(new RawHeaders([['Nats-Expected-Last-Sequence', String(i)], ['Nats-Msg-Id', `id-${i}`]]).toString()));
    expect(new Set(blocks.map((b) => b.buffer)).size).toBeGreaterThan(1); // chunks roll over
  });
});

describe('SerialRunner', () => {
  it('runs items in order, inline while the handler is synchronous, queued while it waits', async () => {
    const seen: number[] = [];
    let release: () => void = () => undefined;
    const r = new SerialRunner<number>(
      (n) => {
        seen.push(n);
        if (n === 2) return new Promise<void>((res) => (release = res));
      },
      () => undefined,
    );
    r.push(1);
    r.push(2);
    expect(seen).toEqual([1, 2]); // inline
    r.push(3);
    r.push(4);
    expect(seen).toEqual([1, 2]); // waiting on 2
    expect(r.backlog).toBe(3);
    release();
    await r.idle();
    expect(seen).toEqual([1, 2, 3, 4]);
  });

  it('reports handler errors and keeps going', async () => {
    const errors: unknown[] = [];
    const seen: number[] = [];
    const r = new SerialRunner<number>(
      (n) => {
        if (n === 1) throw new Error('boom');
        if (n === 2) return Promise.reject(new Error('later'));
        seen.push(n);
      },
      (e) => errors.push(e),
    );
    r.push(1);
    r.push(2);
    r.push(3);
    await r.idle();
    expect(seen).toEqual([3]);
    expect(errors).toHaveLength(2);
  });
});

describe('encodeRecordHeaders', () => {
  it('writes the same header block as nats.js would for the record headers', () => {
    const key = recordMsgId('eu-west-1/node-1', 'ev-1');
    const hash = sha256(new Uint8Array([1]));
    const prevHash = sha256(new Uint8Array([2]));
    const stream = new TextEncoder().encode('HWL_CHAIN_eu-west-1');
    const first = encodeRecordHeaders({ stream, key, hash, prevHash, sequence: 42n, ingestSeq: 7, index: 3, count: 10, expectedLastMsgId: undefined });
    const msgId = chainMsgId(key, toHex(hash));
    expect(Buffer.from(first.msgId).toString('latin1')).toBe(msgId);
    const h = headers();
    h.set('Nats-Msg-Id', msgId);
    h.set('Nats-Expected-Stream', 'HWL_CHAIN_eu-west-1');
    h.set('Nats-Expected-Last-Sequence', '41');
    h.set('Hwl-Prev-Hash', toHex(prevHash));
    h.set('Hwl-Hash', toHex(hash));
    h.set('Hwl-Ingest', '7.3.10');
    const latin1 = (b: Uint8Array): string => Buffer.from(b).toString('latin1');
    expect(latin1(first.headers.encode())).toBe(latin1((h as unknown as { encode(): Uint8Array }).encode()));
    const next = encodeRecordHeaders({ stream, key, hash: prevHash, prevHash: hash, sequence: 43n, ingestSeq: 7, index: 4, count: 10, expectedLastMsgId: first.msgId });
    expect(latin1(next.headers.encode())).toContain(`\r\nNats-Expected-Last-Msg-Id: ${msgId}\r\n\r\n`);
  });

  it('writes decimals of every size exactly (u64 sequences past 2^53 included)', () => {
    const key = recordMsgId('s', 'e');
    const stream = new TextEncoder().encode('HWL_CHAIN_c');
    const hash = sha256(new Uint8Array([3]));
    const cases: [bigint, number, number, number][] = [
      [1n, 0, 0, 1],
      [10n, 9, 99, 100],
      [1_000_001n, 1_234_567_890_123, 65_535, 65_536],
      [2n ** 53n + 5n, Number.MAX_SAFE_INTEGER, 1, 2],
      [2n ** 64n - 1n, 1, 0, 1],
    ];
    for (const [sequence, ingestSeq, index, count] of cases) {
      const text = Buffer.from(encodeRecordHeaders({ stream, key, hash, prevHash: hash, sequence, ingestSeq, index, count, expectedLastMsgId: undefined }).headers.encode()).toString('latin1');
      expect(text).toContain(`\r\nNats-Expected-Last-Sequence: ${sequence - 1n}\r\n`);
      expect(text).toContain(`\r\nHwl-Ingest: ${ingestSeq}.${index}.${count}\r\n\r\n`);
    }
    // Written into a slab: the same bytes, the msg id a view of the same block.
    const slab = new Slab();
    let prev: Uint8Array | undefined;
    for (let i = 0; i < 500; i++) {
      const f = { stream, key, hash, prevHash: hash, sequence: BigInt(i + 1), ingestSeq: i, index: 0, count: 1, expectedLastMsgId: prev };
      const a = encodeRecordHeaders(f, slab);
      const b = encodeRecordHeaders({ ...f, expectedLastMsgId: prev && prev.slice() });
      expect(Buffer.from(a.headers.encode()).toString('latin1')).toBe(Buffer.from(b.headers.encode()).toString('latin1'));
      expect(Buffer.from(a.msgId).toString('latin1')).toBe(chainMsgId(key, toHex(hash)));
      prev = a.msgId;
    }
  });
});

describe('streamSeqOfReply', () => {
  // nats.js's own reading of a JetStream reply subject (jsmsg.js parseInfo), as the reference.
  const reference = (reply: string): number => {
    const t = reply.split('.');
    if (t.length === 9) t.splice(2, 0, '_', '');
    return parseInt(t[7]!, 10);
  };
  it('reads the stream sequence of both reply subject forms as nats.js does', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/),
        fc.stringMatching(/^[A-Za-z0-9_-]{1,30}$/),
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 1, max: 2 ** 40 }),
        fc.boolean(),
        (stream, consumer, delivered, sseq, dseq, v2) => {
          const tail = `${delivered}.${sseq}.${dseq}.1763830000000000000.17`;
          const reply = v2 ? `$JS.ACK._.ACCHASH.${stream}.${consumer}.${tail}.rAnd0m` : `$JS.ACK.${stream}.${consumer}.${tail}`;
          expect(streamSeqOfReply(reply)).toBe(reference(reply));
          expect(streamSeqOfReply(reply)).toBe(sseq);
        },
      ),
    );
  });
  it('declines anything else (the caller then asks nats.js)', () => {
    for (const r of ['', '_INBOX.abc', '$JS.ACK.s.c.1.x.3.4.5', '$JS.ACK.s.c.1.2', '$JS.API.s.c.1.2.3.4.5', '$JS.ACK.s.c.1..3.4.5', '$JS.ACK.s.c.1.2.3.4.5.6', `$JS.ACK.s.c.1.${'9'.repeat(17)}.3.4.5`, '$JS.ACK.s.c.1.9007199254740993.3.4.5']) expect(streamSeqOfReply(r)).toBeUndefined();
  });
});

describe('binary event keys (the fast path)', () => {
  it('RecentIds finds a key whether given as 48 hex digits or as its 24 bytes', () => {
    const ids = new RecentIds(100);
    const keys = Array.from({ length: 150 }, (_, i) => recordMsgId('src', `e-${i}`));
    const bin = (hex: string): string => Buffer.from(hex, 'hex').toString('latin1');
    keys.forEach((k, i) => (i % 2 ? ids.add(k) : ids.addBinary(bin(k))));
    // The last 100 are remembered (either form finds them), the first 50 evicted.
    keys.forEach((k, i) => {
      expect(ids.has(k)).toBe(i >= 50);
      expect(ids.hasBinary(bin(k))).toBe(i >= 50);
    });
    expect(ids.size).toBe(100);
    expect(() => ids.hasBinary('short')).toThrow(RangeError);
  });

  it('addBinaryAbsent (no second probe) behaves as addBinary for absent keys; a present key only wastes a slot', () => {
    const bin = (i: number): string => Buffer.from(recordMsgId('src', `e-${i}`), 'hex').toString('latin1');
    const a = new RecentIds(64);
    const b = new RecentIds(64);
    for (let i = 0; i < 500; i++) {
      expect(a.hasBinary(bin(i))).toBe(false);
      a.addBinaryAbsent(bin(i));
      b.addBinary(bin(i));
      for (const j of [i, i - 63, i - 64, i - 200]) if (j >= 0) expect(a.hasBinary(bin(j))).toBe(b.hasBinary(bin(j)));
    }
    expect(a.size).toBe(64);
    // The same key twice takes two slots; it stays findable until both are evicted, and nothing else breaks.
    const c = new RecentIds(4);
    c.addBinaryAbsent(bin(1));
    c.addBinaryAbsent(bin(1));
    c.addBinaryAbsent(bin(2));
    c.addBinaryAbsent(bin(3));
    expect([1, 2, 3].map((i) => c.hasBinary(bin(i)))).toEqual([true, true, true]);
    c.addBinaryAbsent(bin(4)); // evicts the first copy of 1
    expect(c.hasBinary(bin(1))).toBe(true);
    c.addBinaryAbsent(bin(5)); // evicts the second
    expect([1, 2, 3, 4, 5].map((i) => c.hasBinary(bin(i)))).toEqual([false, true, true, true, true]);
  });

  it('encodeRecordHeaders writes a key given as its 24 bytes as it writes the same key given as 48 hex digits', () => {
    const key = recordMsgId('eu-west-1/node-1', 'ev-9');
    const hash = sha256(new Uint8Array([9]));
    const f = { stream: new TextEncoder().encode('HWL_CHAIN_c'), hash, prevHash: hash, sequence: 5n, ingestSeq: 3, index: 0, count: 1, expectedLastMsgId: undefined };
    const a = encodeRecordHeaders({ ...f, key });
    const b = encodeRecordHeaders({ ...f, key: Buffer.from(key, 'hex').toString('latin1'), keyIsBinary: true });
    expect(Buffer.from(b.headers.encode()).toString('latin1')).toBe(Buffer.from(a.headers.encode()).toString('latin1'));
    expect(Buffer.from(b.msgId).toString('latin1')).toBe(chainMsgId(key, toHex(hash)));
  });
});
