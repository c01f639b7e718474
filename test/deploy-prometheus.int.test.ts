/**
 * deploy/prometheus with the real promtool (Debian package `prometheus`):
 * the scrape config and alert rules pass `promtool check`, the rules'
 * unit tests (alerts.test.yml: each alert fires on its condition and stays
 * quiet otherwise) pass `promtool test rules`, and every metric the rules
 * and the Grafana dashboard use is defined by some service.
 * Skips, saying so, only when promtool is not installed.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PROM = join(ROOT, 'deploy/prometheus');
const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
const HAVE_PROMTOOL = promtool.status === 0;
if (!HAVE_PROMTOOL) process.stderr.write('deploy-prometheus: SKIPPED promtool checks: promtool is not installed (Debian: apt-get install prometheus)\n');

function tool(args: string[]): { code: number | null; out: string } {
  const r = spawnSync('promtool', args, { cwd: PROM, encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Every metric name registered by a service (prom-client `name: '...'`). */
function definedMetrics(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string): void => {
    for (const f of readdirSync(dir)) {
      const p = join(dir, f);
      if (f === 'node_modules' || f === 'dist' || f === 'test') continue;
      if (statSync(p).isDirectory()) walk(p);
      else if (f.endsWith('.ts')) for (const m of readFileSync(p, 'utf8').matchAll(/name: ['"`]((?:hwl|grafos)_[a-z0-9_]+)['"`]/g)) names.add(m[1]!);
    }
  };
  walk(join(ROOT, 'services'));
  walk(join(ROOT, 'packages'));
  return names;
}

function usedMetrics(text: string): Set<string> {
  return new Set([...text.matchAll(/\b((?:hwl|grafos)_[a-z0-9_]+)/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, '')));
}

describe.skipIf(!HAVE_PROMTOOL)('deploy/prometheus with promtool', () => {
  it('promtool check config accepts prometheus.yml (and its rule file)', () => {
    const r = tool(['check', 'config', 'prometheus.yml']);
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.code, r.out).toBe(0);
  });

  it('promtool check rules accepts alerts.yml', () => {
    const r = tool(['check', 'rules', 'alerts.yml']);
    expect(r.out).toMatch(/SUCCESS: 10 rules found/);
    expect(r.code, r.out).toBe(0);
  });

  it('promtool test rules passes the alert unit tests', () => {
    const r = tool(['test', 'rules', 'alerts.test.yml']);
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.code, r.out).toBe(0);
  });

  it('the unit tests cover every alert', () => {
    const rules = readFileSync(join(PROM, 'alerts.yml'), 'utf8');
    const tests = readFileSync(join(PROM, 'alerts.test.yml'), 'utf8');
    const alerts = [...rules.matchAll(/- alert: (\w+)/g)].map((m) => m[1]!);
    expect(alerts).toEqual(expect.arrayContaining(['HwlChainVerificationFailed', 'HwlSequencerDown', 'HwlSequencerStalled', 'HwlProjectorLagHigh', 'HwlRejectionSpike', 'HwlAgentOutboxGrowing']));
    for (const a of alerts) expect(tests, a).toContain(`alertname: ${a}`);
  });
});

describe('metric names used by deploy/ exist in the services', () => {
  it('every metric of the alert rules and the Grafana dashboard is registered by a service', () => {
    const defined = definedMetrics();
    const used = new Set([...usedMetrics(readFileSync(join(PROM, 'alerts.yml'), 'utf8')), ...usedMetrics(readFileSync(join(ROOT, 'deploy/grafana/dashboards/hwledger-overview.json'), 'utf8'))]);
    const missing = [...used].filter((n) => !defined.has(n));
    expect(missing).toEqual([]);
    expect(defined.has('grafos_audit_records_inference_request_completed_total')).toBe(true);
  });
});
