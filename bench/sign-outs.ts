// Sign-outs: /del_user of a user with 10,000 sessions side by side with the reference (and by the
// procedure alone, inside Tarantool), and /get while a user with 100,000 is signed out.
import { CROWD_USER_SESSIONS } from './crowd.js'
import { countUser, CROWD_USER, deleteUserInTarantool, preloadUser } from './dataset.js'
import { round, startRound, summarize, type RoundResult } from './load.js'
import { settings } from './options.js'
import { median, step } from './report.js'
import { getJson, type Context } from './rows.js'
import { WORKLOADS, type Population } from './workloads.js'

// The users the /del_user rows sign out, made again before each sign-out (dataset.ts,
// preloadUser): the crowded user's 10,000 sessions (its tokens and ips, after the crowd is gone),
// and a user of 100,000 of its own, with tokens and ips apart from all others (13.x.y.z).
const DEL_USER = { userId: CROWD_USER, sessions: CROWD_USER_SESSIONS, tokenPrefix: 'be5c0001', firstIp: 11 * 16777216 }
export const DEL_BIG_USER = { userId: 9_500_000, sessions: 100_000, tokenPrefix: 'be5c0004', firstIp: 13 * 16777216 }
// The longest a sign-out may take (its request, and the load that runs meanwhile).
const DEL_TIMEOUT_SECONDS = 120

// The service's answer to a sign-out of the user with 10,000 sessions (checked against its first).
export const delUserBody = { status: 'success', data: { deleted: DEL_USER.sessions } }

export interface SignOutResult {
  sessions: number
  /** Seconds to answer, sign-out by sign-out: the service, and the reference (its canned answer). */
  service: number[]
  reference: number[]
  /** The same sign-outs by the procedure alone, called in a loop inside Tarantool, and its calls. */
  tarantool: number[]
  calls: number
  /** Medians; sessions ended per second of the median sign-out. */
  seconds: { service: number, reference: number, tarantool: number }
  sessionsPerSecond: { service: number, tarantool: number }
  /** service / reference and service / tarantool, sign-out by sign-out, then the median. */
  ratio: number
  tarantoolRatio: number
}

/**
 * /del_user of the user with 10,000 sessions (DEL_USER), one request at a time, alternating with
 * the reference (its canned answer, the service's own), after one unmeasured a side; the user's
 * sessions made again in Tarantool before each of the service's sign-outs. Each round also signs
 * the user out by the procedure alone, in Tarantool (dataset.ts, deleteUserInTarantool): what the
 * deletes themselves cost, apart from the calls, Node and HTTP.
 */
export async function signOuts (ctx: Context): Promise<SignOutResult> {
  const path = `/del_user?id=${DEL_USER.userId}`
  step(`/del_user: ${settings.signOuts} sign-outs of a user with ${DEL_USER.sessions} sessions on each side, alternating, after one unmeasured; the user made again in Tarantool before each`)
  const timed = async (url: string): Promise<{ seconds: number, answer: { data: { deleted: number } } }> => {
    const started = performance.now()
    const answer = await getJson<{ data: { deleted: number } }>(`${url}${path}`, DEL_TIMEOUT_SECONDS)
    return { seconds: (performance.now() - started) / 1000, answer }
  }
  const service = async (): Promise<number> => {
    await preloadUser(ctx.console, DEL_USER)
    const { seconds, answer } = await timed(ctx.service.url)
    const left = await countUser(ctx.console, DEL_USER.userId)
    if (answer.data.deleted !== DEL_USER.sessions || left !== 0) {
      throw new Error(`/del_user: ${JSON.stringify(answer)}, ${left} sessions left; ${DEL_USER.sessions} deleted and none left expected`)
    }
    return seconds
  }
  const first = await (async () => {
    await preloadUser(ctx.console, DEL_USER)
    return (await timed(ctx.service.url)).answer
  })()
  if (JSON.stringify(first) !== JSON.stringify(delUserBody)) {
    throw new Error(`/del_user answered ${JSON.stringify(first)}, the reference answers ${JSON.stringify(delUserBody)}`)
  }
  await timed(ctx.reference.url)
  const out = { service: [] as number[], reference: [] as number[], tarantool: [] as number[] }
  let calls = 0
  for (let i = 0; i < settings.signOuts; i++) {
    out.reference.push((await timed(ctx.reference.url)).seconds)
    out.service.push(await service())
    await preloadUser(ctx.console, DEL_USER)
    const direct = await deleteUserInTarantool(ctx.console, DEL_USER.userId)
    if (direct.deleted !== DEL_USER.sessions) throw new Error(`sessions.del_user in Tarantool deleted ${direct.deleted} of ${DEL_USER.sessions}`)
    out.tarantool.push(direct.seconds)
    calls = direct.calls
  }
  const seconds = { service: median(out.service), reference: median(out.reference), tarantool: median(out.tarantool) }
  return {
    sessions: DEL_USER.sessions,
    ...out,
    calls,
    seconds,
    sessionsPerSecond: { service: DEL_USER.sessions / seconds.service, tarantool: DEL_USER.sessions / seconds.tarantool },
    ratio: median(out.service.map((s, i) => s / out.reference[i])),
    tarantoolRatio: median(out.service.map((s, i) => s / out.tarantool[i]))
  }
}

