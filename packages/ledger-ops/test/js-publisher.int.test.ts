/**
 * JsPublisher on a real nats-server: the PubAck of each publish comes back to
 * its caller (also many in flight at once), JetStream's refusals (fence,
 * duplicate) come back as refusals with their codes, a subject no stream
 * takes is an error, never a success, and a malformed reply never reads as
 * a PubAck.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { headers } from '@nats-io/transport-node';
import { JetStreamApiCodes, jetstreamManager } from '@nats-io/jetstream';
import { connectNats } from '@hwledger/core';
import { TestNatsServer, useNatsServer, waitFor } from '@hwledger/testkit';
import { JsPublisher, parsePubAck } from '../src/js-publisher.js';

const nats = useNatsServer({ clientName: 'js-publisher-test' });
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

beforeAll(async () => {
  const jsm = await jetstreamManager(nats.nc);
  await jsm.streams.add({ name: 'PUBTEST', subjects: ['pubtest.>'] });
});

describe('JsPublisher', () => {
  it('resolves each publish with its own PubAck, 200 in flight at once, in stream order', async () => {
    const p = new JsPublisher(nats.nc);
    try {
      const acks = await Promise.all(Array.from({ length: 200 }, (_, i) => p.publish('pubtest.a', enc(`m${i}`), undefined, 5_000)));
      expect(acks.every((a) => a.ok && a.stream === 'PUBTEST' && !a.duplicate)).toBe(true);
      expect(acks.map((a) => (a.ok ? a.seq : 0))).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      const jsm = await jetstreamManager(nats.nc);
      const m = await jsm.streams.getMessage('PUBTEST', { seq: 137 });
      expect(new TextDecoder().decode(m!.data)).toBe('m136');
    } finally {
      p.close();
    }
  });

  it('returns the fence and duplicate refusals of JetStream, and stores nothing for them', async () => {
    const p = new JsPublisher(nats.nc);
    try {
      const jsm = await jetstreamManager(nats.nc);
      const last = (await jsm.streams.info('PUBTEST')).state.last_seq;
      const fenced = headers();
      fenced.set('Nats-Expected-Last-Sequence', String(last - 1));
      const r = await p.publish('pubtest.b', enc('stale writer'), fenced, 5_000);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.errCode).toBe(JetStreamApiCodes.StreamWrongLastSequence);
        expect(r.description).toMatch(/wrong last sequence/i);
      }
      const id = headers();
      id.set('Nats-Msg-Id', 'once');
      const first = await p.publish('pubtest.b', enc('x'), id, 5_000);
      const again = await p.publish('pubtest.b', enc('x'), id, 5_000);
      expect(first).toMatchObject({ ok: true, duplicate: false, seq: last + 1 });
      expect(again).toMatchObject({ ok: true, duplicate: true, seq: last + 1 });
      expect((await jsm.streams.info('PUBTEST')).state.last_seq).toBe(last + 1);
    } finally {
      p.close();
    }
  });

  it('rejects a publish no stream takes (no responders), and one left waiting when closed', async () => {
    const p = new JsPublisher(nats.nc);
    await expect(p.publish('nostream.x', enc('lost'), undefined, 5_000)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    // A reply that never comes: a core subject with a silent subscriber.
    const silent = nats.nc.subscribe('silent.x');
    const waiting = p.publish('silent.x', enc('?'), undefined, 60_000);
    p.close();
    await expect(waiting).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    silent.unsubscribe();
    const q = new JsPublisher(nats.nc);
    const sub = nats.nc.subscribe('silent.y');
    const timedOut = q.publish('silent.y', enc('?'), undefined, 200);
    await expect(timedOut).rejects.toThrow(/no PubAck/);
    sub.unsubscribe();
    q.close();
  });

  it('a reply that is not a PubAck is an error, never a success', async () => {
    const p = new JsPublisher(nats.nc);
    const liar = nats.nc.subscribe('liar.x', { callback: (_e, m) => void m.respond(enc('{"seq":"7"}')) });
    await expect(p.publish('liar.x', enc('?'), undefined, 5_000)).rejects.toMatchObject({ code: 'INTERNAL' });
    liar.unsubscribe();
    p.close();
  });
});

describe('JsPublisher across a broker restart', () => {
  it('a publish caught in the restart is acknowledged or refused once the client is back, never falsely acknowledged; then PubAcks flow again', async () => {
    const own = await TestNatsServer.start();
    const conn = await connectNats(own.url, 'js-publisher-restart');
    try {
      const jsm = await jetstreamManager(conn);
      await jsm.streams.add({ name: 'RESTART', subjects: ['restart.>'] });
      const p = new JsPublisher(conn);
      expect(await p.publish('restart.a', enc('before'), undefined, 5_000)).toMatchObject({ ok: true, seq: 1 });
      await own.restart();
      // Sent while the client is still reconnecting: nats.js's own js.publish loses such a message
      // too (measured); what matters is that it is never reported stored when it was not.
      // Its timeout is long: a publish still waiting when the connection is back is refused then, not at its timeout.
      const t0 = Date.now();
      const during = await p.publish('restart.a', enc('during'), undefined, 60_000).then(
        (r) => r,
        (e: unknown) => e,
      );
      expect(Date.now() - t0).toBeLessThan(15_000);
      if (during instanceof Error) expect(during).toMatchObject({ code: 'UNAVAILABLE' });
      else expect(during).toMatchObject({ ok: true, seq: 2 });
      const after = await waitFor(async () => p.publish('restart.a', enc('after'), undefined, 2_000).catch(() => undefined), 20_000, 100, 'a PubAck after the reconnect');
      expect(after.ok).toBe(true);
      const stored = (await (await jetstreamManager(conn)).streams.info('RESTART')).state.last_seq;
      expect(after.ok && after.seq).toBe(stored);
      const text = async (seq: number): Promise<string> => new TextDecoder().decode((await (await jetstreamManager(conn)).streams.getMessage('RESTART', { seq }))!.data);
      expect(await text(stored)).toBe('after');
      // A PubAck for the message caught in the restart means it is there, at the sequence it names.
      if (!(during instanceof Error)) expect(await text(2)).toBe('during');
      p.close();
    } finally {
      await conn.close();
      await own.stop();
    }
  });
});

describe('parsePubAck', () => {
  it('reads PubAcks and API errors and refuses anything else', () => {
    expect(parsePubAck(enc('{"stream":"S","seq":3}'))).toEqual({ ok: true, stream: 'S', seq: 3, duplicate: false });
    expect(parsePubAck(enc('{"stream":"S","seq":3,"duplicate":true}'))).toEqual({ ok: true, stream: 'S', seq: 3, duplicate: true });
    expect(parsePubAck(enc('{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 2"}}'))).toEqual({ ok: false, errCode: 10071, description: 'wrong last sequence: 2' });
    for (const bad of ['null', '[]', '"x"', '{}', '{"stream":"S"}', '{"stream":"S","seq":0}', '{"stream":"S","seq":1.5}', '{"stream":1,"seq":2}', '{"stream":"S","seq":"2"}']) {
      expect(parsePubAck(enc(bad)), bad).toBeUndefined();
    }
    expect(() => parsePubAck(enc('{not json'))).toThrow();
  });
});
