/**
 * AppendPipeline with sparse PubAcks against a real nats-server: only every
 * ackEvery-th append (and the last of a turn) asks for a PubAck, and one
 * PubAck confirms the fenced appends before it. Outcomes still arrive in
 * append order, with each append's own stream sequence; after a refused
 * append nothing later is reported stored, and appends whose fate is unknown
 * are reported failed, never stored.
 */
import { createHash } from 'node:crypto';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { chainStreamConfig, connectNats } from '@hwledger/core';
import { TestNatsServer, useNatsServer, waitFor } from '@hwledger/testkit';
import { AppendPipeline, RawHeaders, type AppendOutcome } from '@hwledger/sequencer';

// Both ways of writing an append: raw HPUB frames (the default, frame-writer.ts) and nats.js's publish().
describe.each([true, false])('AppendPipeline (sparse PubAcks, rawFrames %s)', (rawFrames) => {
  const nats = useNatsServer({ clientName: 'pipeline-test' });
  let jsm: JetStreamManager;
  let n = 0;

  beforeAll(async () => {
    jsm = await jetstreamManager(nats.nc);
  });

  async function stream(): Promise<{ name: string; subject: string }> {
    const name = `PIPE_${++n}`;
    await jsm.streams.add({ ...chainStreamConfig(`pipe${n}`), name, subjects: [`pipe.${n}.>`] });
    return { name, subject: `pipe.${n}.x` };
  }

  const fenced = (expectedLast: number): RawHeaders => new RawHeaders([['Nats-Expected-Last-Sequence', String(expectedLast)]]);

  it('confirms every append in order with its own stream sequence, asking for about one PubAck in ackEvery', async () => {
    const { name, subject } = await stream();
    const settled: [number, AppendOutcome][] = [];
    const p = new AppendPipeline<number>(nats.nc, { rawFrames, window: 64, timeoutMs: 5_000, ackEvery: 16, onSettled: (t, o) => void settled.push([t, o]) });
    const total = 1_000;
    let i = 0;
    const pump = async (): Promise<void> => {
      while (i < total) {
        if (!p.hasCapacity()) await p.waitForCapacity();
        p.append(subject, new TextEncoder().encode(`m${i}`), fenced(i).asMsgHdrs(), i + 1);
        i++;
      }
    };
    await pump();
    await p.drained();
    p.close();
    expect(settled.map(([t]) => t)).toEqual(Array.from({ length: total }, (_, k) => k + 1));
    for (const [t, o] of settled) expect(o).toEqual({ ok: true, seq: t, duplicate: false });
    expect((await jsm.streams.info(name)).state.messages).toBe(total);
    // One per 16 appends, plus the last append of each turn (window refills).
    expect(p.pubAcksRequested).toBeLessThan(total / 4);
    expect(p.pubAcksRequested).toBeGreaterThanOrEqual(total / 16);
  });

  it('after a refused append reports nothing later as stored; unconfirmed appends before it are failed, not stored', async () => {
    const { name, subject } = await stream();
    const settled: [number, AppendOutcome][] = [];
    const p = new AppendPipeline<number>(nats.nc, { rawFrames, window: 256, timeoutMs: 5_000, ackEvery: 16, onSettled: (t, o) => void settled.push([t, o]) });
    // 50 appends in one turn; the 20th expects the wrong last sequence (as if
    // another writer had appended): it and everything after are refused.
    for (let k = 1; k <= 50; k++) p.append(subject, new Uint8Array([k]), fenced(k === 20 ? 99 : k - 1).asMsgHdrs(), k);
    await waitFor(() => settled.length === 50, 5_000, 20, 'all settled');
    p.close();
    expect(settled.map(([t]) => t)).toEqual(Array.from({ length: 50 }, (_, k) => k + 1));
    const firstFail = settled.findIndex(([, o]) => !o.ok);
    // Confirmed: exactly the appends up to the last PubAck before the failure (16), each at its own sequence.
    expect(firstFail).toBe(16);
    for (const [t, o] of settled.slice(0, 16)) expect(o).toEqual({ ok: true, seq: t, duplicate: false });
    for (const [, o] of settled.slice(16)) expect(o.ok).toBe(false);
    expect(settled[31]![1]).toMatchObject({ ok: false, code: 'FENCED' });
    // 17..19 were in fact stored: reported "not confirmed", which makes the
    // caller re-read the tail rather than trust or redo them.
    expect((await jsm.streams.info(name)).state.last_seq).toBe(19);
  });

  it('fails every append when no stream answers', async () => {
    const settled: AppendOutcome[] = [];
    const p = new AppendPipeline<number>(nats.nc, { rawFrames, window: 256, timeoutMs: 5_000, ackEvery: 8, onSettled: (_t, o) => void settled.push(o) });
    for (let k = 1; k <= 20; k++) p.append('nowhere.at.all', new Uint8Array([k]), fenced(k - 1).asMsgHdrs(), k);
    await waitFor(() => settled.length === 20, 5_000, 20, 'all settled');
    p.close();
    expect(settled.every((o) => !o.ok)).toBe(true);
  });

  it('an append refused before it is written (over max_payload) settles as failed, not as an uncaught error', async () => {
    const { name, subject } = await stream();
    const settled: AppendOutcome[] = [];
    const p = new AppendPipeline<number>(nats.nc, { rawFrames, window: 256, timeoutMs: 5_000, ackEvery: 8, onSettled: (_t, o) => void settled.push(o) });
    // The last append of a turn is sent in a microtask (the held append).
    p.append(subject, new Uint8Array(nats.nc.info!.max_payload + 1), fenced(0).asMsgHdrs(), 1);
    await waitFor(() => settled.length === 1, 5_000, 10, 'settled');
    expect(settled[0]).toMatchObject({ ok: false, code: 'UNAVAILABLE' });
    expect(p.inFlight).toBe(0);
    expect((await jsm.streams.info(name)).state.messages).toBe(0);
  });

  it('close() settles appends still in flight as failed', async () => {
    const { subject } = await stream();
    const settled: AppendOutcome[] = [];
    const p = new AppendPipeline<number>(nats.nc, { rawFrames, window: 256, timeoutMs: 5_000, ackEvery: 8, onSettled: (_t, o) => void settled.push(o) });
    for (let k = 1; k <= 10; k++) p.append(subject, new Uint8Array([k]), fenced(k - 1).asMsgHdrs(), k);
    p.close(); // same turn: the last append was never even sent
    expect(settled).toHaveLength(10);
    expect(settled.every((o) => !o.ok)).toBe(true);
    expect(p.inFlight).toBe(0);
  });
});

