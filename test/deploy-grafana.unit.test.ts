/**
 * deploy/grafana: the provisioned datasource and dashboard agree (every
 * panel queries the provisioned Prometheus datasource by uid), the provider
 * points where docker-compose mounts the dashboards, and every panel has a
 * query. (Not loaded into a running Grafana here: docs/operations.md.)
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const G = fileURLToPath(new URL('../deploy/grafana/', import.meta.url));
const ROOT = fileURLToPath(new URL('../', import.meta.url));

describe('deploy/grafana', () => {
  it('provisions one Prometheus datasource and a dashboard that uses it', () => {
    const ds = parse(readFileSync(`${G}provisioning/datasources/prometheus.yml`, 'utf8')) as { datasources: { uid: string; type: string; url: string }[] };
    expect(ds.datasources).toHaveLength(1);
    const uid = ds.datasources[0]!.uid;
    expect(ds.datasources[0]!.type).toBe('prometheus');
    const dash = JSON.parse(readFileSync(`${G}dashboards/hwledger-overview.json`, 'utf8')) as { uid: string; panels: { title: string; datasource: { uid: string }; targets: { expr: string; datasource: { uid: string } }[] }[] };
    expect(dash.uid).toBe('hwledger-overview');
    expect(dash.panels.length).toBeGreaterThanOrEqual(10);
    for (const p of dash.panels) {
      expect(p.datasource.uid, p.title).toBe(uid);
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets) expect(t.expr, p.title).toMatch(/\w/);
    }
    const titles = dash.panels.map((p) => p.title).join('\n');
    for (const want of ['Records sealed', 'grafos_audit_records_inference_request_completed_total', 'Seal latency', 'rejected', 'Projector lag', 'Verification failures', 'outbox']) expect(titles).toContain(want);
  });

  it('loads dashboards from where docker-compose mounts them', () => {
    const prov = parse(readFileSync(`${G}provisioning/dashboards/hwledger.yml`, 'utf8')) as { providers: { options: { path: string } }[] };
    const path = prov.providers[0]!.options.path;
    expect(readFileSync(`${ROOT}docker-compose.yml`, 'utf8')).toContain(`./deploy/grafana/dashboards:${path}:ro`);
  });
});
