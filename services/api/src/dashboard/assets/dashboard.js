// hwledger SRE dashboard: polls the API every few seconds and renders the
// chains, fleet, tenants, checkpoints and the fleet anchor, reconciliation
// flags and audit trails.
import { ApiError, clearKey, getJson, getKey, setKey, takeKeyFromFragment } from './api.js';
import { h, renderChains, renderCheckpoints, renderFleet, renderFleetAnchor, renderFlags, renderRecent, renderTenants, renderTrail } from './views.js';

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 5_000;
const VERIFY_EVERY_MS = 30_000;
const VERIFY_SPAN = 1000n;

const state = { range: '1h', chain: '', verifications: new Map(), lastVerifyAt: new Map(), timer: undefined, trailChain: '', heads: new Map() };

/** Live sealing rate from the stream head seen at two polls (records/s), smoothed. */
function liveRate(chainId, head) {
  const now = Date.now();
  const prev = state.heads.get(chainId);
  let rate = prev?.rate;
  if (prev && now > prev.t) {
    const r = Number(head - prev.head) / ((now - prev.t) / 1000);
    rate = rate === undefined ? r : 0.5 * rate + 0.5 * r;
  }
  state.heads.set(chainId, { head, t: now, rate });
  return rate;
}

function showLogin(message) {
  $('login').hidden = false;
  $('main').hidden = true;
  $('login-error').textContent = message ?? '';
}

function status(text, bad = false) {
  const s = $('status');
  s.textContent = text;
  s.className = bad ? 'bad' : '';
}

async function verifyChain(chainId, verifiedSequence) {
  // Re-verify the latest records from their canonical bytes (API /v1/chains/{id}/verify).
  const to = BigInt(verifiedSequence);
  if (to === 0n) return;
  const from = to > VERIFY_SPAN ? to - VERIFY_SPAN + 1n : 1n;
  try {
    const r = await getJson(`/v1/chains/${encodeURIComponent(chainId)}/verify?from=${from}&to=${to}`);
    state.verifications.set(chainId, { ok: r.ok, from: r.from, to: r.to, firstBadSequence: r.firstBadSequence, reason: r.reason, atMs: Date.now() });
  } catch (e) {
    state.verifications.set(chainId, { ok: false, from: String(from), to: String(to), firstBadSequence: '?', reason: e.message, atMs: Date.now() });
  }
  state.lastVerifyAt.set(chainId, Date.now());
}

async function refreshChains() {
  const { chains } = await getJson('/dashboard/api/chains');
  const merged = await Promise.all(
    chains.map(async (c) => {
      let api = {};
      try {
        api = await getJson(`/v1/chains/${encodeURIComponent(c.chainId)}/status`);
      } catch {
        /* API status optional */
      }
      if (Date.now() - (state.lastVerifyAt.get(c.chainId) ?? 0) > VERIFY_EVERY_MS) await verifyChain(c.chainId, c.verifiedSequence);
      const stream = api.streamSequence && api.streamSequence !== '0' ? api.streamSequence : undefined;
      const lag = stream !== undefined ? BigInt(stream) - BigInt(c.verifiedSequence) : BigInt(c.headSequence) - BigInt(c.verifiedSequence);
      const head = stream !== undefined ? BigInt(stream) : BigInt(c.headSequence);
      return { ...c, streamSequence: stream, lagRecords: String(lag < 0n ? 0n : lag), verification: state.verifications.get(c.chainId), liveRatePerSec: liveRate(c.chainId, head) };
    }),
  );
  renderChains($('chains'), merged);
  const select = $('chain-select');
  const trailSelect = $('trail-chain');
  for (const sel of [select, trailSelect]) {
    const have = new Set([...sel.options].map((o) => o.value));
    for (const c of chains) if (!have.has(c.chainId)) sel.append(h('option', { value: c.chainId }, c.chainId));
  }
  if (!state.trailChain && chains[0]) {
    state.trailChain = chains[0].chainId;
    trailSelect.value = state.trailChain;
  }
  return chains;
}

/**
 * Checkpoints of each chain and the fleet anchor, straight from the API
 * (/v1/chains/{id}/checkpoints, /v1/fleet/status). Each card shows its own
 * error (no NATS, no --fleet, no anchor yet): the rest of the page goes on.
 */
async function refreshProofs(chainIds) {
  const [checkpoints, anchor] = await Promise.all([
    Promise.all(
      chainIds.map((chainId) =>
        getJson(`/v1/chains/${encodeURIComponent(chainId)}/checkpoints?page_size=1`).then(
          (result) => ({ chainId, result }),
          (error) => ({ chainId, error }),
        ),
      ),
    ),
    getJson('/v1/fleet/status').then(
      (result) => ({ result }),
      (error) => ({ error }),
    ),
  ]);
  renderCheckpoints($('checkpoints'), checkpoints);
  renderFleetAnchor($('fleet-anchor'), anchor.result, chainIds, anchor.error);
}

async function refresh() {
  try {
    const chains = await refreshChains();
    const [fleet, tenants, flags] = await Promise.all([
      getJson('/dashboard/api/fleet'),
      getJson(`/dashboard/api/tenants?range=${state.range}${state.chain ? `&chain=${encodeURIComponent(state.chain)}` : ''}`),
      getJson('/dashboard/api/flags'),
      refreshProofs(chains.map((c) => c.chainId)),
    ]);
    renderFleet($('fleet'), fleet);
    renderTenants($('tenants'), tenants);
    renderFlags($('flags'), flags, openTrail);
    if (state.trailChain) renderRecent($('recent'), await getJson(`/dashboard/api/recent?chain=${encodeURIComponent(state.trailChain)}`), openTrail, state.trailChain);
    status(`updated ${new Date().toLocaleTimeString()}`);
    document.body.dataset.loaded = 'true';
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
      clearKey();
      showLogin(e.message);
      return;
    }
    status(`refresh failed: ${e.message}`, true);
  }
}

async function openTrail(chainId, key) {
  state.trailChain = chainId;
  $('trail-chain').value = chainId;
  $('trail-key').value = key;
  $('trail').replaceChildren(h('p', { class: 'muted' }, 'loading…'));
  try {
    const t = await getJson(`/v1/audit/${encodeURIComponent(key)}?chain_id=${encodeURIComponent(chainId)}`);
    renderTrail($('trail'), t);
  } catch (e) {
    $('trail').replaceChildren(h('p', { class: 'bad' }, e.message));
  }
  $('audit').scrollIntoView({ block: 'start' });
}

function loop() {
  clearTimeout(state.timer);
  void refresh().finally(() => {
    state.timer = setTimeout(loop, REFRESH_MS);
  });
}

function start() {
  $('login').hidden = true;
  $('main').hidden = false;
  loop();
}

takeKeyFromFragment();
$('login-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  setKey($('login-key').value);
  start();
});
$('logout').addEventListener('click', () => {
  clearKey();
  showLogin('');
});
$('range').addEventListener('change', (ev) => {
  state.range = ev.target.value;
  loop();
});
$('chain-select').addEventListener('change', (ev) => {
  state.chain = ev.target.value;
  loop();
});
$('trail-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const key = $('trail-key').value.trim();
  if (key) void openTrail($('trail-chain').value, key);
});
$('trail-chain').addEventListener('change', (ev) => {
  state.trailChain = ev.target.value;
  loop();
});
if (getKey()) start();
else showLogin('');
