// npm run soak -- --minutes N: mixed load (90% /get, 8% /new, 2% /del) at about half of the measured
// capacity for N minutes, reporting errors and latency per minute, and memory (service RSS,
// Tarantool arena) at the start and the end. Starts the service as `npm start` does (built, with
// its embedded Tarantool, data in a temporary directory) unless --url names a running one.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { connectConsole, type AdminConsole } from '../lib/admin-console.js'
import { buildService, cleanupOnExit, startService } from '../lib/processes.js'
import { CONSOLE_SOCKET_NAME } from '../src/embedded/tarantool.js'

const USAGE = `usage: npm run soak -- [--minutes N] [--rate REQ_PER_S] [--url URL [--pid PID] [--console SOCKET]]
  --minutes  how long the load runs, 1 to 240 (default 10)
  --rate     requests per second (default: half of the capacity measured first)
  --url      a running service to load instead of starting one (its /new, /get and /del are used)
  --pid      that service's process id, for its memory
  --console  its Tarantool's admin console socket, for the arena`

const MAX_MINUTES = 240
const CAPACITY_PROBE_MS = 10_000
const PROBE_CONCURRENCY = 64
// Past this many requests waiting for an answer, the loop stops sending and counts them as late.
const MAX_IN_FLIGHT = 512
const TICK_MS = 10
const SEED_SESSIONS = 2000
const POOL_MAX = 20_000

interface Target { host: string, port: number }
interface Sample { ms: number, ok: boolean }

function fail (message: string): never {
  console.error(`soak: ${message}\n${USAGE}`)
  process.exit(2)
}

function options (): { minutes: number, rate?: number, url?: string, pid?: number, console?: string } {
  let values
  try {
    values = parseArgs({
      options: { minutes: { type: 'string' }, rate: { type: 'string' }, url: { type: 'string' }, pid: { type: 'string' }, console: { type: 'string' } }
    }).values
  } catch (err) {
    fail((err as Error).message)
  }
  const minutes = Number(values.minutes ?? 10)
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_MINUTES) fail(`--minutes must be an integer from 1 to ${MAX_MINUTES}`)
  const rate = values.rate === undefined ? undefined : Number(values.rate)
  if (rate !== undefined && !(rate > 0)) fail('--rate must be a positive number')
  return { minutes, rate, url: values.url, pid: values.pid === undefined ? undefined : Number(values.pid), console: values.console }
}

// As many connections as the probe's clients: more requests than that wait in the agent's queue.
const agent = new Agent({ keepAlive: true, maxSockets: PROBE_CONCURRENCY })

/** One request; resolves with the status and parsed body (status 0 on a network error). */
function call (target: Target, path: string, body?: string): Promise<{ status: number, body: unknown }> {
  return new Promise((resolve) => {
    const req = request({
      ...target,
      path,
      method: body === undefined ? 'GET' : 'POST',
      agent,
      timeout: 30_000,
      headers: body === undefined ? {} : { 'content-type': 'application/json' }
    }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode!, body: JSON.parse(text) })
        } catch {
          resolve({ status: res.statusCode!, body: text })
        }
      })
      res.on('error', () => resolve({ status: 0, body: undefined }))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', () => resolve({ status: 0, body: undefined }))
    req.end(body)
  })
}

/** The token in the body of a /new answered 200. */
const tokenOf = (body: unknown): string => (body as { data: { token: string } }).data.token

/** Live tokens the load reads and deletes; /new adds to it. */
class TokenPool {
  readonly tokens: string[] = []
  /** Deleted tokens: a /get sent before the /del may be answered after it, with a 404. */
  readonly deleted = new Set<string>()
  add (token: string): void {
    if (this.tokens.length < POOL_MAX) this.tokens.push(token)
    else this.tokens[Math.floor(Math.random() * POOL_MAX)] = token
  }

  any (): string { return this.tokens[Math.floor(Math.random() * this.tokens.length)] }
  /** Takes a token out, so that nothing reads it after its /del. */
  take (): string | undefined {
    if (this.tokens.length < 100) return undefined
    const i = Math.floor(Math.random() * this.tokens.length)
    const [token] = this.tokens.splice(i, 1)
    this.deleted.add(token)
    return token
  }
}

