// The delivery of `created` events to N idle subscribers (the subscribers' part of `npm run
// bench:events`): the streams' process (events-streams.ts) told what to do, sessions made through
// /new a few ms apart, and each event's arrival at each stream; against the service, or against
// the bare node:http reference (events-reference.ts) in the same run.
import { fork, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { freePort, killedOnExit } from '../lib/processes.js'
import { cpuMeter, machineMeter, totalOf, type CpuPerRequest } from './cpu.js'
import type { Command, Reply } from './events-streams.js'
import { percentile } from './report.js'

const now = (): number => performance.timeOrigin + performance.now()
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** The streams' process: one command at a time, each answered within `timeoutMs`. */
export class Streams {
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
export async function makeSessions (url: string, count: number, spacingMs: number): Promise<Array<{ id: string, answeredAt: number }>> {
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

export interface DeliveryResult {
  /** ms from /new's answer to the event's arrival, over every (event, subscriber); missing ones not included. */
  delivery: { samples: number, min: number, p50: number, p99: number, max: number, missing: number }
  /** ms from /new's answer to the event's arrival at the last of the subscribers, over the events. */
  toAll: { p50: number, p99: number, max: number }
  /**
   * CPU per event (µs) while the sessions were made, by part: the server's `node` (its fan-out to
   * every stream), the service's `tarantool ...` threads, `subscribers` (the streams' process),
   * `load generator` (this process, making the sessions); undefined without /proc.
   */
  cpuPerEventUs?: CpuPerRequest
  /** Cores the machine kept busy while the sessions were made: all, and this run's processes (the rest: other people's). */
  busyCores?: { all: number, run: number }
}

/**
 * Makes `events` sessions `spacingMs` apart through the server at `url` (process `pid`), whose
 * streams are open in `streams`, and times each `created` event's arrival at each of them.
 */
export async function measureDelivery (url: string, pid: number, streams: Streams, clockOffsetMs: number, events: number, spacingMs: number): Promise<DeliveryResult> {
  const meter = cpuMeter(pid, { subscribers: streams.pid })
  const machine = machineMeter()
  const started = performance.now()
  const made = await makeSessions(url, events, spacingMs)
  const { arrivals } = await streams.ask({ cmd: 'collect', ids: made.map((m) => m.id), timeoutMs: 5000 }, 'arrivals')
  const seconds = (performance.now() - started) / 1000
  const cpuPerEventUs = meter.stop(made.length)
  const busyCores = machine.stop()
  const latencies: number[] = []
  const toAll: number[] = []
  let missing = 0
  for (const { id, answeredAt } of made) {
    let last = -Infinity
    for (const t of arrivals[id]) {
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
  return {
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
    ...(busyCores === undefined ? {} : { busyCores: { all: busyCores, run: cpuPerEventUs === undefined ? NaN : totalOf(cpuPerEventUs) * made.length / 1e6 / seconds } })
  }
}

/** The bare node:http fan-out (events-reference.ts), listening on a loopback port. */
export async function startReference (): Promise<{ url: string, pid: number, stop: () => void }> {
  const port = await freePort()
  const child = fork(join(import.meta.dirname, 'events-reference.ts'), [String(port)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  killedOnExit(child)
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('the reference fan-out did not listen within 20 s')) }, 20_000)
    child.once('message', () => { clearTimeout(timer); resolve() })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the reference fan-out exited (${code})`)) })
  })
  return { url: `http://127.0.0.1:${port}`, pid: child.pid!, stop: () => { child.kill() } }
}
