/**
 * deploy/k8s: the committed manifests are exactly what render.mjs produces,
 * every file parses as YAML, and every workload has resource requests and
 * limits, and (where it serves HTTP) liveness and readiness probes. Not
 * applied to a cluster here (none on this machine): docs/operations.md.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const K8S = fileURLToPath(new URL('../deploy/k8s/', import.meta.url));

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
  const m = (await import(new URL('../deploy/k8s/render.mjs', import.meta.url).href)) as { render: () => Record<string, string> };
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
    expect(job.spec?.template?.spec.containers[0]?.args).toEqual(['topology', '--chains', 'eu-west-1,us-east-1', '--replicas', '3', '--fleets', 'main']);
    const sts = load('nats.yaml').find((o) => o.kind === 'StatefulSet') as unknown as { spec: { replicas: number } };
    expect(sts.spec.replicas).toBe(3);
    const cm = load('nats.yaml').find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
    expect(cm.data['nats.conf']).toMatch(/sync_interval: always/);
    expect(cm.data['nats.conf']).toContain('include ./auth.conf');
    expect(cm.data['auth.conf']).not.toMatch(/^\s*accounts\s*[{:=]/m);
    // A changed config (new users, per-user inboxes) rolls the NATS pods: the pod template carries its digest.
    const podAnnotations = (sts as unknown as { spec: { template: { metadata: { annotations?: Record<string, string> } } } }).spec.template.metadata.annotations ?? {};
    const raw = readFileSync(fileURLToPath(new URL('../deploy/nats/cluster/nats.conf', import.meta.url)), 'utf8');
    expect(podAnnotations['hwledger.io/config-sha256']).toBe(createHash('sha256').update(raw).update(cm.data['auth.conf']!).digest('hex'));
  });

  it('replaces sequencers, never rolls them: an older build must not take over a chain a newer one sealed (docs/operations.md, "Upgrading")', () => {
    const seqs = load('chains.yaml').filter((o) => o.kind === 'Deployment' && o.metadata.name.startsWith('sequencer-'));
    expect(seqs.map((d) => d.metadata.name).sort()).toEqual(['sequencer-eu-west-1', 'sequencer-us-east-1']);
    for (const d of seqs) expect((d.spec as { strategy?: { type?: string } }).strategy?.type, d.metadata.name).toBe('Recreate');
  });

  it('keeps secrets out of the kustomization', () => {
    const kust = load('kustomization.yaml')[0] as unknown as { resources: string[] };
    expect(kust.resources).not.toContain('secrets.example.yaml');
    for (const f of kust.resources) expect(load(f).some((o) => o.kind === 'Secret'), f).toBe(false);
  });

  it('NATS resolves every password from hwl-nats-passwords, and each agent logs in as a user it defines', () => {
    const cm = load('nats.yaml').find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
    const auth = cm.data['auth.conf']!;
    const secret = load('secrets.example.yaml').find((o) => o.metadata.name === 'hwl-nats-passwords') as unknown as { stringData: Record<string, string> };
    // nats-server refuses a config naming an environment variable it does not have.
    const vars = [...auth.matchAll(/password: \$(HWL_[A-Z0-9_]+)/g)].map((m) => m[1]!);
    expect(vars.length).toBeGreaterThan(0);
    for (const v of vars) expect(Object.keys(secret.stringData), v).toContain(v);
    const users = new Map([...auth.matchAll(/\{ user: "([^"]+)", password: \$(HWL_[A-Z0-9_]+),/g)].map((m) => [m[1]!, m[2]!]));
    for (const ds of load('agent-daemonset.yaml') as unknown as { metadata: { name: string }; spec: { template: { spec: { containers: (Container & { env: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[] })[] } } } }[]) {
      const c = ds.spec.template.spec.containers[0]!;
      const url = c.env.find((e) => e.name === 'NATS_URL')?.value ?? '';
      const user = /^nats:\/\/([^:]+):\$\(NATS_PASSWORD\)@/.exec(url)?.[1];
      expect(user, `${ds.metadata.name}: ${url}`).toBeDefined();
      expect(users.has(user!), `${ds.metadata.name}: NATS user ${user} is not in auth.conf`).toBe(true);
      const ref = c.env.find((e) => e.name === 'NATS_PASSWORD')?.valueFrom?.secretKeyRef;
      expect(ref, ds.metadata.name).toEqual({ name: 'hwl-nats-passwords', key: users.get(user!) });
    }
    // Every workload's NATS user exists, with its password from the same secret key NATS reads.
    for (const f of ['chains.yaml', 'api.yaml', 'fleet-anchor.yaml', 'topology-job.yaml']) {
      for (const w of load(f)) {
        for (const c of (w.spec?.template?.spec.containers ?? []) as (Container & { env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[] })[]) {
          const url = c.env?.find((e) => e.name === 'NATS_URL')?.value;
          if (!url) continue;
          const user = /^nats:\/\/([^:]+):/.exec(url)![1]!;
          expect(users.get(user), `${w.metadata.name}: ${user}`).toBe(c.env?.find((e) => e.name === 'NATS_PASSWORD')?.valueFrom?.secretKeyRef?.key);
        }
      }
    }
  });

  it('the agents can write their hostPath outbox', () => {
    for (const ds of load('agent-daemonset.yaml') as unknown as { metadata: { name: string }; spec: { template: { spec: { initContainers?: { command: string[]; securityContext: { runAsUser: number }; volumeMounts: { name: string; mountPath: string }[] }[]; containers: (Container & { securityContext: { runAsUser: number }; volumeMounts: { name: string; mountPath: string }[] })[]; volumes: { name: string; hostPath?: { type: string } }[] } } } }[]) {
      const spec = ds.spec.template.spec;
      const agent = spec.containers[0]!;
      const outbox = agent.args![agent.args!.indexOf('--outbox') + 1]!;
      const mount = agent.volumeMounts.find((m) => outbox.startsWith(m.mountPath))!;
      expect(mount, ds.metadata.name).toBeDefined();
      const vol = spec.volumes.find((v) => v.name === mount.name)!;
      if (!vol.hostPath) continue; // an emptyDir/PVC would follow fsGroup
      // hostPath (DirectoryOrCreate: root 0755) ignores fsGroup: an init container owned by root hands it to the agent's uid.
      const uid = agent.securityContext.runAsUser;
      const init = (spec.initContainers ?? []).find((i) => i.volumeMounts.some((m) => m.name === mount.name));
      expect(init, `${ds.metadata.name}: no init container prepares the hostPath outbox`).toBeDefined();
      expect(init!.securityContext.runAsUser).toBe(0);
      const target = init!.volumeMounts.find((m) => m.name === mount.name)!.mountPath;
      expect(init!.command.join(' ')).toContain(`chown ${uid}:${uid} ${target}`);
      expect(init!.command.join(' ')).not.toMatch(/chmod\s+\S*[0-7]{2}[1-7]\b|chmod\s+\S*o\+/);
    }
  });

  it('Prometheus scrapes only pods that serve metrics', () => {
    for (const f of ['chains.yaml', 'api.yaml', 'fleet-anchor.yaml', 'agent-daemonset.yaml']) {
      for (const w of load(f) as unknown as { kind: string; metadata: { name: string }; spec?: { template?: { metadata: { annotations?: Record<string, string> }; spec: { containers: Container[] } } } }[]) {
        const t = w.spec?.template;
        if (!t || t.metadata.annotations?.['prometheus.io/scrape'] !== 'true') continue;
        const port = Number(t.metadata.annotations['prometheus.io/port']);
        expect(t.spec.containers.flatMap((c) => (c.ports ?? []).map((p) => p.containerPort)), `${w.metadata.name} scraped on ${port}`).toContain(port);
      }
    }
  });
});
