// npm run bench [-- --quick] [--sessions N] [--rounds R] [--duration S] [--warmup S] [--connections C]
// Runs the service as users run it (built, with its embedded Tarantool) and a bare Fastify
// reference side by side, drives both with autocannon in alternating rounds, and reports medians
// and ratios to the reference; for /get, also those of a floor (one no-op Tarantool call).
// See bench/README.md.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { connectConsole, CONSOLE_SOCKET_NAME, type AdminConsole } from '../src/admin-console.js'
import { count, memory, preload, sweepAll, tokenOf, truncate, type MemoryStats } from './dataset.js'
import { alternate, round, startRound, summarize, type LoadOptions, type RoundResult } from './load.js'
import { buildService, cleanupOnExit, startFloor, startReference, startService, type Running, type ServiceSettings } from './processes.js'
import { cpuTable, median, row, table, writeResults, type Row } from './report.js'
import { WORKLOADS, type Population, type Workload } from './workloads.js'

const ROOT = join(import.meta.dirname, '..')
const DAY = 86_400
const SMALL = 10_000
const SWEEP_LIMIT_SECONDS = 600

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    sessions: { type: 'string' },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    'log-level': { type: 'string' },
    'access-log': { type: 'string' }
  }
})
const settings = {
  quick: args.quick,
  sessions: Number(args.sessions ?? (args.quick ? 50_000 : 1_000_000)),
  rounds: Number(args.rounds ?? 3),
  load: {
    durationSeconds: Number(args.duration ?? (args.quick ? 1.5 : 10)),
    // After the other side's round, each side takes a moment to reach its pace (the service, with
    // Node and Tarantool to warm, 1 to 2 s; the reference about 0.5 s): not part of its rate.
    warmupSeconds: Number(args.warmup ?? (args.quick ? 0.5 : 1)),
    connections: Number(args.connections ?? 50)
  } satisfies LoadOptions,
  // The service's own defaults unless asked otherwise: as users run it.
  service: { logLevel: args['log-level'], accessLog: args['access-log'] } satisfies ServiceSettings
}

const step = (text: string): void => { console.log(`[${new Date().toISOString().slice(11, 19)}] ${text}`) }


/** The reference's canned answers: the size of the service's, five sessions for the lists. */
async function referenceBodies (service: Running, token: string): Promise<Record<string, unknown>> {
  const get = await (await fetch(`${service.url}/get?token=${token}`)).json() as { data: unknown }
  const created = await (await fetch(`${service.url}/new?user_id=1000000&ip=10.0.0.1`)).json()
  const list = { status: 'success', data: Array.from({ length: 5 }, () => get.data) }
  return { '/get': get, '/new': created, '/del': get, '/user': list, '/ip': list }
}

interface Context {
  service: Running
  reference: Running
  console: AdminConsole
}

/** Alternating rounds of one workload against the reference and the service (or `target`). */
async function measure (ctx: Context, label: string, workload: Workload, population: Population, target = ctx.service): Promise<Row> {
  step(`${label}: ${settings.rounds} rounds of ${settings.load.durationSeconds} s each side, each after ${settings.load.warmupSeconds} s of warm-up`)
  // One generator for all rounds: the mixed workload's deletes go on where the last round stopped.
  // The reference gets the same requests.
  const requests = workload.requests(population)
  const rounds = await alternate(settings.rounds,
    async () => await round(ctx.reference.url, requests, settings.load, ctx.reference.proc.pid),
    async () => await round(target.url, requests, settings.load, target.proc.pid))
  return row(label, rounds)
}

/**
 * /get against the floor (floor.ts): bare Fastify making one call of a Tarantool procedure that
 * does nothing. What a round trip to Tarantool costs, apart from what the service does.
 */
async function measureFloor (ctx: Context, dir: string, bodies: Record<string, unknown>, population: Population): Promise<Row> {
  step('starting the floor: bare Fastify, one call of a no-op Tarantool procedure per /get')
  const floor = await startFloor(dir, bodies)
  try {
    await round(floor.url, WORKLOADS.get.requests(population), { ...settings.load, durationSeconds: 2 })
    return await measure(ctx, 'floor /get (no-op call)', WORKLOADS.get, population, floor)
  } finally {
    await floor.stop()
  }
}

