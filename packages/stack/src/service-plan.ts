/**
 * What the stack runs: per chain (region) a sequencer, a projector, a
 * reconciler and a simulated agent fleet; one API (with the dashboard) for
 * every chain. Each is `hwledger <command>` in its own process, with its
 * Prometheus /metrics on its own port (HWL_METRICS_PORT + n).
 */
import { isIPv6 } from 'node:net';
import { join } from 'node:path';
import type { StackConfig } from './stack-config.js';
import type { PortClaim } from './ports.js';

export type ServiceRole = 'sequencer' | 'projector' | 'reconciler' | 'agent' | 'api' | 'fleet-anchor';

export interface ServiceSpec {
  name: string;
  role: ServiceRole;
  chain?: string;
  args: string[];
  /** Port serving /metrics (and /healthz). */
  metricsPort: number;
  /** URL answering 200 once the service runs; undefined: running for a moment is enough. */
  healthUrl?: string;
}

/** Start order: writers before readers, traffic last. Stop order is the reverse. */
export const START_ORDER: ServiceRole[] = ['sequencer', 'fleet-anchor', 'projector', 'reconciler', 'api', 'agent'];

const PER_CHAIN: ServiceRole[] = ['sequencer', 'projector', 'reconciler', 'agent'];

export function metricsPortOf(cfg: StackConfig, chainIndex: number, role: ServiceRole): number {
  return cfg.metricsPort + chainIndex * PER_CHAIN.length + PER_CHAIN.indexOf(role);
}

export interface PlanInputs {
  nats: string;
  db: string;
  keysFile: string;
  /** Checkpoint signer key file and its verifier key file (issue 6: signed checkpoints, fleet anchor). */
  checkpointKey?: { signer: string; verifier: string };
}

/**
 * HWL_HOST as the host of a URL reaching the API from this machine: a
 * wildcard address (0.0.0.0, ::) is reached on 127.0.0.1 (`::` listens on
 * both families), an IPv6 address goes in brackets (`http://[::1]:8080`).
 */
export function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '[::]') return '127.0.0.1';
  return isIPv6(host) ? `[${host}]` : host;
}

/** The fleet anchor `npm start` runs over its region chains (named explicitly, so HWL_FLEET in the environment cannot split the anchor and the API). */
export const STACK_FLEET = 'main';

