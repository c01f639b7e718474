/**
 * NATS URLs with credentials. nats.js ignores the userinfo of a server URL,
 * so `nats://user:pass@host:4222` (how docker-compose and Kubernetes hand
 * each service its per-role NATS user, deploy/nats/auth.conf) is split here
 * into `servers` and `user`/`pass` connect options. Several servers may be
 * given comma-separated. Threat: passwords in logs and error messages —
 * print URLs only through redactNatsUrl().
 */
import { HwlError } from './errors.js';

export interface NatsConnectTarget {
  servers: string[];
  user?: string;
  pass?: string;
}

export function natsConnectTarget(url: string): NatsConnectTarget {
  const out: NatsConnectTarget = { servers: [] };
  for (const raw of url.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^([a-z][a-z0-9+.-]*:\/\/)?(?:([^@/]*)@)?(.*)$/i.exec(raw);
    const scheme = m?.[1] ?? '';
    const userinfo = m?.[2];
    const rest = m?.[3] ?? raw;
    if (userinfo !== undefined && userinfo !== '') {
      const i = userinfo.indexOf(':');
      let user: string;
      let pass: string | undefined;
      try {
        user = decodeURIComponent(i < 0 ? userinfo : userinfo.slice(0, i));
        pass = i < 0 ? undefined : decodeURIComponent(userinfo.slice(i + 1));
      } catch {
        throw new HwlError('CONFIG', `NATS URL ${redactNatsUrl(raw)}: malformed percent-escape in its credentials`);
      }
      if ((out.user !== undefined && out.user !== user) || (out.pass !== undefined && pass !== undefined && out.pass !== pass)) {
        throw new HwlError('CONFIG', 'NATS URLs: every server must carry the same credentials');
      }
      out.user = user;
      if (pass !== undefined) out.pass = pass;
    }
    out.servers.push(`${scheme}${rest}`);
  }
  return out;
}

/** The URL(s) with any password replaced by ***. */
export function redactNatsUrl(url: string): string {
  return url.replace(/(:\/\/[^:@/,]*):[^@/,]*@/g, '$1:***@');
}
