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

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

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
    if (!(await canListen(c.port, host)) || (host !== '0.0.0.0' && !(await canListen(c.port, '0.0.0.0')))) {
      throw new StackError('PORT_IN_USE', c.env, `port ${c.port} (${c.setting}) is in use: stop what uses it, or set ${c.env} to a free port`);
    }
  }
}
