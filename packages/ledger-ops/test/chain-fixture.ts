/**
 * Test fixture: writes sealed records straight onto a chain stream the way
 * the sequencer does (canonical body, Hwl-Prev-Hash / Hwl-Hash, watermark
 * headers, expected-last-sequence), so tests of checkpoints, proofs,
 * replication and archival can build 10^4..10^5-record chains in seconds.
 */
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { COMPLETION_REASONS, genesisHash, sealEvent, toHex, type ChainEvent, type NoteSigner } from '@hwledger/chain';
import { Checkpointer } from '@hwledger/ledger-ops';
import { HEADERS, ensureChainTopology, recordMsgId, subjects } from '@hwledger/core';

const TENANTS = ['acme', 'globex', 'initech'];

/** Event i; `source` must be `<chain>/<node>` (or below it) for events sent through a sequencer on that node's subject. */
export function testEvent(i: number, source = 'fx/node-1'): ChainEvent {
  const tenant = TENANTS[i % TENANTS.length]!;
  if (i % 5 === 4) {
    return { kind: 'metrics_collected', source, eventId: `e-${i}`, observedAtMs: 1_700_000_000_000n + BigInt(i), tenant: '', instanceId: 'gpu-1', data: { device_id: 'gpu-1', vram_used_mib: 1000n, vram_total_mib: 81920n, utilization_pct: i % 100, temperature_mc: 60_000, power_mw: 300_000 } };
  }
  return {
    kind: 'inference_request_completed',
    source,
    eventId: `e-${i}`,
    observedAtMs: 1_700_000_000_000n + BigInt(i),
    tenant,
    instanceId: `inference:request_completed:req-${i}`,
    data: { tenant_id: tenant, request_id: `req-${i}`, total_tokens: 100 + (i % 50), compute_ms: BigInt(5 + (i % 20)), reason: COMPLETION_REASONS[i % COMPLETION_REASONS.length]! },
  };
}

export class ChainWriter {
  sequence = 0n;
  head: Uint8Array;
  /** current_hash of every record written, index = sequence - 1. */
  readonly hashes: Uint8Array[] = [];

  private constructor(
    readonly nc: NatsConnection,
    readonly chainId: string,
  ) {
    this.head = genesisHash(chainId);
  }

  static async open(nc: NatsConnection, chainId: string): Promise<ChainWriter> {
    await ensureChainTopology(nc, chainId);
    return new ChainWriter(nc, chainId);
  }

  /** Appends `count` records; `sealedAtMs` defaults to now; record n carries testEvent(n + eventOffset). */
  async append(count: number, sealedAtMs?: (seq: bigint) => bigint, eventOffset = 0): Promise<void> {
    const js = jetstream(this.nc);
    const pending: Promise<unknown>[] = [];
    for (let k = 0; k < count; k++) {
      const seq = this.sequence + 1n;
      const ev = testEvent(Number(seq) + eventOffset);
      const s = sealEvent(ev, { chainId: this.chainId, sequence: seq, sealedAtMs: sealedAtMs ? sealedAtMs(seq) : BigInt(Date.now()) }, this.head);
      const h = headers();
      h.set(HEADERS.prevHash, toHex(s.prevHash));
      h.set(HEADERS.hash, toHex(s.hash));
      // Watermark (ingest message 1, event 0): a sequencer started on this chain
      // skips only the first event of the first ingest message.
      h.set(HEADERS.ingestSeq, '1');
      h.set(HEADERS.ingestIndex, '0');
      h.set(HEADERS.ingestCount, '1');
      pending.push(
        js.publish(subjects.chain(this.chainId, ev.kind, ev.tenant), s.canonical, {
          headers: h,
          msgID: recordMsgId(ev.source, ev.eventId),
          expect: { lastSequence: Number(seq - 1n) },
          timeout: 30_000,
        }),
      );
      this.sequence = seq;
      this.head = s.hash;
      this.hashes.push(s.hash);
      if (pending.length >= 512) {
        await Promise.all(pending);
        pending.length = 0;
      }
    }
    await Promise.all(pending);
  }
}

/**
 * Checkpoints the records of `w` not yet checkpointed, fed one by one as the
 * sequencer does. A checkpoint falls exactly every `every` records after the
 * last stored one: at each such boundary the fixture waits until it is
 * published (a sequencer does not wait, so there a checkpoint still in flight
 * can push the next one past its boundary).
 */
export async function checkpointWriter(nc: NatsConnection, w: ChainWriter, signer: NoteSigner, every: number): Promise<Checkpointer> {
  const chain = w.chainId;
  const cp = new Checkpointer({ nc, chainId: chain, signers: [signer], everyRecords: every, intervalMs: 0 });
  await cp.start();
  const from = Number(cp.size);
  await cp.onResume({ sequence: cp.size, hash: from === 0 ? genesisHash(chain) : w.hashes[from - 1]! });
  for (let i = from; i < w.hashes.length; i++) {
    await cp.onSealed({ sequence: BigInt(i + 1), hash: w.hashes[i]!, prevHash: i === 0 ? genesisHash(chain) : w.hashes[i - 1]! });
    if ((i + 1 - from) % every === 0) await cp.flush();
    else if (i % 100 === 0) await new Promise((r) => setTimeout(r, 0));
  }
  await cp.stop({ flush: true });
  if (cp.failure) throw cp.failure;
  return cp;
}
