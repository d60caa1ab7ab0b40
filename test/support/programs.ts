// Programs the tests run besides Node (tarantool, php, chromium), found or not.

/**
 * Whether the tests that need the program `name` are to be skipped: when it was not found (`path`
 * undefined). Under CI (the CI variable set, not empty) a missing program throws instead, failing
 * the run: its tests would be skipped, and the run would stay green without them.
 */
export function missing (name: string, path: string | undefined): boolean {
  if (path !== undefined) return false
  if (process.env.CI) throw new Error(`${name} is missing, and CI is set: the tests that need it would be skipped. Install it, or unset CI to let them skip.`)
  return true
}
