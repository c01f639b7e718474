/**
 * deploy/nats/auth.conf on a real nats-server: each role is allowed what it
 * needs and refused the rest (agents only their own ingest subject; only the
 * sequencer publishes chain subjects; billing reads and creates nothing).
 * The server loads what renderAuthorization() generates for the example fleet
 * (passwords from its env); the first test checks the committed file equals it
 * (`node packages/stack/bin/hwledger-stack.js nats-auth > deploy/nats/auth.conf`).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, headers, PermissionViolationError, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { TestNatsServer } from '@hwledger/testkit';
import { connectNats, ensureChainTopology, inboxPrefixFor, streams } from '@hwledger/core';
import { generateSigner, verifierOf, type NoteSigner, type NoteVerifier } from '@hwledger/chain';
import { CheckpointLog, checkpointStatus, FleetAnchorer, ensureFleetStream, fleetNames, kvKeys, readStream, verifyFleet } from '@hwledger/ledger-ops';
import { openLeaderBucket } from '@hwledger/sequencer';
import { ChainWriter, checkpointWriter } from '../../ledger-ops/test/chain-fixture.js';
import { EXAMPLE_FLEET, fleetUsers, passwordEnvName, renderAuthorization } from '../src/nats-auth.js';

const AUTH_CONF = fileURLToPath(new URL('../../../deploy/nats/auth.conf', import.meta.url));
const EU = 'eu-west-1';
const US = 'us-east-1';
const CHAIN_EU = streams.chain(EU);
const CHAIN_US = streams.chain(US);

let server: TestNatsServer;
const conns: NatsConnection[] = [];
const users = fleetUsers(EXAMPLE_FLEET);
const pw = (user: string): string => `pw-${user}-secret`;

async function as(user: string, on: TestNatsServer = server): Promise<NatsConnection> {
  // The user's own inbox prefix, as connectNats sets it (the generated permissions allow no other).
  const nc = await connect({ servers: on.url, user, pass: pw(user), inboxPrefix: inboxPrefixFor(user), reconnect: false, timeout: 3_000 });
  conns.push(nc);
  return nc;
}

/** Resolves with the permission violation the server reports for `subject` (publish or subscription), or undefined after `ms`. */
function nextViolation(nc: NatsConnection, subject: string | RegExp, ms = 2_000): Promise<PermissionViolationError | undefined> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(undefined), ms);
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'error' && s.error instanceof PermissionViolationError && (typeof subject === 'string' ? s.error.subject === subject : subject.test(s.error.subject))) {
          clearTimeout(t);
          resolve(s.error);
          return;
        }
      }
    })();
  });
}

async function publishRefused(nc: NatsConnection, subject: string): Promise<boolean> {
  const v = nextViolation(nc, subject);
  nc.publish(subject, new TextEncoder().encode('x'), { reply: '_INBOX.perm-test' });
  await nc.flush();
  const e = await v;
  return e?.operation === 'publish';
}

async function subscribeRefused(nc: NatsConnection, subject: string): Promise<boolean> {
  const v = nextViolation(nc, subject);
  nc.subscribe(subject);
  await nc.flush();
  const e = await v;
  return e?.operation === 'subscription';
}

beforeAll(async () => {
  for (const u of users) process.env[passwordEnvName(u.user)] = pw(u.user);
  server = await TestNatsServer.start({ config: renderAuthorization(users), probeAuth: { user: 'admin', pass: pw('admin') } });
  const admin = await as('admin');
  // What the topology job (hwledger-stack topology, as admin) creates before any service starts:
  // no service user may create a stream (the creator of a stream picks its whole configuration).
  for (const c of [EU, US]) {
    await ensureChainTopology(admin, c);
    await CheckpointLog.open(admin, c);
  }
  await openLeaderBucket(admin, 10_000);
  const jsm = await jetstreamManager(admin);
  // Operators create billing's durable; billing itself cannot.
  await jsm.consumers.add(CHAIN_EU, { durable_name: 'billing', ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All });
});

afterAll(async () => {
  for (const nc of conns) await nc.close().catch(() => undefined);
  await server?.stop();
});

