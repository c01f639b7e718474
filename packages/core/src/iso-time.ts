/**
 * ISO 8601 times that mean one instant everywhere: with an explicit UTC
 * offset (`Z` or `±hh:mm`), or a date alone (UTC midnight). Anything else
 * that Date.parse accepts ("2026-11-01T00:00", "Nov 1 2026") is read in the
 * process's local time zone, so the same text would name different instants
 * on different machines: a price book taking effect, or a usage window
 * summed for billing, hours apart. Such input is refused (undefined).
 */
const ISO_TIME_RE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/** Unix milliseconds of `v`, or undefined when it is not such a time (or names a date that does not exist). */
export function parseUtcIsoTime(v: string): bigint | undefined {
  const m = ISO_TIME_RE.exec(v);
  if (!m) return undefined;
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) return undefined;
  // Date.parse rolls impossible dates over (2026-02-30 -> 2026-03-02): require the calendar date to exist.
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d) return undefined;
  if (Number(m[4] ?? 0) > 23 || Number(m[5] ?? 0) > 59 || Number(m[6] ?? 0) > 59) return undefined;
  return BigInt(ms);
}
