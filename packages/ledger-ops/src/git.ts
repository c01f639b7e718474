/** The `git` CLI, run in a replica directory (never a shell; arguments passed as a list). */
import { spawnSync } from 'node:child_process';
import { HwlError } from '@hwledger/core';

const IDENTITY = ['-c', 'user.name=hwledger', '-c', 'user.email=hwledger@localhost', '-c', 'commit.gpgsign=false', '-c', 'core.autocrlf=false'];

export function git(dir: string, args: string[], opts: { allowFail?: boolean; input?: string } = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('git', [...IDENTITY, ...args], {
    cwd: dir,
    encoding: 'utf8',
    input: opts.input,
    maxBuffer: 1024 * 1024 * 256,
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' },
  });
  if (r.error) throw new HwlError('CONFIG', `cannot run git (is it installed?): ${r.error.message}`);
  const res = { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
  if (res.code !== 0 && !opts.allowFail) throw new HwlError('UNAVAILABLE', `git ${args.join(' ')} failed in ${dir}: ${res.stderr.trim()}`);
  return res;
}

export function hasHead(dir: string): boolean {
  return git(dir, ['rev-parse', '--verify', '-q', 'HEAD'], { allowFail: true }).code === 0;
}
