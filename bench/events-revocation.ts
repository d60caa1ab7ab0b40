// Issue 26's revocation bound: from the service's answer to a revocation (sent by a client without
// a cache) to a caching client's get() of that session failing. Each revocation ends a session that
// every caching client holds (a second get() was a hit); then each caching client asks get() again
// and again, about every millisecond, until it fails with token_not_found (the event dropped the
// session, and the service said it is gone), for at most GIVE_UP_MS.
import { SessionsClient, SessionsError, type SessionWithToken } from '../client/src/index.js'
import { percentile, step } from './report.js'

/** The revocations, in turn: /del, /del_user, /del_ip, /rotate (the old token's get() fails). */
export const KINDS = ['/del', '/del_user', '/del_ip', '/rotate'] as const
type Kind = typeof KINDS[number]

/** A client that has not seen get() fail this long after the answer counts as a failure. */
const GIVE_UP_MS = 2000
const POLL_MS = 1
/** Tries at a hit (a get() answered from memory) before a session counts as not cached. */
const HIT_TRIES = 5

/** Latencies in ms: p50, p99 and max over every (revocation, caching client); failures as Infinity. */
export interface LatencySummary {
  samples: number
  p50: number
  p99: number
  max: number
  /** Gave up after GIVE_UP_MS, or get() failed otherwise. */
  failures: number
}

export interface RevocationResult {
  clients: number
  revocations: number
  all: LatencySummary
  byKind: Record<Kind, LatencySummary>
  /** Sessions that a caching client could not be made to hold (no hit in HIT_TRIES): not revoked, not counted. */
  notCached: number
  /** Other failures of get() while polling, by code. */
  otherErrors: Record<string, number>
  seconds: number
}

/** p50, p99 and max of some latencies; a failure is an Infinity among them. */
export function summarize (latencies: number[]): LatencySummary {
  return {
    samples: latencies.length,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: percentile(latencies, 100),
    failures: latencies.filter((ms) => ms === Infinity).length
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Until all are connected and current (bounded: 10 s). */
async function streamsUp (clients: SessionsClient[]): Promise<void> {
  const until = performance.now() + 10_000
  while (!clients.every((c) => c.cacheStats()?.streamConnected === true)) {
    if (performance.now() > until) throw new Error('the caching clients\' event streams did not connect within 10 s')
    await sleep(10)
  }
}

/** Makes `client` hold the session: a get() from the service, then one answered from memory. */
async function cache (client: SessionsClient, token: string): Promise<boolean> {
  for (let i = 0; i < HIT_TRIES; i++) {
    await client.get(token)
    const hits = client.cacheStats()!.hits
    await client.get(token)
    if (client.cacheStats()!.hits === hits + 1) return true
  }
  return false
}

/** ms from t0 until the client's get() fails with token_not_found; Infinity after GIVE_UP_MS or another error. */
async function untilFails (client: SessionsClient, token: string, t0: number, errors: Record<string, number>): Promise<number> {
  while (performance.now() - t0 < GIVE_UP_MS) {
    try {
      await client.get(token)
    } catch (err) {
      const now = performance.now()
      const code = err instanceof SessionsError ? err.code : 'thrown'
      if (code === 'token_not_found') return now - t0
      errors[code] = (errors[code] ?? 0) + 1
      return Infinity
    }
    await sleep(POLL_MS)
  }
  return Infinity
}

/** Sends one revocation of `session` (made for `userId` at `ip`) through the plain client. */
async function revoke (plain: SessionsClient, kind: Kind, session: SessionWithToken): Promise<void> {
  switch (kind) {
    case '/del': await plain.delete(session.token); break
    case '/del_user': await plain.deleteUser(session.user_id); break
    case '/del_ip': await plain.deleteIp(session.ip); break
    case '/rotate': await plain.rotate(session.token); break
  }
}

/**
 * `revocations` revocations (KINDS in turn) with `clients` caching clients in this process, one
 * after the other; `base` numbers the users and addresses so that no two revocations (of this
 * run's phases) share one: each /del_user and /del_ip ends exactly the session measured.
 */
export async function measureRevocations (url: string, clients: number, revocations: number, base: number): Promise<RevocationResult> {
  step(`revocations: ${revocations} (${KINDS.join(', ')} in turn) with ${clients} caching client${clients === 1 ? '' : 's'}, each polling get() every ${POLL_MS} ms`)
  const plain = new SessionsClient({ baseUrl: url, retries: 0 })
  const caching = Array.from({ length: clients }, () => new SessionsClient({ baseUrl: url, retries: 0, cache: { ttlMs: 600_000, max: 100_000 } }))
  const started = performance.now()
  const latencies: number[] = []
  const byKind = Object.fromEntries(KINDS.map((k) => [k, [] as number[]])) as Record<Kind, number[]>
  const otherErrors: Record<string, number> = {}
  let notCached = 0
  try {
    await streamsUp(caching)
    for (let i = 0; i < revocations; i++) {
      const kind = KINDS[i % KINDS.length]
      const n = base + i
      const session = await plain.create(7_000_000 + n, `172.${16 + ((n >>> 16) & 15)}.${(n >>> 8) & 255}.${n & 255}`)
      const held = await Promise.all(caching.map(async (c) => await cache(c, session.token)))
      if (!held.every(Boolean)) {
        notCached++
        continue
      }
      await revoke(plain, kind, session)
      const t0 = performance.now()
      const measured = await Promise.all(caching.map(async (c) => await untilFails(c, session.token, t0, otherErrors)))
      latencies.push(...measured)
      byKind[kind].push(...measured)
    }
  } finally {
    await Promise.all(caching.map(async (c) => await c.close()))
  }
  return {
    clients,
    revocations,
    all: summarize(latencies),
    byKind: Object.fromEntries(KINDS.map((k) => [k, summarize(byKind[k])])) as Record<Kind, LatencySummary>,
    notCached,
    otherErrors,
    seconds: (performance.now() - started) / 1000
  }
}
