/** Durations on the command line: `90d`, `12h`, `30m`, `45s`, `500ms`. */
import { HwlError } from '@hwledger/core';

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export function parseDuration(text: string, what = 'duration'): number {
  const m = /^([0-9]+)(ms|s|m|h|d|w)$/.exec(text.trim());
  if (!m) throw new HwlError('CONFIG', `${what} must look like 90d, 12h, 30m, 45s or 500ms, got ${JSON.stringify(text)}`);
  return Number(m[1]) * UNITS[m[2]!]!;
}
