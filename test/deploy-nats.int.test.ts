/**
 * deploy/nats on real nats-server processes (Debian 2.9.10 here):
 * - the central 3-node cluster config forms a JetStream cluster and takes an
 *   R3 chain stream (the production replication of docs/operations.md);
 * - the multi-region layout: a region site (its own JetStream domain) joins
 *   the central site as a leaf node, and the central mirror of the region's
 *   chain (central-streams.json) carries every record with the SAME stream
 *   sequence (record sequence == stream sequence on the copy too).
 *
 * What is adapted for the test, and only this: listen addresses and route
 * hosts become 127.0.0.1 ports, store_dir a temp dir, the `sync_interval`
 * line is dropped (needs >= 2.10; 2.9.10 rejects it), and in the multi-region
 * test each site runs as one node (the `# BEGIN cluster` block is cut).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type StreamConfig } from '@nats-io/jetstream';
import { freePort, NATS_SERVER_BIN, waitFor } from '@hwledger/testkit';
import { chainStreamConfig, ingestStreamConfig, dlqStreamConfig } from '@hwledger/core';
import { fleetUsers, EXAMPLE_FLEET, passwordEnvName } from '../packages/stack/src/nats-auth.js';
import { ensureTopology } from '../packages/stack/src/topology.js';
import { Registry } from 'prom-client';
import { generateSigner } from '@hwledger/chain';
import { Sequencer } from '@hwledger/sequencer';
import { Checkpointer } from '@hwledger/ledger-ops';

const DEPLOY = fileURLToPath(new URL('../deploy/nats/', import.meta.url));
const procs: ChildProcess[] = [];
const conns: NatsConnection[] = [];
const dirs: string[] = [];
const ADMIN_PW = 'admin-pw';
let stopping = false;

const baseEnv: NodeJS.ProcessEnv = { ...process.env, HWL_NATS_LEAF_PASSWORD: 'leaf-pw' };
for (const u of fleetUsers(EXAMPLE_FLEET)) baseEnv[passwordEnvName(u.user)] = u.user === 'admin' ? ADMIN_PW : `pw-${u.user}`;

interface Site {
  client: number;
  route?: number;
  leaf?: number;
}

function adapt(file: string, site: Site, routes: number[], opts: { single: boolean }): string {
  let text = readFileSync(join(DEPLOY, file), 'utf8');
  const dir = mkdtempSync(join(tmpdir(), 'hwl-deploy-nats-'));
  dirs.push(dir);
  text = text
    .replace(/^\s*sync_interval:.*$/m, '')
    .replace('listen: 0.0.0.0:4222', `listen: 127.0.0.1:${site.client}`)
    .replace(/^http: .*$/m, '')
    .replace('store_dir: /data/jetstream', `store_dir: ${JSON.stringify(join(dir, 'js'))}`)
    .replace('listen: 0.0.0.0:7422', `listen: 127.0.0.1:${site.leaf ?? 0}`);
  if (opts.single) text = text.replace(/# BEGIN cluster[\s\S]*# END cluster/, '');
  else {
    text = text.replace('listen: 0.0.0.0:6222', `listen: 127.0.0.1:${site.route}`);
    routes.forEach((p, i) => (text = text.replace(`nats-${i}.nats:6222`, `127.0.0.1:${p}`)));
  }
  // Same relative layout as deploy/nats: <dir>/auth.conf beside <dir>/site/nats.conf.
  copyFileSync(join(DEPLOY, 'auth.conf'), join(dir, 'auth.conf'));
  mkdirSync(join(dir, 'site'));
  const conf = join(dir, 'site', 'nats.conf');
  writeFileSync(conf, text);
  return conf;
}

function startServer(conf: string, env: NodeJS.ProcessEnv): ChildProcess {
  const p = spawn(NATS_SERVER_BIN, ['-c', conf], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  p.on('exit', (code) => {
    if (!stopping && code !== 0 && code !== null) process.stderr.write(`nats-server ${conf} exited ${code}: ${err}\n`);
  });
  procs.push(p);
  return p;
}

async function admin(port: number): Promise<NatsConnection> {
  const nc = await waitFor(() => connect({ servers: `nats://127.0.0.1:${port}`, user: 'admin', pass: ADMIN_PW, reconnect: false, timeout: 1_000 }), 20_000, 200, `nats on ${port}`);
  conns.push(nc);
  return nc;
}

afterAll(async () => {
  stopping = true;
  for (const nc of conns) await nc.close().catch(() => undefined);
  await Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((r) => {
          if (p.exitCode !== null || p.signalCode !== null) return r();
          p.once('exit', () => r());
          p.kill('SIGTERM');
        }),
    ),
  );
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('deploy/nats configs', () => {
  it('every config parses (nats-server -t), sync_interval aside', async () => {
    for (const f of ['cluster/nats.conf', 'multi-region/region.conf', 'multi-region/central.conf']) {
      const conf = adapt(f, { client: 4222, route: 6222, leaf: 7422 }, [6222, 6223, 6224], { single: false });
      const env = { ...baseEnv, NATS_SERVER_NAME: 'n0', HWL_REGION: 'eu-west-1', HWL_CENTRAL_LEAF_URL: 'nats-leaf://leaf:leaf-pw@127.0.0.1:7422' };
      const code = await new Promise<number | null>((resolve) => {
        const p = spawn(NATS_SERVER_BIN, ['-t', '-c', conf], { env, stdio: 'ignore' });
        p.on('exit', resolve);
      });
      expect(code, f).toBe(0);
      expect(readFileSync(join(DEPLOY, f), 'utf8')).toMatch(/sync_interval: always/);
      expect(readFileSync(join(DEPLOY, f), 'utf8')).not.toMatch(/^\s*accounts\s*[{:=]/m);
    }
  });

  it('the central cluster config forms a 3-node JetStream cluster that takes an R3 chain stream', async () => {
    const clients = [await freePort(), await freePort(), await freePort()];
    const routes = [await freePort(), await freePort(), await freePort()];
    clients.forEach((c, i) => startServer(adapt('cluster/nats.conf', { client: c, route: routes[i]! }, routes, { single: false }), { ...baseEnv, NATS_SERVER_NAME: `nats-${i}` }));
    const nc = await admin(clients[0]!);
    const jsm = await waitFor(
      async () => {
        const m = await jetstreamManager(nc, { timeout: 2_000 });
        await m.getAccountInfo();
        return m;
      },
      60_000,
      500,
      'JetStream meta leader',
    );
    const chain = 'eu-west-1';
    for (const cfg of [ingestStreamConfig(chain, { replicas: 3 }), chainStreamConfig(chain, { replicas: 3 }), dlqStreamConfig(chain, { replicas: 3 })]) {
      await waitFor(() => jsm.streams.add(cfg as StreamConfig), 30_000, 500, `stream ${cfg.name}`);
    }
    const info = await jsm.streams.info(`HWL_CHAIN_${chain}`);
    expect(info.config.num_replicas).toBe(3);
    expect(info.cluster?.replicas?.length).toBe(2);
    const ack = await jetstream(nc).publish('hwl.chain.eu-west-1.job_failed.acme', new Uint8Array([1]), { expect: { lastSequence: 0 } });
    expect(ack.seq).toBe(1);
    // A sequencer and checkpointer started before the topology job (k8s cannot
    // order them) create what is missing with their --replicas: R3 here.
    const seqChain = 'seq-first';
    const seq = new Sequencer({ nc, chainId: seqChain, registry: new Registry(), takeoverGraceMs: 0, topology: { replicas: 3 } });
    await waitFor(() => seq.start().then(() => true), 30_000, 500, 'sequencer start on the cluster');
    const cp = new Checkpointer({ nc, chainId: seqChain, signers: [generateSigner('hwl-test')], replicas: 3 });
    await cp.start();
    try {
      for (const name of ['KV_hwl_leader', 'KV_hwl_checkpoints', `HWL_CHAIN_${seqChain}`, `HWL_INGEST_${seqChain}`, `HWL_CKPT_${seqChain}`]) {
        expect((await jsm.streams.info(name)).config.num_replicas, name).toBe(3);
      }
    } finally {
      await cp.stop();
      await seq.stop();
    }
    // The topology command also makes what sealing depends on R3: the leader
    // lease and checkpoint buckets and the checkpoint stream (created with one
    // replica by the sequencer otherwise).
    const saved = process.env['NATS_URL'];
    process.env['NATS_URL'] = `nats://admin:${ADMIN_PW}@127.0.0.1:${clients[0]!}`;
    const lines: string[] = [];
    try {
      await waitFor(
        () =>
          // Retried while the new cluster settles (waitFor wants a truthy result).
          ensureTopology({ chains: [chain, 'us-east-1'], replicas: 3, fleets: ['main'] }, (l) => lines.push(l)).then(
            () => true,
            () => false,
          ),
        30_000,
        500,
        'topology',
      );
    } finally {
      if (saved === undefined) delete process.env['NATS_URL'];
      else process.env['NATS_URL'] = saved;
    }
    for (const name of ['KV_hwl_leader', 'KV_hwl_checkpoints', `HWL_CKPT_${chain}`, 'HWL_CKPT_us-east-1', 'HWL_CHAIN_us-east-1', 'HWL_FLEET_main']) {
      expect((await jsm.streams.info(name)).config.num_replicas, name).toBe(3);
    }
    expect(lines.join('\n')).toMatch(/KV hwl_leader: 3 replica\(s\); KV hwl_checkpoints: 3 replica\(s\)/);
  });

  it('a region site mirrored to the central site keeps every record at the same sequence', async () => {
    const central = { client: await freePort(), leaf: await freePort() };
    const region = { client: await freePort() };
    startServer(adapt('multi-region/central.conf', central, [], { single: true }), { ...baseEnv, NATS_SERVER_NAME: 'central-0' });
    startServer(adapt('multi-region/region.conf', region, [], { single: true }), {
      ...baseEnv,
      NATS_SERVER_NAME: 'eu-west-1-0',
      HWL_REGION: 'eu-west-1',
      HWL_CENTRAL_LEAF_URL: `nats-leaf://leaf:leaf-pw@127.0.0.1:${central.leaf}`,
    });
    const rnc = await admin(region.client);
    const cnc = await admin(central.client);
    // The region seals its chain locally.
    const rjsm = await jetstreamManager(rnc);
    await rjsm.streams.add(chainStreamConfig('eu-west-1') as StreamConfig);
    const rjs = jetstream(rnc);
    for (let i = 0; i < 5; i++) await rjs.publish(`hwl.chain.eu-west-1.metrics_collected._`, new Uint8Array([i]), { expect: { lastSequence: i } });

    // The central site mirrors it, as in central-streams.json (R1 here: one node).
    const spec = JSON.parse(readFileSync(join(DEPLOY, 'multi-region/central-streams.json'), 'utf8')) as { streams: (Partial<StreamConfig> & { name: string })[] };
    const eu = spec.streams.find((s) => s.name === 'HWL_CHAIN_eu-west-1');
    expect(eu?.mirror?.external?.api).toBe('$JS.eu-west-1.API');
    const cjsm = await waitFor(
      async () => {
        const m = await jetstreamManager(cnc, { timeout: 2_000 });
        await m.getAccountInfo();
        return m;
      },
      20_000,
      200,
      'central JetStream',
    );
    await cjsm.streams.add({ ...eu, num_replicas: 1 } as StreamConfig);
    await waitFor(async () => (await cjsm.streams.info(eu!.name)).state.messages === 5, 30_000, 200, 'mirror catching up');
    for (let seq = 1; seq <= 5; seq++) {
      const m = await cjsm.streams.getMessage(eu!.name, { seq });
      expect(m?.seq).toBe(seq);
      expect([...(m?.data ?? [])]).toEqual([seq - 1]);
    }
    // A record sealed after the mirror exists arrives too.
    await rjs.publish(`hwl.chain.eu-west-1.metrics_collected._`, new Uint8Array([5]), { expect: { lastSequence: 5 } });
    await waitFor(async () => (await cjsm.streams.info(eu!.name)).state.last_seq === 6, 30_000, 200, 'mirror live');
  });
});