// Frame chunks are recycled once a PubAck shows the server holds their
// frames (frame-writer.ts): with tiny chunks every turn spans many of them,
// and every stored message must still carry exactly the bytes appended.
describe('AppendPipeline: recycled frame chunks', () => {
  const nats = useNatsServer({ clientName: 'pipeline-recycle' });
  let jsm: JetStreamManager;

  beforeAll(async () => {
    jsm = await jetstreamManager(nats.nc);
  });

  it('stores every append byte for byte while reusing chunks', async () => {
    await jsm.streams.add({ ...chainStreamConfig('recycle'), name: 'RECYCLE', subjects: ['recycle.>'] });
    let ok = 0;
    const p = new AppendPipeline<number>(nats.nc, {
      window: 256,
      timeoutMs: 10_000,
      ackEvery: 16,
      frameChunkBytes: 2_048,
      onSettled: (_t, o) => {
        if (!o.ok) throw new Error(`append failed: ${o.message}`);
        ok++;
      },
    });
    const total = 6_000;
    const bodyOf = (i: number): Uint8Array => {
      const b = new Uint8Array(40 + (i % 50)).fill(i % 251);
      new DataView(b.buffer).setUint32(0, i);
      return b;
    };
    for (let i = 0; i < total; i++) {
      if (!p.hasCapacity()) await p.waitForCapacity();
      p.append(`recycle.${i % 7}`, bodyOf(i), new RawHeaders([['Nats-Expected-Last-Sequence', String(i)], ['Nats-Msg-Id', `m-${i}`]]).asMsgHdrs(), i);
    }
    await p.drained();
    const writer = (p as unknown as { frames: { allocated: number } }).frames;
    p.close();
    expect(ok).toBe(total);
    // About 120 bytes a frame: some 350 chunks' worth went out through far fewer allocations.
    expect(writer.allocated).toBeLessThan(60);
    for (let i = 0; i < total; i++) {
      const m = await jsm.streams.getMessage('RECYCLE', { seq: i + 1 });
      if (!m) throw new Error(`message ${i + 1} is missing`);
      expect(m.subject).toBe(`recycle.${i % 7}`);
      expect(m.header.get('Nats-Msg-Id')).toBe(`m-${i}`);
      expect(Buffer.compare(m.data, bodyOf(i)), `message ${i + 1}`).toBe(0);
    }
  }, 60_000);

  it('frees nothing on a reply that is not a PubAck (only an answer from the server proves delivery)', async () => {
    await jsm.streams.add({ ...chainStreamConfig('bogus'), name: 'BOGUS', subjects: ['bogus.>'] });
    const settled: AppendOutcome[] = [];
    // One PubAck asked for: the last append of the turn (id 30).
    const p = new AppendPipeline<number>(nats.nc, { window: 256, timeoutMs: 10_000, ackEvery: 10_000, frameChunkBytes: 256, onSettled: (_t, o) => void settled.push(o) });
    for (let i = 0; i < 30; i++) p.append('bogus.x', new Uint8Array(100).fill(i), new RawHeaders([['Nats-Expected-Last-Sequence', String(i)]]).asMsgHdrs(), i);
    // Queued before the frames (they are handed over at the end of the turn),
    // so it reaches the pipeline's inbox before the real PubAck for id 30.
    nats.nc.publish(`${(p as unknown as { inbox: string }).inbox}.30`, new TextEncoder().encode('not a PubAck'));
    await waitFor(() => settled.length === 30, 10_000, 10, 'settled');
    const writer = (p as unknown as { frames: { retired: unknown[]; free: unknown[] } }).frames;
    expect(settled.at(-1)).toMatchObject({ ok: false, message: 'unparseable PubAck' });
    expect(writer.retired.length).toBeGreaterThan(5);
    expect(writer.free).toHaveLength(0);
    p.close();
    // The appends themselves were fine: all 30 are stored.
    await waitFor(async () => (await jsm.streams.info('BOGUS')).state.messages === 30, 5_000, 20, 'stored');
  });

  /**
   * A TCP proxy to the server that stops reading from the client for 15 ms
   * of every 30: the client's socket backs up, so Node's write queue holds
   * chunks that are not yet on the wire while PubAcks for earlier frames keep
   * arriving. A chunk reused on such a PubAck before its own frames left
   * would put other bytes on the wire than were appended.
   */
  async function stallingProxy(target: string): Promise<{ url: string; close: () => Promise<void> }> {
    const { hostname, port } = new URL(target);
    const sockets = new Set<Socket>();
    const listener: Server = createServer((client) => {
      const upstream = tcpConnect(Number(port), hostname);
      sockets.add(client).add(upstream);
      upstream.pipe(client);
      client.pipe(upstream);
      const timer = setInterval(() => {
        client.pause();
        setTimeout(() => client.resume(), 15);
      }, 30);
      const end = (): void => {
        clearInterval(timer);
        client.destroy();
        upstream.destroy();
      };
      client.on('close', end).on('error', end);
      upstream.on('close', end).on('error', end);
    });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    const addr = listener.address();
    if (addr === null || typeof addr === 'string') throw new Error('no proxy address');
    return {
      url: `nats://127.0.0.1:${addr.port}`,
      close: async () => {
        for (const sk of sockets) sk.destroy();
        await new Promise<void>((r) => listener.close(() => r()));
      },
    };
  }

  it('stores every append byte for byte while the socket backs up (more in flight than the kernel buffers hold)', async () => {
    await jsm.streams.add({ ...chainStreamConfig('backed'), name: 'BACKED', subjects: ['backed.>'] });
    const proxy = await stallingProxy(nats.url);
    const c = await connectNats(proxy.url, 'pipeline-backed-up');
    try {
      let ok = 0;
      const p = new AppendPipeline<number>(c, {
        window: 512,
        timeoutMs: 30_000,
        ackEvery: 8,
        onSettled: (_t, o) => {
          if (!o.ok) throw new Error(`append failed: ${o.message}`);
          ok++;
        },
      });
      const total = 3_000;
      const size = 20_000; // about 13 frames a 256 KiB chunk; up to 10 MB in flight
      const bodyOf = (i: number): Uint8Array => {
        const b = new Uint8Array(size);
        for (let k = 0; k < size; k += 4096) b[k] = (i + k) % 251;
        new DataView(b.buffer).setUint32(0, i);
        return b;
      };
      const digest = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
      const digests: string[] = [];
      for (let i = 0; i < total; i++) {
        if (!p.hasCapacity()) await p.waitForCapacity();
        const b = bodyOf(i);
        digests.push(digest(b));
        p.append('backed.x', b, new RawHeaders([['Nats-Expected-Last-Sequence', String(i)]]).asMsgHdrs(), i);
        // One frame per turn: nats.js then hands the socket a view of the
        // chunk itself (with several buffers queued it would copy them), and
        // Node's write queue keeps that view while the proxy stalls.
        await new Promise((r) => setImmediate(r));
      }
      await p.drained();
      const writer = (p as unknown as { frames: { allocated: number } }).frames;
      p.close();
      expect(ok).toBe(total);
      // 60 MB went out in 256 KiB chunks (about 230): many were reused ones
      // (about half in runs here; the kernel's socket buffers hold several MB,
      // so it is the capturing-queue tests in frame-writer.int.test.ts, not
      // this one, that catch a chunk freed too early).
      expect(writer.allocated).toBeLessThan(((total * size) / (256 * 1024)) * 0.75);
      for (let i = 0; i < total; i++) {
        const m = await jsm.streams.getMessage('BACKED', { seq: i + 1 });
        if (!m) throw new Error(`message ${i + 1} is missing`);
        expect(digest(m.data), `message ${i + 1}`).toBe(digests[i]);
      }
    } finally {
      await c.close();
      await proxy.close();
    }
  }, 120_000);
});

