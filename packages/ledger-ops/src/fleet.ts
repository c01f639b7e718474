/**
 * The fleet anchor (issue 6; seed 003: cross-cell order from hash links, not
 * wall clocks): one chain and sequencer per region, and a fleet-wide,
 * append-only, hash-linked log of the regions' signed checkpoints.
 *
 * Why not records on a chain: the v1 wire format fixes every record layout
 * and reserves new tags for GPU-usage variants; a region checkpoint is not a
 * usage event, would need a new tag (and a new kind for every billing
 * consumer to skip), and a checkpoint of chain A stored *in* chain A's own
 * format would tie the anchor to one region's sequencer. So the fleet anchor
 * is its own stream, HWL_FLEET_<fleet> (subject hwl.fleet.<fleet>), whose
 * entries are plain text, hash-linked like the chain:
 *
 *   hwledger-fleet/v1 <fleet>
 *   index <n>                     1, 2, 3 … = stream sequence
 *   prev <hex>                    SHA-256 of entry n-1 (n = 1: of "hwledger/fleet/genesis/v1/<fleet>")
 *   chain <chain id>
 *   <blank line>
 *   <the region's signed checkpoint note, verbatim>
 *
 * entry hash = SHA-256(entry bytes). Appends are fenced with
 * Nats-Expected-Last-Sequence (one writer), and the anchorer adds a region
 * checkpoint only after checking it is signed by a trusted key and
 * consistent with the one it anchored before (the checkpoint log's carried
 * RFC 9162 proofs). `verifyFleet` re-checks all of it and then every region
 * chain against its anchored checkpoints.
 */
