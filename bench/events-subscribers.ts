// 1,000 idle subscribers of GET /events on one service process (issue 26): how long each `created`
// event takes to reach each of them, the service's memory per subscriber, and /get's rate with them
// open against none. The streams live in a process of their own (events-streams.ts).
import { fork, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { killedOnExit, type Running } from '../lib/processes.js'
import { cpuMeter, machineMeter, totalOf, type CpuPerRequest } from './cpu.js'
import type { Command, Reply } from './events-streams.js'
import { Inspector } from './inspector.js'
import { round, type LoadOptions, type RoundResult } from './load.js'
import { median, percentile, step } from './report.js'
import { WORKLOADS, type Population } from './workloads.js'
import { wrkRequests, wrkRound, type ListFiles } from './wrk.js'

export interface SubscriberOptions {
  subscribers: number
  /** Sessions made (each a `created` event), `spacingMs` apart. */
  events: number
  spacingMs: number
  rounds: number
  load: LoadOptions
  /** wrk (a ListFiles for its tokens) or autocannon, for the /get rounds. */
  generator: 'wrk' | 'autocannon'
  files: ListFiles
  /** The sessions /get asks for (preloaded). */
  population: Population
  /** The service's inspector (it runs with --inspect=127.0.0.1:PORT): a full GC before each memory reading. */
  inspectPort: number
}

export interface SubscriberResult {
  subscribers: number
  events: number
  /** ms from /new's answer to the event's arrival, over every (event, subscriber); missing ones not included. */
  delivery: { samples: number, min: number, p50: number, p99: number, max: number, missing: number }
  /** ms from /new's answer to the event's arrival at the last of the subscribers, over the events. */
  toAll: { p50: number, p99: number, max: number }
  /**
   * CPU per event (µs) while the sessions were made, by part: the service's `node` (its fan-out to
   * every stream), its `tarantool ...` threads, `subscribers` (the streams' process), `load
   * generator` (this process, making the sessions); undefined without /proc.
   */
  cpuPerEventUs?: CpuPerRequest
  /** Cores the machine kept busy while the sessions were made: all, and this run's processes (the rest: other people's). */
  busyCores?: { all: number, run: number }
  /** The streams' process's clock minus this one's, in ms (as measured over IPC; each arrival is corrected by it). */
  clockOffsetMs: number
  /** The service's Node process after a full GC, in KB: before the streams, with them open, after the events. */
  rssKb: { before: number, open: number, afterEvents: number }
  /** (open - before) / subscribers, in KB. */
  kbPerSubscriber: number
  /** Its JS heap in use after a full GC, in KB, before the streams and with them open. */
  heapKb: { before: number, open: number }
  heapKbPerSubscriber: number
  openMs: number
  /** Alternating rounds of /get: with the streams open, then with none. */
  rounds: { open: RoundResult[], none: RoundResult[] }
  /** open / none, round by round: the median, and the lowest and highest. */
  ratio: { median: number, min: number, max: number }
}

const WARM_UP_SECONDS = 3

const now = (): number => performance.timeOrigin + performance.now()
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** A process's resident memory in KB (VmRSS), from /proc. */
export function rssKb (pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (match === null) throw new Error(`no VmRSS for process ${pid}`)
  return Number(match[1])
}

/** The service's JS heap and RSS after a full GC (RSS: the median of five readings 100 ms apart). */
async function memoryAfterGc (inspector: Inspector, pid: number): Promise<{ heap: number, rss: number }> {
  const heap = await inspector.heapAfterGcKb()
  const readings: number[] = []
  for (let i = 0; i < 5; i++) {
    await sleep(100)
    readings.push(rssKb(pid))
  }
  return { heap, rss: median(readings) }
}

/** The streams' process: one command at a time, each answered within `timeoutMs`. */
class Streams {
  readonly #child: ChildProcess
  constructor () {
    this.#child = fork(join(import.meta.dirname, 'events-streams.ts'), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    killedOnExit(this.#child)
  }

  async ask<T extends Reply['type']> (command: Command, type: T, timeoutMs = 60_000): Promise<Extract<Reply, { type: T }>> {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => { cleanup(); reject(new Error(`the streams' process did not answer ${command.cmd} within ${timeoutMs} ms`)) }, timeoutMs)
      const onMessage = (reply: Reply): void => {
        cleanup()
        if (reply.type === type) resolve(reply as Extract<Reply, { type: T }>)
        else reject(new Error(`the streams' process answered ${reply.type} to ${command.cmd}`))
      }
      const onExit = (code: number | null): void => { cleanup(); reject(new Error(`the streams' process exited (${code})`)) }
      const cleanup = (): void => {
        clearTimeout(timer)
        this.#child.off('message', onMessage)
        this.#child.off('exit', onExit)
      }
      this.#child.on('message', onMessage)
      this.#child.once('exit', onExit)
      this.#child.send(command)
    })
  }

  /** Opens `count` streams; throws unless all connected. */
  async open (url: string, count: number): Promise<number> {
    const opened = await this.ask({ cmd: 'open', url, count }, 'opened', 120_000)
    if (opened.failed > 0 || opened.open !== count) throw new Error(`${opened.failed} of ${count} streams did not connect`)
    return opened.ms
  }

  async close (): Promise<void> {
    await this.ask({ cmd: 'close' }, 'closed')
  }

  /** Its clock minus ours: the reading of the quickest of 20 round trips, taken at its middle. */
  async clockOffset (): Promise<number> {
    let best = { rtt: Infinity, offset: 0 }
    for (let i = 0; i < 20; i++) {
      const sent = now()
      const { now: theirs } = await this.ask({ cmd: 'clock' }, 'clock')
      const back = now()
      if (back - sent < best.rtt) best = { rtt: back - sent, offset: theirs - (sent + back) / 2 }
    }
    return best.offset
  }

  get pid (): number {
    return this.#child.pid!
  }

  stop (): void {
    this.#child.disconnect()
  }
}

