/**
 * Retention and archival that keeps the chain verifiable (issue 6; seed 000
 * "Retention & Archival", whose DELETE would break verification):
 *
 * 1. the cut is the latest signed checkpoint older than the retention
 *    period (never the chain's last record: the sequencer resumes from it);
 * 2. records after the previous cut up to the cut are written as a gzip
 *    JSONL segment in the spec's export format, verified on the way (every
 *    hash recomputed, the cut checkpoint's head and Merkle root reproduced),
 *    with the bounding checkpoints, and a manifest (SHA-256 of every
 *    segment, the tree anchor below and at each cut) is replaced atomically;
 * 3. the cut is stored as the chain's new anchor (KV hwl_checkpoints,
 *    `<chain>.anchor`: sequence, hash, compact range, signed note), so live
 *    verification and proofs start from it;
 * 4. only then are the records purged from the chain stream (a prefix purge:
 *    the stream keeps deny_delete) and deleted from the Postgres `records`
 *    table; rollups are untouched. Given a database URL, every run checks
 *    that the projector has read past the cut before it purges or deletes,
 *    whichever run wrote the cut (an earlier --keep run, a crash).
 *
 * Re-running after a crash at any step redoes only what is missing: a cut
 * already in the manifest is not written again, and purge/delete are
 * idempotent.
 *
 *   <dir>/<chain>/manifest.json
 *   <dir>/<chain>/segment-<first:20>-<last:20>.jsonl.gz
 *   <dir>/<chain>/checkpoint-<size:20>.note
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, fsyncSync, mkdirSync, openSync, closeSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { once } from 'node:events';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { createGunzip, createGzip } from 'node:zlib';
import type { Logger } from 'pino';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import { constantTimeEqual, formatExportLine, toHex, type NoteVerifier } from '@hwledger/chain';
import { HwlError, silentLogger, streams } from '@hwledger/core';
import { chainStreamState } from '@hwledger/sequencer';
import { CheckpointLog, type StoredCheckpoint } from './checkpoint-log.js';
import { walkChain, ChainIntegrityError } from './chain-walk.js';
import { MAX_SEGMENT_LINE_BYTES } from './bounded-lines.js';
import { feedSegmentLines } from './segment-lines.js';
import { lockDir } from './dir-lock.js';
import { kvKeys } from './names.js';
import { SegmentVerifier, type SegmentFailure, type SegmentVerifySuccess } from './segment-verifier.js';
import { checkTreeAnchor, genesisTreeAnchor, treeAnchorFromJson, treeAnchorToJson, type TreeAnchor, type TreeAnchorJson } from './tree-anchor.js';

const pad = (n: bigint): string => n.toString().padStart(20, '0');
export const ARCHIVE_FORMAT = 'hwledger-archive/v1';

export interface ArchiveSegmentEntry {
  file: string;
  first: string;
  last: string;
  records: number;
  sha256: string;
  lower: TreeAnchorJson;
  upper: TreeAnchorJson;
}

export interface ArchiveManifest {
  format: typeof ARCHIVE_FORMAT;
  chain_id: string;
  segments: ArchiveSegmentEntry[];
}

export interface ArchiveOptions {
  nc: NatsConnection;
  chainId: string;
  dir: string;
  /** Archive records covered by checkpoints older than this (ms). */
  olderThanMs: number;
  /** Never cut beyond this sequence. */
  upto?: bigint;
  /** Postgres URL: delete archived rows from `records` (after checking the projector is past the cut). */
  databaseUrl?: string;
  /** Keys the cut checkpoint must be signed by. */
  trusted?: NoteVerifier[];
  /** Write the archive but do not purge or delete (dry run of step 4). */
  keep?: boolean;
  logger?: Logger;
  now?: () => number;
}

export interface ArchiveResult {
  /** The new cut (anchor), or the previous one when nothing was due. */
  cut: bigint;
  archived: number;
  segment?: string;
  purged: number;
  deletedRows: number;
}

