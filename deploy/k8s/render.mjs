#!/usr/bin/env node
// Renders the Kubernetes manifests of deploy/k8s from one description, so the
// per-chain services stay identical: `node deploy/k8s/render.mjs` rewrites
// deploy/k8s/*.yaml (a test fails when they drift from this file).
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const NS = 'hwledger';
const IMAGE = 'ghcr.io/example/hwledger:0.1.0';
const NATS_IMAGE = 'nats:2.12-alpine';
const CHAINS = ['eu-west-1', 'us-east-1'];
const labels = (app, extra = {}) => ({ 'app.kubernetes.io/name': app, 'app.kubernetes.io/part-of': 'hwledger', ...extra });
const res = (cpu, mem, cpuLimit, memLimit) => ({ requests: { cpu, memory: mem }, limits: { cpu: cpuLimit, memory: memLimit } });
const secretEnv = (name, secret, key) => ({ name, valueFrom: { secretKeyRef: { name: secret, key } } });
const securityContext = { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } };
const httpProbe = (path, port, period = 10, failure = 3) => ({ httpGet: { path, port }, periodSeconds: period, failureThreshold: failure, timeoutSeconds: 3 });
const natsUrl = (user) => `nats://${user}:$(NATS_PASSWORD)@nats-client.${NS}.svc:4222`;
const envName = (s) => s.toUpperCase().replace(/[^A-Z0-9]/g, '_');

function deployment({ name, app, chain, args, replicas = 1, resources, env = [], ports = [], probes, strategy, volumes = [], mounts = [] }) {
  const lab = labels(app, chain ? { 'hwledger.io/chain': chain } : {});
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS, labels: lab },
    spec: {
      replicas,
      ...(strategy ? { strategy } : {}),
      selector: { matchLabels: { 'app.kubernetes.io/name': app, ...(chain ? { 'hwledger.io/chain': chain } : {}) } },
      template: {
        // Scraped only when it serves HTTP (the fleet anchor has no port: scraping it would report up == 0 forever).
        metadata: { labels: lab, ...(ports.length > 0 ? { annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(ports[0].containerPort), 'prometheus.io/path': '/metrics' } } : {}) },
        spec: {
          securityContext: { fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: app,
              image: IMAGE,
              args,
              env: [{ name: 'HWL_LOG_LEVEL', value: 'info' }, ...env],
              ports,
              resources,
              ...probes,
              securityContext,
              volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, ...mounts],
            },
          ],
          volumes: [{ name: 'tmp', emptyDir: {} }, ...volumes],
        },
      },
    },
  };
}

const metricsPort = [{ name: 'metrics', containerPort: 9464 }];
const readerEnv = [secretEnv('NATS_PASSWORD', 'hwl-nats-passwords', 'HWL_NATS_PASSWORD_READER'), { name: 'NATS_URL', value: natsUrl('reader') }, secretEnv('DATABASE_URL', 'hwl-database', 'DATABASE_URL')];
const keysVolume = { name: 'checkpoint-key', secret: { secretName: 'hwl-checkpoint-key', defaultMode: 0o400 } };

const docs = {};

// --- namespace ---------------------------------------------------------------
docs['namespace.yaml'] = [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: labels('hwledger') } }];

