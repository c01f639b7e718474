/**
 * NATS URLs with credentials. nats.js ignores the userinfo of a server URL,
 * so `nats://user:pass@host:4222` (how docker-compose and Kubernetes hand
 * each service its per-role NATS user, deploy/nats/auth.conf) is split here
 * into `servers` and `user`/`pass` connect options. Several servers may be
 * given comma-separated. Threat: passwords in logs and error messages —
 * print URLs only through redactNatsUrl().
 *
 * Userinfo is everything between `scheme://` and the LAST `@` of a server
 * (a host never holds an `@`), and the user ends at its first `:`: so a
 * password may hold `/`, `@` and `:` as they are (base64 passwords hold `/`),
 * or percent-encoded (`%2F`, `%40`, `%3A`). A `,` separates servers: write a
 * comma in a password as `%2C`, and a `%` as `%25`.
 */
import { existsSync } from 'node:fs';
import { HwlError } from './errors.js';
import { inboxPrefixFor } from './nats-inbox.js';

export interface NatsConnectTarget {
  servers: string[];
  user?: string;
  pass?: string;
  /**
   * The user's own inbox prefix `_INBOX_<user>` (nats-inbox.ts): set with a
   * user, so every connection made from this target takes its replies where
   * the generated permissions let that user read them, and nowhere else.
   */
  inboxPrefix?: string;
  /** TLS files for nats.js (`tls`), from HWL_NATS_TLS_CA / _CERT / _KEY: set, the connection requires TLS. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

interface ServerParts {
  /** `nats://`, or '' for a bare `host:port`. */
  scheme: string;
  /** Raw (still percent-encoded) userinfo, undefined when the server has no `@`. */
  userinfo?: string;
  /** host[:port] and whatever follows it. */
  rest: string;
}

function splitServer(raw: string): ServerParts {
  const m = /^[a-z][a-z0-9+.-]*:\/\//i.exec(raw);
  const scheme = m?.[0] ?? '';
  const after = raw.slice(scheme.length);
  const at = after.lastIndexOf('@');
  if (at < 0) return { scheme, rest: after };
  return { scheme, userinfo: after.slice(0, at), rest: after.slice(at + 1) };
}

export function natsConnectTarget(url: string): NatsConnectTarget {
  const out: NatsConnectTarget = { servers: [] };
  for (const raw of url.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const { scheme, userinfo, rest } = splitServer(raw);
    if (userinfo !== undefined && userinfo !== '') {
      const i = userinfo.indexOf(':');
      let user: string;
      let pass: string | undefined;
      try {
        user = decodeURIComponent(i < 0 ? userinfo : userinfo.slice(0, i));
        pass = i < 0 ? undefined : decodeURIComponent(userinfo.slice(i + 1));
      } catch {
        throw new HwlError('CONFIG', `NATS URL ${redactNatsUrl(raw)}: malformed percent-escape in its credentials (write a % in a password as %25)`);
      }
      if ((out.user !== undefined && out.user !== user) || (out.pass !== undefined && pass !== undefined && out.pass !== pass)) {
        throw new HwlError('CONFIG', 'NATS URLs: every server must carry the same credentials');
      }
      out.user = user;
      if (pass !== undefined) out.pass = pass;
    }
    out.servers.push(`${scheme}${rest}`);
  }
  const inboxPrefix = inboxPrefixOverride() ?? inboxPrefixFor(out.user);
  if (inboxPrefix !== undefined) out.inboxPrefix = inboxPrefix;
  const tls = tlsFromEnv();
  if (tls !== undefined) out.tls = tls;
  return out;
}

/** One whitespace- and comma-free piece of text with its password (if any: in the userinfo or as a password= query parameter) replaced by ***. */
function redactPiece(raw: string): string {
  // A password given as a query parameter (libpq and pg read `?password=`, `sslpassword=`).
  const piece = raw.replace(/([?&](?:ssl)?password=)[^&#\s]*/gi, '$1***');
  // A URL may sit inside the piece (`url="postgres://…"`): its userinfo starts after the scheme.
  const m = /[a-z][a-z0-9+.-]*:\/\//i.exec(piece);
  const start = m ? m.index + m[0].length : 0;
  const at = piece.lastIndexOf('@');
  if (at < start) return piece;
  const colon = piece.indexOf(':', start);
  if (colon < 0 || colon > at) return piece;
  return `${piece.slice(0, colon)}:***${piece.slice(at)}`;
}

/**
 * The URL(s) with any password replaced by ***: `nats://user:***@host:4222`.
 * Works for comma-separated server lists, for any scheme (postgres:// too)
 * and on free text holding URLs (an error message, a command line), so it is
 * the one redaction for whatever is logged or printed.
 */
export function redactNatsUrl(text: string): string {
  return text.replace(/[^\s,]+/g, redactPiece);
}

/**
 * HWL_NATS_INBOX_PREFIX: the inbox prefix to use instead of `_INBOX_<user>`,
 * for a server whose permissions were written by hand (for example `_INBOX`
 * where users may subscribe `_INBOX.>`, during a rolling upgrade). Subject
 * tokens separated by dots, no wildcards.
 */
function inboxPrefixOverride(): string | undefined {
  const v = process.env['HWL_NATS_INBOX_PREFIX'];
  if (v === undefined || v === '') return undefined;
  if (!/^[A-Za-z0-9_$-]+(?:\.[A-Za-z0-9_$-]+)*$/.test(v)) {
    throw new HwlError('CONFIG', `HWL_NATS_INBOX_PREFIX ${JSON.stringify(v)}: use subject tokens separated by dots, without wildcards or spaces (e.g. _INBOX_billing)`);
  }
  return v;
}

/**
 * TLS to the NATS servers (docs/operations.md "TLS"): HWL_NATS_TLS_CA, the
 * PEM file of the CA that signed the servers' certificates (the server's
 * name or IP must be in its certificate); HWL_NATS_TLS_CERT and
 * HWL_NATS_TLS_KEY, a client certificate and its key, where the servers
 * verify clients. Any of them set makes the connection require TLS.
 * Files that are not there are a CONFIG error here, not a failed handshake.
 */
function tlsFromEnv(): NatsConnectTarget['tls'] {
  const ca = process.env['HWL_NATS_TLS_CA'] || undefined;
  const cert = process.env['HWL_NATS_TLS_CERT'] || undefined;
  const key = process.env['HWL_NATS_TLS_KEY'] || undefined;
  if (ca === undefined && cert === undefined && key === undefined) return undefined;
  if ((cert === undefined) !== (key === undefined)) throw new HwlError('CONFIG', 'HWL_NATS_TLS_CERT and HWL_NATS_TLS_KEY go together (a client certificate and its key)');
  for (const [name, file] of [['HWL_NATS_TLS_CA', ca], ['HWL_NATS_TLS_CERT', cert], ['HWL_NATS_TLS_KEY', key]] as const) {
    if (file !== undefined && !existsSync(file)) throw new HwlError('CONFIG', `${name}: no file ${file}`);
  }
  return { ...(ca !== undefined ? { caFile: ca } : {}), ...(cert !== undefined ? { certFile: cert, keyFile: key! } : {}) };
}
