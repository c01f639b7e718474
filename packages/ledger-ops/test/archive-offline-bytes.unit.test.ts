/**
 * `verify --archive` (verifyArchive), offline, on an archive built here
 * without NATS exactly as `archive` writes one: a flipped byte anywhere in
 * the archive must be detected and named (docs/proofs.md "Retention and
 * archival"), including in the files and manifest members that are not the
 * segments' records: the cut's `checkpoint-<size>.note`, a segment entry's
 * `records` count and its lower anchor's signed note.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MerkleAccumulator, formatExportLine, genesisHash, sealEvent, signCheckpoint, signerFromSeed, verifierOf } from '@hwledger/chain';
import { ARCHIVE_FORMAT, genesisTreeAnchor, treeAnchorToJson, verifyArchive, type ArchiveManifest, type TreeAnchor } from '@hwledger/ledger-ops';
import { testEvent } from './chain-fixture.js';

const CHAIN = 'arc-off-1';
const signer = signerFromSeed('hwl-archive-offline', new Uint8Array(32).fill(7));
const keys = [verifierOf(signer)];
const pad = (n: bigint): string => n.toString().padStart(20, '0');

let root: string;

/** Writes an archive of records 1..cuts[last] cut at each of `cuts`, as archiveChain lays it out. */
function writeArchive(dir: string, cuts: bigint[]): void {
  const chainDir = join(dir, CHAIN);
  let prev = genesisHash(CHAIN);
  const acc = new MerkleAccumulator();
  const manifest: ArchiveManifest = { format: ARCHIVE_FORMAT, chain_id: CHAIN, segments: [] };
  let lower: TreeAnchor = genesisTreeAnchor(CHAIN);
  for (const cut of cuts) {
    const lines: string[] = [];
    for (let s = lower.sequence + 1n; s <= cut; s++) {
      const r = sealEvent(testEvent(Number(s), `${CHAIN}/node-1`), { chainId: CHAIN, sequence: s, sealedAtMs: 1_700_000_000_000n + s }, prev);
      acc.append(r.hash);
      prev = r.hash;
      lines.push(formatExportLine({ record: r.record, canonical: r.canonical, hash: r.hash, prevHash: r.prevHash }));
    }
    const note = signCheckpoint({ chainId: CHAIN, sequence: cut, headHash: prev, rootHash: acc.root(), timeMs: 1n }, [signer]).note;
    const file = `segment-${pad(lower.sequence + 1n)}-${pad(cut)}.jsonl.gz`;
    const gz = gzipSync(lines.join('\n') + '\n');
    writeFileSync(join(chainDir, file), gz);
    writeFileSync(join(chainDir, `checkpoint-${pad(cut)}.note`), note);
    const upper: TreeAnchor = { chainId: CHAIN, sequence: cut, hash: prev, compact: acc.snapshot().nodes.map((n) => n.hash), note };
    manifest.segments.push({
      file,
      first: (lower.sequence + 1n).toString(),
      last: cut.toString(),
      records: lines.length,
      sha256: createHash('sha256').update(gz).digest('hex'),
      lower: treeAnchorToJson(lower),
      upper: treeAnchorToJson(upper),
    });
    lower = upper;
  }
  writeFileSync(join(chainDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'hwl-archive-offline-'));
});
afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

/** A fresh archive of records 1..100 in two segments (cuts at 40 and 100). */
function build(name: string): string {
  const dir = join(root, name);
  mkdirSync(join(dir, CHAIN), { recursive: true });
  writeArchive(dir, [40n, 100n]);
  return dir;
}

const flipIn = (text: string, at: number): string => text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);

describe('verifyArchive on an archive written offline', () => {
  it('passes the intact archive', async () => {
    const dir = build('intact');
    const r = await verifyArchive(dir, CHAIN, keys);
    expect(r.archive).toMatchObject({ ok: true, verified: 100 });
  });

  it("a flipped byte in a cut's checkpoint-<size>.note file is detected and named", async () => {
    const dir = build('note-file');
    const p = join(dir, CHAIN, `checkpoint-${pad(40n)}.note`);
    const note = readFileSync(p, 'utf8');
    writeFileSync(p, flipIn(note, note.indexOf('\n\n') + 8)); // inside the signature line
    const r = await verifyArchive(dir, CHAIN, keys);
    expect(r.archive.ok).toBe(false);
    if (!r.archive.ok) expect(r.archive.file).toBe(`checkpoint-${pad(40n)}.note`);
  });

  it("a segment entry's records count that differs from its records is detected", async () => {
    const dir = build('records-count');
    const p = join(dir, CHAIN, 'manifest.json');
    const m = JSON.parse(readFileSync(p, 'utf8')) as ArchiveManifest;
    m.segments[1]!.records = 61;
    writeFileSync(p, JSON.stringify(m, null, 2) + '\n');
    const r = await verifyArchive(dir, CHAIN, keys);
    expect(r.archive).toMatchObject({ ok: false, reason: 'segment_mismatch', sequence: 41n });
  });

  it("a flipped byte in a segment's lower anchor note (the previous cut's) is detected", async () => {
    const dir = build('lower-note');
    const p = join(dir, CHAIN, 'manifest.json');
    const m = JSON.parse(readFileSync(p, 'utf8')) as ArchiveManifest;
    const note = m.segments[1]!.lower.note!;
    m.segments[1]!.lower.note = flipIn(note, note.indexOf('\n\n') + 8);
    writeFileSync(p, JSON.stringify(m, null, 2) + '\n');
    const r = await verifyArchive(dir, CHAIN, keys);
    expect(r.archive).toMatchObject({ ok: false, reason: 'segment_mismatch', sequence: 41n });
  });
});
