/**
 * ManagedProcess.stop() on a process that has already exited while a
 * child of it still holds its output pipes (a server killed by the OOM killer
 * or crashing while its workers live on; a wrapper script that backgrounds
 * the real server). `running` is false then (the 'exit' event came), but
 * `exited` waits for 'close' (the pipes), so stop() awaits it with no timeout
 * and no group kill: it never returned, and the stack runner's shutdown hung
 * (found in a review). Now the group kill after the timeout applies there too.
 * Real processes.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManagedProcess } from '../src/managed-process.js';

const dir = mkdtempSync(join(tmpdir(), 'hwl-mp-stop-'));
const strays: number[] = [];
afterAll(() => {
  for (const pid of strays) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('ManagedProcess.stop()', () => {
  it('returns (killing the group) when the process already exited but a child of it still holds its output', async () => {
    const logFile = join(dir, 'exited.log');
    const p = new ManagedProcess({ name: 'exited', command: '/bin/sh', args: ['-c', 'sleep 600 & echo "CHILD $!"; exit 3'], logFile });
    let child = 0;
    for (let i = 0; i < 100 && (!child || p.running); i++) {
      await new Promise((r) => setTimeout(r, 50));
      child = Number(/CHILD (\d+)/.exec(readFileSync(logFile, 'utf8'))?.[1] ?? 0);
    }
    expect(child).toBeGreaterThan(0);
    strays.push(child);
    expect(p.running).toBe(false); // the shell is gone; its child lives on with the pipes
    const stopped = await Promise.race([p.stop(300).then(() => 'stopped'), new Promise((r) => setTimeout(() => r('hung'), 5_000))]);
    expect(stopped).toBe('stopped');
  });
});
