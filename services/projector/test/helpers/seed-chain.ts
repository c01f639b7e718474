/**
 * Test helper: seals events and appends them to a chain stream the way the
 * sequencer does (spec "Chain stream": body = canonical bytes, subject
 * hwl.chain.<chain>.<kind>.<tenant|_>, Hwl-Prev-Hash / Hwl-Hash headers,
 * Nats-Msg-Id, Nats-Expected-Last-Sequence so the stream sequence is the
 * record sequence). Publishes are pipelined in windows (the server applies
 * them in order, so each expected-last-sequence holds).
 */
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { genesisHash, sealEvent, toHex, type ChainEvent, type Sealed } from '@hwledger/chain';
import { ensureChainTopology, HEADERS, recordMsgId, subjects } from '@hwledger/core';

export interface SeedOptions {
  /** Sequence of the first record (default: stream head + 1, genesis when empty). */
  fromSequence?: bigint;
  /** prev_hash of the first record (default genesis, or `head` of a previous seed). */
  prevHash?: Uint8Array;
  /** sealed_at_ms of the record at index i of this call. */
  sealedAtMs?: (i: number) => bigint;
  /** Publish window (default 2000). */
  window?: number;
  /** Rewrites what is published for a record (tampering tests): body, headers, subject. */
  tamper?: (s: Sealed, i: number) => { canonical?: Uint8Array; prevHashHex?: string | null; hashHex?: string | null; subject?: string } | undefined;
}

export interface SeedResult {
  sealed: Sealed[];
  head: { sequence: bigint; hash: Uint8Array };
}

export const SEED_START_MS = 1_795_000_000_000n; // 2026-11-19T…Z, hour-misaligned on purpose

export async function seedChain(nc: NatsConnection, chainId: string, events: readonly ChainEvent[], opts: SeedOptions = {}): Promise<SeedResult> {
  await ensureChainTopology(nc, chainId);
  const js = jetstream(nc);
  let seq = opts.fromSequence ?? 1n;
  let prev = opts.prevHash ?? genesisHash(chainId);
  const sealedAt = opts.sealedAtMs ?? ((i: number) => SEED_START_MS + BigInt(i) * 1_000n);
  const window = opts.window ?? 2000;
  const sealed: Sealed[] = [];
  let inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < events.length; i++) {
    const s = sealEvent(events[i]!, { chainId, sequence: seq, sealedAtMs: sealedAt(i) }, prev);
    sealed.push(s);
    const t = opts.tamper?.(s, i);
    const h = natsHeaders();
    const prevHex = t && 'prevHashHex' in t ? t.prevHashHex : toHex(s.prevHash);
    const hashHex = t && 'hashHex' in t ? t.hashHex : toHex(s.hash);
    if (prevHex) h.set(HEADERS.prevHash, prevHex);
    if (hashHex) h.set(HEADERS.hash, hashHex);
    h.set(HEADERS.msgId, recordMsgId(s.record.source, s.record.eventId));
    h.set('Nats-Expected-Last-Sequence', (seq - 1n).toString());
    const subject = t?.subject ?? subjects.chain(chainId, s.record.kind, s.record.tenant);
    inFlight.push(js.publish(subject, t?.canonical ?? s.canonical, { headers: h }));
    if (inFlight.length >= window) {
      await Promise.all(inFlight);
      inFlight = [];
    }
    prev = s.hash;
    seq++;
  }
  await Promise.all(inFlight);
  return { sealed, head: { sequence: seq - 1n, hash: prev } };
}
