// One load round with autocannon, and alternating rounds against the reference and the service.
import autocannon, { type Instance, type Request } from 'autocannon'
import { cpuMeter, type CpuPerRequest } from './cpu.js'

export interface LoadOptions {
  connections: number
  durationSeconds: number
}

/** What one round measured. */
export interface RoundResult {
  rps: number
  p50: number
  p99: number
  non2xx: number
  errors: number
  /** CPU per request of the server's processes and of the load generator, where /proc tells. */
  cpu?: CpuPerRequest
}

/** Starts a round; `stop()` on the returned instance ends it early. */
export function startRound (url: string, requests: Request[], opts: LoadOptions): Instance {
  return autocannon({ url, connections: opts.connections, duration: opts.durationSeconds, timeout: 10, requests })
}

/** Runs one round to its end; `pid`: the server's process, to measure its CPU (and its children's). */
export async function round (url: string, requests: Request[], opts: LoadOptions, pid?: number): Promise<RoundResult> {
  const meter = cpuMeter(pid)
  const raw = await startRound(url, requests, opts)
  const cpu = meter.stop(raw.requests.total)
  const result = summarize(raw)
  return cpu === undefined ? result : { ...result, cpu }
}

/** Reduces autocannon's result to what the bench reports. */
export function summarize (result: Awaited<Instance>): RoundResult {
  return {
    rps: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
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