interface SweepResult {
  expired: number
  seconds: number
  /** How often the service's reconnect put its own TTL back during the sweep (see sweepAll). */
  ttlReset: number
  idle: RoundResult
  during: RoundResult
  p99Ratio: number
}

/** Fresh data: a live set and `sessions` idle ones; /get p99 on the live set idle, then during the sweep. */
async function sweep (ctx: Context): Promise<SweepResult> {
  const total = SMALL + settings.sessions
  step(`sweep: truncating, then ${SMALL} live and ${settings.sessions} idle sessions`)
  await truncate(ctx.console)
  await preload(ctx.console, { from: 0, to: SMALL, total, ageSeconds: 0 })
  await preload(ctx.console, { from: SMALL, to: total, total, ageSeconds: 2 * DAY })
  const live: Population = { from: 0, to: SMALL, total }
  const idle = median3(await serviceRounds(ctx, live))
  step('sweep: /get on the live set while the expiry fiber removes the idle sessions')
  // The load settles (its warm-up, unmeasured, as in the idle rounds) before the sweep starts.
  const settle = Math.max(0.5, settings.load.warmupSeconds)
  const load = startRound(ctx.service.url, WORKLOADS.get.requests(live), { ...settings.load, warmupSeconds: settle, durationSeconds: SWEEP_LIMIT_SECONDS })
  await new Promise((resolve) => setTimeout(resolve, settle * 1000))
  const { seconds, expired, ttlReset } = await sweepAll(ctx.console, DAY, SWEEP_LIMIT_SECONDS)
  load.instance.stop()
  const during = summarize(await load.instance, load.measured)
  return { expired, seconds, ttlReset, idle, during, p99Ratio: during.p99 / idle.p99 }
}

async function serviceRounds (ctx: Context, population: Population): Promise<RoundResult[]> {
  const out: RoundResult[] = []
  for (let i = 0; i < settings.rounds; i++) out.push(await round(ctx.service.url, WORKLOADS.get.requests(population), settings.load))
  return out
}

// The round with the median p99.
function median3 (rounds: RoundResult[]): RoundResult {
  const p99 = median(rounds.map((r) => r.p99))
  return rounds.reduce((best, r) => (Math.abs(r.p99 - p99) < Math.abs(best.p99 - p99) ? r : best))
}

// The workload whose reference rounds differed the most in rate, and by how much (max / min).
function referenceSwing (rows: Row[]): { workload: string, ratio: number } {
  return rows
    .map((r) => {
      const rates = r.rounds.reference.map((round) => round.rps)
      return { workload: r.workload, ratio: Math.max(...rates) / Math.min(...rates) }
    })
    .reduce((a, b) => (b.ratio > a.ratio ? b : a))
}

