const BACKOFF_BASE_MS = 100
const BACKOFF_MAX_MS = 2000

/**
 * The wait before retry `retry` (1, 2...): exponential, `min(2000, 100 · 2^(retry-1))` ms, half of
 * it fixed and half random, so that many clients do not come back at once.
 */
export function backoffMs (retry: number): number {
  const step = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (retry - 1))
  return step / 2 + Math.random() * step / 2
}
