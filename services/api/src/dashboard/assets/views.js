// Rendering of each dashboard section. Data from the ledger is inserted with
// textContent only.
import { compact, lineChart, meter, stackedBars } from './charts.js';

export function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export const usd = (micro) => {
  const n = Number(micro) / 1e6;
  return `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: n < 10 ? 4 : 2 })}`;
};
const intFmt = (s) => BigInt(s).toLocaleString('en-US');
export const shortHash = (hex) => (hex ? `${hex.slice(0, 12)}…${hex.slice(-6)}` : '—');
export const ago = (ms) => {
  if (!ms) return '—';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
};
const utc = (ms) => (ms ? new Date(Number(ms)).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '—');

function badge(ok, text) {
  return h('span', { class: `badge ${ok === true ? 'ok' : ok === false ? 'bad' : 'unknown'}` }, text);
}

/** Chains: status cards. chains: dashboard rows merged with API status and the last verification. */
export function renderChains(target, chains) {
  target.replaceChildren(
    ...chains.map((c) =>
      h(
        'article',
        { class: 'card chain', 'data-chain': c.chainId },
        h('header', {}, h('h3', {}, c.chainId), badge(c.status === 'ok', c.status === 'ok' ? 'verified' : c.status)),
        h(
          'dl',
          {},
          h('dt', {}, 'head sequence'),
          h('dd', { class: 'mono', 'data-field': 'head' }, c.streamSequence ? intFmt(c.streamSequence) : intFmt(c.headSequence)),
          h('dt', {}, 'verified up to'),
          h('dd', { class: 'mono' }, intFmt(c.verifiedSequence)),
          h('dt', {}, 'head hash (verified)'),
          h('dd', { class: 'mono', title: c.verifiedHash }, shortHash(c.verifiedHash)),
          h('dt', {}, 'sealing rate'),
          h('dd', { 'data-field': 'rate' }, c.liveRatePerSec !== undefined ? `${c.liveRatePerSec.toFixed(1)} records/s` : `${c.sealingRatePerSec.toFixed(1)} records/s (last 1000)`),
          h('dt', {}, 'projector lag'),
          h('dd', { class: Number(c.lagRecords ?? 0) > 1000 ? 'warn' : '' }, `${intFmt(String(c.lagRecords ?? 0))} records`),
          h('dt', {}, 'last sealed'),
          h('dd', {}, ago(c.lastSealedAtMs)),
          h('dt', {}, 'last verification'),
          h(
            'dd',
            { 'data-field': 'verification' },
            c.verification
              ? [
                  badge(c.verification.ok, c.verification.ok ? 'ok' : `failed at ${c.verification.firstBadSequence} (${c.verification.reason})`),
                  ` ${intFmt(c.verification.from)}–${intFmt(c.verification.to)}, ${ago(c.verification.atMs)}`,
                ]
              : '—',
          ),
        ),
        c.status === 'broken' ? h('p', { class: 'alert' }, `First bad record ${c.brokenSequence}: ${c.brokenReason} — ${c.brokenMessage ?? ''}`) : null,
      ),
    ),
  );
}

/**
 * The fleet by region: `{ devices, regions }` from /dashboard/api/fleet. The
 * device list stops at a limit (2,000 by default); each region's header
 * counts all its devices, and says how many of them are listed when not all.
 */
