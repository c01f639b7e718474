/**
 * The real services under deploy/nats/auth.conf, each as its own role (the
 * way docker-compose and Kubernetes run them): the topology as `admin`, the
 * sequencer (signing checkpoints) as `sequencer-eu-west-1`, a simulated
 * agent as `agent-eu-west-1-node-001`, the projector as `reader`, with
 * credentials in NATS_URL (nats://user:pass@host). Every event is sealed,
 * checkpointed (signed checkpoints on the checkpoint stream) and projected:
 * the role permissions let each service do its whole job.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { streams } from '@hwledger/core';
import { CLI_BIN, createTestDatabase, runCli, TestNatsServer, waitFor, type TestDatabase } from '@hwledger/testkit';
import { EXAMPLE_FLEET, fleetUsers, passwordEnvName } from '../src/nats-auth.js';

const AUTH = fileURLToPath(new URL('../../../deploy/nats/auth.conf', import.meta.url));
const RUNNER = fileURLToPath(new URL('../bin/hwledger-stack.js', import.meta.url));
const CHAIN = 'eu-west-1';
const EVENTS = 300;

let server: TestNatsServer;
let db: TestDatabase;
let dir: string;
const children: ChildProcess[] = [];
const pw = (user: string): string => `pw-${user}-${process.pid}`;
const urlFor = (user: string): string => server.url.replace('nats://', `nats://${user}:${encodeURIComponent(pw(user))}@`);

function spawnAs(user: string, args: string[]): ChildProcess {
  const p = spawn(process.execPath, [CLI_BIN, ...args], { env: { ...process.env, NATS_URL: urlFor(user), HWL_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  p.on('exit', (code, signal) => {
    if (code && code !== 0 && signal === null) process.stderr.write(`${args[0]} as ${user} exited ${code}: ${err}\n`);
  });
  children.push(p);
  return p;
}

beforeAll(async () => {
  for (const u of fleetUsers(EXAMPLE_FLEET)) process.env[passwordEnvName(u.user)] = pw(u.user);
  server = await TestNatsServer.start({ config: readFileSync(AUTH, 'utf8'), probeAuth: { user: 'admin', pass: pw('admin') } });
  db = await createTestDatabase('hwl_roles');
  dir = mkdtempSync(join(tmpdir(), 'hwl-roles-'));
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
  await server?.stop();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

describe('services with per-role NATS users', () => {
  it('seal, checkpoint and project every event', async () => {
    const topo = await new Promise<number | null>((resolve) => {
      const p = spawn(process.execPath, [RUNNER, 'topology', '--chains', CHAIN], { env: { ...process.env, NATS_URL: urlFor('admin') }, stdio: 'ignore' });
      p.on('close', resolve);
    });
    expect(topo).toBe(0);
    const key = join(dir, 'checkpoint.key');
    expect((await runCli(['checkpoint', 'keygen', '--name', 'roles-test', '--out', key])).code).toBe(0);

    spawnAs('sequencer-eu-west-1', ['sequencer', '--chain', CHAIN, '--checkpoint-key', key, '--checkpoint-every', '100']);
    spawnAs('reader', ['projector', '--chain', CHAIN, '--db', db.url]);
    const agent = spawnAs('agent-eu-west-1-node-001', ['agent', '--simulate', '--chain', CHAIN, '--node', 'node-001', '--rate', '0', '--count', String(EVENTS), '--outbox', join(dir, 'outbox')]);
    const agentOut: string[] = [];
    agent.stdout?.on('data', (d: Buffer) => agentOut.push(d.toString()));
    expect(await new Promise((r) => agent.once('exit', r))).toBe(0);
    expect(agentOut.join('')).toMatch(new RegExp(`accepted ${EVENTS} \\(jetstream ${EVENTS}, outbox 0\\)`));

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const status = await waitFor(
        async () => {
          const r = await client.query('SELECT verified_sequence::text AS v, status FROM chain_status WHERE chain_id = $1', [CHAIN]).catch(() => undefined);
          const row = r?.rows[0] as { v: string; status: string } | undefined;
          return row && Number(row.v) >= EVENTS ? row : undefined;
        },
        60_000,
        250,
        'every event projected',
      );
      expect(status).toEqual({ v: String(EVENTS), status: 'ok' });
    } finally {
      await client.end();
    }
    // The sequencer signed checkpoints (every 100 records) under its role.
    const admin = await connect({ servers: server.url, user: 'admin', pass: pw('admin') });
    try {
      const jsm = await jetstreamManager(admin);
      await waitFor(async () => (await jsm.streams.info(streams.checkpoint(CHAIN))).state.messages >= 1, 30_000, 250, 'a signed checkpoint');
    } finally {
      await admin.close();
    }
  });
});
