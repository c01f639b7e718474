/**
 * Retention and archival on a real nats-server and Postgres: an archived
 * segment verifies against its checkpoints, a flipped byte is named
 * (sequence + reason), the stream and the `records` table are purged up to
 * the cut while rollups stay, the live chain verifies from the new anchor,
 * proofs still work after the cut, and a sequencer keeps sealing on top.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { headers } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { generateSigner, genesisHash, verifierOf } from '@hwledger/chain';
import { HEADERS, subjects } from '@hwledger/core';
import { encodeIngestBatch } from '@hwledger/proto';
import { Projector, migrate } from '@hwledger/projector';
import { Sequencer, chainStreamState } from '@hwledger/sequencer';
import { useNatsServer, useTestDatabase, waitFor } from '@hwledger/testkit';
import {
  Checkpointer,
  archiveChain,
  loadArchiveAnchor,
  proveInclusion,
  verifyArchive,
  verifyLiveFromAnchor,
  verifyProofBundle,
} from '@hwledger/ledger-ops';
import { ChainWriter, checkpointWriter, testEvent } from './chain-fixture.js';

const nats = useNatsServer({ clientName: 'archive-test' });
const db = useTestDatabase({ setup: (pool) => migrate(pool) });
let work: string;
const key = generateSigner('hwl-archive-test');
const keys = [verifierOf(key)];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hwl-archive-'));
});

afterAll(async () => {
  if (work) rmSync(work, { recursive: true, force: true });
});

async function checkpointAll(_chain: string, w: ChainWriter, every = 1_000): Promise<void> {
  await checkpointWriter(nats.nc, w, key, every);
}

async function count(sql: string, params: unknown[]): Promise<number> {
  const r = await db.pool.query<{ n: string }>(sql, params);
  return Number(r.rows[0]!.n);
}

describe('archive', () => {
  const chain = 'arc-1';
  const dir = () => join(work, 'archive');

  it('archives up to the latest old-enough checkpoint, purges stream and records rows, keeps rollups', async () => {
    const w = await ChainWriter.open(nats.nc, chain);
    await w.append(5_200);
    await checkpointAll(chain, w);
    const projector = new Projector({ pool: db.pool, nc: nats.nc, chainId: chain, exitAtHead: true }).start();
    await projector.done;
    expect(await count('SELECT count(*) AS n FROM records WHERE chain_id = $1', [chain])).toBe(5_200);
    const usageBefore = await db.pool.query('SELECT * FROM tenant_usage_hourly WHERE chain_id = $1 ORDER BY tenant, window_start_ms', [chain]);
    expect(usageBefore.rows.length).toBeGreaterThan(0);

    const r = await archiveChain({ nc: nats.nc, chainId: chain, dir: dir(), olderThanMs: 0, upto: 3_500n, databaseUrl: db.db.url, trusted: keys });
    expect(r.cut).toBe(3_000n); // the latest checkpoint at or below 3500
    expect(r.archived).toBe(3_000);
    expect(r.purged).toBe(3_000);
    expect(r.deletedRows).toBe(3_000);
    const state = await chainStreamState(nats.nc, chain);
    expect(state.first).toBe(3_001n);
    expect(await count('SELECT count(*) AS n FROM records WHERE chain_id = $1 AND sequence <= 3000', [chain])).toBe(0);
    expect(await count('SELECT count(*) AS n FROM records WHERE chain_id = $1', [chain])).toBe(2_200);
    const usageAfter = await db.pool.query('SELECT * FROM tenant_usage_hourly WHERE chain_id = $1 ORDER BY tenant, window_start_ms', [chain]);
    expect(usageAfter.rows).toEqual(usageBefore.rows);
    // The cut is kept beside the rows it replaced (the API's VerifyRange starts from it).
    const prefix = async (): Promise<[string, string] | undefined> => {
      const p = await db.pool.query<{ sequence: string; hash: Buffer }>('SELECT sequence, hash FROM archived_prefixes WHERE chain_id = $1', [chain]);
      return p.rows[0] ? [p.rows[0].sequence, p.rows[0].hash.toString('hex')] : undefined;
    };
    expect(await prefix()).toEqual(['3000', Buffer.from(w.hashes[2_999]!).toString('hex')]);

    // The anchor in KV is the cut, signed.
    const anchor = await loadArchiveAnchor(nats.nc, chain, keys);
    expect(anchor?.sequence).toBe(3_000n);

    // The archive verifies offline, and the live chain from the new anchor.
    const rep = await verifyArchive(dir(), chain, keys);
    expect(rep.archive.ok).toBe(true);
    expect(rep.archive.ok && rep.archive.verified).toBe(3_000);
    const live = await verifyLiveFromAnchor(nats.nc, chain, { trusted: keys });
    expect(live.anchor.sequence).toBe(3_000n);
    expect(live.result.ok).toBe(true);
    expect(live.result.ok && live.result.verified).toBe(2_200);
    expect(live.result.ok && live.result.checkpointsChecked).toBe(3); // 4000, 5000, 5200

    // Re-running is idempotent: nothing new is due below 3500.
    const again = await archiveChain({ nc: nats.nc, chainId: chain, dir: dir(), olderThanMs: 0, upto: 3_500n, databaseUrl: db.db.url, trusted: keys });
    expect(again).toMatchObject({ cut: 3_000n, archived: 0, purged: 0, deletedRows: 0 });

    // A second archive run appends a segment from the previous cut.
    const second = await archiveChain({ nc: nats.nc, chainId: chain, dir: dir(), olderThanMs: 0, upto: 4_999n, databaseUrl: db.db.url, trusted: keys });
    expect(second).toMatchObject({ cut: 4_000n, archived: 1_000, purged: 1_000, deletedRows: 1_000 });
    expect(await prefix()).toEqual(['4000', Buffer.from(w.hashes[3_999]!).toString('hex')]);
    const rep2 = await verifyArchive(dir(), chain, keys);
    expect(rep2.archive.ok && rep2.archive.verified).toBe(4_000);
    expect((await verifyLiveFromAnchor(nats.nc, chain, { trusted: keys })).result.ok).toBe(true);
  });

  it('a record appended to the live chain that does not link to the anchor is named', async () => {
    // Without the anchor, the live chain is unverifiable from genesis: records are gone.
    const live = await verifyLiveFromAnchor(nats.nc, chain, { anchor: { chainId: chain, sequence: 0n, hash: genesisHash(chain), compact: [] } });
    expect(live.result.ok).toBe(false);
    expect(!live.result.ok && live.result.reason).toBe('gap');
    expect(!live.result.ok && live.result.sequence).toBe(1n);
  });

  it('names the sequence and reason of a flipped byte anywhere in a segment', async () => {
    const src = join(dir(), chain);
    const seg = readdirSync(src).find((f) => f.startsWith('segment-00000000000000000001-'))!;
    const bytes = readFileSync(join(src, seg));
    const seen = new Set<string>();
    // Flip bytes across the file (header, deflate body, trailer): each is detected and named with its documented reason.
    // gzip (RFC 1952): ID1 ID2 CM FLG MTIME(4) XFL OS | deflate | CRC32(4) ISIZE(4). zlib checks neither MTIME,
    // XFL nor OS: only the manifest's SHA-256 sees them. It checks CRC32 and ISIZE at the end of the stream.
    // A flip in FLG (3) or in the deflate data changes what inflates, or stops it: which record or line goes
    // bad first depends on the bytes (typically corrupt_compression, hash_mismatch or malformed_line), but it
    // is never segment_checksum: a changed output fails CRC32 at the latest (it detects every single-bit error).
    const inData = 'a record, a line or corrupt_compression';
    const expected: [number, string[] | typeof inData][] = [
      [3, inData],
      [4, ['segment_checksum']],
      [6, ['segment_checksum']],
      [8, ['segment_checksum']],
      [9, ['segment_checksum']],
      [20, inData],
      [Math.floor(bytes.length * 0.25), inData],
      [Math.floor(bytes.length * 0.5), inData],
      [Math.floor(bytes.length * 0.9), inData],
      [bytes.length - 6, ['corrupt_compression']], // CRC32
      [bytes.length - 2, ['corrupt_compression']], // ISIZE
    ];
    for (const [pos, reasons] of expected) {
      const copy = join(work, `tamper-${pos}`);
      mkdirSync(join(copy, chain), { recursive: true });
      for (const f of readdirSync(src)) copyFileSync(join(src, f), join(copy, chain, f));
      const bad = Buffer.from(bytes);
      bad[pos] = bad[pos]! ^ 0x10;
      writeFileSync(join(copy, chain, seg), bad);
      const rep = await verifyArchive(copy, chain, keys);
      expect(rep.archive.ok, `flip at ${pos}`).toBe(false);
      if (!rep.archive.ok) {
        expect(rep.archive.sequence, `flip at ${pos}`).toBeGreaterThanOrEqual(1n);
        expect(rep.archive.sequence, `flip at ${pos}`).toBeLessThanOrEqual(3_000n);
        expect(rep.archive.file).toBe(seg);
        if (reasons === inData) expect(rep.archive.reason, `flip at ${pos}: ${rep.archive.message}`).not.toBe('segment_checksum');
        else expect(reasons, `flip at ${pos}: ${rep.archive.reason}: ${rep.archive.message}`).toContain(rep.archive.reason);
        if (rep.archive.reason === 'segment_checksum') {
          expect(rep.archive.sequence, `flip at ${pos}`).toBe(1n);
          expect(rep.archive.message).toMatch(/records 1\.\.3000\) has SHA-256 [0-9a-f]{64}, the manifest says/);
        }
        if (rep.archive.reason === 'corrupt_compression') expect(rep.archive.message, `flip at ${pos}`).toMatch(/does not decompress after sequence/);
        seen.add(rep.archive.reason);
      }
    }
    expect(seen).toContain('segment_checksum');
    expect(seen).toContain('corrupt_compression');

    // A record edited inside the (re-compressed) segment is named at its exact sequence.
    const { gunzipSync, gzipSync } = await import('node:zlib');
    const lines = gunzipSync(bytes).toString('utf8').split('\n');
    const line = JSON.parse(lines[1_233]!) as { canonical: string; sequence: string };
    expect(line.sequence).toBe('1234');
    const c = line.canonical;
    line.canonical = c.slice(0, -1) + (c.endsWith('0') ? '1' : '0');
    lines[1_233] = JSON.stringify(line);
    const copy = join(work, 'tamper-record');
    mkdirSync(join(copy, chain), { recursive: true });
    for (const f of readdirSync(src)) copyFileSync(join(src, f), join(copy, chain, f));
    writeFileSync(join(copy, chain, seg), gzipSync(Buffer.from(lines.join('\n'))));
    const rep = await verifyArchive(copy, chain, keys);
    expect(rep.archive, JSON.stringify(rep.archive, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).toMatchObject({ ok: false, sequence: 1234n, reason: 'hash_mismatch', file: seg, line: 1234 });
  });

  it('refuses an archive whose cut checkpoint is signed by another key', async () => {
    const rep = await verifyArchive(dir(), chain, [verifierOf(generateSigner('someone-else'))]);
    expect(rep.archive).toMatchObject({ ok: false, reason: 'checkpoint_mismatch' });
    expect(!rep.archive.ok && rep.archive.message).toMatch(/no signature by a trusted key/);
  });

  it('proves records after the cut from a fresh tree store seeded at the anchor', async () => {
    const bundle = await proveInclusion({ nc: nats.nc, chainId: chain, treeDir: join(work, 'trees'), trusted: keys }, 4_321n);
    const v = verifyProofBundle(bundle, keys);
    expect(v.type === 'hwledger.inclusion-proof.v1' && v.sequence).toBe(4_321n);
    await expect(proveInclusion({ nc: nats.nc, chainId: chain, treeDir: join(work, 'trees'), trusted: keys }, 10n)).rejects.toThrow(/archived/);
  });

  it('a sequencer and its checkpointer carry on after the purge', async () => {
    const before = await chainStreamState(nats.nc, chain);
    const cp = new Checkpointer({ nc: nats.nc, chainId: chain, signers: [key], everyRecords: 100, intervalMs: 0 });
    await cp.start();
    const seq = new Sequencer({ nc: nats.nc, chainId: chain, registry: new Registry(), takeoverGraceMs: 0, onSealed: (s) => cp.onSealed(s), onResume: (t) => cp.onResume(t) });
    await seq.start();
    const js = jetstream(nats.nc);
    const h = headers();
    h.set(HEADERS.msgId, 'after-purge');
    // The fixture's tail claims event 0 of ingest message 1, which this stream never held:
    // the sequencer sees that message 1 holds another event and consumes the stream from its start.
    const events = Array.from({ length: 300 }, (_, i) => testEvent(900_000 + i, `${chain}/node-9`));
    await js.publish(subjects.ingest(chain, 'node-9'), encodeIngestBatch(events), { headers: h });
    await waitFor(async () => (await chainStreamState(nats.nc, chain)).last >= before.last + 300n, 30_000, 100, 'sealed after purge');
    await seq.stop();
    await cp.stop({ flush: true });
    expect(cp.failure).toBeUndefined();
    const live = await verifyLiveFromAnchor(nats.nc, chain, { trusted: keys });
    expect(live.result.ok).toBe(true);
    expect(live.result.ok && live.result.head.sequence).toBe(before.last + 300n);
  });
});
