/**
 * Per-user inbox prefixes.
 *
 * Threat: replies travel on inbox subjects — PubAcks, JetStream API answers
 * and, above all, the messages a pull consumer delivers to the puller's
 * inbox (ingest events to the sequencer, chain records to the projector and
 * billing). With nats.js's default prefix `_INBOX` every user has to be
 * allowed to subscribe `_INBOX.>`, and then any of them (a compromised GPU
 * node's agent, say) can read every other client's replies. So a client that
 * connects as user U uses the prefix `_INBOX_U`, and the generated
 * permissions (packages/stack/src/nats-auth.ts) let U subscribe below its own
 * prefix only. Both sides call inboxPrefixFor, so they cannot disagree.
 */
import { createInbox, type NatsConnection } from '@nats-io/transport-node';
import { SUBJECT_TOKEN_RE } from '@hwledger/chain';

/** nats.js's default inbox prefix: connections without a user (the local stack, tests). */
export const DEFAULT_INBOX_PREFIX = '_INBOX';

/**
 * The inbox prefix of a connection made as `user`: `_INBOX_<user>`, or
 * undefined (nats.js's default) without a user or for a user name that is
 * not one subject token (it could not be a prefix; the permission generator
 * refuses such names).
 */
export function inboxPrefixFor(user: string | undefined): string | undefined {
  if (user === undefined || !SUBJECT_TOKEN_RE.test(user)) return undefined;
  return `${DEFAULT_INBOX_PREFIX}_${user}`;
}

/** The subscribe permission that covers every inbox of `user`'s connections. */
export function inboxSubscribeSubject(user: string | undefined): string {
  return `${inboxPrefixFor(user) ?? DEFAULT_INBOX_PREFIX}.>`;
}

/**
 * A fresh inbox subject on `nc`'s prefix, for the subscriptions hwledger
 * makes itself (PubAcks of pipelined publishes): nats.js keeps the prefix in
 * the connection's options, which its public interface does not show.
 */
export function connectionInbox(nc: NatsConnection): string {
  const prefix = (nc as { options?: { inboxPrefix?: unknown } }).options?.inboxPrefix;
  return createInbox(typeof prefix === 'string' && prefix !== '' ? prefix : undefined);
}
