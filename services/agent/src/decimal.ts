/**
 * Exact decimal-string arithmetic for nvidia-smi readings: "612.34" W becomes
 * 612340 mW by moving the decimal point, never through a float (0.1 + 0.2
 * style rounding would make the ledger disagree with the device by a milliwatt).
 */
const DECIMAL_RE = /^(-?)([0-9]+)(?:\.([0-9]+))?$/;

/**
 * Parses a plain decimal ("42", "-5", "612.34") scaled by 10^scale, rounding
 * half away from zero beyond `scale` fraction digits. Returns undefined when
 * `text` is not a plain decimal (no exponent, no '+', no spaces).
 */
export function parseScaledDecimal(text: string, scale: number): bigint | undefined {
  const m = DECIMAL_RE.exec(text);
  if (!m) return undefined;
  const negative = m[1] === '-';
  const whole = m[2]!;
  const frac = m[3] ?? '';
  const kept = frac.slice(0, scale).padEnd(scale, '0');
  let value = BigInt(whole) * 10n ** BigInt(scale) + (kept === '' ? 0n : BigInt(kept));
  const next = frac.charCodeAt(scale);
  if (!Number.isNaN(next) && next >= 0x35 /* '5' */) value += 1n;
  return negative ? -value : value;
}

/** Parses a non-negative decimal integer with no sign, fraction or spaces. */
export function parseUnsignedInteger(text: string): bigint | undefined {
  return /^[0-9]+$/.test(text) ? BigInt(text) : undefined;
}
