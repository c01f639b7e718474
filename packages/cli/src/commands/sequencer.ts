/**
 * `hwledger sequencer`: runs the chain's single writer until SIGTERM/SIGINT
 * (docs/sequencer.md). Start several per chain: one seals, the others stand
 * by and take over within seconds when it dies.
 */
import type { Command } from 'commander';
import { Registry } from 'prom-client';
import { closeNats, connectNats, createLogger, resolveChainId, resolveNatsUrl, registerProcessMetrics, redactNatsUrl } from '@hwledger/core';
import { DEFAULT_INGEST_BUFFER_BYTES, DEFAULT_LEASE_TTL_MS, DEFAULT_WINDOW, Sequencer, startMetricsServer } from '@hwledger/sequencer';
import { nativeHashUnavailable, nativeSealLink, nativeTranscodeIngest } from '@hwledger/native-hash';
import { startSequencerCheckpointer } from '../ops/sequencer-checkpoints.js';
import { intOption } from '../ops/options.js';
import { ExitError } from '../exit-error.js';
import { DEFAULT_HEAP_GROWING_PERCENT, setHeapGrowingPercent } from '../ops/heap-growing.js';

/**
 * Test-only fault injection: HWL_FAULT_CRASH_AFTER_SEAL=N makes the process
 * SIGKILL itself right after the PubAck of its N-th record, before the ingest
 * message is acked (the "stored but not acknowledged" crash window).
 */
function crashHook(env: NodeJS.ProcessEnv): ((sequence: bigint) => void) | undefined {
  const n = Number(env['HWL_FAULT_CRASH_AFTER_SEAL'] ?? '');
  if (!Number.isSafeInteger(n) || n <= 0) return undefined;
  let count = 0;
  return () => {
    if (++count === n) process.kill(process.pid, 'SIGKILL');
  };
}

