/**
 * deploy/k8s: the committed manifests are exactly what render.mjs produces,
 * every file parses as YAML, and every workload has resource requests and
 * limits, and (where it serves HTTP) liveness and readiness probes. Not
 * applied to a cluster here (none on this machine): docs/operations.md.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const K8S = fileURLToPath(new URL('../../../deploy/k8s/', import.meta.url));

interface Container {
  name: string;
  image: string;
  args?: string[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  livenessProbe?: unknown;
  readinessProbe?: unknown;
  ports?: { containerPort: number }[];
}
interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: { template?: { spec: { containers: Container[] } }; selector?: { matchLabels: Record<string, string> } };
}

async function rendered(): Promise<Record<string, string>> {
  const m = (await import(new URL('../../../deploy/k8s/render.mjs', import.meta.url).href)) as { render: () => Record<string, string> };
  return m.render();
}

function load(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(`${K8S}${file}`, 'utf8'));
  for (const d of docs) expect(d.errors, file).toEqual([]);
  return docs.map((d) => d.toJSON() as Obj);
}

describe('deploy/k8s manifests', () => {
  it('are what render.mjs renders (no drift)', async () => {
    for (const [file, text] of Object.entries(await rendered())) expect(readFileSync(`${K8S}${file}`, 'utf8'), file).toBe(text);
  });

  it('parse, and every workload has requests, limits and probes', async () => {
    const kust = load('kustomization.yaml')[0] as unknown as { resources: string[] };
    const all = kust.resources.flatMap(load);
    const workloads = all.filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(o.kind));
    const names = workloads.map((w) => w.metadata.name);
    expect(names).toEqual(
      expect.arrayContaining(['nats', 'hwl-topology', 'sequencer-eu-west-1', 'sequencer-us-east-1', 'projector-eu-west-1', 'projector-us-east-1', 'reconciler-eu-west-1', 'reconciler-us-east-1', 'api', 'fleet-anchor', 'agent-eu-west-1', 'agent-us-east-1']),
    );
    for (const w of workloads) {
      expect(w.metadata.namespace, w.metadata.name).toBe('hwledger');
      for (const c of w.spec?.template?.spec.containers ?? []) {
        const at = `${w.metadata.name}/${c.name}`;
        expect(c.resources?.requests?.['cpu'], at).toBeTruthy();
        expect(c.resources?.requests?.['memory'], at).toBeTruthy();
        expect(c.resources?.limits?.['memory'], at).toBeTruthy();
        // Long-running HTTP servers are probed; the topology Job and the fleet anchor (no HTTP port) are not.
        if (w.kind !== 'Job' && (c.ports?.length ?? 0) > 0) {
          expect(c.livenessProbe, at).toBeTruthy();
          expect(c.readinessProbe, at).toBeTruthy();
        }
      }
    }
  });

  it('runs the chain stream R3 and the NATS cluster with three nodes', () => {
    const job = load('topology-job.yaml')[0]!;
    expect(job.spec?.template?.spec.containers[0]?.args).toEqual(['topology', '--chains', 'eu-west-1,us-east-1', '--replicas', '3']);
    const sts = load('nats.yaml').find((o) => o.kind === 'StatefulSet') as unknown as { spec: { replicas: number } };
    expect(sts.spec.replicas).toBe(3);
    const cm = load('nats.yaml').find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
    expect(cm.data['nats.conf']).toMatch(/sync_interval: always/);
    expect(cm.data['nats.conf']).toContain('include ./auth.conf');
    expect(cm.data['auth.conf']).not.toMatch(/^\s*accounts\s*[{:=]/m);
  });

  it('keeps secrets out of the kustomization', () => {
    const kust = load('kustomization.yaml')[0] as unknown as { resources: string[] };
    expect(kust.resources).not.toContain('secrets.example.yaml');
    for (const f of kust.resources) expect(load(f).some((o) => o.kind === 'Secret'), f).toBe(false);
  });
});
