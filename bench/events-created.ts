// What `created` events cost per /new (issue 26): alternating rounds of /new on one service, its
// Tarantool writing each session's `created` event, and with the events switched off for the
// round from the admin console (the session's insert alone, without the event and without the
// transaction around both: what /new did before the events). One process, the same data, so the
// difference is the event's: CPU per /new of the service's Node and of each Tarantool thread.
import type { AdminConsole } from '../lib/admin-console.js'
import type { Running } from '../lib/processes.js'
import { totalOf } from './cpu.js'
import type { LoadOptions, RoundResult } from './load.js'
import { median, step } from './report.js'
import type { Population } from './workloads.js'
import { workloadRound, type ListFiles } from './wrk.js'

export interface CreatedCostOptions {
  rounds: number
  load: LoadOptions
  generator: 'wrk' | 'autocannon'
  files: ListFiles
  /** Where /new's users and ips are drawn from. */
  population: Population
}

export interface CreatedCostResult {
  /** Rounds with the events written (`on`) and without (`off`), in pairs of alternating order. */
  rounds: { on: RoundResult[], off: RoundResult[] }
  /** Medians of Tarantool's CPU per /new (all its threads), µs, each side; and of on - off, pair by pair. */
  tarantoolUs: { on: number, off: number, event: number }
  /** The same for the service's Node. */
  nodeUs: { on: number, off: number, event: number }
  /** Median of on / off /new per second, pair by pair. */
  rateRatio: number
}

// The events module's two entry points /new calls, kept aside while switched off; restored after.
const SWITCH_OFF = `
local e = require('sessions.events')
rawset(e, 'bench_kept', rawget(e, 'bench_kept') or {emit_created = e.emit_created, atomic = e.atomic})
e.emit_created = function() end
e.atomic = function(fn, ...) return fn(...) end
return true`
const SWITCH_ON = `
local e = require('sessions.events')
local kept = rawget(e, 'bench_kept')
if kept ~= nil then e.emit_created, e.atomic = kept.emit_created, kept.atomic end
rawset(e, 'bench_kept', nil)
return true`

const tarantoolOf = (r: RoundResult): number =>
  totalOf(Object.fromEntries(Object.entries(r.cpu ?? {}).filter(([part]) => part.startsWith('tarantool'))))
const nodeOf = (r: RoundResult): number => r.cpu?.node ?? NaN

export async function measureCreatedCost (service: Running, admin: AdminConsole, opts: CreatedCostOptions): Promise<CreatedCostResult> {
  step(`created: /new, ${opts.rounds} rounds with the events written and ${opts.rounds} with them switched off, in pairs of alternating order ` +
    `(${opts.generator}, ${opts.load.connections} connections, ${opts.load.durationSeconds} s after ${opts.load.warmupSeconds ?? 0} s of warm-up)`)
  const rounds = { on: [] as RoundResult[], off: [] as RoundResult[] }
  try {
    for (let i = 0; i < opts.rounds; i++) {
      for (const side of (i % 2 === 0 ? ['on', 'off'] as const : ['off', 'on'] as const)) {
        await admin.eval(side === 'on' ? SWITCH_ON : SWITCH_OFF)
        rounds[side].push(await workloadRound(service.url, service.proc.pid, 'new', opts))
      }
    }
  } finally {
    await admin.eval(SWITCH_ON)
  }
  const pairs = <T>(f: (on: RoundResult, off: RoundResult) => T): T[] => rounds.on.map((on, i) => f(on, rounds.off[i]))
  return {
    rounds,
    tarantoolUs: {
      on: median(rounds.on.map(tarantoolOf)),
      off: median(rounds.off.map(tarantoolOf)),
      event: median(pairs((on, off) => tarantoolOf(on) - tarantoolOf(off)))
    },
    nodeUs: {
      on: median(rounds.on.map(nodeOf)),
      off: median(rounds.off.map(nodeOf)),
      event: median(pairs((on, off) => nodeOf(on) - nodeOf(off)))
    },
    rateRatio: median(pairs((on, off) => on.rps / off.rps))
  }
}
