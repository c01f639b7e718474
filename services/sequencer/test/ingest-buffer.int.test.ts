/**
 * The ingest consumer's max_ack_pending is sized from ingestBufferBytes and
 * the ingest stream's average message size (32 to 2,048 messages), and a
 * small buffer still seals everything exactly once. docs/bench-seal.md says
 * why the default is small: messages that wait long in a large buffer
 * outlive V8's young generation, and their socket buffers then wait for a
 * full garbage collection (RSS climbs for seconds).
 */
import { describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { ensureChainTopology, streams } from '@hwledger/core';
import { runCli, useNatsServer, waitFor } from '@hwledger/testkit';
import { DEFAULT_INGEST_BUFFER_BYTES, Sequencer } from '@hwledger/sequencer';
import { Registry } from 'prom-client';
import { chainHead, checkChain, exactlyOnce, ingestConsumer, makeEvents, nodeSource, publishEvents } from './helpers.js';

describe('sequencer: ingest buffer sizing', () => {
  const nats = useNatsServer();

  /** Publishes `events` in messages of `batch`, runs a sequencer until all are sealed; returns max_ack_pending and the stream's average message size. */
  async function sealWith(chain: string, events: number, batch: number, ingestBufferBytes?: number): Promise<{ maxAckPending: number; avg: number }> {
    await ensureChainTopology(nats.nc, chain);
    const evs = makeEvents(0, events, nodeSource(chain));
    await publishEvents(nats.nc, chain, evs, batch);
    const st = (await (await jetstreamManager(nats.nc)).streams.info(streams.ingest(chain))).state;
    const seq = new Sequencer({ nc: nats.nc, chainId: chain, registry: new Registry(), takeoverGraceMs: 0, ...(ingestBufferBytes !== undefined ? { ingestBufferBytes } : {}) });
    await seq.start();
    try {
      await waitFor(async () => (await chainHead(nats.nc, chain)) >= events, 60_000, 50, `${events} records`);
      const ci = await ingestConsumer(nats.nc, chain);
      const check = await checkChain(nats.nc, chain);
      expect(check.result.ok).toBe(true);
      expect(exactlyOnce(check.ids, evs)).toEqual({ missing: [], doubled: [], unexpected: [] });
      return { maxAckPending: ci.config.max_ack_pending ?? -1, avg: st.bytes / st.messages };
    } finally {
      await seq.stop();
    }
  }

  it('holds about ingestBufferBytes of ingest messages', async () => {
    const { maxAckPending, avg } = await sealWith('bufmid', 3_000, 10, 200 * 1024);
    expect(maxAckPending).toBe(Math.floor((200 * 1024) / avg));
    expect(maxAckPending).toBeGreaterThan(32);
    expect(maxAckPending).toBeLessThan(2_048);
  });

  it('defaults to 256 KiB', async () => {
    expect(DEFAULT_INGEST_BUFFER_BYTES).toBe(256 * 1024);
    const { maxAckPending, avg } = await sealWith('bufdefault', 2_000, 20);
    expect(maxAckPending).toBe(Math.floor(DEFAULT_INGEST_BUFFER_BYTES / avg));
  });

  it('keeps at least 32 and at most 2,048 messages in flight, and a 32-message buffer of large batches seals everything once', async () => {
    // 100-event messages (about 13 KiB each) in a 16 KiB buffer: clamped to 32.
    expect((await sealWith('bufmin', 10_000, 100, 16 * 1024)).maxAckPending).toBe(32);
    // One-event messages in a 64 MiB buffer: clamped to 2,048.
    expect((await sealWith('bufmax', 500, 1, 64 * 1024 * 1024)).maxAckPending).toBe(2_048);
  });

  it('refuses a buffer below 1 KiB on the command line', async () => {
    const r = await runCli(['sequencer', '--nats', nats.url, '--chain', 'bufcli', '--ingest-buffer-bytes', '10'], { timeoutMs: 10_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--ingest-buffer-bytes must be an integer >= 1024/);
    // Nothing was created for the chain.
    const names: string[] = [];
    for await (const si of (await jetstreamManager(nats.nc)).streams.list()) names.push(si.config.name);
    expect(names.filter((n) => n.includes('bufcli'))).toEqual([]);
  });
});
