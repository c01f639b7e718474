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

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, { image?: string; build?: { context: string; dockerfile: string }; command?: string[]; volumes?: string[]; environment?: Record<string, string>; depends_on?: unknown }>;
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
    expect(s['topology']?.command).toEqual(['topology', '--chains', 'eu-west-1,us-east-1', '--replicas', '3']);
  });

  it('every password the NATS config and compose need is in the example .env', () => {
    const example = readFileSync(join(ROOT, 'deploy/compose.env.example'), 'utf8');
    const needed = new Set([
      ...[...readFileSync(join(ROOT, 'deploy/nats/auth.conf'), 'utf8').matchAll(/password: \$(HWL_[A-Z0-9_]+)/g)].map((m) => m[1]!),
      ...[...readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8').matchAll(/\$\{(HWL_[A-Z0-9_]+)/g)].map((m) => m[1]!),
    ]);
    for (const v of needed) expect(example, v).toMatch(new RegExp(`^${v}=`, 'm'));
  });
});
