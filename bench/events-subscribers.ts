// 1,000 idle subscribers of GET /events on one service process (issue 26): how long each `created`
// event takes to reach each of them, the service's memory per subscriber, and /get's rate with them
// open against none. The streams live in a process of their own (events-streams.ts).
import { readFileSync } from 'node:fs'
import type { Running } from '../lib/processes.js'
import { measureDelivery, startReference, Streams, type DeliveryResult } from './events-delivery.js'
import { Inspector } from './inspector.js'
import type { LoadOptions, RoundResult } from './load.js'
import { median, step } from './report.js'
import type { Population } from './workloads.js'
import { workloadRound, type ListFiles } from './wrk.js'

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

export interface SubscriberResult extends DeliveryResult {
  subscribers: number
  events: number
  /** The same delivery by the bare node:http fan-out (events-reference.ts), in the same run. */
  reference?: DeliveryResult
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

/** One /get round on the service, by the run's generator (a warm-up, then the measured part). */
async function getRound (service: Running, opts: SubscriberOptions): Promise<RoundResult> {
  return await workloadRound(service.url, service.proc.pid, 'get', opts)
}

/** The same delivery by the bare node:http fan-out, to as many streams of the same process. */
async function referenceDelivery (streams: Streams, opts: SubscriberOptions): Promise<DeliveryResult> {
  const reference = await startReference()
  try {
    step(`subscribers: the same by a bare node:http fan-out (bench/events-reference.ts), ${opts.subscribers} streams`)
    await streams.open(reference.url, opts.subscribers)
    const delivered = await measureDelivery(reference.url, reference.pid, streams, await streams.clockOffset(), opts.events, opts.spacingMs)
    await streams.close()
    return delivered
  } finally {
    reference.stop()
  }
}

/**
 * Opens the streams (after a warm-up of a tenth of them, opened and closed), reads the service's
 * memory, makes the sessions and times their events' arrivals, the same with the reference, then alternates /get rounds with
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
    const delivered = await measureDelivery(service.url, pid, streams, clockOffsetMs, opts.events, opts.spacingMs)
    const afterEvents = await memoryAfterGc(inspector, pid)
    await streams.close()
    const reference = await referenceDelivery(streams, opts)
    await streams.open(service.url, opts.subscribers)
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
      events: opts.events,
      ...delivered,
      reference,
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