/** Makes `count` sessions `spacingMs` apart through /new; each one's id and when its answer came. */
async function makeSessions (url: string, count: number, spacingMs: number): Promise<Array<{ id: string, answeredAt: number }>> {
  const out: Array<{ id: string, answeredAt: number }> = []
  const start = performance.now()
  for (let i = 0; i < count; i++) {
    const wait = start + i * spacingMs - performance.now()
    if (wait > 0) await sleep(wait)
    const res = await fetch(`${url}/new?user_id=${8_000_000 + i}&ip=10.200.${(i >>> 8) & 255}.${i & 255}`, { signal: AbortSignal.timeout(10_000) })
    const answeredAt = now()
    const body = await res.json() as { data?: { id?: string } }
    if (res.status !== 200 || typeof body.data?.id !== 'string') throw new Error(`/new answered ${res.status}: ${JSON.stringify(body).slice(0, 200)}`)
    out.push({ id: body.data.id, answeredAt })
  }
  return out
}

/** One /get round on the service, by the run's generator (a warm-up, then the measured part). */
async function getRound (service: Running, opts: SubscriberOptions): Promise<RoundResult> {
  const requests = wrkRequests('get', opts.population, opts.files)
  return opts.generator === 'wrk' && requests !== undefined
    ? await wrkRound(service.url, requests, opts.load, service.proc.pid)
    : await round(service.url, WORKLOADS.get.requests(opts.population), opts.load, service.proc.pid)
}

/**
 * Opens the streams (after a warm-up of a tenth of them, opened and closed), reads the service's
 * memory, makes the sessions and times their events' arrivals, then alternates /get rounds with
 * the streams open and with none.
 */
