/**
 * Archival against what it must not trust, on a real nats-server and
 * Postgres: every purge/delete waits for the projector to pass the cut (also
 * a cut written by an earlier `--keep` run); a manifest that is `null`, has
 * a non-object segment, a non-string file, an absolute path, a `../` path or
 * a symbolic link leading out is refused with a stable code or a named
 * failure, never read outside the archive directory; a segment that inflates
 * to one huge line is refused at the line cap (`line_too_long`, file and
 * line); malformed KV values (latest checkpoint, archive anchor) are
 * INTEGRITY errors.
 */
import { copyFileSync, cpSync, createWriteStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGzip } from 'node:zlib';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigner, verifierOf } from '@hwledger/chain';
import { Projector, migrate } from '@hwledger/projector';
import { chainStreamState } from '@hwledger/sequencer';
import { useNatsServer, useTestDatabase } from '@hwledger/testkit';
import { CheckpointLog, archiveChain, kvKeys, openCheckpointBucket, readManifest, verifyArchive } from '@hwledger/ledger-ops';
import { ChainWriter, checkpointWriter } from './chain-fixture.js';

const nats = useNatsServer({ clientName: 'archive-hardening-test' });
const db = useTestDatabase({ setup: (pool) => migrate(pool) });
let work: string;
const key = generateSigner('hwl-archive-hardening');
const keys = [verifierOf(key)];
const chain = 'arh-1';
const archiveDir = (): string => join(work, 'archive');

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hwl-archive-hardening-'));
});

afterAll(async () => {
  if (work) rmSync(work, { recursive: true, force: true });
});

async function rows(chainId: string): Promise<number> {
  const r = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM records WHERE chain_id = $1', [chainId]);
  return Number(r.rows[0]!.n);
}

async function project(chainId: string): Promise<void> {
  await new Projector({ pool: db.pool, nc: nats.nc, chainId, exitAtHead: true }).start().done;
}

/** A copy of the archive (chain directory only) whose manifest is `edit(manifest)`. */
function copyWithManifest(name: string, edit: (m: Record<string, unknown> & { segments: Record<string, unknown>[] }) => unknown): string {
  const root = join(work, name);
  cpSync(join(archiveDir(), chain), join(root, chain), { recursive: true });
  const p = join(root, chain, 'manifest.json');
  const m = JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown> & { segments: Record<string, unknown>[] };
  writeFileSync(p, JSON.stringify(edit(m)));
  return root;
}

const segmentName = (): string => readdirSync(join(archiveDir(), chain)).find((f) => f.startsWith('segment-'))!;
const show = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));

describe('the projector check guards every purge and delete', () => {
  it('a cut written by a --keep run is not purged by a later run while the projector is behind it', async () => {
    const w = await ChainWriter.open(nats.nc, chain);
    await w.append(500);
    await project(chain);
    expect(await rows(chain)).toBe(500);
    await w.append(1_700);
    await checkpointWriter(nats.nc, w, key, 1_000);

    // `archive --keep` (no --db: nothing to check it against) writes the cut at 1000 and purges nothing.
    const kept = await archiveChain({ nc: nats.nc, chainId: chain, dir: archiveDir(), olderThanMs: 0, upto: 1_000n, keep: true, trusted: keys });
    expect(kept).toMatchObject({ cut: 1_000n, archived: 1_000, purged: 0, deletedRows: 0 });

    // `archive --db`: no new cut is due, but the purge of 1..1000 would lose 501..1000 for the projector.
    const refused = await archiveChain({ nc: nats.nc, chainId: chain, dir: archiveDir(), olderThanMs: 0, upto: 1_000n, databaseUrl: db.db.url, trusted: keys }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'CONFLICT' });
    expect((refused as Error).message).toMatch(/projector has read arh-1 only up to 500; archiving up to 1000/);
    expect((await chainStreamState(nats.nc, chain)).first).toBe(1n);
    expect(await rows(chain)).toBe(500);

    // Once the projector has passed the cut, the same run purges and deletes.
    await project(chain);
    const done = await archiveChain({ nc: nats.nc, chainId: chain, dir: archiveDir(), olderThanMs: 0, upto: 1_000n, databaseUrl: db.db.url, trusted: keys });
    expect(done).toMatchObject({ cut: 1_000n, archived: 0, purged: 1_000, deletedRows: 1_000 });
    expect((await chainStreamState(nats.nc, chain)).first).toBe(1_001n);
    expect(await rows(chain)).toBe(1_200);
    expect((await verifyArchive(archiveDir(), chain, keys)).archive).toMatchObject({ ok: true, verified: 1_000 });
  });
});

