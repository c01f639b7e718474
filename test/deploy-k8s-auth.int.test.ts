/**
 * The auth.conf of deploy/k8s (render.mjs rewrites the per-node agent users
 * of deploy/nats/auth.conf into one user per region) on a real nats-server:
 * the server loads it, a region's agent user publishes the ingest subject of
 * any node of its own region and gets its PubAck on its own inbox, and is
 * refused another region's ingest subjects, the chain, and every inbox but
 * its own; the other users still work through their own inboxes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { connect, PermissionViolationError, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { TestNatsServer } from '@hwledger/testkit';
import { ensureChainTopology, inboxPrefixFor, streams } from '@hwledger/core';

let server: TestNatsServer;
const conns: NatsConnection[] = [];
const pw = (env: string): string => `pw-${env.toLowerCase()}`;
let authConf = '';

async function as(user: string): Promise<NatsConnection> {
  const env = `HWL_NATS_PASSWORD_${user.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
  const nc = await connect({ servers: server.url, user, pass: pw(env), inboxPrefix: inboxPrefixFor(user), reconnect: false, timeout: 3_000 });
  conns.push(nc);
  return nc;
}

/** Whether the server refuses `op` on `subject` for `nc` (a permissions violation within 1.5 s). */
async function refused(nc: NatsConnection, op: 'publish' | 'subscription', subject: string): Promise<boolean> {
  const seen = new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), 1_500);
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'error' && s.error instanceof PermissionViolationError && s.error.subject === subject && s.error.operation === op) {
          clearTimeout(t);
          resolve(true);
          return;
        }
      }
    })();
  });
  if (op === 'publish') nc.publish(subject, new Uint8Array([1]));
  else nc.subscribe(subject);
  await nc.flush();
  return seen;
}

beforeAll(async () => {
  const m = (await import(new URL('../deploy/k8s/render.mjs', import.meta.url).href)) as { render: () => Record<string, string> };
  const nats = parseAllDocuments(m.render()['nats.yaml']!).map((d) => d.toJSON() as { kind: string; data?: Record<string, string> });
  authConf = nats.find((d) => d.kind === 'ConfigMap')!.data!['auth.conf']!;
  for (const [, env] of authConf.matchAll(/password: \$(HWL_NATS_PASSWORD_[A-Z0-9_]+)/g)) process.env[env!] = pw(env!);
  server = await TestNatsServer.start({ config: authConf, probeAuth: { user: 'admin', pass: pw('HWL_NATS_PASSWORD_ADMIN') } });
  const admin = await as('admin');
  for (const c of ['eu-west-1', 'us-east-1']) await ensureChainTopology(admin, c);
});

afterAll(async () => {
  for (const nc of conns) await nc.close().catch(() => undefined);
  await server?.stop();
});

describe('deploy/k8s auth.conf', () => {
  it('has one agent user per region and no per-node users or inboxes', () => {
    expect([...authConf.matchAll(/user: "(agent-[^"]+)"/g)].map((x) => x[1])).toEqual(['agent-eu-west-1', 'agent-us-east-1']);
    expect(authConf).not.toMatch(/node-0/);
  });

  it("lets a region's agent publish for any node of its region, on its own inbox, and nothing else", async () => {
    const nc = await as('agent-eu-west-1');
    const js = jetstream(nc);
    for (const node of ['gpu-a', 'gpu-b']) expect((await js.publish(`hwl.ingest.eu-west-1.${node}`, new Uint8Array([1]))).stream).toBe(streams.ingest('eu-west-1'));
    expect(await refused(nc, 'publish', 'hwl.ingest.us-east-1.gpu-a')).toBe(true);
    expect(await refused(nc, 'publish', 'hwl.chain.eu-west-1.job_completed.acme')).toBe(true);
    expect(await refused(nc, 'subscription', '_INBOX.>')).toBe(true);
    expect(await refused(nc, 'subscription', `${inboxPrefixFor('agent-us-east-1')}.>`)).toBe(true);
    expect(await refused(nc, 'subscription', `${inboxPrefixFor('sequencer-eu-west-1')}.>`)).toBe(true);
  });

  it('serves the other users through their own inboxes', async () => {
    for (const user of ['sequencer-eu-west-1', 'reader', 'billing', 'fleet-anchor']) {
      const nc = await as(user);
      const jsm = await jetstreamManager(nc); // an account-info round trip
      // A stream-info round trip where the role reads one.
      if (user !== 'fleet-anchor') expect((await jsm.streams.info(streams.chain('eu-west-1'))).config.name).toBe(streams.chain('eu-west-1'));
      expect(await refused(nc, 'subscription', '_INBOX.>')).toBe(true);
    }
  });
});
