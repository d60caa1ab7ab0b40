// One load round with autocannon, and alternating rounds against the reference and the service.
import autocannon, { type Instance, type Request } from 'autocannon'
import { build, type Histogram } from 'hdr-histogram-js'
import { cpuMeter, type CpuPerRequest } from './cpu.js'

export interface LoadOptions {
  connections: number
  durationSeconds: number
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

/** A round under way: `instance.stop()` ends it early; `latencies` fills as responses come. */
export interface StartedRound {
  instance: Instance
  latencies: Histogram
}

/** Starts a round. */
export function startRound (url: string, requests: Request[], opts: LoadOptions): StartedRound {
  const instance = autocannon({ url, connections: opts.connections, duration: opts.durationSeconds, timeout: 10, requests })
  return { instance, latencies: recordLatencies(instance) }
}

/**
 * The latencies of a round's 2xx responses (what autocannon counts), in microseconds. autocannon's
 * own summary keeps whole milliseconds: at the 2 to 10 ms of these rounds a p99 ratio then moves in
 * steps of 10 to 50%. Each response's time it reports is exact, and is kept here to 3 significant
 * digits.
 */
export function recordLatencies (instance: Instance): Histogram {
  const histogram = build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 })
  instance.on('response', (_client, statusCode, _bytes, ms) => {
    if (statusCode >= 200 && statusCode < 300) histogram.recordValue(Math.max(1, Math.round(ms * 1000)))
  })
  return histogram
}

/** Runs one round to its end; `pid`: the server's process, to measure its CPU (and its children's). */
export async function round (url: string, requests: Request[], opts: LoadOptions, pid?: number): Promise<RoundResult> {
  const meter = cpuMeter(pid)
  const { instance, latencies } = startRound(url, requests, opts)
  const raw = await instance
  const cpu = meter.stop(raw.requests.total)
  const result = summarize(raw, latencies)
  return cpu === undefined ? result : { ...result, cpu }
}

/** Reduces autocannon's result, and the round's latencies, to what the bench reports. */
export function summarize (result: Awaited<Instance>, latencies: Histogram): RoundResult {
  return {
    rps: result.requests.total / result.duration,
    p50: latencies.getValueAtPercentile(50) / 1000,
    p99: latencies.getValueAtPercentile(99) / 1000,
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
