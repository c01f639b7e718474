/**
 * Checkpoints and proofs through the API (issue 6, docs/proofs.md "Through
 * the API"): the signed checkpoints of a chain with each signature's
 * validity, offline inclusion and consistency proof bundles (the same JSON
 * `hwledger prove` writes, so `hwledger verify-proof` checks them), and the
 * fleet anchor. Everything is read from NATS (the checkpoint stream and KV,
 * the chain stream, the fleet anchor stream); proofs come from a Merkle tree
 * store per chain in `treeDir`, brought up to date from the chain stream and
 * checked against the signed root before anything is proven
 * (@hwledger/ledger-ops prover.ts).
 *
 * Access: checkpoints, consistency proofs and the fleet anchor are
 * chain-level data (operator keys only); a tenant key may have an inclusion
 * proof of a record of its own tenant only (the record is read from the
 * chain stream and its tenant checked before any proof work; the bundle's
 * record is checked again after).
 *
 * Threats: a read request creating NATS state (a checkpoint stream for a
 * typo'd chain id): nothing is opened unless the stream exists. Two requests
 * racing on one tree store (its directory lock admits the same process
 * twice): requests of one chain are serialized here. The API vouching for a
 * forged checkpoint: with --checkpoint-key every bundle is verified before it
 * is returned (an unverifiable one is an INTEGRITY error, never a bundle).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { constantTimeEqual, decodeRecord, fromHex, SUBJECT_TOKEN_RE, toHex, verifyCheckpoint, type NoteVerifier } from '@hwledger/chain';
import { HwlError, isHwlError, streams, type Logger } from '@hwledger/core';
import {
  checkpointStatus,
  fleetNames,
  keysForChain,
  parseCheckpointMessage,
  parseFleetEntry,
  proveConsistency,
  proveInclusion,
  readStream,
  streamExists,
  verifyProofBundle,
  type CheckpointStatus,
  type ProofBundle,
  type ProverContext,
  type StoredCheckpoint,
} from '@hwledger/ledger-ops';
import { query as q } from '@hwledger/proto';
import { requireOperator, type Caller } from './caller.js';
import { decodePageToken, encodePageToken, positionBigint } from './page-token.js';
import { parseChainId, parsePageSize, parseSequence, tenantName } from './validate.js';

export interface LedgerProofsOptions {
  nc: NatsConnection;
  /** The chain a request without chain_id asks about. */
  chainId: string;
  /** Directory of the API's Merkle tree stores (one sub-directory per chain). */
  treeDir: string;
  /** Verifier keys: report signature validity and verify every bundle before answering. */
  trusted?: NoteVerifier[];
  /** The fleet anchor a request without a fleet name asks about. */
  fleet?: string;
  logger: Logger;
}

type Validity = 'valid' | 'invalid' | 'unknown';

/** Fleet anchor state kept between requests: the stream is read from where the last request stopped. */
interface FleetView {
  /** The stream's creation time: another value is another stream under the same name. */
  created: string;
  lastSeq: number;
  entries: number;
  head: q.FleetHead | undefined;
  regions: Map<string, q.FleetRegion>;
}

const NATS_TRANSIENT = /^(TimeoutError|NoRespondersError|ClosedConnectionError|DrainingConnectionError|RequestError|ConnectionError)$/;

export class LedgerProofs {
  private readonly trusted: NoteVerifier[];
  /** Tail of the queue of work per chain tree store / fleet. */
  private readonly queues = new Map<string, Promise<void>>();
  private readonly fleets = new Map<string, FleetView>();

  constructor(private readonly o: LedgerProofsOptions) {
    this.trusted = o.trusted ?? [];
    // One key set verifies every chain this API serves: several keys not bound to a chain would
    // each pass for any chain (one region's key vouching for another region's checkpoints), as
    // everywhere else that verifies several chains with one key set (found in a review).
    const unbound = new Set(this.trusted.filter((k) => k.chains === undefined).map((k) => `${k.name}+${toHex(k.keyId)}+${toHex(k.publicKey)}`));
    if (unbound.size > 1) {
      throw new HwlError(
        'CONFIG',
        `the API verifies every chain with its checkpoint keys: with several, bind each to the chain(s) it signs for (--checkpoint-key CHAIN=KEY); unbound: ${[...new Set(this.trusted.filter((k) => k.chains === undefined).map((k) => k.name))].join(', ')}`,
      );
    }
  }

  /** name+id of the configured verifier keys. */
  get trustedKeys(): string[] {
    return this.trusted.map((k) => `${k.name}+${toHex(k.keyId)}`);
  }

