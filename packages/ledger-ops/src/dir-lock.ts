/**
 * An exclusive lock on a directory for one process (tree stores, git
 * replicas, archives): `<dir>/.hwledger.lock` created with O_EXCL, holding
 * the owner's pid. A lock whose process is gone (kill -9) is stale and is
 * taken over, so a crash never wedges the next run.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync, constants } from 'node:fs';
import { join } from 'node:path';
import { HwlError } from '@hwledger/core';

function alive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function lockDir(dir: string): () => void {
  const path = join(dir, '.hwledger.lock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner = NaN;
      try {
        owner = Number(readFileSync(path, 'utf8').trim());
      } catch {
        continue;
      }
      if (alive(owner) && owner !== process.pid) throw new HwlError('CONFLICT', `${dir} is in use by process ${owner} (lock ${path})`);
      rmSync(path, { force: true }); // stale: its owner died
    }
  }
  throw new HwlError('CONFLICT', `could not lock ${dir}`);
}

export async function withDirLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const unlock = lockDir(dir);
  try {
    return await fn();
  } finally {
    unlock();
  }
}
