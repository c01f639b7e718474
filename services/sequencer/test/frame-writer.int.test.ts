/**
 * FrameWriter (raw HPUB frames for appends) against a real nats-server: what
 * a subscriber receives is what nats.js's publish() would have delivered
 * (subject, reply, headers, payload), turns larger than a chunk arrive whole
 * and in order, and a message over max_payload or a subject that is not
 * printable ASCII is refused before a byte is written (the server would
 * otherwise close the connection). The exact bytes are checked against the
 * NATS protocol's HPUB grammar with a capturing queue.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { connectNats } from '@hwledger/core';
import { useNatsServer, waitFor } from '@hwledger/testkit';
import { FrameWriter, RawHeaders } from '@hwledger/sequencer';

const te = new TextEncoder();
const td = new TextDecoder();
const hdrBytes = (pairs: [string, string][]): Uint8Array => (new RawHeaders(pairs).asMsgHdrs() as unknown as { encode(): Uint8Array }).encode();

describe('FrameWriter: exact bytes', () => {
  function capturing(maxPayload = 1024): { w: FrameWriter; sent: Uint8Array[] } {
    const sent: Uint8Array[] = [];
    const fake = { protocol: { sendCommand: (b: Uint8Array) => void sent.push(b.slice()) }, info: { max_payload: maxPayload }, isClosed: () => false };
    const w = FrameWriter.for(fake as unknown as NatsConnection);
    if (!w) throw new Error('no writer');
    return { w, sent };
  }

  it('writes HPUB <subject> [reply] <hlen> <total> CRLF headers payload CRLF, one array per turn', async () => {
    const { w, sent } = capturing();
    const h = hdrBytes([['Nats-Expected-Last-Sequence', '41']]);
    w.write('hwl.chain.c1.job_completed._', undefined, h, te.encode('body-1'));
    w.write('hwl.chain.c1.job_completed.acme', '_INBOX.abc.7', h, te.encode(''));
    expect(sent).toHaveLength(0); // handed over at the end of the turn
    await Promise.resolve();
    expect(sent).toHaveLength(1);
    const hs = td.decode(h);
    expect(td.decode(sent[0])).toBe(
      `HPUB hwl.chain.c1.job_completed._ ${h.length} ${h.length + 6}\r\n${hs}body-1\r\n` +
        `HPUB hwl.chain.c1.job_completed.acme _INBOX.abc.7 ${h.length} ${h.length}\r\n${hs}\r\n`,
    );
  });

  it('refuses, writing nothing, a message over max_payload or a subject that is not printable ASCII', async () => {
    const { w, sent } = capturing(100);
    const h = hdrBytes([['A', 'b']]);
    expect(() => w.write('s.x', undefined, h, new Uint8Array(100))).toThrow(/max_payload/);
    expect(() => w.write('s.ü', undefined, h, new Uint8Array(1))).toThrow(/printable ASCII/);
    expect(() => w.write('s x', undefined, h, new Uint8Array(1))).toThrow(/printable ASCII/);
    expect(() => w.write('s.x', 'bad reply', h, new Uint8Array(1))).toThrow(/printable ASCII/);
    await Promise.resolve();
    expect(sent).toHaveLength(0);
  });

  it('refuses, as publish() does, once a drain has stopped publishing', async () => {
    const { w, sent } = capturing();
    (w as unknown as { queue: { noMorePublishing: boolean } }).queue.noMorePublishing = true;
    expect(() => w.write('s.x', undefined, hdrBytes([['A', 'b']]), new Uint8Array(1))).toThrow(/draining/i);
    await Promise.resolve();
    expect(sent).toHaveLength(0);
  });

  it('is not offered for a client without a protocol queue (the pipeline then uses publish())', () => {
    expect(FrameWriter.for({} as NatsConnection)).toBeUndefined();
    expect(FrameWriter.for({ protocol: {} } as unknown as NatsConnection)).toBeUndefined();
  });
});

describe('FrameWriter: chunk recycling', () => {
  /** A queue that keeps the handed-over views themselves (as a socket still holding them would) and a copy of each as it was handed over. */
  function holding(chunkBytes: number): { w: FrameWriter; views: Uint8Array[]; copies: Uint8Array[] } {
    const views: Uint8Array[] = [];
    const copies: Uint8Array[] = [];
    const fake = {
      protocol: {
        sendCommand: (b: Uint8Array) => {
          views.push(b);
          copies.push(b.slice());
        },
      },
      info: { max_payload: 1 << 20 },
      isClosed: () => false,
    };
    const w = FrameWriter.for(fake as unknown as NatsConnection, chunkBytes);
    if (!w) throw new Error('no writer');
    return { w, views, copies };
  }
  const h = hdrBytes([['Nats-Msg-Id', 'x']]);
  /** One frame per turn, each with its own bytes; returns the frame numbers. */
  async function writeFrames(w: FrameWriter, n: number, from: number): Promise<number[]> {
    const out: number[] = [];
    for (let i = from; i < from + n; i++) {
      out.push(w.write('rec.x', undefined, h, new Uint8Array(60).fill(i % 256)));
      await Promise.resolve();
    }
    return out;
  }
  const intact = (views: Uint8Array[], copies: Uint8Array[]): void => {
    for (let i = 0; i < views.length; i++) expect(Buffer.compare(views[i]!, copies[i]!), `hand-over ${i}`).toBe(0);
  };

  it('numbers frames 1, 2, 3, … and never rewrites a chunk the server has not been reported to hold', async () => {
    const { w, views, copies } = holding(256); // two frames a chunk
    expect(await writeFrames(w, 3, 0)).toEqual([1, 2, 3]);
    await writeFrames(w, 197, 3);
    intact(views, copies);
    // Without delivered() every chunk is fresh.
    expect(w.allocated).toBeGreaterThan(60);
  });

  it('reuses a chunk once delivered() covers its last frame, and not before', async () => {
    const { w, views, copies } = holding(256);
    const frames = await writeFrames(w, 40, 0);
    const before = w.allocated;
    const bufferOf = (i: number): ArrayBufferLike => views[i]!.buffer;
    // Hand-overs whose chunk holds frames after 20 must survive whatever comes next.
    w.delivered(frames[19]!);
    await writeFrames(w, 40, 40);
    intact(views.slice(20), copies.slice(20));
    // Some chunks came back (fewer new ones than the first 40 frames needed)…
    expect(w.allocated - before).toBeLessThan(before - 1);
    // …and every reused buffer held only frames up to 20.
    const reused = new Set(views.slice(40).map((v) => v.buffer));
    const early = new Set(views.slice(0, 20).map((_, i) => bufferOf(i)));
    const late = new Set(views.slice(20, 40).map((_, i) => bufferOf(20 + i)));
    const back = [...reused].filter((b) => early.has(b));
    expect(back.length).toBeGreaterThan(0);
    for (const b of back) expect(late.has(b), 'a chunk holding a frame after 20 was reused').toBe(false);
  });

  it('for every cut point f, exactly the chunks whose frames all lie at or before f come back', async () => {
    // Frames of 3 sizes, so chunks hold 1 to 4 frames and their last frames
    // fall everywhere: an off-by-one in either direction shows at some f.
    const sizeOf = (i: number): number => [20, 75, 130][i % 3]!;
    const N = 40;
    for (let f = 0; f <= N; f++) {
      const { w, views, copies } = holding(320);
      const bufOfFrame: ArrayBufferLike[] = [];
      for (let i = 0; i < N; i++) {
        w.write('rec.x', undefined, h, new Uint8Array(sizeOf(i)).fill(i + 1));
        await Promise.resolve(); // one frame per hand-over: views[i] is frame i + 1
        bufOfFrame.push(views[i]!.buffer);
      }
      const current = bufOfFrame[N - 1]!; // still being written: never retired
      const chunks = [...new Set(bufOfFrame)];
      const lastFrameOf = (b: ArrayBufferLike): number => bufOfFrame.lastIndexOf(b) + 1;
      const expected = new Set(chunks.filter((b) => b !== current && lastFrameOf(b) <= f));
      w.delivered(f);
      for (let i = N; i < N + 200; i++) {
        w.write('rec.x', undefined, h, new Uint8Array(sizeOf(i)).fill(i + 1));
        await Promise.resolve();
      }
      const reused = new Set(views.slice(N).map((v) => v.buffer).filter((b) => chunks.includes(b)));
      expect([...reused].map(lastFrameOf).sort((a, b) => a - b), `cut at ${f}`).toEqual([...expected].map(lastFrameOf).sort((a, b) => a - b));
      // Frames after f are untouched, whatever was reused.
      intact(views.slice(f, N), copies.slice(f, N));
    }
  });

  it('a frame larger than a chunk gets a chunk of its own, which is not recycled', async () => {
    const { w, views, copies } = holding(256);
    await writeFrames(w, 3, 0);
    const big = w.write('rec.x', undefined, h, new Uint8Array(1000).fill(7));
    await Promise.resolve();
    await writeFrames(w, 3, 3);
    w.delivered(big + 3);
    await writeFrames(w, 20, 6);
    // Hand-overs 0-6 (frames 1-7) were reported delivered; what came after is intact.
    intact(views.slice(7), copies.slice(7));
    const bigView = views.find((v) => v.length > 1000)!;
    expect(views.filter((v) => v.buffer === bigView.buffer)).toHaveLength(1);
  });
});