export function renderFleet(target, { devices, regions }) {
  const byRegion = new Map();
  for (const r of regions) byRegion.set(r.chainId, []);
  for (const d of devices) {
    if (!byRegion.has(d.chainId)) byRegion.set(d.chainId, []);
    byRegion.get(d.chainId).push(d);
  }
  if (byRegion.size === 0) {
    target.replaceChildren(h('p', { class: 'empty' }, 'No devices reported yet.'));
    return;
  }
  const summaries = new Map(regions.map((r) => [r.chainId, r]));
  target.replaceChildren(
    ...[...byRegion.entries()].map(([region, ds]) => {
      const sum = summaries.get(region) ?? { devices: ds.length, listed: ds.length, vramUsedMib: 0, vramTotalMib: 0, powerMw: 0 };
      const cut = sum.listed < sum.devices ? h('p', { class: 'muted cut' }, `Listing ${sum.listed.toLocaleString('en-US')} of ${sum.devices.toLocaleString('en-US')} GPUs (the list stops at ${devices.length.toLocaleString('en-US')} devices in all); the totals above count every GPU.`) : undefined;
      return h(
        'section',
        { class: 'region card', 'data-region': region },
        h('header', {}, h('h3', {}, region), h('span', { class: 'muted' }, `${sum.devices.toLocaleString('en-US')} GPUs · ${(sum.vramUsedMib / 1024).toFixed(0)} / ${(sum.vramTotalMib / 1024).toFixed(0)} GiB VRAM · ${(sum.powerMw / 1e6).toFixed(2)} kW`)),
        cut,
        h(
          'table',
          { class: 'devices' },
          h('thead', {}, h('tr', {}, ...['device', 'type', 'VRAM', 'utilization', 'temp', 'power', 'seen'].map((t) => h('th', {}, t)))),
          h(
            'tbody',
            {},
            ...ds.map((d) =>
              h(
                'tr',
                { 'data-device': d.deviceId },
                h('td', { class: 'device', title: `${d.deviceId}${d.hostname ? ` on ${d.hostname}` : ''}` }, h('span', { class: 'mono' }, d.deviceId.length > 18 ? `${d.deviceId.slice(0, 17)}…` : d.deviceId), h('br'), h('span', { class: 'muted host' }, d.hostname ?? (d.registered ? '' : 'unregistered'))),
                h('td', { class: 'type', title: d.deviceType ?? '' }, (d.deviceType ?? '—').replace(/^NVIDIA /, '')),
                h('td', {}, d.vramTotalMib ? meter((d.vramUsedMib ?? 0) / d.vramTotalMib, `${((d.vramUsedMib ?? 0) / 1024).toFixed(1)}/${(d.vramTotalMib / 1024).toFixed(0)} GiB`) : '—'),
                h('td', {}, d.utilizationPct === null ? '—' : meter(d.utilizationPct / 100, `${d.utilizationPct}%`, 0.95)),
                h('td', { class: d.temperatureMc !== null && d.temperatureMc >= 85000 ? 'warn' : '' }, d.temperatureMc === null ? '—' : `${(d.temperatureMc / 1000).toFixed(1)} °C`),
                h('td', {}, d.powerMw === null ? '—' : `${(d.powerMw / 1000).toFixed(0)} W`),
                h('td', { class: 'muted nowrap' }, ago(d.lastSeenAtMs).replace(' ago', '')),
              ),
            ),
          ),
        ),
      );
    }),
  );
}

const money = (micro) => {
  const d = micro / 1e6;
  if (d === 0) return '$0';
  if (d < 0.01) return `$${d.toFixed(4)}`;
  if (d < 10) return `$${d.toFixed(2)}`;
  return `$${compact(d)}`;
};

export function renderTenants(target, t) {
  const series = (pick) => t.tenants.map((x) => ({ name: x.tenant, values: x[pick] }));
  const ms = (v) => (v >= 3_600_000 ? `${(v / 3_600_000).toFixed(1)}h` : v >= 60_000 ? `${(v / 60_000).toFixed(1)}m` : `${(v / 1000).toFixed(0)}s`);
  const per = t.bucketMs >= 86_400_000 ? 'day' : t.bucketMs >= 3_600_000 ? 'hour' : 'minute';
  target.replaceChildren(
    h(
      'div',
      { class: 'charts' },
      lineChart({ title: `Tokens per ${per}`, buckets: t.buckets, bucketMs: t.bucketMs, series: series('tokens') }),
      lineChart({ title: `Compute per ${per}`, buckets: t.buckets, bucketMs: t.bucketMs, series: series('computeMs'), format: ms }),
      lineChart({ title: `Cost per ${per} (USD)`, buckets: t.buckets, bucketMs: t.bucketMs, series: series('costMicroUsd'), format: money }),
      stackedBars({ title: `Completion reasons per ${per}`, buckets: t.buckets, bucketMs: t.bucketMs, series: t.reasons.map((r) => ({ name: r.reason, values: r.counts })) }),
    ),
    h(
      'table',
      { class: 'totals' },
      h('thead', {}, h('tr', {}, h('th', {}, 'tenant'), ...['requests', 'tokens', 'compute', 'cost'].map((x) => h('th', { class: 'num' }, x)))),
      h(
        'tbody',
        {},
        ...t.totals.map((x) =>
          h('tr', { 'data-tenant': x.tenant }, h('td', {}, x.tenant), h('td', { class: 'num' }, intFmt(x.requests)), h('td', { class: 'num' }, intFmt(x.tokens)), h('td', { class: 'num' }, ms(Number(x.computeMs))), h('td', { class: 'num' }, usd(x.costMicroUsd))),
        ),
      ),
    ),
  );
}

