/**
 * A flushed.json that still parses but does not describe this outbox
 * (damaged digits, a copy from another outbox) must not make the outbox
 * discard acknowledged, never-published frames (found in a review: it
 * deleted every segment, or skipped every pending frame). docs/agent.md: an
 * unreadable offset file means "replay everything" (dedup by Nats-Msg-Id).
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Outbox, type OutboxEntry } from '@hwledger/agent';

const dirs: string[] = [];
const newDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'hwl-flushed-bad-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const entry = (i: number): OutboxEntry => ({ msgId: `m-${i}`, body: new Uint8Array(20).fill(i), events: 1 });

async function pendingIn(dir: string): Promise<string[]> {
  const box = await Outbox.open(dir);
  const out: string[] = [];
  for (;;) {
    const e = await box.peek();
    if (!e) break;
    out.push(e.msgId);
    await box.commit();
  }
  await box.close();
  return out;
}

describe('flushed.json inconsistent with the segments', () => {
  it('a flushed.json naming a segment newer than any on disk does not delete the pending segment', async () => {
    const dir = newDir();
    const box = await Outbox.open(dir);
    await box.append([entry(1), entry(2), entry(3)]); // acknowledged: fsync'd, never published
    await box.close();
    // One damaged digit ("1" -> "2"): still valid JSON.
    writeFileSync(join(dir, 'flushed.json'), JSON.stringify({ segment: 2, offset: 0 }) + '\n');
    expect(await Outbox.readPending(dir)).toHaveLength(3);
    expect(await pendingIn(dir)).toEqual(['m-1', 'm-2', 'm-3']);
    expect(readdirSync(dir).filter((n) => n.startsWith('segment-'))).not.toHaveLength(0);
  });

  it('a flushed.json whose offset lies past the end of its segment does not drop the pending frames', async () => {
    const dir = newDir();
    const box = await Outbox.open(dir);
    await box.append([entry(1), entry(2), entry(3)]);
    await box.close();
    writeFileSync(join(dir, 'flushed.json'), JSON.stringify({ segment: 1, offset: 900000 }) + '\n');
    expect(await pendingIn(dir)).toEqual(['m-1', 'm-2', 'm-3']);
  });
});
