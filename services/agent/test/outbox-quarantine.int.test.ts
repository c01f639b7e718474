/**
 * An agent started over an outbox with a damaged frame in the middle (a real
 * nats-server): the frames after it are delivered, the damaged one is not,
 * and Prometheus shows what was set aside.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useNatsServer } from '@hwledger/testkit';
import { Agent, encodeFrame, IngestBatchBuilder, Outbox, simulateFleet } from '@hwledger/agent';
import { key, readIngest } from './helpers.js';

const nats = useNatsServer();
const tmp = mkdtempSync(join(tmpdir(), 'hwl-agent-quarantine-'));

afterAll(async () => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('agent over a damaged outbox', () => {
  it('delivers the frames after a corrupt one, never the corrupt one, and exports the quarantine as metrics', async () => {
    const chainId = 'quarantine';
    const dir = join(tmp, 'outbox');
    const events = [...simulateFleet({ source: `${chainId}/n1`, seed: 21, startMs: 1_795_000_000_000, count: 30 })];
    const b = new IngestBatchBuilder();
    const batches = [0, 10, 20].map((from) => {
      for (const e of events.slice(from, from + 10)) b.add(e, IngestBatchBuilder.encode(e));
      return b.seal();
    });
    const entries = batches.map((s) => ({ msgId: s.msgId, body: s.body, events: s.events }));
    const box = await Outbox.open(dir);
    await box.append(entries);
    await box.close();
    // Flip one body byte of the second frame (its checksum no longer matches).
    const seg = join(dir, 'segment-000000000001.log');
    const bytes = readFileSync(seg);
    const second = encodeFrame(entries[0]!).length;
    bytes[second + 40] = bytes[second + 40]! ^ 0xff;
    writeFileSync(seg, bytes);

    const agent = await Agent.open({ chainId, node: 'n1', natsUrl: nats.url, outboxDir: dir });
    try {
      expect(await agent.drained(15_000)).toBe(true);
      const metrics = await agent.registry.metrics();
      expect(metrics).toContain('hwl_agent_outbox_quarantined_regions{kind="corrupt"} 1');
      expect(metrics).toContain('hwl_agent_outbox_quarantined_regions{kind="torn"} 0');
      expect(metrics).toContain(`hwl_agent_outbox_quarantined_bytes{kind="corrupt"} ${encodeFrame(entries[1]!).length}`);
    } finally {
      await agent.stop();
    }
    const delivered = (await readIngest(nats.nc, chainId)).flatMap((m) => m.events).map(key);
    expect(delivered).toEqual([...events.slice(0, 10), ...events.slice(20, 30)].map(key));
  });
});