const FLAG_ROWS = 15;

export function renderFlags(target, f, openTrail) {
  if (f.items.length === 0) {
    target.replaceChildren(h('p', { class: 'empty' }, 'No reconciliation flags.'));
    return;
  }
  target.replaceChildren(
    h('p', { class: 'flag-counts' }, ...f.counts.map((c) => h('span', { class: 'badge warn' }, `${c.flag}: ${c.n}`)), h('span', { class: 'muted' }, ` newest ${Math.min(FLAG_ROWS, f.items.length)} shown (hwledger reconcile, or GET /v1/reconciliation/flags, lists all)`)),
    h(
      'table',
      { class: 'flags' },
      h('thead', {}, h('tr', {}, ...['chain', 'job', 'flag', 'detail', 'predicted → actual VRAM', 'predicted → actual cost', 'chain time'].map((x) => h('th', {}, x)))),
      h(
        'tbody',
        {},
        ...f.items.slice(0, FLAG_ROWS).map((x) =>
          h(
            'tr',
            { 'data-job': x.jobId },
            h('td', {}, x.chainId),
            h('td', {}, h('a', { href: '#audit', class: 'mono', onclick: () => openTrail(x.chainId, x.jobId) }, x.jobId)),
            h('td', {}, h('span', { class: 'badge warn' }, x.flag)),
            h('td', {}, x.detail),
            h('td', { class: 'num' }, x.predictedVramMib !== null ? `${x.predictedVramMib} → ${x.actualVramMib ?? '—'} MiB` : '—'),
            h('td', { class: 'num' }, x.predictedCostMicroUsd !== null ? `${usd(x.predictedCostMicroUsd)} → ${x.actualCostMicroUsd !== null ? usd(x.actualCostMicroUsd) : '—'}` : '—'),
            h('td', { class: 'muted' }, utc(x.chainTimeMs)),
          ),
        ),
      ),
    ),
  );
}

export function renderRecent(target, r, openTrail, chain) {
  const chip = (key, label) => h('button', { type: 'button', class: 'chip mono', onclick: () => openTrail(chain, key) }, label);
  target.replaceChildren(
    h('div', {}, h('span', { class: 'muted' }, 'recent jobs: '), ...r.jobs.slice(0, 6).map((j) => chip(j.jobId, j.jobId))),
    h('div', {}, h('span', { class: 'muted' }, 'recent requests: '), ...r.requests.slice(0, 6).map((q) => chip(q.requestId, q.requestId))),
  );
}

