/**
 * `hwledger checkpoint keygen|show|verify` (issue 6, docs/proofs.md):
 *   keygen --name NAME --out FILE   Ed25519 signer key (signed-note text, mode 0600) + FILE.pub
 *   show   --chain ID [--key K]     the latest signed checkpoint, its signatures' validity, KV copy
 *   verify --chain ID --key K       the whole checkpoint log: signatures, order, pairwise consistency
 */
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { formatSignerKey, formatVerifierKey, generateSigner, toHex, verifierOf, verifyCheckpoint } from '@hwledger/chain';
import { connectNats, resolveChainId, resolveNatsUrl } from '@hwledger/core';
import { CheckpointLog, keysForChain, kvKeys, verifyCheckpointLog } from '@hwledger/ledger-ops';
import { ExitError } from '../exit-error.js';
import { collect } from '../ops/options.js';
import { trustedKeys } from '../ops/keys-cli.js';

export function register(program: Command): void {
  const cmd = program.command('checkpoint').description('Signed checkpoints: keys, the latest checkpoint, the checkpoint log');

  cmd
    .command('keygen')
    .description('Create an Ed25519 checkpoint signing key (prints the verifier key to share with auditors)')
    .requiredOption('--name <name>', 'key name, e.g. hwledger-eu-west-1-2026')
    .requiredOption('--out <file>', 'signer key file to write (mode 0600); the verifier key goes to FILE.pub')
    .option('--force', 'overwrite an existing key file')
    .action((o: { name: string; out: string; force?: boolean }) => {
      if (existsSync(o.out) && !o.force) throw new ExitError(2, `${o.out} exists (use --force to overwrite a key)`);
      const s = generateSigner(o.name);
      // A private key: written to a new file of its own, made 0600 when created, then renamed over
      // --out. writeFileSync's mode applies only to a file it creates, so --force over an existing
      // 0644 file had left the new key world-readable (found in a review).
      const tmp = `${o.out}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      writeFileSync(tmp, formatSignerKey(s) + '\n', { mode: 0o600, flag: 'wx' });
      renameSync(tmp, o.out);
      const pub = formatVerifierKey(verifierOf(s));
      writeFileSync(`${o.out}.pub`, pub + '\n', { mode: 0o644 });
      process.stdout.write(`${pub}\n`);
    });

  cmd
    .command('show')
    .description('Show the latest signed checkpoint of a chain and check its signatures')
    .option('--nats <url>', 'NATS server URL (env NATS_URL)')
    .option('--chain <id>', 'chain id (env HWL_CHAIN_ID)')
    .option('--key <key>', 'verifier key text or file (repeatable; env HWL_CHECKPOINT_PUBKEYS)', collect)
    .option('--json', 'print JSON')
    .action(async (o: { nats?: string; chain?: string; key?: string[]; json?: boolean }) => {
      const chainId = resolveChainId(o.chain);
      const keys = trustedKeys(o.key);
      const nc = await connectNats(resolveNatsUrl(o.nats), 'hwledger-checkpoint', { maxReconnectAttempts: 10 });
      try {
        const log = await CheckpointLog.open(nc, chainId);
        const latest = await log.latest();
        if (!latest) throw new ExitError(1, `chain ${chainId} has no checkpoint yet`);
        const cp = latest.checkpoint;
        const sigs = latest.signed.signatures.map((s) => {
          // Only keys trusted for this chain: one bound to another chain is unknown here, not invalid.
          const key = keysForChain(keys, chainId).find((k) => k.name === s.keyName && toHex(k.keyId) === toHex(s.keyId));
          let valid: boolean | null = null;
          if (key) {
            try {
              verifyCheckpoint(latest.note, [key]);
              valid = true;
            } catch {
              valid = false;
            }
          }
          return { key: s.keyName, key_id: toHex(s.keyId), valid };
        });
        const kv = await log.kvLatest();
        const anchor = await log.getJson<{ sequence: string }>(kvKeys.anchor(chainId));
        const out = {
          chain_id: chainId,
          sequence: cp.sequence.toString(),
          root: toHex(cp.rootHash),
          head: toHex(cp.headHash),
          time_ms: cp.timeMs.toString(),
          stream_seq: latest.streamSeq,
          signatures: sigs,
          kv_sequence: kv?.size.toString() ?? null,
          archive_anchor: anchor?.sequence ?? null,
          note: latest.note,
        };
        if (o.json) {
          process.stdout.write(JSON.stringify(out, null, 2) + '\n');
        } else {
          process.stdout.write(`${latest.note}\n`);
          process.stdout.write(`chain ${chainId}: checkpoint #${latest.streamSeq} at sequence ${cp.sequence}, root ${toHex(cp.rootHash)}, issued ${new Date(Number(cp.timeMs)).toISOString()}\n`);
          for (const s of sigs) process.stdout.write(`  signature ${s.key} (${s.key_id}): ${s.valid === null ? 'no key given to check it' : s.valid ? 'valid' : 'INVALID'}\n`);
          if (kv && kv.size !== cp.sequence) process.stdout.write(`  KV copy lags: ${kv.size}\n`);
          if (anchor) process.stdout.write(`  archive anchor at ${anchor.sequence}\n`);
        }
        if (sigs.some((s) => s.valid === false)) process.exitCode = 1;
      } finally {
        await nc.close().catch(() => undefined);
      }
    });

  cmd
    .command('verify')
    .description("Verify a chain's whole checkpoint log: signatures, order, pairwise RFC 9162 consistency")
    .option('--nats <url>', 'NATS server URL (env NATS_URL)')
    .option('--chain <id>', 'chain id (env HWL_CHAIN_ID)')
    .option('--key <key>', 'verifier key text or file (repeatable; env HWL_CHECKPOINT_PUBKEYS)', collect)
    .action(async (o: { nats?: string; chain?: string; key?: string[] }) => {
      const chainId = resolveChainId(o.chain);
      const keys = trustedKeys(o.key);
      if (keys.length === 0) throw new ExitError(2, 'pass --key (the chain verifier key) to check signatures');
      const nc = await connectNats(resolveNatsUrl(o.nats), 'hwledger-checkpoint', { maxReconnectAttempts: 10 });
      try {
        const r = await verifyCheckpointLog(await CheckpointLog.open(nc, chainId), keys);
        if (r.issues.length > 0) {
          const i = r.issues[0]!;
          throw new ExitError(1, `checkpoint log of ${chainId} FAILED at checkpoint #${i.streamSeq} (sequence ${i.size}): ${i.reason}: ${i.message}`);
        }
        process.stdout.write(`checkpoint log of ${chainId}: ${r.checked} checkpoints verified${r.latest ? `, latest at sequence ${r.latest.checkpoint.sequence}` : ''}\n`);
      } finally {
        await nc.close().catch(() => undefined);
      }
    });
}
