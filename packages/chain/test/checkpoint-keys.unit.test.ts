/**
 * signed-note key texts round-trip for every key, including those whose
 * base64 holds '+' (the separator of the key text's other fields).
 */
import { describe, expect, it } from 'vitest';
import { formatSignerKey, formatVerifierKey, generateSigner, parseSignerKey, parseVerifierKey, signCheckpoint, verifierOf, verifyCheckpoint } from '@hwledger/chain';

describe('checkpoint key texts', () => {
  it('round-trip for 300 random keys (many with + in their base64)', () => {
    let withPlus = 0;
    for (let i = 0; i < 300; i++) {
      const s = generateSigner(`k-${i}`);
      const v = verifierOf(s);
      const vt = formatVerifierKey(v);
      const st = formatSignerKey(s);
      if (vt.split('+').length > 3) withPlus++;
      expect(parseVerifierKey(vt)).toEqual(v);
      const back = parseSignerKey(st);
      expect(back.publicKey).toEqual(s.publicKey);
      const cp = signCheckpoint({ chainId: 'c', sequence: 1n, headHash: new Uint8Array(32), rootHash: new Uint8Array(32), timeMs: 1n }, [back]);
      expect(verifyCheckpoint(cp.note, [parseVerifierKey(vt)]).verifiedBy).toEqual([`k-${i}`]);
    }
    expect(withPlus).toBeGreaterThan(0);
  });
});
