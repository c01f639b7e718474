/** Credentials in NATS_URL (how compose and Kubernetes pass each role's user) and their redaction. */
import { describe, expect, it } from 'vitest';
import { natsConnectTarget, redactNatsUrl } from '@hwledger/core';

describe('natsConnectTarget', () => {
  it('moves userinfo into user/pass (nats.js ignores it in the URL), percent-decoded', () => {
    expect(natsConnectTarget('nats://agent-eu-west-1-node-001:p%40ss%3Aw0rd@nats-0:4222')).toEqual({ servers: ['nats://nats-0:4222'], user: 'agent-eu-west-1-node-001', pass: 'p@ss:w0rd', inboxPrefix: '_INBOX_agent-eu-west-1-node-001' });
  });

  it('splits comma-separated servers that share one user', () => {
    expect(natsConnectTarget('nats://r:x@nats-0:4222, nats://r:x@nats-1:4222')).toEqual({ servers: ['nats://nats-0:4222', 'nats://nats-1:4222'], user: 'r', pass: 'x', inboxPrefix: '_INBOX_r' });
    expect(natsConnectTarget('nats://127.0.0.1:4222')).toEqual({ servers: ['nats://127.0.0.1:4222'] });
    // A user name that is not one subject token cannot be a prefix: nats.js's default then (the permission generator refuses such names).
    expect(natsConnectTarget('nats://a.b:x@h:4222')).toEqual({ servers: ['nats://h:4222'], user: 'a.b', pass: 'x' });
  });

  it('takes HWL_NATS_INBOX_PREFIX instead of the per-user prefix, and refuses one with wildcards', () => {
    const saved = process.env['HWL_NATS_INBOX_PREFIX'];
    try {
      process.env['HWL_NATS_INBOX_PREFIX'] = '_INBOX';
      expect(natsConnectTarget('nats://reader:x@h:4222').inboxPrefix).toBe('_INBOX');
      expect(natsConnectTarget('nats://h:4222').inboxPrefix).toBe('_INBOX');
      process.env['HWL_NATS_INBOX_PREFIX'] = 'replies.billing';
      expect(natsConnectTarget('nats://billing:x@h:4222').inboxPrefix).toBe('replies.billing');
      for (const bad of ['_INBOX.>', 'a.*', 'a b', 'a.', '.a']) {
        process.env['HWL_NATS_INBOX_PREFIX'] = bad;
        expect(() => natsConnectTarget('nats://reader:x@h:4222'), bad).toThrow(expect.objectContaining({ code: 'CONFIG' }));
      }
      process.env['HWL_NATS_INBOX_PREFIX'] = '';
      expect(natsConnectTarget('nats://reader:x@h:4222').inboxPrefix).toBe('_INBOX_reader');
    } finally {
      if (saved === undefined) delete process.env['HWL_NATS_INBOX_PREFIX'];
      else process.env['HWL_NATS_INBOX_PREFIX'] = saved;
    }
    expect(natsConnectTarget('127.0.0.1:4222')).toEqual({ servers: ['127.0.0.1:4222'] });
  });

  it('refuses servers with different credentials and broken escapes', () => {
    expect(() => natsConnectTarget('nats://a:x@h1:4222,nats://b:x@h2:4222')).toThrow(/same credentials/);
    expect(() => natsConnectTarget('nats://a:%zz@h1:4222')).toThrow(/percent-escape/);
  });
});

describe('redactNatsUrl', () => {
  it('hides every password, keeps users and hosts', () => {
    expect(redactNatsUrl('nats://reader:s3cret@nats-0:4222,nats://reader:s3cret@nats-1:4222')).toBe('nats://reader:***@nats-0:4222,nats://reader:***@nats-1:4222');
    expect(redactNatsUrl('nats://127.0.0.1:4222')).toBe('nats://127.0.0.1:4222');
  });

  it('hides a password given as a query parameter (libpq: password=, sslpassword=), in a URL or in free text', () => {
    expect(redactNatsUrl('postgres://app@127.0.0.1:5432/db?password=S3cret&sslmode=require')).toBe('postgres://app@127.0.0.1:5432/db?password=***&sslmode=require');
    expect(redactNatsUrl('cannot use postgres://app@h/db?sslmode=verify-full&sslpassword=k3y&PASSWORD=x (refused)')).toBe(
      'cannot use postgres://app@h/db?sslmode=verify-full&sslpassword=***&PASSWORD=*** (refused)',
    );
    expect(redactNatsUrl('postgres://u:pw@h/db?password=also')).toBe('postgres://u:***@h/db?password=***');
  });
});
