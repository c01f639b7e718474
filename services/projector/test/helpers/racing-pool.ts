/**
 * Test helper for races against a transaction: a pool whose promise-style
 * clients run `after` once, right after the first statement containing
 * `marker` returned (inside the caller's transaction, before its next
 * statement). Callback-style connect (pool.query uses it) passes through.
 */
import type pg from 'pg';

export function racingPool(pool: pg.Pool, marker: string, after: () => Promise<void>): pg.Pool {
  let armed = true;
  return new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop !== 'connect') return Reflect.get(target, prop, receiver) as unknown;
      // Callback-style connect (pool.query uses it) passes through; promise-style clients race.
      return async (...args: unknown[]) => {
        if (args.length > 0) return (target.connect as (...a: unknown[]) => unknown)(...args);
        const client = await target.connect();
        return new Proxy(client, {
          get(c, p, r) {
            if (p !== 'query') return Reflect.get(c, p, r) as unknown;
            return async (text: unknown, values?: unknown[]) => {
              const res = await c.query(text as string, values);
              if (armed && typeof text === 'string' && text.includes(marker)) {
                armed = false;
                await after();
              }
              return res;
            };
          },
        });
      };
    },
  });
}
