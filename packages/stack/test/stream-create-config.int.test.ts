/**
 * `$JS.API.STREAM.CREATE.<name>` lets the creator choose the WHOLE stream
 * configuration, not just the name. The generated permissions gave it to the
 * fleet-anchor role (HWL_FLEET_<fleet>) and to each sequencer (its own four
 * streams and the shared KV buckets) "when missing" (found in a review; now
 * no service user may create a stream: the topology job does). Where such a stream
 * is missing, the role can create it with
 *   - `republish: { src, dest }`: the server republishes every message stored
 *     in it to `dest`, with no publish-permission check, into whatever stream
 *     listens there (another region's chain, a lease KV key, another node's
 *     ingest subject);
 *   - `sources: [{ name: <any stream> }]`: the server copies any stream of the
 *     account into it, which the role may then read.
 *
 * Where streams are missing in the shipped layout: a region site of the
 * multi-region layout (deploy/nats/multi-region/region.conf) includes the whole
 * deploy/nats/auth.conf (every region's sequencer, the fleet anchorer), but
 * holds only its own region's streams and, by design, no HWL_FLEET_* stream
 * (packages/stack/src/topology.ts: "Name the fleets only where the fleet
 * anchorer writes"). This test builds exactly that site: the generated
 * authorization, and the real topology job for eu-west-1 with no fleets.
 *
 * Each test asserts that the forbidden effect does NOT happen; with the old
 * permissions each failed because it did.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { TestNatsServer } from '@hwledger/testkit';
import { inboxPrefixFor, streams } from '@hwledger/core';
import { openLeaderBucket } from '@hwledger/sequencer';
import { EXAMPLE_FLEET, fleetUsers, passwordEnvName, renderAuthorization } from '../src/nats-auth.js';
import { ensureTopology } from '../src/topology.js';

const EU = 'eu-west-1';
const US = 'us-east-1';
const users = fleetUsers(EXAMPLE_FLEET);
const pw = (u: string): string => `pw-${u}-create`;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

let server: TestNatsServer;
const conns: NatsConnection[] = [];

async function as(user: string): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url, user, pass: pw(user), inboxPrefix: inboxPrefixFor(user), reconnect: false, timeout: 3_000 });
  conns.push(nc);
  return nc;
}

/** A raw JetStream API request (what any client library sends); returns the parsed answer. */
async function api(nc: NatsConnection, subject: string, body: unknown): Promise<{ error?: { description: string } } & Record<string, unknown>> {
  try {
    const m = await nc.request(subject, enc(JSON.stringify(body)), { timeout: 3_000 });
    return m.json();
  } catch (e) {
    // Refused by the server's permissions (the request has no answer): what the fix makes of every such create.
    if (e instanceof Error && /permissions violation/i.test(`${e.message} ${String((e as { cause?: unknown }).cause)}`)) return { error: { description: e.message } };
    throw e;
  }
}

async function waitUntil(cond: () => Promise<boolean>, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  for (const u of users) process.env[passwordEnvName(u.user)] = pw(u.user);
  server = await TestNatsServer.start({ config: renderAuthorization(users), probeAuth: { user: 'admin', pass: pw('admin') } });
  // The eu-west-1 region site: the real topology job as admin, its own chain only, no fleet stream.
  const saved = process.env['NATS_URL'];
  process.env['NATS_URL'] = `nats://admin:${pw('admin')}@127.0.0.1:${server.port}`;
  try {
    await ensureTopology({ chains: [EU], replicas: 1, fleets: [] }, () => undefined);
  } finally {
    if (saved === undefined) delete process.env['NATS_URL'];
    else process.env['NATS_URL'] = saved;
  }
  // eu-west-1 at work: its sequencer holds the lease, its agents have unsealed events in ingest.
  await (await openLeaderBucket(await as(`sequencer-${EU}`), 10_000)).put(EU, 'honest-sequencer');
  await jetstream(await as(`agent-${EU}-node-001`)).publish(`hwl.ingest.${EU}.node-001`, enc('node-001 telemetry of tenant acme'));
});

afterAll(async () => {
  for (const nc of conns) await nc.close().catch(() => undefined);
  await server?.stop();
});

