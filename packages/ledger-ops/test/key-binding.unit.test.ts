/**
 * Checkpoint keys bound to the chains they sign for (threat: cross-region
 * forgery). The holder of us-east-1's private key signs an
 * `hwledger/eu-west-1` checkpoint that extends eu-west-1's real one with
 * records of its own making; a verifier trusting both regions' keys must
 * refuse it once each key is bound to its region, in checkpoint
 * verification and in proof bundles (inclusion and consistency), while
 * every legitimate case still passes: each region's own checkpoints, a key
 * bound to several chains, rotation (two keys of one region), and a single
 * unbound key for a single chain (as before).
 */
import { describe, expect, it } from 'vitest';
import {
  MemoryMerkleTree,
  genesisHash,
  generateSigner,
  sealEvent,
  signCheckpoint,
  verifierOf,
  verifyCheckpoint,
  type NoteSigner,
  type NoteVerifier,
  type Sealed,
} from '@hwledger/chain';
import { makeConsistencyBundle, makeInclusionBundle, verifyProofBundle, type InclusionBundle } from '@hwledger/ledger-ops';
import { testEvent } from './chain-fixture.js';

const EU = 'eu-west-1';
const US = 'us-east-1';
const euKey = generateSigner('hwl-eu');
const usKey = generateSigner('hwl-us');
const bind = (s: NoteSigner, ...chains: string[]): NoteVerifier => ({ ...verifierOf(s), chains });
/** The fleet's configuration: each region's key bound to its region. */
const bound = [bind(euKey, EU), bind(usKey, US)];

class OfflineChain {
  readonly records: Sealed[] = [];
  readonly tree = new MemoryMerkleTree();
  constructor(readonly chainId: string) {}
  get head(): Uint8Array {
    return this.records.at(-1)?.hash ?? genesisHash(this.chainId);
  }
  append(n: number, salt = 0): this {
    for (let i = 0; i < n; i++) {
      const seq = BigInt(this.records.length + 1);
      const s = sealEvent(testEvent(Number(seq) + salt), { chainId: this.chainId, sequence: seq, sealedAtMs: 1_700_000_000_000n + seq }, this.head);
      this.records.push(s);
      this.tree.append(s.hash);
    }
    return this;
  }
  checkpoint(signers: NoteSigner[]): string {
    return signCheckpoint({ chainId: this.chainId, sequence: this.tree.size, headHash: this.head, rootHash: this.tree.root(), timeMs: 1n }, signers).note;
  }
  fork(): OfflineChain {
    const c = new OfflineChain(this.chainId);
    for (const r of this.records) {
      c.records.push(r);
      c.tree.append(r.hash);
    }
    return c;
  }
  inclusion(seq: number, note: string): InclusionBundle {
    const r = this.records[seq - 1]!;
    return makeInclusionBundle({ note, chainId: this.chainId, sequence: BigInt(seq), treeSize: this.tree.size, canonical: r.canonical, prevHash: r.prevHash, hash: r.hash, proof: this.tree.inclusionProof(BigInt(seq - 1)) });
  }
}

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  }
};

// eu-west-1's real chain and checkpoint at 10; us-east-1's at 8.
const eu = new OfflineChain(EU).append(10);
const euNote = eu.checkpoint([euKey]);
const us = new OfflineChain(US).append(8);
const usNote = us.checkpoint([usKey]);
// The forgery: eu's real history plus 5 records of the attacker's making, signed for eu by us's key.
const forged = eu.fork().append(5, 1000);
const forgedNote = forged.checkpoint([usKey]);

