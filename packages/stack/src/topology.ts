/**
 * `hwledger-stack topology --chains A,B [--replicas 3] [--fleets main]`:
 * creates the ingest, chain, dead-letter and checkpoint streams of each
 * chain, the leader lease and checkpoint KV buckets (rollups refused, also on
 * buckets made before: @hwledger/core kv-bucket.ts), and the fleet anchor
 * streams `HWL_FLEET_<fleet>` of `--fleets` (idempotent: existing ones are
 * left as they are). Name the fleets only where the fleet anchorer writes
 * (the central site of the multi-region layout): a region site connected to
 * it as a leaf node would otherwise hold a second copy that captures the
 * central site's fleet entries too. docker-compose and Kubernetes run it once, as the admin NATS user,
 * so that everything sealing depends on is R3 (docs/operations.md
 * "Durability") before any sequencer starts: the sequencer and its
 * checkpointer would otherwise create the buckets and the checkpoint stream
 * with one replica, and losing that node would stop every chain.
 */
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { assertToken, ensureChainTopology, hardenKvBucket, resolveNatsUrl, streams, natsConnectTarget, redactNatsUrl } from '@hwledger/core';
import { DEFAULT_LEASE_TTL_MS, openLeaderBucket } from '@hwledger/sequencer';
import { CheckpointLog, ensureFleetStream, fleetNames, openCheckpointBucket } from '@hwledger/ledger-ops';
import { StackError } from './stack-error.js';

export interface TopologyArgs {
  chains: string[];
  replicas: number;
  /** Fleet anchors whose streams to create (default none: only the site the fleet anchorer writes to has them). */
  fleets: string[];
}

export function parseTopologyArgs(argv: string[]): TopologyArgs {
  let chains: string[] | undefined;
  let replicas = 1;
  let fleets: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--chains' && v !== undefined) {
      chains = v.split(',').map((c) => c.trim());
      i++;
    } else if (a === '--replicas' && v !== undefined) {
      replicas = Number(v);
      if (!Number.isSafeInteger(replicas) || replicas < 1 || replicas > 5) throw new StackError('CONFIG', '--replicas', `${JSON.stringify(v)}: use 1, 3 or 5`);
      i++;
    } else if (a === '--fleets' && v !== undefined) {
      fleets = v
        .split(',')
        .map((f) => f.trim())
        .filter((f) => f !== '');
      i++;
    } else throw new StackError('CONFIG', 'usage', `unknown argument ${JSON.stringify(a)}: hwledger-stack topology --chains A,B [--replicas N] [--fleets F,G]`);
  }
  if (!chains || chains.length === 0) throw new StackError('CONFIG', '--chains', 'is required (e.g. --chains eu-west-1,us-east-1)');
  for (const c of chains) {
    try {
      assertToken(c, 'chain id');
    } catch (e) {
      throw new StackError('CONFIG', '--chains', e instanceof Error ? e.message : String(e));
    }
  }
  for (const f of fleets) {
    try {
      assertToken(f, 'fleet name');
    } catch (e) {
      throw new StackError('CONFIG', '--fleets', e instanceof Error ? e.message : String(e));
    }
  }
  return { chains, replicas, fleets };
}

export async function ensureTopology(args: TopologyArgs, log: (l: string) => void): Promise<void> {
  const url = resolveNatsUrl();
  let nc;
  try {
    nc = await connect({ ...natsConnectTarget(url), timeout: 5_000, name: 'hwledger-topology' });
  } catch (e) {
    throw new StackError('UNREACHABLE', 'NATS_URL', `cannot reach ${redactNatsUrl(url)}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    const jsm = await jetstreamManager(nc);
    for (const c of args.chains) {
      await ensureChainTopology(nc, c, { replicas: args.replicas });
      await CheckpointLog.open(nc, c, args.replicas); // its checkpoint stream, created when missing
      const info = await jsm.streams.info(streams.chain(c));
      log(`${streams.chain(c)}: ${info.config.num_replicas} replica(s), ${info.state.messages} record(s)`);
    }
    const leader = await (await openLeaderBucket(nc, DEFAULT_LEASE_TTL_MS, args.replicas)).status();
    const checkpoints = await (await openCheckpointBucket(nc, args.replicas)).status();
    // Buckets made before rollups were refused (or by an older sequencer): refuse them now.
    for (const b of [leader.bucket, checkpoints.bucket]) if (await hardenKvBucket(nc, b)) log(`KV ${b}: rollups now refused`);
    log(`KV ${leader.bucket}: ${leader.replicas} replica(s); KV ${checkpoints.bucket}: ${checkpoints.replicas} replica(s)`);
    for (const f of args.fleets) {
      await ensureFleetStream(nc, f, args.replicas);
      const info = await jsm.streams.info(fleetNames.stream(f));
      log(`${info.config.name}: ${info.config.num_replicas} replica(s), ${info.state.messages} entr${info.state.messages === 1 ? 'y' : 'ies'}`);
    }
  } finally {
    await nc.close();
  }
}
