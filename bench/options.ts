// The command line of npm run bench (run.ts): what a run measures, for how long, and how. Parsed
// when this module is first imported; an unknown option throws.
import { parseArgs } from 'node:util'
import type { ServiceSettings } from '../lib/processes.js'
import type { LoadOptions } from './load.js'
import { findWrk } from './wrk.js'

export const DAY = 86_400
/** The sessions of the first rows (/get and the floor) and of the sweep's live set. */
export const SMALL = 10_000

export const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    sessions: { type: 'string' },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    'log-level': { type: 'string' },
    'access-log': { type: 'string' },
    'replica-set': { type: 'boolean', default: false },
    autocannon: { type: 'boolean', default: false },
    'cpu-sessions': { type: 'string' },
    'redis-new': { type: 'string' },
    'synchro-quorum': { type: 'string' }
  }
})
export const settings = {
  quick: args.quick,
  sessions: Number(args.sessions ?? (args.quick ? 50_000 : 1_000_000)),
  rounds: Number(args.rounds ?? 3),
  // Full walks of the crowded address on each side, alternating (a walk is 1 to 3 s here).
  walks: args.quick ? 3 : 7,
  // Sign-outs of the user with 10,000 sessions on each side, alternating.
  signOuts: args.quick ? 5 : 9,
  load: {
    durationSeconds: Number(args.duration ?? (args.quick ? 1.5 : 10)),
    // After the other side's round, each side takes a moment to reach its pace (the service, with
    // Node and Tarantool to warm, 1 to 2 s; the reference about 0.5 s): not part of its rate.
    warmupSeconds: Number(args.warmup ?? (args.quick ? 0.5 : 1)),
    connections: Number(args.connections ?? 50)
  } satisfies LoadOptions,
  // The service's own defaults unless asked otherwise: as users run it. But memory: a million
  // sessions take 154 MB of the embedded Tarantool's default 256, and the /new, mixed and /rotate
  // rows at that size add about 400,000 sessions and as many events (110 B each, kept 900 s),
  // which ran it out of memory (2026-12-07, 23:34): 512 MB, as a deployment sized for them would.
  service: { logLevel: args['log-level'], accessLog: args['access-log'], memtxMemory: 512 * 1024 * 1024 } satisfies ServiceSettings
}

// wrk where it is installed (and not --autocannon), for the rows it can drive (wrk.ts).
export const WRK = args.autocannon ? undefined : findWrk()

// The sessions of the CPU per request figures (issue 23's goals: 200,000): a phase of its own when
// the run has more; the /get and /new rows at N otherwise.
export const CPU_SESSIONS = Number(args['cpu-sessions'] ?? 200_000)

// How the Redis script's /new stores a session: one Lua script (SET and SADD), or ioredis's pipeline.
export const REDIS_NEW = ((): 'script' | 'pipeline' => {
  const value = args['redis-new'] ?? 'script'
  if (value !== 'script' && value !== 'pipeline') throw new Error(`--redis-new: script or pipeline, not ${value}`)
  return value
})()
