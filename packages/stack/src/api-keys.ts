/**
 * The operator API key of the local stack: generated once into
 * HWL_HOME/operator.key (mode 0600) with its SHA-256 entry in
 * HWL_HOME/api-keys.json (the API's key file format: hashes only), and
 * reused by later starts so bookmarks keep working.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKey, hashKey, parseKeyFile } from '@hwledger/api';

export interface StackKeys {
  keysFile: string;
  /** The operator key, when the stack made it (undefined with HWL_API_KEYS). */
  operatorKey?: string;
  operatorKeyFile?: string;
}

export function ensureOperatorKey(home: string): StackKeys {
  const keysFile = join(home, 'api-keys.json');
  const keyFile = join(home, 'operator.key');
  if (existsSync(keysFile) && existsSync(keyFile)) {
    const key = readFileSync(keyFile, 'utf8').trim();
    const entries = parseKeyFile(readFileSync(keysFile, 'utf8'), keysFile);
    if (entries.some((e) => e.sha256 === hashKey(key) && e.role === 'operator')) return { keysFile, operatorKey: key, operatorKeyFile: keyFile };
  }
  const { key, entry } = generateKey({ id: 'local-operator', role: 'operator' });
  writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
  writeFileSync(keysFile, `${JSON.stringify([entry], null, 2)}\n`, { mode: 0o600 });
  return { keysFile, operatorKey: key, operatorKeyFile: keyFile };
}
