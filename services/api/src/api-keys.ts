/**
 * API keys (docs/api.md "Access"). Keys are bearer secrets: the key file holds
 * only their SHA-256 (hashed at rest, so a leaked file or backup grants
 * nothing), presented keys are hashed and compared in constant time against
 * every entry (no early exit that would time which entry matched), and no key
 * or hash is ever logged: only the entry's `id` is.
 *
 * Key file: a JSON array of { id, role: "operator" | "tenant", tenant?, sha256 }.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SUBJECT_TOKEN_RE } from '@hwledger/chain';
import { HwlError } from '@hwledger/core';
import type { Caller, Role } from './caller.js';

export interface ApiKeyEntry {
  id: string;
  role: Role;
  /** Required for role tenant: the only tenant whose data the key may read. */
  tenant?: string;
  /** Lowercase hex SHA-256 of the key. */
  sha256: string;
}

/** Prefix of generated keys (lets secret scanners recognise them). */
export const KEY_PREFIX = 'hwl_';
const HEX64 = /^[0-9a-f]{64}$/;
const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Presented keys longer than this are rejected before hashing. */
const MAX_KEY_LENGTH = 512;

export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A new random key (256 bits) and its key file entry. */
export function generateKey(entry: { id?: string; role: Role; tenant?: string }): { key: string; entry: ApiKeyEntry } {
  const key = KEY_PREFIX + randomBytes(32).toString('base64url');
  const id = entry.id ?? `${entry.role === 'tenant' ? `tenant-${entry.tenant ?? ''}` : 'operator'}-${randomBytes(3).toString('hex')}`;
  const out: ApiKeyEntry = entry.role === 'tenant' ? { id, role: 'tenant', tenant: entry.tenant ?? '', sha256: hashKey(key) } : { id, role: 'operator', sha256: hashKey(key) };
  validateEntry(out, 0);
  return { key, entry: out };
}

function validateEntry(e: unknown, i: number): ApiKeyEntry {
  const at = `key file entry ${i}`;
  if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new HwlError('CONFIG', `${at}: expected an object`);
  const o = e as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!['id', 'role', 'tenant', 'sha256'].includes(k)) throw new HwlError('CONFIG', `${at}: unknown member ${JSON.stringify(k)}`);
  }
  if (typeof o['id'] !== 'string' || !KEY_ID.test(o['id'])) throw new HwlError('CONFIG', `${at}: id must match ${KEY_ID.source}`);
  const role = o['role'];
  if (role !== 'operator' && role !== 'tenant') throw new HwlError('CONFIG', `${at} (${o['id']}): role must be "operator" or "tenant"`);
  if (typeof o['sha256'] !== 'string' || !HEX64.test(o['sha256'])) {
    throw new HwlError('CONFIG', `${at} (${o['id']}): sha256 must be 64 lowercase hex digits (the SHA-256 of the key, never the key)`);
  }
  const tenant = o['tenant'];
  if (role === 'tenant') {
    if (typeof tenant !== 'string' || !SUBJECT_TOKEN_RE.test(tenant)) throw new HwlError('CONFIG', `${at} (${o['id']}): a tenant key needs a valid "tenant"`);
    return { id: o['id'], role, tenant, sha256: o['sha256'] };
  }
  if (tenant !== undefined) throw new HwlError('CONFIG', `${at} (${o['id']}): an operator key has no "tenant"`);
  return { id: o['id'], role, sha256: o['sha256'] };
}

export function parseKeyFile(text: string, source = 'key file'): ApiKeyEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new HwlError('CONFIG', `${source}: not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!Array.isArray(json)) throw new HwlError('CONFIG', `${source}: expected a JSON array of {id, role, tenant?, sha256}`);
  const entries = json.map((e, i) => validateEntry(e, i));
  const ids = new Set<string>();
  const hashes = new Set<string>();
  for (const e of entries) {
    if (ids.has(e.id)) throw new HwlError('CONFIG', `${source}: duplicate id ${JSON.stringify(e.id)}`);
    if (hashes.has(e.sha256)) throw new HwlError('CONFIG', `${source}: two entries share a key hash (${e.id})`);
    ids.add(e.id);
    hashes.add(e.sha256);
  }
  return entries;
}

export function loadKeyFile(path: string): ApiKeyEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new HwlError('CONFIG', `cannot read key file ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return parseKeyFile(text, path);
}

/** Authenticates presented keys against the configured entries. */
export class KeyStore {
  private readonly entries: { entry: ApiKeyEntry; digest: Buffer }[];

  constructor(entries: ApiKeyEntry[]) {
    this.entries = entries.map((entry) => ({ entry, digest: Buffer.from(entry.sha256, 'hex') }));
  }

  get size(): number {
    return this.entries.length;
  }

  /** The caller a key belongs to, or undefined for a missing or unknown key. */
  authenticate(key: string | undefined): Caller | undefined {
    if (key === undefined || key === '' || key.length > MAX_KEY_LENGTH) return undefined;
    const digest = createHash('sha256').update(key, 'utf8').digest();
    let found: ApiKeyEntry | undefined;
    // Compare against every entry, always: the time taken does not depend on which one matches.
    for (const { entry, digest: d } of this.entries) {
      if (timingSafeEqual(d, digest) && found === undefined) found = entry;
    }
    if (!found) return undefined;
    return found.role === 'tenant' ? { keyId: found.id, role: 'tenant', tenant: found.tenant ?? '' } : { keyId: found.id, role: 'operator' };
  }
}

/** The key from an `Authorization: Bearer <key>` header value. */
export function bearerKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return m?.[1];
}
