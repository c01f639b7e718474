/**
 * `hwledger reconcile [JOB]`: the reconciliation report of one job
 * (GetReconciliation: predicted against actual VRAM and cost, telemetry,
 * flags), or without JOB the fleet's flagged jobs (ListFlaggedJobs) and the
 * predicted-against-actual totals per device type and model
 * (GetFleetReconciliation; operator keys only).
 */
import type { Command } from 'commander';
import type { query } from '@hwledger/proto';
import { intOption, printJson, table, usd, withApi, withApiOptions, type ApiConnectionOptions } from '../api-connection.js';

interface Options extends ApiConnectionOptions {
  chain?: string;
  flag?: string;
  limit: number;
}

const pct = (v: number | undefined): string => (v === undefined ? '-' : `${v > 0 ? '+' : ''}${v.toFixed(2)}%`);
const num = (v: bigint | undefined): string => (v === undefined ? '-' : v.toString());
const money = (v: bigint | undefined): string => (v === undefined ? '-' : usd(v));

function describe(r: query.ReconciliationReport): string {
  return (
    `job ${r.jobId} (${r.status}) tenant ${r.tenant} on device ${r.deviceId || '-'} (${r.deviceType || 'unknown type'}), model ${r.modelId || '-'}\n` +
    `  vram: predicted ${num(r.predictedVramMib)} MiB, actual ${num(r.actualVramMib)} MiB, variance ${pct(r.vramVariancePct)}, telemetry max ${num(r.telemetryMaxVramMib)} MiB\n` +
    `  cost: predicted ${money(r.predictedCostMicroUsd)}, actual ${money(r.actualCostMicroUsd)}, variance ${pct(r.costVariancePct)}, rated ${money(r.ratedCostMicroUsd)}${r.priceBookVersion ? ` (price book ${r.priceBookVersion})` : ''}\n` +
    (r.flags.length === 0 ? '  flags: none\n' : `  flags:\n${r.flags.map((f) => `    ${f.flag}: ${f.detail}`).join('\n')}\n`)
  );
}

export function register(program: Command): void {
  withApiOptions(
    program
      .command('reconcile')
      .argument('[job]', 'one job id (default: the fleet list of flagged jobs)')
      .description('Reconciliation of predicted against actual VRAM and cost: one job, or the flagged jobs of the fleet (from the query API)'),
  )
    .option('--chain <id>', 'chain (default: the API server\'s chain)')
    .option('--flag <flag>', 'only jobs with this flag (vram_variance, cost_variance, missing_completion, …)')
    .option('--limit <n>', 'at most this many flagged jobs', intOption('--limit', 1, 1_000_000), 1000)
    .action(async (job: string | undefined, o: Options) => {
      await withApi(o, async (c) => {
        const chainId = o.chain ?? '';
        if (job !== undefined) {
          const { report } = await c.getReconciliation({ chainId, jobId: job });
          if (o.json) printJson(report ?? {});
          else if (report) process.stdout.write(describe(report));
          return;
        }
        const flagged: query.FlaggedJob[] = [];
        let pageToken = '';
        do {
          const page = await c.listFlaggedJobs({ chainId, flag: o.flag ?? '', pageSize: Math.min(1000, o.limit - flagged.length), pageToken });
          flagged.push(...page.jobs);
          pageToken = page.nextPageToken;
        } while (pageToken !== '' && flagged.length < o.limit);
        const fleet = await c.getFleetReconciliation({ chainId });
        if (o.json) {
          printJson({ flagged, fleet: fleet.rows });
          return;
        }
        process.stdout.write(`${flagged.length} flagged job(s)\n`);
        if (flagged.length > 0) {
          process.stdout.write(
            table(
              ['job', 'status', 'device', 'type', 'model', 'vram_var', 'cost_var', 'flags'],
              flagged.map((f) => [f.jobId, f.status, f.deviceId, f.deviceType, f.modelId, pct(f.vramVariancePct), pct(f.costVariancePct), f.flags.map((x) => x.flag).join(',')]),
            ),
          );
        }
        if (fleet.rows.length > 0) {
          process.stdout.write('\nfleet: predicted against actual (paired jobs)\n');
          process.stdout.write(
            table(
              ['device_type', 'model', 'jobs', 'paired', 'flagged', 'vram_pred_mib', 'vram_actual_mib', 'cost_pred', 'cost_actual', 'cost_rated'],
              fleet.rows.map((r) => [
                r.deviceType || '-',
                r.modelId || '-',
                String(r.jobs),
                String(r.pairedJobs),
                String(r.flaggedJobs),
                String(r.predictedVramMib),
                String(r.actualVramMib),
                usd(r.predictedCostMicroUsd),
                usd(r.actualCostMicroUsd),
                usd(r.ratedCostMicroUsd),
              ]),
            ),
          );
        }
      });
    });
}
