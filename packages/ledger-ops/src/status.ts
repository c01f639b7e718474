/**
 * Read-only status for the API and the dashboard (issue 6: "Dashboard and
 * API show checkpoints, their signatures' validity, the fleet anchor and the
 * last replication and archive"). Plain JSON-safe objects (u64 as decimal
 * strings, hashes as lowercase hex).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { toHex, verifyCheckpoint, type NoteVerifier } from '@hwledger/chain';
import { CheckpointLog } from './checkpoint-log.js';
import { keysForChain } from './checkpoint.js';
import { fleetNames, kvKeys } from './names.js';
import { parseFleetEntry } from './fleet.js';
import { readStream } from './stream-read.js';
import type { TreeAnchorJson } from './tree-anchor.js';

export interface CheckpointStatus {
  chain_id: string;
  /** null when the chain has no checkpoint yet. */
  latest: null | {
    sequence: string;
    root: string;
    head: string;
    time_ms: string;
    stream_seq: number;
    note: string;
    /** valid: true/false with a matching trusted key; null: no trusted key of that name/id was given. */
    signatures: { key: string; key_id: string; valid: boolean | null }[];
  };
  checkpoints: number;
  archive_anchor: null | { sequence: string; hash: string };
  last_archive: null | Record<string, unknown>;
  last_replication: null | Record<string, unknown>;
}

export async function checkpointStatus(nc: NatsConnection, chainId: string, trusted: readonly NoteVerifier[] = []): Promise<CheckpointStatus> {
  const log = await CheckpointLog.open(nc, chainId);
  const latest = await log.latest();
  const anchor = await log.getJson<TreeAnchorJson>(kvKeys.anchor(chainId));
  const status: CheckpointStatus = {
    chain_id: chainId,
    latest: null,
    checkpoints: await log.lastStreamSeq(),
    archive_anchor: anchor ? { sequence: anchor.sequence, hash: anchor.hash } : null,
    last_archive: (await log.getJson<Record<string, unknown>>(kvKeys.archive(chainId))) ?? null,
    last_replication: (await log.getJson<Record<string, unknown>>(kvKeys.replica(chainId))) ?? null,
  };
  if (latest) {
    const cp = latest.checkpoint;
    status.latest = {
      sequence: cp.sequence.toString(),
      root: toHex(cp.rootHash),
      head: toHex(cp.headHash),
      time_ms: cp.timeMs.toString(),
      stream_seq: latest.streamSeq,
      note: latest.note,
      signatures: latest.signed.signatures.map((s) => {
        // Only keys trusted for this chain: one bound to another chain is unknown here, not invalid.
        const key = keysForChain(trusted, chainId).find((k) => k.name === s.keyName && toHex(k.keyId) === toHex(s.keyId));
        let valid: boolean | null = null;
        if (key) {
          try {
            verifyCheckpoint(latest.note, [key]);
            valid = true;
          } catch {
            valid = false;
          }
        }
        return { key: s.keyName, key_id: toHex(s.keyId), valid };
      }),
    };
  }
  return status;
}

export interface FleetStatus {
  fleet: string;
  entries: number;
  /** The newest anchored checkpoint per region. */
  regions: { chain_id: string; sequence: string; index: string; time_ms: string }[];
  head: null | { index: string; hash: string };
}

/** The fleet anchor's head and the newest anchored checkpoint of each region (reads the whole fleet stream). */
export async function fleetStatus(nc: NatsConnection, fleet: string): Promise<FleetStatus> {
  const jsm = await jetstreamManager(nc);
  const out: FleetStatus = { fleet, entries: 0, regions: [], head: null };
  let info;
  try {
    info = await jsm.streams.info(fleetNames.stream(fleet));
  } catch {
    return out;
  }
  out.entries = info.state.messages;
  const regions = new Map<string, { chain_id: string; sequence: string; index: string; time_ms: string }>();
  for await (const m of readStream(nc, fleetNames.stream(fleet))) {
    const e = parseFleetEntry(m.data);
    regions.set(e.chainId, { chain_id: e.chainId, sequence: e.checkpoint.sequence.toString(), index: e.index.toString(), time_ms: e.checkpoint.timeMs.toString() });
    out.head = { index: e.index.toString(), hash: toHex(e.hash) };
  }
  out.regions = [...regions.values()];
  return out;
}
