/** Batches built by the agent are exactly the spec'd IngestBatch; message ids deterministic (keyed with the agent's secret). */
import { createHmac } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventToJson } from '@hwledger/chain';
import { recordMsgId } from '@hwledger/core';
import { decodeIngestBatch, encodeIngestBatch } from '@hwledger/proto';
import { createUlidFactory, IngestBatchBuilder, ingestMsgId, loadMsgIdKey, MSG_ID_KEY_FILE, simulateFleet } from '@hwledger/agent';

const events = [...simulateFleet({ source: 'c1/n1', seed: 7, startMs: 1_795_000_000_000, count: 3000 })];

describe('IngestBatchBuilder', () => {
  it('produces the bytes of encodeIngestBatch and decodes back to the same events', () => {
    const b = new IngestBatchBuilder();
    for (const e of events.slice(0, 500)) b.add(e, IngestBatchBuilder.encode(e));
    expect(b.size).toBe(encodeIngestBatch(events.slice(0, 500)).length);
    const sealed = b.seal();
    expect(sealed.body).toEqual(encodeIngestBatch(events.slice(0, 500)));
    const back = decodeIngestBatch(sealed.body).events.map((r) => (r.ok ? eventToJson(r.event) : r.message));
    expect(back).toEqual(events.slice(0, 500).map(eventToJson));
    expect(b.count).toBe(0);
  });

  it('never exceeds its byte bound', () => {
    const b = new IngestBatchBuilder(4096);
    const sizes: number[] = [];
    for (const e of events) {
      const enc = IngestBatchBuilder.encode(e);
      if (!b.fits(enc)) sizes.push(b.seal().body.length);
      b.add(e, enc);
    }
    sizes.push(b.seal().body.length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(4096);
    expect(sizes.length).toBeGreaterThan(10);
  });

  it('message id: one event = its record id (as hwledger emit), a batch = a digest of its ids, order-sensitive', () => {
    const [a, b2] = [events[0]!, events[1]!];
    expect(ingestMsgId([a])).toBe(recordMsgId(a.source, a.eventId));
    expect(ingestMsgId([a, b2])).toBe(ingestMsgId([{ source: a.source, eventId: a.eventId }, { source: b2.source, eventId: b2.eventId }]));
    expect(ingestMsgId([a, b2])).not.toBe(ingestMsgId([b2, a]));
    expect(ingestMsgId([a, b2])).toMatch(/^b-[0-9a-f]{48}$/);
  });

  it('message id with the agent\'s key: HMAC-SHA256 of the record ids (not computable without the key), stable per key, order-sensitive', () => {
    const [a, b2] = [events[0]!, events[1]!];
    const key = new Uint8Array(32).fill(7);
    const other = new Uint8Array(32).fill(8);
    const joined = `${recordMsgId(a.source, a.eventId)},${recordMsgId(b2.source, b2.eventId)}`;
    expect(ingestMsgId([a, b2], key)).toBe(`k-${createHmac('sha256', key).update(joined).digest('hex').slice(0, 48)}`);
    expect(ingestMsgId([a], key)).toBe(`k-${createHmac('sha256', key).update(recordMsgId(a.source, a.eventId)).digest('hex').slice(0, 48)}`);
    expect(ingestMsgId([a, b2], key)).toBe(ingestMsgId([a, b2], Uint8Array.from(key)));
    expect(ingestMsgId([a, b2], key)).not.toBe(ingestMsgId([a, b2], other));
    expect(ingestMsgId([a, b2], key)).not.toBe(ingestMsgId([b2, a], key));
    // Nothing computable from the events alone matches it.
    expect([ingestMsgId([a]), ingestMsgId([a, b2])]).not.toContain(ingestMsgId([a], key));
    const builder = new IngestBatchBuilder(undefined, key);
    for (const e of [a, b2]) builder.add(e, IngestBatchBuilder.encode(e));
    expect(builder.seal().msgId).toBe(ingestMsgId([a, b2], key));
  });
});

describe('the message-id key (msg-id.key beside the outbox)', () => {
  it('is made once (32 bytes, mode 0600), then read back; a file that is not a key is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hwl-msgkey-'));
    const fresh = mkdtempSync(join(tmpdir(), 'hwl-msgkey-'));
    try {
      const k1 = await loadMsgIdKey(dir);
      expect(k1).toHaveLength(32);
      expect(statSync(join(dir, MSG_ID_KEY_FILE)).mode & 0o777).toBe(0o600);
      expect(await loadMsgIdKey(dir)).toEqual(k1);
      expect(readdirSync(dir)).toEqual([MSG_ID_KEY_FILE]); // no temporary file left
      // A temporary file a crash left behind (same pid on the next start, as pid 1 in a container) does not block making the key.
      writeFileSync(join(fresh, `${MSG_ID_KEY_FILE}.${process.pid}.tmp`), 'torn');
      expect(await loadMsgIdKey(fresh)).toHaveLength(32);
      expect(readdirSync(fresh)).toEqual([MSG_ID_KEY_FILE]);
      expect(statSync(join(fresh, MSG_ID_KEY_FILE)).mode & 0o777).toBe(0o600);
      writeFileSync(join(dir, MSG_ID_KEY_FILE), 'short');
      await expect(loadMsgIdKey(dir)).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringContaining('not a 32-byte message-id key') as string });
    } finally {
      for (const d of [dir, fresh]) rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('ULID event ids', () => {
  it('are 26 chars, strictly increasing per generator even when the clock stands still or steps back', () => {
    const ids = createUlidFactory();
    const out: string[] = [];
    for (let i = 0; i < 5000; i++) out.push(ids.next(1_795_000_000_000 + (i % 7 === 0 ? -5 : Math.floor(i / 100))));
    expect(out.every((id) => /^[0-9A-HJKMNP-TV-Z]{26}$/.test(id))).toBe(true);
    for (let i = 1; i < out.length; i++) expect(out[i]! > out[i - 1]!).toBe(true);
  });
});