// --- NATS: 3-node JetStream cluster -------------------------------------------
const natsConf = readFileSync(here('../nats/cluster/nats.conf'), 'utf8');
// deploy/nats/auth.conf (docker compose) has one agent user per node of the example
// fleet. On Kubernetes the agents are a DaemonSet over whatever GPU nodes a region
// has, so the node list is unknown here: each region gets ONE agent user,
// agent-<chain>, password $HWL_NATS_PASSWORD_AGENT_<CHAIN> (secret hwl-nats-passwords),
// allowed to publish hwl.ingest.<chain>.* (any node of its own region, never another
// region's or the chain itself). Weaker than per-node users: a compromised node can
// publish under another node's name of the same region (docs/operations.md).
export function k8sAuthConf(text) {
  const entry = / {4}# agent of node (\S+) in (\S+): publishes its own ingest subject only\n {4}\{ user: "agent-[^"]+", password: [^,]+, permissions: \{\n[\s\S]*?\n {4}\} \}\n/g;
  const byChain = new Map();
  for (const m of text.matchAll(entry)) if (!byChain.has(m[2])) byChain.set(m[2], { node: m[1], text: m[0] });
  for (const c of CHAINS) if (!byChain.has(c)) throw new Error(`deploy/nats/auth.conf has no agent user of ${c} to derive the k8s agent user from`);
  let first = true;
  const out = text.replace(entry, () => {
    if (!first) return '';
    first = false;
    return CHAINS.map((c) => {
      const { node, text: t } = byChain.get(c);
      return t
        .replace(`# agent of node ${node} in ${c}: publishes its own ingest subject only`, `# agents of every node in ${c} (Kubernetes DaemonSet, one shared user per region): publish ${c} ingest subjects only`)
        .replace(/user: "agent-[^"]+", password: [^,]+,/, `user: "agent-${c}", password: $HWL_NATS_PASSWORD_AGENT_${envName(c)},`)
        .replace(`"hwl.ingest.${c}.${node}"`, `"hwl.ingest.${c}.*"`)
        // The user's own inbox prefix (@hwledger/core inboxPrefixFor): _INBOX_agent-<chain>.
        .replace(`"_INBOX_agent-${c}-${node}.>"`, `"_INBOX_agent-${c}.>"`);
    }).join('');
  });
  if (/HWL_NATS_PASSWORD_AGENT_[A-Z0-9_]+_NODE_/.test(out)) throw new Error('per-node agent users left in the k8s auth.conf');
  for (const c of CHAINS) if (!out.includes(`"_INBOX_agent-${c}.>"`)) throw new Error(`the k8s agent user of ${c} has no inbox of its own`);
  if (/"_INBOX_agent-[^"]*-node-/.test(out)) throw new Error('per-node agent inboxes left in the k8s auth.conf');
  return out.replace('# Generated by renderAuthorization() in packages/stack/src/nats-auth.ts; edit the fleet there.', '# deploy/nats/auth.conf (generated by renderAuthorization() in packages/stack/src/nats-auth.ts),\n# agent users rewritten by deploy/k8s/render.mjs: one per region (agent-<chain>).');
}
const authConf = k8sAuthConf(readFileSync(here('../nats/auth.conf'), 'utf8'));
docs['nats.yaml'] = [
  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'nats-config', namespace: NS, labels: labels('nats') }, data: { 'nats.conf': natsConf.replace('include ../auth.conf', 'include ./auth.conf'), 'auth.conf': authConf } },
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'nats', namespace: NS, labels: labels('nats') },
    spec: { clusterIP: 'None', publishNotReadyAddresses: true, selector: { 'app.kubernetes.io/name': 'nats' }, ports: [{ name: 'client', port: 4222 }, { name: 'cluster', port: 6222 }, { name: 'monitor', port: 8222 }] },
  },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'nats-client', namespace: NS, labels: labels('nats') }, spec: { selector: { 'app.kubernetes.io/name': 'nats' }, ports: [{ name: 'client', port: 4222 }] } },
  {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'nats', namespace: NS, labels: labels('nats') },
    spec: {
      serviceName: 'nats',
      replicas: 3,
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: { 'app.kubernetes.io/name': 'nats' } },
      template: {
        // The config's digest: a changed nats.conf or auth.conf (new users, per-user inboxes)
        // rolls the NATS pods one by one, which nothing else would make them load.
        metadata: { labels: labels('nats'), annotations: { 'hwledger.io/config-sha256': createHash('sha256').update(natsConf).update(authConf).digest('hex') } },
        spec: {
          affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'nats' } } }] } },
          terminationGracePeriodSeconds: 60,
          containers: [
            {
              name: 'nats',
              image: NATS_IMAGE,
              args: ['-c', '/etc/nats/nats.conf'],
              env: [{ name: 'NATS_SERVER_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
              envFrom: [{ secretRef: { name: 'hwl-nats-passwords' } }],
              ports: [{ name: 'client', containerPort: 4222 }, { name: 'cluster', containerPort: 6222 }, { name: 'monitor', containerPort: 8222 }],
              resources: res('500m', '1Gi', '2', '4Gi'),
              startupProbe: httpProbe('/healthz', 8222, 5, 60),
              livenessProbe: httpProbe('/healthz?js-enabled-only=true', 8222, 10, 3),
              readinessProbe: httpProbe('/healthz?js-server-only=true', 8222, 10, 3),
              lifecycle: { preStop: { exec: { command: ['nats-server', '--signal', 'ldm'] } } },
              volumeMounts: [{ name: 'config', mountPath: '/etc/nats' }, { name: 'data', mountPath: '/data' }],
            },
          ],
          volumes: [{ name: 'config', configMap: { name: 'nats-config' } }],
        },
      },
      volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '100Gi' } } } }],
    },
  },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'nats', namespace: NS }, spec: { maxUnavailable: 1, selector: { matchLabels: { 'app.kubernetes.io/name': 'nats' } } } },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'nats-routes', namespace: NS },
    spec: {
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'nats' } },
      policyTypes: ['Ingress'],
      ingress: [
        { from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'nats' } } }], ports: [{ port: 6222 }] },
        { from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/part-of': 'hwledger' } } }], ports: [{ port: 4222 }, { port: 8222 }] },
      ],
    },
  },
];

