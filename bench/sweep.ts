// The sweep: /get p99 on a live set while the expiry fiber removes the idle sessions around it,
// on data of its own (the space truncated first).
import { preload, sweepAll, truncate } from './dataset.js'
import { round, startRound, summarize, type RoundResult } from './load.js'
import { DAY, settings, SMALL } from './options.js'
import { median, step } from './report.js'
import type { Context } from './rows.js'
import { WORKLOADS, type Population } from './workloads.js'

const SWEEP_LIMIT_SECONDS = 600

export interface SweepResult {
  expired: number
  seconds: number
  /** How often the service's reconnect put its own TTL back during the sweep (see sweepAll). */
  ttlReset: number
  idle: RoundResult
  during: RoundResult
  p99Ratio: number
}

/** Fresh data: a live set and `sessions` idle ones; /get p99 on the live set idle, then during the sweep. */
export async function sweep (ctx: Context): Promise<SweepResult> {
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
