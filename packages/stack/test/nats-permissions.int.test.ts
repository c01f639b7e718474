/**
 * deploy/nats/auth.conf on a real nats-server: each role is allowed what it
 * needs and refused the rest (agents only their own ingest subject; only the
 * sequencer publishes chain subjects; billing reads and creates nothing).
 * The file is the one committed (and must equal what renderAuthorization()
 * generates), loaded as-is into nats-server with passwords from its env.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, PermissionViolationError, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { TestNatsServer } from '@hwledger/testkit';
import { ensureChainTopology, streams } from '@hwledger/core';
import { EXAMPLE_FLEET, fleetUsers, passwordEnvName, renderAuthorization } from '../src/nats-auth.js';

const AUTH_CONF = fileURLToPath(new URL('../../../deploy/nats/auth.conf', import.meta.url));
const EU = 'eu-west-1';
const US = 'us-east-1';
const CHAIN_EU = streams.chain(EU);

let server: TestNatsServer;
const conns: NatsConnection[] = [];
const users = fleetUsers(EXAMPLE_FLEET);
const pw = (user: string): string => `pw-${user}-secret`;

async function as(user: string): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url, user, pass: pw(user), reconnect: false, timeout: 3_000 });
  conns.push(nc);
  return nc;
}

/** Resolves with the permission violation the server reports for `subject` (publish or subscription), or undefined after `ms`. */
function nextViolation(nc: NatsConnection, subject: string, ms = 2_000): Promise<PermissionViolationError | undefined> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(undefined), ms);
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'error' && s.error instanceof PermissionViolationError && s.error.subject === subject) {
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
  server = await TestNatsServer.start({ config: readFileSync(AUTH_CONF, 'utf8'), probeAuth: { user: 'admin', pass: pw('admin') } });
  const admin = await as('admin');
  for (const c of [EU, US]) await ensureChainTopology(admin, c);
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
});

describe('billing role', () => {
  it('reads the chain: live subject, message get, and its operator-made durable', async () => {
    const nc = await as('billing');
    const live = nc.subscribe('hwl.chain.eu-west-1.inference_request_completed.acme', { max: 1 });
    await nc.flush();
    const seq = await as('sequencer-eu-west-1');
    await jetstream(seq).publish('hwl.chain.eu-west-1.inference_request_completed.acme', new Uint8Array([7]), { expect: { lastSequence: 1 } });
    for await (const m of live) expect([...m.data]).toEqual([7]);

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
    expect((await admin.streams.info(CHAIN_EU)).state.messages).toBe(2);
  });
});
