#!/usr/bin/env node
// Paired A/B of two `hwledger sequencer` builds (or option sets): both run AT
// THE SAME TIME against one fresh nats-server, each sealing its own chain
// from the same pre-filled batched ingest, and each round reports how many
// records B stored per record A stored over the same window of time.
//
// Why paired: on these shared 2-core machines the speed of identical
// back-to-back runs varies by about 30% (docs/bench-seal.md), far more than
// most changes to the sealing path are worth. Run at once, A and B meet the
// same machine (its load, clock and neighbours) and the same server, so the
// ratio of their counts moves much less: A/A rounds stayed within ±5%
// (6 rounds on 2026-12-07: 0.953 to 1.003).
// What it measures is the two competing for the same two cores, not either
// one's throughput alone; use `npm run bench -- seal` for that. The chain
// each build gets alternates between rounds.
//
//   node bench/ab-sequencer.mjs                         # A/A: the method's own spread
//   HWL_AB_A=/old/checkout/packages/cli/bin/hwledger.js node bench/ab-sequencer.mjs
//   HWL_AB_B_ARGS="--window 4096" node bench/ab-sequencer.mjs
// Knobs: HWL_AB_A / HWL_AB_B (CLI entry points; default this checkout's),
// HWL_AB_A_ARGS / HWL_AB_B_ARGS (extra `sequencer` options), HWL_BENCH_SINGLE
// (records per chain and round, default 200,000), HWL_BENCH_REPEAT (rounds,
// default 8), HWL_BENCH_BATCH (events per ingest message, default 100).
// Run `npx turbo run build` in each checkout first.
import { spawn } from 'node:child_process';
import { jetstreamManager } from '@nats-io/jetstream';
import { TestNatsServer, CLI_BIN } from '@hwledger/testkit';
import { connectNats, ensureChainTopology, streams } from '@hwledger/core';
import { cpuOf, stopProcess } from './lib/proc.mjs';
import { prefill } from './lib/seal-events.mjs';

const env = process.env;
const SINGLE = Number(env.HWL_BENCH_SINGLE ?? 200_000);
const REPEAT = Number(env.HWL_BENCH_REPEAT ?? 8);
const BATCH = Number(env.HWL_BENCH_BATCH ?? 100);
const words = (s) => (s ?? '').split(' ').filter(Boolean);
const builds = [
  { name: 'A', bin: env.HWL_AB_A ?? CLI_BIN, args: words(env.HWL_AB_A_ARGS) },
  { name: 'B', bin: env.HWL_AB_B ?? CLI_BIN, args: words(env.HWL_AB_B_ARGS) },
];
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

function startSequencer(build, url, chain) {
  const p = spawn(process.execPath, [build.bin, 'sequencer', '--nats', url, '--chain', chain, '--takeover-grace-ms', '0', ...build.args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...env, HWL_LOG_LEVEL: 'warn' },
  });
  children.add(p);
  let err = '';
  p.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
  p.on('exit', (code, sig) => {
    children.delete(p);
    if (code && !p.expectedExit) process.stderr.write(`sequencer ${build.name} exited ${code ?? sig}: ${err}\n`);
  });
  return p;
}

const stop = (p) => stopProcess(p);

async function main() {
  const server = await TestNatsServer.start();
  const serverPid = server['proc']?.pid;
  const nc = await connectNats(server.url, 'bench-ab');
  const jsm = await jetstreamManager(nc);
  const last = async (chain) => (await jsm.streams.info(streams.chain(chain))).state.last_seq;
  const ratios = [];
  try {
    for (const b of builds) process.stderr.write(`${b.name}: ${b.bin} ${b.args.join(' ')}\n`);
    for (let i = 0; i < REPEAT; i++) {
      const chains = [`ab${i}x`, `ab${i}y`];
      for (const c of chains) {
        await ensureChainTopology(nc, c);
        await prefill(nc, c, Math.ceil(SINGLE / BATCH), BATCH);
      }
      // Round i: A seals chain x on even rounds, chain y on odd ones.
      const order = i % 2 ? [builds[1], builds[0]] : builds;
      const ps = chains.map((c, k) => startSequencer(order[k], server.url, c));
      const deadline = Date.now() + 120_000;
      // The window opens once both have stored 5% (both started and warm) and
      // closes when either reaches 90% (both still running).
      while ((await last(chains[0])) < SINGLE * 0.05 || (await last(chains[1])) < SINGLE * 0.05) {
        if (Date.now() > deadline) throw new Error('sequencers did not start sealing');
        await sleep(20);
      }
      const s0 = [await last(chains[0]), await last(chains[1])];
      const c0 = [cpuOf(ps[0].pid), cpuOf(ps[1].pid), cpuOf(serverPid)];
      const t0 = performance.now();
      for (;;) {
        await sleep(50);
        if ((await last(chains[0])) >= SINGLE * 0.9 || (await last(chains[1])) >= SINGLE * 0.9) break;
        if (Date.now() > deadline) throw new Error('sequencers stalled');
      }
      const s1 = [await last(chains[0]), await last(chains[1])];
      const c1 = [cpuOf(ps[0].pid), cpuOf(ps[1].pid), cpuOf(serverPid)];
      const seconds = (performance.now() - t0) / 1000;
      const stored = [s1[0] - s0[0], s1[1] - s0[1]];
      const a = i % 2 ? 1 : 0;
      const b = 1 - a;
      const r = stored[b] / stored[a];
      ratios.push(r);
      const cpu = (k) => (((c1[k] - c0[k]) / stored[k]) * 1e6).toFixed(2);
      const serverCpu = (((c1[2] - c0[2]) / (stored[0] + stored[1])) * 1e6).toFixed(2);
      process.stderr.write(
        `round ${i + 1}: A ${fmt(stored[a] / seconds)}/s (${cpu(a)} µs/record), B ${fmt(stored[b] / seconds)}/s (${cpu(b)} µs/record), B/A ${r.toFixed(3)}; nats-server ${serverCpu} µs/record\n`,
      );
      for (const p of ps) await stop(p);
      for (const c of chains) for (const s of [streams.chain(c), streams.ingest(c), streams.dlq(c)]) await jsm.streams.delete(s).catch(() => undefined);
    }
    const sorted = [...ratios].sort((x, y) => x - y);
    process.stdout.write(`B/A records stored at the same time: median ${median(ratios).toFixed(3)} over ${REPEAT} rounds (min ${sorted[0].toFixed(3)}, max ${sorted[sorted.length - 1].toFixed(3)})\n`);
  } finally {
    await nc.close();
    await server.stop();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${e?.stack ?? e}\n`);
    process.exit(1);
  },
);
