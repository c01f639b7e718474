/**
 * Per-role NATS permissions (deploy/nats/auth.conf is generated from this).
 *
 * Threats addressed:
 * - a compromised GPU node forging another node's telemetry or sealing
 *   records itself: agents may publish ONLY to their own ingest subject
 *   `hwl.ingest.<chain>.<node>` (README "NATS subjects and streams");
 * - anyone but the sequencer extending a chain: only the sequencer role may
 *   publish `hwl.chain.<chain>.>` (and only for its own chain);
 * - a billing consumer altering the topology (a consumer with a start
 *   sequence it chose, a deleted stream, a purged chain): billing reads the
 *   chain through subjects, message gets and a durable an operator created
 *   for it, and may create, update or delete nothing.
 *
 * Config-file users in ONE `authorization` block, never combined with an
 * `accounts` block: on nats-server 2.9.10 (Debian's, used by the tests) that
 * combination is CVE-2023-47090 (authorization bypass). Production runs a
 * current release; see docs/operations.md.
 *
 * NATS permission wildcards match whole tokens only, so stream names
 * (`HWL_CHAIN_<chain>`) are enumerated per chain rather than written
 * `HWL_CHAIN_*`.
 */
import { streams, subjects, KV_BUCKETS, assertToken } from '@hwledger/core';

export interface SubjectPermission {
  allow: string[];
  deny?: string[];
}

export interface Permissions {
  publish: SubjectPermission;
  subscribe: SubjectPermission;
  /** Reply to requests (responses to inboxes only). */
  allow_responses?: boolean;
}

export type Role =
  | { role: 'agent'; chain: string; node: string }
  | { role: 'sequencer'; chain: string }
  | { role: 'reader'; chains: string[] }
  | { role: 'billing'; chains: string[]; durables: string[] }
  | { role: 'admin' };

/** Inboxes: JetStream PubAcks and API responses come back here. */
const INBOX = '_INBOX.>';

/** Topology changes nobody but an admin makes. */
const TOPOLOGY_WRITES = ['$JS.API.STREAM.CREATE.>', '$JS.API.STREAM.UPDATE.>', '$JS.API.STREAM.DELETE.>', '$JS.API.STREAM.PURGE.>', '$JS.API.STREAM.MSG.DELETE.>'];

function chainReadSubjects(chain: string): string[] {
  const s = streams.chain(chain);
  return [
    `$JS.API.STREAM.INFO.${s}`,
    `$JS.API.STREAM.MSG.GET.${s}`,
    `$JS.API.DIRECT.GET.${s}`,
    `$JS.API.DIRECT.GET.${s}.>`,
  ];
}

export function rolePermissions(r: Role): Permissions {
  switch (r.role) {
    case 'agent':
      assertToken(r.chain, 'chain id');
      assertToken(r.node, 'node name');
      return {
        // Its own ingest subject; and read-only JetStream info (the agent checks its chain's
        // streams exist at connect: account info and stream info, never create/update).
        publish: {
          allow: [
            subjects.ingest(r.chain, r.node),
            '$JS.API.INFO',
            `$JS.API.STREAM.INFO.${streams.ingest(r.chain)}`,
            `$JS.API.STREAM.INFO.${streams.chain(r.chain)}`,
            `$JS.API.STREAM.INFO.${streams.dlq(r.chain)}`,
          ],
        },
        subscribe: { allow: [INBOX] },
      };
    case 'sequencer': {
      const c = assertToken(r.chain, 'chain id');
      return {
        publish: {
          allow: [
            subjects.chainAll(c),
            subjects.dlq(c),
            subjects.checkpoint(c),
            // Stream/consumer management for its own chain, the leader lease
            // and checkpoint KV, acks of its ingest consumer.
            '$JS.API.>',
            `$KV.${KV_BUCKETS.leader}.${c}`,
            `$KV.${KV_BUCKETS.checkpoints}.${c}`,
            `$JS.ACK.${streams.ingest(c)}.>`,
            '$JS.FC.>',
          ],
          deny: ['$JS.API.STREAM.DELETE.>', '$JS.API.STREAM.PURGE.>', '$JS.API.STREAM.MSG.DELETE.>'],
        },
        subscribe: { allow: [INBOX, subjects.ingestAll(c)] },
      };
    }
    case 'reader': {
      const allow = ['$JS.API.INFO', '$JS.FC.>'];
      for (const c of r.chains) {
        assertToken(c, 'chain id');
        const s = streams.chain(c);
        allow.push(
          ...chainReadSubjects(c),
          // Ordered (ephemeral) consumers: the projector and verifiers replay from an anchor.
          `$JS.API.CONSUMER.CREATE.${s}`,
          `$JS.API.CONSUMER.CREATE.${s}.>`,
          `$JS.API.CONSUMER.INFO.${s}.>`,
          `$JS.API.CONSUMER.DELETE.${s}.>`,
          `$JS.API.CONSUMER.MSG.NEXT.${s}.>`,
          `$JS.ACK.${s}.>`,
          `$JS.API.STREAM.INFO.${streams.checkpoint(c)}`,
          `$JS.API.DIRECT.GET.KV_${KV_BUCKETS.checkpoints}.$KV.${KV_BUCKETS.checkpoints}.${c}`,
        );
      }
      allow.push(`$JS.API.STREAM.INFO.KV_${KV_BUCKETS.checkpoints}`);
      return {
        publish: { allow, deny: TOPOLOGY_WRITES },
        subscribe: { allow: [INBOX, 'hwl.chain.>', 'hwl.checkpoint.>'] },
      };
    }
    case 'billing': {
      const allow = ['$JS.API.INFO'];
      for (const c of r.chains) {
        assertToken(c, 'chain id');
        const s = streams.chain(c);
        allow.push(...chainReadSubjects(c));
        for (const d of r.durables) {
          assertToken(d, 'durable name');
          // Only durables an operator created for billing: read, fetch, ack.
          allow.push(`$JS.API.CONSUMER.INFO.${s}.${d}`, `$JS.API.CONSUMER.MSG.NEXT.${s}.${d}`, `$JS.ACK.${s}.${d}.>`);
        }
      }
      return {
        publish: { allow, deny: [...TOPOLOGY_WRITES, '$JS.API.CONSUMER.CREATE.>', '$JS.API.CONSUMER.DURABLE.CREATE.>', '$JS.API.CONSUMER.DELETE.>', 'hwl.>'] },
        subscribe: { allow: [INBOX, 'hwl.chain.>', 'hwl.checkpoint.>'] },
      };
    }
    case 'admin':
      return { publish: { allow: ['>'] }, subscribe: { allow: ['>'] } };
  }
}

