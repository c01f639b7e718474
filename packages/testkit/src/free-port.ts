import { createServer } from 'node:net';

/** Ports this process has handed out: the kernel may offer a just-closed port again. */
const given = new Set<number>();

function probe(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A port free right now on 127.0.0.1, never one this process was given
 * before (two settings drawn one after the other got the same port once).
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await probe();
    if (!given.has(port)) {
      given.add(port);
      return port;
    }
  }
  throw new Error('freePort: the kernel keeps offering ports already handed out');
}
