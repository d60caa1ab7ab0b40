// npm run bench:events [-- --revocations N] [--subscribers N] [--events N] [--spacing MS] [--rounds R]
//   [--duration S] [--warmup S] [--connections C] [--autocannon] [--only revocation|subscribers|cached|created]
// Issue 26's numbers, each part on a service of its own (built, embedded Tarantool, as `npm start`
// runs it): the time from a revocation's answer to a caching client's get() failing, with 1 and 10
// caching clients; 1,000 idle subscribers of GET /events (delivery of each event to each, memory
// per subscriber, /get's rate with them open against none); a cached get() against an uncached
// one; what `created` events cost per /new. A verdict line per goal, and the results in bench/results/events-<date>.json. See
// bench/README.md, "Session events".
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { connectConsole } from '../lib/admin-console.js'
import { buildService, cleanupOnExit, freePort, startService, type Running } from '../lib/processes.js'
import { CONSOLE_SOCKET_NAME } from '../src/embedded/tarantool.js'
import { preload } from './dataset.js'
import { measureCachedGet, type CachedGetResult, type Spread } from './events-cached-get.js'
import { measureCreatedCost, type CreatedCostResult } from './events-created.js'
import { KINDS, measureRevocations, type LatencySummary, type RevocationResult } from './events-revocation.js'
import { measureSubscribers, type SubscriberResult } from './events-subscribers.js'
import { meets } from './goals.js'
import type { RoundResult } from './load.js'
import { step, writeResults } from './report.js'
import { findWrk, ListFiles } from './wrk.js'

const ROOT = join(import.meta.dirname, '..')
const PARTS = ['revocation', 'subscribers', 'cached', 'created'] as const

const { values: args } = parseArgs({
  options: {
    revocations: { type: 'string' },
    subscribers: { type: 'string' },
    events: { type: 'string' },
    spacing: { type: 'string' },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    autocannon: { type: 'boolean', default: false },
    only: { type: 'string' }
  }
})
const settings = {
  revocations: Number(args.revocations ?? 1000),
  subscribers: Number(args.subscribers ?? 1000),
  events: Number(args.events ?? 300),
  spacingMs: Number(args.spacing ?? 20),
  rounds: Number(args.rounds ?? 3),
  load: { durationSeconds: Number(args.duration ?? 5), warmupSeconds: Number(args.warmup ?? 1), connections: Number(args.connections ?? 50) },
  /** The sessions /get asks for in the subscribers' rounds. */
  getSessions: 10_000,
  /** The sessions stored before the created events' rounds (as hot-path-cost.mjs). */
  createdSessions: 200_000,
  only: args.only
}
if (settings.only !== undefined && !(PARTS as readonly string[]).includes(settings.only)) throw new Error(`--only: one of ${PARTS.join(', ')}`)
const WRK = args.autocannon ? undefined : findWrk()

interface Results {
  revocation?: RevocationResult[]
  subscribers?: SubscriberResult
  cached?: CachedGetResult
  created?: CreatedCostResult
}

/** One goal's line: `met` or `not met`, the goal, the measured value (as `shown`) and a note. */
function verdict (text: string, at: 'least' | 'most', target: number, value: number, shown: (n: number) => string, note = ''): string {
  const ok = Number.isFinite(value) && meets({ at, target }, value)
  return `${(ok ? 'met' : 'not met').padEnd(12)} ${text} ${at === 'least' ? '>=' : '<='} ${shown(target)}: ${shown(value)}${note === '' ? '' : ` (${note})`}`
}

const ms = (n: number): string => (n === Infinity ? 'gave up (2 s)' : `${n.toFixed(n < 10 ? 2 : 1)} ms`)
const x = (n: number): string => `${n.toFixed(3)}x`
const kb = (n: number): string => `${n.toFixed(1)} KB`
const range = (s: Spread, show: (n: number) => string): string => `${show(s.median)} [${show(s.min)}..${show(s.max)}]`
const latencies = (s: LatencySummary): string =>
  `p50 ${ms(s.p50)}, p99 ${ms(s.p99)}, max ${ms(s.max)} over ${s.samples.toLocaleString('en-US')}${s.failures > 0 ? `, ${s.failures} failed` : ''}`

