/**
 * Leadership lease in a NATS KV bucket (KV_BUCKETS.leader, key = chain id).
 * The bucket's max_age is the lease TTL: a dead leader stops renewing and its
 * key vanishes after the TTL, and a standby's `create` then succeeds.
 * Renewals are revision-checked updates, so a leader that lost the key never
 * renews someone else's lease.
 *
 * The lease is an optimization (one active writer, no wasted appends), not
 * the safety mechanism: every chain append is fenced with
 * Nats-Expected-Last-Sequence. It does narrow the window in which two writers
 * could both have appends in flight: the holder only sends appends while
 * `isValid()`, i.e. until `ttl - margin` after the moment it *sent* its last
 * successful renewal, which is before the server-side expiry (see
 * docs/sequencer.md, "Fencing").
 */
import { JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { KV_BUCKETS, openKvBucket } from '@hwledger/core';

const WRONG_LAST_SEQUENCE = 10071;

export interface LeaseOptions {
  /** Bucket max_age (ms) when the bucket is created here. */
  ttlMs: number;
  /** The holder stops appending this long before the lease could expire (ms). */
  marginMs: number;
}

/**
 * Opens the leader bucket, creating it (history 1, max_age = TTL, `replicas`
 * copies) when missing. The topology command creates it first in production
 * (R3, docs/operations.md "Durability"); create() opens an existing bucket
 * as it is (its TTL and replicas win).
 */
export async function openLeaderBucket(nc: NatsConnection, ttlMs: number, replicas = 1): Promise<KV> {
  // Rollups refused: one chain's sequencer cannot purge the others' leases (@hwledger/core kv-bucket.ts).
  return openKvBucket(nc, KV_BUCKETS.leader, { history: 1, ttlMs, replicas });
}

function isWrongLastSequence(e: unknown): boolean {
  return e instanceof JetStreamApiError && (e.code === WRONG_LAST_SEQUENCE || e.code === 10164);
}

/** What the sequencer needs from a lease (LeaderLease; tests may substitute their own). */
export interface Lease {
  readonly held: boolean;
  isValid(now?: number): boolean;
  tryAcquire(): Promise<boolean>;
  renew(): Promise<boolean>;
  release(): Promise<void>;
  currentHolder(): Promise<string | undefined>;
}

export class LeaderLease implements Lease {
  private rev = 0;
  private validUntil = 0;

  constructor(
    private readonly kv: KV,
    readonly key: string,
    private readonly holder: string,
    private readonly opts: LeaseOptions,
  ) {}

  private value(): string {
    return JSON.stringify({ holder: this.holder, pid: process.pid, renewedAt: new Date().toISOString() });
  }

  get held(): boolean {
    return this.rev > 0;
  }

  /** True while this process may append: held and not within `margin` of expiry. */
  isValid(now = performance.now()): boolean {
    return this.rev > 0 && now < this.validUntil;
  }

  /** Takes the lease if nobody holds it. */
  async tryAcquire(): Promise<boolean> {
    const sent = performance.now();
    try {
      this.rev = await this.kv.create(this.key, this.value());
      this.validUntil = sent + this.opts.ttlMs - this.opts.marginMs;
      return true;
    } catch (e) {
      if (isWrongLastSequence(e)) return false;
      throw e;
    }
  }

  /**
   * Extends the lease. Returns false when it was lost (someone else holds the
   * key, or it expired); a transient error leaves the validity to run out.
   */
  async renew(): Promise<boolean> {
    if (this.rev === 0) return false;
    const sent = performance.now();
    try {
      this.rev = await this.kv.update(this.key, this.value(), this.rev);
      this.validUntil = sent + this.opts.ttlMs - this.opts.marginMs;
      return true;
    } catch (e) {
      if (isWrongLastSequence(e)) {
        this.rev = 0;
        this.validUntil = 0;
        return false;
      }
      return this.isValid();
    }
  }

  /** Gives the lease up (clean shutdown) so a standby takes over at once. */
  async release(): Promise<void> {
    const rev = this.rev;
    this.rev = 0;
    this.validUntil = 0;
    if (rev === 0) return;
    try {
      await this.kv.delete(this.key, { previousSeq: rev });
    } catch {
      // Lost already, or NATS is gone: the TTL releases it.
    }
  }

  /** Who holds the lease now (for logs). */
  async currentHolder(): Promise<string | undefined> {
    try {
      const e = await this.kv.get(this.key);
      if (!e || e.operation !== 'PUT') return undefined;
      return (JSON.parse(e.string()) as { holder?: string }).holder;
    } catch {
      return undefined;
    }
  }
}
