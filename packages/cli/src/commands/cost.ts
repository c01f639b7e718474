/**
 * `hwledger cost [--device ID]`: cost of completed jobs (total, jobs, average
 * per job; GetCostSummary), fleet-wide or for one device, and with --device
 * the device's latest dispatches (GetDispatchHistory). Operator keys only.
 */
import type { Command } from 'commander';
import type { query } from '@hwledger/proto';
import { intOption, isoTime, printJson, table, timeOption, usd, withApi, withApiOptions, type ApiConnectionOptions } from '../api-connection.js';

interface Options extends ApiConnectionOptions {
  chain?: string;
  device?: string;
  from?: bigint;
  to?: bigint;
  dispatches: number;
}

export function register(program: Command): void {
  withApiOptions(program.command('cost').description('Cost of completed jobs (total, jobs, average per job), fleet-wide or per device (from the query API)'))
    .option('--chain <id>', 'chain (default: the API server\'s chain)')
    .option('--device <id>', 'one device (adds its dispatch history)')
    .option('--from <time>', 'jobs completed at or after: unix ms or ISO 8601 with its UTC offset', timeOption('--from'))
    .option('--to <time>', 'jobs completed before: unix ms or ISO 8601 with its UTC offset', timeOption('--to'))
    .option('--dispatches <n>', 'with --device: how many recent dispatches to list (0 = none)', intOption('--dispatches', 0, 100_000), 20)
    .action(async (o: Options) => {
      await withApi(o, async (c) => {
        const chainId = o.chain ?? '';
        const summary = await c.getCostSummary({ chainId, deviceId: o.device ?? '', fromMs: o.from ?? 0n, toMs: o.to ?? 0n });
        const dispatches: query.DispatchRecord[] = [];
        if (o.device !== undefined && o.dispatches > 0) {
          let pageToken = '';
          do {
            const page = await c.getDispatchHistory({ chainId, deviceId: o.device, pageSize: Math.min(1000, o.dispatches - dispatches.length), pageToken });
            dispatches.push(...page.dispatches);
            pageToken = page.nextPageToken;
          } while (pageToken !== '' && dispatches.length < o.dispatches);
        }
        if (o.json) {
          printJson(o.device !== undefined ? { summary, dispatches } : { summary });
          return;
        }
        process.stdout.write(
          `${o.device !== undefined ? `device ${o.device}` : 'fleet'} on ${summary.chainId}: ${summary.jobs} completed job(s), ` +
            `total ${usd(summary.totalCostMicroUsd)}, average ${usd(summary.averageCostPerJobMicroUsd)} per job ` +
            `(price book ${summary.priceBookVersions.join(', ') || 'none'}${summary.unratedJobs > 0n ? `; ${summary.unratedJobs} unrated` : ''}; ` +
            `producers reported ${usd(summary.reportedCostMicroUsd)})\n`,
        );
        if (dispatches.length > 0) {
          process.stdout.write(
            table(
              ['job', 'status', 'model', 'tenant', 'dispatched', 'vram_req_mib', 'predicted', 'rated'],
              dispatches.map((d) => [d.jobId, d.status, d.modelId, d.tenant, isoTime(d.dispatchedAtMs), String(d.vramRequestedMib), usd(d.predictedCostMicroUsd), d.priceBookVersion > 0 ? usd(d.ratedCostMicroUsd) : '-']),
            ),
          );
        }
      });
    });
}
