// A run's progress lines; medians, ratios to the reference, the printed table and the JSON file of a run.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { totalOf, type CpuPerRequest } from './cpu.js'
import type { RoundResult } from './load.js'

/** Prints a step of the run, after the time of day. */
export const step = (text: string): void => { console.log(`[${new Date().toISOString().slice(11, 19)}] ${text}`) }

/** The median of some numbers (the mean of the middle two for an even count). */
export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** The `p`th percentile of some numbers, nearest rank (p 100: the largest); NaN for none. */
export function percentile (values: number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]
}

/** One row of the table: medians over the rounds, and the median of the per-round ratios. */
export interface Row {
  workload: string
  service: { rps: number, p50: number, p99: number, non2xx: number, errors: number }
  reference: { rps: number, p50: number, p99: number }
  /** service / reference, round by round, then the median. */
  ratio: { rps: number, p50: number, p99: number }
  /** Medians over the rounds of the CPU per request of each part, where it was measured. */
  cpu?: { service: CpuPerRequest, reference: CpuPerRequest }
  rounds: { service: RoundResult[], reference: RoundResult[] }
  /** The load generator of its rounds (wrk or autocannon), where the run names it. */
  generator?: string
}

const medianOf = (rounds: RoundResult[], key: 'rps' | 'p50' | 'p99'): number => median(rounds.map((r) => r[key]))
const ratioOf = (s: RoundResult[], r: RoundResult[], key: 'rps' | 'p50' | 'p99'): number =>
  median(s.map((round, i) => round[key] / r[i][key]))
const sum = (rounds: RoundResult[], key: 'non2xx' | 'errors'): number => rounds.reduce((n, r) => n + r[key], 0)

/** Each part's median over the rounds, if every round measured CPU. */
function cpuOf (rounds: RoundResult[]): CpuPerRequest | undefined {
  if (!rounds.every((r) => r.cpu !== undefined)) return undefined
  const parts = new Set(rounds.flatMap((r) => Object.keys(r.cpu!)))
  return Object.fromEntries([...parts].map((part) => [part, median(rounds.map((r) => r.cpu![part] ?? 0))]))
}

/** Builds a row from alternating rounds (same count on both sides). */
export function row (workload: string, rounds: { service: RoundResult[], reference: RoundResult[] }): Row {
  const { service: s, reference: r } = rounds
  const cpu = { service: cpuOf(s), reference: cpuOf(r) }
  return {
    workload,
    service: { rps: medianOf(s, 'rps'), p50: medianOf(s, 'p50'), p99: medianOf(s, 'p99'), non2xx: sum(s, 'non2xx'), errors: sum(s, 'errors') },
    reference: { rps: medianOf(r, 'rps'), p50: medianOf(r, 'p50'), p99: medianOf(r, 'p99') },
    ratio: { rps: ratioOf(s, r, 'rps'), p50: ratioOf(s, r, 'p50'), p99: ratioOf(s, r, 'p99') },
    ...(cpu.service !== undefined && cpu.reference !== undefined ? { cpu: { service: cpu.service, reference: cpu.reference } } : {}),
    rounds
  }
}

// A table line of these column widths: the first cell left-aligned, the others right-aligned.
const columns = (widths: number[]) => (cells: string[]): string =>
  cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' ')
const fixed = (n: number, digits = 0): string => n.toFixed(digits)

/**
 * The table: req/s, p50 and p99 (ms) of the service, and each as a ratio to the reference
 * (`names` the columns of each side when they are not the service and the reference).
 */
export function table (rows: Row[], names = { service: '', reference: 'ref ' }): string {
  const { service: s, reference: r } = names
  const gen = rows.some((r) => r.generator !== undefined)
  const head = ['workload', `${s}req/s`, `${r}req/s`, 'ratio', `${s}p50`, `${r}p50`, 'ratio', `${s}p99`, `${r}p99`, 'ratio', `${s}non-2xx`, ...(gen ? ['gen'] : [])]
  const line = columns([30, 8, 10, 6, 6, 8, 6, 6, 8, 6, 8, 11].map((width, i) => Math.max(width, (head[i] ?? '').length + 1)))
  return [
    line(head),
    ...rows.map((r) => line([
      r.workload,
      fixed(r.service.rps), fixed(r.reference.rps), fixed(r.ratio.rps, 2),
      fixed(r.service.p50, 2), fixed(r.reference.p50, 2), fixed(r.ratio.p50, 2),
      fixed(r.service.p99, 2), fixed(r.reference.p99, 2), fixed(r.ratio.p99, 2),
      String(r.service.non2xx),
      ...(gen ? [r.generator ?? '-'] : [])
    ]))
  ].join('\n')
}

/** A workload measured on the service and on a peer in the same alternating rounds. */
export interface PeerPair {
  service: Row
  peer: Row
  /** service / peer, round by round, then the median. */
  ratio: number
}

/**
 * The service and a peer (the Redis script), each against the reference of the same rounds, side
 * by side: req/s and its ratio to the reference, p99, and service / peer.
 */
export function peerTable (pairs: PeerPair[], peer = 'Redis script'): string {
  const head = ['workload', 'service req/s', 'ratio', `${peer} req/s`, 'ratio', 'svc p99', 'peer p99', `service / ${peer}`]
  const line = columns(head.map((h, i) => Math.max(i === 0 ? 30 : 8, h.length + 1)))
  return [
    line(head),
    ...pairs.map(({ service, peer: p, ratio }) => line([
      service.workload,
      fixed(service.service.rps), fixed(service.ratio.rps, 2), fixed(p.service.rps), fixed(p.ratio.rps, 2),
      fixed(service.service.p99, 2), fixed(p.service.p99, 2), fixed(ratio, 2)
    ]))
  ].join('\n')
}

const TARANTOOL_PARTS = ['tarantool tx', 'tarantool iproto', 'tarantool wal']

/**
 * CPU per request (µs), medians over the rounds: the load generator and Node on each side, the
 * service's Tarantool by thread, each side's total, and the reference's total over the service's:
 * the rate ratio to expect where all these processes share the cores and keep them busy.
 * Undefined when CPU was not measured (no /proc).
 */
export function cpuTable (rows: Row[]): string | undefined {
  const measured = rows.filter((r) => r.cpu !== undefined)
  if (measured.length === 0) return undefined
  const head = ['CPU µs/request', 'ref gen', 'ref node', 'ref all', 'gen', 'node', 'tnt tx', 'iproto', 'wal', 'redis', 'all', 'ref all/all']
  const line = columns([30, 8, 9, 8, 6, 6, 7, 7, 5, 6, 6, 11])
  const one = (n: number | undefined): string => (n === undefined ? '-' : fixed(n, 1))
  return [
    line(head),
    ...measured.map((r) => {
      const { service: s, reference: ref } = r.cpu!
      return line([
        r.workload,
        one(ref['load generator']), one(ref.node), one(totalOf(ref)),
        one(s['load generator']), one(s.node), ...TARANTOOL_PARTS.map((part) => one(s[part])), one(s.redis), one(totalOf(s)),
        fixed(totalOf(ref) / totalOf(s), 2)
      ])
    })
  ].join('\n')
}

/** Writes the run's results as JSON under `dir`, as `<name>-<date>.json`; returns the file's path. */
export function writeResults (dir: string, results: object, name = 'bench'): string {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n')
  return file
}