import type { Logger } from 'pino';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { JetStreamApiError, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { constantTimeEqual, hashFromHex, parseSignedCheckpoint, sha256, toHex, utf8Decode, utf8Encode, verifyCheckpoint, type Checkpoint, type NoteVerifier } from '@hwledger/chain';
import { ensureStream, HEADERS, HwlError, silentLogger } from '@hwledger/core';
import { CheckpointLog, checkNext, verifyCheckpointLog, type StoredCheckpoint } from './checkpoint-log.js';
import { fleetNames, fleetStreamConfig } from './names.js';
import { readStream } from './stream-read.js';
import { keysForChain, requireBoundKeys } from './checkpoint.js';
import { verifyLiveFromAnchor, type LiveReport } from './live-verify.js';

export const FLEET_FORMAT = 'hwledger-fleet/v1';

export function fleetGenesisHash(fleet: string): Uint8Array {
  return sha256(utf8Encode(`hwledger/fleet/genesis/v1/${fleet}`));
}

export interface FleetEntry {
  fleet: string;
  index: bigint;
  prev: Uint8Array;
  chainId: string;
  note: string;
  checkpoint: Checkpoint;
  hash: Uint8Array;
}

export function formatFleetEntry(e: { fleet: string; index: bigint; prev: Uint8Array; chainId: string; note: string }): string {
  return `${FLEET_FORMAT} ${e.fleet}\nindex ${e.index}\nprev ${toHex(e.prev)}\nchain ${e.chainId}\n\n${e.note}`;
}

export function parseFleetEntry(bytes: Uint8Array): FleetEntry {
  const text = utf8Decode(bytes);
  const split = text.indexOf('\n\n');
  if (split < 0) throw new HwlError('INTEGRITY', 'fleet entry has no blank line before its note');
  const head = text.slice(0, split).split('\n');
  const m0 = /^hwledger-fleet\/v1 ([A-Za-z0-9][A-Za-z0-9_-]*)$/.exec(head[0] ?? '');
  const m1 = /^index (0|[1-9][0-9]*)$/.exec(head[1] ?? '');
  const m2 = /^prev ([0-9a-f]{64})$/.exec(head[2] ?? '');
  const m3 = /^chain ([A-Za-z0-9][A-Za-z0-9_-]*)$/.exec(head[3] ?? '');
  if (!m0 || !m1 || !m2 || !m3 || head.length !== 4) throw new HwlError('INTEGRITY', 'fleet entry header is malformed');
  const note = text.slice(split + 2);
  let checkpoint: Checkpoint;
  try {
    checkpoint = parseSignedCheckpoint(note).checkpoint;
  } catch (e) {
    throw new HwlError('INTEGRITY', `fleet entry note: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (checkpoint.chainId !== m3[1]) throw new HwlError('INTEGRITY', `fleet entry for chain ${m3[1]} holds a checkpoint of ${checkpoint.chainId}`);
  return { fleet: m0[1]!, index: BigInt(m1[1]!), prev: hashFromHex(m2[1]!), chainId: m3[1]!, note, checkpoint, hash: sha256(bytes) };
}

/**
 * Creates the fleet anchor stream `HWL_FLEET_<fleet>` when it is missing
 * (an existing one is left as it is). The topology job creates it with the
 * deployment's replicas before the anchorer starts; the anchorer's own call
 * is the fallback for a bare setup, with one replica.
 */
export async function ensureFleetStream(nc: NatsConnection, fleet: string, replicas = 1): Promise<void> {
  await ensureStream(await jetstreamManager(nc), fleetStreamConfig(fleet, replicas));
}

export interface FleetAnchorerOptions {
  nc: NatsConnection;
  fleet: string;
  chains: string[];
  /**
   * Region checkpoints must be signed by one of these keys, bound to the
   * region's chain (NoteVerifier.chains: each region's keys). Unbound keys are
   * accepted only when one chain is anchored (threat: one region's key
   * signing another region's checkpoints).
   */
  trusted: NoteVerifier[];
  logger?: Logger;
}

/** Same tree size, head and root. */
function sameCheckpoint(a: Checkpoint, b: Checkpoint): boolean {
  return a.sequence === b.sequence && constantTimeEqual(a.headHash, b.headHash) && constantTimeEqual(a.rootHash, b.rootHash);
}

/** Appends each region's newest checkpoint to the fleet anchor when it moved. */
export class FleetAnchorer {
  private lastSeq = 0;
  private lastHash: Uint8Array;
  /** Per region, the checkpoint anchored last (size, head and root: a replaced history shows against it). */
  private readonly anchored = new Map<string, Checkpoint>();
  private readonly log: Logger;
  /** Entries appended by this process. */
  appended = 0;

  constructor(private readonly opts: FleetAnchorerOptions) {
    if (opts.trusted.length === 0) throw new HwlError('CONFIG', 'the fleet anchorer needs the regions\' verifier keys (--key)');
    this.lastHash = fleetGenesisHash(opts.fleet);
    this.log = (opts.logger ?? silentLogger()).child({ component: 'fleet-anchor', fleet: opts.fleet });
  }

  /** Reads the fleet anchor so far (checking its links) to know what each region has anchored. */
  async load(): Promise<void> {
    this.checkKeys();
    await ensureFleetStream(this.opts.nc, this.opts.fleet);
    this.lastHash = fleetGenesisHash(this.opts.fleet);
    this.lastSeq = 0;
    this.anchored.clear();
    for await (const m of readStream(this.opts.nc, fleetNames.stream(this.opts.fleet))) {
      const e = parseFleetEntry(m.data);
      if (e.index !== BigInt(m.seq) || !constantTimeEqual(e.prev, this.lastHash)) throw new HwlError('INTEGRITY', `fleet anchor entry ${m.seq} does not link to entry ${m.seq - 1}`);
      this.lastHash = e.hash;
      this.lastSeq = m.seq;
      this.anchored.set(e.chainId, e.checkpoint);
    }
  }

  /** One round: anchors every region whose latest checkpoint moved. Returns the entries appended. */
  async tick(): Promise<number> {
    this.checkKeys();
    let n = 0;
    for (const chainId of this.opts.chains) {
      const cpl = await CheckpointLog.open(this.opts.nc, chainId);
      const latest = await cpl.latest();
      if (!latest) continue;
      const prev = this.anchored.get(chainId);
      const before = prev?.sequence ?? 0n;
      // A region whose log now ends below what was anchored, or holds another checkpoint at that
      // size, was truncated or rewritten: INTEGRITY, not a silent skip every round (found in a review).
      if (prev && latest.checkpoint.sequence < before) {
        throw new HwlError('INTEGRITY', `the checkpoint log of ${chainId} ends at ${latest.checkpoint.sequence}, below its checkpoint at ${before} in the fleet anchor`);
      }
      if (prev && latest.checkpoint.sequence === before) {
        if (!sameCheckpoint(latest.checkpoint, prev)) throw new HwlError('INTEGRITY', `the checkpoint of ${chainId} at ${before} differs from the one in the fleet anchor (a replaced history)`);
        continue;
      }
      await this.checkExtends(cpl, prev, latest);
      await this.append(chainId, latest.note);
      this.anchored.set(chainId, latest.checkpoint);
      n++;
    }
    return n;
  }

  /**
   * Every key bound to its region(s) when several are anchored, and every
   * region with a key (CONFIG otherwise). Threat: one region's key passing
   * for another's. Checked in load and tick rather than the constructor, so
   * that a caller's cleanup (closing its NATS connection) runs on refusal.
   */
  private checkKeys(): void {
    requireBoundKeys(this.opts.trusted, this.opts.chains, `the fleet anchorer of ${this.opts.fleet}`);
    for (const c of this.opts.chains) if (keysForChain(this.opts.trusted, c).length === 0) throw new HwlError('CONFIG', `no checkpoint key is bound to chain ${c} (--key ${c}=KEY)`);
  }

  /** The region's new checkpoint must be trusted and consistent with the one anchored before (pairwise, along its log). */
  private async checkExtends(cpl: CheckpointLog, anchoredCp: Checkpoint | undefined, latest: StoredCheckpoint): Promise<void> {
    const keys = keysForChain(this.opts.trusted, cpl.chainId); // never empty (checkKeys); empty would skip checkNext's signature check
    try {
      verifyCheckpoint(latest.note, keys);
    } catch (e) {
      throw new HwlError('INTEGRITY', `checkpoint of ${cpl.chainId} at ${latest.checkpoint.sequence} is not signed by a trusted key: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (anchoredCp === undefined) return;
    const before = anchoredCp.sequence;
    const start = await cpl.findBySize(before);
    if (!start) throw new HwlError('INTEGRITY', `the checkpoint of ${cpl.chainId} anchored at ${before} is no longer in its checkpoint log`);
    // The log's checkpoint at that size must be the anchored one, not another history's with the
    // same sizes (the pairwise checks below would pass along a replaced log).
    if (!sameCheckpoint(start.checkpoint, anchoredCp)) {
      throw new HwlError('INTEGRITY', `the checkpoint of ${cpl.chainId} at ${before} in its log differs from the one in the fleet anchor (a replaced history)`);
    }
    let prev = start;
    for await (const c of cpl.all(start.streamSeq + 1)) {
      if (c.streamSeq > latest.streamSeq) break;
      const issue = checkNext(c, prev, keys);
      if (issue) throw new HwlError('INTEGRITY', `${cpl.chainId}: ${issue.message}`);
      prev = c;
    }
  }

  private async append(chainId: string, note: string): Promise<void> {
    const index = BigInt(this.lastSeq + 1);
    const body = utf8Encode(formatFleetEntry({ fleet: this.opts.fleet, index, prev: this.lastHash, chainId, note }));
    const hash = sha256(body);
    const h = natsHeaders();
    h.set(HEADERS.hash, toHex(hash));
    try {
      await jetstream(this.opts.nc).publish(fleetNames.subject(this.opts.fleet), body, { headers: h, expect: { lastSequence: this.lastSeq, streamName: fleetNames.stream(this.opts.fleet) }, timeout: 10_000 });
    } catch (e) {
      if (e instanceof JetStreamApiError) {
        await this.load(); // another anchorer appended: re-read and let the next round decide
        throw new HwlError('FENCED', `another fleet anchorer appended to ${fleetNames.stream(this.opts.fleet)} first`, { cause: e });
      }
      throw e;
    }
    this.lastSeq++;
    this.lastHash = hash;
    this.appended++;
    this.log.info({ chain: chainId, index: index.toString() }, 'anchored a region checkpoint');
  }

  /** Runs rounds every `intervalMs` until the signal aborts. */
  async run(intervalMs: number, signal: AbortSignal): Promise<void> {
    await this.load();
    while (!signal.aborted) {
      try {
        await this.tick();
      } catch (e) {
        if (e instanceof HwlError && e.code === 'INTEGRITY') throw e;
        this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'fleet anchor round failed; retrying');
      }
      // One listener per wait, removed when the wait ends (a listener per round, kept for the life
      // of the process, grew memory without bound; found in a review).
      await new Promise<void>((r) => {
        const onAbort = (): void => {
          clearTimeout(t);
          r();
        };
        const t = setTimeout(() => {
          signal.removeEventListener('abort', onAbort);
          r();
        }, intervalMs);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    }
  }
}

export interface FleetChainReport {
  chainId: string;
  anchored: number;
  /** The region's own checkpoint log checked pairwise. */
  logIssue?: string;
  /** An anchored checkpoint that differs from the region's log. */
  anchorIssue?: string;
  live?: LiveReport;
}

export interface FleetReport {
  fleet: string;
  entries: number;
  ok: boolean;
  /** First problem in the fleet anchor itself (links, signatures, order). */
  issue?: { index: bigint; reason: string; message: string };
  chains: FleetChainReport[];
}

/**
 * Verifies the fleet anchor and every region chain against it: entry hash
 * links; each anchored note signed by a trusted key; per region, tree sizes
 * never shrink, each anchored note is the region's own logged checkpoint at
 * that size, the region's checkpoint log is consistent pairwise, and the live
 * region chain (from its archive anchor, if any) reproduces every checkpoint.
 */
export async function verifyFleet(nc: NatsConnection, fleet: string, trusted: readonly NoteVerifier[], opts: { live?: boolean } = {}): Promise<FleetReport> {
  const report: FleetReport = { fleet, entries: 0, ok: true, chains: [] };
  const byChain = new Map<string, FleetEntry[]>();
  const regions = new Set<string>();
  let prev = fleetGenesisHash(fleet);
  const stream = fleetNames.stream(fleet);
  try {
    await jetstreamManager(nc).then((j) => j.streams.info(stream));
  } catch {
    throw new HwlError('NOT_FOUND', `no fleet anchor stream ${stream}`);
  }
  for await (const m of readStream(nc, stream)) {
    let e: FleetEntry;
    try {
      e = parseFleetEntry(m.data);
    } catch (err) {
      report.issue = { index: BigInt(m.seq), reason: 'malformed', message: err instanceof Error ? err.message : String(err) };
      break;
    }
    if (e.fleet !== fleet || e.index !== BigInt(m.seq)) {
      report.issue = { index: BigInt(m.seq), reason: 'out_of_order', message: `entry ${m.seq} says fleet ${e.fleet} index ${e.index}` };
      break;
    }
    if (!constantTimeEqual(e.prev, prev)) {
      report.issue = { index: e.index, reason: 'broken_link', message: `entry ${e.index} links to ${toHex(e.prev)}, entry ${e.index - 1n} hashes to ${toHex(prev)}` };
      break;
    }
    const claimed = m.headers?.get(HEADERS.hash);
    if (claimed && claimed !== toHex(e.hash)) {
      report.issue = { index: e.index, reason: 'hash_mismatch', message: `entry ${e.index} claims hash ${claimed}, recomputed ${toHex(e.hash)}` };
      break;
    }
    // Each region's checkpoints only with that region's keys; unbound keys
    // only while the fleet holds one region (threat: cross-region forgery).
    regions.add(e.chainId);
    requireBoundKeys(trusted, regions, `fleet ${fleet}`);
    try {
      verifyCheckpoint(e.note, keysForChain(trusted, e.chainId));
    } catch (err) {
      report.issue = { index: e.index, reason: 'bad_signature', message: `entry ${e.index} (${e.chainId} at ${e.checkpoint.sequence}): ${err instanceof Error ? err.message : String(err)}` };
      break;
    }
    const list = byChain.get(e.chainId) ?? [];
    const last = list.at(-1);
    if (last && e.checkpoint.sequence < last.checkpoint.sequence) {
      report.issue = { index: e.index, reason: 'shrinks', message: `entry ${e.index}: ${e.chainId} goes back from ${last.checkpoint.sequence} to ${e.checkpoint.sequence}` };
      break;
    }
    list.push(e);
    byChain.set(e.chainId, list);
    prev = e.hash;
    report.entries++;
  }
  if (report.issue) report.ok = false;
  for (const [chainId, entries] of byChain) {
    const cr: FleetChainReport = { chainId, anchored: entries.length };
    report.chains.push(cr);
    const cpl = await CheckpointLog.open(nc, chainId);
    // Only the region's own keys; never empty (its entries verified with them), as
    // an empty list would turn the log's and the live check's signature checks off.
    const regionKeys = keysForChain(trusted, chainId);
    const logReport = await verifyCheckpointLog(cpl, regionKeys);
    if (logReport.issues.length > 0) cr.logIssue = logReport.issues[0]!.message;
    for (const e of entries) {
      // The search reads the region's log: a message there that is not a signed
      // note (attacker-controlled: anyone who may publish on its subject) is this
      // region's failure, reported with the others, not the end of the whole run.
      let c;
      try {
        c = await cpl.findBySize(e.checkpoint.sequence);
      } catch (err) {
        if (!(err instanceof HwlError) || err.code !== 'INTEGRITY') throw err;
        cr.anchorIssue = `anchored checkpoint at ${e.checkpoint.sequence} (entry ${e.index}) cannot be looked up in the region's log: ${err.message}`;
        break;
      }
      const body = parseSignedCheckpoint(e.note).body;
      if (!c || c.signed.body !== body) {
        cr.anchorIssue = `anchored checkpoint at ${e.checkpoint.sequence} (entry ${e.index}) is not the region's logged checkpoint at that size`;
        break;
      }
    }
    // The anchored checkpoints must be covered by the region's chain too, not
    // only those its own log and KV still hold (threat: the region's newest
    // records dropped together with their checkpoints): `truncated` otherwise.
    const anchoredNotes = entries.map((e) => ({ note: e.note, source: `fleet ${fleet} entry ${e.index}` }));
    if (opts.live !== false) cr.live = await verifyLiveFromAnchor(nc, chainId, { trusted: regionKeys, require: anchoredNotes });
    if (cr.logIssue || cr.anchorIssue || (cr.live && !cr.live.result.ok)) report.ok = false;
  }
  return report;
}