export function planServices(cfg: StackConfig, urls: PlanInputs, seed: number): ServiceSpec[] {
  const out: ServiceSpec[] = [];
  const health = (port: number, path = '/healthz'): string => `http://127.0.0.1:${port}${path}`;
  cfg.chains.forEach((chain, i) => {
    const p = (r: ServiceRole): number => metricsPortOf(cfg, i, r);
    out.push({
      name: `sequencer-${chain}`,
      role: 'sequencer',
      chain,
      args: [
        'sequencer',
        '--nats',
        urls.nats,
        '--chain',
        chain,
        '--metrics-port',
        String(p('sequencer')),
        ...(urls.checkpointKey ? ['--checkpoint-key', urls.checkpointKey.signer, '--checkpoint-interval-ms', '10000'] : []),
      ],
      metricsPort: p('sequencer'),
      healthUrl: health(p('sequencer')),
    });
    out.push({
      name: `projector-${chain}`,
      role: 'projector',
      chain,
      args: ['projector', '--nats', urls.nats, '--chain', chain, '--db', urls.db, '--metrics-port', String(p('projector'))],
      metricsPort: p('projector'),
      healthUrl: health(p('projector')),
    });
    out.push({
      name: `reconciler-${chain}`,
      role: 'reconciler',
      chain,
      args: ['reconciler', '--chain', chain, '--db', urls.db, '--interval', '5000', '--metrics-port', String(p('reconciler'))],
      metricsPort: p('reconciler'),
      healthUrl: health(p('reconciler')),
    });
    // One agent process per region playing a simulated fleet of HWL_SIM_NODES nodes x HWL_SIM_GPUS GPUs;
    // its scheduler-hook port serves /healthz and /metrics. A fresh seed per start: new event ids.
    if (cfg.sim.rate > 0)
      out.push({
        name: `agent-${chain}`,
        role: 'agent',
        chain,
        args: [
          'agent',
          '--simulate',
          '--nats',
          urls.nats,
          '--chain',
          chain,
          '--node',
          'sim-001',
          '--region',
          chain,
          '--nodes',
          String(cfg.sim.nodes),
          '--gpus',
          String(cfg.sim.gpus),
          '--rate',
          String(cfg.sim.rate),
          '--seed',
          String(seed + i),
          '--outbox',
          join(cfg.home, 'outbox', chain),
          '--hook-host',
          '127.0.0.1',
          '--hook-port',
          String(p('agent')),
        ],
        metricsPort: p('agent'),
        healthUrl: health(p('agent')),
      });
  });
  if (urls.checkpointKey) {
    // Per-region chains under a fleet anchor (docs/proofs.md): the anchor records each region's signed checkpoints.
    out.push({
      name: 'fleet-anchor',
      role: 'fleet-anchor',
      // One key signs every local region's checkpoints: bound once per chain (an unbound key is refused with several chains).
      args: ['fleet-anchor', '--nats', urls.nats, '--chains', cfg.chains.join(','), '--fleet', STACK_FLEET, ...cfg.chains.flatMap((c) => ['--key', `${c}=${urls.checkpointKey!.verifier}`]), '--interval-ms', '10000'],
      metricsPort: 0,
    });
  }
  out.push({
    name: 'api',
    role: 'api',
    args: [
      'api',
      '--db',
      urls.db,
      '--nats',
      urls.nats,
      '--chain',
      cfg.defaultChain,
      '--host',
      cfg.host,
      '--http-port',
      String(cfg.httpPort),
      '--grpc-port',
      String(cfg.grpcPort),
      '--keys',
      urls.keysFile,
      // Checkpoints and proofs (docs/proofs.md): signature validity under the stack's verifier key,
      // the fleet anchor, and a tree store of the API's own (a `hwledger prove` beside it keeps its own).
      ...(urls.checkpointKey ? ['--checkpoint-key', urls.checkpointKey.verifier, '--fleet', STACK_FLEET, '--tree-dir', join(cfg.home, 'merkle-api')] : []),
    ],
    metricsPort: cfg.httpPort,
    healthUrl: `http://${urlHost(cfg.host)}:${cfg.httpPort}/healthz`,
  });
  return out.sort((a, b) => START_ORDER.indexOf(a.role) - START_ORDER.indexOf(b.role));
}

/** Every port the stack will bind, with the setting that chose it. */
export function portClaims(cfg: StackConfig): PortClaim[] {
  const claims: PortClaim[] = [];
  if (cfg.natsUrl === undefined) claims.push({ port: cfg.natsPort, setting: 'HWL_NATS_PORT (nats-server)', env: 'HWL_NATS_PORT' });
  if (cfg.databaseUrl === undefined) claims.push({ port: cfg.pgPort, setting: 'HWL_PG_PORT (embedded Postgres)', env: 'HWL_PG_PORT' });
  claims.push({ port: cfg.httpPort, setting: 'HWL_HTTP_PORT (API and dashboard)', env: 'HWL_HTTP_PORT' });
  claims.push({ port: cfg.grpcPort, setting: 'HWL_GRPC_PORT (API gRPC)', env: 'HWL_GRPC_PORT' });
  cfg.chains.forEach((chain, i) => {
    for (const r of PER_CHAIN) {
      const port = metricsPortOf(cfg, i, r);
      claims.push({ port, setting: `HWL_METRICS_PORT+${port - cfg.metricsPort} (${r}-${chain} /metrics)`, env: 'HWL_METRICS_PORT' });
    }
  });
  return claims;
}
