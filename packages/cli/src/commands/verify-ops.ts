/**
 * The `--git DIR`, `--archive DIR` and `--fleet [NAME]` modes of
 * `hwledger verify` (issue 6, docs/proofs.md). verify.ts adds these options
 * with addOpsVerifyOptions(cmd) and calls runOpsVerify(opts) first; it
 * returns false when none of these modes was asked for.
 *
 *   --git DIR       a git replica: segments in order, every hash, every checkpoint (signature with --key, root)
 *   --archive DIR   an archive: segments, checksums, cut checkpoints; then the live chain from the last cut
 *                   (unless --offline), which must match the archive anchor kept in KV
 *   --fleet [NAME]  the fleet anchor's links and signatures, and every region chain against it
 *   --key alone     (live mode, no --file) the chain stream from genesis or the archive cut in KV,
 *                   and every signed checkpoint of the chain (its log and KV) verified with the keys
 *                   and reproduced: head hash and RFC 9162 root (verifyLiveSigned)
 *
 * Exit 1 names the first bad sequence (or fleet entry), the reason, and the file.
 */
import type { Command } from 'commander';
import { constantTimeEqual, toHex } from '@hwledger/chain';
import { connectNats, resolveChainId, resolveNatsUrl, streams } from '@hwledger/core';
import { loadArchiveAnchor, readManifest, verifyArchive, verifyFleet, verifyGitReplica, verifyLiveFromAnchor } from '@hwledger/ledger-ops';
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ExitError } from '../exit-error.js';
import { collect, describeFailure } from '../ops/options.js';
import { requireBoundKeys, trustedKeys } from '../ops/keys-cli.js';

export interface OpsVerifyOptions {
  git?: string;
  archive?: string;
  fleet?: string | boolean;
  chain?: string;
  nats?: string;
  key?: string[];
  offline?: boolean;
}

/** Adds the options of these modes to the verify command (skipping any it already has). */
export function addOpsVerifyOptions(cmd: Command): Command {
  const has = (flag: string): boolean => cmd.options.some((o) => o.long === flag);
  if (!has('--git')) cmd.option('--git <dir>', 'verify a git replica written by hwledger replicate');
  if (!has('--archive')) cmd.option('--archive <dir>', 'verify an archive written by hwledger archive, then the live chain from its cut');
  if (!has('--fleet')) cmd.option('--fleet [name]', 'verify the fleet anchor and every region chain against it (default fleet: main)');
  if (!has('--key')) cmd.option('--key <key>', 'checkpoint verifier key text or file, or CHAIN=KEY to trust it for that chain only (required with several chains; repeatable; env HWL_CHECKPOINT_PUBKEYS)', collect);
  if (!has('--offline')) cmd.option('--offline', 'with --archive: do not contact NATS (archive only)');
  if (!has('--chain')) cmd.option('--chain <id>', 'chain id (env HWL_CHAIN_ID)');
  if (!has('--nats')) cmd.option('--nats <url>', 'NATS server URL (env NATS_URL)');
  return cmd;
}

/** Runs the requested mode; false when none of --git/--archive/--fleet was given. */
export async function runOpsVerify(o: OpsVerifyOptions): Promise<boolean> {
  if (o.git !== undefined) {
    await verifyGit(o);
    return true;
  }
  if (o.archive !== undefined) {
    await verifyArchiveMode(o);
    return true;
  }
  if (o.fleet !== undefined && o.fleet !== false) {
    await verifyFleetMode(o);
    return true;
  }
  return false;
}

