/** Price books for tests, in both the projector's input form and recompute()'s form. */
import type pg from 'pg';
import { setPriceBook, type PriceBookInput } from '@hwledger/projector';
import type { Book } from './recompute.js';

export async function addBook(
  pool: pg.Pool,
  effectiveFromMs: bigint,
  gpu: Record<string, bigint>,
  tok: Record<string, bigint>,
  books: Book[],
): Promise<number> {
  const input: PriceBookInput = { effectiveFromMs, note: 'test', gpuHour: new Map(Object.entries(gpu)), tokenPerMtok: new Map(Object.entries(tok)) };
  const r = await setPriceBook(pool, input);
  books.push({ version: r.version, effectiveFromMs, gpu, tok });
  return r.version;
}
