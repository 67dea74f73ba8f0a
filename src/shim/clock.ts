/** Timestamps as the shim writes them: RFC 3339 in UTC with nanoseconds (Go's RFC3339Nano). */

/**
 * Now, with the wall clock's milliseconds and the monotonic clock's sub-millisecond digits
 * (JavaScript has no wall clock finer than 1 ms); trailing zeros of the fraction are
 * dropped, as Go's time.RFC3339Nano does.
 */
export function rfc3339Nano(ms: number = Date.now()): string {
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const sub = process.hrtime()[1] % 1_000_000;
  const frac = (iso.slice(20, 23) + String(sub).padStart(6, "0")).replace(/0+$/, "");
  return iso.slice(0, 19) + (frac ? `.${frac}` : "") + "Z";
}