describe('FrameWriter on a real nats-server', () => {
  const nats = useNatsServer({ clientName: 'frames' });
  let sub: NatsConnection;

  beforeAll(async () => {
    sub = await connectNats(nats.url, 'frames-sub');
  });

  afterAll(async () => {
    await sub?.close();
  });

  function collect(subject: string): Msg[] {
    const got: Msg[] = [];
    sub.subscribe(subject, { callback: (_e, m) => void got.push(m) });
    return got;
  }

  it('delivers what publish() delivers: subject, reply, headers and payload', async () => {
    const got = collect('fw.same.>');
    await sub.flush();
    const w = FrameWriter.for(nats.nc)!;
    expect(w).toBeDefined();
    const pairs: [string, string][] = [
      ['Nats-Msg-Id', 'abc.def'],
      ['Hwl-Hash', 'ff'.repeat(32)],
    ];
    const body = te.encode('canonical bytes \u00e9');
    nats.nc.publish('fw.same.a', body, { reply: 'fw.reply.1', headers: new RawHeaders(pairs).asMsgHdrs() });
    w.write('fw.same.b', 'fw.reply.1', hdrBytes(pairs), body);
    await nats.nc.flush();
    await waitFor(() => got.length === 2, 5_000, 10, 'both delivered');
    const [a, b] = got as [Msg, Msg];
    expect(b.subject).toBe('fw.same.b');
    expect(b.reply).toBe(a.reply);
    expect(b.data).toEqual(a.data);
    for (const [k, v] of pairs) expect(b.headers?.get(k)).toBe(v);
    expect([...(b.headers?.keys() ?? [])]).toEqual([...(a.headers?.keys() ?? [])]);
  });

  it("writes byte for byte what nats.js's publish() queues for the same message", async () => {
    const c = await connectNats(nats.url, 'frames-bytes');
    try {
      const proto = (c as unknown as { protocol: { sendCommand: (...parts: (string | Uint8Array)[]) => void } }).protocol;
      const original = proto.sendCommand.bind(proto);
      const queued: Uint8Array[] = [];
      proto.sendCommand = (...parts) => {
        const bytes = parts.map((p) => (typeof p === 'string' ? te.encode(p) : p));
        queued.push(Buffer.concat(bytes));
      };
      const w = FrameWriter.for(c)!;
      const pairs: [string, string][] = [['Nats-Msg-Id', 'k.1'], ['Nats-Expected-Last-Sequence', '9']];
      const body = te.encode('record \u00e9');
      for (const reply of [undefined, '_INBOX.abc.3']) {
        queued.length = 0;
        c.publish('hwl.chain.c1.job_failed.acme', body, { headers: new RawHeaders(pairs).asMsgHdrs(), ...(reply ? { reply } : {}) });
        w.write('hwl.chain.c1.job_failed.acme', reply, hdrBytes(pairs), body);
        await Promise.resolve();
        expect(queued).toHaveLength(2);
        expect(Buffer.from(queued[1]!).toString('latin1')).toBe(Buffer.from(queued[0]!).toString('latin1'));
      }
      proto.sendCommand = original;
    } finally {
      await c.close();
    }
  });

  it('a turn larger than a chunk arrives whole and in order', async () => {
    const got = collect('fw.big');
    await sub.flush();
    const w = FrameWriter.for(nats.nc)!;
    const h = hdrBytes([['X', '1']]);
    const n = 2_000; // about 600 KiB: more than two 256 KiB chunks
    for (let i = 0; i < n; i++) {
      const body = new Uint8Array(300).fill(i % 251);
      new DataView(body.buffer).setUint32(0, i);
      w.write('fw.big', undefined, h, body);
    }
    await nats.nc.flush();
    await waitFor(() => got.length === n, 10_000, 20, 'all delivered');
    got.forEach((m, i) => {
      expect(new DataView(m.data.buffer, m.data.byteOffset).getUint32(0)).toBe(i);
      expect(m.data.length).toBe(300);
    });
  });

  it('refuses, as publish() does, on a closed connection', async () => {
    const c = await connectNats(nats.url, 'frames-closing');
    const w = FrameWriter.for(c)!;
    await c.close();
    expect(() => c.publish('fw.x', te.encode('a'))).toThrow(/closed/i);
    expect(() => w.write('fw.x', undefined, hdrBytes([['X', '1']]), te.encode('a'))).toThrow(/closed/i);
  });

  it('a refused message leaves the connection working (nothing was written)', async () => {
    const got = collect('fw.after');
    await sub.flush();
    const w = FrameWriter.for(nats.nc)!;
    const max = nats.nc.info!.max_payload;
    expect(() => w.write('fw.after', undefined, hdrBytes([['X', '1']]), new Uint8Array(max))).toThrow(/max_payload/);
    w.write('fw.after', undefined, hdrBytes([['X', '2']]), te.encode('ok'));
    await nats.nc.flush();
    await waitFor(() => got.length === 1, 5_000, 10, 'delivered');
    expect(td.decode(got[0]!.data)).toBe('ok');
    expect(nats.nc.isClosed()).toBe(false);
  });
});