describe('STREAM.CREATE of a missing stream = any config (nats-auth.ts fleet-anchor and sequencer roles)', () => {
  it('the fleet anchorer cannot append a record to a region chain (republish from its HWL_FLEET_main)', async () => {
    const admin = await jetstreamManager(conns[0]!);
    const before = (await admin.streams.info(streams.chain(EU))).state.messages;
    const fa = await as('fleet-anchor');
    // Was allowed: "$JS.API.STREAM.CREATE.HWL_FLEET_main"; the body is the attacker's.
    const r = await api(fa, '$JS.API.STREAM.CREATE.HWL_FLEET_main', {
      name: 'HWL_FLEET_main',
      subjects: ['hwl.fleet.main'],
      storage: 'memory',
      republish: { src: 'hwl.fleet.main', dest: `hwl.chain.${EU}.job_completed.acme` },
    });
    // Allowed: "hwl.fleet.main". No Nats-Expected-* headers: the chain stream takes it as the next record.
    if (!r.error) await jetstream(fa).publish('hwl.fleet.main', enc('forged record: job_completed acme, 0 GPU-seconds'));
    await waitUntil(async () => (await admin.streams.info(streams.chain(EU))).state.messages > before);
    const after = (await admin.streams.info(streams.chain(EU))).state;
    // Threat model (nats-auth.ts): "a compromised fleet anchorer ... writes no chain ... subject".
    expect(after.messages, `forged record stored in ${streams.chain(EU)} at seq ${after.last_seq}`).toBe(before);
  });

  it("another region's sequencer cannot take eu-west-1's leader lease (republish into $KV.hwl_leader.eu-west-1)", async () => {
    // The honest holder (again: the bucket's entries live for the lease TTL, 5 s).
    await (await openLeaderBucket(await as(`sequencer-${EU}`), 10_000)).put(EU, 'honest-sequencer');
    const us = await as(`sequencer-${US}`);
    // Was allowed: "$JS.API.STREAM.CREATE.HWL_DLQ_us-east-1" (its own DLQ, missing at this site).
    const r = await api(us, `$JS.API.STREAM.CREATE.${streams.dlq(US)}`, {
      name: streams.dlq(US),
      subjects: [`hwl.dlq.${US}`],
      storage: 'memory',
      republish: { src: `hwl.dlq.${US}`, dest: `$KV.hwl_leader.${EU}` },
    });
    if (!r.error) await jetstream(us).publish(`hwl.dlq.${US}`, enc('attacker'));
    const lease = await openLeaderBucket(conns[0]!, 10_000);
    await waitUntil(async () => (await lease.get(EU))?.string() !== 'honest-sequencer', 1_000);
    // Only sequencer-eu-west-1 may write $KV.hwl_leader.eu-west-1 (nats-auth.ts, docs/operations.md).
    expect((await lease.get(EU))?.string()).toBe('honest-sequencer');
  });

  it("another region's sequencer cannot publish events under an eu-west-1 node's ingest subject (attribution to node-002)", async () => {
    const admin = await jetstreamManager(conns[0]!);
    const subjectCount = async (): Promise<number> => {
      const info = await admin.streams.info(streams.ingest(EU), { subjects_filter: `hwl.ingest.${EU}.node-002` });
      return info.state.subjects?.[`hwl.ingest.${EU}.node-002`] ?? 0;
    };
    const before = await subjectCount();
    const us = await as(`sequencer-${US}`);
    const r = await api(us, `$JS.API.STREAM.CREATE.${streams.checkpoint(US)}`, {
      name: streams.checkpoint(US),
      subjects: [`hwl.checkpoint.${US}`],
      storage: 'memory',
      republish: { src: `hwl.checkpoint.${US}`, dest: `hwl.ingest.${EU}.node-002` },
    });
    if (!r.error) await jetstream(us).publish(`hwl.checkpoint.${US}`, enc('events "from" eu-west-1/node-002'));
    await waitUntil(async () => (await subjectCount()) > before);
    // Only agent-eu-west-1-node-002 may publish hwl.ingest.eu-west-1.node-002; the sequencer attributes by subject.
    expect(await subjectCount()).toBe(before);
  });

  it("another region's sequencer cannot read eu-west-1's unsealed ingest (sources into its own stream)", async () => {
    const us = await as(`sequencer-${US}`);
    const r = await api(us, `$JS.API.STREAM.CREATE.${streams.ingest(US)}`, {
      name: streams.ingest(US),
      storage: 'memory',
      sources: [{ name: streams.ingest(EU) }],
    });
    let copied = '';
    if (!r.error) {
      const jsm = await jetstreamManager(us, { checkAPI: false });
      await waitUntil(async () => (await jsm.streams.info(streams.ingest(US))).state.messages > 0);
      // Allowed: "$JS.API.STREAM.MSG.GET.HWL_INGEST_us-east-1".
      copied = (await jsm.streams.getMessage(streams.ingest(US), { seq: 1 }).catch(() => null))?.string() ?? '';
    }
    expect(copied, 'eu-west-1 ingest read by sequencer-us-east-1').toBe('');
  });
});