export function renderTrail(target, trail) {
  const allOk = trail.records.every((r) => r.verification.verified);
  target.replaceChildren(
    h(
      'p',
      {},
      badge(allOk, allOk ? 'every record verified' : 'verification problem'),
      ` ${trail.records.length} record(s) for `,
      h('span', { class: 'mono' }, trail.key),
      ` on ${trail.chainId}; chain verified up to ${intFmt(trail.verifiedSequence)}`,
    ),
    h(
      'table',
      { class: 'trail' },
      h('thead', {}, h('tr', {}, ...['seq', 'kind', 'tenant', 'sealed (UTC)', 'prev hash', 'hash', 'hash ok', 'link ok', 'status'].map((x) => h('th', {}, x)))),
      h(
        'tbody',
        {},
        ...trail.records.map((r) =>
          h(
            'tr',
            { 'data-sequence': r.sequence },
            h('td', { class: 'num mono' }, r.sequence),
            h('td', {}, r.kind),
            h('td', {}, r.tenant || '—'),
            h('td', { class: 'muted' }, utc(r.sealedAtMs)),
            h('td', { class: 'mono', title: r.prevHash }, shortHash(r.prevHash)),
            h('td', { class: 'mono', title: r.hash }, shortHash(r.hash)),
            h('td', {}, badge(r.verification.hashOk, r.verification.hashOk ? '✓' : '✗')),
            h('td', {}, badge(r.verification.linkOk, r.verification.linkOk ? '✓' : '✗')),
            h('td', {}, badge(r.verification.verified, r.verification.verified ? 'verified' : r.verification.withinVerifiedPrefix ? 'FAILED' : 'pending')),
          ),
        ),
      ),
    ),
  );
}

// ---- checkpoints & proofs ----

const VALIDITY_CLASS = { valid: 'ok', invalid: 'bad' };
/** A signature validity badge: valid = ok, invalid = bad, anything else (unknown) muted. */
function validityBadge(validity, text, title) {
  const v = validity || 'unknown';
  return h('span', { class: `badge ${VALIDITY_CLASS[v] ?? 'unknown'}`, 'data-validity': v, title }, text ?? v);
}
/** u64 fields arrive as decimal strings; absent means 0 (proto3 JSON). */
const u64 = (s) => intFmt(s ?? '0');
const when = (ms) => (Number(ms ?? 0) > 0 ? `${utc(ms)} (${ago(Number(ms))})` : '—');
const hashCell = (hex) => h('span', { class: 'mono', title: hex }, shortHash(hex));

function checkpointRows(r) {
  const l = r.latest ?? r.checkpoints?.[0];
  const sigs = l?.signatures ?? [];
  const archive = r.lastArchive;
  const repl = r.lastReplication;
  const anchor = r.archiveAnchor;
  return [
    h('dt', {}, 'latest checkpoint'),
    h('dd', { 'data-field': 'size' }, l ? `${u64(l.sequence)} records` : 'none yet'),
    h('dt', {}, 'issued'),
    h('dd', { 'data-field': 'time' }, l ? when(l.timeMs) : '—'),
    h('dt', {}, 'root hash'),
    h('dd', { 'data-field': 'root' }, l ? hashCell(l.rootHash) : '—'),
    h('dt', {}, 'signatures'),
    h(
      'dd',
      { 'data-field': 'signatures', class: 'sigs' },
      sigs.length ? sigs.map((s) => validityBadge(s.validity, `${s.keyName ?? '?'}: ${s.validity || 'unknown'}`, `key ${s.keyName ?? '?'}+${s.keyId ?? ''}`)) : '—',
    ),
    h('dt', {}, 'checkpoints'),
    h('dd', { 'data-field': 'count' }, u64(r.checkpointCount)),
    h('dt', {}, 'archive anchor'),
    h('dd', { 'data-field': 'anchor' }, anchor ? [`record ${u64(anchor.sequence)} · `, hashCell(anchor.hash)] : h('span', { class: 'muted' }, 'nothing archived')),
    h('dt', {}, 'last archive'),
    h(
      'dd',
      { 'data-field': 'archive', title: archive?.dir },
      archive
        ? `records 1–${u64(archive.cut)}, ${u64(archive.segments)} segment(s), ${u64(archive.purged)} purged, ${u64(archive.deletedRows)} rows deleted, ${ago(Number(archive.atMs ?? 0))}`
        : h('span', { class: 'muted' }, 'none yet'),
    ),
    h('dt', {}, 'last replication'),
    h(
      'dd',
      { 'data-field': 'replication', title: repl?.dir },
      repl
        ? [`records 1–${u64(repl.lastSequence)}, checkpoint ${u64(repl.lastCheckpoint)}, commit `, h('span', { class: 'mono', title: repl.commit }, (repl.commit ?? '').slice(0, 10) || '—'), `, ${ago(Number(repl.atMs ?? 0))}`]
        : h('span', { class: 'muted' }, 'none yet'),
    ),
    h('dt', {}, 'verifier keys'),
    h('dd', { class: 'mono', 'data-field': 'keys' }, r.trustedKeys?.length ? r.trustedKeys.join(', ') : h('span', { class: 'muted' }, 'none (start the API with --checkpoint-key)')),
  ];
}

