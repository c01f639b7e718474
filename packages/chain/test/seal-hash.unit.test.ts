/**
 * sealEvent's injectable chain hash: the default is the portable
 * @noble/hashes SHA-256; a native SHA-256 passed in must give identical
 * records and links (spec: "Hash chain"), and the default must still be what
 * the spec's vectors say.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chainHash, sealEvent, toHex, type ChainHashFn } from '@hwledger/chain';
import { anyEvent, u64 } from './support/arbitraries.js';

const nodeChainHash: ChainHashFn = (prev, canonical) => new Uint8Array(createHash('sha256').update(prev).update(canonical).digest());

describe('sealEvent hash injection', () => {
  it('a native SHA-256 seals byte-identical records with identical links (random events)', () => {
    fc.assert(
      fc.property(anyEvent(), u64(), fc.uint8Array({ minLength: 32, maxLength: 32 }), (event, sequence, prev) => {
        const fields = { chainId: 'c1', sequence, sealedAtMs: 1_700_000_000_000n };
        let a;
        try {
          a = sealEvent(event, fields, prev);
        } catch (e) {
          // Unsealable input fails the same way whatever the hash.
          expect(() => sealEvent(event, fields, prev, nodeChainHash)).toThrow((e as Error).message);
          return;
        }
        const b = sealEvent(event, fields, prev, nodeChainHash);
        expect(b.canonical).toEqual(a.canonical);
        expect(toHex(b.hash)).toBe(toHex(a.hash));
        expect(toHex(a.hash)).toBe(toHex(chainHash(prev, a.canonical)));
      }),
      { numRuns: 500 },
    );
  });

  it('uses the injected function for the link (and only for the link)', () => {
    const calls: number[] = [];
    const fake: ChainHashFn = (prev, canonical) => {
      calls.push(prev.length + canonical.length);
      return new Uint8Array(32).fill(7);
    };
    const event = {
      kind: 'job_failed',
      source: 's',
      eventId: 'e',
      observedAtMs: 1n,
      tenant: '',
      instanceId: 'i',
      data: { job_id: 'j', error_message: 'x' },
    } as const;
    const s = sealEvent(event, { chainId: 'c', sequence: 1n, sealedAtMs: 2n }, new Uint8Array(32), fake);
    expect(calls).toEqual([32 + s.canonical.length]);
    expect(s.hash).toEqual(new Uint8Array(32).fill(7));
    expect(toHex(sealEvent(event, { chainId: 'c', sequence: 1n, sealedAtMs: 2n }, new Uint8Array(32)).hash)).toBe(
      toHex(chainHash(new Uint8Array(32), s.canonical)),
    );
  });
});
