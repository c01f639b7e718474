/**
 * TLS to NATS (HWL_NATS_TLS_CA, _CERT, _KEY: @hwledger/core nats-url.ts) on a
 * real nats-server that requires TLS, with a CA and server certificate made
 * here by openssl: hwledger's connections verify the server against the CA
 * and work (a JetStream round trip; the real CLI publishing an event); without
 * the CA, or with another CA, they are refused; a missing file is a CONFIG
 * error before any connection.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { closeNats, connectNats, ensureChainTopology, natsConnectTarget, streams } from '@hwledger/core';
import { runCli, TestNatsServer } from '@hwledger/testkit';

const dir = mkdtempSync(join(tmpdir(), 'hwl-tls-'));
const file = (n: string): string => join(dir, n);
let server: TestNatsServer;
const saved = { ca: process.env['HWL_NATS_TLS_CA'], cert: process.env['HWL_NATS_TLS_CERT'], key: process.env['HWL_NATS_TLS_KEY'] };

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA and a certificate it signed for 127.0.0.1. */
function makeCa(name: string): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`, '-days', '2', '-subj', `/CN=${name} test CA`]);
}

beforeAll(async () => {
  makeCa('good');
  makeCa('other');
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(file('san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n'); // nats.js verifies 127.0.0.1 as localhost
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'good-ca.pem', '-CAkey', 'good-ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext']);
  server = await TestNatsServer.start({
    config: `tls {\n  cert_file: ${JSON.stringify(file('server.pem'))}\n  key_file: ${JSON.stringify(file('server.key'))}\n}\n`,
    probeTls: { caFile: file('good-ca.pem') },
  });
});

afterAll(async () => {
  for (const [k, v] of [['HWL_NATS_TLS_CA', saved.ca], ['HWL_NATS_TLS_CERT', saved.cert], ['HWL_NATS_TLS_KEY', saved.key]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('TLS to NATS', () => {
  it('connects with the CA that signed the server, and a JetStream round trip and the CLI work over it', async () => {
    process.env['HWL_NATS_TLS_CA'] = file('good-ca.pem');
    const nc = await connectNats(server.url, 'tls-test', { maxReconnectAttempts: 0 });
    try {
      expect(nc.info?.tls_required).toBe(true);
      await ensureChainTopology(nc, 'tls-chain');
      const ack = await jetstream(nc).publish('hwl.ingest.tls-chain.node-1', new Uint8Array([1]));
      expect(ack.stream).toBe(streams.ingest('tls-chain'));
      // The real CLI, given the CA in its environment.
      const event = { kind: 'job_failed', source: 'tls-chain/node-1', event_id: 'e-1', observed_at_ms: '1', tenant: 'acme', instance_id: 'j', data: { job_id: 'j', error_message: 'x' } };
      const r = await runCli(['emit', '--nats', server.url, '--chain', 'tls-chain', '--node', 'node-1'], { input: `${JSON.stringify(event)}\n`, env: { HWL_NATS_TLS_CA: file('good-ca.pem') } });
      expect(r.code, r.stderr).toBe(0);
      expect((await (await jetstreamManager(nc)).streams.info(streams.ingest('tls-chain'))).state.messages).toBe(2);
    } finally {
      await closeNats(nc);
    }
  });

  it('is refused without a CA, and with a CA that did not sign the server', async () => {
    delete process.env['HWL_NATS_TLS_CA'];
    await expect(connectNats(server.url, 'tls-test', { maxReconnectAttempts: 0, timeoutMs: 2_000 })).rejects.toMatchObject({ code: 'NATS_UNREACHABLE' });
    process.env['HWL_NATS_TLS_CA'] = file('other-ca.pem');
    await expect(connectNats(server.url, 'tls-test', { maxReconnectAttempts: 0, timeoutMs: 2_000 })).rejects.toMatchObject({ code: 'NATS_UNREACHABLE' });
  });

  it('names a missing file, or a certificate without its key, as a CONFIG error', () => {
    process.env['HWL_NATS_TLS_CA'] = file('nope.pem');
    expect(() => natsConnectTarget(server.url)).toThrow(expect.objectContaining({ code: 'CONFIG', message: expect.stringMatching(/HWL_NATS_TLS_CA: no file/) }));
    process.env['HWL_NATS_TLS_CA'] = file('good-ca.pem');
    process.env['HWL_NATS_TLS_CERT'] = file('server.pem');
    expect(() => natsConnectTarget(server.url)).toThrow(expect.objectContaining({ code: 'CONFIG', message: expect.stringMatching(/go together/) }));
    delete process.env['HWL_NATS_TLS_CERT'];
    expect(natsConnectTarget(server.url).tls).toEqual({ caFile: file('good-ca.pem') });
  });
});