async function main (): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'sessions-bench-'))
  const running: Running[] = []
  let console_: AdminConsole | undefined
  const cleanup = async (): Promise<void> => {
    console_?.close()
    for (const proc of running.reverse()) await proc.stop()
    rmSync(tmp, { recursive: true, force: true })
  }
  cleanupOnExit(cleanup)
  try {
    step('building the service (npm run build)')
    buildService()
    step(`starting the service (embedded Tarantool, data in ${tmp})`)
    const service = await startService(tmp, settings.service)
    running.push(service)
    console_ = await connectConsole(join(tmp, 'data', CONSOLE_SOCKET_NAME))
    const admin = console_

    const total = settings.sessions
    step(`preloading ${SMALL} sessions`)
    await preload(admin, { from: 0, to: SMALL, total, ageSeconds: DAY })
    const bodies = await referenceBodies(service, tokenOf(0))
    const reference = await startReference(tmp, bodies)
    running.push(reference)
    const ctx: Context = { service, reference, console: admin }

    step('warming up both')
    const warm = { ...settings.load, durationSeconds: 2 }
    const warmRequests = WORKLOADS.get.requests({ from: 0, to: SMALL, total })
    await round(reference.url, warmRequests, warm)
    await round(service.url, warmRequests, warm)

    const rows: Row[] = []
    const small = await measure(ctx, `/get @${SMALL}`, WORKLOADS.get, { from: 0, to: SMALL, total })
    const floor = await measureFloor(ctx, tmp, bodies, { from: 0, to: SMALL, total })
    step(`preloading up to ${total} sessions`)
    const preloadStarted = Date.now()
    await preload(admin, { from: SMALL, to: total, total, ageSeconds: DAY })
    const preloadSeconds = (Date.now() - preloadStarted) / 1000
    const mem: MemoryStats = await memory(admin)
    const all: Population = { from: 0, to: total, total }
    const large = await measure(ctx, `/get @${total}`, WORKLOADS.get, all)
    rows.push(small, floor, large)
    // The lists before /new: the sessions it makes join the users and ips the lists read (after
    // a full /new phase, about 7 sessions a user instead of the reference's 5).
    for (const key of ['user', 'ip', 'new', 'mixed'] as const) {
      rows.push(await measure(ctx, `${WORKLOADS[key].name} @${total}`, WORKLOADS[key], all))
    }
    const sessionsAfter = await count(admin)
    const sweepResult = await sweep(ctx)

    const scale = {
      rps: large.service.rps / small.service.rps,
      // The same, each against the reference of its own rounds: less noise from the machine.
      ratio: large.ratio.rps / small.ratio.rps
    }
    console.log('\n' + table(rows))
    const cpu = cpuTable(rows)
    if (cpu !== undefined) console.log('\n' + cpu)
    console.log(`\nmemory at ${mem.sessions} sessions: arena_used ${mem.arenaUsedPerSession.toFixed(1)} B/session ` +
      `(tuples ${mem.itemsUsedPerSession.toFixed(1)} + indexes ${mem.indexPerSession.toFixed(1)}), quota_used ${mem.quotaUsedPerSession.toFixed(1)} B/session`)
    console.log(`/get at ${SMALL}: the floor (one no-op Tarantool call) reaches ${floor.ratio.rps.toFixed(2)} of the reference, ` +
      `the service ${small.ratio.rps.toFixed(2)}`)
    const swing = referenceSwing(rows)
    console.log(`the reference's req/s moved by up to ${(100 * (swing.ratio - 1)).toFixed(0)}% between the rounds of one workload ` +
      `(${swing.workload}): the machine's own noise; the wider, the less a run's ratios say`)
    console.log(`/get at ${total} vs ${SMALL}: ${scale.rps.toFixed(2)} (req/s), ${scale.ratio.toFixed(2)} (ratio to reference)`)
    console.log(`sweep of ${sweepResult.expired} expired sessions: ${sweepResult.seconds.toFixed(2)} s; /get p99 during ${sweepResult.during.p99.toFixed(2)} ms ` +
      `vs idle ${sweepResult.idle.p99.toFixed(2)} ms (${sweepResult.p99Ratio.toFixed(2)}x), non-2xx during ${sweepResult.during.non2xx}` +
      (sweepResult.ttlReset > 0 ? `; the service reconnected and reset the TTL ${sweepResult.ttlReset} time(s) (see service.log)` : ''))
    const file = writeResults(join(ROOT, 'bench/results'), {
      date: new Date().toISOString(),
      settings,
      machine: { node: process.version, cpus: (await import('node:os')).cpus().length },
      preloadSeconds,
      sessionsAfterWorkloads: sessionsAfter,
      rows,
      memory: mem,
      scale,
      referenceSwing: swing,
      sweep: sweepResult
    })
    console.log(`\nresults: ${file}`)
  } finally {
    await cleanup()
  }
}

main().catch((err: Error) => {
  console.error(`bench failed: ${err.stack ?? err.message}`)
  process.exitCode = 1
})
