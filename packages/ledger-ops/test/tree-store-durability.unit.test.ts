/**
 * The proof tree store (FileMerkleStore): its meta.json records how many
 * leaves are durable. After a power loss it must not go back to a smaller
 * size whose records the stream may no longer hold (archival purges them),
 * so the rename that replaces it is followed by an fsync of its folder. A
 * damaged meta.json is a typed INTEGRITY error naming the way out, not a
 * SyntaxError. File-system calls are observed through a mock of node:fs
 * that forwards to the real one.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createHash } from 'node:crypto';
import { HwlError } from '@hwledger/core';
import { FileMerkleStore } from '@hwledger/ledger-ops';

type FsEvent = { op: 'fsync'; path: string } | { op: 'rename'; to: string };
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

const work = mkdtempSync(join(tmpdir(), 'hwl-tree-durable-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('FileMerkleStore', () => {
  it('fsyncs its folder after replacing meta.json', () => {
    const dir = join(work, 'store');
    const store = FileMerkleStore.open(dir, 'td');
    for (let i = 0; i < 10; i++) store.append(new Uint8Array(createHash('sha256').update(String(i)).digest()));
    events.log.length = 0;
    events.on = true;
    store.flush();
    events.on = false;
    store.close();
    const meta = resolve(dir, 'meta.json');
    const renamed = events.log.findIndex((e) => e.op === 'rename' && e.to === meta);
    expect(renamed).toBeGreaterThanOrEqual(0);
    const dirSynced = events.log.findIndex((e, i) => i > renamed && e.op === 'fsync' && e.path === resolve(dir));
    expect(dirSynced, JSON.stringify(events.log)).toBeGreaterThan(renamed);
    expect(FileMerkleStore.open(dir, 'td').size).toBe(10n);
  });

  it('refuses a damaged meta.json with a typed error', () => {
    const dir = join(work, 'damaged');
    FileMerkleStore.open(dir, 'td').close();
    writeFileSync(join(dir, 'meta.json'), '{"chain_id": "td", "size": ');
    let err: unknown;
    try {
      FileMerkleStore.open(dir, 'td');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HwlError);
    expect((err as HwlError).code).toBe('INTEGRITY');
    expect((err as HwlError).message).toMatch(/rebuild the store/);
  });
});