export interface AuthUser {
  user: string;
  /** Literal config value: `$ENV_NAME` (resolved by nats-server from its environment) or a bcrypt hash. */
  password: string;
  role: Role;
}

/** Environment variable holding a user's password: HWL_NATS_PASSWORD_<USER upper, non-alnum as _>. */
export function passwordEnvName(user: string): string {
  return `HWL_NATS_PASSWORD_${user.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

function q(s: string): string {
  return JSON.stringify(s);
}

function renderList(xs: string[]): string {
  return `[${xs.map(q).join(', ')}]`;
}

function renderPermission(p: SubjectPermission, indent: string): string {
  const lines = [`${indent}  allow: ${renderList(p.allow)}`];
  if (p.deny && p.deny.length > 0) lines.push(`${indent}  deny: ${renderList(p.deny)}`);
  return `{\n${lines.join('\n')}\n${indent}}`;
}

function describe(r: Role): string {
  switch (r.role) {
    case 'agent':
      return `agent of node ${r.node} in ${r.chain}: publishes its own ingest subject only`;
    case 'sequencer':
      return `sequencer of ${r.chain}: the only writer of hwl.chain.${r.chain}.>`;
    case 'reader':
      return `projector / reconciler / API / verifier: reads ${r.chains.join(', ')}, ephemeral consumers only`;
    case 'billing':
      return `billing consumer: reads ${r.chains.join(', ')} through operator-made durables ${r.durables.join(', ')}; creates nothing`;
    case 'admin':
      return 'operator: topology (streams, billing durables), everything';
  }
}

/** The `authorization { users = [...] }` block (no `accounts` block: CVE-2023-47090 on 2.9.10). */
export function renderAuthorization(users: AuthUser[]): string {
  const out: string[] = [
    '# Generated by renderAuthorization() in packages/stack/src/nats-auth.ts; edit the fleet there.',
    '# Passwords come from the environment of nats-server ($HWL_NATS_PASSWORD_<USER>).',
    '# Never add an `accounts` block beside this one (CVE-2023-47090 on nats-server < 2.9.23/2.10.7).',
    'authorization {',
    '  users = [',
  ];
  for (const u of users) {
    const p = rolePermissions(u.role);
    out.push(`    # ${describe(u.role)}`);
    out.push(`    { user: ${q(u.user)}, password: ${u.password}, permissions: {`);
    out.push(`        publish: ${renderPermission(p.publish, '        ')}`);
    out.push(`        subscribe: ${renderPermission(p.subscribe, '        ')}`);
    out.push('    } }');
  }
  out.push('  ]', '}', '');
  return out.join('\n');
}

export interface FleetLayout {
  regions: { chain: string; nodes: string[] }[];
  billingDurables: string[];
}

/** Users for a fleet: one agent per node, one sequencer per chain, a reader, a billing user and an admin. */
export function fleetUsers(f: FleetLayout): AuthUser[] {
  const chains = f.regions.map((r) => r.chain);
  const users: AuthUser[] = [{ user: 'admin', password: '', role: { role: 'admin' } }];
  for (const r of f.regions) {
    users.push({ user: `sequencer-${r.chain}`, password: '', role: { role: 'sequencer', chain: r.chain } });
    for (const n of r.nodes) users.push({ user: `agent-${r.chain}-${n}`, password: '', role: { role: 'agent', chain: r.chain, node: n } });
  }
  users.push({ user: 'reader', password: '', role: { role: 'reader', chains } });
  users.push({ user: 'billing', password: '', role: { role: 'billing', chains, durables: f.billingDurables } });
  return users.map((u) => ({ ...u, password: `$${passwordEnvName(u.user)}` }));
}

/** The example fleet of deploy/nats/auth.conf (the local stack's simulated fleet). */
export const EXAMPLE_FLEET: FleetLayout = {
  regions: [
    { chain: 'eu-west-1', nodes: ['node-001', 'node-002'] },
    { chain: 'us-east-1', nodes: ['node-001', 'node-002'] },
  ],
  billingDurables: ['billing'],
};
