#!/usr/bin/env node
// Where nats-server spends its CPU while one seal-bench worker runs: starts a
// fresh nats-server with prof_port, pre-fills a chain's ingest, starts the
// worker, takes a CPU profile of the server in steady state
// (/debug/pprof/profile) and prints its CPU per stored record, the share of
// the read loop of the worker's connection (where nats-server 2.9 does all of
// a published JetStream message's work: parse, header lookups, duplicate
// table, checksum, file write), and the top functions.
//
//   node bench/profile-server.mjs [sequencer|ceiling|relay]
// Knobs: HWL_PROFILE_RECORDS (default 1,000,000; the run must outlast the
// profile), HWL_PROFILE_SECONDS (default 4), HWL_BENCH_BATCH (events per
// ingest message for sequencer and ceiling, default 100; the relay always
// forwards one). Run `npx turbo run build` first. docs/bench-seal.md says
// what it showed on 2026-12-07.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { CLI_BIN, TestNatsServer, freePort } from '@hwledger/testkit';
import { chainStreamConfig, connectNats, ensureChainTopology, streams } from '@hwledger/core';
import { DEFAULT_WINDOW } from '@hwledger/sequencer';
import { stopProcess } from './lib/proc.mjs';
import { prefill } from './lib/seal-events.mjs';
import { cpuByFunction } from './lib/pprof.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const env = process.env;
const what = process.argv[2] ?? 'sequencer';
if (!['sequencer', 'ceiling', 'relay'].includes(what)) {
  process.stderr.write('usage: node bench/profile-server.mjs [sequencer|ceiling|relay]\n');
  process.exit(2);
}
const RECORDS = Number(env.HWL_PROFILE_RECORDS ?? 1_000_000);
const SECONDS = Number(env.HWL_PROFILE_SECONDS ?? 4);
const BATCH = what === 'relay' ? 1 : Number(env.HWL_BENCH_BATCH ?? 100);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmt = (n) => Math.round(n).toLocaleString('en-US');

const profPort = await freePort();
const server = await TestNatsServer.start({ config: `prof_port: ${profPort}` });
const nc = await connectNats(server.url, 'bench-profile');
let worker;
try {
  const jsm = await jetstreamManager(nc);
  const chain = 'prof';
  await ensureChainTopology(nc, chain);
  process.stderr.write(`pre-filling ${fmt(RECORDS)} events, ${BATCH} per message\n`);
  await prefill(nc, chain, Math.ceil(RECORDS / BATCH), BATCH);
  let target = streams.chain(chain);
  let args;
  if (what === 'sequencer') args = [CLI_BIN, 'sequencer', '--nats', server.url, '--chain', chain, '--takeover-grace-ms', '0'];
  else if (what === 'ceiling') args = [join(here, 'lib/ceiling-worker.mjs'), server.url, streams.ingest(chain), chain, String(DEFAULT_WINDOW)];
  else {
    target = 'BENCH_RELAY_PROF';
    await jsm.streams.add({ ...chainStreamConfig(chain), name: target, subjects: ['bench.relay.prof.>'] });
    args = [join(here, 'lib/relay-worker.mjs'), server.url, streams.ingest(chain), 'bench.relay.prof.x', String(DEFAULT_WINDOW)];
  }
  worker = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...env, HWL_LOG_LEVEL: 'warn' } });
  const last = async () => (await jsm.streams.info(target)).state.last_seq;
  while ((await last()) < RECORDS * 0.1) {
    if (worker.exitCode !== null) throw new Error(`${what} exited ${worker.exitCode}`);
    await sleep(20);
  }
  const s0 = await last();
  const t0 = performance.now();
  const res = await fetch(`http://127.0.0.1:${profPort}/debug/pprof/profile?seconds=${SECONDS}`);
  if (!res.ok) throw new Error(`profile: HTTP ${res.status}`);
  const profile = cpuByFunction(new Uint8Array(await res.arrayBuffer()));
  const after = await last();
  const stored = after - s0;
  const secs = (performance.now() - t0) / 1000;
  if (after >= RECORDS) process.stderr.write('warning: the run may have ended during the profile; raise HWL_PROFILE_RECORDS\n');
  const pct = (ns) => `${((100 * ns) / profile.totalNs).toFixed(1)}%`;
  const us = (ns) => (ns / 1000 / stored).toFixed(2);
  const readLoop = profile.cum.get('github.com/nats-io/nats-server/v2/server.(*client).readLoop') ?? profile.cum.get('github.com/nats-io/nats-server/server.(*client).readLoop') ?? 0;
  const out = [
    `${what}: ${fmt(stored / secs)} records/s during the profile; nats-server ${((profile.totalNs / 1e9 / secs) * 100).toFixed(0)}% of a core, ${us(profile.totalNs)} µs per record`,
    `client read loops (the worker's connection's among them): ${pct(readLoop)} of the server's CPU, ${us(readLoop)} µs per record, busy ${((readLoop / 1e9 / secs) * 100).toFixed(0)}% of the time`,
    '',
    'cumulative (function and what it calls):',
    ...[...profile.cum].sort((a, b) => b[1] - a[1]).slice(0, 30).map(([k, v]) => `  ${pct(v).padStart(6)}  ${us(v).padStart(6)} µs  ${k}`),
    '',
    'flat (the function itself):',
    ...[...profile.flat].sort((a, b) => b[1] - a[1]).slice(0, 20).map(([k, v]) => `  ${pct(v).padStart(6)}  ${us(v).padStart(6)} µs  ${k}`),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
} finally {
  if (worker) await stopProcess(worker, 3_000);
  await nc.close();
  await server.stop();
}
