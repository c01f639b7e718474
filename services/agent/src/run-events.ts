/**
 * Feeds a stream of events (a simulated fleet) into the agent at `rate`
 * events/s (0 = as fast as the agent takes them), with backpressure: at most
 * `maxPending` events wait for durability at a time.
 */
import type { ChainEvent } from '@hwledger/chain';
import type { Acceptance } from './shipper.js';

export interface EventDriverTarget {
  submit(e: ChainEvent): Promise<Acceptance>;
  waitForCapacity(limit?: number): Promise<void>;
  readonly pending: number;
}

export interface RunEventsOptions {
  /** Events per second; 0 or undefined = unpaced. */
  rate?: number;
  maxPending?: number;
  signal?: AbortSignal;
}

export interface RunEventsResult {
  submitted: number;
  /** Durable (PubAck or outbox). */
  accepted: number;
  /** Refused by the agent (stored nowhere) or invalid. */
  refused: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runEvents(target: EventDriverTarget, events: Iterable<ChainEvent>, o: RunEventsOptions = {}): Promise<RunEventsResult> {
  const rate = o.rate ?? 0;
  const maxPending = o.maxPending ?? 20_000;
  const result: RunEventsResult = { submitted: 0, accepted: 0, refused: 0 };
  const outstanding = new Map<Promise<Acceptance>, number>();
  const started = Date.now();
  for (const e of events) {
    if (o.signal?.aborted) break;
    if (rate > 0) {
      const due = started + (result.submitted * 1000) / rate;
      const ahead = due - Date.now();
      if (ahead >= 2) await sleep(ahead);
    }
    if (target.pending >= maxPending) await target.waitForCapacity(maxPending);
    if (o.signal?.aborted) break;
    let p: Promise<Acceptance>;
    try {
      p = target.submit(e);
    } catch {
      result.refused++;
      continue;
    }
    result.submitted++;
    const n = outstanding.get(p);
    if (n === undefined) {
      outstanding.set(p, 1);
      p.then(
        () => {
          result.accepted += outstanding.get(p) ?? 0;
          outstanding.delete(p);
        },
        () => {
          result.refused += outstanding.get(p) ?? 0;
          outstanding.delete(p);
        },
      );
    } else {
      outstanding.set(p, n + 1);
    }
    // Yield now and then so timers and I/O run while generating.
    if (result.submitted % 512 === 0) await new Promise((r) => setImmediate(r));
  }
  await Promise.allSettled([...outstanding.keys()]);
  await new Promise((r) => setImmediate(r));
  return result;
}