describe('deploy/nats/auth.conf', () => {
  it('is what renderAuthorization() generates for the example fleet, with no accounts block', () => {
    const text = readFileSync(AUTH_CONF, 'utf8');
    expect(text).toBe(renderAuthorization(users));
    expect(text).not.toMatch(/^\s*accounts\s*[{:=]/m);
  });

  it('refuses a wrong password', async () => {
    await expect(connect({ servers: server.url, user: 'agent-eu-west-1-node-001', pass: 'nope', reconnect: false })).rejects.toThrow(/Authorization/i);
  });
});

describe('agent role', () => {
  it('publishes to its own ingest subject and gets a PubAck', async () => {
    const nc = await as('agent-eu-west-1-node-001');
    const ack = await jetstream(nc).publish('hwl.ingest.eu-west-1.node-001', new Uint8Array([1, 2, 3]));
    expect(ack.stream).toBe(streams.ingest(EU));
    expect(ack.seq).toBe(1);
  });

  it("is refused another node's ingest subject, another region's, the chain and the JetStream API", async () => {
    const nc = await as('agent-eu-west-1-node-001');
    expect(await publishRefused(nc, 'hwl.ingest.eu-west-1.node-002')).toBe(true);
    expect(await publishRefused(nc, 'hwl.ingest.us-east-1.node-001')).toBe(true);
    expect(await publishRefused(nc, 'hwl.chain.eu-west-1.job_completed.acme')).toBe(true);
    expect(await publishRefused(nc, `$JS.API.CONSUMER.CREATE.${streams.ingest(EU)}`)).toBe(true);
    expect(await subscribeRefused(nc, 'hwl.chain.>')).toBe(true);
    // Nothing it was refused reached the stream.
    const jsm = await jetstreamManager(conns[0]!);
    expect((await jsm.streams.info(streams.ingest(EU))).state.messages).toBe(1);
    expect((await jsm.streams.info(CHAIN_EU)).state.messages).toBe(0);
  });
});

describe('sequencer role', () => {
  it('reads its ingest stream and publishes its chain', async () => {
    const nc = await as('sequencer-eu-west-1');
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.add(streams.ingest(EU), { durable_name: 'sequencer', ack_policy: AckPolicy.Explicit });
    const c = await jetstream(nc).consumers.get(streams.ingest(EU), 'sequencer');
    const m = await c.next({ expires: 2_000 });
    expect([...(m?.data ?? [])]).toEqual([1, 2, 3]);
    m?.ack();
    const ack = await jetstream(nc).publish('hwl.chain.eu-west-1.job_completed.acme', new Uint8Array([9]), { expect: { lastSequence: 0 } });
    expect(ack.stream).toBe(CHAIN_EU);
    expect(ack.seq).toBe(1);
  });

  it("is refused another region's chain and deleting or purging streams", async () => {
    const nc = await as('sequencer-eu-west-1');
    expect(await publishRefused(nc, 'hwl.chain.us-east-1.job_completed.acme')).toBe(true);
    expect(await publishRefused(nc, `$JS.API.STREAM.DELETE.${CHAIN_EU}`)).toBe(true);
    expect(await publishRefused(nc, `$JS.API.STREAM.PURGE.${CHAIN_EU}`)).toBe(true);
  });

  it('runs what the sequencer and its checkpointer run on start: topology, lease, checkpoint log, ingest purge', async () => {
    const nc = await as('sequencer-eu-west-1');
    const admin = await jetstreamManager(conns[0]!);
    // Its streams exist (the topology job): it checks them. A missing one it may not create, even
    // its own: it says to run the topology job (found in a review: a creator picks the stream's
    // whole configuration, e.g. republish into another region's chain).
    await ensureChainTopology(nc, EU);
    const dlq = await admin.streams.info(streams.dlq(EU));
    await admin.streams.delete(streams.dlq(EU));
    await expect(ensureChainTopology(nc, EU)).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringMatching(/HWL_DLQ_eu-west-1 does not exist, and this NATS user may not create it: create the topology first/) });
    await admin.streams.add(dlq.config);
    const lease = await openLeaderBucket(nc, 10_000);
    await lease.put(EU, 'me');
    expect((await lease.get(EU))?.string()).toBe('me');
    const log = await CheckpointLog.open(nc, EU);
    await log.kv.put(kvKeys.latest(EU), '{}');
    expect(await log.lastStreamSeq()).toBe(0);
    const jsm = await jetstreamManager(nc);
    const r = await jsm.streams.purge(streams.ingest(EU), { seq: 1 });
    expect(r.success).toBe(true);
  });

  it("cannot purge the other chains' leases and checkpoints from the shared buckets with a rollup", async () => {
    // us-east-1's sequencer has its lease and latest checkpoint in the shared buckets.
    const us = await as('sequencer-us-east-1');
    await (await openLeaderBucket(us, 10_000)).put(US, 'us-holder');
    await (await CheckpointLog.open(us, US)).kv.put(kvKeys.latest(US), '{"us":1}');
    // eu-west-1's may write its own keys; with `Nats-Rollup: all` that would purge every other key.
    const eu = await as('sequencer-eu-west-1');
    for (const subject of [`$KV.hwl_leader.${EU}`, `$KV.hwl_checkpoints.${EU}`]) {
      const h = headers();
      h.set('Nats-Rollup', 'all');
      await expect(jetstream(eu).publish(subject, new TextEncoder().encode('x'), { headers: h }), subject).rejects.toThrow(/rollup/i);
    }
    const admin = await as('admin');
    expect((await (await openLeaderBucket(admin, 10_000)).get(US))?.string()).toBe('us-holder');
    expect((await (await CheckpointLog.open(admin, US)).kv.get(kvKeys.latest(US)))?.string()).toBe('{"us":1}');
    for (const s of ['KV_hwl_leader', 'KV_hwl_checkpoints']) expect((await (await jetstreamManager(admin)).streams.info(s)).config.allow_rollup_hdrs, s).toBe(false);
  });

  it("is refused updating any stream, creating another chain's streams and touching other chains' or billing's consumers", async () => {
    const nc = await as('sequencer-eu-west-1');
    // The attack: max_msgs 1 on another region's chain stream drops its records despite deny_delete.
    expect(await publishRefused(nc, `$JS.API.STREAM.UPDATE.${CHAIN_US}`)).toBe(true);
    expect(await publishRefused(nc, `$JS.API.STREAM.UPDATE.${CHAIN_EU}`)).toBe(true);
    expect(await publishRefused(nc, `$JS.API.STREAM.CREATE.${CHAIN_US}`)).toBe(true);
    // Not even its own streams or the buckets (the topology job creates them): a creator picks the whole configuration.
    for (const st of [CHAIN_EU, streams.ingest(EU), streams.dlq(EU), streams.checkpoint(EU), 'KV_hwl_leader', 'KV_hwl_checkpoints']) {
      expect(await publishRefused(nc, `$JS.API.STREAM.CREATE.${st}`), st).toBe(true);
    }
    expect(await publishRefused(nc, `$JS.API.STREAM.CREATE.${streams.ingest(US)}`)).toBe(true);
    expect(await publishRefused(nc, `$JS.API.STREAM.PURGE.${streams.ingest(US)}`)).toBe(true);
    expect(await publishRefused(nc, `$JS.API.CONSUMER.DELETE.${CHAIN_EU}.billing`)).toBe(true);
    expect(await publishRefused(nc, `$JS.API.CONSUMER.CREATE.${CHAIN_EU}.billing`)).toBe(true);
    expect(await publishRefused(nc, `$JS.API.CONSUMER.CREATE.${streams.ingest(US)}.x`)).toBe(true);
    expect(await publishRefused(nc, `$JS.API.CONSUMER.DELETE.${streams.ingest(US)}.x`)).toBe(true);
    const admin = await jetstreamManager(conns[0]!);
    const usBefore = (await admin.streams.info(CHAIN_US)).config;
    const jsm = await jetstreamManager(nc, { timeout: 1_500 });
    await expect(jsm.streams.update(CHAIN_US, { max_msgs: 1 })).rejects.toThrow();
    await expect(jsm.consumers.delete(CHAIN_EU, 'billing')).rejects.toThrow();
    expect((await admin.streams.info(CHAIN_US)).config.max_msgs).toBe(usBefore.max_msgs);
    expect((await admin.consumers.info(CHAIN_EU, 'billing')).name).toBe('billing');
  });
});

