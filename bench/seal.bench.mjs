#!/usr/bin/env node
// Sealing benchmark (issue 3). On a fresh nats-server started here, rounds of
// (each run stores the same number of messages, HWL_BENCH_SINGLE):
//   1. bare relay, 1 event per ingest message (bench/lib/relay-worker.mjs)
//   2. the ceiling: the sequencer's messages without its sealing work,
//      BATCH events per ingest message (bench/lib/ceiling-worker.mjs)
//   3. `hwledger sequencer`, 1 event per ingest message
//   4. `hwledger sequencer`, BATCH events per ingest message
// then, once:
//   5. `hwledger sequencer`, BATCH events per ingest message, HWL_BENCH_RECORDS
//      records (default 1,000,000), sampling the sequencer's RSS at 1/10 and
//      at the end
//   6. end-to-end latency (publish -> record on the chain) at a fixed offered load
// Throughput is the steady-state rate between 5% and 95% of the run, read
// from the target stream's last sequence; ingest is pre-filled so producers
// do not compete for the two cores during the measurement.
//
//   npm run bench -- seal                     # full (about 3-4 minutes)
//   HWL_BENCH_SCALE=quick npm run bench -- seal
// Knobs: HWL_BENCH_SINGLE (records stored by each of runs 1-4), HWL_BENCH_RECORDS
// (run 5), HWL_BENCH_BATCH, HWL_BENCH_WINDOW, HWL_BENCH_RATE (events/s in run 6),
// HWL_BENCH_LATENCY_S, HWL_BENCH_REPEAT (rounds of runs 1-4; ratios are medians),
// HWL_BENCH_NODE_ARGS (node flags for the relay and sequencer, e.g. --cpu-prof),
// HWL_BENCH_STDOUT_DIR (their stdout to files there, e.g. with --trace-gc).
import { spawn, execFileSync } from 'node:child_process';
import { writeFileSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { TestNatsServer, CLI_BIN, NATS_SERVER_BIN } from '@hwledger/testkit';
import { chainStreamConfig, connectNats, ensureChainTopology, streams, subjects } from '@hwledger/core';
import { encodeIngestBatch } from '@hwledger/proto';
import { decodeRecord } from '@hwledger/chain';
import { DEFAULT_WINDOW } from '@hwledger/sequencer';
import { cpuOf, rssOf, stopProcess } from './lib/proc.mjs';
import { event, prefill } from './lib/seal-events.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const env = process.env;
const quick = env.HWL_BENCH_SCALE === 'quick';
const SINGLE = Number(env.HWL_BENCH_SINGLE ?? (quick ? 50_000 : 200_000));
const RECORDS = Number(env.HWL_BENCH_RECORDS ?? (quick ? 200_000 : 1_000_000));
const BATCH = Number(env.HWL_BENCH_BATCH ?? 100);
const WINDOW = Number(env.HWL_BENCH_WINDOW ?? DEFAULT_WINDOW);
const RATE = Number(env.HWL_BENCH_RATE ?? 2_000);
const LATENCY_S = Number(env.HWL_BENCH_LATENCY_S ?? (quick ? 5 : 15));
const REPEAT = Number(env.HWL_BENCH_REPEAT ?? (quick ? 1 : 5));
/** HWL_BENCH_RSS_TRACE=1: every RSS sample (records sealed, MiB) to stderr. */
const RSS_TRACE = env.HWL_BENCH_RSS_TRACE === '1';

/**
 * Polls a stream's last sequence until it reaches `total`; steady-state rate
 * between 5% and 95%, and the CPU time the worker and nats-server used per
 * record in that window (µs/record: where the time goes).
 */
async function measure(jsm, stream, total, pid, rssMarks = []) {
  const lo = Math.floor(total * 0.05);
  const hi = Math.floor(total * 0.95);
  let tLo, tHi, sLo, sHi, cLo, cHi;
  const cpuNow = () => [cpuOf(pid), cpuOf(serverPid)];
  // RSS samples in a window after each mark: [mark, 1.5 × mark] for the first,
  // the last 5% plus one second after the end for the last; the median is reported.
  const rss = rssMarks.map((mark) => ({ mark, samples: [] }));
  const deadline = Date.now() + 20 * 60_000;
  for (;;) {
    const last = (await jsm.streams.info(stream)).state.last_seq;
    const now = performance.now();
    if (tLo === undefined && last >= lo) [tLo, sLo, cLo] = [now, last, cpuNow()];
    if (tHi === undefined && last >= hi) [tHi, sHi, cHi] = [now, last, cpuNow()];
    if (pid) {
      const r = rssOf(pid);
      if (RSS_TRACE && r) process.stderr.write(`rss ${last} ${(r / 2 ** 20).toFixed(1)}\n`);
      for (const x of rss) {
        const inWindow = x.mark >= total ? last >= total * 0.95 : last >= x.mark && last <= x.mark * 1.5;
        if (r && inWindow) x.samples.push(r);
      }
    }
    if (last >= total) break;
    if (Date.now() > deadline) throw new Error(`${stream}: stuck at ${last}/${total}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (pid) {
    // A few more samples at the end: RSS right after the last record.
    for (let i = 0; i < 10; i++) {
      const r = rssOf(pid);
      for (const x of rss) if (r && x.mark >= total) x.samples.push(r);
      await new Promise((res) => setTimeout(res, 100));
    }
  }
  const median = (xs) => {
    const v = [...xs].sort((a, b) => a - b);
    return v.length ? v[Math.floor(v.length / 2)] : 0;
  };
  const perRecord = (i) => ((cHi[i] - cLo[i]) / (sHi - sLo)) * 1e6;
  return { rate: (sHi - sLo) / ((tHi - tLo) / 1000), cpu: { worker: perRecord(0), server: perRecord(1) }, rss: rss.map((x) => ({ mark: x.mark, median: median(x.samples), n: x.samples.length })) };
}

/** Extra node flags for the measured processes, e.g. HWL_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
const NODE_ARGS = (env.HWL_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);

/** Measured processes still running, and the bench's nats-server: killed if the bench itself dies (an uncaught error skips the `finally`). */
const children = new Set();
let serverRunning = false;
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  if (serverRunning && serverPid) {
    try {
      process.kill(serverPid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

function startProcess(args, name) {
  // HWL_BENCH_STDOUT_DIR: each measured process's stdout (e.g. HWL_BENCH_NODE_ARGS=--trace-gc) to a file there.
  const out = env.HWL_BENCH_STDOUT_DIR ? openSync(join(env.HWL_BENCH_STDOUT_DIR, `${name.replace(/[^a-z0-9]+/gi, '_')}-${Date.now()}.log`), 'w') : 'ignore';
  const p = spawn(process.execPath, [...NODE_ARGS, ...args], { stdio: ['ignore', out, 'pipe'], env: { ...env, HWL_LOG_LEVEL: 'warn' } });
  if (typeof out === 'number') closeSync(out); // the child has its own copy
  children.add(p);
  p.on('exit', () => children.delete(p));
  let err = '';
  p.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
  p.on('exit', (code, sig) => {
    if (code && !p.expectedExit) process.stderr.write(`${name} exited ${code ?? sig}: ${err}\n`);
  });
  return p;
}

const stop = (p) => stopProcess(p);

/**
 * Each run's streams are deleted after it, so every run starts on a server
 * holding the same (little) state: otherwise a later run pays for the
 * earlier runs' stored messages and deduplication tables.
 */
async function dropStreams(jsm, names) {
  for (const n of names) await jsm.streams.delete(n).catch(() => undefined);
}

/** HWL_BENCH_SEQ_ARGS: extra `hwledger sequencer` options, e.g. "--ingest-buffer-bytes 8388608". */
const SEQ_ARGS = (env.HWL_BENCH_SEQ_ARGS ?? '').split(' ').filter(Boolean);
const sequencerArgs = (url, chain) => [CLI_BIN, 'sequencer', '--nats', url, '--chain', chain, '--takeover-grace-ms', '0', '--window', String(WINDOW), ...SEQ_ARGS];

async function relayRun(nc, jsm, url, tag) {
  const chain = `relay${tag}`;
  await ensureChainTopology(nc, chain);
  // The relay's target: a stream configured exactly like a chain stream.
  const target = { ...chainStreamConfig(chain), name: `BENCH_RELAY_${tag}`, subjects: [`bench.relay.${tag}.>`] };
  await jsm.streams.add(target);
  await jsm.streams.delete(streams.chain(chain));
  await prefill(nc, chain, SINGLE, 1);
  const p = startProcess([join(here, 'lib/relay-worker.mjs'), url, streams.ingest(chain), `bench.relay.${tag}.x`, String(WINDOW)], 'relay');
  const r = await measure(jsm, target.name, SINGLE, p.pid);
  await stop(p);
  await dropStreams(jsm, [target.name, streams.ingest(chain)]);
  return r;
}

async function sequencerRun(nc, jsm, url, chain, messages, batch, rssMarks = []) {
  await ensureChainTopology(nc, chain);
  await prefill(nc, chain, messages, batch);
  const p = startProcess(sequencerArgs(url, chain), 'sequencer');
  const r = await measure(jsm, streams.chain(chain), messages * batch, p.pid, rssMarks);
  await stop(p);
  await dropStreams(jsm, [streams.chain(chain), streams.ingest(chain), streams.dlq(chain)]);
  return r;
}

/** The ceiling: the sequencer's messages (subjects, header block, body size) with none of its sealing work. */
async function ceilingRun(nc, jsm, url, tag, records, batch) {
  const chain = `ceiling${tag}`;
  await ensureChainTopology(nc, chain);
  const messages = Math.ceil(records / batch);
  await prefill(nc, chain, messages, batch);
  const p = startProcess([join(here, 'lib/ceiling-worker.mjs'), url, streams.ingest(chain), chain, String(WINDOW)], 'ceiling');
  const r = await measure(jsm, streams.chain(chain), messages * batch, p.pid);
  await stop(p);
  await dropStreams(jsm, [streams.chain(chain), streams.ingest(chain), streams.dlq(chain)]);
  return r;
}

async function latencyRun(nc, jsm, url) {
  const chain = 'latency';
  await ensureChainTopology(nc, chain);
  const p = startProcess(sequencerArgs(url, chain), 'sequencer');
  const sentAt = new Map();
  const lat = [];
  const js = jetstream(nc);
  const consumer = await js.consumers.get(streams.chain(chain), { deliver_policy: DeliverPolicy.All });
  const sub = await consumer.consume();
  const warmupUntil = performance.now() + 1_000;
  (async () => {
    for await (const m of sub) {
      const now = performance.now();
      const id = decodeRecord(m.data).eventId;
      const t = sentAt.get(id);
      if (t !== undefined) {
        sentAt.delete(id);
        if (t >= warmupUntil) lat.push(now - t);
      }
    }
  })();
  // Wait until the sequencer leads (its first record).
  const subject = subjects.ingest(chain, 'bench');
  await js.publish(subject, encodeIngestBatch([event(chain, 99_999_999)]));
  while ((await jsm.streams.info(streams.chain(chain))).state.last_seq < 1) await new Promise((r) => setTimeout(r, 50));
  const tickMs = 10;
  const perTick = RATE / (1000 / tickMs);
  const start = performance.now();
  let sent = 0;
  const pubs = [];
  while (performance.now() - start < LATENCY_S * 1000) {
    const due = Math.floor(((performance.now() - start) / tickMs + 1) * perTick);
    while (sent < due) {
      const e = event(chain, 10_000_000 + sent);
      sentAt.set(e.eventId, performance.now());
      pubs.push(js.publish(subject, encodeIngestBatch([e]), { timeout: 30_000 }));
      sent++;
    }
    await new Promise((r) => setTimeout(r, tickMs));
  }
  await Promise.all(pubs);
  const deadline = Date.now() + 30_000;
  while (sentAt.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await sub.close();
  await stop(p);
  lat.sort((a, b) => a - b);
  const q = (x) => lat[Math.min(lat.length - 1, Math.floor(x * lat.length))];
  return { offered: RATE, events: sent, measured: lat.length, p50: q(0.5), p99: q(0.99), max: lat[lat.length - 1], lost: sentAt.size };
}

let serverPid;
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const mib = (b) => `${(b / 1048576).toFixed(1)} MiB`;

async function main() {
  const t0 = Date.now();
  const loadBefore = loadavg()[0];
  const server = await TestNatsServer.start();
  serverPid = server['proc']?.pid;
  serverRunning = true;
  const nc = await connectNats(server.url, 'bench');
  const jsm = await jetstreamManager(nc);
  try {
    const cpuNote = (what, r) => {
      process.stderr.write(`${what}: ${fmt(r.rate)}/s, CPU per record: worker ${r.cpu.worker.toFixed(1)} µs, nats-server ${r.cpu.server.toFixed(1)} µs\n`);
    };
    // Rounds of (relay, ceiling, sequencer 1/msg, sequencer BATCH/msg), back
    // to back, so each round's ratios compare runs made under the same machine
    // load. Every run of a round stores SINGLE messages in its target stream:
    // longer runs cost nats-server more CPU per message (its deduplication
    // table keeps every Nats-Msg-Id of the last 2 minutes), so runs of
    // different lengths would not compare like with like.
    const messages = Math.ceil(RECORDS / BATCH);
    const mark = Math.floor(RECORDS / 10);
    const batchedMessages = Math.ceil(SINGLE / BATCH);
    const rounds = [];
    for (let i = 0; i < REPEAT; i++) {
      const relayR = await relayRun(nc, jsm, server.url, `r${i}`);
      cpuNote(`round ${i + 1} relay`, relayR);
      const ceilingR = await ceilingRun(nc, jsm, server.url, `c${i}`, SINGLE, BATCH);
      cpuNote(`round ${i + 1} ceiling ${BATCH}/msg`, ceilingR);
      const singleR = await sequencerRun(nc, jsm, server.url, `single${i}`, SINGLE, 1);
      cpuNote(`round ${i + 1} sequencer 1/msg`, singleR);
      const batchedR = await sequencerRun(nc, jsm, server.url, `batched${i}`, batchedMessages, BATCH);
      cpuNote(`round ${i + 1} sequencer ${BATCH}/msg`, batchedR);
      rounds.push({ relay: relayR, ceiling: ceilingR, single: singleR, batched: batchedR });
    }
    // The long run: RSS at 1/10 and at the end of RECORDS records, and its rate.
    const longR = await sequencerRun(nc, jsm, server.url, 'long', messages, BATCH, [mark, messages * BATCH]);
    cpuNote(`sequencer ${BATCH}/msg, ${fmt(messages * BATCH)} records`, longR);
    const median = (xs) => {
      const v = [...xs].sort((a, b) => a - b);
      return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    };
    const best = (key) => rounds.map((r) => r[key]).reduce((a, b) => (b.rate > a.rate ? b : a));
    const relayBest = best('relay');
    const ceilingBest = best('ceiling');
    const singleBest = best('single');
    const batchedBest = best('batched');
    const relay = relayBest.rate;
    const single = singleBest.rate;
    const batched = { rate: batchedBest.rate };
    const [rssLo, rssHi] = longR.rss.map((x) => x.median);
    const singleRatios = rounds.map((r) => r.single.rate / r.relay.rate);
    const batchedRatios = rounds.map((r) => r.batched.rate / r.relay.rate);
    const ceilingRatios = rounds.map((r) => r.ceiling.rate / r.relay.rate);
    const ofCeiling = rounds.map((r) => r.batched.rate / r.ceiling.rate);
    const latency = await latencyRun(nc, jsm, server.url);
    const elapsed = (Date.now() - t0) / 1000;

    const natsVersion = execFileSync(NATS_SERVER_BIN, ['--version']).toString().trim();
    const cpu0 = cpus()[0]?.model ?? 'unknown CPU';
    const r1 = median(singleRatios);
    const rb = median(batchedRatios);
    const rc = median(ceilingRatios);
    const growth = rssHi / rssLo - 1;
    const ok = (b) => (b ? 'yes' : '**no**');
    const ratios = (xs) => xs.map((x) => `${x.toFixed(2)}×`).join(', ');
    const cpu = (r) => `${r.cpu.worker.toFixed(1)} + ${r.cpu.server.toFixed(1)} µs`;
    // At the measured CPU per record, the cores can carry at most this many records/s.
    const carry = (r) => (cpus().length * 1e6) / (r.cpu.worker + r.cpu.server);
    const table = [
      `| measure | result | target | met |`,
      `|---|---|---|---|`,
      `| bare relay, 1 event/msg (msg/s) | ${fmt(relay)} | baseline | |`,
      `| sequencer, 1 event/msg (records/s) | ${fmt(single)}; **${r1.toFixed(2)}×** the relay (rounds: ${ratios(singleRatios)}) | ≥ 0.8× | ${ok(r1 >= 0.8)} |`,
      `| sequencer, ${BATCH} events/msg (records/s) | ${fmt(batched.rate)}; **${rb.toFixed(2)}×** the relay (rounds: ${ratios(batchedRatios)}) | ≥ 1.3× | ${ok(rb >= 1.3)} |`,
      `| ceiling: the sequencer's messages without its sealing work, ${BATCH} events/msg (records/s) | ${fmt(ceilingBest.rate)}; **${rc.toFixed(2)}×** the relay (rounds: ${ratios(ceilingRatios)}); the sequencer reaches ${(median(ofCeiling) * 100).toFixed(0)}% of it (rounds: ${ofCeiling.map((x) => `${(x * 100).toFixed(0)}%`).join(', ')}) | report | |`,
      `| sequencer, ${BATCH} events/msg, one run of ${fmt(messages * BATCH)} records (records/s) | ${fmt(longR.rate)} | report | |`,
      `| sequencer RSS at ${fmt(mark)} records | ${mib(rssLo)} | | |`,
      `| sequencer RSS at ${fmt(messages * BATCH)} records | ${mib(rssHi)} (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%) | within 10% | ${ok(Math.abs(growth) <= 0.1)} |`,
      `| end-to-end latency at ${fmt(latency.offered)} events/s, 1 event/msg (publish → record on the chain) | p50 ${latency.p50.toFixed(1)} ms, p99 ${latency.p99.toFixed(1)} ms (max ${latency.max.toFixed(1)} ms, ${fmt(latency.measured)} events) | report | |`,
      `| CPU per record, worker + nats-server (best runs) | relay ${cpu(relayBest)}; ceiling ${cpu(ceilingBest)}; sequencer 1/msg ${cpu(singleBest)}; ${BATCH}/msg ${cpu(batchedBest)} | | |`,
      `| most records/s ${cpus().length} cores can carry at that CPU | relay ${fmt(carry(relayBest))}; ceiling ${fmt(carry(ceilingBest))}; sequencer 1/msg ${fmt(carry(singleBest))}; ${BATCH}/msg ${fmt(carry(batchedBest))} (targets: ${fmt(0.8 * relay)} and ${fmt(1.3 * relay)}) | | |`,
    ].join('\n');
    const runs = (key) => rounds.map((r) => fmt(r[key].rate)).join(', ');
    const setup = `${cpus().length} × ${cpu0}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM; Node ${process.version}; ${natsVersion} (file storage, fresh server started by the bench, same host); window ${fmt(WINDOW)} appends in flight (${WINDOW === DEFAULT_WINDOW ? "the sequencer's default" : `the sequencer's default is ${fmt(DEFAULT_WINDOW)}`}), a PubAck asked for every 32nd append and the last of each burst; ${REPEAT} round(s) of relay, ceiling, sequencer 1/msg and sequencer ${BATCH}/msg, back to back, each run storing ${fmt(SINGLE)} messages: relay ${runs('relay')}; ceiling ${runs('ceiling')}; sequencer 1/msg ${runs('single')}; ${BATCH}/msg ${runs('batched')}; ratios are the median of each round's ratio, rates the best run; load average ${loadBefore.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after; bench took ${elapsed.toFixed(0)} s`;
    process.stdout.write(`${table}\n\n${setup}\n`);
    if (latency.lost > 0) process.stdout.write(`warning: ${latency.lost} latency events not seen on the chain\n`);
    const doc = `# Sealing benchmark

Measured ${new Date().toISOString().slice(0, 10)} by \`bench/seal.bench.mjs\`${quick ? ' (quick scale)' : ''}.

${table}

Setup: ${setup}.

What is compared:
- **bare relay** (\`bench/lib/relay-worker.mjs\`): consumes the ingest stream with the sequencer's consumer settings (except \`max_ack_pending\`: a fixed 8,192 messages, more than the sequencer's 256 KiB buffer holds, so the baseline is never short of input) and delivery (callback consume feeding a \`SerialRunner\`), publishes each body unchanged to a stream configured like a chain stream with \`Nats-Expected-Last-Sequence\` and a \`Nats-Msg-Id\` made of the ingest stream and sequence (the server deduplicates on it, as on every chain record's id), acks cumulatively after the PubAck; no decode, validation or hashing. It uses the sequencer's own pipelined publisher (\`AppendPipeline\`: same window, same sparse PubAcks) and header writer (into the same kind of slab), so only the sealing work differs.
- **sequencer**: the real \`hwledger sequencer\` process: lease, admission (the fast path transcodes plain events from protobuf straight to canonical bytes with the validation rules; anything else and every rejection goes through the reference decoder and validator), duplicate check, SHA-256 chain link (native), seven headers per record (spec: \`Nats-Msg-Id\`, \`Hwl-Prev-Hash\`, \`Hwl-Hash\`; watermark: \`Hwl-Ingest\`; fence: \`Nats-Expected-Last-Sequence\`, \`Nats-Expected-Last-Msg-Id\`; \`Nats-Expected-Stream\` against replays into other streams), fenced appends, acks after storage, metrics, purge on rotation.
- **ceiling** (\`bench/lib/ceiling-worker.mjs\`): the sequencer's messages without its sealing work. It consumes the same ${BATCH}-event ingest messages as the batched sequencer run, splits each into its events and publishes every event as one message to the spec's subjects (\`hwl.chain.<chain>.<kind>.<tenant>\`) with a header block of the sequencer's shape and size (same \`encodeRecordHeaders\`: message id, both fences, both hashes, the watermark) and a body of the canonical record's size, through the same \`AppendPipeline\`, acking after the PubAck. It does not decode, validate or transcode events, compute the event key or the chain link, check duplicates or keep metrics (its hashes are counters). No sealer that writes the spec's messages (one fenced message per record, stream sequence = record sequence) can beat it on the same server, so it shows how much of the 1.3× target the spec's messages leave to the sealing work.
- Throughput is the steady-state rate between 5% and 95% of each run, read from the target stream; ingest is pre-filled before each run so the producer does not compete for the CPU during the measurement. The batched runs divide the per-message costs (delivery, ack) over ${BATCH} events; the relay forwards one event per message. Every run of a round stores the same number of messages (${fmt(SINGLE)}) in a fresh target stream: a longer run costs nats-server more CPU per stored message (in full-scale runs on 2026-12-07, the 1,000,000-record runs against the 200,000-record ones; its deduplication table keeps every \`Nats-Msg-Id\` of the last 2 minutes, and the sequencer's ids are 32 characters (55 on 2026-12-07, 81 before), the relay's about 25), so runs of different lengths do not compare like with like. Until 2026-12-06 the batched ratio came from the 1,000,000-record RSS run against 200,000-message relay runs; that run's rate is still reported on its own row.
- CPU per record: user + system time of the measured process (all its threads, garbage collector included) and of nats-server over the same 5–95% window, from \`/proc\`, divided by the records stored in it. Their sum bounds what the machine can do: ${cpus().length} cores / (worker + server CPU per record).
- RSS is the sequencer process's VmRSS, sampled every 50 ms: the median of the samples between ${fmt(mark)} and ${fmt(mark * 1.5)} records against the median over the last 5% of the ${fmt(messages * BATCH)}-record run and one second after it (a median, because single samples swing with the garbage collector). Memory is bounded by design: a fixed-size recent-id table (100,000 keys), the append window (${fmt(WINDOW)}) and the ingest buffer (\`--ingest-buffer-bytes\`, 256 KiB). \`HWL_BENCH_RSS_TRACE=1\` prints every sample. Two settings keep RSS flat (2026-12-06; before them the same row read +11.7% to +20%): (1) the ingest buffer was 8 MiB, about 0.7 s of work, so delivered messages outlived V8's young generation and their socket buffers waited for a full collection; the malloc heap (\`[heap]\` in \`/proc/PID/smaps\`) grew from 3 to 64 MiB in the first 3 s of a run, then full collections ran every 100–200 ms. 256 KiB sealed as fast (two A/B runs: 1/msg 0.75× and 0.79× against 0.76× and 0.73×; 100/msg 1.00× and 1.05× against 1.05× and 0.98×) with 37 MiB less RSS (129 against 167 MiB at 1M records). (2) What is still promoted grew the old generation in a slow sawtooth (118 to 155 MiB over 2.5M records, back to 130 MiB at each full collection), because V8 lets it grow to up to 4× the live heap; \`hwledger sequencer\` now sets V8's growing factor to 2 (\`--heap-growing-percent 100\`, \`packages/cli/src/ops/heap-growing.ts\`): RSS rose from 115 to 124 MiB over the first 450,000 records of a 2M-record run and then held. Tighter factors are flatter and cost CPU (A/B runs of 1M records, alternating, worker CPU per record: factor 1.2 held RSS within 1 MiB but cost about 0.7 µs, 1.5 about 0.5 µs, 2 nothing measurable). Earlier dead ends, for the record: glibc's \`MALLOC_ARENA_MAX=2\` changed nothing, \`MALLOC_MMAP_THRESHOLD_=16384\` and jemalloc (\`LD_PRELOAD\`) moved the curve but not its shape, and a larger young generation made it worse.
- Latency: events published one per message at a fixed ${fmt(RATE)} events/s for ${LATENCY_S} s; measured from just before the ingest publish to the record's arrival at a chain subscriber (first second discarded).

Where the time goes (CPU profiles, \`HWL_BENCH_NODE_ARGS=--cpu-prof\`, the CPU rows above, and micro-measurements). The ceiling row splits the sequencer's cost in two. (1) Its messages: every record is its own fenced publish with a header block of about 380 bytes that the spec (\`Nats-Msg-Id\`, \`Hwl-Prev-Hash\`, \`Hwl-Hash\`), the exactly-once watermark and the single-writer fence need, and nats-server stores each one: ${median(rounds.map((r) => r.ceiling.cpu.server)).toFixed(1)} µs of server CPU per ceiling record against ${median(rounds.map((r) => r.relay.cpu.server)).toFixed(1)} µs per relayed message with its delivery and ack (medians of the rounds), which in this run left the ceiling at ${rc.toFixed(2)}× the relay. (2) Its sealing work: the batched sequencer used ${median(rounds.map((r) => r.batched.cpu.worker - r.ceiling.cpu.worker)).toFixed(1)} µs more worker CPU per record than the ceiling (median of the rounds) for transcoding and validating the event and computing its key (one call into the addon's C transcoder per message, about 0.3 µs an event in a micro-measurement), the chain link and header block (one C call per record), the recent-id check, the append's bookkeeping (a token and three typed-array views per record) and the metrics. Both the sequencer and the ceiling hand nats-server about 660 bytes per record (their header block is about 380 of them; about 750 and 470 with the headers of earlier versions), the relay about 225 per message (\`/proc/<pid>/io\`), and the socket write of those bytes is one of the larger items of every profile. To reach 1.3× the relay the sequencer would have to run at ${((1.3 / rc) * 100).toFixed(0)}% of the ceiling's rate, that is with sealing work costing ${rc > 1.3 ? `at most about ${(((rc / 1.3) - 1) * 100).toFixed(0)}%` : 'less than nothing'} of the ceiling's CPU per record; it reaches ${(median(ofCeiling) * 100).toFixed(0)}%. With one event per message the sequencer pays all of that on top of the relay's whole per-message cost. The ratios depend on the machine, and most of all the ceiling's: on 2026-12-06, on 2 × Intel Xeon, the same bench (then with the batched ratio from the long run) measured 0.77× and 1.04×; early on 2026-12-07, on a 2 × AMD EPYC machine where the relay carried about 57,000 messages/s, 0.92× and 1.26× with the ceiling at 1.54×; later that day, on another 2 × AMD EPYC machine about twice as fast (relay about 118,000 messages/s), quick runs put the ceiling itself at only 1.25× to 1.44× the relay, which leaves almost nothing for the sealing work.

What made it faster than the first version (0.41× and 0.56×): the fast transcoder (no event objects and strings per event), native SHA-256 for the link and the key, sparse PubAcks (one PubAck confirms the fenced appends before it, also used by the relay), header and record bytes written into a slab instead of one off-heap array each, counters written once per burst, the ingest sequence read once per message from the reply subject; and on 2026-12-07 the event key through the SHA-256 addon too (\`@hwledger/native-hash\`, as the chain link), the seal-latency histogram as a \`FastHistogram\` (prom-client's hashed and validated the labels on every observation) and one hash-table probe less per record in the recent-id set; later on 2026-12-07, repeats within a message found through a reusable table instead of a \`Set\` per message, the lease and the clock read once per burst of appends instead of once per record, and two fewer typed-array views per record (in alternating runs of the old and new builds, 4 quick bench runs of 200,000 records each: batched worker CPU per record 6.0, 6.2, 6.0, 5.6 µs before and 5.8, 5.6, 5.6, 5.8 µs after; batched ratios 1.07× to 1.16× before and 1.14× to 1.18× after); then the reply subject's dots found with \`indexOf\` (about 70 ns instead of 220 ns per ingest message in a micro-measurement). On 2026-12-07, on a third 2 × AMD EPYC machine (relay about 60,000 messages/s), two changes that the relay shares, because it uses the same publisher: appends written as raw \`HPUB\` frames into one chunk per turn (\`FrameWriter\`: about 2.7 µs of client CPU per record-sized message through nats.js's \`publish()\`, 1.1 to 1.4 µs this way; batched worker CPU per record 9.6 to 11.9 µs against 10.3 to 15.7 µs without, in 6 alternating rounds), and a window of 1,024 appends instead of 256 (6 alternating rounds: relay 55,700 to 70,300 messages/s against 48,000 to 62,700, batched sequencer 70,600 to 83,100 records/s against 55,800 to 72,500; the one-event ratio over 4 rounds 0.96× against 0.81×). Both raise throughput; the batched ratio stays where it was, since the relay gains as much. Two side measurements on the same machine the same day: a second full run of this bench with the same code gave 0.84× and 1.03× (batched rounds 0.95× to 1.30×); and a publish-only script storing 200,000 fenced messages per run into a file stream, with header blocks of 460, 300 and 140 bytes in 3 alternating rounds, measured nats-server at 9.1 to 10.9 µs of CPU per message for 460 bytes and 9.2 to 10.3 µs for 140 bytes, about 0.3 µs apart: the server's cost per record barely depends on the header block. Later on 2026-12-07, on that machine, three changes to the sealing work alone: the fast path ported to C (\`packages/native-hash/src/ingest-transcode.c\`: a whole message transcoded, validated and keyed in one call, 0.29 µs an event against 1.2 µs in TypeScript in a micro-measurement; same answer and bytes on every input, tested both ways); the chain link no longer hashed into a fresh 32-byte array (V8 keeps such an array on its heap, and N-API moves its bytes off the heap before the addon can see them: 1.45 µs a hash against 0.42 µs through a reused scratch, in a micro-measurement); and the link and the header block in one C call per record (\`record-link.c\`). In single-round runs of 200,000 records, batched worker CPU per record went from 9.4 to 12.0 µs before them to 8.1 to 8.9 µs with the first two and 7.4 to 7.8 µs with all three, and the batched ratio from 1.01× to 1.16× to 1.13× to 1.17×. The ceiling moved too, because it measures the relay against the same machine: in this run it stood at ${rc.toFixed(2)}×, so 1.3× needs ${((1.3 / rc) * 100).toFixed(0)}% of it. Later on 2026-12-07, on a 2 × Intel Xeon machine (relay about 110,000 to 135,000 messages/s), one change that the relay and the ceiling share, since it is in the publisher: the frame writer's chunks are recycled once a PubAck shows that the server holds their frames (docs/sequencer.md, "Recycled frame chunks"). Every fresh 256 KiB chunk had been an ArrayBuffer, which V8 counts as external memory, and every 64 MiB of external allocations starts a full (mark-compact) collection. With \`HWL_BENCH_NODE_ARGS=--trace-gc HWL_BENCH_STDOUT_DIR=<dir>\`, single-round quick runs of 300,000 records counted 16 to 21 mark-compacts in the batched sequencer run before the change and 2 to 6 after; its worker CPU per record went from 4.6 to 5.1 µs (3 runs) to 3.6 to 4.2 µs (11 runs), and the single-round batched ratio from 1.15× to 1.18× to 1.24× to 1.38×. Earlier that day on the same machine, before the change, a quick run of this bench (3 rounds of 50,000) had measured the batched ratio at 0.95×. Later again, on another 2 × Intel Xeon machine (relay about 90,000 to 115,000 messages/s), a change to the messages themselves, which the ceiling shares (it writes the sequencer's header block) and the relay does not (its ids are its own): each record's \`Nats-Msg-Id\` in base64url, 55 characters instead of 81 in hex (docs/sequencer.md, "Record message ids"). A CPU profile of nats-server during a batched run (\`prof_port\`) put about a fifth of its time in reading headers: version 2.9 copies each header value it looks up byte by byte into a growing slice, and it reads this id twice per record (as \`Nats-Msg-Id\`, and as the next record's \`Nats-Expected-Last-Msg-Id\`). In 8 paired rounds of \`bench/ab-sequencer.mjs\` (the old and the new build sealing at the same time on one server, which cancels most of this machine's noise: A/A rounds 0.95× to 1.00×), the new build stored 1.05× the records of the old (0.98× to 1.12×). A ceiling worker with 49-character ids, paired the same way against one with 81, stored 1.08× (1.03× to 1.14×). Moving the headers the server looks up to the front of the block changed nothing measurable (0.99×). Later on 2026-12-07, on a 2 × AMD EPYC machine (relay about 130,000 to 150,000 messages/s), a profile of nats-server during a batched run (\`node bench/profile-server.mjs sequencer\`: its \`prof_port\`, \`/debug/pprof/profile\`) showed where its per-record cost sits: all of a record's work runs in the read loop of the sequencer's connection (parsing, the header lookups, the duplicate table, the checksum and one \`pwrite\` per message, about a quarter of its time), and that one goroutine was busy about 80% of the time while the sequencer's own thread was idle about 60%. So the sealing rate is bound by the server's work per record, which grows with the record's bytes, and the relay's message (about 225 bytes) costs that loop less than a record (its delivery runs in another goroutine). Paired rounds of the ceiling worker against itself with 32-character instead of 55-character ids gave 1.05× (8 rounds, 0.96× to 1.08×), and with the watermark's three headers in one as well 1.10× (0.98× to 1.17×); the sequencer with both (record ids of 16 bytes of the event key and 8 of the hash, \`Hwl-Ingest: <seq>.<index>.<count>\`, 88 fewer header bytes per record) stored 1.08× the records of the build before (8 paired rounds of \`bench/ab-sequencer.mjs\`, 1.03× to 1.09×). On that machine the ceiling itself stood at only 1.19× to 1.52× the relay in quick runs before the change (7 runs, median about 1.28×), so no sealer writing the spec's messages could meet 1.3× there reliably.

Reproduce: \`npm run bench -- seal\` (full scale, about 5 minutes) or \`HWL_BENCH_SCALE=quick npm run bench -- seal\`.
`;
    mkdirSync(join(here, '..', 'docs'), { recursive: true });
    writeFileSync(join(here, '..', 'docs', quick ? 'bench-seal-quick.md' : 'bench-seal.md'), doc);
  } finally {
    await nc.close();
    await server.stop();
    serverRunning = false;
  }
}

main().catch((e) => {
  process.stderr.write(`${e?.stack ?? e}\n`);
  process.exit(1);
});