  // ---- checkpoints ----

  async getCheckpoints(caller: Caller, req: q.GetCheckpointsRequest): Promise<q.GetCheckpointsResponse> {
    const chainId = parseChainId(req.chainId, this.o.chainId);
    const limit = parsePageSize(req.pageSize);
    const scope = `checkpoints\u0000${chainId}`;
    const pos = decodePageToken(req.pageToken, scope, 1);
    const before = pos ? positionBigint(pos[0]) : undefined;
    requireOperator(caller, 'the checkpoints of a chain');
    return this.nats(async () => {
      const empty: q.GetCheckpointsResponse = {
        chainId,
        latest: undefined,
        checkpoints: [],
        nextPageToken: '',
        checkpointCount: 0n,
        archiveAnchor: undefined,
        lastArchive: undefined,
        lastReplication: undefined,
        trustedKeys: this.trustedKeys,
      };
      if (!(await this.hasCheckpoints(chainId))) return empty;
      const status = await checkpointStatus(this.o.nc, chainId, this.trusted);
      const last = status.checkpoints;
      const hi = before === undefined ? last : Math.min(last, Number(before) - 1);
      const lo = Math.max(1, hi - limit + 1);
      const page: q.CheckpointInfo[] = [];
      if (hi >= 1) {
        for await (const m of readStream(this.o.nc, streams.checkpoint(chainId), lo, hi)) page.push(this.storedInfo(parseCheckpointMessage(chainId, m), chainId));
        page.reverse();
      }
      return {
        ...empty,
        latest: status.latest ? this.latestInfo(status.latest) : undefined,
        checkpoints: page,
        nextPageToken: hi >= 1 && lo > 1 ? encodePageToken(scope, [String(lo)]) : '',
        checkpointCount: BigInt(last),
        archiveAnchor: status.archive_anchor ? { sequence: u64(status.archive_anchor.sequence), hash: status.archive_anchor.hash } : undefined,
        lastArchive: status.last_archive ? archiveRun(status.last_archive) : undefined,
        lastReplication: status.last_replication ? replicationRun(status.last_replication) : undefined,
      };
    });
  }

  private validity(note: string, sig: { keyName: string; keyId: Uint8Array }, chainId: string): Validity {
    // Only keys trusted for this chain (a key bound to another chain is unknown here, not invalid).
    const key = keysForChain(this.trusted, chainId).find((k) => k.name === sig.keyName && constantTimeEqual(k.keyId, sig.keyId));
    if (!key) return 'unknown';
    try {
      verifyCheckpoint(note, [key]);
      return 'valid';
    } catch {
      return 'invalid';
    }
  }

  private storedInfo(c: StoredCheckpoint, chainId: string): q.CheckpointInfo {
    const signatures = c.signed.signatures.map((s) => ({ keyName: s.keyName, keyId: toHex(s.keyId), validity: this.validity(c.note, s, chainId) }));
    return {
      sequence: c.checkpoint.sequence,
      rootHash: toHex(c.checkpoint.rootHash),
      headHash: toHex(c.checkpoint.headHash),
      timeMs: c.checkpoint.timeMs,
      streamSequence: BigInt(c.streamSeq),
      note: c.note,
      signatures,
      validity: overall(signatures),
    };
  }

  private latestInfo(l: NonNullable<CheckpointStatus['latest']>): q.CheckpointInfo {
    const signatures = l.signatures.map((s) => ({ keyName: s.key, keyId: s.key_id, validity: (s.valid === null ? 'unknown' : s.valid ? 'valid' : 'invalid') as Validity }));
    return {
      sequence: u64(l.sequence),
      rootHash: l.root,
      headHash: l.head,
      timeMs: u64(l.time_ms),
      streamSequence: BigInt(l.stream_seq),
      note: l.note,
      signatures,
      validity: overall(signatures),
    };
  }

  // ---- proofs ----