function print (results: Results): void {
  const lines: string[] = []
  const goals: string[] = []
  for (const r of results.revocation ?? []) {
    const who = `${r.clients} caching client${r.clients === 1 ? '' : 's'}`
    lines.push(`revocation -> get() fails, ${who}: ${latencies(r.all)} (${r.seconds.toFixed(1)} s)`)
    for (const kind of KINDS) lines.push(`  ${kind.padEnd(9)} ${latencies(r.byKind[kind])}`)
    if (r.notCached > 0 || Object.keys(r.otherErrors).length > 0) lines.push(`  not cached: ${r.notCached}; other errors: ${JSON.stringify(r.otherErrors)}`)
    const note = `${r.revocations.toLocaleString('en-US')} revocations${r.all.failures > 0 ? `, ${r.all.failures} gave up` : ''}`
    goals.push(verdict(`revocation to get() failing, ${who}, p99`, 'most', 100, r.all.p99, ms, note))
    goals.push(verdict(`revocation to get() failing, ${who}, max`, 'most', 250, r.all.max, ms, note))
  }
  const s = results.subscribers
  if (s !== undefined) {
    const d = s.delivery
    lines.push(`created event -> each of ${s.subscribers} subscribers: min ${ms(d.min)}, p50 ${ms(d.p50)}, p99 ${ms(d.p99)}, max ${ms(d.max)} ` +
      `over ${d.samples.toLocaleString('en-US')} (event, subscriber)${d.missing > 0 ? `, ${d.missing} missing` : ''}; ` +
      `to the last subscriber of each event: p50 ${ms(s.toAll.p50)}, p99 ${ms(s.toAll.p99)}, max ${ms(s.toAll.max)}`)
    const cpu = s.cpuPerEventUs
    if (cpu !== undefined) {
      const parts = Object.entries(cpu).filter(([, us]) => us >= 1).map(([part, us]) => `${part} ${Math.round(us).toLocaleString('en-US')}`)
      lines.push(`  CPU µs per event while they were made: ${parts.join(', ')} (service Node per stream: ${((cpu.node ?? 0) / s.subscribers).toFixed(1)})`)
    }
    if (s.busyCores !== undefined) {
      lines.push(`  the machine's busy cores meanwhile: ${s.busyCores.all.toFixed(2)} of ${cpus().length}, this run's processes ${s.busyCores.run.toFixed(2)}`)
    }
    const r = s.reference
    if (r !== undefined) {
      const rd = r.delivery
      lines.push(`the same by a bare node:http fan-out (bench/events-reference.ts): min ${ms(rd.min)}, p50 ${ms(rd.p50)}, p99 ${ms(rd.p99)}, max ${ms(rd.max)}` +
        `${rd.missing > 0 ? `, ${rd.missing} missing` : ''}; to the last subscriber: p50 ${ms(r.toAll.p50)}, p99 ${ms(r.toAll.p99)}`)
      const own = cpu?.node
      const ref = r.cpuPerEventUs?.node
      if (own !== undefined && ref !== undefined) {
        lines.push(`  its Node's CPU per event ${Math.round(ref).toLocaleString('en-US')} µs (${(ref / s.subscribers).toFixed(1)} a stream): the service's is ${x(own / ref)} of it` +
          `${r.busyCores === undefined ? '' : `; busy cores meanwhile ${r.busyCores.all.toFixed(2)}`}`)
      }
    }
    const mb = (n: number): string => `${(n / 1024).toFixed(1)} MB`
    lines.push(`service RSS after a full GC: ${mb(s.rssKb.before)} before, ${mb(s.rssKb.open)} with ${s.subscribers} streams (opened in ${(s.openMs / 1000).toFixed(1)} s), ` +
      `${mb(s.rssKb.afterEvents)} after the events: ${kb(s.kbPerSubscriber)} per subscriber; JS heap in use ${mb(s.heapKb.before)} and ${mb(s.heapKb.open)}: ` +
      `${kb(s.heapKbPerSubscriber)} per subscriber`)
    const rate = (k: 'open' | 'none'): string => s.rounds[k].map((r) => Math.round(r.rps)).join(', ')
    const node = (k: 'open' | 'none'): string => s.rounds[k].map((r) => r.cpu?.node?.toFixed(1) ?? '-').join(', ')
    lines.push(`/get req/s with the streams open: ${rate('open')}; with none: ${rate('none')}; open/none ${x(s.ratio.median)} [${x(s.ratio.min)}..${x(s.ratio.max)}]`)
    lines.push(`  Node µs per /get, open: ${node('open')}; none: ${node('none')}`)
    goals.push(verdict(`created event to each of ${s.subscribers} idle subscribers, p99`, 'most', 100, d.missing > 0 ? Infinity : d.p99, ms,
      `${d.samples.toLocaleString('en-US')} (event, subscriber)${r === undefined ? '' : `; the bare node:http fan-out's p99 ${ms(r.delivery.p99)}`}`))
    goals.push(verdict('service memory per idle subscriber (RSS)', 'most', 20, s.kbPerSubscriber, kb))
    goals.push(verdict(`/get with ${s.subscribers} streams open vs none`, 'least', 0.95, s.ratio.median, x, `[${x(s.ratio.min)}..${x(s.ratio.max)}], ${s.rounds.open.length} rounds each side`))
  }
  const c = results.cached
  if (c !== undefined) {
    const ns = (n: number): string => `${Math.round(n)} ns`
    const us = (n: number): string => `${n.toFixed(1)} µs`
    const rate = (n: number): string => `${Math.round(n).toLocaleString('en-US')}/s`
    lines.push(`get() one at a time: cached ${range(c.cachedNs, ns)}, uncached ${range(c.uncachedUs, us)} per call (${Math.round(c.speedup)}x)`)
    lines.push(`get() ${c.concurrency} at a time: cached ${range(c.cachedRate, rate)}, uncached ${range(c.uncachedRate, rate)} ` +
      `(this process's CPU per uncached call: ${range(c.uncachedClientCpuUs, us)}); answered from memory: ${(c.hitRatio * 100).toFixed(2)}%`)
  }
  const n = results.created
  if (n !== undefined) {
    const us = (v: number): string => `${v.toFixed(1)} µs`
    const list = (side: 'on' | 'off', f: (r: RoundResult) => string): string => n.rounds[side].map(f).join(', ')
    lines.push(`created events, per /new: Tarantool ${us(n.tarantoolUs.on)} with them, ${us(n.tarantoolUs.off)} without: ${us(n.tarantoolUs.event)} more ` +
      `(median of the pairs); the service's Node ${us(n.nodeUs.on)} and ${us(n.nodeUs.off)}: ${us(n.nodeUs.event)}; /new a second with / without ${x(n.rateRatio)}`)
    lines.push(`  /new a second, with: ${list('on', (r) => String(Math.round(r.rps)))}; without: ${list('off', (r) => String(Math.round(r.rps)))}`)
  }
  console.log(`\n${lines.join('\n')}\n\ngoals (issue 26):\n${goals.join('\n')}`)
}

/** Runs `part` on a service of its own (`nodeArgs` before its script), in `dir/<part>`; stops it afterwards. */
async function onService<T> (dir: string, part: string, running: Running[], fn: (service: Running, dir: string) => Promise<T>, nodeArgs: string[] = []): Promise<T> {
  const own = join(dir, part)
  mkdirSync(own)
  step(`${part}: starting the service (embedded Tarantool, data in ${own})`)
  const service = await startService(own, { nodeArgs })
  running.push(service)
  try {
    return await fn(service, own)
  } finally {
    await service.stop()
    running.splice(running.indexOf(service), 1)
  }
}

async function main (): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'sessions-bench-events-'))
  const running: Running[] = []
  let done = false
  const cleanup = async (): Promise<void> => {
    for (const proc of running.reverse()) await proc.stop()
    // A failed run keeps its services' logs (and data) where it says.
    if (done) rmSync(tmp, { recursive: true, force: true })
    else console.error(`the logs of this run: ${tmp}/*/service.log`)
  }
  cleanupOnExit(cleanup)
  const wants = (part: typeof PARTS[number]): boolean => settings.only === undefined || settings.only === part
  const load = { before: loadavg() }
  const results: Results = {}
  try {
    step('building the service (npm run build)')
    buildService()
    if (wants('revocation')) {
      results.revocation = await onService(tmp, 'revocation', running, async (service) => [
        await measureRevocations(service.url, 1, settings.revocations, 0),
        await measureRevocations(service.url, 10, settings.revocations, settings.revocations)
      ])
    }
    if (wants('subscribers')) {
      // Its inspector (loopback) collects the garbage before each reading of its memory.
      const inspectPort = await freePort()
      results.subscribers = await onService(tmp, 'subscribers', running, async (service, dir) => {
        const population = { from: 0, to: settings.getSessions, total: settings.getSessions }
        const admin = await connectConsole(join(dir, 'data', CONSOLE_SOCKET_NAME))
        try {
          step(`subscribers: preloading ${settings.getSessions} sessions for the /get rounds`)
          await preload(admin, { ...population, ageSeconds: 86_400 })
        } finally {
          admin.close()
        }
        return await measureSubscribers(service, {
          subscribers: settings.subscribers,
          events: settings.events,
          spacingMs: settings.spacingMs,
          rounds: settings.rounds,
          load: settings.load,
          generator: WRK === undefined ? 'autocannon' : 'wrk',
          files: new ListFiles(join(dir, 'lists')),
          population,
          inspectPort
        })
      }, [`--inspect=127.0.0.1:${inspectPort}`])
    }
    if (wants('cached')) {
      results.cached = await onService(tmp, 'cached', running, async (service) => await measureCachedGet(service.url, {
        sessions: 1000,
        cachedCalls: 100_000,
        uncachedCalls: 5000,
        concurrency: 50,
        concurrentCachedCalls: 500_000,
        concurrentUncachedCalls: 50_000,
        concurrentSeconds: 5,
        rounds: settings.rounds
      }))
    }
    if (wants('created')) {
      results.created = await onService(tmp, 'created', running, async (service, dir) => {
        const population = { from: 0, to: settings.createdSessions, total: settings.createdSessions }
        const admin = await connectConsole(join(dir, 'data', CONSOLE_SOCKET_NAME))
        try {
          step(`created: preloading ${settings.createdSessions} sessions`)
          await preload(admin, { ...population, ageSeconds: 86_400 })
          return await measureCreatedCost(service, admin, {
            rounds: settings.rounds,
            load: settings.load,
            generator: WRK === undefined ? 'autocannon' : 'wrk',
            files: new ListFiles(join(dir, 'lists')),
            population
          })
        } finally {
          admin.close()
        }
      })
    }
    print(results)
    const file = writeResults(join(ROOT, 'bench/results'), {
      date: new Date().toISOString(),
      settings,
      loadGenerator: WRK ?? 'autocannon',
      machine: { node: process.version, cpus: cpus().length, loadavgBefore: load.before, loadavgAfter: loadavg() },
      ...results
    }, 'events')
    console.log(`\nload average (1, 5, 15 min): ${load.before.map((n) => n.toFixed(2)).join(' ')} before, ${loadavg().map((n) => n.toFixed(2)).join(' ')} after`)
    console.log(`results: ${file}`)
    done = true
  } finally {
    await cleanup()
  }
}

main().catch((err: Error) => {
  console.error(`bench:events failed: ${err.stack ?? err.message}`)
  process.exitCode = 1
})
