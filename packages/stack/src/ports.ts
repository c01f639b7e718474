/** Port checks done before anything starts (a port in use is a one-line error naming its setting). */
import { createServer } from 'node:net';
import { StackError } from './stack-error.js';

export interface PortClaim {
  port: number;
  /** The setting that chose it, e.g. HWL_HTTP_PORT or "HWL_METRICS_PORT+3 (projector-eu-west-1)". */
  setting: string;
  /** The environment variable to change. */
  env: string;
}

/** undefined when `port` binds on `host`, else the listen error's code (EADDRINUSE, EACCES, EADDRNOTAVAIL, ENOTFOUND…). */
function listenError(port: number, host: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'EUNKNOWN'));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(undefined)));
  });
}

/** A listen error that is about the address (HWL_HOST), not the port. */
const HOST_ERRORS = new Set(['EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA', 'EAFNOSUPPORT', 'EINVAL']);

/** Throws PORT_IN_USE (or CONFIG for two settings on one port) for the first bad claim. */
export async function assertPortsFree(claims: PortClaim[], host = '127.0.0.1'): Promise<void> {
  const seen = new Map<number, PortClaim>();
  for (const c of claims) {
    const other = seen.get(c.port);
    if (other) throw new StackError('CONFIG', c.env, `port ${c.port} is given to both ${other.setting} and ${c.setting}: set ${c.env} to another port`);
    seen.set(c.port, c);
  }
  for (const c of claims) {
    // Listening on the wildcard address too catches a server bound to 0.0.0.0.
    const err = (await listenError(c.port, host)) ?? (host !== '0.0.0.0' ? await listenError(c.port, '0.0.0.0') : undefined);
    if (err === undefined) continue;
    if (HOST_ERRORS.has(err)) {
      throw new StackError('CONFIG', 'HWL_HOST', `cannot listen on ${host} (${err}): set HWL_HOST to an address of this machine (default 127.0.0.1; 0.0.0.0 for every interface)`);
    }
    if (err === 'EACCES') {
      throw new StackError('CONFIG', c.env, `port ${c.port} (${c.setting}) needs privileges this user lacks (${err}): set ${c.env} to a port above 1023`);
    }
    throw new StackError('PORT_IN_USE', c.env, `port ${c.port} (${c.setting}) is in use: stop what uses it, or set ${c.env} to a free port`);
  }
}