  async getInclusionProof(caller: Caller, req: q.GetInclusionProofRequest): Promise<q.GetInclusionProofResponse> {
    const chainId = parseChainId(req.chainId, this.o.chainId);
    const sequence = parseSequence(req.sequence, 'sequence');
    if (sequence === 0n) throw new HwlError('INVALID_ARGUMENT', 'sequence: required (records start at 1)');
    const size = parseSequence(req.checkpointSize, 'checkpoint_size');
    if (size !== 0n && sequence > size) throw new HwlError('INVALID_ARGUMENT', `sequence ${sequence} is beyond the checkpoint at ${size}: a checkpoint covers records 1..its size`);
    return this.nats(async () => {
      if (!(await this.hasCheckpoints(chainId))) throw new HwlError('NOT_FOUND', `chain ${chainId} has no checkpoints`);
      // Threat: a tenant proving (and so reading) another tenant's record. Checked before any proof work.
      if (caller.role === 'tenant') await this.requireOwnRecord(caller.tenant, chainId, sequence);
      const bundle = await this.serial(`chain\u0000${chainId}`, () => proveInclusion(this.ctx(chainId), sequence, size === 0n ? 'latest' : size));
      const record = decodeRecord(fromHex(bundle.record.canonical, 'record.canonical'));
      if (caller.role === 'tenant' && record.tenant !== caller.tenant) throw new HwlError('PERMISSION_DENIED', `record ${sequence} belongs to another tenant`);
      return {
        bundle: structOf(bundle),
        chainId,
        sequence,
        treeSize: u64(bundle.tree_size),
        tenant: tenantName(record.tenant),
        verifiedBy: this.verifiedBy(bundle),
      };
    });
  }

  async getConsistencyProof(caller: Caller, req: q.GetConsistencyProofRequest): Promise<q.GetConsistencyProofResponse> {
    const chainId = parseChainId(req.chainId, this.o.chainId);
    const from = parseSequence(req.fromSize, 'from_size');
    const to = parseSequence(req.toSize, 'to_size');
    if (from === 0n) throw new HwlError('INVALID_ARGUMENT', 'from_size: required (the tree size of a checkpoint)');
    if (to !== 0n && from > to) throw new HwlError('INVALID_ARGUMENT', `from_size (${from}) must not exceed to_size (${to})`);
    requireOperator(caller, 'consistency proofs');
    return this.nats(async () => {
      if (!(await this.hasCheckpoints(chainId))) throw new HwlError('NOT_FOUND', `chain ${chainId} has no checkpoints`);
      const bundle = await this.serial(`chain\u0000${chainId}`, () => proveConsistency(this.ctx(chainId), from, to === 0n ? 'latest' : to));
      const sizeOf = (note: string): bigint => u64(/^[^\n]*\n([0-9]+)\n/.exec(note)?.[1] ?? '0');
      return {
        bundle: structOf(bundle),
        chainId,
        fromSize: sizeOf(bundle.old_checkpoint),
        toSize: sizeOf(bundle.new_checkpoint),
        verifiedBy: this.verifiedBy(bundle),
      };
    });
  }

  private ctx(chainId: string): ProverContext {
    return { nc: this.o.nc, chainId, treeDir: this.o.treeDir, trusted: this.trusted, logger: this.o.logger };
  }

  private verifiedBy(bundle: ProofBundle): string[] {
    // proveInclusion / proveConsistency already verified it with these keys; this names them.
    return this.trusted.length === 0 ? [] : verifyProofBundle(bundle, this.trusted, { chainId: bundle.chain_id }).verifiedBy;
  }

