/**
 * Test helper for races between the API's access check and its read: the
 * chain `first` is published and projected; the returned pool, once armed,
 * seals `late` as the next record, appends it as the sequencer does and
 * projects it, just before the first statement containing `marker` runs
 * (on the pool, or on a client taken from it).
 */
import type pg from 'pg';
import type { NatsConnection } from '@nats-io/transport-node';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Registry } from 'prom-client';
import { sealEvent, toHex, type ChainEvent } from '@hwledger/chain';
import { HEADERS, recordMsgId, silentLogger, subjects } from '@hwledger/core';
import { Projector } from '@hwledger/projector';
import { publishChain } from './publish-chain.js';

export interface LateRecordRace {
  /** The pool to hand the API. */
  pool: pg.Pool;
  /** The next statement containing the marker lets `late` in first. */
  arm(): void;
  /** True while armed and not yet fired. */
  readonly armed: boolean;
}

export async function lateRecordRace(o: { nc: NatsConnection; pool: pg.Pool; chainId: string; t0: bigint; first: readonly ChainEvent[]; late: ChainEvent; marker: string }): Promise<LateRecordRace> {
  const project = async (pool: pg.Pool): Promise<void> => {
    await new Projector({ pool, nc: o.nc, chainId: o.chainId, exitAtHead: true, logger: silentLogger(), registry: new Registry() }).start().done;
  };
  const sealed = await publishChain(o.nc, o.chainId, o.first, (i) => o.t0 + BigInt(i) * 1_000n);
  await project(o.pool);
  const appendLate = async (): Promise<void> => {
    const prev = sealed[sealed.length - 1]!;
    const sequence = BigInt(sealed.length + 1);
    const s = sealEvent(o.late, { chainId: o.chainId, sequence, sealedAtMs: o.t0 + BigInt(sealed.length) * 1_000n }, prev.hash);
    const h = natsHeaders();
    h.set(HEADERS.prevHash, toHex(s.prevHash));
    h.set(HEADERS.hash, toHex(s.hash));
    h.set(HEADERS.msgId, recordMsgId(s.record.source, s.record.eventId));
    h.set('Nats-Expected-Last-Sequence', String(sequence - 1n));
    await jetstream(o.nc).publish(subjects.chain(o.chainId, s.record.kind, s.record.tenant), s.canonical, { headers: h });
  };
  let armed = false;
  const before = async (text: unknown): Promise<void> => {
    if (armed && typeof text === 'string' && text.includes(o.marker)) {
      armed = false;
      await appendLate();
      await project(o.pool);
    }
  };
  // Statements run on the pool, or on a client taken from it (a query in a transaction of its own).
  const client = (c: pg.PoolClient): pg.PoolClient =>
    new Proxy(c, {
      get(target, prop, receiver) {
        if (prop !== 'query') return Reflect.get(target, prop, receiver) as unknown;
        return async (text: unknown, values?: unknown[]) => {
          await before(text);
          return target.query(text as string, values);
        };
      },
    });
  const pool = new Proxy(o.pool, {
    get(target, prop, receiver) {
      if (prop === 'connect') return async () => client(await target.connect());
      if (prop !== 'query') return Reflect.get(target, prop, receiver) as unknown;
      return async (text: unknown, values?: unknown[]) => {
        await before(text);
        return target.query(text as string, values);
      };
    },
  });
  return {
    pool,
    arm: () => void (armed = true),
    get armed() {
      return armed;
    },
  };
}
