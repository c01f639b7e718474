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
 *   for it, and may create, update or delete nothing;
 * - one user reading another's replies (PubAcks, API answers, and the
 *   messages pull consumers deliver: ingest events, chain records): each
 *   user subscribes to its own inbox prefix `_INBOX_<user>` only, never
 *   `_INBOX.>` (@hwledger/core nats-inbox.ts);
 * - a compromised fleet anchorer rewriting history: it appends to its fleet
 *   anchors only (creating their streams when missing) and reads the
 *   regions' checkpoint logs; it writes no chain, ingest, checkpoint or KV
 *   subject and updates, deletes or purges no stream.
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
import { streams, subjects, KV_BUCKETS, assertToken, inboxSubscribeSubject } from '@hwledger/core';

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
  /** `durables`: operator-made durables on its chain stream (billing's) it may not replace or pull from. */
  | { role: 'sequencer'; chain: string; durables?: string[] }
  /** `fleets`: fleet anchors (HWL_FLEET_<fleet>) it reads; `durables`: operator-made durables it may not replace or pull from. */
  | { role: 'reader'; chains: string[]; fleets?: string[]; durables?: string[] }
  | { role: 'billing'; chains: string[]; durables: string[] }
  /** `hwledger fleet-anchor`: reads the checkpoint logs of `chains`, appends to the fleet anchors HWL_FLEET_<fleet> of `fleets`. */
  | { role: 'fleet-anchor'; chains: string[]; fleets: string[] }
  | { role: 'admin' };


/** Topology changes nobody but an admin makes. */
const TOPOLOGY_WRITES = ['$JS.API.STREAM.CREATE.>', '$JS.API.STREAM.UPDATE.>', '$JS.API.STREAM.DELETE.>', '$JS.API.STREAM.PURGE.>', '$JS.API.STREAM.MSG.DELETE.>'];

/** KV buckets are streams named KV_<bucket>. */
const kvStream = (bucket: string): string => `KV_${bucket}`;

/** Direct get of the last value of one KV key (what nats.js KV `get` sends on a bucket with allow_direct). */
const kvGet = (bucket: string, key: string): string => `$JS.API.DIRECT.GET.${kvStream(bucket)}.$KV.${bucket}.${key}`;

function chainReadSubjects(chain: string): string[] {
  const s = streams.chain(chain);
  return [
    `$JS.API.STREAM.INFO.${s}`,
    `$JS.API.STREAM.MSG.GET.${s}`,
    `$JS.API.DIRECT.GET.${s}`,
    `$JS.API.DIRECT.GET.${s}.>`,
  ];
}

/**
 * Ordered consumers of nats.js v3 (`js.consumers.get(stream, opts)`): each is
 * created as `$JS.API.CONSUMER.CREATE.<stream>.oc_<nuid>_<n>` (plus
 * `.<filter>` when filtered), pulled with `CONSUMER.MSG.NEXT.<stream>.<name>`,
 * never acked (AckPolicy.None) and expires by inactive_threshold. Consumer
 * names are one token, so the name can only be wildcarded as a whole: the
 * durables of `guardDurables` are denied by name. No CONSUMER.DELETE: the
 * client's best-effort delete of a replaced ordered consumer is refused and
 * the server removes it when inactive.
 */
function orderedConsumerSubjects(stream: string): string[] {
  return [
    `$JS.API.CONSUMER.CREATE.${stream}.*`,
    `$JS.API.CONSUMER.CREATE.${stream}.*.>`,
    `$JS.API.CONSUMER.INFO.${stream}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`,
  ];
}

/** Operator-made durables on `stream` that a `CONSUMER.CREATE.<stream>.*` allowance must not reach: no replace (create = update of an existing name), no pulls, no acks. */
function guardDurables(stream: string, durables: readonly string[]): string[] {
  return durables.flatMap((d) => {
    assertToken(d, 'durable name');
    return [`$JS.API.CONSUMER.CREATE.${stream}.${d}`, `$JS.API.CONSUMER.CREATE.${stream}.${d}.>`, `$JS.API.CONSUMER.MSG.NEXT.${stream}.${d}`, `$JS.ACK.${stream}.${d}.>`];
  });
}

/**
 * What `user` (default: none) in role `r` may publish and subscribe. Inboxes
 * (PubAcks, API answers, pull-consumer deliveries) are the user's own only,
 * `_INBOX_<user>.>`, which is the prefix its connections use (@hwledger/core
 * nats-inbox.ts): one user cannot read another's replies. Without a user
 * (unit tests of a role) the default `_INBOX.>`.
 */
