/**
 * HWL_HOST (the address the API listens on) and the port checks made with
 * it: a value that cannot work must be a one-line error naming HWL_HOST,
 * never a "port in use" about a free port; an IPv6 address must give the
 * API a health URL (and a dashboard URL) that parses, not a 90 s wait for
 * `http://:::8080/healthz`.
 */
import { describe, expect, it } from 'vitest';
import { freePort } from '@hwledger/testkit';
import { assertPortsFree } from '../src/ports.js';
import { planServices, urlHost } from '../src/service-plan.js';
import { resolveStackConfig } from '../src/stack-config.js';
import { StackError } from '../src/stack-error.js';

const plan = (host: string) =>
  planServices(resolveStackConfig({ HWL_HOST: host, HWL_HOME: '/tmp/hwl-host-test' }, '/tmp'), { nats: 'nats://127.0.0.1:4250', db: 'postgres://p@127.0.0.1/x', keysFile: '/k' }, 1);

describe('HWL_HOST', () => {
  it.each(['::', '::1', '0.0.0.0', '127.0.0.1', 'localhost'])('the API health URL for %s parses', (host) => {
    const api = plan(host).find((s) => s.role === 'api')!;
    expect(() => new URL(api.healthUrl!)).not.toThrow();
    expect(() => new URL(`http://${urlHost(host)}:8080/dashboard/`)).not.toThrow();
  });

  it('an address of no interface here is a CONFIG error naming HWL_HOST, not a port in use', async () => {
    const port = await freePort();
    const err = await assertPortsFree([{ port, setting: 'HWL_HTTP_PORT (API and dashboard)', env: 'HWL_HTTP_PORT' }], '192.0.2.1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StackError);
    expect((err as StackError).code).toBe('CONFIG');
    expect((err as StackError).setting).toBe('HWL_HOST');
  });

  it('a host name that does not resolve is a CONFIG error naming HWL_HOST', async () => {
    const port = await freePort();
    const err = await assertPortsFree([{ port, setting: 'HWL_HTTP_PORT (API and dashboard)', env: 'HWL_HTTP_PORT' }], 'no-such-host.invalid').catch((e: unknown) => e);
    expect((err as StackError).code).toBe('CONFIG');
    expect((err as StackError).setting).toBe('HWL_HOST');
  });
});
