/**
 * Replays through push consumers, on a real nats-server with the fleet's
 * generated permissions (deploy/nats/auth.conf).
 *
 * nats-server does not check a push consumer's deliver subject against its
 * creator's publish permissions (nats-io/nats-server#8274, open; checked here
 * on 2.9.10): any user allowed to create a consumer on a stream can make the
 * server deliver that stream's stored messages, headers included, to any
 * subject that has a subscriber (a plain subscriber on that exact subject
 * makes the consumer active). A stream listening on that subject then stores
 * them. The generated permissions let no role but admin be such a plain
 * subscriber on hwledger's subjects (nats-permissions.int.test.ts), so here
 * an operator's tool (admin) is the subscriber; the attackers are the roles. The attack
 * shown: the reader role (projector, API) copies the first record of region
 * eu-west-1 into the still empty chain of us-east-1 (it carries
 * Nats-Expected-Last-Sequence 0, which that empty stream satisfies), and the
 * sequencer role of eu-west-1 copies an agent's ingest batch (no fence at
 * all) into it. Either would break that chain for good: its sequencer then
 * refuses to seal (INTEGRITY).
 *
 * The same for the first checkpoint and the first fleet anchor entry, which
 * also expect last sequence 0.
 *
 * What stops it: every message hwledger writes into a stream names that
 * stream in Nats-Expected-Stream (chain records, ingest batches, dead
 * letters, checkpoints, fleet entries), so any other stream refuses a copy;
 * a copy into the same stream is refused by its expected last sequence or
 * deduplicated by its message id.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Registry } from 'prom-client';
import { TestNatsServer, waitFor } from '@hwledger/testkit';
import { ensureChainTopology, inboxPrefixFor, streams } from '@hwledger/core';
import { Agent } from '@hwledger/agent';
import { openLeaderBucket, readChain, Sequencer } from '@hwledger/sequencer';
import { chainHash, generateSigner, genesisHash, verifierOf } from '@hwledger/chain';
import { Checkpointer, CheckpointLog, ensureFleetStream, FleetAnchorer, fleetNames } from '@hwledger/ledger-ops';
import { EXAMPLE_FLEET, fleetUsers, passwordEnvName, renderAuthorization } from '../src/nats-auth.js';

const EU = 'eu-west-1';
const US = 'us-east-1';
const users = fleetUsers(EXAMPLE_FLEET);
const pw = (user: string): string => `pw-${user}-secret`;

let server: TestNatsServer;
let admin: JetStreamManager;
const conns: NatsConnection[] = [];
let outboxDir: string;

async function as(user: string): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url, user, pass: pw(user), inboxPrefix: inboxPrefixFor(user), reconnect: false, timeout: 3_000 });
  conns.push(nc);
  return nc;
}

const urlAs = (user: string): string => `nats://${user}:${encodeURIComponent(pw(user))}@127.0.0.1:${server.port}`;

beforeAll(async () => {
  for (const u of users) process.env[passwordEnvName(u.user)] = pw(u.user);
  server = await TestNatsServer.start({ config: renderAuthorization(users), probeAuth: { user: 'admin', pass: pw('admin') } });
  const a = await as('admin');
  // What the topology job (admin) creates first: no service user may create a stream.
  for (const c of [EU, US]) {
    await ensureChainTopology(a, c);
    await CheckpointLog.open(a, c);
  }
  await openLeaderBucket(a, 10_000);
  await ensureFleetStream(a, 'main');
  admin = await jetstreamManager(a);
  outboxDir = mkdtempSync(join(tmpdir(), 'hwl-replay-'));

  // eu-west-1 at work: a real agent (its own credentials) and a real sequencer (its own).
  const agent = await Agent.open({ chainId: EU, node: 'node-001', natsUrl: urlAs('agent-eu-west-1-node-001'), outboxDir, ensureTopology: false });
  const now = BigInt(Date.now());
  for (let i = 0; i < 3; i++) {
    await agent.submit({ kind: 'job_failed', source: agent.source, eventId: `e-${i}`, observedAtMs: now, tenant: 'acme', instanceId: `job-${i}`, data: { job_id: `job-${i}`, error_message: 'oom' } });
  }
  await agent.stop();
  const seqNc = await as('sequencer-eu-west-1');
  const seq = new Sequencer({ nc: seqNc, chainId: EU, registry: new Registry(), takeoverGraceMs: 0 });
  await seq.start();
  try {
    await waitFor(async () => (await admin.streams.info(streams.chain(EU))).state.last_seq === 3, 15_000, 50, 'eu-west-1 sealed 3 records');
  } finally {
    await seq.stop();
  }

  // Its checkpoint (the sequencer's checkpointer, own credentials) and a fleet anchor entry (the fleet anchorer's).
  const signer = generateSigner('hwl-replay-eu');
  const cp = new Checkpointer({ nc: seqNc, chainId: EU, signers: [signer], everyRecords: 3, intervalMs: 0 });
  await cp.start();
  await cp.onResume({ sequence: 0n, hash: genesisHash(EU) });
  let prev = genesisHash(EU);
  for await (const e of readChain(seqNc, EU, { fromSeq: 1n, toSeq: 3n })) {
    const hash = chainHash(prev, e.canonical);
    await cp.onSealed({ sequence: e.sequence, hash, prevHash: prev });
    prev = hash;
  }
  await cp.stop({ flush: true });
  if (cp.failure) throw cp.failure;
  const anchorer = new FleetAnchorer({ nc: await as('fleet-anchor'), fleet: 'main', chains: [EU], trusted: [{ ...verifierOf(signer), chains: [EU] }] });
  await anchorer.load();
  expect(await anchorer.tick()).toBe(1);
});

afterAll(async () => {
  for (const nc of conns) await nc.close().catch(() => undefined);
  await server?.stop();
  if (outboxDir) rmSync(outboxDir, { recursive: true, force: true });
});

/** `who` subscribes exactly to `subject` (the interest a push consumer needs) and collects what arrives. */
async function listen(who: NatsConnection, subject: string): Promise<Msg[]> {
  const got: Msg[] = [];
  who.subscribe(subject, { callback: (_e, m) => void got.push(m) });
  await who.flush();
  return got;
}

