/** Settings shared by every command: flag, then environment, then default. */
import { isValidChainId } from '@hwledger/chain';
import { HwlError } from './errors.js';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

export function resolveNatsUrl(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env['NATS_URL'] ?? DEFAULT_NATS_URL;
}

export function resolveChainId(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  const id = flag ?? env['HWL_CHAIN_ID'];
  if (id === undefined || id === '') {
    throw new HwlError('CONFIG', 'no chain id: pass --chain ID or set HWL_CHAIN_ID');
  }
  if (!isValidChainId(id)) {
    throw new HwlError('CONFIG', `chain id ${JSON.stringify(id)} is invalid: use letters, digits, '-' and '_' (at most 128)`);
  }
  return id;
}

export function resolveDatabaseUrl(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  const url = flag ?? env['DATABASE_URL'];
  if (url === undefined || url === '') {
    throw new HwlError('CONFIG', 'no database: pass --db URL or set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/hwledger)');
  }
  return url;
}
