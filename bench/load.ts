// One load round with autocannon, and alternating rounds against the reference and the service.
import autocannon, { type Instance, type Request } from 'autocannon'
import { build, type Histogram } from 'hdr-histogram-js'
import { cpuMeter, type CpuPerRequest } from './cpu.js'

export interface LoadOptions {
  connections: number
  durationSeconds: number
  /**
   * Seconds of the same load before the measured ones, counted nowhere (default none). Each side
   * starts a round on cores the other side has just used, and needs a moment to reach its pace.
   */
  warmupSeconds?: number
}

/** What one round measured; latencies in milliseconds, to the microsecond. */
export interface RoundResult {
  rps: number
  p50: number
  p99: number
  non2xx: number
  errors: number
  /** CPU per request of the server's processes and of the load generator, where /proc tells. */
  cpu?: CpuPerRequest
}

/**
 * The measured part of a round: its responses and the latencies of its 2xx ones (what autocannon
 * counts), in microseconds, from `startedAt` (after the warm-up) to `endedAt` (performance.now()).
 */
export interface Measured {
  latencies: Histogram
  responses: number
  startedAt?: number
  endedAt?: number
}

/** A round under way: `instance.stop()` ends it early; `measured` fills as responses come. */
export interface StartedRound {
  instance: Instance
  measured: Measured
}

/** Starts a round; `onMeasuring` is called when its warm-up ends and its measured part starts. */
export function startRound (url: string, requests: Request[], opts: LoadOptions, onMeasuring?: () => void): StartedRound {
  const warmupSeconds = opts.warmupSeconds ?? 0
  const instance = autocannon({ url, connections: opts.connections, duration: warmupSeconds + opts.durationSeconds, timeout: 10, requests })
  return { instance, measured: measure(instance, warmupSeconds * 1000, onMeasuring) }
}

/**
 * Keeps what a round's responses show from `afterMs` on. autocannon's own summary counts the whole
 * round and keeps whole milliseconds: at the 2 to 10 ms of these rounds a p99 ratio then moves in
 * steps of 10 to 50%. Each response's time it reports is exact, and is kept here to 3 significant
 * digits.
 */
export function measure (instance: Instance, afterMs = 0, onMeasuring?: () => void): Measured {
  const measured: Measured = {
    latencies: build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 }),
    responses: 0
  }
  const start = (): void => {
    measured.startedAt = performance.now()
    onMeasuring?.()
  }
  if (afterMs > 0) setTimeout(start, afterMs).unref()
  else start()
  instance.on('response', (_client, statusCode, _bytes, ms) => {
    if (measured.startedAt === undefined) return
    measured.responses++
    if (statusCode >= 200 && statusCode < 300) measured.latencies.recordValue(Math.max(1, Math.round(ms * 1000)))
  })
  instance.on('done', () => { measured.endedAt = performance.now() })
  return measured
}

/**
 * Runs one round to its end; `pid`: the server's process, to measure its CPU (and its children's,
 * and that of `extraPids`, processes of the server that are not its children).
 */
export async function round (url: string, requests: Request[], opts: LoadOptions, pid?: number, extraPids: Record<string, number> = {}): Promise<RoundResult> {
  let meter: ReturnType<typeof cpuMeter> | undefined
  const { instance, measured } = startRound(url, requests, opts, () => { meter = cpuMeter(pid, extraPids) })
  const raw = await instance
  const cpu = meter?.stop(measured.responses)
  const result = summarize(raw, measured)
  return cpu === undefined ? result : { ...result, cpu }
}

/**
 * Reduces a round to what the bench reports: rate and latencies of its measured part; errors and
 * non-2xx answers of all of it.
 */
export function summarize (result: Awaited<Instance>, measured: Measured): RoundResult {
  const seconds = measured.startedAt === undefined ? 0 : ((measured.endedAt ?? performance.now()) - measured.startedAt) / 1000
  return {
    rps: seconds > 0 ? measured.responses / seconds : 0,
    p50: measured.latencies.getValueAtPercentile(50) / 1000,
    p99: measured.latencies.getValueAtPercentile(99) / 1000,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts
  }
}

/** Alternates rounds: reference, service, reference, service... `rounds` of each. */
export async function alternate (
  rounds: number,
  reference: () => Promise<RoundResult>,
  service: () => Promise<RoundResult>
): Promise<{ reference: RoundResult[], service: RoundResult[] }> {
  const out = { reference: [] as RoundResult[], service: [] as RoundResult[] }
  for (let i = 0; i < rounds; i++) {
    out.reference.push(await reference())
    out.service.push(await service())
  }
  return out
}
