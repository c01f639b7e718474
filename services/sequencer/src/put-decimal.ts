/**
 * Decimal digits of a non-negative safe integer, written as ASCII at `o`;
 * returns the offset after them. For protocol lines and headers built
 * straight into bytes (record-headers.ts, frame-writer.ts).
 */
export function putDecimal(out: Uint8Array, o: number, v: number): number {
  if (v < 10) {
    out[o] = 48 + v;
    return o + 1;
  }
  let digits = 0;
  for (let x = v; x >= 1; x = Math.floor(x / 10)) digits++;
  let x = v;
  for (let i = o + digits - 1; i >= o; i--) {
    out[i] = 48 + (x % 10);
    x = Math.floor(x / 10);
  }
  return o + digits;
}
