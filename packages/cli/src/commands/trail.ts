/**
 * `hwledger trail KEY`: the audit trail of a job id, request id or device id
 * (GetAuditTrail, every page): each record with its hashes and whether it
 * verifies against the chain. Exits 1 when any record fails verification.
 */
import type { Command } from 'commander';
import type { query } from '@hwledger/proto';
import { ExitError } from '../exit-error.js';
import { intOption, isoTime, printJson, withApi, withApiOptions, type ApiConnectionOptions } from '../api-connection.js';

interface Options extends ApiConnectionOptions {
  chain?: string;
  limit: number;
}

function failures(v: query.RecordVerification | undefined): string[] {
  if (!v) return ['no verification'];
  const out: string[] = [];
  if (!v.hashOk) out.push('hash mismatch');
  if (!v.linkOk) out.push('broken link');
  if (!v.decodes) out.push('does not decode');
  if (!v.withinVerifiedPrefix) out.push('beyond the verified prefix');
  return out;
}

export function register(program: Command): void {
  withApiOptions(
    program
      .command('trail')
      .argument('<key>', 'job id, request id or device id')
      .description('Audit trail of a job, request or device: its records, hashes and verification (from the query API)'),
  )
    .option('--chain <id>', 'chain (default: the API server\'s chain)')
    .option('--limit <n>', 'at most this many records', intOption('--limit', 1, 10_000_000), 100_000)
    .action(async (key: string, o: Options) => {
      await withApi(o, async (c) => {
        const records: query.AuditRecord[] = [];
        let pageToken = '';
        let first: query.GetAuditTrailResponse | undefined;
        do {
          const page = await c.getAuditTrail({ key, chainId: o.chain ?? '', pageSize: Math.min(1000, o.limit - records.length), pageToken });
          first ??= page;
          records.push(...page.records);
          pageToken = page.nextPageToken;
        } while (pageToken !== '' && records.length < o.limit);
        const bad = records.filter((r) => !r.verification?.verified);
        if (o.json) {
          printJson({ key, chainId: first?.chainId ?? '', verifiedSequence: first?.verifiedSequence ?? 0n, records, allVerified: bad.length === 0 });
        } else {
          for (const r of records) {
            const f = failures(r.verification);
            process.stdout.write(
              `${r.sequence}  ${isoTime(r.sealedAtMs)}  ${r.kind}  tenant=${r.tenant}  ${r.instanceId}\n` +
                `    hash ${r.hash}  prev ${r.prevHash}  ${f.length === 0 ? 'verified' : `NOT VERIFIED: ${f.join(', ')}`}\n`,
            );
          }
          process.stdout.write(
            `${records.length} record(s) of ${JSON.stringify(key)} on ${first?.chainId ?? ''}; ` +
              (bad.length === 0 ? `all verify against the chain (projected and verified up to ${first?.verifiedSequence ?? 0n})\n` : `${bad.length} do NOT verify\n`),
          );
        }
        if (bad.length > 0) throw new ExitError(1, `${bad.length} record(s) of ${JSON.stringify(key)} fail verification (first: sequence ${bad[0]?.sequence})`);
      });
    });
}
