/**
 * An outbox backlog left by an outage must drain once NATS is back, also
 * while events keep arriving and a PubAck takes longer than
 * --batch-max-delay-ms (a broker fsyncing every write, a remote region).
 * Until it drains the outbox keeps appending new batches behind the backlog
 * and the segment is never rotated, so the disk use grows without bound
 * (while `--outbox-max-bytes` sees only the pending bytes).
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useNatsServer, waitFor } from '@hwledger/testkit';
import { Agent, IngestBatchBuilder, Outbox, loadMsgIdKey, simulateFleet } from '@hwledger/agent';
import { duplicates, ingestEvents, key } from './helpers.js';

const nats = useNatsServer();
const tmp = mkdtempSync(join(tmpdir(), 'hwl-agent-backlog-'));
const START = 1_795_000_000_000;
let proxy: Server | undefined;
const sockets = new Set<Socket>();
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => (proxy ? proxy.close(() => r()) : r()));
  rmSync(tmp, { recursive: true, force: true });
});

/** A TCP relay to the real nats-server that delays what the server sends by `ms` (PubAck latency). */
async function slowRelay(targetPort: number, ms: number): Promise<string> {
  proxy = createServer((client) => {
    const up = createConnection({ host: '127.0.0.1', port: targetPort });
    sockets.add(client).add(up);
    client.on('data', (d: Buffer) => void up.write(d));
    up.on('data', (d: Buffer) => void setTimeout(() => client.writable && client.write(d), ms));
    const end = (): void => {
      client.destroy();
      up.destroy();
    };
    client.on('close', end).on('error', end);
    up.on('close', end).on('error', end);
  });
  await new Promise<void>((r) => proxy!.listen(0, '127.0.0.1', () => r()));
  return `nats://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}

describe('outbox backlog', () => {
  it('drains while events keep arriving and a PubAck takes longer than the batch delay', async () => {
    const chainId = 'backlog';
    const dir = join(tmp, 'ob');
    const all = [...simulateFleet({ source: `${chainId}/n1`, seed: 8, startMs: START, count: 2_000 })];
    const backlog = all.slice(0, 300);
    const live = all.slice(300);
    // What an outage left: 60 batches of 5 events in the outbox (with this outbox's message-id key).
    const box = await Outbox.open(dir);
    const b = new IngestBatchBuilder(undefined, await loadMsgIdKey(dir));
    for (let i = 0; i < backlog.length; i += 5) {
      for (const e of backlog.slice(i, i + 5)) b.add(e, IngestBatchBuilder.encode(e));
      const s = b.seal();
      await box.append([{ msgId: s.msgId, body: s.body, events: s.events }]);
    }
    await box.close();

    const url = await slowRelay(Number(new URL(nats.url).port), 15);
    const agent = await Agent.open({ chainId, node: 'n1', natsUrl: url, outboxDir: dir });
    // Events keep arriving (a busy scheduler hook): one every 5 ms for 8.5 s.
    const accepted: Promise<unknown>[] = [];
    // Whether the backlog drained at some point while events kept arriving (it takes about 2 s
    // here; checked throughout rather than at the end, so a slow, loaded machine does not decide).
    let drainedWhileBusy = false;
    for (const e of live) {
      accepted.push(agent.submit(e));
      await new Promise((r) => setTimeout(r, 5));
      if (agent.outbox.isEmpty) drainedWhileBusy = true;
    }
    await Promise.all(accepted);
    const segmentBytes = readdirSync(dir)
      .filter((n) => /^segment-\d+\.log$/.test(n))
      .reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    expect({ drainedWhileBusy, segmentBytesBelow64k: segmentBytes < 64 * 1024 }).toEqual({ drainedWhileBusy: true, segmentBytesBelow64k: true });
    await waitFor(() => agent.outbox.isEmpty, 10_000, 20, 'outbox drained');
    await agent.stop();
    const got = (await ingestEvents(nats.nc, chainId)).map(key);
    expect(duplicates(got)).toEqual([]);
    expect(got).toEqual(all.map(key));
  }, 60_000);
});
