// The goals of issue 23 and a one-line verdict on each, from what a run measured; and the CPU per
// request figures those goals name (as ../shared/tools/hot-path-cost.mjs prints them).
import type { CpuPerRequest } from './cpu.js'
import { median, type Row } from './report.js'

/** The CPU of a row's service side in the reference's Node CPU per request (its `hello`). */
export interface CpuFigures {
  /** The reference's Node µs per request. */
  referenceNodeUs: number
  nodeUs: number
  /** All of Tarantool's threads. */
  tarantoolUs: number
  txUs: number
  node: number
  tarantool: number
}

const tarantoolOf = (cpu: CpuPerRequest): number =>
  Object.entries(cpu).filter(([part]) => part.startsWith('tarantool')).reduce((n, [, us]) => n + us, 0)

/** CPU per request of a row's service and its ratios to the reference's Node; undefined without CPU figures. */
export function cpuFigures (row: Row | undefined): CpuFigures | undefined {
  const cpu = row?.cpu
  if (cpu === undefined || cpu.reference.node === undefined || cpu.service.node === undefined || !(cpu.reference.node > 0)) return undefined
  const ref = cpu.reference.node
  const tarantoolUs = tarantoolOf(cpu.service)
  return {
    referenceNodeUs: ref,
    nodeUs: cpu.service.node,
    tarantoolUs,
    txUs: cpu.service['tarantool tx'] ?? 0,
    node: cpu.service.node / ref,
    tarantool: tarantoolUs / ref
  }
}

/** `/get` per second one Tarantool can serve: 1e6 / its tx thread's µs per /get. */
export const getsPerTarantool = (txUs: number): number => (txUs > 0 ? 1e6 / txUs : Infinity)

/** service / peer rate, round by round (rounds of the same alternation), then the median. */
export const rateRatio = (service: Row, peer: Row): number =>
  median(service.rounds.service.map((r, i) => r.rps / peer.rounds.service[i].rps))

export type GoalKey = 'floor' | 'get' | 'new' | 'getMillion' | 'rotate' | 'user' | 'ip' | 'p99Get' | 'redisGet' | 'redisNew' |
  'nodeGet' | 'nodeNew' | 'tarantoolGet' | 'tarantoolNew' | 'getsPerTarantool' | 'memory' | 'sweepP99' | 'walkP99'

interface Goal {
  key: GoalKey
  text: string
  at: 'least' | 'most'
  target: number
  /** How the measured value reads: x (a ratio), /s, B/session. */
  unit: 'x' | '/s' | 'B/session'
}

export const GOALS: Goal[] = [
  { key: 'floor', text: 'floor /get (one no-op call) vs reference', at: 'least', target: 0.75, unit: 'x' },
  { key: 'get', text: '/get vs reference', at: 'least', target: 0.65, unit: 'x' },
  { key: 'new', text: '/new vs reference', at: 'least', target: 0.5, unit: 'x' },
  { key: 'getMillion', text: '/get at 1,000,000 sessions vs reference', at: 'least', target: 0.6, unit: 'x' },
  { key: 'rotate', text: '/rotate vs reference', at: 'least', target: 0.4, unit: 'x' },
  { key: 'user', text: '/user (five sessions) vs reference', at: 'least', target: 0.5, unit: 'x' },
  { key: 'ip', text: '/ip (five sessions) vs reference', at: 'least', target: 0.5, unit: 'x' },
  { key: 'p99Get', text: 'p99 /get vs reference\'s', at: 'most', target: 1.5, unit: 'x' },
  { key: 'redisGet', text: '/get vs the Fastify + Redis script', at: 'least', target: 1.4, unit: 'x' },
  { key: 'redisNew', text: '/new vs the Fastify + Redis script', at: 'least', target: 1.4, unit: 'x' },
  { key: 'nodeGet', text: 'Node CPU per /get vs reference\'s Node per request', at: 'most', target: 1.4, unit: 'x' },
  { key: 'nodeNew', text: 'Node CPU per /new vs reference\'s Node per request', at: 'most', target: 1.6, unit: 'x' },
  { key: 'tarantoolGet', text: 'Tarantool CPU (all threads) per /get vs reference\'s Node', at: 'most', target: 0.5, unit: 'x' },
  { key: 'tarantoolNew', text: 'Tarantool CPU (all threads) per /new vs reference\'s Node', at: 'most', target: 0.7, unit: 'x' },
  { key: 'getsPerTarantool', text: '/get per second one Tarantool can serve (1e6 / tx µs per /get)', at: 'least', target: 150_000, unit: '/s' },
  { key: 'memory', text: 'memory per session (arena_used, plain tokens)', at: 'most', target: 150, unit: 'B/session' },
  { key: 'sweepP99', text: '/get p99 during the expiry sweep vs idle', at: 'most', target: 2, unit: 'x' },
  { key: 'walkP99', text: '/get p99 while a client walks 100,000 sessions vs idle', at: 'most', target: 2, unit: 'x' }
]

/** A measured value, where it was measured (`note`: what it was measured on, printed after it). */
export interface Measured { value: number, note?: string }
/** What a run measured, by goal; a goal missing here was not measured (`why`: why not). */
export type Measurements = Partial<Record<GoalKey, Measured | { why: string }>>

const show = (value: number, unit: Goal['unit']): string =>
  unit === 'x' ? `${value.toFixed(2)}x` : unit === '/s' ? `${Math.round(value).toLocaleString('en-US')}/s` : `${value.toFixed(1)} B/session`

/** Whether a measured value meets a goal. */
export const meets = (goal: Pick<Goal, 'at' | 'target'>, value: number): boolean =>
  goal.at === 'least' ? value >= goal.target : value <= goal.target

/** One line per goal: `met`, `not met` or `not measured`, the goal, and the measured value. */
export function verdicts (measured: Measurements): string[] {
  return GOALS.map((goal) => {
    const target = `${goal.at === 'least' ? '>=' : '<='} ${show(goal.target, goal.unit)}`
    const m = measured[goal.key]
    if (m === undefined || 'why' in m) return `${'not measured'.padEnd(12)} ${goal.text} ${target}${m === undefined ? '' : `: ${m.why}`}`
    return `${(meets(goal, m.value) ? 'met' : 'not met').padEnd(12)} ${goal.text} ${target}: ${show(m.value, goal.unit)}${m.note === undefined ? '' : ` (${m.note})`}`
  })
}