function writeDurable(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Makes a directory's entries (renames and new files in it) durable: fsync of the directory itself. */
function fsyncDir(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A signed checkpoint note is a few hundred bytes: a larger note file is refused unread. */
const MAX_NOTE_BYTES = 1024 * 1024;

/** Manifests are small (a few hundred bytes per segment): a larger file is refused unread. */
const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads `<dir>/<chain>/manifest.json` (undefined when there is none). The
 * file is not trusted: anything but a manifest of this chain whose segments
 * are objects is refused (INTEGRITY); the segments' fields are checked by
 * their users (checkSegmentEntry).
 */
export function readManifest(dir: string, chainId: string): ArchiveManifest | undefined {
  const p = join(dir, chainId, 'manifest.json');
  if (!existsSync(p)) return undefined;
  const st = statSync(p);
  if (!st.isFile()) throw new HwlError('INTEGRITY', `${p} is not a regular file`);
  if (st.size > MAX_MANIFEST_BYTES) throw new HwlError('INTEGRITY', `${p} is larger than ${MAX_MANIFEST_BYTES} bytes: not a manifest`);
  let m: unknown;
  try {
    m = JSON.parse(readFileSync(p, 'utf8'));
  } catch {
    throw new HwlError('INTEGRITY', `${p} is not valid JSON`);
  }
  if (!isObject(m) || m['format'] !== ARCHIVE_FORMAT || m['chain_id'] !== chainId || !Array.isArray(m['segments'])) {
    throw new HwlError('INTEGRITY', `${p} is not a ${ARCHIVE_FORMAT} manifest of chain ${chainId}`);
  }
  const segments = m['segments'] as unknown[];
  const bad = segments.findIndex((s) => !isObject(s));
  if (bad >= 0) throw new HwlError('INTEGRITY', `${p}: segment entry #${bad + 1} is not an object`);
  return m as unknown as ArchiveManifest;
}

/**
 * Why a manifest segment entry cannot be used (undefined: it can): `file`
 * must be a relative path inside the chain's archive directory (no absolute
 * path, no `..` escaping it, no NUL), the other fields of the right types.
 */
export function checkSegmentEntry(seg: unknown): string | undefined {
  if (!isObject(seg)) return 'the entry is not an object';
  const file = seg['file'];
  if (typeof file !== 'string' || file === '') return 'its file is not a non-empty string';
  if (file.includes('\0') || isAbsolute(file) || /^[a-zA-Z]:|^[\\/]/.test(file)) return `its file ${JSON.stringify(file)} is not a relative path`;
  const parts = file.split(/[\\/]/);
  if (parts.some((x) => x === '..')) return `its file ${JSON.stringify(file)} leaves the archive directory`;
  for (const k of ['first', 'last', 'sha256'] as const) if (typeof seg[k] !== 'string') return `its ${k} is not a string`;
  if (!isObject(seg['lower']) || !isObject(seg['upper'])) return 'its lower or upper anchor is not an object';
  return undefined;
}

/** `dir/file`, provided it is a regular file whose real path is inside `dir` (a symlink must not lead out). */
function segmentPathInside(dir: string, file: string): { path: string } | { missing: true } | { outside: string } {
  const below = (rel: string): boolean => rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
  const path = resolve(dir, file);
  if (!below(relative(resolve(dir), path))) return { outside: `${JSON.stringify(file)} is not inside the archive directory` };
  if (!existsSync(path)) return { missing: true };
  if (!below(relative(realpathSync(dir), realpathSync(path)))) return { outside: `${JSON.stringify(file)} leads outside the archive directory (symbolic link)` };
  if (!statSync(path).isFile()) return { outside: `${JSON.stringify(file)} is not a regular file` };
  return { path };
}

/** The latest checkpoint with time < threshold and size <= cap (binary search; times grow with the log). */
async function findCut(cpl: CheckpointLog, thresholdMs: bigint, cap: bigint): Promise<StoredCheckpoint | undefined> {
  let lo = 1;
  let hi = await cpl.lastStreamSeq();
  let best: StoredCheckpoint | undefined;
  while (lo <= hi) {
    const mid = Math.floor((lo + hi) / 2);
    const c = await cpl.get(mid);
    if (!c) break;
    if (c.checkpoint.timeMs < thresholdMs && c.checkpoint.sequence <= cap) {
      best = c;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Archives what is due, then purges it from the stream and Postgres. */
export async function archiveChain(opts: ArchiveOptions): Promise<ArchiveResult> {
  const log = (opts.logger ?? silentLogger()).child({ component: 'archive', chain: opts.chainId });
  const { nc, chainId } = opts;
  const dir = join(opts.dir, chainId);
  mkdirSync(dir, { recursive: true });
  const unlock = lockDir(dir);
  try {
    const manifest: ArchiveManifest = readManifest(opts.dir, chainId) ?? { format: ARCHIVE_FORMAT, chain_id: chainId, segments: [] };
    const lastSeg = manifest.segments.at(-1);
    const lastSegIssue = lastSeg ? checkSegmentEntry(lastSeg) : undefined;
    if (lastSegIssue) throw new HwlError('INTEGRITY', `${join(dir, 'manifest.json')}: last segment entry: ${lastSegIssue}`);
    const lower: TreeAnchor = lastSeg ? treeAnchorFromJson(lastSeg.upper, 'manifest') : genesisTreeAnchor(chainId);
    if (lower.chainId !== chainId) throw new HwlError('INTEGRITY', `${join(dir, 'manifest.json')}: the last cut is of chain ${JSON.stringify(lower.chainId)}, not ${chainId}`);
    const cpl = await CheckpointLog.open(nc, chainId);
    const stream = await chainStreamState(nc, chainId);
    if (!lastSeg && stream.messages > 0 && stream.first > 1n) {
      throw new HwlError('CONFLICT', `chain ${chainId} starts at ${stream.first}: its prefix was archived elsewhere (use that archive directory)`);
    }
    const now = BigInt((opts.now ?? Date.now)());
    let cap = stream.last - 1n; // the head record stays: the sequencer resumes from it
    if (opts.upto !== undefined && opts.upto < cap) cap = opts.upto;
    const cutCp = await findCut(cpl, now - BigInt(opts.olderThanMs), cap);
    const result: ArchiveResult = { cut: lower.sequence, archived: 0, purged: 0, deletedRows: 0 };
    let anchor = lower;
    /** The projector was seen at or past this sequence (0n: not checked). */
    let projectorPast = 0n;
    if (cutCp && cutCp.checkpoint.sequence > lower.sequence) {
      if (opts.databaseUrl) projectorPast = await checkProjector(opts.databaseUrl, chainId, cutCp.checkpoint.sequence);
      anchor = await writeSegment(nc, dir, lower, cutCp, opts.trusted ?? [], manifest, log);
      writeDurable(join(opts.dir, chainId, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
      result.archived = Number(anchor.sequence - lower.sequence);
      result.segment = manifest.segments.at(-1)!.file;
      log.info({ from: (lower.sequence + 1n).toString(), to: anchor.sequence.toString() }, 'archived');
    }
    result.cut = anchor.sequence;
    if (anchor.sequence === 0n) return result;
    // The renames of the segment, its note and the manifest (this run's or a crashed run's) are durable
    // only once their directory is fsynced, and the chain directory only once the root is: before the
    // anchor moves and the stream is purged (durable elsewhere at once), so a power loss cannot undo them.
    fsyncDir(dir);
    fsyncDir(opts.dir);
    // Step 3: the anchor moves forward only.
    const curJson = await cpl.getJson<unknown>(kvKeys.anchor(chainId));
    let cur: TreeAnchor | undefined;
    if (curJson !== undefined) {
      cur = treeAnchorFromJson(curJson, `the archive anchor of ${chainId} in KV`);
      if (cur.chainId !== chainId) throw new HwlError('INTEGRITY', `the archive anchor of ${chainId} in KV names chain ${JSON.stringify(cur.chainId)}`);
    }
    if (!cur || cur.sequence < anchor.sequence) await cpl.putJson(kvKeys.anchor(chainId), treeAnchorToJson(anchor));
    if (opts.keep) return result;
    // Step 4: purge the stream prefix (messages with sequence < cut + 1) and the raw rows. Whatever
    // run wrote the cut (an earlier `--keep` run, a run without --db, a crashed one), the projector
    // must have read past it first: what is purged is gone for it.
    if (opts.databaseUrl && projectorPast < anchor.sequence) await checkProjector(opts.databaseUrl, chainId, anchor.sequence);
    const jsm = await jetstreamManager(nc);
    const before = await chainStreamState(nc, chainId);
    if (before.messages > 0 && before.first <= anchor.sequence) {
      const r = await jsm.streams.purge(streams.chain(chainId), { seq: Number(anchor.sequence + 1n) });
      result.purged = r.purged;
    }
    if (opts.databaseUrl) result.deletedRows = await deleteRows(opts.databaseUrl, chainId, anchor);
    await cpl
      .putJson(kvKeys.archive(chainId), { dir: opts.dir, cut: anchor.sequence.toString(), segments: manifest.segments.length, purged: result.purged, deleted_rows: result.deletedRows, at_ms: Date.now() })
      .catch(() => undefined);
    return result;
  } finally {
    unlock();
  }
}

async function writeSegment(
  nc: NatsConnection,
  dir: string,
  lower: TreeAnchor,
  cut: StoredCheckpoint,
  trusted: readonly NoteVerifier[],
  manifest: ArchiveManifest,
  log: Logger,
): Promise<TreeAnchor> {
  const first = lower.sequence + 1n;
  const last = cut.checkpoint.sequence;
  const file = `segment-${pad(first)}-${pad(last)}.jsonl.gz`;
  const path = join(dir, file);
  const tmp = `${path}.tmp`;
  // Verified on the way: the segment reproduces the cut checkpoint or nothing is written.
  const v = new SegmentVerifier(lower, [{ note: cut.note, source: `checkpoint at ${last}` }], trusted);
  if (v.failed) throw new HwlError('INTEGRITY', v.failed.message);
  const gz = createGzip({ level: 6 });
  const out = createWriteStream(tmp);
  gz.pipe(out);
  let n = 0;
  try {
    for await (const r of walkChain(nc, lower, { toSeq: last })) {
      const line = formatExportLine({ record: r.record, canonical: r.canonical, hash: r.hash, prevHash: r.prevHash });
      const f = v.pushLine(line, file, ++n);
      if (f) throw new HwlError('INTEGRITY', `record ${f.sequence}: ${f.reason}: ${f.message}`);
      if (!gz.write(line + '\n')) await once(gz, 'drain');
    }
  } catch (e) {
    gz.destroy();
    out.destroy();
    rmSync(tmp, { force: true });
    if (e instanceof ChainIntegrityError) throw e;
    throw e;
  }
  gz.end();
  await once(out, 'finish');
  const done = v.finish({ requireAll: true });
  if (!done.ok) {
    rmSync(tmp, { force: true });
    throw new HwlError('INTEGRITY', `archive of ${first}..${last} does not reproduce the checkpoint at ${last}: ${done.message}`);
  }
  const fd = openSync(tmp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, path);
  writeDurable(join(dir, `checkpoint-${pad(last)}.note`), cut.note);
  const upper: TreeAnchor = { chainId: lower.chainId, sequence: last, hash: cut.checkpoint.headHash, compact: v.compactRange(), note: cut.note };
  checkTreeAnchor(upper, trusted);
  manifest.segments.push({ file, first: first.toString(), last: last.toString(), records: n, sha256: await sha256File(path), lower: treeAnchorToJson(lower), upper: treeAnchorToJson(upper) });
  log.debug({ file, records: n }, 'segment written');
  return upper;
}

/** Refuses (CONFLICT) unless the projector has read `chainId` up to `cut`; returns where it is. */
async function checkProjector(url: string, chainId: string, cut: bigint): Promise<bigint> {
  const c = new pg.Client({ connectionString: url });
  await c.connect().catch((e: unknown) => {
    throw new HwlError('PG_UNREACHABLE', `cannot reach Postgres: ${e instanceof Error ? e.message : String(e)}`);
  });
  try {
    const r = await c.query<{ sequence: string }>('SELECT sequence::text FROM projector_checkpoints WHERE chain_id = $1', [chainId]).catch(() => ({ rows: [] as { sequence: string }[] }));
    const at = r.rows[0] ? BigInt(r.rows[0].sequence) : 0n;
    if (at < cut) throw new HwlError('CONFLICT', `the projector has read ${chainId} only up to ${at}; archiving up to ${cut} would lose records it has not projected (run the projector first)`);
    return at;
  } finally {
    await c.end();
  }
}

/**
 * Deletes the chain's `records` rows up to the cut, after recording the cut
 * (sequence and verified head hash) in `archived_prefixes` (projector
 * migration 006; moving forward only), so the API's VerifyRange can start
 * the rows still stored from it. A database migrated before 006 has no such
 * table: the rows are deleted as before.
 */
async function deleteRows(url: string, chainId: string, cut: TreeAnchor): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  let total = 0;
  try {
    await c
      .query(
        `INSERT INTO archived_prefixes (chain_id, sequence, hash) VALUES ($1, $2, $3)
           ON CONFLICT (chain_id) DO UPDATE SET sequence = EXCLUDED.sequence, hash = EXCLUDED.hash, archived_at = now()
           WHERE archived_prefixes.sequence < EXCLUDED.sequence`,
        [chainId, cut.sequence.toString(), Buffer.from(cut.hash)],
      )
      .catch((e: unknown) => {
        if ((e as { code?: string }).code !== '42P01') throw e; // undefined_table: a schema before migration 006
      });
    for (;;) {
      const r = await c.query(
        'DELETE FROM records WHERE ctid IN (SELECT ctid FROM records WHERE chain_id = $1 AND sequence <= $2 LIMIT 10000)',
        [chainId, cut.sequence.toString()],
      );
      total += r.rowCount ?? 0;
      if ((r.rowCount ?? 0) === 0) break;
    }
  } finally {
    await c.end();
  }
  return total;
}

export interface ArchiveReport {
  chainId: string;
  segments: number;
  archive: SegmentVerifySuccess | SegmentFailure;
  /** The archive's last cut (undefined when empty). */
  cut?: TreeAnchor;
}

/**
 * Verifies an archive offline: the segments follow each other (each lower
 * anchor is the previous upper one), each file matches its SHA-256, every
 * line's hash is recomputed from its canonical bytes, and each segment ends
 * exactly at its cut checkpoint (head and Merkle root); the cut notes are
 * checked with the trusted keys. The first problem is named: sequence,
 * reason, segment file and line.
 */
export async function verifyArchive(
  root: string,
  chainId: string,
  trusted: readonly NoteVerifier[] = [],
  opts: { /** Longest segment line accepted (default MAX_SEGMENT_LINE_BYTES, as `verify --file`). */ maxLineBytes?: number } = {},
): Promise<ArchiveReport> {
  const maxLineBytes = opts.maxLineBytes ?? MAX_SEGMENT_LINE_BYTES;
  const manifest = readManifest(root, chainId);
  if (!manifest) throw new HwlError('NOT_FOUND', `no archive of chain ${chainId} in ${root}`);
  const dir = join(root, chainId);
  let prev: TreeAnchor = genesisTreeAnchor(chainId);
  let verified = 0;
  let checked = 0;
  const failAt = (sequence: bigint, reason: SegmentFailure['reason'], message: string, file?: string, line?: number): ArchiveReport => ({
    chainId,
    segments: manifest.segments.length,
    archive: { ok: false, sequence, reason, message, file, line },
  });
  for (const [i, seg] of manifest.segments.entries()) {
    const entryIssue = checkSegmentEntry(seg);
    if (entryIssue) return failAt(prev.sequence + 1n, 'segment_mismatch', `manifest segment entry #${i + 1}: ${entryIssue}`, typeof seg.file === 'string' ? seg.file : undefined);
    let lower: TreeAnchor;
    let upper: TreeAnchor;
    try {
      lower = treeAnchorFromJson(seg.lower, `${seg.file} lower anchor`);
      upper = treeAnchorFromJson(seg.upper, `${seg.file} upper anchor`);
    } catch (e) {
      return failAt(prev.sequence + 1n, 'checkpoint_mismatch', e instanceof Error ? e.message : String(e), seg.file);
    }
    if (lower.chainId !== chainId || upper.chainId !== chainId) {
      return failAt(prev.sequence + 1n, 'wrong_chain', `segment ${seg.file}: its anchors are of chain ${JSON.stringify(lower.chainId !== chainId ? lower.chainId : upper.chainId)}, not ${chainId}`, seg.file);
    }
    try {
      checkTreeAnchor(upper, trusted);
    } catch (e) {
      return failAt(prev.sequence + 1n, 'checkpoint_mismatch', e instanceof Error ? e.message : String(e), seg.file);
    }
    if (
      lower.sequence !== prev.sequence ||
      !constantTimeEqual(lower.hash, prev.hash) ||
      lower.compact.length !== prev.compact.length ||
      lower.compact.some((c, i) => !constantTimeEqual(c, prev.compact[i]!)) ||
      lower.note !== prev.note // the previous cut's signed note, copied: a changed byte in it is a change to the archive
    ) {
      return failAt(prev.sequence + 1n, 'segment_mismatch', `segment ${seg.file} does not start where the previous one ended (${prev.sequence})`, seg.file);
    }
    if (seg.first !== (lower.sequence + 1n).toString() || seg.last !== upper.sequence.toString()) {
      return failAt(lower.sequence + 1n, 'segment_mismatch', `segment ${seg.file}: manifest range ${seg.first}..${seg.last} does not fit its anchors`, seg.file);
    }
    const where = segmentPathInside(dir, seg.file);
    if ('missing' in where) return failAt(lower.sequence + 1n, 'gap', `segment ${seg.file} is missing`, seg.file);
    if ('outside' in where) return failAt(lower.sequence + 1n, 'segment_mismatch', `segment ${where.outside}: refused`, seg.file);
    const path = where.path;
    const v = new SegmentVerifier(lower, [{ note: upper.note!, source: `${seg.file} upper checkpoint` }], trusted);
    const input = createReadStream(path);
    const gunzip = createGunzip();
    let readError: Error | undefined;
    let zlibError: Error | undefined;
    input.on('error', (e) => {
      readError = e;
      gunzip.destroy(e);
    });
    input.pipe(gunzip);
    // A line over the cap fails the verifier; any other error is a read or inflate error.
    const { lastLine: n, error } = await feedSegmentLines(v, gunzip, seg.file, maxLineBytes);
    if (error && !readError) zlibError = error;
    input.destroy();
    gunzip.destroy();
    if (readError) throw new HwlError('UNAVAILABLE', `cannot read segment ${path}: ${readError.message}`);
    if (v.failed) return { chainId, segments: manifest.segments.length, archive: v.failed };
    if (zlibError) return failAt(v.expected, 'corrupt_compression', `segment ${seg.file} does not decompress after sequence ${v.head.sequence}: ${zlibError.message}`, seg.file, n);
    const done = v.finish({ requireAll: true });
    if (!done.ok) return { chainId, segments: manifest.segments.length, archive: done };
    if (!constantTimeEqual(v.head.hash, upper.hash)) return failAt(upper.sequence, 'checkpoint_mismatch', `segment ${seg.file} ends at hash ${toHex(v.head.hash)}, not its cut ${toHex(upper.hash)}`, seg.file);
    const sha = await sha256File(path);
    if (sha !== seg.sha256) return failAt(lower.sequence + 1n, 'segment_checksum', `segment ${seg.file} (records ${seg.first}..${seg.last}) has SHA-256 ${sha}, the manifest says ${seg.sha256}`, seg.file);
    if (seg.records !== done.verified) {
      return failAt(lower.sequence + 1n, 'segment_mismatch', `segment ${seg.file}: the manifest counts ${JSON.stringify(seg.records)} records, the segment holds ${done.verified}`, seg.file);
    }
    // The cut's note file (archiveChain writes it before the manifest names the segment) must be the signed note verified above.
    const noteFile = `checkpoint-${pad(upper.sequence)}.note`;
    const notePath = segmentPathInside(dir, noteFile);
    if ('missing' in notePath) return failAt(upper.sequence, 'checkpoint_mismatch', `the cut's note ${noteFile} is missing`, noteFile);
    if ('outside' in notePath) return failAt(upper.sequence, 'checkpoint_mismatch', `the cut's note ${notePath.outside}: refused`, noteFile);
    if (statSync(notePath.path).size > MAX_NOTE_BYTES || readFileSync(notePath.path, 'utf8') !== upper.note) {
      return failAt(upper.sequence, 'checkpoint_mismatch', `the cut's note ${noteFile} differs from the signed checkpoint the manifest holds for ${seg.file}`, noteFile);
    }
    verified += done.verified;
    checked += done.checkpointsChecked;
    prev = upper;
  }
  return {
    chainId,
    segments: manifest.segments.length,
    archive: { ok: true, verified, head: { sequence: prev.sequence, hash: prev.hash }, checkpointsChecked: checked },
    cut: prev.sequence > 0n ? prev : undefined,
  };
}