export interface DuringSignOutResult {
  during: RoundResult[]
  idle: RoundResult[]
  /** Seconds each sign-out took to answer (under the load): each round's measured length. */
  signOutSeconds: number[]
  /** Medians over the rounds; ratio: during / idle, round by round, then the median. */
  p99: { idle: number, during: number, ratio: number }
}

/**
 * /get p99 of the service in alternating rounds: while a client signs out the user with 100,000
 * sessions (DEL_BIG_USER, made again before each: one /del_user, from the end of the round's
 * warm-up to its answer, which ends the round), then idle for as long, after a warm-up of its
 * own. The reference has no sessions to end: absolute numbers.
 */
export async function getDuringSignOut (ctx: Context, population: Population): Promise<DuringSignOutResult> {
  const path = `/del_user?id=${DEL_BIG_USER.userId}`
  step(`/get during /del_user: ${settings.rounds} rounds while a client signs out a user with ${DEL_BIG_USER.sessions} sessions (made again before each), ` +
    'each followed by an idle round as long, alternating')
  const out: DuringSignOutResult = { during: [], idle: [], signOutSeconds: [], p99: { idle: 0, during: 0, ratio: 0 } }
  const settle = Math.max(0.5, settings.load.warmupSeconds)
  for (let i = 0; i < settings.rounds; i++) {
    await preloadUser(ctx.console, DEL_BIG_USER)
    let measuring: () => void = () => {}
    const measured = new Promise<void>((resolve) => { measuring = resolve })
    const load = startRound(ctx.service.url, WORKLOADS.get.requests(population),
      { ...settings.load, warmupSeconds: settle, durationSeconds: DEL_TIMEOUT_SECONDS }, () => measuring())
    let seconds: number
    let answer: { data: { deleted: number } }
    try {
      await measured
      const started = performance.now()
      answer = await getJson<{ data: { deleted: number } }>(`${ctx.service.url}${path}`, DEL_TIMEOUT_SECONDS)
      seconds = (performance.now() - started) / 1000
    } finally {
      load.instance.stop()
    }
    out.during.push(summarize(await load.instance, load.measured))
    const left = await countUser(ctx.console, DEL_BIG_USER.userId)
    if (answer.data.deleted !== DEL_BIG_USER.sessions || left !== 0) {
      throw new Error(`/del_user under load: ${JSON.stringify(answer)}, ${left} left; ${DEL_BIG_USER.sessions} deleted and none left expected`)
    }
    out.signOutSeconds.push(seconds)
    out.idle.push(await round(ctx.service.url, WORKLOADS.get.requests(population), { ...settings.load, warmupSeconds: settle, durationSeconds: seconds }))
  }
  out.p99 = {
    idle: median(out.idle.map((r) => r.p99)),
    during: median(out.during.map((r) => r.p99)),
    ratio: median(out.during.map((r, i) => r.p99 / out.idle[i].p99))
  }
  return out
}