describe('reader role (projector, reconciler, API, verifiers)', () => {
  it('replays the chain with an ordered consumer', async () => {
    const nc = await as('reader');
    const c = await jetstream(nc).consumers.get(CHAIN_EU, { deliver_policy: DeliverPolicy.All });
    const m = await c.next({ expires: 2_000 });
    expect(m?.seq).toBe(1);
    expect(m?.subject).toBe('hwl.chain.eu-west-1.job_completed.acme');
  });

  it('is refused publishing chain or ingest subjects and changing streams', async () => {
    const nc = await as('reader');
    expect(await publishRefused(nc, 'hwl.chain.eu-west-1.job_completed.acme')).toBe(true);
    expect(await publishRefused(nc, 'hwl.ingest.eu-west-1.node-001')).toBe(true);
    expect(await publishRefused(nc, `$JS.API.STREAM.CREATE.${CHAIN_EU}`)).toBe(true);
    expect(await publishRefused(nc, `$JS.API.STREAM.UPDATE.${CHAIN_EU}`)).toBe(true);
  });

  it("is refused deleting, replacing, pulling from or acking someone else's durable", async () => {
    const nc = await as('reader');
    const admin = await jetstreamManager(conns[0]!);
    const before = (await admin.consumers.info(CHAIN_EU, 'billing')).config;
    expect(await publishRefused(nc, `$JS.API.CONSUMER.DELETE.${CHAIN_EU}.billing`)).toBe(true);
    expect(await publishRefused(nc, `$JS.API.CONSUMER.CREATE.${CHAIN_EU}.billing`)).toBe(true);
    expect(await publishRefused(nc, `$JS.API.CONSUMER.CREATE.${CHAIN_EU}.billing.hwl.chain.eu-west-1.x`)).toBe(true);
    expect(await publishRefused(nc, `$JS.API.CONSUMER.DURABLE.CREATE.${CHAIN_EU}.billing`)).toBe(true);
    expect(await publishRefused(nc, `$JS.API.CONSUMER.MSG.NEXT.${CHAIN_EU}.billing`)).toBe(true);
    expect(await publishRefused(nc, `$JS.ACK.${CHAIN_EU}.billing.1.1.1.1.0`)).toBe(true);
    const jsm = await jetstreamManager(nc, { timeout: 1_500 });
    await expect(jsm.consumers.delete(CHAIN_EU, 'billing')).rejects.toThrow();
    await expect(jsm.consumers.update(CHAIN_EU, 'billing', { filter_subject: 'hwl.chain.eu-west-1.none' })).rejects.toThrow();
    const after = await admin.consumers.info(CHAIN_EU, 'billing');
    expect(after.config).toEqual(before);
  });

  it("reads checkpoints and the fleet anchor as the API does: KV keys, HWL_CKPT_* and HWL_FLEET_* streams", async () => {
    const seq = await as('sequencer-eu-west-1');
    const admin = conns[0]!;
    const log = await CheckpointLog.open(seq, EU);
    // Written by the archiver / replicator (operator tools) beside the sequencer's latest key.
    const adminLog = await CheckpointLog.open(admin, EU);
    await adminLog.putJson(kvKeys.anchor(EU), { sequence: '1', hash: '00'.repeat(32) });
    await adminLog.putJson(kvKeys.archive(EU), { cut: '1' });
    await adminLog.putJson(kvKeys.replica(EU), { last_sequence: '1' });

    const nc = await as('reader');
    const status = await checkpointStatus(nc, EU);
    expect(status.archive_anchor).toEqual({ sequence: '1', hash: '00'.repeat(32) });
    expect(status.last_archive).toEqual({ cut: '1' });
    expect(status.last_replication).toEqual({ last_sequence: '1' });

    await jetstream(seq).publish(`hwl.checkpoint.${EU}`, new Uint8Array([4, 2]));
    expect(await log.lastStreamSeq()).toBeGreaterThan(0);
    const ckpt: number[][] = [];
    for await (const m of readStream(nc, streams.checkpoint(EU))) ckpt.push([...m.data]);
    expect(ckpt.at(-1)).toEqual([4, 2]);
    const got = await (await jetstreamManager(nc)).streams.getMessage(streams.checkpoint(EU), { seq: 1 });
    expect(got?.seq).toBe(1);

    await ensureFleetStream(admin, 'main');
    await jetstream(admin).publish(fleetNames.subject('main'), new Uint8Array([5]));
    const fleet: number[][] = [];
    for await (const m of readStream(nc, fleetNames.stream('main'))) fleet.push([...m.data]);
    expect(fleet).toEqual([[5]]);
  });
});

