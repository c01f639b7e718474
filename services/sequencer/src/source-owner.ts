/**
 * Which event sources an ingest message may carry: those of the node whose
 * subject it came on.
 *
 * Threat: a compromised or misconfigured node. Its NATS user may publish only
 * on its own subject `hwl.ingest.<chain>.<node>` (deploy/nats/auth.conf), but
 * an event's `source` is producer-supplied. Without this rule a node could
 * seal events in another node's name, and, because the sequencer drops an
 * event whose (source, event_id) key is already on the chain, pre-empt that
 * node's real events (an idempotency key derived from a request id is
 * guessable) so that they are dead-lettered as duplicates: lost to billing.
 *
 * The rule: on `hwl.ingest.<chain>.<node>` a source is accepted when it is
 * `<chain>/<node>` itself or lies below it, `<chain>/<node>/<anything>` (a
 * simulated fleet, several producers on one node). Anything else is
 * FOREIGN_SOURCE, per event. A subject whose node part is not one subject
 * token (or a chain id that is not one) owns no source.
 */
import { SUBJECT_TOKEN_RE } from '@hwledger/chain';
import { isOwnSource, subjects } from '@hwledger/core';

/** The owner of one ingest subject: the source `<chain>/<node>`, as a string and as its ASCII bytes (`undefined` when the subject owns nothing). */
export interface SourceOwner {
  subject: string;
  source: string | undefined;
  bytes: Uint8Array;
}

const NOTHING = new Uint8Array(0);

/** The owner of `subject` for chain `chainId` (node = the single token after `hwl.ingest.<chain>.`). */
export function sourceOwner(chainId: string, subject: string): SourceOwner {
  const prefix = subjects.ingest(chainId, '');
  const node = subject.startsWith(prefix) ? subject.slice(prefix.length) : '';
  // Both must be subject tokens (ASCII): the owner's bytes below are its chars, one byte each, and the fast paths compare those.
  if (!SUBJECT_TOKEN_RE.test(node) || !SUBJECT_TOKEN_RE.test(chainId)) return { subject, source: undefined, bytes: NOTHING };
  const source = `${chainId}/${node}`;
  return { subject, source, bytes: Uint8Array.from(source, (c) => c.charCodeAt(0)) };
}

/** Whether `owner` may publish events of `source`. */
export function ownsSource(owner: SourceOwner, source: string): boolean {
  return owner.source !== undefined && isOwnSource(owner.source, source);
}

/**
 * The node whose subject may carry events of `source` on chain `chainId`: the
 * first segment after `<chain>/`, when it is a subject token; undefined when
 * no node's subject may (the source is not of the chain's `<chain>/<node>[/...]`
 * form). Producers that publish for several nodes (`hwledger emit`) route by it.
 */
export function nodeOfSource(chainId: string, source: string): string | undefined {
  const prefix = `${chainId}/`;
  if (!source.startsWith(prefix)) return undefined;
  const rest = source.slice(prefix.length);
  const slash = rest.indexOf('/');
  const node = slash < 0 ? rest : rest.slice(0, slash);
  if (slash >= 0 && slash === rest.length - 1) return undefined; // "<chain>/<node>/": nothing below the node
  return SUBJECT_TOKEN_RE.test(node) ? node : undefined;
}

/** The dead letter's reason for an event of `source` on `owner`'s subject. */
export function foreignSourceReason(owner: SourceOwner, source: string): string {
  if (owner.source === undefined) return `subject ${owner.subject} names no node (one subject token after hwl.ingest.<chain>.): it may carry no events`;
  return `source ${JSON.stringify(source)} is not node ${JSON.stringify(owner.source)}'s: events on ${owner.subject} must have source ${owner.source} or ${owner.source}/…`;
}

/**
 * Owners of recently seen subjects (one per node of the chain): the fast
 * path compares bytes without building anything per message. Bounded, so a
 * flood of made-up subjects (only an admin user can publish them) costs
 * memory for at most `max` entries.
 */
export class SourceOwners {
  private readonly cache = new Map<string, SourceOwner>();
  constructor(
    private readonly chainId: string,
    private readonly max = 4096,
  ) {}

  of(subject: string): SourceOwner {
    let o = this.cache.get(subject);
    if (o === undefined) {
      o = sourceOwner(this.chainId, subject);
      if (this.cache.size >= this.max) this.cache.clear();
      this.cache.set(subject, o);
    }
    return o;
  }
}
