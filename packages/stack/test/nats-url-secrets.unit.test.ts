/**
 * Passwords of any characters in NATS_URL / DATABASE_URL: split out of the
 * URL correctly (base64 passwords hold `/`), never printed (redactNatsUrl
 * on URLs, server lists, command lines and messages), and a multi-server
 * NATS_URL accepted by `npm start`'s settings with no password echoed.
 */
import { describe, expect, it } from 'vitest';
import { natsConnectTarget, redactNatsUrl } from '@hwledger/core';
import { resolveStackConfig } from '../src/stack-config.js';

const PASSWORDS = ['ab/cd+ef==', 'p@ss', 'p:ss', 'a/b@c:d', 'x/y@z/w'];

describe('natsConnectTarget with any password characters', () => {
  for (const pw of PASSWORDS) {
    it(`splits the raw password ${JSON.stringify(pw)} out of the URL`, () => {
      expect(natsConnectTarget(`nats://svc:${pw}@nats-0:4222`)).toEqual({ servers: ['nats://nats-0:4222'], user: 'svc', pass: pw, inboxPrefix: '_INBOX_svc' });
      expect(natsConnectTarget(`svc:${pw}@127.0.0.1:4222`)).toEqual({ servers: ['127.0.0.1:4222'], user: 'svc', pass: pw, inboxPrefix: '_INBOX_svc' });
    });
    it(`splits the percent-encoded password ${JSON.stringify(pw)} out of the URL`, () => {
      expect(natsConnectTarget(`nats://svc:${encodeURIComponent(pw)}@nats-0:4222`)).toEqual({ servers: ['nats://nats-0:4222'], user: 'svc', pass: pw, inboxPrefix: '_INBOX_svc' });
    });
  }

  it('decodes %2F and keeps a raw / as it is', () => {
    expect(natsConnectTarget('nats://svc:a%2Fb@h:4222').pass).toBe('a/b');
    expect(natsConnectTarget('tls://svc:a/b@h:4222')).toEqual({ servers: ['tls://h:4222'], user: 'svc', pass: 'a/b', inboxPrefix: '_INBOX_svc' });
  });

  it('splits several servers sharing a password with / and @', () => {
    expect(natsConnectTarget('nats://r:a/b@c@nats-0:4222, nats://r:a/b@c@nats-1:4222,nats://r:a%2Fb%40c@nats-2:4222')).toEqual({
      servers: ['nats://nats-0:4222', 'nats://nats-1:4222', 'nats://nats-2:4222'],
      user: 'r',
      pass: 'a/b@c',
      inboxPrefix: '_INBOX_r',
    });
  });

  it('names a broken escape without printing the password', () => {
    let msg = '';
    try {
      natsConnectTarget('nats://svc:Zq9/Xk%zzWv@h:4222');
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/percent-escape/);
    expect(msg).not.toMatch(/Zq9|Xk|Wv/);
    expect(msg).toContain('nats://svc:***@h:4222');
  });
});

describe('redactNatsUrl', () => {
  for (const pw of [...PASSWORDS, ...PASSWORDS.map(encodeURIComponent), 'a%2Fb']) {
    it(`masks the password ${JSON.stringify(pw)}`, () => {
      expect(redactNatsUrl(`nats://svc:${pw}@nats-0:4222`)).toBe('nats://svc:***@nats-0:4222');
      expect(redactNatsUrl(`postgres://postgres:${pw}@127.0.0.1:5450/hwledger`)).toBe('postgres://postgres:***@127.0.0.1:5450/hwledger');
    });
  }

  it('masks every server of a list, keeping the separators', () => {
    expect(redactNatsUrl('nats://r:a/b@nats-0:4222, nats://r:a/b@nats-1:4222,r:a/b@nats-2:4222')).toBe('nats://r:***@nats-0:4222, nats://r:***@nats-1:4222,r:***@nats-2:4222');
  });

  it('masks URLs inside text (command lines, error messages) and leaves the rest', () => {
    expect(redactNatsUrl('node hwledger.js api --db postgres://postgres:x/y@z@127.0.0.1:5450/hwledger --nats nats://127.0.0.1:4250')).toBe(
      'node hwledger.js api --db postgres://postgres:***@127.0.0.1:5450/hwledger --nats nats://127.0.0.1:4250',
    );
    expect(redactNatsUrl('cannot reach (url="nats://u:p/q@h:1") refused')).toBe('cannot reach (url="nats://u:***@h:1") refused');
    expect(redactNatsUrl('nats://127.0.0.1:4222 and --key eu-west-1=/x/y.pub')).toBe('nats://127.0.0.1:4222 and --key eu-west-1=/x/y.pub');
  });
});

describe('npm start settings: NATS_URL and DATABASE_URL', () => {
  const base = { HWL_HOME: '/tmp/hwl-cfg-test' };
  const configError = (env: NodeJS.ProcessEnv): string => {
    try {
      resolveStackConfig({ ...base, ...env }, '/tmp');
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error('no error');
  };

  it('accepts several comma-separated NATS servers, with credentials', () => {
    const url = 'nats://r:a/b@nats-0:4222,nats://r:a/b@nats-1:4222';
    expect(resolveStackConfig({ ...base, NATS_URL: url }, '/tmp').natsUrl).toBe(url);
    expect(resolveStackConfig({ ...base, NATS_URL: 'nats://127.0.0.1:4222, tls://127.0.0.1:4223' }, '/tmp').natsUrl).toBe('nats://127.0.0.1:4222, tls://127.0.0.1:4223');
  });

  it('never echoes a password in a settings error', () => {
    for (const env of [
      { NATS_URL: 'nats://r:s3cr/et@nats-0:99999' },
      { NATS_URL: 'nats://r:s3cr/et@nats-0:4222,http://r:s3cr/et@nats-1:4222' },
      { NATS_URL: 'nats://r:s3cr%zzet@nats-0:4222' },
      { NATS_URL: 'nats://a:s3cr/et@h1:4222,nats://b:s3cr/et@h2:4222' },
      { DATABASE_URL: 'postgres://postgres:s3cr/et@127.0.0.1:5432/hwledger' },
      { DATABASE_URL: 'postgres://postgres:s3cr@et@db:x/hwledger' },
    ]) {
      const msg = configError(env);
      expect(msg, JSON.stringify(env)).not.toMatch(/s3cr|et@/);
    }
    expect(configError({ DATABASE_URL: 'postgres://postgres:s3cr/et@127.0.0.1:5432/hwledger' })).toMatch(/postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:5432\/hwledger.*%2F/);
    expect(configError({ NATS_URL: 'nats://r:s3cr/et@nats-0:4222,http://r:s3cr/et@nats-1:4222' })).toMatch(/scheme http: is not supported/);
  });
});