describe('billing role', () => {
  it('reads the chain through message gets and its operator-made durable, never a plain subscription', async () => {
    const nc = await as('billing');
    // Plain subscriptions: none (a replayed copy could reach one; a consumer counts stream sequences).
    for (const subject of ['hwl.chain.>', 'hwl.chain.eu-west-1.inference_request_completed.acme', 'hwl.checkpoint.>']) expect(await subscribeRefused(nc, subject), subject).toBe(true);

    const jsm = await jetstreamManager(nc, { checkAPI: false });
    const got = await jsm.streams.getMessage(CHAIN_EU, { seq: 1 });
    expect(got?.subject).toBe('hwl.chain.eu-west-1.job_completed.acme');

    const durable = await jetstream(nc, { checkAPI: false }).consumers.get(CHAIN_EU, 'billing');
    const m = await durable.next({ expires: 2_000 });
    expect(m?.seq).toBe(1);
    m?.ack();
  });

  it('creates nothing and writes nothing', async () => {
    const nc = await as('billing');
    const admin = await jetstreamManager(conns[0]!);
    const consumerNames = async (): Promise<string[]> => {
      const names: string[] = [];
      for await (const ci of admin.consumers.list(CHAIN_EU)) names.push(ci.name);
      return names.sort();
    };
    const before = await consumerNames();
    expect(before).toContain('billing');
    expect(await publishRefused(nc, `$JS.API.CONSUMER.CREATE.${CHAIN_EU}`)).toBe(true);
    expect(await publishRefused(nc, `$JS.API.CONSUMER.CREATE.${CHAIN_EU}.mine`)).toBe(true);
    expect(await publishRefused(nc, `$JS.API.CONSUMER.DURABLE.CREATE.${CHAIN_EU}.mine`)).toBe(true);
    expect(await publishRefused(nc, `$JS.API.CONSUMER.DELETE.${CHAIN_EU}.billing`)).toBe(true);
    expect(await publishRefused(nc, `$JS.API.STREAM.CREATE.MINE`)).toBe(true);
    expect(await publishRefused(nc, `$JS.API.STREAM.DELETE.${CHAIN_EU}`)).toBe(true);
    expect(await publishRefused(nc, `$JS.API.STREAM.PURGE.${CHAIN_EU}`)).toBe(true);
    expect(await publishRefused(nc, 'hwl.chain.eu-west-1.job_completed.acme')).toBe(true);
    expect(await publishRefused(nc, 'hwl.ingest.eu-west-1.node-001')).toBe(true);
    // The JetStream client path too: creating an ordered consumer fails.
    await expect(
      (async () => {
        const c = await jetstream(nc, { checkAPI: false, timeout: 1_500 }).consumers.get(CHAIN_EU, { deliver_policy: DeliverPolicy.All });
        await c.next({ expires: 1_000 });
        return c;
      })(),
    ).rejects.toThrow();
    expect(await consumerNames()).toEqual(before);
    expect((await admin.streams.info(CHAIN_EU)).state.messages).toBe(1);
  });
});

