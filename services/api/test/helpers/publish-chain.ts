/**
 * Test helper: seals events and appends them to a chain stream as the
 * sequencer does (spec "Chain stream": body = canonical bytes, subject
 * hwl.chain.<chain>.<kind>.<tenant|_>, Hwl-Prev-Hash / Hwl-Hash headers,
 * Nats-Msg-Id, expected last sequence so stream sequence = record sequence).
 * `tamper` replaces the body of record i (headers keep the honest hashes).
 */
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { genesisHash, sealEvent, toHex, type ChainEvent, type Sealed } from '@hwledger/chain';
import { ensureChainTopology, HEADERS, recordMsgId, subjects } from '@hwledger/core';

export async function publishChain(
  nc: NatsConnection,
  chainId: string,
  events: readonly ChainEvent[],
  sealedAt: (i: number) => bigint,
  tamper?: (s: Sealed, i: number) => Uint8Array | undefined,
): Promise<Sealed[]> {
  await ensureChainTopology(nc, chainId);
  const js = jetstream(nc);
  let prev = genesisHash(chainId);
  const out: Sealed[] = [];
  for (let i = 0; i < events.length; i++) {
    const seq = BigInt(i + 1);
    const s = sealEvent(events[i]!, { chainId, sequence: seq, sealedAtMs: sealedAt(i) }, prev);
    out.push(s);
    const h = natsHeaders();
    h.set(HEADERS.prevHash, toHex(s.prevHash));
    h.set(HEADERS.hash, toHex(s.hash));
    h.set(HEADERS.msgId, recordMsgId(s.record.source, s.record.eventId));
    h.set('Nats-Expected-Last-Sequence', (seq - 1n).toString());
    await js.publish(subjects.chain(chainId, s.record.kind, s.record.tenant), tamper?.(s, i) ?? s.canonical, { headers: h });
    prev = s.hash;
  }
  return out;
}