// --- one-shot topology job (R3 streams) ---------------------------------------
docs['topology-job.yaml'] = [
  {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'hwl-topology', namespace: NS, labels: labels('topology') },
    spec: {
      backoffLimit: 10,
      // A finished Job is deleted after an hour, so the next `kubectl apply` (an
      // upgrade) runs it again: it is idempotent, and it is what changes streams and
      // buckets made by an earlier release (rollups refused on the shared KV buckets).
      ttlSecondsAfterFinished: 3600,
      template: {
        metadata: { labels: labels('topology') },
        spec: {
          restartPolicy: 'OnFailure',
          containers: [
            {
              name: 'topology',
              image: IMAGE,
              command: ['node', 'packages/stack/bin/hwledger-stack.js'],
              args: ['topology', '--chains', CHAINS.join(','), '--replicas', '3', '--fleets', 'main'],
              env: [secretEnv('NATS_PASSWORD', 'hwl-nats-passwords', 'HWL_NATS_PASSWORD_ADMIN'), { name: 'NATS_URL', value: natsUrl('admin') }],
              resources: res('50m', '64Mi', '500m', '256Mi'),
              securityContext,
            },
          ],
        },
      },
    },
  },
];

// --- per-chain services ------------------------------------------------------
docs['chains.yaml'] = CHAINS.flatMap((chain) => {
  const up = chain.toUpperCase().replace(/[^A-Z0-9]/g, '_');
  return [
    deployment({
      name: `sequencer-${chain}`,
      app: 'sequencer',
      chain,
      // Two replicas: one holds the leader lease and seals, the other stands by (docs/sequencer.md).
      replicas: 2,
      // Recreate, not a rolling update: every old sequencer stops before a new one
      // starts, so an older build never takes over a chain whose tail a newer build
      // sealed (it could not read the newer record headers: docs/operations.md,
      // "Upgrading"). Sealing pauses for about the lease's TTL; nothing is lost.
      strategy: { type: 'Recreate' },
      // --replicas 3: what it creates when it starts before the topology Job (k8s cannot order them) is R3 too.
      args: ['sequencer', '--chain', chain, '--metrics-port', '9464', '--checkpoint-key', '/keys/checkpoint.key', '--replicas', '3'],
      env: [secretEnv('NATS_PASSWORD', 'hwl-nats-passwords', `HWL_NATS_PASSWORD_SEQUENCER_${up}`), { name: 'NATS_URL', value: natsUrl(`sequencer-${chain}`) }],
      ports: metricsPort,
      resources: res('500m', '256Mi', '2', '1Gi'),
      probes: { livenessProbe: httpProbe('/healthz', 'metrics'), readinessProbe: httpProbe('/healthz', 'metrics') },
      volumes: [keysVolume],
      mounts: [{ name: 'checkpoint-key', mountPath: '/keys', readOnly: true }],
    }),
    deployment({
      name: `projector-${chain}`,
      app: 'projector',
      chain,
      strategy: { type: 'Recreate' },
      args: ['projector', '--chain', chain, '--metrics-port', '9464'],
      env: readerEnv,
      ports: metricsPort,
      resources: res('250m', '256Mi', '2', '1Gi'),
      probes: { livenessProbe: httpProbe('/healthz', 'metrics', 10, 6), readinessProbe: httpProbe('/readyz', 'metrics') },
    }),
    deployment({
      name: `reconciler-${chain}`,
      app: 'reconciler',
      chain,
      strategy: { type: 'Recreate' },
      args: ['reconciler', '--chain', chain, '--metrics-port', '9464'],
      env: readerEnv,
      ports: metricsPort,
      resources: res('100m', '128Mi', '1', '512Mi'),
      probes: { livenessProbe: httpProbe('/healthz', 'metrics', 30, 4), readinessProbe: httpProbe('/healthz', 'metrics') },
    }),
  ];
});