describe('fleet-anchor role', () => {
  // Its own server: region chains with real signed checkpoints and a fleet anchor no other test writes to.
  const FA_EU = 'fa-eu';
  const FA_US = 'fa-us';
  const FLEET = 'fa';
  const faUsers = fleetUsers({ regions: [{ chain: FA_EU, nodes: ['node-001'] }, { chain: FA_US, nodes: ['node-001'] }], billingDurables: ['billing'], fleets: [FLEET] });
  const euKey = generateSigner('hwl-fa-eu');
  const usKey = generateSigner('hwl-fa-us');
  const bind = (s: NoteSigner, chain: string): NoteVerifier => ({ ...verifierOf(s), chains: [chain] });
  const trusted = [bind(euKey, FA_EU), bind(usKey, FA_US)];
  const FLEET_STREAM = fleetNames.stream(FLEET);
  let fa: TestNatsServer;
  let admin: NatsConnection;
  let eu: ChainWriter;
  let us: ChainWriter;

  beforeAll(async () => {
    for (const u of faUsers) process.env[passwordEnvName(u.user)] = pw(u.user);
    fa = await TestNatsServer.start({ config: renderAuthorization(faUsers), probeAuth: { user: 'admin', pass: pw('admin') } });
    admin = await as('admin', fa);
    await ensureFleetStream(admin, FLEET); // the topology job's (the fleet anchorer may not create it)
    eu = await ChainWriter.open(admin, FA_EU);
    us = await ChainWriter.open(admin, FA_US);
    await eu.append(30);
    await checkpointWriter(admin, eu, euKey, 10);
    await us.append(20);
    await checkpointWriter(admin, us, usKey, 10);
  });

  afterAll(async () => {
    await fa?.stop();
  });

  it('runs FleetAnchorer rounds (load + tick): checks its fleet stream, reads checkpoint logs, appends fenced entries', async () => {
    const nc = await as('fleet-anchor', fa);
    const anchorer = new FleetAnchorer({ nc, fleet: FLEET, chains: [FA_EU, FA_US], trusted });
    await anchorer.load();
    expect(await anchorer.tick()).toBe(2);
    // The regions move on: the next round checks each new checkpoint against the anchored one (log walk).
    await eu.append(20);
    await checkpointWriter(admin, eu, euKey, 10);
    await us.append(10);
    await checkpointWriter(admin, us, usKey, 10);
    expect(await anchorer.tick()).toBe(2);
    expect(await anchorer.tick()).toBe(0);
    // A restarted anchorer reads the fleet anchor back and has nothing new to add.
    const again = new FleetAnchorer({ nc, fleet: FLEET, chains: [FA_EU, FA_US], trusted });
    await again.load();
    expect(await again.tick()).toBe(0);
    const r = await verifyFleet(admin, FLEET, trusted);
    expect(r.issue).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.entries).toBe(4);
  });

  it('is refused writing chains, ingest, checkpoints and KV, and creating, updating, deleting or purging streams', async () => {
    const nc = await as('fleet-anchor', fa);
    for (const subject of [
      `hwl.chain.${FA_EU}.job_completed.acme`,
      `hwl.ingest.${FA_EU}.node-001`,
      `hwl.dlq.${FA_EU}`,
      `hwl.checkpoint.${FA_EU}`,
      `hwl.fleet.other`,
      `$KV.hwl_checkpoints.${FA_EU}`,
      `$JS.API.STREAM.UPDATE.${FLEET_STREAM}`,
      `$JS.API.STREAM.DELETE.${FLEET_STREAM}`,
      `$JS.API.STREAM.PURGE.${FLEET_STREAM}`,
      `$JS.API.STREAM.MSG.DELETE.${FLEET_STREAM}`,
      `$JS.API.STREAM.CREATE.${streams.chain(FA_EU)}`,
      `$JS.API.STREAM.CREATE.${streams.checkpoint(FA_EU)}`,
      `$JS.API.STREAM.UPDATE.${streams.checkpoint(FA_EU)}`,
      `$JS.API.STREAM.CREATE.HWL_FLEET_other`,
      `$JS.API.STREAM.CREATE.${FLEET_STREAM}`,
      `$JS.API.CONSUMER.CREATE.${streams.chain(FA_EU)}.x`,
      `$JS.API.CONSUMER.DELETE.${streams.checkpoint(FA_EU)}.x`,
      `$JS.API.CONSUMER.DURABLE.CREATE.${FLEET_STREAM}.x`,
    ]) {
      expect(await publishRefused(nc, subject), subject).toBe(true);
    }
    const jsa = await jetstreamManager(admin);
    const before = (await jsa.streams.info(FLEET_STREAM)).config;
    const jsm = await jetstreamManager(nc, { timeout: 1_500 });
    await expect(jsm.streams.update(FLEET_STREAM, { max_msgs: 1 })).rejects.toThrow();
    await expect(jsm.streams.delete(FLEET_STREAM)).rejects.toThrow();
    await expect(jsm.streams.update(streams.checkpoint(FA_EU), { max_msgs: 1 })).rejects.toThrow();
    const after = await jsa.streams.info(FLEET_STREAM);
    expect(after.config.max_msgs).toBe(before.max_msgs);
    expect(after.state.messages).toBe(4);
    expect((await jsa.streams.info(streams.chain(FA_EU))).state.messages).toBe(50);
  });
});