  private async requireOwnRecord(tenant: string, chainId: string, sequence: bigint): Promise<void> {
    const jsm = await jetstreamManager(this.o.nc);
    const info = await jsm.streams.info(streams.chain(chainId)).catch((e: unknown) => {
      if (e instanceof Error && /not found/i.test(e.message)) throw new HwlError('NOT_FOUND', `chain ${chainId} has no chain stream`);
      throw e;
    });
    if (sequence > BigInt(info.state.last_seq) || sequence < BigInt(info.state.first_seq)) {
      throw new HwlError('NOT_FOUND', `record ${sequence} of ${chainId} is not in the chain stream`);
    }
    const m = await jsm.streams.getMessage(streams.chain(chainId), { seq: Number(sequence) }).catch(() => null);
    if (!m) throw new HwlError('NOT_FOUND', `record ${sequence} of ${chainId} is not in the chain stream`);
    let recordTenant: string;
    try {
      recordTenant = decodeRecord(m.data).tenant;
    } catch (e) {
      throw new HwlError('INTEGRITY', `record ${sequence} of ${chainId} does not decode: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (recordTenant !== tenant) throw new HwlError('PERMISSION_DENIED', `record ${sequence} belongs to another tenant`);
  }

  // ---- fleet anchor ----

  async getFleetStatus(caller: Caller, req: q.GetFleetStatusRequest): Promise<q.GetFleetStatusResponse> {
    let fleet = req.fleet;
    if (fleet === '') {
      if (this.o.fleet === undefined) throw new HwlError('FAILED_PRECONDITION', 'fleet: this API has no default fleet anchor (start it with --fleet NAME), name one');
      fleet = this.o.fleet;
    } else if (!SUBJECT_TOKEN_RE.test(fleet)) {
      throw new HwlError('INVALID_ARGUMENT', `fleet: not a fleet name (${SUBJECT_TOKEN_RE.source})`);
    }
    requireOperator(caller, 'the fleet anchor');
    const name = fleet;
    return this.nats(() =>
      this.serial(`fleet\u0000${name}`, async () => {
        const stream = fleetNames.stream(name);
        if (!(await streamExists(this.o.nc, stream))) throw new HwlError('NOT_FOUND', `no fleet anchor ${JSON.stringify(name)} (stream ${stream})`);
        const jsm = await jetstreamManager(this.o.nc);
        const info = await jsm.streams.info(stream);
        let v = this.fleets.get(name);
        // A stream recreated under the same name starts over: known by its creation time (a
        // recreated stream as long as the old one was not noticed by its length; found in a review).
        if (!v || v.created !== info.created || info.state.last_seq < v.lastSeq) v = { created: info.created, lastSeq: 0, entries: 0, head: undefined, regions: new Map() };
        for await (const m of readStream(this.o.nc, stream, v.lastSeq + 1, info.state.last_seq)) {
          const e = parseFleetEntry(m.data);
          v.regions.set(e.chainId, { chainId: e.chainId, sequence: e.checkpoint.sequence, index: e.index, timeMs: e.checkpoint.timeMs });
          v.head = { index: e.index, hash: toHex(e.hash) };
          v.lastSeq = m.seq;
        }
        v.lastSeq = Math.max(v.lastSeq, info.state.last_seq);
        v.entries = info.state.messages;
        this.fleets.set(name, v);
        return { fleet: name, entries: BigInt(v.entries), head: v.head, regions: [...v.regions.values()].sort((a, b) => a.chainId.localeCompare(b.chainId)) };
      }),
    );
  }

  // ---- plumbing ----

  /** True when the chain has a checkpoint stream; NOT_FOUND when it has neither that nor a chain stream. */
  private async hasCheckpoints(chainId: string): Promise<boolean> {
    if (await streamExists(this.o.nc, streams.checkpoint(chainId))) return true;
    if (await streamExists(this.o.nc, streams.chain(chainId))) return false;
    throw new HwlError('NOT_FOUND', `no chain ${chainId} on this NATS server`);
  }

  /** Runs `fn` after every earlier task of the same key has settled. */
  private serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(key) ?? Promise.resolve();
    const run = prev.then(fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(key, tail);
    void tail.then(() => {
      if (this.queues.get(key) === tail) this.queues.delete(key);
    });
    return run;
  }

  /** NATS failures as the API's codes: transport trouble is UNAVAILABLE, a busy tree store (another process) too. */
  private async nats<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (isHwlError(e)) {
        if (e.code === 'CONFLICT') throw new HwlError('UNAVAILABLE', `the Merkle tree store is busy (${e.message}); retry`, { cause: e });
        throw e;
      }
      if (e instanceof Error && NATS_TRANSIENT.test(e.name)) throw new HwlError('UNAVAILABLE', `NATS: ${e.message}`, { cause: e });
      throw e;
    }
  }
}

function overall(sigs: { validity: string }[]): Validity {
  if (sigs.some((s) => s.validity === 'invalid')) return 'invalid';
  return sigs.some((s) => s.validity === 'valid') ? 'valid' : 'unknown';
}

/** A decimal u64 from stored JSON (KV status records, bundles); malformed or missing = 0. */
function u64(v: unknown): bigint {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'string' && /^(0|[1-9][0-9]{0,19})$/.test(v)) {
    const n = BigInt(v);
    return n < 1n << 64n ? n : 0n;
  }
  return 0n;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function archiveRun(o: Record<string, unknown>): q.ArchiveRun {
  return { dir: str(o['dir']), cut: u64(o['cut']), segments: u64(o['segments']), purged: u64(o['purged']), deletedRows: u64(o['deleted_rows']), atMs: u64(o['at_ms']) };
}

function replicationRun(o: Record<string, unknown>): q.ReplicationRun {
  return { dir: str(o['dir']), lastSequence: u64(o['last_sequence']), lastCheckpoint: u64(o['last_checkpoint']), commit: str(o['commit']), atMs: u64(o['at_ms']) };
}

/** A bundle as a google.protobuf.Struct value (plain JSON: strings, arrays, objects, numbers of the decoded record). */
function structOf(bundle: ProofBundle): { [key: string]: unknown } {
  return JSON.parse(JSON.stringify(bundle)) as { [key: string]: unknown };
}