export function rolePermissions(r: Role, user?: string): Permissions {
  const INBOX = inboxSubscribeSubject(user);
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
      const ingest = streams.ingest(c);
      const chain = streams.chain(c);
      const ckpt = streams.checkpoint(c);
      const leaderKv = kvStream(KV_BUCKETS.leader);
      const ckptKv = kvStream(KV_BUCKETS.checkpoints);
      // Streams it checks (ensureChainTopology, CheckpointLog.open, the KV buckets). It may not
      // create any: NATS permissions limit a CREATE by the stream's name, not its configuration,
      // and the creator of a missing stream chooses all of it: `republish` (every stored message
      // re-sent, unchecked, to any subject: another region's chain, a lease key, another node's
      // ingest) or `sources` (a copy of any stream, readable by the creator). Found in a review;
      // the topology job (admin) creates every stream first.
      const own = [ingest, chain, streams.dlq(c), ckpt];
      return {
        publish: {
          allow: [
            subjects.chainAll(c),
            subjects.dlq(c),
            subjects.checkpoint(c),
            // Its lease and its latest-checkpoint KV keys.
            `$KV.${KV_BUCKETS.leader}.${c}`,
            `$KV.${KV_BUCKETS.checkpoints}.${c}`,
            '$JS.API.INFO',
            ...[...own, leaderKv, ckptKv].map((s) => `$JS.API.STREAM.INFO.${s}`),
            `$JS.API.STREAM.MSG.GET.${ingest}`,
            `$JS.API.STREAM.MSG.GET.${chain}`,
            `$JS.API.STREAM.MSG.GET.${ckpt}`,
            kvGet(KV_BUCKETS.leader, c),
            kvGet(KV_BUCKETS.checkpoints, c),
            // Its ingest stream: drop the handled prefix, replace its `hwl-sequencer-<nuid>`
            // consumers (list, delete, create, fetch, ack).
            `$JS.API.STREAM.PURGE.${ingest}`,
            `$JS.API.CONSUMER.LIST.${ingest}`,
            `$JS.API.CONSUMER.CREATE.${ingest}.*`,
            `$JS.API.CONSUMER.INFO.${ingest}.*`,
            `$JS.API.CONSUMER.DELETE.${ingest}.*`,
            `$JS.API.CONSUMER.MSG.NEXT.${ingest}.*`,
            `$JS.ACK.${ingest}.>`,
            // Reading its chain (tail at start, the checkpointer's walk) and its checkpoint log.
            ...orderedConsumerSubjects(chain),
            ...orderedConsumerSubjects(ckpt),
          ],
          deny: ['$JS.API.STREAM.CREATE.>', '$JS.API.STREAM.UPDATE.>', '$JS.API.STREAM.DELETE.>', '$JS.API.STREAM.MSG.DELETE.>', '$JS.API.CONSUMER.DURABLE.CREATE.>', ...guardDurables(chain, r.durables ?? [])],
        },
        // Its own inbox only: it reads ingest through a pull consumer (deliveries come to its inbox).
        subscribe: { allow: [INBOX] },
      };
    }
    case 'reader': {
      const allow = ['$JS.API.INFO', '$JS.FC.>'];
      const deny = [...TOPOLOGY_WRITES, '$JS.API.CONSUMER.DELETE.>', '$JS.API.CONSUMER.DURABLE.CREATE.>', '$JS.ACK.>'];
      const C = KV_BUCKETS.checkpoints;
      for (const c of r.chains) {
        assertToken(c, 'chain id');
        const s = streams.chain(c);
        const ckpt = streams.checkpoint(c);
        allow.push(
          ...chainReadSubjects(c),
          // Ordered consumers: the projector and verifiers replay from an anchor.
          ...orderedConsumerSubjects(s),
          // Checkpoints (API checkpoint status and listing, proofs): the log stream and the KV keys of the chain.
          `$JS.API.STREAM.INFO.${ckpt}`,
          `$JS.API.STREAM.MSG.GET.${ckpt}`,
          ...orderedConsumerSubjects(ckpt),
          kvGet(C, c),
          kvGet(C, `${c}.anchor`),
          kvGet(C, `${c}.archive`),
          kvGet(C, `${c}.replica`),
        );
        deny.push(...guardDurables(s, r.durables ?? []));
      }
      for (const f of r.fleets ?? []) {
        const s = `HWL_FLEET_${assertToken(f, 'fleet name')}`;
        allow.push(`$JS.API.STREAM.INFO.${s}`, `$JS.API.STREAM.MSG.GET.${s}`, ...orderedConsumerSubjects(s));
      }
      allow.push(`$JS.API.STREAM.INFO.${kvStream(C)}`);
      return {
        publish: { allow, deny },
        // No plain subscriptions to chain or checkpoint subjects: it reads through consumers
        // (deliveries to its own inbox), which count stream sequences and lose nothing across a
        // disconnect, and a copy replayed through someone's push consumer (nats-server#8274)
        // can reach a plain subscriber only.
        subscribe: { allow: [INBOX] },
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
        // No plain subscriptions to chain or checkpoint subjects: it reads through consumers
        // (deliveries to its own inbox), which count stream sequences and lose nothing across a
        // disconnect, and a copy replayed through someone's push consumer (nats-server#8274)
        // can reach a plain subscriber only.
        subscribe: { allow: [INBOX] },
      };
    }
    case 'fleet-anchor': {
      // What FleetAnchorer (packages/ledger-ops/src/fleet.ts) sends: load() = fleet stream info
      // (the topology job creates it) and an ordered-consumer read of it; tick() = per region,
      // CheckpointLog.open (checkpoint stream info, KV bucket info: both exist, made by the
      // sequencer), latest/findBySize (stream info, message gets), the log walk (ordered
      // consumer), then a publish to hwl.fleet.<fleet> fenced with Nats-Expected-Last-Sequence
      // (PubAck on an inbox).
      const allow = ['$JS.API.INFO', `$JS.API.STREAM.INFO.${kvStream(KV_BUCKETS.checkpoints)}`];
      for (const c of r.chains) {
        const ckpt = streams.checkpoint(assertToken(c, 'chain id'));
        allow.push(`$JS.API.STREAM.INFO.${ckpt}`, `$JS.API.STREAM.MSG.GET.${ckpt}`, ...orderedConsumerSubjects(ckpt));
      }
      for (const f of r.fleets) {
        assertToken(f, 'fleet name');
        const s = `HWL_FLEET_${f}`;
        // No CREATE: the creator of a missing stream picks its whole configuration (see the sequencer).
        allow.push(`hwl.fleet.${f}`, `$JS.API.STREAM.INFO.${s}`, ...orderedConsumerSubjects(s));
      }
      return {
        publish: {
          allow,
          deny: [
            '$JS.API.STREAM.CREATE.>',
            '$JS.API.STREAM.UPDATE.>',
            '$JS.API.STREAM.DELETE.>',
            '$JS.API.STREAM.PURGE.>',
            '$JS.API.STREAM.MSG.DELETE.>',
            '$JS.API.CONSUMER.DELETE.>',
            '$JS.API.CONSUMER.DURABLE.CREATE.>',
            '$JS.ACK.>',
            '$KV.>',
            'hwl.chain.>',
            'hwl.ingest.>',
            'hwl.dlq.>',
            'hwl.checkpoint.>',
          ],
        },
        subscribe: { allow: [INBOX] },
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
      return `sequencer of ${r.chain}: the only writer of hwl.chain.${r.chain}.>; creates only its own streams, updates and deletes none`;
    case 'reader':
      return `projector / reconciler / API / verifier: reads ${r.chains.join(', ')} and their checkpoints, ordered (ephemeral) consumers only, deletes or replaces none`;
    case 'billing':
      return `billing consumer: reads ${r.chains.join(', ')} through operator-made durables ${r.durables.join(', ')}; creates nothing`;
    case 'fleet-anchor':
      return `fleet anchorer: reads the checkpoint logs of ${r.chains.join(', ')}, appends to fleet anchor(s) ${r.fleets.join(', ')} (creates their streams when missing); updates, deletes or purges nothing`;
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
    assertToken(u.user, 'NATS user name'); // it is also the user's inbox prefix: one subject token
    const p = rolePermissions(u.role, u.user);
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
  /** Fleet anchors the reader (API) reads and the fleet-anchor user appends to; default `main` (the fleet-anchor's default name). */
  fleets?: string[];
}

/** Users for a fleet: one agent per node, one sequencer per chain, a reader, a billing user, a fleet anchorer and an admin. */
export function fleetUsers(f: FleetLayout): AuthUser[] {
  const chains = f.regions.map((r) => r.chain);
  const users: AuthUser[] = [{ user: 'admin', password: '', role: { role: 'admin' } }];
  for (const r of f.regions) {
    users.push({ user: `sequencer-${r.chain}`, password: '', role: { role: 'sequencer', chain: r.chain, durables: f.billingDurables } });
    for (const n of r.nodes) users.push({ user: `agent-${r.chain}-${n}`, password: '', role: { role: 'agent', chain: r.chain, node: n } });
  }
  users.push({ user: 'reader', password: '', role: { role: 'reader', chains, fleets: f.fleets ?? ['main'], durables: f.billingDurables } });
  users.push({ user: 'billing', password: '', role: { role: 'billing', chains, durables: f.billingDurables } });
  users.push({ user: 'fleet-anchor', password: '', role: { role: 'fleet-anchor', chains, fleets: f.fleets ?? ['main'] } });
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
