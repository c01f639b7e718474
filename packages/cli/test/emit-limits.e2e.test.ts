/**
 * `hwledger emit` at its limits, against a real nats-server and the built
 * CLI: a message too large for the ingest stream anywhere in the input
 * publishes nothing (every message is encoded and checked before the first
 * publish), and a publish the stream refuses part-way still reports what was
 * stored before exiting 1. Also where it publishes: each event on the subject
 * of its source's node, and a source no node owns refused before anything is
 * published.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { eventToJson, type ChainEvent } from '@hwledger/chain';
import { ensureChainTopology, streams } from '@hwledger/core';
import { runCli, useNatsServer } from '@hwledger/testkit';

const CHAIN = 'emitlimits';

function small(i: number): ChainEvent {
  return {
    kind: 'inference_request_completed',
    source: `${CHAIN}/node-1`,
    eventId: `s-${i}`,
    observedAtMs: 1_763_800_000_000n + BigInt(i),
    tenant: 'acme',
    instanceId: `inference:request_completed:req-${i}`,
    data: { tenant_id: 'acme', request_id: `req-${i}`, total_tokens: 10, compute_ms: 5n, reason: 'end_of_sequence' },
  };
}

/** A job failure with a 4,000-byte error message (within the 4 KiB text limit): about 4 KB encoded. */
function large(i: number): ChainEvent {
  return { kind: 'job_failed', source: `${CHAIN}/node-1`, eventId: `l-${i}`, observedAtMs: 1_763_800_000_000n + BigInt(i), tenant: '', instanceId: `job-${i}`, data: { job_id: `job-${i}`, error_message: 'x'.repeat(4_000) } };
}

const jsonl = (events: ChainEvent[]): string => events.map((e) => JSON.stringify(eventToJson(e))).join('\n') + '\n';

describe('hwledger emit: limits and partial failure', () => {
  const broker = useNatsServer();
  const nats = (): string[] => ['--nats', broker.url, '--chain', CHAIN];
  const ingestMessages = async (): Promise<number> => (await (await jetstreamManager(broker.nc)).streams.info(streams.ingest(CHAIN))).state.messages;

  beforeAll(async () => {
    await ensureChainTopology(broker.nc, CHAIN);
  });

  it('an oversized second message publishes nothing at all, naming its lines', async () => {
    // --batch 300: message 1 is 300 small events (fine), message 2 is 300 large ones (about 1.2 MB).
    const input = jsonl([...Array.from({ length: 300 }, (_, i) => small(i)), ...Array.from({ length: 300 }, (_, i) => large(i))]);
    const r = await runCli(['emit', ...nats(), '--batch', '300'], { input });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/lines 301-600: an ingest message of \d+ bytes exceeds \d+ bytes; use a smaller --batch; nothing was published/);
    expect(r.stdout).toBe('');
    expect(await ingestMessages()).toBe(0);
    // The same input in smaller messages goes through.
    const ok = await runCli(['emit', ...nats(), '--batch', '100'], { input });
    expect(ok.stderr).toBe('');
    expect(ok.stdout.trim()).toBe('accepted 600');
    expect(await ingestMessages()).toBe(6);
  });

  it('publishes each event on its source\'s node subject, in input order, and refuses a source no node (or not --node) owns', async () => {
    const jsm = await jetstreamManager(broker.nc);
    const bySubject = async (): Promise<Record<string, number>> => (await jsm.streams.info(streams.ingest(CHAIN), { subjects_filter: '>' })).state.subjects ?? {};
    const before = await bySubject();
    const at = (i: number, source: string): ChainEvent => ({ ...small(5_000 + i), source });
    // node-1, two of node-2's sub-sources, node-1 again: three messages (a node change closes one), none mixed.
    const input = jsonl([at(0, `${CHAIN}/node-1`), at(1, `${CHAIN}/node-2/gpu-0`), at(2, `${CHAIN}/node-2/gpu-1`), at(3, `${CHAIN}/node-1`)]);
    const r = await runCli(['emit', ...nats(), '--batch', '10'], { input });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('accepted 4');
    const after = await bySubject();
    const added = (node: string): number => (after[`hwl.ingest.${CHAIN}.${node}`] ?? 0) - (before[`hwl.ingest.${CHAIN}.${node}`] ?? 0);
    expect([added('node-1'), added('node-2')]).toEqual([2, 1]);

    const stored = Object.values(after).reduce((a, b) => a + b, 0);
    // Sources no node of this chain owns, or not the --node given: exit 1 naming the line, nothing published.
    const refused = [
      { args: [], source: `other/node-1`, line: 2 },
      { args: [], source: 'node-1', line: 2 },
      { args: [], source: `${CHAIN}/node-1/`, line: 2 },
      { args: [], source: `${CHAIN}/no.de`, line: 2 },
      { args: ['--node', 'node-1'], source: `${CHAIN}/node-2`, line: 2 },
      { args: ['--node', 'node-1'], source: `${CHAIN}/node-10`, line: 2 },
    ];
    for (const c of refused) {
      const bad = await runCli(['emit', ...nats(), ...c.args], { input: jsonl([at(10, `${CHAIN}/node-1`), at(11, c.source)]) });
      expect(bad.code, c.source).toBe(1);
      expect(bad.stderr, c.source).toContain(`line ${c.line}: FOREIGN_SOURCE: source ${JSON.stringify(c.source)} is not`);
      expect(bad.stdout).toBe('');
    }
    expect(Object.values(await bySubject()).reduce((a, b) => a + b, 0)).toBe(stored);
    // --node with its own sources publishes there.
    const own = await runCli(['emit', ...nats(), '--node', 'node-2'], { input: jsonl([at(20, `${CHAIN}/node-2`), at(21, `${CHAIN}/node-2/x`)]) });
    expect(own.stdout.trim()).toBe('accepted 2');
    expect((await bySubject())[`hwl.ingest.${CHAIN}.node-2`]).toBe((after[`hwl.ingest.${CHAIN}.node-2`] ?? 0) + 2);
  });

  it('a publish refused part-way reports what was stored, names the failed lines and exits 1; a re-run completes it', async () => {
    const jsm = await jetstreamManager(broker.nc);
    const before = await ingestMessages();
    // The stream takes 2 more messages, then refuses (discard new).
    const info = await jsm.streams.info(streams.ingest(CHAIN));
    await jsm.streams.update(streams.ingest(CHAIN), { ...info.config, max_msgs: before + 2 });
    const input = jsonl(Array.from({ length: 50 }, (_, i) => small(1_000 + i)));
    const r = await runCli(['emit', ...nats(), '--batch', '10'], { input });
    expect(r.code).toBe(1);
    expect(r.stdout.trim()).toBe('accepted 20');
    expect(r.stderr).toMatch(/publishing the message of lines 21-30 failed \(.+\); 30 events are not confirmed stored/);
    expect(await ingestMessages()).toBe(before + 2);
    // Room again: a re-run stores the rest, and the first 20 are recognised as already accepted.
    await jsm.streams.update(streams.ingest(CHAIN), { ...info.config, max_msgs: -1 });
    const again = await runCli(['emit', ...nats(), '--batch', '10'], { input });
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe('accepted 30');
    expect(again.stderr).toMatch(/20 events were already accepted/);
    expect(await ingestMessages()).toBe(before + 5);
  });
});