async function verifyGit(o: OpsVerifyOptions): Promise<void> {
  const keys = trustedKeys(o.key);
  const chainId = o.chain ?? process.env['HWL_CHAIN_ID'];
  // Several chains in one replica: verifyGitReplica refuses unbound keys (cross-region forgery), CONFIG: exit 2.
  const reports = await verifyGitReplica(o.git!, { chainId: chainId || undefined, trusted: keys });
  let failed = false;
  for (const r of reports) {
    if (!r.result.ok) {
      failed = true;
      process.stdout.write(`replica ${o.git} chain ${r.chainId}: FAILED at ${describeFailure(r.result)}\n`);
      continue;
    }
    process.stdout.write(
      `replica ${o.git} chain ${r.chainId}: ${r.result.verified} records in ${r.segments} segments verified up to ${r.result.head.sequence}, ${r.result.checkpointsChecked} checkpoints ${keys.length > 0 ? 'signed and ' : ''}reproduced${keys.length === 0 ? ' (signatures not checked: pass --key)' : ''}${r.uncommitted.length > 0 ? `; ${r.uncommitted.length} uncommitted file(s)` : ''}\n`,
    );
  }
  if (failed) throw new ExitError(1, '');
}

async function verifyArchiveMode(o: OpsVerifyOptions): Promise<void> {
  const keys = trustedKeys(o.key);
  const dir = o.archive!;
  const explicit = o.chain ?? process.env['HWL_CHAIN_ID'];
  const chains = explicit ? [resolveChainId(explicit)] : existsSync(dir) ? readdirSync(dir).filter((d) => existsSync(join(dir, d, 'manifest.json'))) : [];
  if (chains.length === 0) throw new ExitError(1, `no archive in ${dir}`);
  requireBoundKeys(keys, `verify --archive ${dir}`, chains); // several chains: unbound keys could sign for any of them
  let failed = false;
  for (const chainId of chains) {
    if (!readManifest(dir, chainId)) throw new ExitError(1, `no archive of chain ${chainId} in ${dir}`);
    const r = await verifyArchive(dir, chainId, keys);
    if (!r.archive.ok) {
      failed = true;
      process.stdout.write(`archive ${dir} chain ${chainId}: FAILED at ${describeFailure(r.archive)}\n`);
      continue;
    }
    process.stdout.write(`archive ${dir} chain ${chainId}: ${r.archive.verified} records in ${r.segments} segments verified up to the cut at ${r.archive.head.sequence}${keys.length === 0 ? ' (checkpoint signatures not checked: pass --key)' : ''}\n`);
    if (o.offline || !r.cut) continue;
    const nc = await connectNats(resolveNatsUrl(o.nats), 'hwledger-verify', { maxReconnectAttempts: 10 });
    try {
      const kvAnchor = await loadArchiveAnchor(nc, chainId, keys);
      if (kvAnchor && kvAnchor.sequence === r.cut.sequence && !constantTimeEqual(kvAnchor.hash, r.cut.hash)) {
        failed = true;
        process.stdout.write(`chain ${chainId}: FAILED: the live anchor at ${kvAnchor.sequence} (${toHex(kvAnchor.hash)}) differs from the archive's cut\n`);
        continue;
      }
      if (kvAnchor && kvAnchor.sequence > r.cut.sequence) process.stdout.write(`chain ${chainId}: note: the live anchor is at ${kvAnchor.sequence}, beyond this archive (a later archive exists elsewhere)\n`);
      const live = await verifyLiveFromAnchor(nc, chainId, { anchor: kvAnchor && kvAnchor.sequence > r.cut.sequence ? kvAnchor : r.cut, trusted: keys });
      if (!live.result.ok) {
        failed = true;
        process.stdout.write(`live chain ${chainId} from the cut at ${live.anchor.sequence}: FAILED at ${describeFailure(live.result)}\n`);
        continue;
      }
      process.stdout.write(`live chain ${chainId}: ${live.result.verified} records verified from the cut at ${live.anchor.sequence} to ${live.result.head.sequence}, ${live.result.checkpointsChecked} checkpoints reproduced\n`);
    } finally {
      await nc.close().catch(() => undefined);
    }
  }
  if (failed) throw new ExitError(1, '');
}