// --- API + dashboard -----------------------------------------------------------
docs['api.yaml'] = [
  deployment({
    name: 'api',
    app: 'api',
    replicas: 2,
    args: ['api', '--chain', CHAINS[0], '--host', '0.0.0.0', '--http-port', '8080', '--grpc-port', '9090', '--keys', '/keys/api-keys.json'],
    env: readerEnv,
    ports: [{ name: 'http', containerPort: 8080 }, { name: 'grpc', containerPort: 9090 }],
    resources: res('250m', '256Mi', '2', '1Gi'),
    probes: { livenessProbe: httpProbe('/healthz', 'http'), readinessProbe: httpProbe('/readyz', 'http') },
    volumes: [{ name: 'api-keys', secret: { secretName: 'hwl-api-keys', defaultMode: 0o400 } }],
    mounts: [{ name: 'api-keys', mountPath: '/keys', readOnly: true }],
  }),
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'api', namespace: NS, labels: labels('api') }, spec: { selector: { 'app.kubernetes.io/name': 'api' }, ports: [{ name: 'http', port: 8080 }, { name: 'grpc', port: 9090 }] } },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'api', namespace: NS }, spec: { minAvailable: 1, selector: { matchLabels: { 'app.kubernetes.io/name': 'api' } } } },
];

// --- fleet anchor ---------------------------------------------------------------
docs['fleet-anchor.yaml'] = [
  deployment({
    name: 'fleet-anchor',
    app: 'fleet-anchor',
    strategy: { type: 'Recreate' },
    // Keys are bound to the chains they sign for (docs/proofs.md): one --key CHAIN=FILE per region.
    args: ['fleet-anchor', '--chains', CHAINS.join(','), ...CHAINS.flatMap((c) => ['--key', `${c}=/keys/checkpoint.key.pub`])],
    // Its own NATS user (auth.conf): reads the checkpoint logs, appends to HWL_FLEET_main only.
    env: [secretEnv('NATS_PASSWORD', 'hwl-nats-passwords', 'HWL_NATS_PASSWORD_FLEET_ANCHOR'), { name: 'NATS_URL', value: natsUrl('fleet-anchor') }],
    ports: [],
    resources: res('50m', '64Mi', '500m', '256Mi'),
    probes: {},
    volumes: [keysVolume],
    mounts: [{ name: 'checkpoint-key', mountPath: '/keys', readOnly: true }],
  }),
];

