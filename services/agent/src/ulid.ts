/**
 * Event ids: ULIDs (48-bit unix ms + 80 random bits, Crockford base32, 26
 * chars). Unique per source without coordination, sortable by time, and
 * monotonic within one generator even when the clock stands still or steps
 * back (a backwards step reuses the last time and increments the random
 * part), so ids of one source never repeat after a restart either: the random
 * part carries 80 bits. An event id is fixed when the event is created; every
 * retry (publish, outbox flush) carries the same id, which is what lets the
 * sequencer and Nats-Msg-Id drop redeliveries (spec: event_id, "producer's
 * idempotency key, unique per source").
 */
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TIME_MAX = 2 ** 48 - 1;

export type RandomBits = () => number;

export interface UlidFactory {
  /** Next id for an event observed at `timeMs` (unix ms). */
  next(timeMs: number): string;
}

/** `random` returns uniform u32 values; default: crypto-random. */
export function createUlidFactory(random?: RandomBits): UlidFactory {
  const rnd = random ?? cryptoU32();
  let lastTime = -1;
  const digits = new Array<number>(16).fill(0);
  return {
    next(timeMs: number): string {
      if (!Number.isSafeInteger(timeMs) || timeMs < 0 || timeMs > TIME_MAX) throw new RangeError(`ULID time ${timeMs} out of range`);
      if (timeMs > lastTime) {
        lastTime = timeMs;
        for (let i = 0; i < 16; i++) digits[i] = rnd() & 31;
      } else {
        // Same or earlier millisecond: keep the time, increment the random part.
        let i = 15;
        while (i >= 0 && digits[i] === 31) digits[i--] = 0;
        if (i < 0) {
          lastTime += 1;
          for (let k = 0; k < 16; k++) digits[k] = rnd() & 31;
        } else {
          digits[i] = digits[i]! + 1;
        }
      }
      let t = lastTime;
      let time = '';
      for (let i = 0; i < 10; i++) {
        time = ALPHABET[t % 32]! + time;
        t = Math.floor(t / 32);
      }
      let rand = '';
      for (const d of digits) rand += ALPHABET[d]!;
      return time + rand;
    },
  };
}

function cryptoU32(): RandomBits {
  let pool = randomBytes(0);
  let at = 0;
  return () => {
    if (at + 4 > pool.length) {
      pool = randomBytes(1024);
      at = 0;
    }
    const v = pool.readUInt32BE(at);
    at += 4;
    return v;
  };
}