describe('a manifest is not trusted', () => {
  it('`null`, a non-object or a non-object segment entry is an INTEGRITY error', async () => {
    for (const [name, m] of [
      ['null', null],
      ['number', 7],
      ['array', []],
      ['null-segment', { format: 'hwledger-archive/v1', chain_id: chain, segments: [null] }],
    ] as const) {
      const root = copyWithManifest(`manifest-${name}`, () => m);
      let thrown: unknown;
      try {
        readManifest(root, chain);
      } catch (e) {
        thrown = e;
      }
      expect(thrown, name).toMatchObject({ code: 'INTEGRITY' });
      await expect(verifyArchive(root, chain, keys), name).rejects.toMatchObject({ code: 'INTEGRITY' });
      await expect(archiveChain({ nc: nats.nc, chainId: chain, dir: root, olderThanMs: 0, upto: 1_000n, keep: true, trusted: keys }), name).rejects.toMatchObject({ code: 'INTEGRITY' });
    }
  });

  it('a segment file that is not a string is a named failure', async () => {
    const root = copyWithManifest('file-number', (m) => {
      m.segments[0]!['file'] = 42;
      return m;
    });
    const rep = await verifyArchive(root, chain, keys);
    expect(rep.archive, show(rep.archive)).toMatchObject({ ok: false, sequence: 1n, reason: 'segment_mismatch' });
    expect(!rep.archive.ok && rep.archive.message).toMatch(/segment entry #1: its file is not a non-empty string/);
  });

  it('never reads a segment outside the archive directory: `../`, absolute paths, symbolic links', async () => {
    const seg = segmentName();
    // `../`: the (intact) segment moved next to the chain directory.
    const up = copyWithManifest('escape-up', (m) => {
      m.segments[0]!['file'] = `../outside/${seg}`;
      return m;
    });
    mkdirSync(join(up, 'outside'));
    copyFileSync(join(archiveDir(), chain, seg), join(up, 'outside', seg));
    const r1 = await verifyArchive(up, chain, keys);
    expect(r1.archive, show(r1.archive)).toMatchObject({ ok: false, reason: 'segment_mismatch', file: `../outside/${seg}` });
    expect(!r1.archive.ok && r1.archive.message).toMatch(/leaves the archive directory/);

    // An absolute path, even to the segment itself.
    const absPath = join(work, 'escape-abs', chain, seg);
    const abs = copyWithManifest('escape-abs', (m) => {
      m.segments[0]!['file'] = absPath;
      return m;
    });
    const r2 = await verifyArchive(abs, chain, keys);
    expect(r2.archive, show(r2.archive)).toMatchObject({ ok: false, reason: 'segment_mismatch' });
    expect(!r2.archive.ok && r2.archive.message).toMatch(/is not a relative path/);

    // A symbolic link in the archive directory leading out of it.
    const link = copyWithManifest('escape-link', (m) => m);
    mkdirSync(join(link, 'outside'));
    copyFileSync(join(link, chain, seg), join(link, 'outside', seg));
    rmSync(join(link, chain, seg));
    symlinkSync(join(link, 'outside', seg), join(link, chain, seg));
    const r3 = await verifyArchive(link, chain, keys);
    expect(r3.archive, show(r3.archive)).toMatchObject({ ok: false, reason: 'segment_mismatch', file: seg });
    expect(!r3.archive.ok && r3.archive.message).toMatch(/symbolic link/);

    // The untouched copy verifies (the refusals above are about the paths only).
    expect((await verifyArchive(copyWithManifest('intact', (m) => m), chain, keys)).archive).toMatchObject({ ok: true, verified: 1_000 });
  });
});

describe('segment lines are capped', () => {
  it('a small segment inflating to one line longer than 64 MiB is refused at the cap, naming file and line', async () => {
    const seg = segmentName();
    const root = copyWithManifest('bomb', (m) => m);
    // ~65 KB of gzip: 64 MiB + 1 of 'a', no newline, generated in chunks.
    const gz = createGzip({ level: 9 });
    const out = createWriteStream(join(root, chain, seg));
    gz.pipe(out);
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    for (let i = 0; i < 64; i++) if (!gz.write(chunk)) await once(gz, 'drain');
    gz.end(Buffer.from('a'));
    await once(out, 'finish');
    const rep = await verifyArchive(root, chain, keys);
    expect(rep.archive, show(rep.archive)).toMatchObject({ ok: false, sequence: 1n, reason: 'malformed_line', file: seg, line: 1 });
    expect(!rep.archive.ok && rep.archive.message).toMatch(new RegExp(`^line_too_long: line 1 of ${seg} is longer than 67108864 bytes`));
  });

  it('the cap is configurable: an intact segment with lines longer than it is refused', async () => {
    const rep = await verifyArchive(archiveDir(), chain, keys, { maxLineBytes: 100 });
    expect(rep.archive, show(rep.archive)).toMatchObject({ ok: false, sequence: 1n, reason: 'malformed_line', file: segmentName(), line: 1 });
    expect(!rep.archive.ok && rep.archive.message).toMatch(/^line_too_long: line 1 of .* is longer than 100 bytes/);
  });
});

describe('KV values are not trusted', () => {
  it('a malformed latest checkpoint in KV is an INTEGRITY error', async () => {
    const kv = await openCheckpointBucket(nats.nc);
    const log = await CheckpointLog.open(nats.nc, 'arh-kv');
    for (const v of ['{"note":"x","size":"12abc","stream_seq":1}', '{"note":"x","size":"1e3","stream_seq":1}', '{"note":"x","size":"5","stream_seq":"1"}', '{"note":7,"size":"5","stream_seq":1}', 'null', '"text"', 'not json']) {
      await kv.put(kvKeys.latest('arh-kv'), v);
      await expect(log.kvLatest(), v).rejects.toMatchObject({ code: 'INTEGRITY' });
    }
    await kv.put(kvKeys.latest('arh-kv'), '{"note":"n","size":"5","stream_seq":3}');
    expect(await log.kvLatest()).toEqual({ note: 'n', size: 5n, streamSeq: 3 });
  });

  it('a malformed archive anchor in KV stops archiving (INTEGRITY), it is not overwritten', async () => {
    const kv = await openCheckpointBucket(nats.nc);
    const good = (await kv.get(kvKeys.anchor(chain)))!.string();
    try {
      for (const v of ['{"chain_id":"arh-1","sequence":"abc","hash":"00","compact":""}', 'not json', 'null']) {
        await kv.put(kvKeys.anchor(chain), v);
        await expect(archiveChain({ nc: nats.nc, chainId: chain, dir: archiveDir(), olderThanMs: 0, upto: 1_000n, keep: true, trusted: keys }), v).rejects.toMatchObject({ code: 'INTEGRITY' });
        expect((await kv.get(kvKeys.anchor(chain)))!.string()).toBe(v);
      }
    } finally {
      await kv.put(kvKeys.anchor(chain), good);
    }
  });
});
