/**
 * Rating one billable line (docs/read-models.md "Pricing"). Exact integer
 * arithmetic, rounded half-up once per line:
 *   cost = duration_ms × gpu_hour_rate / 3_600_000 + tokens × rate_per_mtok / 1_000_000
 *        = (duration_ms × gpu × 5 + tokens × tok × 18) / 18_000_000
 * The SQL re-rater (rerate.ts) computes the same expression with numeric div().
 */
const DENOMINATOR = 18_000_000n;

export function rateLine(durationMs: bigint, gpuHourMicroUsd: bigint, tokens: bigint, tokenMicroUsdPerMtok: bigint): bigint {
  const numerator = durationMs * gpuHourMicroUsd * 5n + tokens * tokenMicroUsdPerMtok * 18n;
  return (numerator + DENOMINATOR / 2n) / DENOMINATOR;
}