describe('inboxes', () => {
  it("each user subscribes below its own inbox prefix only: no one reads another's replies or subscribes to hwledger's subjects", async () => {
    const names = ['agent-eu-west-1-node-001', 'sequencer-eu-west-1', 'reader', 'billing', 'fleet-anchor'];
    for (const user of names) {
      const nc = await as(user);
      expect(await subscribeRefused(nc, '_INBOX.>'), `${user}: _INBOX.>`).toBe(true);
      expect(await subscribeRefused(nc, '>'), `${user}: >`).toBe(true);
      // No plain subscriptions to hwledger's subjects either: every role reads through consumers,
      // so a copy replayed through a push consumer (nats-server#8274) has no role to reach.
      for (const subject of ['hwl.>', 'hwl.chain.>', 'hwl.ingest.>', 'hwl.checkpoint.>', 'hwl.dlq.>', 'hwl.fleet.>']) expect(await subscribeRefused(nc, subject), `${user}: ${subject}`).toBe(true);
      for (const other of names.filter((o) => o !== user)) expect(await subscribeRefused(nc, `${inboxPrefixFor(other)}.>`), `${user} on ${other}'s inbox`).toBe(true);
      // Its own: a request to itself is answered there.
      const own = `${inboxPrefixFor(user)}.>`;
      expect(await subscribeRefused(nc, own), `${user}: own inbox`).toBe(false);
    }
  });

  // Last in the file: its publishes add to eu-west-1's ingest stream, which earlier tests count.
  it('connectNats puts a user from the URL on its own prefix, and a JetStream round trip works there', async () => {
    const user = 'agent-eu-west-1-node-002';
    const nc = await connectNats(`nats://${user}:${encodeURIComponent(pw(user))}@127.0.0.1:${server.port}`, 'inbox-test', { maxReconnectAttempts: 0 });
    conns.push(nc);
    const violation = nextViolation(nc, /^_INBOX/, 1_500);
    const ack = await jetstream(nc).publish('hwl.ingest.eu-west-1.node-002', new Uint8Array([7]));
    expect(ack.stream).toBe(streams.ingest(EU));
    expect(await violation).toBeUndefined();
    // Without the prefix, the same user's request cannot get its answer: the server refuses the reply subscription.
    const plain = await connect({ servers: server.url, user, pass: pw(user), reconnect: false, timeout: 3_000 });
    conns.push(plain);
    const refused = nextViolation(plain, /^_INBOX\./, 2_000);
    await expect(jetstream(plain, { timeout: 1_500 }).publish('hwl.ingest.eu-west-1.node-002', new Uint8Array([8]))).rejects.toThrow();
    expect((await refused)?.operation).toBe('subscription');
  });
});
