// A get() answered from the caching client's memory against one that goes to the service, per call
// (one call at a time) and at a concurrency of 50, in alternating rounds: what a backend saves per
// lookup by holding GET /events open.
import { SessionsClient } from '../client/src/index.js'
import { median, step } from './report.js'

export interface CachedGetOptions {
  /** Sessions made and held (the hot tokens). */
  sessions: number
  /** Sequential calls of a round: cached, and uncached (far slower). */
  cachedCalls: number
  uncachedCalls: number
  concurrency: number
  /** Calls of a concurrent round, cached and uncached; each round also stops after `concurrentSeconds`. */
  concurrentCachedCalls: number
  concurrentUncachedCalls: number
  concurrentSeconds: number
  rounds: number
}

/** Medians over the rounds, with the lowest and highest. */
export interface Spread { median: number, min: number, max: number }

export interface CachedGetResult {
  /** ns per call, one at a time. */
  cachedNs: Spread
  /** µs per call, one at a time. */
  uncachedUs: Spread
  /** calls per second at the concurrency. */
  cachedRate: Spread
  uncachedRate: Spread
  /** This process's CPU µs per uncached call at the concurrency (the client's own cost: fetch, JSON). */
  uncachedClientCpuUs: Spread
  concurrency: number
  /** uncached / cached time per call, sequential (median of the per-round ratios). */
  speedup: number
  /** Answers from memory over all cached rounds: should be all of their calls. */
  hitRatio: number
}

const spread = (values: number[]): Spread => ({ median: median(values), min: Math.min(...values), max: Math.max(...values) })

/** `calls` get()s of the tokens in turn, `concurrency` at a time, for at most `seconds`: the calls made, ms, and this process's CPU µs per call. */
async function run (client: SessionsClient, tokens: string[], calls: number, concurrency: number, seconds: number): Promise<{ calls: number, ms: number, cpuUs: number }> {
  let next = 0
  const cpu = process.cpuUsage()
  const started = performance.now()
  const until = started + seconds * 1000
  const worker = async (): Promise<void> => {
    while (next < calls && performance.now() < until) {
      const i = next++
      await client.get(tokens[i % tokens.length])
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const { user, system } = process.cpuUsage(cpu)
  return { calls: next, ms: performance.now() - started, cpuUs: (user + system) / next }
}

/** Cached against uncached get(), `rounds` of each, alternating. */
export async function measureCachedGet (url: string, opts: CachedGetOptions): Promise<CachedGetResult> {
  const plain = new SessionsClient({ baseUrl: url, retries: 0 })
  const cached = new SessionsClient({ baseUrl: url, retries: 0, cache: { ttlMs: 600_000, max: opts.sessions * 2 } })
  try {
    step(`cached get(): ${opts.sessions} sessions, each looked up once through the caching client`)
    const tokens: string[] = []
    for (let i = 0; i < opts.sessions; i++) tokens.push((await plain.create(9_000_000 + i, '10.201.0.1')).token)
    const until = performance.now() + 10_000
    while (cached.cacheStats()?.streamConnected !== true && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 10))
    for (const token of tokens) await cached.get(token)
    // Warm both paths up (JIT, connections) before the first measured round.
    await run(cached, tokens, 20_000, 1, 5)
    await run(plain, tokens, 1000, opts.concurrency, 5)
    const before = cached.cacheStats()!
    const out = { cachedNs: [] as number[], uncachedUs: [] as number[], cachedRate: [] as number[], uncachedRate: [] as number[], uncachedClientCpuUs: [] as number[] }
    step(`cached get(): ${opts.rounds} rounds each, alternating: ${opts.cachedCalls} cached and ${opts.uncachedCalls} uncached calls one at a time; ` +
      `${opts.concurrentCachedCalls} and ${opts.concurrentUncachedCalls} ${opts.concurrency} at a time (at most ${opts.concurrentSeconds} s)`)
    for (let r = 0; r < opts.rounds; r++) {
      const c = await run(cached, tokens, opts.cachedCalls, 1, 60)
      out.cachedNs.push(c.ms * 1e6 / c.calls)
      const u = await run(plain, tokens, opts.uncachedCalls, 1, 60)
      out.uncachedUs.push(u.ms * 1e3 / u.calls)
      const cc = await run(cached, tokens, opts.concurrentCachedCalls, opts.concurrency, opts.concurrentSeconds)
      out.cachedRate.push(cc.calls / (cc.ms / 1000))
      const uc = await run(plain, tokens, opts.concurrentUncachedCalls, opts.concurrency, opts.concurrentSeconds)
      out.uncachedRate.push(uc.calls / (uc.ms / 1000))
      out.uncachedClientCpuUs.push(uc.cpuUs)
    }
    const after = cached.cacheStats()!
    const hits = after.hits - before.hits
    return {
      cachedNs: spread(out.cachedNs),
      uncachedUs: spread(out.uncachedUs),
      cachedRate: spread(out.cachedRate),
      uncachedRate: spread(out.uncachedRate),
      uncachedClientCpuUs: spread(out.uncachedClientCpuUs),
      concurrency: opts.concurrency,
      speedup: median(out.cachedNs.map((ns, i) => (out.uncachedUs[i] * 1000) / ns)),
      hitRatio: hits / (hits + after.misses - before.misses)
    }
  } finally {
    await cached.close()
  }
}