// --- agents: a DaemonSet on the GPU nodes of a region --------------------------
docs['agent-daemonset.yaml'] = CHAINS.map((chain) => ({
  apiVersion: 'apps/v1',
  kind: 'DaemonSet',
  metadata: { name: `agent-${chain}`, namespace: NS, labels: labels('agent', { 'hwledger.io/chain': chain }) },
  spec: {
    selector: { matchLabels: { 'app.kubernetes.io/name': 'agent', 'hwledger.io/chain': chain } },
    template: {
      metadata: { labels: labels('agent', { 'hwledger.io/chain': chain }), annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9464' } },
      spec: {
        // GPU nodes of this region only. The agents of a region share one NATS user,
        // agent-<chain> (it may publish hwl.ingest.<chain>.* only; see k8sAuthConf),
        // with the password HWL_NATS_PASSWORD_AGENT_<CHAIN> of hwl-nats-passwords.
        nodeSelector: { 'nvidia.com/gpu.present': 'true', 'topology.kubernetes.io/region': chain },
        runtimeClassName: 'nvidia',
        securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
        // The hostPath outbox is created root:root 0755 (DirectoryOrCreate) and fsGroup does
        // not apply to hostPath: hand it to the agent's uid, as root with CHOWN/FOWNER only.
        initContainers: [
          {
            name: 'outbox-owner',
            image: IMAGE,
            command: ['sh', '-c', 'chown 1000:1000 /var/lib/hwledger && chmod 0700 /var/lib/hwledger'],
            resources: res('10m', '16Mi', '100m', '64Mi'),
            securityContext: { runAsUser: 0, runAsGroup: 0, runAsNonRoot: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'], add: ['CHOWN', 'FOWNER'] } },
            volumeMounts: [{ name: 'outbox', mountPath: '/var/lib/hwledger' }],
          },
        ],
        containers: [
          {
            name: 'agent',
            image: IMAGE,
            // The hook port serves the scheduler hook (for serving harnesses on this node), /healthz and /metrics.
            args: ['agent', '--chain', chain, '--node', '$(NODE_NAME)', '--hook-host', '0.0.0.0', '--hook-port', '9464', '--outbox', '/var/lib/hwledger/outbox'],
            env: [
              { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
              secretEnv('NATS_PASSWORD', 'hwl-nats-passwords', `HWL_NATS_PASSWORD_AGENT_${envName(chain)}`),
              { name: 'NATS_URL', value: natsUrl(`agent-${chain}`) },
            ],
            ports: metricsPort,
            resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
            livenessProbe: httpProbe('/healthz', 'metrics', 30, 3),
            readinessProbe: httpProbe('/healthz', 'metrics'),
            securityContext: { ...securityContext, readOnlyRootFilesystem: false },
            // The outbox must survive pod restarts: an agent restart loses nothing it accepted.
            volumeMounts: [{ name: 'outbox', mountPath: '/var/lib/hwledger' }],
          },
        ],
        volumes: [{ name: 'outbox', hostPath: { path: `/var/lib/hwledger/${chain}`, type: 'DirectoryOrCreate' } }],
      },
    },
  },
}));

// --- Prometheus configuration (pod discovery by annotation) + the alert rules --
docs['prometheus.yaml'] = [
  {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'hwl-prometheus', namespace: NS, labels: labels('prometheus') },
    data: {
      'prometheus.yml': stringify({
        global: { scrape_interval: '15s', evaluation_interval: '15s' },
        rule_files: ['/etc/prometheus/alerts.yml'],
        scrape_configs: [
          {
            job_name: 'hwledger',
            kubernetes_sd_configs: [{ role: 'pod', namespaces: { names: [NS] } }],
            relabel_configs: [
              { source_labels: ['__meta_kubernetes_pod_annotation_prometheus_io_scrape'], regex: 'true', action: 'keep' },
              { source_labels: ['__address__', '__meta_kubernetes_pod_annotation_prometheus_io_port'], regex: '([^:]+)(?::\\d+)?;(\\d+)', replacement: '$1:$2', target_label: '__address__' },
              { source_labels: ['__meta_kubernetes_pod_label_app_kubernetes_io_name'], regex: '(.+)', replacement: 'hwl-$1', target_label: 'job' },
              { source_labels: ['__meta_kubernetes_pod_label_hwledger_io_chain'], target_label: 'region' },
              { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
            ],
          },
        ],
      }),
      'alerts.yml': readFileSync(here('../prometheus/alerts.yml'), 'utf8'),
    },
  },
];

// --- kustomization ---------------------------------------------------------------
const files = Object.keys(docs);
// Secrets are created by the operator, never committed: this file shows their shape only.
docs['secrets.example.yaml'] = [
  { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hwl-nats-passwords', namespace: NS }, type: 'Opaque', stringData: Object.fromEntries(['ADMIN', 'READER', 'BILLING', 'FLEET_ANCHOR', ...CHAINS.flatMap((c) => [`SEQUENCER_${envName(c)}`, `AGENT_${envName(c)}`])].map((u) => [`HWL_NATS_PASSWORD_${u}`, 'change-me'])) },
  { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hwl-database', namespace: NS }, type: 'Opaque', stringData: { DATABASE_URL: 'postgres://hwledger:change-me@postgres.example.internal:5432/hwledger?sslmode=verify-full' } },
  { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hwl-api-keys', namespace: NS }, type: 'Opaque', stringData: { 'api-keys.json': '[]  # hwledger api keygen --role operator --append api-keys.json' } },
  { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hwl-checkpoint-key', namespace: NS }, type: 'Opaque', stringData: { 'checkpoint.key': '# hwledger checkpoint keygen --name NAME --out checkpoint.key', 'checkpoint.key.pub': '# written beside it' } },
];
docs['kustomization.yaml'] = [{ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', namespace: NS, resources: files }];

const header = '# Generated by deploy/k8s/render.mjs: edit that file and run `node deploy/k8s/render.mjs`.\n';
export function render() {
  const out = {};
  for (const [file, objs] of Object.entries(docs)) out[file] = header + objs.map((o) => stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const [file, text] of Object.entries(render())) writeFileSync(here(file), text);
}
