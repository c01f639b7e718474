/**
 * Git replication (issue 6; seed 000 "Distributed Event Ledger"): appends
 * the chain's new records to a git repository as JSONL segments in the
 * spec's export format, plus every signed checkpoint they cover, one commit
 * per batch:
 *
 *   <dir>/<chain>/segments/<first:20>-<last:20>.jsonl   records first..last
 *   <dir>/<chain>/checkpoints/<size:20>.note            signed checkpoint notes
 *   <dir>/<chain>/anchor.json                           only if the replica starts
 *                                                       after an archived prefix
 *
 * Idempotent and crash-safe: the resume point is read from the committed
 * content (HEAD), never from a side file; anything a crash left uncommitted
 * (a segment written but not committed, a staged index) is discarded and
 * rewritten from the chain, so nothing is appended twice and nothing is
 * lost. History is never rewritten: files are only ever added, and a replica
 * whose committed files were modified, or whose last record does not link to
 * the live chain, is refused (INTEGRITY) instead of "repaired".
 */
import { appendFileSync, closeSync, createReadStream, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { NatsConnection } from '@nats-io/transport-node';
import { formatExportLine, parseExportLine, type NoteVerifier } from '@hwledger/chain';
import { HwlError, silentLogger } from '@hwledger/core';
import { chainStreamState } from '@hwledger/sequencer';
import { lastLineOfFile, MAX_SEGMENT_LINE_BYTES } from './bounded-lines.js';
import { feedSegmentLines } from './segment-lines.js';
import { CheckpointLog } from './checkpoint-log.js';
import { requireBoundKeys } from './checkpoint.js';
import { walkChain } from './chain-walk.js';
import { lockDir } from './dir-lock.js';
import { git, hasHead } from './git.js';
import { kvKeys } from './names.js';
import { SegmentVerifier, type ExpectedCheckpoint, type SegmentFailure, type SegmentVerifySuccess } from './segment-verifier.js';
import { checkTreeAnchor, genesisTreeAnchor, treeAnchorFromJson, treeAnchorToJson, type TreeAnchor, type TreeAnchorJson } from './tree-anchor.js';

const pad = (n: bigint): string => n.toString().padStart(20, '0');
const SEGMENT_RE = /^([0-9]{20})-([0-9]{20})\.jsonl$/;
const NOTE_RE = /^([0-9]{20})\.note$/;

export interface ReplicateOptions {
  nc: NatsConnection;
  chainId: string;
  dir: string;
  /** Records per commit (default 10,000). */
  batch?: number;
  /** Keys the archive anchor must be signed by, when the replica starts at one. */
  trusted?: NoteVerifier[];
  logger?: Logger;
  /** Test-only fault injection: SIGKILL this process at a point of a batch. */
  crash?: { batch: number; point: 'after-write' | 'after-add' };
}

export interface ReplicateResult {
  commits: number;
  records: number;
  checkpoints: number;
  /** Last replicated sequence. */
  head: bigint;
}

interface ReplicaState {
  anchor: TreeAnchor;
  anchorCommitted: boolean;
  last: bigint;
  head: Uint8Array;
  lastCheckpoint: bigint;
}

function writeDurable(path: string, text: string): void {
  const fd = openSync(path, 'w', 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The last line of a segment, read from its end with the line cap (never the whole file). */
function lastLine(path: string): string {
  const line = lastLineOfFile(path, path, MAX_SEGMENT_LINE_BYTES);
  if (line === undefined) throw new HwlError('INTEGRITY', `segment ${path} is empty`);
  return line;
}

/** anchor.json holds one tree anchor (a compact range of at most 64 hashes and a signed note). */
const MAX_ANCHOR_BYTES = 1024 * 1024;

/**
 * Reads a replica's anchor.json. The file is not trusted: anything but a
 * well-formed tree anchor is an HwlError INTEGRITY naming it (its chain,
 * sequence and signature are checked by the callers).
 */
/** Largest checkpoint note read from a replica (a signed note is a few hundred bytes; as archive.ts). */
const MAX_NOTE_BYTES = 1024 * 1024;

function readAnchorFile(path: string, where: string): TreeAnchor {
  const st = statSync(path);
  if (!st.isFile()) throw new HwlError('INTEGRITY', `${where} is not a regular file`);
  if (st.size > MAX_ANCHOR_BYTES) throw new HwlError('INTEGRITY', `${where} is larger than ${MAX_ANCHOR_BYTES} bytes: not a tree anchor`);
  let j: unknown;
  try {
    j = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new HwlError('INTEGRITY', `${where} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  return treeAnchorFromJson(j, where);
}

/** Puts the working tree back to HEAD for this chain's files: discards what a crash left uncommitted. */
function recover(dir: string, chainId: string, log: Logger): void {
  const lock = join(dir, '.git', 'index.lock');
  if (existsSync(lock)) {
    log.warn('removing a stale .git/index.lock left by a crashed commit');
    rmSync(lock, { force: true });
  }
  if (hasHead(dir)) {
    git(dir, ['reset', '-q']); // index := HEAD (staged-but-uncommitted files become untracked)
    const modified = git(dir, ['diff', '--name-only', '--', chainId]).stdout.trim();
    if (modified) throw new HwlError('INTEGRITY', `replica ${dir} has local changes to committed files (${modified.split('\n').slice(0, 3).join(', ')}): refusing to replicate onto it`);
  } else {
    git(dir, ['rm', '-r', '-q', '--cached', '--ignore-unmatch', '--', chainId]);
  }
  const untracked = git(dir, ['ls-files', '--others', '--exclude-standard', '-z', '--', chainId]).stdout.split('\0').filter((f) => f !== '');
  for (const f of untracked) {
    log.info({ file: f }, 'discarding an uncommitted file from an interrupted batch');
    rmSync(join(dir, f), { force: true });
  }
}

/** The resume point, from the committed files of this chain. */
function readState(dir: string, chainId: string): ReplicaState {
  const files = hasHead(dir) ? git(dir, ['ls-tree', '-r', '--name-only', 'HEAD', '--', chainId]).stdout.split('\n').filter((f) => f !== '') : [];
  let anchor = genesisTreeAnchor(chainId);
  let anchorCommitted = false;
  if (files.includes(`${chainId}/anchor.json`)) {
    anchor = readAnchorFile(join(dir, chainId, 'anchor.json'), `${chainId}/anchor.json`);
    if (anchor.chainId !== chainId) throw new HwlError('INTEGRITY', `${chainId}/anchor.json is an anchor of chain ${JSON.stringify(anchor.chainId)}, not ${chainId}: refusing to replicate onto it`);
    anchorCommitted = true;
  }
  let last = anchor.sequence;
  let head = anchor.hash;
  let lastFile: string | undefined;
  let lastCheckpoint = 0n;
  for (const f of files) {
    const name = f.slice(f.lastIndexOf('/') + 1);
    const s = SEGMENT_RE.exec(name);
    if (s && f === `${chainId}/segments/${name}` && BigInt(s[2]!) > last) {
      last = BigInt(s[2]!);
      lastFile = f;
    }
    const c = NOTE_RE.exec(name);
    if (c && f === `${chainId}/checkpoints/${name}` && BigInt(c[1]!) > lastCheckpoint) lastCheckpoint = BigInt(c[1]!);
  }
  if (lastFile) {
    const e = parseExportLine(lastLine(join(dir, lastFile)));
    if (e.sequence !== last) throw new HwlError('INTEGRITY', `replica segment ${lastFile} ends at ${e.sequence}, its name says ${last}`);
    head = e.hash;
  }
  return { anchor, anchorCommitted, last, head, lastCheckpoint };
}

/** Replicates the chain's new records and checkpoints into the git repository at `dir` until caught up. */
export async function replicateToGit(opts: ReplicateOptions): Promise<ReplicateResult> {
  const log = (opts.logger ?? silentLogger()).child({ component: 'replicate', chain: opts.chainId });
  const { dir, chainId, nc } = opts;
  const batch = BigInt(Math.max(1, opts.batch ?? 10_000));
  mkdirSync(dir, { recursive: true });
  if (!existsSync(join(dir, '.git'))) git(dir, ['init', '-q']);
  const unlock = lockDir(dir);
  const result: ReplicateResult = { commits: 0, records: 0, checkpoints: 0, head: 0n };
  try {
    const exclude = join(dir, '.git', 'info', 'exclude');
    mkdirSync(join(dir, '.git', 'info'), { recursive: true });
    // The directory lock's files (.hwledger.lock, .hwledger.lock.<pid>.<token>.held) are not the replica's.
    if (!existsSync(exclude) || !readFileSync(exclude, 'utf8').split('\n').includes('.hwledger.lock*')) appendFileSync(exclude, '\n.hwledger.lock*\n');
    recover(dir, chainId, log);
    const state = readState(dir, chainId);
    const cpl = await CheckpointLog.open(nc, chainId);
    // One run replicates up to the head as it is now: on a live chain, chasing
    // the head would never end (each commit takes longer than records take to
    // arrive) and would cut ever smaller segments. --follow runs again.
    const target = (await chainStreamState(nc, chainId)).last;
    let batchNo = 0;
    for (;;) {
      const stream = await chainStreamState(nc, chainId);
      if (state.last === 0n && !state.anchorCommitted && stream.messages > 0 && stream.first > 1n) {
        // The chain's prefix was archived before this replica began: start at the archive anchor.
        const j = await cpl.getJson<TreeAnchorJson>(kvKeys.anchor(chainId));
        if (!j) throw new HwlError('NOT_FOUND', `chain ${chainId} starts at ${stream.first} and has no archive anchor: replicate its archive instead`);
        const a = treeAnchorFromJson(j, 'archive anchor');
        checkTreeAnchor(a, opts.trusted ?? []);
        state.anchor = a;
        state.last = a.sequence;
        state.head = a.hash;
      }
      const from = state.last + 1n;
      const head = stream.last < target ? stream.last : target;
      const to = head < state.last + batch ? head : state.last + batch;
      batchNo++;
      mkdirSync(join(dir, chainId, 'segments'), { recursive: true });
      mkdirSync(join(dir, chainId, 'checkpoints'), { recursive: true });
      if (!state.anchorCommitted && state.anchor.sequence > 0n) writeDurable(join(dir, chainId, 'anchor.json'), JSON.stringify(treeAnchorToJson(state.anchor), null, 2) + '\n');
      let lines: string[] = [];
      let newHead = state.head;
      if (to >= from) {
        lines = [];
        for await (const r of walkChain(nc, { chainId, sequence: state.last, hash: state.head }, { toSeq: to })) {
          lines.push(formatExportLine({ record: r.record, canonical: r.canonical, hash: r.hash, prevHash: r.prevHash }));
          newHead = r.hash;
        }
        writeDurable(join(dir, chainId, 'segments', `${pad(from)}-${pad(to)}.jsonl`), lines.join('\n') + '\n');
      }
      const covered = to >= from ? to : state.last;
      let notes = 0;
      let lastCp = state.lastCheckpoint;
      const start = state.lastCheckpoint > 0n ? ((await cpl.atOrBefore(state.lastCheckpoint))?.streamSeq ?? 0) + 1 : 1;
      for await (const c of cpl.all(start)) {
        const size = c.checkpoint.sequence;
        if (size > covered) break;
        if (size <= state.lastCheckpoint || size <= state.anchor.sequence) continue;
        writeDurable(join(dir, chainId, 'checkpoints', `${pad(size)}.note`), c.note);
        lastCp = size;
        notes++;
      }
      if (lines.length === 0 && notes === 0 && (state.anchorCommitted || state.anchor.sequence === 0n)) break;
      if (opts.crash?.batch === batchNo && opts.crash.point === 'after-write') process.kill(process.pid, 'SIGKILL');
      git(dir, ['add', '--', chainId]);
      if (opts.crash?.batch === batchNo && opts.crash.point === 'after-add') process.kill(process.pid, 'SIGKILL');
      const what = lines.length > 0 ? `records ${from}..${to}` : 'checkpoints';
      git(dir, ['commit', '-q', '-m', `hwledger ${chainId}: ${what}${notes > 0 ? ` (+${notes} checkpoint${notes > 1 ? 's' : ''})` : ''}`]);
      result.commits++;
      result.records += lines.length;
      result.checkpoints += notes;
      if (lines.length > 0) {
        state.last = to;
        state.head = newHead;
      }
      state.lastCheckpoint = lastCp;
      state.anchorCommitted = true;
      log.info({ from: from.toString(), to: covered.toString(), checkpoints: notes }, 'replica commit');
      if (covered >= head && lines.length === 0) break;
    }
    result.head = state.last;
    const commit = hasHead(dir) ? git(dir, ['rev-parse', 'HEAD']).stdout.trim() : '';
    await cpl
      .putJson(kvKeys.replica(chainId), { dir, last_sequence: state.last.toString(), last_checkpoint: state.lastCheckpoint.toString(), commit, at_ms: Date.now() })
      .catch(() => undefined);
    return result;
  } finally {
    unlock();
  }
}

export interface ReplicaReport {
  chainId: string;
  result: SegmentVerifySuccess | SegmentFailure;
  segments: number;
  /** Files not committed (the replica is checked as it is on disk). */
  uncommitted: string[];
}

/** Feeds a segment's lines to `v`; a line longer than the cap fails it (never buffered whole). */
async function verifyLines(v: SegmentVerifier, path: string, file: string): Promise<void> {
  const input = createReadStream(path);
  try {
    const { error } = await feedSegmentLines(v, input, file, MAX_SEGMENT_LINE_BYTES);
    if (error) throw error;
  } finally {
    input.destroy();
  }
}

/**
 * Verifies a git replica: segments contiguous and in order, every hash
 * recomputed, every checkpoint (signature and root) checked.
 *
 * Every checkpoint note must be covered by the segments: a note beyond the
 * last record is `truncated` (threat: the last segment files deleted, the
 * notes kept, so the shorter replica would still verify). Notes can never
 * legitimately be ahead: replicateToGit writes a note only in the batch whose
 * segment covers it (size <= the batch's last record), after that segment
 * is written, and recovery deletes leftover notes first (`checkpoints/`
 * sorts before `segments/`); so in every commit, and on disk after any crash,
 * the notes stop at or before the last record. A replica that lags the chain
 * has no note beyond its end and passes.
 */
export async function verifyGitReplica(dir: string, opts: { chainId?: string; trusted?: NoteVerifier[] } = {}): Promise<ReplicaReport[]> {
  if (!existsSync(dir)) throw new HwlError('NOT_FOUND', `replica ${dir} does not exist`);
  // A chain with notes but no segments folder left is a replica too (git keeps no empty folder).
  const isReplica = (d: string): boolean => existsSync(join(dir, d, 'segments')) || existsSync(join(dir, d, 'checkpoints'));
  const chains = opts.chainId ? [opts.chainId] : readdirSync(dir).filter(isReplica);
  if (chains.length === 0) throw new HwlError('NOT_FOUND', `no chain replica in ${dir}`);
  // A named chain the replica holds nothing of is not "0 records verified" (a mistyped chain, a wrong directory).
  if (opts.chainId && !isReplica(opts.chainId) && !existsSync(join(dir, opts.chainId, 'anchor.json'))) {
    throw new HwlError('NOT_FOUND', `no replica of chain ${opts.chainId} in ${dir}`);
  }
  // Several chains (counted as verified here, checkpoint-only folders too): unbound keys could sign for any of them.
  requireBoundKeys(opts.trusted ?? [], chains, `replica ${dir}`);
  const reports: ReplicaReport[] = [];
  for (const chainId of chains) {
    const base = join(dir, chainId);
    let anchor = genesisTreeAnchor(chainId);
    const fail = (r: SegmentFailure['reason'], m: string, f?: string): ReplicaReport => ({ chainId, result: { ok: false, sequence: 0n, reason: r, message: m, file: f }, segments: 0, uncommitted: [] });
    if (existsSync(join(base, 'anchor.json'))) {
      try {
        anchor = readAnchorFile(join(base, 'anchor.json'), `${chainId}/anchor.json`);
        if (anchor.chainId !== chainId) {
          reports.push(fail('wrong_chain', `${chainId}/anchor.json is an anchor of chain ${JSON.stringify(anchor.chainId)}, not ${chainId}`, `${chainId}/anchor.json`));
          continue;
        }
        checkTreeAnchor(anchor, opts.trusted ?? []);
      } catch (e) {
        reports.push(fail('checkpoint_mismatch', e instanceof Error ? e.message : String(e), `${chainId}/anchor.json`));
        continue;
      }
    }
    const expected: ExpectedCheckpoint[] = [];
    const cpDir = join(base, 'checkpoints');
    let badNote: ReplicaReport | undefined;
    for (const f of existsSync(cpDir) ? readdirSync(cpDir).sort() : []) {
      if (!NOTE_RE.test(f)) continue;
      // Attacker-supplied like every file here: a regular file of at most MAX_NOTE_BYTES, checked before it is read
      // (a sparse file of gigabytes, a FIFO or a link to /dev/zero would be read whole, or hang).
      const where = `${chainId}/checkpoints/${f}`;
      const st = lstatSync(join(cpDir, f));
      if (!st.isFile() || st.size > MAX_NOTE_BYTES) {
        badNote = fail('bad_signature', `${where} is ${st.isFile() ? `larger than ${MAX_NOTE_BYTES} bytes` : 'not a regular file'}: not a checkpoint note`, where);
        break;
      }
      expected.push({ note: readFileSync(join(cpDir, f), 'utf8'), source: where, file: where });
    }
    if (badNote) {
      reports.push(badNote);
      continue;
    }
    const v = new SegmentVerifier(anchor, expected, opts.trusted ?? []);
    const segDir = join(base, 'segments');
    const segs = existsSync(segDir) ? readdirSync(segDir).filter((f) => SEGMENT_RE.test(f)).sort() : [];
    for (const f of segs) {
      if (v.failed) break;
      const m = SEGMENT_RE.exec(f)!;
      const first = BigInt(m[1]!);
      const last = BigInt(m[2]!);
      const file = `${chainId}/segments/${f}`;
      if (first !== v.expected) {
        v.fail(v.expected, first > v.expected ? 'gap' : 'duplicate', `segment ${f} starts at ${first}, expected ${v.expected}`, file);
        break;
      }
      await verifyLines(v, join(base, 'segments', f), file);
      if (!v.failed && v.head.sequence !== last) v.fail(v.expected, 'segment_mismatch', `segment ${f} ends at ${v.head.sequence}, its name says ${last}`, file);
    }
    // Every checkpoint note must be covered by the segments: one past the end is `truncated` (see above).
    const result = v.finish({ ends: 'the replica ends' });
    let uncommitted: string[] = [];
    if (existsSync(join(dir, '.git'))) {
      uncommitted = git(dir, ['status', '--porcelain', '--', chainId], { allowFail: true }).stdout.split('\n').filter((l) => l !== '');
    }
    reports.push({ chainId, result, segments: segs.length, uncommitted });
  }
  return reports;
}