export function register(program: Command): void {
  program
    .command('sequencer')
    .description('Seal the ingest events of a chain (single writer; standby while another process leads)')
    .option('--nats <url>', 'NATS server URL (env NATS_URL)')
    .option('--chain <id>', 'chain id (env HWL_CHAIN_ID)')
    .option('--metrics-port <port>', 'serve Prometheus /metrics on this port', intOption('--metrics-port', 0))
    .option('--window <n>', 'appends in flight', intOption('--window', 1), DEFAULT_WINDOW)
    .option('--ingest-buffer-bytes <n>', 'ingest bytes delivered ahead of sealing, about (sizes the consumer\'s max_ack_pending)', intOption('--ingest-buffer-bytes', 1024), DEFAULT_INGEST_BUFFER_BYTES)
    .option('--heap-growing-percent <n>', 'V8 old-generation growing factor 1 + n/100 (0: V8 default); keeps RSS flat (src/ops/heap-growing.ts)', intOption('--heap-growing-percent', 0, 1_000), DEFAULT_HEAP_GROWING_PERCENT)
    .option('--recent-ids <n>', 'recently sealed event ids kept for duplicate detection', intOption('--recent-ids', 1), 100_000)
    .option('--lease-ttl-ms <ms>', 'leader lease TTL when the lease bucket is created', intOption('--lease-ttl-ms', 500), DEFAULT_LEASE_TTL_MS)
    .option('--takeover-grace-ms <ms>', 'wait after taking the lease before the first append', intOption('--takeover-grace-ms', 0), 1_000)
    .option('--checkpoint-key <file>', 'sign checkpoints with this key file (repeatable: key rotation; env HWL_CHECKPOINT_KEY)', (v: string, p: string[] = []) => [...p, v])
    .option('--checkpoint-every <n>', 'records per signed checkpoint', intOption('--checkpoint-every', 1), 1_000)
    .option('--checkpoint-interval-ms <ms>', 'signed checkpoint at least this often when records were sealed', intOption('--checkpoint-interval-ms', 0), 10_000)
    .option(
      '--replicas <n>',
      'replicas of the streams and buckets it creates when they are missing (env HWL_STREAM_REPLICAS; default 1; 3 on a 3-node cluster)',
      intOption('--replicas', 1, 5),
      Number(process.env['HWL_STREAM_REPLICAS'] ?? 1),
    )
    .action(async (o: { nats?: string; chain?: string; metricsPort?: number; window: number; ingestBufferBytes: number; heapGrowingPercent: number; recentIds: number; leaseTtlMs: number; takeoverGraceMs: number; checkpointKey?: string[]; checkpointEvery: number; checkpointIntervalMs: number; replicas: number }) => {
      if (!Number.isSafeInteger(o.replicas) || o.replicas < 1 || o.replicas > 5) throw new ExitError(2, `--replicas (or HWL_STREAM_REPLICAS) must be an integer from 1 to 5, got ${JSON.stringify(o.replicas)}`);
      const url = resolveNatsUrl(o.nats);
      const chainId = resolveChainId(o.chain);
      // Signals are taken from the start: a SIGTERM while connecting or starting
      // stops the process cleanly (exit 0) instead of killing it mid-start. They
      // are handed back on the way out, so a start-up failure that leaves the
      // process running for a moment still ends at the first signal.
      let signalled: NodeJS.Signals | undefined;
      let onSignal: (s: NodeJS.Signals) => void = () => undefined;
      const stopSignal = new Promise<void>((resolve) => {
        onSignal = (s: NodeJS.Signals): void => {
          signalled = s;
          resolve();
        };
      });
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
      try {
        setHeapGrowingPercent(o.heapGrowingPercent);
        const logger = createLogger('sequencer', { chain: chainId });
        const registry = new Registry();
        registerProcessMetrics(registry); // prom-client defaults minus names promtool rejects
        const nc = await connectNats(url, `hwledger-sequencer-${chainId}`);
        const margin = Math.min(2_000, Math.floor(o.leaseTtlMs * 0.4));
        let checkpointer: Awaited<ReturnType<typeof startSequencerCheckpointer>> | undefined;
        let seq: Sequencer | undefined;
        let server: Awaited<ReturnType<typeof startMetricsServer>> | undefined;
        let failure: unknown;
        // Whatever fails below, everything opened so far is closed (the NATS connection would keep the process alive).
        try {
          // Signed checkpoints (issue 6): fed by the sequencer's hooks when a key is given.
          checkpointer = await startSequencerCheckpointer(nc, chainId, logger, o);
          seq = new Sequencer({
            ...checkpointer?.hooks,
            nc,
            chainId,
            logger,
            registry,
            window: o.window,
            ingestBufferBytes: o.ingestBufferBytes,
            recentIds: o.recentIds,
            leaseTtlMs: o.leaseTtlMs,
            leaseMarginMs: margin,
            leaseRenewMs: Math.max(100, Math.min(1_000, Math.floor(o.leaseTtlMs / 5))),
            takeoverGraceMs: o.takeoverGraceMs,
            topology: { replicas: o.replicas },
            afterSeal: crashHook(process.env),
          });
          server = o.metricsPort !== undefined ? await startMetricsServer(registry, o.metricsPort) : undefined;
          // A signal before this point: nothing was started, nothing to wait for.
          if (signalled === undefined) {
            await seq.start();
            // Which SHA-256 the chain link and the Merkle tree use (packages/native-hash).
            logger.info(
              {
                nats: redactNatsUrl(url),
                metricsPort: o.metricsPort,
                sha256: nativeHashUnavailable === undefined ? 'addon' : `node:crypto (addon ${nativeHashUnavailable})`,
                // The sealing fast path: the addon's C transcoder and link writer, or the TypeScript one (same bytes).
                fastPath: nativeTranscodeIngest && nativeSealLink ? 'addon' : 'typescript',
              },
              'sequencer started',
            );
            const s = seq;
            await Promise.race([stopSignal, s.done.catch((e: unknown) => (failure = e))]);
          }
        } finally {
          await seq?.stop();
          await checkpointer?.stop();
          server?.close();
          await closeNats(nc);
        }
        logger.info({ signal: signalled, sealed: seq.sealed }, 'sequencer stopped');
        logger.flush();
        if (failure) throw failure;
      } finally {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
      }
    });
}