const usChain = async (): Promise<number> => (await admin.streams.info(streams.chain(US))).state.messages;

describe('a push consumer aimed at another chain', () => {
  it("delivers the reader's copy of a chain record, and the other region's chain stream refuses it", async () => {
    const reader = await as('reader');
    const target = `hwl.chain.${US}.job_failed.acme`;
    const got = await listen(await as('admin'), target);
    const jsm = await jetstreamManager(reader, { checkAPI: false });
    // Record 1 of eu-west-1: a session's first append (no Nats-Expected-Last-Msg-Id), expecting last sequence 0.
    await jsm.consumers.add(streams.chain(EU), { name: 'replay', deliver_subject: target, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 1 });
    await waitFor(() => got.length >= 1, 5_000, 20, 'the copy was delivered');
    await new Promise((r) => setTimeout(r, 300));
    expect(await usChain()).toBe(0);
    expect(got[0]!.headers?.get('Nats-Expected-Last-Sequence')).toBe('0');
    expect(got[0]!.headers?.get('Nats-Expected-Stream')).toBe(streams.chain(EU));
  });

  it("delivers the eu-west-1 sequencer's copy of an agent batch, and the other region's chain stream refuses it", async () => {
    const target = `hwl.chain.${US}.job_failed.globex`;
    const got = await listen(await as('admin'), target); // a live subscriber on a us-east-1 subject: the interest
    const seqNc = await as('sequencer-eu-west-1');
    const jsm = await jetstreamManager(seqNc, { checkAPI: false });
    await jsm.consumers.add(streams.ingest(EU), { name: 'hwl-sequencer-replay', deliver_subject: target, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All });
    await waitFor(() => got.length >= 1, 5_000, 20, 'the copy was delivered');
    await new Promise((r) => setTimeout(r, 300));
    expect(await usChain()).toBe(0);
    expect(got[0]!.headers?.get('Nats-Expected-Stream')).toBe(streams.ingest(EU));
  });

  it("delivers the reader's copies of the first checkpoint and fleet entry, and the other region's chain stream refuses them", async () => {
    const reader = await as('reader');
    const target = `hwl.chain.${US}.job_failed.initech`;
    const got = await listen(await as('admin'), target);
    const jsm = await jetstreamManager(reader, { checkAPI: false });
    for (const [stream, name] of [
      [streams.checkpoint(EU), 'replay-ckpt'],
      [fleetNames.stream('main'), 'replay-fleet'],
    ] as const) {
      await jsm.consumers.add(stream, { name, deliver_subject: target, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 1 });
    }
    await waitFor(() => got.length >= 2, 5_000, 20, 'both copies delivered');
    await new Promise((r) => setTimeout(r, 300));
    expect(await usChain()).toBe(0);
    expect(got.map((m) => m.headers?.get('Nats-Expected-Stream')).sort()).toEqual([streams.checkpoint(EU), fleetNames.stream('main')].sort());
  });
});
