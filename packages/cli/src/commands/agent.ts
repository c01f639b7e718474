/**
 * `hwledger agent`: the GPU agent of one node (docs/agent.md). Samples the
 * node's GPUs with nvidia-smi (default), or plays a simulated fleet
 * (--simulate), and/or serves the scheduler hook (--hook-port); delivers
 * everything to hwl.ingest.<chain>.<node> with an fsync'd outbox for NATS
 * outages. SIGTERM/SIGINT: the hook refuses new requests and answers those
 * in flight, then stop producing, ship what was taken, flush the outbox for
 * up to --drain-timeout-ms, exit 0; what is not flushed stays in the outbox
 * for the next start.
 */
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { Registry } from 'prom-client';
import { assertToken, createLogger, resolveChainId, resolveNatsUrl, type Logger, registerProcessMetrics, redactNatsUrl } from '@hwledger/core';
import { Agent, defaultOutboxDir, DEFAULT_NVIDIA_SMI, GpuSampler, runEvents, simulateFleet, startHookServer, type HookServer } from '@hwledger/agent';
import { ExitError } from '../exit-error.js';

function intOption(name: string, min: number, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^[0-9]+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) throw new ExitError(2, `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
    return n;
  };
}

function rateOption(v: string): number {
  const n = Number(v);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(v) || !Number.isFinite(n)) throw new ExitError(2, `--rate must be a non-negative number of events/s, got ${JSON.stringify(v)}`);
  return n;
}

interface AgentCliOptions {
  nats?: string;
  chain?: string;
  node?: string;
  outbox?: string;
  outboxMaxBytes?: number;
  simulate?: boolean;
  seed: string;
  count?: number;
  rate?: number;
  nodes: number;
  gpus: number;
  tenants: number;
  region: string;
  startMs?: number;
  nvidiaSmi: string;
  interval: number;
  samples?: number;
  gpu: boolean;
  hookPort?: number;
  hookHost: string;
  batchMaxEvents: number;
  batchMaxBytes: number;
  batchMaxDelayMs: number;
  publishTimeoutMs: number;
  drainOnly?: boolean;
  drainTimeoutMs: number;
}

function defaultNode(): string {
  const h = hostname().split('.')[0]!.replace(/[^A-Za-z0-9_-]/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return h === '' ? 'node' : h.slice(0, 128);
}

export function register(program: Command): void {
  program
    .command('agent')
    .description('Run the GPU agent of a node: nvidia-smi sampling (default) or --simulate, plus an optional scheduler hook; events go to hwl.ingest.<chain>.<node>')
    .option('--nats <url>', 'NATS server URL (env NATS_URL)')
    .option('--chain <id>', 'chain id (env HWL_CHAIN_ID)')
    .option('--node <name>', 'node name: ingest subject hwl.ingest.<chain>.<node>, event source <chain>/<node> (default: host name)')
    .option('--outbox <dir>', 'outbox directory (default .hwledger/outbox/<chain>-<node>)')
    .option('--outbox-max-bytes <n>', 'refuse events (hook: 503) once the outbox holds this many bytes', intOption('--outbox-max-bytes', 1024))
    .option('--simulate', 'play a simulated fleet instead of sampling GPUs')
    .option('--seed <seed>', 'simulation seed (with --start-ms: the identical events on every run)', '1')
    .option('--count <n>', 'simulation: stop after n events', intOption('--count', 0))
    .option('--rate <r>', 'simulation: events per second, 0 = as fast as possible (default 100)', rateOption)
    .option('--nodes <n>', 'simulation: nodes', intOption('--nodes', 1, 10_000), 2)
    .option('--gpus <n>', 'simulation: GPUs per node', intOption('--gpus', 1, 64), 8)
    .option('--tenants <n>', 'simulation: tenants', intOption('--tenants', 1, 100_000), 4)
    .option('--region <name>', 'simulation: region in host names', 'us-east-1')
    .option('--start-ms <ms>', 'simulation: unix ms of simulated time 0 (fix it for reproducible timestamps)', intOption('--start-ms', 1))
    .option('--nvidia-smi <path>', 'nvidia-smi binary', DEFAULT_NVIDIA_SMI)
    .option('--interval <ms>', 'GPU sampling interval', intOption('--interval', 100), 10_000)
    .option('--samples <n>', 'stop after n GPU samples', intOption('--samples', 1))
    .option('--no-gpu', 'do not sample GPUs (hook and/or outbox only)')
    .option('--hook-port <port>', 'serve the scheduler hook, /healthz and /metrics on this port (0 = any)', intOption('--hook-port', 0, 65_535))
    .option('--hook-host <addr>', 'scheduler hook bind address', '127.0.0.1')
    .option('--batch-max-events <n>', 'max events per ingest message', intOption('--batch-max-events', 1, 100_000), 1000)
    .option('--batch-max-bytes <n>', 'max bytes per ingest message (< 1 MiB)', intOption('--batch-max-bytes', 1024, 1024 * 1024 - 8 * 1024), 512 * 1024)
    .option('--batch-max-delay-ms <ms>', 'max ms an event waits for its batch to close', intOption('--batch-max-delay-ms', 0, 60_000), 5)
    .option('--publish-timeout-ms <ms>', 'PubAck timeout before an ingest message goes to the outbox', intOption('--publish-timeout-ms', 100), 5_000)
    .option('--drain-only', 'flush the outbox left by an earlier run, then exit')
    .option('--drain-timeout-ms <ms>', 'at exit, how long to keep flushing the outbox', intOption('--drain-timeout-ms', 0), 10_000)
    .action(async (o: AgentCliOptions) => {
      const natsUrl = resolveNatsUrl(o.nats);
      const chainId = resolveChainId(o.chain);
      const node = assertToken(o.node ?? process.env['HWL_NODE'] ?? defaultNode(), '--node');
      const logger = createLogger('agent', { chain: chainId, node });
      const registry = new Registry();
      registerProcessMetrics(registry); // prom-client defaults minus names promtool rejects
      const outboxDir = o.outbox ?? defaultOutboxDir(chainId, node);
      const agent = await Agent.open({
        chainId,
        node,
        natsUrl,
        outboxDir,
        outboxMaxBytes: o.outboxMaxBytes,
        batchMaxEvents: o.batchMaxEvents,
        batchMaxBytes: o.batchMaxBytes,
        batchMaxDelayMs: o.batchMaxDelayMs,
        publishTimeoutMs: o.publishTimeoutMs,
        logger,
        registry,
      });
      logger.info({ nats: redactNatsUrl(natsUrl), outbox: outboxDir, subject: agent.subject, pendingInOutbox: agent.outbox.depthEvents }, 'agent started');
      await runAgent(agent, o, { chainId, node, logger, outboxDir });
    });
}

async function runAgent(agent: Agent, o: AgentCliOptions, ctx: { chainId: string; node: string; logger: Logger; outboxDir: string }): Promise<void> {
  const { logger } = ctx;
  const abort = new AbortController();
  let signalled: NodeJS.Signals | undefined;
  let wakeStop: () => void = () => undefined;
  const stopRequested = new Promise<void>((r) => (wakeStop = r));
  const onSignal = (s: NodeJS.Signals): void => {
    signalled = s;
    abort.abort();
    wakeStop();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);

  let hook: HookServer | undefined;
  let sampler: GpuSampler | undefined;
  let failure: unknown;
  const finite: Promise<void>[] = [];
  try {
    if (o.drainOnly) {
      const drained = await Promise.race([agent.drained(o.drainTimeoutMs), stopRequested.then(() => false)]);
      if (!drained) failure = new ExitError(1, `outbox ${ctx.outboxDir} not flushed within ${o.drainTimeoutMs} ms (${agent.outbox.depthEvents} events remain; is NATS reachable?)`);
      return;
    }
    // Give the first connection a moment so a healthy start publishes directly;
    // events taken before it (or during any outage) go to the outbox.
    for (let i = 0; i < 60 && !agent.connected && !abort.signal.aborted; i++) await new Promise((r) => setTimeout(r, 50));
    if (!agent.connected) logger.warn({ nats: 'unreachable' }, 'agent: NATS not reachable yet; accepting into the outbox');
    if (o.hookPort !== undefined) hook = await startHookServer({ agent, port: o.hookPort, host: o.hookHost, logger });
    if (o.simulate) {
      const events = simulateFleet({
        source: agent.source,
        // Digits in u32 range as a number (the seeds of earlier runs); any other seed as its text (hashed: no two collide by truncation).
        seed: /^[0-9]{1,10}$/.test(o.seed) && Number(o.seed) <= 0xffffffff ? Number(o.seed) : o.seed,
        nodes: o.nodes,
        gpusPerNode: o.gpus,
        tenants: o.tenants,
        region: o.region,
        nodePrefix: ctx.node,
        startMs: o.startMs,
        count: o.count,
        eventsPerSecond: o.rate !== undefined && o.rate > 0 ? o.rate : 100,
      });
      finite.push(
        runEvents(agent, events, { rate: o.rate ?? 100, signal: abort.signal }).then((r) => {
          logger.info(r, 'agent: simulation finished');
          if (r.refused > 0) failure = new ExitError(1, `${r.refused} simulated events were refused (NATS and the outbox both failed)`);
        }),
      );
    } else if (o.gpu) {
      sampler = new GpuSampler({ sink: agent, bin: o.nvidiaSmi, intervalMs: o.interval, stateDir: ctx.outboxDir, logger, registry: agent.registry });
      // Fail fast when this node cannot be sampled at all (no binary, no driver, no GPU).
      const first = await sampler.sampleOnce();
      logger.info({ registered: first.registered, metrics: first.metrics, gpuErrors: first.errors.length }, 'agent: first GPU sample delivered');
      const s = sampler;
      if (o.samples === undefined) s.start({ delayFirst: true });
      else finite.push(new Promise<void>((r) => s.start({ delayFirst: true, max: o.samples! - 1, onDone: r })));
    }
    if (finite.length > 0 && hook === undefined) await Promise.race([Promise.all(finite), stopRequested]);
    else if (hook !== undefined || finite.length === 0) {
      if (hook === undefined && !o.simulate && !o.gpu) logger.info('agent: no producer (--no-gpu without --hook-port): flushing the outbox until stopped');
      await stopRequested;
    }
  } catch (e) {
    failure = e;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    // The hook refuses new requests at once (connection refused / 503) but lets
    // the requests it is handling get their real answer: an event waiting for
    // its PubAck ends up stored (JetStream or outbox) even if its connection
    // is cut, and a harness retrying an unanswered call would store it twice.
    // Bounded: a PubAck wait ends after at most about two publish timeouts.
    const hookClosed = hook?.close({ drainTimeoutMs: Math.max(o.drainTimeoutMs, 2 * o.publishTimeoutMs + 1_000) });
    abort.abort();
    // Stop the sampler before waiting for the finite runs: a `--samples N` run ends only
    // when it is stopped or has made all N samples, up to (N - 1) intervals after SIGTERM.
    await sampler?.stop();
    await Promise.allSettled(finite);
    await hookClosed;
    // Only now stop the agent: stopping it earlier would refuse (503) events still being taken.
    await agent.stop({ flushTimeoutMs: o.drainOnly ? 0 : o.drainTimeoutMs });
    const s = agent.stats();
    process.stdout.write(
      `accepted ${s.accepted.jetstream + s.accepted.outbox} (jetstream ${s.accepted.jetstream}, outbox ${s.accepted.outbox}); published ${s.published.direct + s.published.outbox}; refused ${s.refused}; outbox depth ${agent.outbox.depthEvents}\n`,
    );
    if (signalled) logger.info({ signal: signalled }, 'agent: stopped on signal');
  }
  if (failure !== undefined) throw failure;
}
