/**
 * `hwledger tenants [TENANT]`: usage and cost per tenant over a time range
 * (GetTenantSummary), for one tenant or for every tenant the key may see
 * (ListTenants: all for an operator key, its own for a tenant key).
 */
import type { Command } from 'commander';
import type { query } from '@hwledger/proto';
import { intOption, isoTime, printJson, table, timeOption, usd, withApi, withApiOptions, type ApiConnectionOptions } from '../api-connection.js';

interface Options extends ApiConnectionOptions {
  chain?: string;
  from?: bigint;
  to?: bigint;
  limit: number;
}

function describe(s: query.GetTenantSummaryResponse): string {
  const reasons = s.byReason.map((r) => `  ${r.reason}: ${r.requests} requests, ${r.tokens} tokens, ${r.computeMs} ms`).join('\n');
  return (
    `tenant ${s.tenant} on ${s.chainId}, ${isoTime(s.fromMs)} .. ${s.toMs === 0n ? 'now' : isoTime(s.toMs)}\n` +
    `  tokens ${s.tokens}, compute ${s.computeMs} ms, cost ${usd(s.costMicroUsd)} (price book ${s.priceBookVersions.join(', ') || 'none'}${s.unrated > 0n ? `; ${s.unrated} unrated` : ''})\n` +
    `  requests ${s.requests} (${usd(s.requestCostMicroUsd)}), jobs completed ${s.jobsCompleted} (${usd(s.jobCostMicroUsd)}), failed ${s.jobsFailed}\n` +
    (reasons ? `  by completion reason:\n${reasons.replace(/^ {2}/gm, '    ')}\n` : '')
  );
}

export function register(program: Command): void {
  withApiOptions(
    program
      .command('tenants')
      .argument('[tenant]', 'one tenant (default: every tenant the key may see)')
      .description('Tokens, compute ms, cost and completion reasons per tenant over a time range (from the query API)'),
  )
    .option('--chain <id>', 'chain (default: the API server\'s chain)')
    .option('--from <time>', 'range start: unix ms or ISO 8601 with its UTC offset (default: the beginning)', timeOption('--from'))
    .option('--to <time>', 'range end, exclusive: unix ms or ISO 8601 with its UTC offset (default: no end)', timeOption('--to'))
    .option('--limit <n>', 'at most this many tenants', intOption('--limit', 1, 100_000), 1000)
    .action(async (tenant: string | undefined, o: Options) => {
      await withApi(o, async (c) => {
        const range = { chainId: o.chain ?? '', fromMs: o.from ?? 0n, toMs: o.to ?? 0n };
        if (tenant !== undefined) {
          const s = await c.getTenantSummary({ ...range, tenant });
          if (o.json) printJson(s);
          else process.stdout.write(describe(s));
          return;
        }
        const names: string[] = [];
        let pageToken = '';
        do {
          const page = await c.listTenants({ chainId: range.chainId, pageSize: Math.min(1000, o.limit - names.length), pageToken });
          names.push(...page.tenants);
          pageToken = page.nextPageToken;
        } while (pageToken !== '' && names.length < o.limit);
        const summaries: query.GetTenantSummaryResponse[] = [];
        for (const t of names) summaries.push(await c.getTenantSummary({ ...range, tenant: t }));
        if (o.json) {
          printJson({ tenants: summaries });
          return;
        }
        process.stdout.write(
          table(
            ['tenant', 'requests', 'tokens', 'compute_ms', 'jobs', 'cost', 'price_books'],
            summaries.map((s) => [s.tenant, String(s.requests), String(s.tokens), String(s.computeMs), String(s.jobsCompleted), usd(s.costMicroUsd), s.priceBookVersions.join(',')]),
          ),
        );
      });
    });
}
