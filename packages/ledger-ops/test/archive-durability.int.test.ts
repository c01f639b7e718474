/**
 * Archival purges the chain stream (on another machine, durable at once) only
 * after the archive is durable on this one: the segment, the cut's note and
 * the manifest are fsynced, and so are the directory entries their renames
 * made (the chain directory) and the chain directory's own entry (the archive
 * root). Without the directory fsyncs a power loss after the purge can undo
 * the renames: the records are gone from the stream and missing from the
 * manifest (or the segment file itself is gone).
 *
 * The file-system calls are observed through a mock of node:fs that forwards
 * to the real one; the purge request through a proxy on the NATS connection.
 */
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateSigner, verifierOf } from '@hwledger/chain';
import { chainStreamState } from '@hwledger/sequencer';
import { useNatsServer } from '@hwledger/testkit';
import { archiveChain, verifyArchive } from '@hwledger/ledger-ops';
import { ChainWriter, checkpointWriter } from './chain-fixture.js';

type FsEvent = { op: 'fsync'; path: string } | { op: 'rename'; to: string } | { op: 'purge' };
const events = vi.hoisted(() => ({ on: false, log: [] as FsEvent[] }));

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const fdPath = (fd: number): string => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return `fd:${fd}`;
    }
  };
  const fsyncSync = (fd: number): void => {
    if (events.on) events.log.push({ op: 'fsync', path: fdPath(fd) });
    fs.fsyncSync(fd);
  };
  const renameSync = (from: import('node:fs').PathLike, to: import('node:fs').PathLike): void => {
    fs.renameSync(from, to);
    if (events.on) events.log.push({ op: 'rename', to: resolve(String(to)) });
  };
  return { ...fs, default: { ...fs, fsyncSync, renameSync }, fsyncSync, renameSync };
});

const nats = useNatsServer({ clientName: 'archive-durability-test' });
const key = generateSigner('hwl-archive-durability');
const keys = [verifierOf(key)];
let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'hwl-archive-durability-'));
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The connection, with every stream purge request logged in order with the fs events. */
function observedPurges(nc: NatsConnection): NatsConnection {
  return new Proxy(nc, {
    get(target, prop) {
      const v: unknown = Reflect.get(target, prop, target);
      if (prop === 'request' && typeof v === 'function') {
        return (subject: string, ...rest: unknown[]) => {
          if (events.on && subject.startsWith('$JS.API.STREAM.PURGE.')) events.log.push({ op: 'purge' });
          return (v as (...a: unknown[]) => unknown).call(target, subject, ...rest);
        };
      }
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe('archive durability before the purge', () => {
  it('fsyncs the chain directory after the last rename into it, and the archive root, before purging', async () => {
    const chain = 'ard-1';
    const w = await ChainWriter.open(nats.nc, chain);
    await w.append(1_200);
    await checkpointWriter(nats.nc, w, key, 500);
    const root = join(work, 'archive');
    events.log.length = 0;
    events.on = true;
    let r;
    try {
      r = await archiveChain({ nc: observedPurges(nats.nc), chainId: chain, dir: root, olderThanMs: 0, trusted: keys });
    } finally {
      events.on = false;
    }
    expect(r.cut).toBe(1_000n);
    expect(r.purged).toBe(1_000);
    expect((await chainStreamState(nats.nc, chain)).first).toBe(1_001n);
    expect((await verifyArchive(root, chain, keys)).archive.ok).toBe(true);

    const chainDir = realpathSync(join(root, chain));
    const purgeAt = events.log.findIndex((e) => e.op === 'purge');
    expect(purgeAt).toBeGreaterThan(0);
    const before = events.log.slice(0, purgeAt);
    const lastRenameInto = before.map((e, i) => (e.op === 'rename' && e.to.startsWith(chainDir + '/') ? i : -1)).reduce((a, b) => Math.max(a, b), -1);
    expect(before[lastRenameInto]).toEqual({ op: 'rename', to: join(chainDir, 'manifest.json') });
    // The renames (segment, note, manifest) reach the disk before the records leave the stream.
    const dirSynced = before.findIndex((e, i) => i > lastRenameInto && e.op === 'fsync' && e.path === chainDir);
    expect(dirSynced, JSON.stringify(before.map((e) => (e.op === 'fsync' ? `fsync ${e.path}` : e.op === 'rename' ? `rename ${e.to}` : e.op)))).toBeGreaterThan(lastRenameInto);
    // So does the chain directory itself (created by this run in the archive root).
    expect(before.some((e) => e.op === 'fsync' && e.path === realpathSync(root))).toBe(true);
  });
});
