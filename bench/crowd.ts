// The crowded lists: a user with 10,000 sessions and an address with 100,000 (dataset.ts,
// preloadCrowd); the reference's pages of them, full walks of the address side by side with the
// reference, and /get while a client walks it.
import type { Running } from '../lib/processes.js'
import { CROWD_IP, CROWD_USER } from './dataset.js'
import { round, type RoundResult } from './load.js'
import { settings } from './options.js'
import { startWalker } from './processes.js'
import { median, step } from './report.js'
import { getJson, type Context, type ListAnswer } from './rows.js'
import { walk, type Walk } from './walk.js'
import { USER_PAGE, WORKLOADS, type Population } from './workloads.js'

// The crowded user and address (dataset.ts, preloadCrowd), and the page size of a full walk.
export const CROWD_USER_SESSIONS = 10_000
export const CROWD_IP_SESSIONS = 100_000
export const WALK_PAGE = 1000
const WALK_PATH = `/ip?ip=${CROWD_IP}&limit=${WALK_PAGE}`
const WALK_TIMEOUT_SECONDS = 120
/**
 * The reference's answers to the crowded lists: the service's own first pages (USER_PAGE sessions
 * of the crowded user, WALK_PAGE of the crowded address), each with its `next` cursor.
 */
export async function crowdBodies (service: Running): Promise<Record<string, unknown>> {
  const page = await getJson<ListAnswer>(`${service.url}/user?id=${CROWD_USER}&limit=${USER_PAGE}`)
  const walkPage = await getJson<ListAnswer>(`${service.url}${WALK_PATH}`)
  if (page.data.length !== USER_PAGE || page.next === null || walkPage.data.length !== WALK_PAGE || walkPage.next === null) {
    throw new Error(`the crowded lists answered ${page.data.length} and ${walkPage.data.length} sessions`)
  }
  return { [`/user?limit=${USER_PAGE}`]: page, [`/ip?limit=${WALK_PAGE}`]: walkPage }
}

export interface WalkResult {
  /** Pages and sessions of one walk of the service (the reference walks as many pages). */
  pages: number
  sessions: number
  /** Sessions of that walk with distinct ids. */
  distinct: number
  service: Walk[]
  reference: Walk[]
  /** Medians over the walks of each side: seconds per walk and sessions per second. */
  seconds: { service: number, reference: number }
  sessionsPerSecond: { service: number, reference: number }
  /** service / reference, walk by walk, then the median. */
  ratio: number
}

/**
 * Full walks of the crowded address, one request at a time, alternating with the reference
 * (which answers its canned page of WALK_PAGE as many times as the service had pages), each
 * side's first walk unmeasured.
 */
export async function walks (ctx: Context): Promise<WalkResult> {
  step(`walk: ${settings.walks} full walks of ${WALK_PATH} on each side, alternating, after one unmeasured`)
  // The unmeasured walk parses each page, and counts each session it lists once.
  const ids = new Set<string>()
  const first = await walk(ctx.service.url, WALK_PATH, { timeoutSeconds: WALK_TIMEOUT_SECONDS, ids })
  const opts = { maxPages: first.pages, timeoutSeconds: WALK_TIMEOUT_SECONDS }
  await walk(ctx.reference.url, WALK_PATH, opts)
  const out = { service: [] as Walk[], reference: [] as Walk[] }
  for (let i = 0; i < settings.walks; i++) {
    out.reference.push(await walk(ctx.reference.url, WALK_PATH, opts))
    out.service.push(await walk(ctx.service.url, WALK_PATH, opts))
  }
  const seconds = { service: median(out.service.map((w) => w.seconds)), reference: median(out.reference.map((w) => w.seconds)) }
  return {
    pages: first.pages,
    sessions: first.sessions,
    distinct: ids.size,
    ...out,
    seconds,
    sessionsPerSecond: { service: first.sessions / seconds.service, reference: first.sessions / seconds.reference },
    ratio: median(out.service.map((w, i) => w.seconds / out.reference[i].seconds))
  }
}

export interface DuringWalkResult {
  idle: RoundResult[]
  during: RoundResult[]
  /** What the walker listed during each round (after its first page), per second. */
  walkerSessionsPerSecond: number[]
  /** The walker's own CPU (the client's, not the service's) over the same time: cores busy. */
  walkerCores: number[]
  /** Medians over the rounds; ratio: during / idle, round by round, then the median. */
  p99: { idle: number, during: number, ratio: number }
}

/**
 * /get p99 of the service in alternating rounds: idle, then while a client (a process of its own)
 * walks the crowded address in a loop. The reference has no list to walk: absolute numbers.
 */
export async function getDuringWalk (ctx: Context, dir: string, population: Population): Promise<DuringWalkResult> {
  step(`/get during walks: ${settings.rounds} rounds of ${settings.load.durationSeconds} s idle and as many while a client walks ${WALK_PATH} in a loop, alternating`)
  const out: DuringWalkResult = { idle: [], during: [], walkerSessionsPerSecond: [], walkerCores: [], p99: { idle: 0, during: 0, ratio: 0 } }
  for (let i = 0; i < settings.rounds; i++) {
    out.idle.push(await round(ctx.service.url, WORKLOADS.get.requests(population), settings.load, ctx.service.proc.pid))
    const walker = await startWalker(ctx.service.url, WALK_PATH, dir)
    try {
      out.during.push(await round(ctx.service.url, WORKLOADS.get.requests(population), settings.load, ctx.service.proc.pid))
    } finally {
      const listed = await walker.stop()
      out.walkerSessionsPerSecond.push(listed.seconds > 0 ? listed.sessions / listed.seconds : 0)
      out.walkerCores.push(listed.seconds > 0 ? listed.cpuSeconds / listed.seconds : 0)
    }
  }
  out.p99 = {
    idle: median(out.idle.map((r) => r.p99)),
    during: median(out.during.map((r) => r.p99)),
    ratio: median(out.during.map((r, i) => r.p99 / out.idle[i].p99))
  }
  return out
}
