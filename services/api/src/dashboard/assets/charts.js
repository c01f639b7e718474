// Small inline-SVG charts for the hwledger dashboard: no library, no CDN.
// Every text node is set with textContent (never innerHTML): tenant names and
// reasons come from the ledger and must not become markup.

const SVG = 'http://www.w3.org/2000/svg';
export const PALETTE = ['#4e9af1', '#f28e2b', '#59a14f', '#e15759', '#b07aa1', '#76b7b2', '#edc948', '#ff9da7', '#9c755f', '#bab0ac'];

function el(name, attrs = {}, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function compact(n) {
  const a = Math.abs(n);
  if (a >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (a >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

function timeLabel(ms, bucketMs) {
  const d = new Date(ms);
  const pad = (x) => String(x).padStart(2, '0');
  if (bucketMs >= 86_400_000) return `${d.getUTCMonth() + 1}/${d.getUTCDate()}`;
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

function frame(width, height, max, fmt, x0) {
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img' });
  const top = 10;
  const bottom = height - 22;
  for (let i = 0; i <= 4; i++) {
    const y = bottom - ((bottom - top) * i) / 4;
    svg.append(el('line', { x1: x0, x2: width - 6, y1: y, y2: y, class: 'grid' }));
    svg.append(el('text', { x: x0 - 6, y: y + 4, class: 'axis', 'text-anchor': 'end' }, fmt((max * i) / 4)));
  }
  return { svg, top, bottom };
}

function xTicks(svg, buckets, bucketMs, xOf, y) {
  const step = Math.max(1, Math.ceil(buckets.length / 8));
  buckets.forEach((b, i) => {
    if (i % step !== 0) return;
    svg.append(el('text', { x: xOf(i), y, class: 'axis', 'text-anchor': 'middle' }, timeLabel(b, bucketMs)));
  });
}

/** Multi-series line chart. series: [{name, values}], one value per bucket. */
export function lineChart({ title, buckets, bucketMs, series, format = compact, width = 560, height = 220 }) {
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values)));
  const x0 = 48;
  const { svg, top, bottom } = frame(width, height, max, format, x0);
  const n = Math.max(1, buckets.length - 1);
  const xOf = (i) => x0 + ((width - 6 - x0) * i) / n;
  const yOf = (v) => bottom - ((bottom - top) * v) / max;
  series.forEach((s, k) => {
    const color = PALETTE[k % PALETTE.length];
    const d = s.values.map((v, i) => `${i === 0 ? 'M' : 'L'}${xOf(i).toFixed(1)},${yOf(v).toFixed(1)}`).join(' ');
    const path = el('path', { d, fill: 'none', stroke: color, 'stroke-width': 2, class: 'series' });
    path.append(el('title', {}, s.name));
    svg.append(path);
  });
  xTicks(svg, buckets, bucketMs, xOf, height - 6);
  return wrap(title, svg, series.map((s, k) => [s.name, PALETTE[k % PALETTE.length]]));
}

/** Stacked bar chart. series: [{name, values}]. */
export function stackedBars({ title, buckets, bucketMs, series, format = compact, width = 560, height = 220 }) {
  const totals = buckets.map((_, i) => series.reduce((a, s) => a + (s.values[i] ?? 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const x0 = 48;
  const { svg, top, bottom } = frame(width, height, max, format, x0);
  const slot = (width - 6 - x0) / Math.max(1, buckets.length);
  const bw = Math.max(1, slot * 0.7);
  const xOf = (i) => x0 + slot * i + slot / 2;
  buckets.forEach((_, i) => {
    let y = bottom;
    series.forEach((s, k) => {
      const v = s.values[i] ?? 0;
      if (v <= 0) return;
      const h = ((bottom - top) * v) / max;
      y -= h;
      const r = el('rect', { x: (xOf(i) - bw / 2).toFixed(1), y: y.toFixed(1), width: bw.toFixed(1), height: h.toFixed(1), fill: PALETTE[k % PALETTE.length], class: 'bar' });
      r.append(el('title', {}, `${s.name}: ${v}`));
      svg.append(r);
    });
  });
  xTicks(svg, buckets, bucketMs, xOf, height - 6);
  return wrap(title, svg, series.map((s, k) => [s.name, PALETTE[k % PALETTE.length]]));
}

/** A horizontal gauge bar (0..1) with a label, for VRAM and utilization. */
export function meter(fraction, label, warnAt = 0.85) {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
  const svg = el('svg', { viewBox: '0 0 100 10', class: 'meter', preserveAspectRatio: 'none', role: 'img' });
  svg.append(el('rect', { x: 0, y: 0, width: 100, height: 10, class: 'meter-bg' }));
  svg.append(el('rect', { x: 0, y: 0, width: (f * 100).toFixed(1), height: 10, class: f >= warnAt ? 'meter-hot' : 'meter-fill' }));
  const wrapEl = document.createElement('div');
  wrapEl.className = 'meter-wrap';
  const span = document.createElement('span');
  span.textContent = label;
  wrapEl.append(svg, span);
  return wrapEl;
}

function wrap(title, svg, legend) {
  const fig = document.createElement('figure');
  fig.className = 'chart-box';
  const cap = document.createElement('figcaption');
  cap.textContent = title;
  svg.setAttribute('aria-label', title);
  const leg = document.createElement('div');
  leg.className = 'legend';
  for (const [name, color] of legend) {
    const item = document.createElement('span');
    const sw = document.createElement('i');
    sw.style.background = color;
    item.append(sw, document.createTextNode(name));
    leg.append(item);
  }
  fig.append(cap, svg, leg);
  return fig;
}