// A user that may publish but not subscribe below its own inbox prefix (a
// hand-written permission that forgot it): the server refuses the PubAck
// subscription, and the pipeline says so instead of throwing inside the
// client or waiting for PubAcks that cannot come.
describe('AppendPipeline: PubAck subscription refused', () => {
  let server: TestNatsServer;

  beforeAll(async () => {
    server = await TestNatsServer.start({
      config: 'authorization { users = [ { user: "nosub", password: "pw", permissions: { publish: { allow: [">"] }, subscribe: { allow: ["elsewhere.>"] } } } ] }',
      probeAuth: { user: 'nosub', pass: 'pw' },
    });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('fails the appends in flight with the reason, and refuses later ones naming it', async () => {
    const nc = await connectNats(server.url.replace('nats://', 'nats://nosub:pw@'), 'pipeline-nosub');
    try {
      const settled: AppendOutcome[] = [];
      const p = new AppendPipeline<number>(nc, { window: 64, timeoutMs: 60_000, onSettled: (_t, o) => void settled.push(o) });
      for (let k = 1; k <= 3; k++) p.append('anything.x', new Uint8Array([k]), new RawHeaders([['Nats-Expected-Last-Sequence', String(k - 1)]]).asMsgHdrs(), k);
      await waitFor(() => settled.length === 3, 5_000, 10, 'appends settled');
      for (const o of settled) {
        expect(o).toMatchObject({ ok: false, code: 'UNAVAILABLE' });
        expect(!o.ok && o.message).toMatch(/PubAck subscription on _INBOX_nosub\..*refused.*Permissions Violation/i);
      }
      expect(() => p.append('anything.x', new Uint8Array([4]), new RawHeaders([]).asMsgHdrs(), 4)).toThrow(/refused/);
      expect(p.inFlight).toBe(0);
    } finally {
      await nc.close();
    }
  });
});
