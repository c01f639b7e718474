/**
 * Checkpoint verifier keys bound to the chains they sign for.
 *
 * Threat: cross-region forgery. Each region signs its own chain's
 * checkpoints with its own key. A verifier that trusts the union of every
 * region's keys would accept a checkpoint of `hwledger/eu-west-1` signed with
 * us-east-1's key: the holder of one region's private key could extend
 * another region's checkpoint log with records of its own making, have it
 * anchored in the fleet and hand out proof bundles for it.
 *
 * A key bound to chains (NoteVerifier.chains) is used by verifyCheckpoint
 * only for those origins. An unbound key (the key text carries no origin) is
 * trusted for any origin, which is safe only where exactly one chain is
 * verified; wherever several chains are verified with one key set, every key
 * must be bound (requireBoundKeys).
 */
import { keyMaySignFor, type NoteVerifier } from '@hwledger/chain';
import { HwlError } from '@hwledger/core';

/** Whether the key may sign for any chain (no binding). */
export function isUnbound(k: NoteVerifier): boolean {
  return k.chains === undefined;
}

/** The keys that may sign checkpoints of `chainId`: those bound to it, and unbound ones. */
export function keysForChain(trusted: readonly NoteVerifier[], chainId: string): NoteVerifier[] {
  return trusted.filter((k) => keyMaySignFor(k, chainId));
}

/**
 * Refuses unbound keys when `chains` holds more than one chain: with several
 * chains an unbound key could sign for any of them (cross-region forgery).
 * HwlError CONFIG naming the unbound keys.
 */
export function requireBoundKeys(trusted: readonly NoteVerifier[], chains: Iterable<string>, what: string): void {
  const distinct = [...new Set(chains)];
  if (distinct.length <= 1) return;
  const unbound = [...new Set(trusted.filter(isUnbound).map((k) => k.name))];
  if (unbound.length === 0) return;
  throw new HwlError(
    'CONFIG',
    `${what} covers several chains (${distinct.join(', ')}): each checkpoint key must be bound to the chain(s) it signs for ` +
      `(CLI: --key CHAIN=KEY, repeatable for a key shared by several chains), but ${unbound.join(', ')} ${unbound.length === 1 ? 'is' : 'are'} not`,
  );
}