let userSeq = 0
/** One request of the 90/8/2 mix; resolves with its latency and whether it succeeded. */
async function mixed (target: Target, pool: TokenPool): Promise<Sample & { what: string, status: number }> {
  const roll = Math.random()
  const started = performance.now()
  let what: string
  let res
  if (roll < 0.08 || pool.tokens.length === 0) {
    what = 'new'
    res = await call(target, `/new?user_id=${++userSeq % 100_000}&ip=10.1.${userSeq % 250}.${userSeq % 200}`, '{"device":"soak","n":1}')
    if (res.status === 200) pool.add(tokenOf(res.body))
  } else {
    const token = roll < 0.1 ? pool.take() : undefined
    what = token === undefined ? 'get' : 'del'
    const used = token ?? pool.any()
    res = await call(target, `/${what}?token=${used}`)
    if (what === 'get' && res.status === 404 && pool.deleted.has(used)) what = 'get-after-del'
  }
  return { what, status: res.status, ms: performance.now() - started, ok: res.status === 200 || what === 'get-after-del' }
}

function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]
}

/** Closed-loop probe: as fast as PROBE_CONCURRENCY clients go, for CAPACITY_PROBE_MS. */
async function measureCapacity (target: Target, pool: TokenPool): Promise<number> {
  const ends = Date.now() + CAPACITY_PROBE_MS
  let done = 0
  const client = async (): Promise<void> => {
    while (Date.now() < ends) {
      await mixed(target, pool)
      done++
    }
  }
  await Promise.all(Array.from({ length: PROBE_CONCURRENCY }, client))
  return done / (CAPACITY_PROBE_MS / 1000)
}

interface Memory { rssMiB?: number, arenaUsedMiB?: number, arenaSizeMiB?: number, quotaUsedMiB?: number, sessions?: number }

async function memory (pid: number | undefined, admin: AdminConsole | undefined): Promise<Memory> {
  const out: Memory = {}
  if (pid !== undefined) {
    const kib = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])
    out.rssMiB = round(kib / 1024)
  }
  if (admin !== undefined) {
    const info = await admin.eval<{ arena_used: number, arena_size: number, quota_used: number, sessions: number }>(
      'local s = box.slab.info() return {arena_used = s.arena_used, arena_size = s.arena_size, ' +
      'quota_used = s.quota_used, sessions = box.space.sessions:len()}')
    Object.assign(out, {
      arenaUsedMiB: round(info.arena_used / 2 ** 20),
      arenaSizeMiB: round(info.arena_size / 2 ** 20),
      quotaUsedMiB: round(info.quota_used / 2 ** 20),
      sessions: info.sessions
    })
  }
  return out
}

const round = (n: number): number => Math.round(n * 10) / 10

/** Builds the service and starts it as `npm start` does, with its data in a temporary directory. */
async function startSoakService (): Promise<{ target: Target, pid: number, consoleSocket: string, stop: () => Promise<void> }> {
  buildService()
  const dataDir = mkdtempSync(join(tmpdir(), 'sessions-soak-'))
  const service = await startService(dataDir, { logLevel: 'warn' })
  const target = { host: '127.0.0.1', port: service.port }
  // It listens once its Tarantool is up; /ready also says Tarantool answers.
  if ((await call(target, '/ready')).status !== 200) fail(`the service is not ready; see ${join(dataDir, 'service.log')}`)
  return {
    target,
    pid: service.proc.pid!,
    consoleSocket: join(dataDir, 'data', CONSOLE_SOCKET_NAME),
    stop: async () => {
      await service.stop()
      rmSync(dataDir, { recursive: true, force: true })
    }
  }
}