/**
 * Checkpoints per chain (GET /v1/chains/{id}/checkpoints): items are
 * { chainId, result } or { chainId, error } (an ApiError), each its own card.
 */
export function renderCheckpoints(target, items) {
  if (items.length === 0) {
    target.replaceChildren(h('p', { class: 'empty' }, 'No chains yet.'));
    return;
  }
  target.replaceChildren(
    ...items.map(({ chainId, result: r, error }) => {
      const l = r ? (r.latest ?? r.checkpoints?.[0]) : undefined;
      return h(
        'article',
        { class: 'card checkpoint', 'data-chain': chainId, 'data-error': error ? error.code ?? 'ERROR' : undefined },
        h('header', {}, h('h3', {}, chainId), error ? badge(undefined, 'unavailable') : l ? validityBadge(l.validity, `checkpoint ${l.validity || 'unknown'}`) : badge(undefined, 'no checkpoint yet')),
        error ? h('p', { class: error.code === 'FAILED_PRECONDITION' ? 'muted' : 'bad' }, error.message) : h('dl', {}, checkpointRows(r)),
      );
    }),
  );
}

/**
 * The fleet anchor (GET /v1/fleet/status): entries, head, and per region the
 * newest checkpoint it recorded. chains: the dashboard's chain ids (a chain
 * missing from the anchor shows as not anchored yet). error: an ApiError.
 */
export function renderFleetAnchor(target, f, chains, error) {
  if (error) {
    const expected = error.code === 'FAILED_PRECONDITION' || error.status === 404;
    target.replaceChildren(
      h(
        'article',
        { class: 'card anchor', 'data-error': error.code ?? 'ERROR' },
        h('header', {}, h('h3', {}, 'fleet anchor'), badge(undefined, error.code === 'FAILED_PRECONDITION' ? 'not set up' : error.status === 404 ? 'none yet' : 'unavailable')),
        h('p', { class: expected ? 'muted' : 'bad' }, error.message),
      ),
    );
    return;
  }
  const regions = new Map((f.regions ?? []).map((r) => [r.chainId, r]));
  const ids = [...new Set([...regions.keys(), ...chains])].sort();
  target.replaceChildren(
    h(
      'article',
      { class: 'card anchor', 'data-fleet': f.fleet },
      h('header', {}, h('h3', {}, `fleet anchor ${f.fleet}`), h('span', { class: 'muted' }, `${u64(f.entries)} entries`)),
      h(
        'dl',
        {},
        h('dt', {}, 'head entry'),
        h('dd', { 'data-field': 'head-index' }, f.head ? u64(f.head.index) : 'none yet'),
        h('dt', {}, 'head hash'),
        h('dd', { 'data-field': 'head-hash' }, f.head ? hashCell(f.head.hash) : '—'),
      ),
      h(
        'table',
        { class: 'anchored' },
        h('thead', {}, h('tr', {}, h('th', {}, 'region chain'), h('th', { class: 'num' }, 'newest anchored checkpoint'), h('th', { class: 'num' }, 'anchor entry'), h('th', {}, 'checkpoint time (UTC)'))),
        h(
          'tbody',
          {},
          ...ids.map((id) => {
            const r = regions.get(id);
            return r
              ? h('tr', { 'data-region': id }, h('td', {}, id), h('td', { class: 'num mono' }, u64(r.sequence)), h('td', { class: 'num mono' }, u64(r.index)), h('td', { class: 'muted' }, when(r.timeMs)))
              : h('tr', { 'data-region': id, 'data-missing': 'true' }, h('td', {}, id), h('td', { class: 'muted', colspan: 3 }, 'not anchored yet'));
          }),
        ),
      ),
    ),
  );
}
