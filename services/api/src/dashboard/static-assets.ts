/**
 * Serves the dashboard's static files from src/dashboard/assets (shipped as
 * they are: plain ES modules, CSS and SVG, no build step, no CDN). The
 * folder is found relative to this module, so the same path works from src/
 * (tests) and dist/ (the built API): both are <package>/{src,dist}/dashboard.
 *
 * Threats: path traversal (only names from a fixed allow-list are served),
 * script injection (a strict Content-Security-Policy: scripts and styles
 * from this origin only, no inline script, no eval, no third-party origin).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';

export const ASSETS_DIR = fileURLToPath(new URL('../../src/dashboard/assets/', import.meta.url));

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};

export const ASSET_NAMES = ['index.html', 'dashboard.js', 'charts.js', 'api.js', 'views.js', 'dashboard.css', 'favicon.svg'] as const;

export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Read on each request: a handful of small files, and edits show up without a restart. */
function load(name: string): Buffer {
  return readFileSync(join(ASSETS_DIR, name));
}

/** Answers GET of an asset name; false when `name` is not one. */
export function serveAsset(name: string, res: ServerResponse, head: boolean): boolean {
  if (!(ASSET_NAMES as readonly string[]).includes(name)) return false;
  const ext = name.slice(name.lastIndexOf('.') + 1);
  const body = load(name);
  res.writeHead(200, {
    'content-type': TYPES[ext] ?? 'application/octet-stream',
    'content-length': String(body.length),
    'cache-control': 'no-cache',
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
  });
  res.end(head ? undefined : body);
  return true;
}
