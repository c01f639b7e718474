/**
 * docker-compose.yml: valid against the Compose Specification JSON schema
 * (vendored, deploy/compose-spec.schema.json), accepted by `docker-compose
 * config` (Debian package docker-compose) when that is installed, and wired
 * as documented: every service of the stack is there, built from this
 * repository's Dockerfile, with the deploy/ configs mounted. No Docker engine
 * here, so the stack itself is not started (docs/operations.md).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, { image?: string; build?: { context: string; dockerfile: string }; command?: string[]; volumes?: string[]; environment?: Record<string, string>; env_file?: unknown; user?: string; depends_on?: unknown }>;
  volumes: Record<string, unknown>;
};
const HAVE_COMPOSE = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0;
if (!HAVE_COMPOSE) process.stderr.write('deploy-compose: SKIPPED `docker-compose config`: docker-compose is not installed (Debian: apt-get install docker-compose); the schema check still runs\n');
const tmp = mkdtempSync(join(tmpdir(), 'hwl-compose-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('docker-compose.yml', () => {
  it('validates against the Compose Specification schema', () => {
    // The vendored file names its meta-schema with http:// and a trailing '#'; Ajv2019 knows it as https://.
    const { $schema: _meta, ...schema } = JSON.parse(readFileSync(join(ROOT, 'deploy/compose-spec.schema.json'), 'utf8')) as { $schema?: string };
    // It also uses draft-04 style `id` (a string) for sub-schema ids, which Ajv 8 rejects: drop them (they only name sub-schemas).
    const dropIds = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(dropIds);
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([k, x]) => !(k === 'id' && typeof x === 'string')).map(([k, x]) => [k, dropIds(x)]));
      return v;
    };
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    const validate = ajv.compile(dropIds(schema) as object);
    const raw = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as unknown; // YAML merge keys resolved, as compose does
    expect(validate(raw), JSON.stringify(validate.errors, null, 2)).toBe(true);
  });

  it.skipIf(!HAVE_COMPOSE)('passes `docker-compose config` with the example .env', () => {
    copyFileSync(join(ROOT, 'docker-compose.yml'), join(tmp, 'docker-compose.yml'));
    copyFileSync(join(ROOT, 'deploy/compose.env.example'), join(tmp, '.env'));
    const r = spawnSync('docker-compose', ['--project-directory', tmp, '-f', join(tmp, 'docker-compose.yml'), 'config', '-q'], { cwd: tmp, encoding: 'utf8' });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });

  it('runs every part of the stack, hwledger services from this repository Dockerfile', () => {
    const s = compose.services;
    for (const name of ['nats-0', 'nats-1', 'nats-2', 'postgres', 'topology', 'keys-init', 'sequencer-eu-west-1', 'sequencer-us-east-1', 'projector-eu-west-1', 'projector-us-east-1', 'reconciler-eu-west-1', 'reconciler-us-east-1', 'api', 'agent-eu-west-1', 'agent-us-east-1', 'fleet-anchor', 'prometheus', 'grafana']) {
      expect(s[name], name).toBeDefined();
    }
    for (const [name, svc] of Object.entries(s)) {
      if (svc.image !== 'hwledger:local') continue;
      expect(svc.build, name).toEqual({ context: '.', dockerfile: 'Dockerfile' });
    }
    expect(existsSync(join(ROOT, 'Dockerfile'))).toBe(true);
    expect(s['prometheus']?.volumes).toContain('./deploy/prometheus:/etc/prometheus:ro');
    expect(s['grafana']?.volumes).toContain('./deploy/grafana/provisioning:/etc/grafana/provisioning:ro');
    expect(s['nats-0']?.volumes).toContain('./deploy/nats:/etc/nats:ro');
    // Each agent connects as its own NATS user (it may publish only its own ingest subject).
    expect(s['agent-eu-west-1']?.environment?.['NATS_URL']).toMatch(/^nats:\/\/agent-eu-west-1-node-001:/);
    expect(s['topology']?.command).toEqual(['topology', '--chains', 'eu-west-1,us-east-1', '--replicas', '3', '--fleets', 'main']);
  });

  it('every password the NATS config and compose need is in the example .env', () => {
    const example = readFileSync(join(ROOT, 'deploy/compose.env.example'), 'utf8');
    const needed = new Set([
      ...[...readFileSync(join(ROOT, 'deploy/nats/auth.conf'), 'utf8').matchAll(/password: \$(HWL_[A-Z0-9_]+)/g)].map((m) => m[1]!),
      ...[...readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8').matchAll(/\$\{(HWL_[A-Z0-9_]+)/g)].map((m) => m[1]!),
    ]);
    for (const v of needed) expect(example, v).toMatch(new RegExp(`^${v}=`, 'm'));
  });

  it('every target Prometheus scrapes is a compose service serving metrics on that port', () => {
    const prom = parse(readFileSync(join(ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')) as { scrape_configs: { job_name: string; static_configs?: { targets: string[] }[] }[] };
    const targets = prom.scrape_configs.flatMap((j) => (j.static_configs ?? []).flatMap((c) => c.targets.map((t) => ({ job: j.job_name, t }))));
    expect(targets.length).toBeGreaterThan(0);
    for (const { job, t } of targets) {
      if (job === 'prometheus') {
        expect(t).toBe('localhost:9090'); // Prometheus itself, inside its own container
        continue;
      }
      const [host, port] = t.split(':') as [string, string];
      const svc = compose.services[host];
      expect(svc, `${job}: ${t} is not a docker-compose.yml service`).toBeDefined();
      const cmd = svc?.command ?? [];
      const served = ['--metrics-port', '--hook-port', '--http-port'].filter((f) => cmd[cmd.indexOf(f) + 1] === port && cmd.includes(f));
      expect(served, `${job}: ${host} does not listen for /metrics on ${port} (${cmd.join(' ')})`).not.toEqual([]);
    }
    // Every compose service that serves metrics is scraped (projectors and reconcilers of both regions included).
    const scraped = new Set(targets.map(({ t }) => t.split(':')[0]));
    for (const [name, svc] of Object.entries(compose.services)) {
      if (svc.command?.includes('--metrics-port') || svc.command?.includes('--hook-port')) expect(scraped.has(name), name).toBe(true);
    }
  });

  it('hwledger containers get only their own secrets', () => {
    const raw = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
    // Only the NATS servers (they resolve every user of auth.conf) load the whole .env.
    for (const [name, svc] of Object.entries(compose.services)) {
      if (!/^nats-\d$/.test(name)) expect(svc.env_file, name).toBeUndefined();
    }
    expect(raw.match(/^\s*env_file:/gm)?.length).toBe(1); // the x-nats anchor only
    const dbUsers = new Set(['projector-eu-west-1', 'projector-us-east-1', 'reconciler-eu-west-1', 'reconciler-us-east-1', 'api']);
    for (const [name, svc] of Object.entries(compose.services)) {
      if (svc.image !== 'hwledger:local' || name === 'keys-init') continue;
      const env = svc.environment ?? {};
      const url = env['NATS_URL'] ?? '';
      const users = new Set([...url.matchAll(/nats:\/\/([^:@]+):\$\{(HWL_NATS_PASSWORD_[A-Z0-9_]+)[^}]*\}@/g)].map((m) => `${m[1]}=${m[2]}`));
      expect(users.size, `${name}: one NATS user in ${url}`).toBe(1);
      const [user, pwVar] = [...users][0]!.split('=') as [string, string];
      expect(pwVar, name).toBe(`HWL_NATS_PASSWORD_${user.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`);
      // No other password reaches the container.
      const vars = new Set(Object.values(env).flatMap((v) => [...String(v).matchAll(/\$\{(HWL_[A-Z0-9_]+)/g)].map((m) => m[1]!)));
      const allowed = new Set([pwVar, ...(dbUsers.has(name) ? ['HWL_PG_PASSWORD'] : [])]);
      for (const v of vars) expect(allowed.has(v), `${name} gets ${v}`).toBe(true);
      expect('DATABASE_URL' in env, `${name} DATABASE_URL`).toBe(dbUsers.has(name));
      if (name.startsWith('agent-')) expect(user, name).toMatch(/^agent-/);
    }
  });

  it('the key files are readable by the services user, and by nobody else', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^USER node$/m);
    const init = compose.services['keys-init']!;
    const script = (init.command ?? []).join(' ');
    // Whatever uid keys-init runs as, the keys end up owned by the services' user (node, uid 1000)...
    if (init.user === undefined || init.user === 'root' || init.user === '0') expect(script).toMatch(/chown -R node:node \/keys\b/);
    else expect(init.user).toMatch(/^(node|1000)(:|$)/);
    // ...and never world- or group-readable.
    for (const m of script.matchAll(/chmod\s+(?:-R\s+)?(\S+)/g)) {
      expect(m[1], m[0]).toMatch(/^[0-7]{3,4}$/);
      expect(parseInt(m[1]!, 8) & 0o077, m[0]).toBe(0);
    }
    expect(script).toMatch(/chmod 0700 \/keys\b/);
    // Only the services that use a key mount the volume, read-only.
    const mounts = Object.entries(compose.services).filter(([, svc]) => (svc.volumes ?? []).some((v) => v.startsWith('keys:')));
    expect(mounts.map(([n]) => n).sort()).toEqual(['api', 'fleet-anchor', 'keys-init', 'sequencer-eu-west-1', 'sequencer-us-east-1']);
    for (const [n, svc] of mounts) if (n !== 'keys-init') expect(svc.volumes, n).toContain('keys:/keys:ro');
  });
});