async function main (): Promise<void> {
  const opts = options()
  const service = opts.url === undefined ? await startSoakService() : undefined
  if (service !== undefined) cleanupOnExit(service.stop)
  const target = service?.target ?? (() => {
    const url = new URL(opts.url!)
    return { host: url.hostname, port: Number(url.port || 80) }
  })()
  const pid = service?.pid ?? opts.pid
  const consoleSocket = service?.consoleSocket ?? opts.console
  const admin = consoleSocket === undefined ? undefined : await connectConsole(consoleSocket, { timeoutMs: 10_000 })

  const pool = new TokenPool()
  for (let i = 0; i < SEED_SESSIONS; i += 50) {
    await Promise.all(Array.from({ length: 50 }, async () => {
      const res = await call(target, `/new?user_id=${++userSeq}&ip=10.0.0.1`, '{"device":"soak"}')
      if (res.status !== 200) fail(`could not create the first sessions: ${res.status} ${JSON.stringify(res.body)}`)
      pool.add(tokenOf(res.body))
    }))
  }

  let rate = opts.rate
  if (rate === undefined) {
    const capacity = await measureCapacity(target, pool)
    rate = Math.max(1, Math.round(capacity / 2))
    console.log(`capacity about ${Math.round(capacity)} req/s (${PROBE_CONCURRENCY} clients, ${CAPACITY_PROBE_MS / 1000} s); soaking at ${rate} req/s`)
  }

  const start = await memory(pid, admin)
  console.log(`memory at start: ${JSON.stringify(start)}`)
  console.log('minute  req/s   errors  late  p50 ms  p99 ms  max ms  rss MiB')

  const startedAt = Date.now()
  const endsAt = startedAt + opts.minutes * 60_000
  let sent = 0
  let inFlight = 0
  let minute: Sample[] = []
  let late = 0
  const totals = { requests: 0, errors: 0, late: 0 }
  const errorKinds = new Map<string, number>()
  const p99s: number[] = []

  const report = async (n: number): Promise<void> => {
    const samples = minute
    const lateNow = late
    minute = []
    late = 0
    const sorted = samples.map((s) => s.ms).sort((a, b) => a - b)
    const errors = samples.filter((s) => !s.ok).length
    totals.requests += samples.length
    totals.errors += errors
    totals.late += lateNow
    p99s.push(percentile(sorted, 0.99))
    const mem = await memory(pid, undefined)
    console.log([String(n).padStart(6), String(Math.round(samples.length / 60)).padStart(6), String(errors).padStart(8),
      String(lateNow).padStart(5), percentile(sorted, 0.5).toFixed(1).padStart(7), percentile(sorted, 0.99).toFixed(1).padStart(7),
      (sorted.at(-1) ?? NaN).toFixed(1).padStart(7), String(mem.rssMiB ?? '-').padStart(8)].join(' '))
  }

  let minutesDone = 0
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const now = Date.now()
      if (now >= startedAt + (minutesDone + 1) * 60_000) void report(++minutesDone)
      if (now >= endsAt) {
        clearInterval(tick)
        const wait = setInterval(() => { if (inFlight === 0) { clearInterval(wait); resolve() } }, 50)
        return
      }
      // Open loop: send what the rate asks for by now, whatever the answers' speed.
      const due = Math.floor(((now - startedAt) / 1000) * rate) - sent
      for (let i = 0; i < due; i++) {
        sent++
        if (inFlight >= MAX_IN_FLIGHT) { late++; continue }
        inFlight++
        void mixed(target, pool).then((sample) => {
          inFlight--
          minute.push(sample)
          if (!sample.ok) {
            const kind = `${sample.what} ${sample.status}`
            errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1)
          }
        })
      }
    }, TICK_MS)
  })
  // Answers that came after the last full minute count in the totals.
  totals.requests += minute.length
  totals.errors += minute.filter((s) => !s.ok).length

  const end = await memory(pid, admin)
  console.log(`memory at end:   ${JSON.stringify(end)}`)
  // The arena grows with the data (8% of requests create a session, 2% delete one): what it grew by
  // per session added should be about one session's size, not more.
  const perNewSession = (a: Memory, b: Memory): string => a.arenaUsedMiB !== undefined && b.arenaUsedMiB !== undefined && b.sessions! > a.sessions!
    ? String(Math.round(((b.arenaUsedMiB - a.arenaUsedMiB) * 2 ** 20) / (b.sessions! - a.sessions!)))
    : 'n/a'
  const growth = (a?: number, b?: number): string => a && b ? `${(((b - a) / a) * 100).toFixed(1)}%` : 'n/a'
  console.log(`summary: ${totals.requests} requests at ${rate} req/s, ${totals.errors} errors ${JSON.stringify(Object.fromEntries(errorKinds))}, ` +
    `${totals.late} late; p99 first minute ${p99s[0]?.toFixed(1)} ms, last minute ${p99s.at(-1)?.toFixed(1)} ms; ` +
    `service RSS ${growth(start.rssMiB, end.rssMiB)}, arena used ${growth(start.arenaUsedMiB, end.arenaUsedMiB)} ` +
    `with sessions ${start.sessions ?? '?'} -> ${end.sessions ?? '?'}, ${perNewSession(start, end)} bytes of arena per session added`)

  admin?.close()
  agent.destroy()
  await service?.stop()
  // Late requests are the load generator falling behind (a busy machine), not the service failing.
  if (totals.late > 0) console.log(`warning: ${totals.late} requests were not sent on time: ${MAX_IN_FLIGHT} were waiting for answers`)
  process.exitCode = totals.errors === 0 ? 0 : 1
}

main().catch((err: Error) => {
  console.error(`soak: ${err.stack ?? err.message}`)
  process.exit(1)
})