async function verifyFleetMode(o: OpsVerifyOptions): Promise<void> {
  const keys = trustedKeys(o.key);
  if (keys.length === 0) throw new ExitError(2, 'verify --fleet needs the region verifier keys (--key)');
  const fleet = typeof o.fleet === 'string' ? o.fleet : (process.env['HWL_FLEET'] ?? 'main');
  const nc = await connectNats(resolveNatsUrl(o.nats), 'hwledger-verify', { maxReconnectAttempts: 10 });
  try {
    const r = await verifyFleet(nc, fleet, keys);
    if (r.issue) process.stdout.write(`fleet ${fleet}: FAILED at entry ${r.issue.index}: ${r.issue.reason}: ${r.issue.message}\n`);
    else process.stdout.write(`fleet ${fleet}: ${r.entries} entries, hash links and signatures verified\n`);
    for (const c of r.chains) {
      const live = c.live?.result;
      if (c.logIssue) process.stdout.write(`  region ${c.chainId}: FAILED: checkpoint log: ${c.logIssue}\n`);
      else if (c.anchorIssue) process.stdout.write(`  region ${c.chainId}: FAILED: ${c.anchorIssue}\n`);
      else if (live && !live.ok) process.stdout.write(`  region ${c.chainId}: FAILED at ${describeFailure(live)}\n`);
      else process.stdout.write(`  region ${c.chainId}: ${c.anchored} anchored checkpoints; chain verified ${live?.ok ? `${live.verified} records from ${c.live!.anchor.sequence} to ${live.head.sequence}, ${live.checkpointsChecked} checkpoints reproduced` : ''}\n`);
    }
    if (!r.ok) throw new ExitError(1, '');
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/**
 * Live mode with verifier keys (--key or HWL_CHECKPOINT_PUBKEYS). Without
 * them, live mode recomputes the hash chain only, which a broker operator
 * who rewrites the stream consistently (every hash after an edit recomputed,
 * or the stream deleted and re-sealed) passes: signed checkpoints are what
 * pins history. So with keys every checkpoint of the chain's log and KV must
 * carry a valid signature by one of them and be reproduced by the records
 * (head hash and Merkle root), and one beyond the head fails as `truncated`.
 * False when no key is given (plain live mode).
 */
export async function verifyLiveSigned(o: OpsVerifyOptions & { anchor?: string }): Promise<boolean> {
  const keys = trustedKeys(o.key);
  if (keys.length === 0) return false;
  if (o.anchor !== undefined) {
    throw new ExitError(2, 'verify --key reproduces the signed checkpoints from genesis (or the archive cut kept in KV), so it takes no --anchor; verify from an anchor without --key');
  }
  const chainId = resolveChainId(o.chain);
  requireBoundKeys(keys, `verify --chain ${chainId}`, [chainId]);
  const nc = await connectNats(resolveNatsUrl(o.nats), 'hwledger-verify', { maxReconnectAttempts: 10 });
  try {
    const live = await verifyLiveFromAnchor(nc, chainId, { trusted: keys });
    const stream = streams.chain(chainId);
    if (!live.result.ok) {
      process.stdout.write(`FAILED at ${describeFailure({ ...live.result, file: live.result.file ?? stream })}\n`);
      throw new ExitError(1, '');
    }
    const r = live.result;
    const from = live.anchor.sequence === 0n ? 'genesis' : `the archive cut at ${live.anchor.sequence}`;
    const signed = r.checkpointsChecked > 0 ? `${r.checkpointsChecked} signed checkpoints verified and reproduced` : 'no signed checkpoint found: only the hash chain was checked';
    process.stdout.write(`verified ${r.verified} records of chain ${chainId} (stream ${stream}, from ${from}): head sequence ${r.head.sequence}, head hash ${toHex(r.head.hash)}; ${signed}\n`);
    return true;
  } finally {
    await nc.close().catch(() => undefined);
  }
}
