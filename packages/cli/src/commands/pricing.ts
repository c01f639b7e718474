/**
 * `hwledger pricing set --file book.json` adds a price book version and
 * re-rates the windows it affects; `hwledger pricing list` prints every
 * version (docs/read-models.md "Pricing").
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { resolveDatabaseUrl } from '@hwledger/core';
import { listPriceBooks, parsePriceBookJson, priceBookToJson, setPriceBook } from '@hwledger/projector';
import { ExitError } from '../exit-error.js';
import { connectAndMigrate, createPool } from './projector.js';

export function register(program: Command): void {
  const pricing = program.command('pricing').description('Versioned, effective-dated price books (GPU-hour per device type, per-token per model)');
  pricing
    .command('set')
    .description('Add a price book version from a JSON file and re-rate the windows it affects')
    .requiredOption('--file <path>', 'price book JSON ({"effective_from", "gpu_hour_micro_usd", "token_micro_usd_per_mtok", "note"})')
    .option('--db <url>', 'Postgres URL (env DATABASE_URL)')
    .action(async (o: { file: string; db?: string }) => {
      let json: unknown;
      try {
        json = JSON.parse(await readFile(o.file, 'utf8'));
      } catch (e) {
        throw new ExitError(2, `cannot read ${o.file}: ${e instanceof Error ? e.message : String(e)}`);
      }
      const book = parsePriceBookJson(json);
      const url = resolveDatabaseUrl(o.db);
      const pool = createPool(url, () => undefined, 2);
      try {
        await connectAndMigrate(pool, url);
        const r = await setPriceBook(pool, book);
        process.stdout.write(
          `${JSON.stringify({
            version: r.version,
            rerated_from_ms: r.reratedFromMs.toString(),
            rerated_to_ms: r.reratedToMs === null ? null : r.reratedToMs.toString(),
            rerated: r.rerated,
          })}\n`,
        );
      } finally {
        await pool.end();
      }
    });
  pricing
    .command('list')
    .description('Print every price book version as JSON lines')
    .option('--db <url>', 'Postgres URL (env DATABASE_URL)')
    .action(async (o: { db?: string }) => {
      const url = resolveDatabaseUrl(o.db);
      const pool = createPool(url, () => undefined, 2);
      try {
        await connectAndMigrate(pool, url);
        for (const b of await listPriceBooks(pool)) process.stdout.write(`${JSON.stringify(priceBookToJson(b))}\n`);
      } finally {
        await pool.end();
      }
    });
}