export async function measureSubscribers (service: Running, opts: SubscriberOptions): Promise<SubscriberResult> {
  const pid = service.proc.pid!
  const streams = new Streams()
  const inspector = await Inspector.connect(opts.inspectPort)
  try {
    // The first /get load a service sees runs slower (its code not yet optimized): warmed up here,
    // before its memory is read and long before the first measured round.
    step(`subscribers: warming up (/get for ${WARM_UP_SECONDS} s; ${Math.ceil(opts.subscribers / 10)} streams opened and closed)`)
    await getRound(service, { ...opts, load: { ...opts.load, durationSeconds: WARM_UP_SECONDS, warmupSeconds: 0 } })
    await streams.open(service.url, Math.ceil(opts.subscribers / 10))
    await streams.close()
    const before = await memoryAfterGc(inspector, pid)
    step(`subscribers: opening ${opts.subscribers} streams of GET /events from a process of their own`)
    const openMs = await streams.open(service.url, opts.subscribers)
    const open = await memoryAfterGc(inspector, pid)
    const clockOffsetMs = await streams.clockOffset()
    step(`subscribers: ${opts.events} sessions made ${opts.spacingMs} ms apart; each created event timed at each stream (clock offset ${clockOffsetMs.toFixed(3)} ms)`)
    const meter = cpuMeter(pid, { subscribers: streams.pid })
    const machine = machineMeter()
    const eventsStarted = performance.now()
    const made = await makeSessions(service.url, opts.events, opts.spacingMs)
    const { arrivals } = await streams.ask({ cmd: 'collect', ids: made.map((m) => m.id), timeoutMs: 5000 }, 'arrivals')
    const eventSeconds = (performance.now() - eventsStarted) / 1000
    const cpuPerEventUs = meter.stop(made.length)
    const busyCores = machine.stop()
    const afterEvents = await memoryAfterGc(inspector, pid)
    const latencies: number[] = []
    const toAll: number[] = []
    let missing = 0
    for (const { id, answeredAt } of made) {
      const times = arrivals[id]
      let last = -Infinity
      for (const t of times) {
        if (t === null) {
          missing++
          last = Infinity
          continue
        }
        const ms = t - clockOffsetMs - answeredAt
        latencies.push(ms)
        last = Math.max(last, ms)
      }
      toAll.push(last)
    }
    const rounds = { open: [] as RoundResult[], none: [] as RoundResult[] }
    step(`subscribers: /get, ${opts.rounds} rounds with the ${opts.subscribers} streams open and ${opts.rounds} with none, in pairs of alternating order ` +
      `(${opts.generator}, ${opts.load.connections} connections, ${opts.load.durationSeconds} s after ${opts.load.warmupSeconds ?? 0} s of warm-up)`)
    // Right after the events, the first /get round cost the service's Node 20 to 50% more CPU per
    // /get whichever side it was (measured with the streams open first, and with none first), so an
    // unmeasured stretch first;
    // and the pairs alternate their order (open first, then none first...) to cancel any drift.
    await getRound(service, { ...opts, load: { ...opts.load, durationSeconds: WARM_UP_SECONDS, warmupSeconds: 0 } })
    let isOpen = true
    for (let i = 0; i < opts.rounds; i++) {
      for (const side of (i % 2 === 0 ? ['open', 'none'] as const : ['none', 'open'] as const)) {
        if ((side === 'open') !== isOpen) {
          if (isOpen) await streams.close()
          else await streams.open(service.url, opts.subscribers)
          isOpen = !isOpen
        }
        await sleep(1000)
        rounds[side].push(await getRound(service, opts))
      }
    }
    const ratios = rounds.open.map((r, i) => r.rps / rounds.none[i].rps)
    return {
      subscribers: opts.subscribers,
      events: made.length,
      delivery: {
        samples: latencies.length,
        min: percentile(latencies, 0),
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        max: percentile(latencies, 100),
        missing
      },
      toAll: { p50: percentile(toAll, 50), p99: percentile(toAll, 99), max: percentile(toAll, 100) },
      ...(cpuPerEventUs === undefined ? {} : { cpuPerEventUs }),
      ...(busyCores === undefined ? {} : { busyCores: { all: busyCores, run: cpuPerEventUs === undefined ? NaN : totalOf(cpuPerEventUs) * made.length / 1e6 / eventSeconds } }),
      clockOffsetMs,
      rssKb: { before: before.rss, open: open.rss, afterEvents: afterEvents.rss },
      kbPerSubscriber: (open.rss - before.rss) / opts.subscribers,
      heapKb: { before: before.heap, open: open.heap },
      heapKbPerSubscriber: (open.heap - before.heap) / opts.subscribers,
      openMs,
      rounds,
      ratio: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) }
    }
  } finally {
    inspector.close()
    streams.stop()
  }
}