describe('checkpoint keys bound to their chains', () => {
  it('refuses a checkpoint of one region signed with another region\'s bound key', () => {
    expect(codeOf(() => verifyCheckpoint(forgedNote, bound))).toBe('INVALID_SIGNATURE');
    expect(() => verifyCheckpoint(forgedNote, bound)).toThrow(/no signature by a trusted key for origin hwledger\/eu-west-1; signed by hwl-us \(trusted for us-east-1\), not for this origin/);
    // Also when the forger adds a signature by a key that is not trusted at all.
    expect(codeOf(() => verifyCheckpoint(forged.checkpoint([usKey, generateSigner('hwl-eu')]), bound))).toBe('INVALID_SIGNATURE');
  });

  it('accepts each region\'s own checkpoints, a key bound to several chains, and rotation', () => {
    expect(verifyCheckpoint(euNote, bound).verifiedBy).toEqual(['hwl-eu']);
    expect(verifyCheckpoint(usNote, bound).verifiedBy).toEqual(['hwl-us']);
    // One key for every region (as the local stack has): bound to each, by one entry or by two.
    const shared = generateSigner('hwl-all');
    for (const keys of [[bind(shared, EU, US)], [bind(shared, EU), bind(shared, US)]]) {
      expect(verifyCheckpoint(eu.checkpoint([shared]), keys).verifiedBy).toEqual(['hwl-all']);
      expect(verifyCheckpoint(us.checkpoint([shared]), keys).verifiedBy).toEqual(['hwl-all']);
    }
    // Rotation: both eu keys bound to eu; either one verifies.
    const euNext = generateSigner('hwl-eu-2027');
    const rotated = eu.checkpoint([euKey, euNext]);
    expect(verifyCheckpoint(rotated, [bind(euNext, EU), ...bound]).verifiedBy).toEqual(['hwl-eu', 'hwl-eu-2027']);
    expect(verifyCheckpoint(rotated, [bind(euNext, EU)]).verifiedBy).toEqual(['hwl-eu-2027']);
  });

  it('an unbound key verifies its one chain as before; a bound key that fails to verify is still an error', () => {
    expect(verifyCheckpoint(euNote, [verifierOf(euKey)]).verifiedBy).toEqual(['hwl-eu']);
    // A corrupted signature by the key bound to this origin is refused, not skipped.
    // (A base64 digit inside the 64-byte signature, after the 4-byte key id.)
    const corrupt = euNote.replace(/(\u2014 hwl-eu .{40})(.)/, (_m, p: string, c: string) => p + (c === 'A' ? 'B' : 'A'));
    expect(corrupt).not.toBe(euNote);
    expect(() => verifyCheckpoint(corrupt, bound)).toThrow(/does not verify/);
  });
});

describe('proof bundles with bound keys', () => {
  it('refuses an inclusion proof of a forged eu record signed by the us key', () => {
    const b = forged.inclusion(13, forgedNote);
    // The bundle is internally consistent: it verifies with the us key trusted for eu (what an unbound key amounts to).
    expect(verifyProofBundle(b, [bind(usKey, EU)])).toMatchObject({ chainId: EU, sequence: 13n });
    expect(codeOf(() => verifyProofBundle(b, bound))).toBe('INTEGRITY');
    expect(() => verifyProofBundle(b, bound)).toThrow(/checkpoint: no signature by a trusted key for origin hwledger\/eu-west-1/);
    // Naming the expected chain binds unbound keys to it.
    expect(codeOf(() => verifyProofBundle(b, [verifierOf(euKey)], { chainId: EU }))).toBe('INTEGRITY');
  });

  it('refuses a consistency proof from eu\'s real checkpoint to the forged one', () => {
    const b = makeConsistencyBundle({ chainId: EU, oldNote: euNote, newNote: forgedNote, proof: forged.tree.consistencyProof(10n) });
    expect(verifyProofBundle(b, [bind(euKey, EU), bind(usKey, EU)])).toMatchObject({ oldSize: 10n, newSize: 15n });
    expect(() => verifyProofBundle(b, bound)).toThrow(/new checkpoint: no signature by a trusted key for origin hwledger\/eu-west-1/);
  });

  it('accepts legitimate bundles of every region with the bound keys; chainId refuses another chain\'s bundle', () => {
    const euB = eu.inclusion(4, euNote);
    const usB = us.inclusion(8, usNote);
    expect(verifyProofBundle(euB, bound)).toMatchObject({ chainId: EU, sequence: 4n, verifiedBy: ['hwl-eu'] });
    expect(verifyProofBundle(usB, bound)).toMatchObject({ chainId: US, sequence: 8n, verifiedBy: ['hwl-us'] });
    expect(verifyProofBundle(euB, [verifierOf(euKey)])).toMatchObject({ chainId: EU });
    expect(verifyProofBundle(euB, [verifierOf(euKey)], { chainId: EU })).toMatchObject({ chainId: EU });
    expect(() => verifyProofBundle(usB, [verifierOf(usKey)], { chainId: EU })).toThrow(/bundle is for chain us-east-1, expected eu-west-1/);
    const grown = eu.fork().append(6);
    const cons = makeConsistencyBundle({ chainId: EU, oldNote: euNote, newNote: grown.checkpoint([euKey]), proof: grown.tree.consistencyProof(10n) });
    expect(verifyProofBundle(cons, bound)).toMatchObject({ oldSize: 10n, newSize: 16n });
  });
});
