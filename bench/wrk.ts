// Rounds under wrk (Debian's), where it is installed: a load generator in C that costs the shared
// cores far less per request than autocannon in the bench's own Node process. The requests are
// the autocannon generators' (workloads.ts), made by wrk.lua from files of the tokens, users and
// ips they pick from, written before the round (one file per list, kept for the run).
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cpuMeter } from './cpu.js'
import { CROWD_USER, ipOf, tokenOf, userRange } from './dataset.js'
import { round, type LoadOptions, type RoundResult } from './load.js'
import { USER_PAGE, WORKLOADS, type Population } from './workloads.js'

const SCRIPT = join(import.meta.dirname, 'wrk.lua')
// Clock ticks per second of /proc's utime and stime (as cpu.ts).
const TICKS = 100

/** wrk's version line (`wrk debian/4.1.0-3+b2 [epoll]`), or undefined where no wrk runs. */
export function findWrk (): string | undefined {
  const run = spawnSync('wrk', ['--version'], { encoding: 'utf8' })
  if (run.error !== undefined) return undefined
  // wrk --version exits 1 and prints its usage after the version.
  return /^wrk \S+/.exec(run.stdout + run.stderr)?.[0]
}

/** What wrk.lua's done() prints. */
export interface WrkOutput {
  requests: number
  durationUs: number
  p50Us: number
  p99Us: number
  errors: { connect: number, read: number, write: number, status: number, timeout: number }
  /** wrk's CPU ticks from its threads' being ready (files loaded) to its end; -1 without /proc. */
  cpuTicks: number
  /** mixed: the `next` it ended at (-1 otherwise). */
  next: number
}

/** Parses wrk's output with wrk.lua's `wrk-json {...}` line; throws without one. */
export function parseWrkOutput (stdout: string): WrkOutput {
  const line = /^wrk-json (\{.*\})$/m.exec(stdout)?.[1]
  if (line === undefined) throw new Error(`no wrk-json line in wrk's output: ${stdout.slice(0, 300)}`)
  const j = JSON.parse(line) as {
    requests: number, duration_us: number, p50_us: number, p99_us: number, errors: WrkOutput['errors'], cpu_ticks: number, next: number
  }
  return { requests: j.requests, durationUs: j.duration_us, p50Us: j.p50_us, p99Us: j.p99_us, errors: j.errors, cpuTicks: j.cpu_ticks, next: j.next }
}

/**
 * A round's figures as the bench reports them (load.ts's RoundResult): rate over wrk's own
 * duration, latencies in ms; wrk counts answers of status >= 400 as `status` errors (non-2xx
 * here), and connect, read, write and timeout errors as errors.
 */
export function wrkResult (out: WrkOutput): RoundResult {
  const e = out.errors
  return {
    rps: out.durationUs > 0 ? out.requests / (out.durationUs / 1e6) : 0,
    p50: out.p50Us / 1000,
    p99: out.p99Us / 1000,
    non2xx: e.status,
    errors: e.connect + e.read + e.write + e.timeout
  }
}

/** The arguments of wrk.lua for one round (a function: mixed's `next` moves on from round to round). */
export interface WrkRequests {
  args: () => string[]
  /** Called with each round's output (mixed: where its deletes stopped). */
  onDone?: (out: WrkOutput) => void
}

/** Files of lists (one value a line) in `dir`, written once each. */
export class ListFiles {
  constructor (private readonly dir: string) { mkdirSync(dir, { recursive: true }) }

  file (name: string, length: number, value: (i: number) => string | number): string {
    const file = join(this.dir, `${name}.txt`)
    if (!existsSync(file)) {
      const lines = new Array<string>(length)
      for (let i = 0; i < length; i++) lines[i] = String(value(i))
      writeFileSync(file, lines.join('\n') + '\n')
    }
    return file
  }

  tokens (p: Population): string { return this.file(`tokens-${p.from}-${p.to}`, p.to - p.from, (i) => tokenOf(p.from + i)) }
  ips (p: Population): string { return this.file(`ips-${p.from}-${p.to}-${p.total}`, p.to - p.from, (i) => ipOf(p.from + i, p.total)) }
  users (p: Population): string {
    const { first, count } = userRange(p.total)
    return this.file(`users-${p.total}`, count, (i) => first + i)
  }
}

/** The workloads (by key) wrk makes the requests of; /rotate stays with autocannon. */
const WRK_WORKLOADS = new Set(['get', 'user', 'ip', 'new', 'userPage', 'mixed'])
export const wrkCanRun = (key: string): boolean => WRK_WORKLOADS.has(key)

/**
 * The wrk form of a workload of workloads.ts (by its key), the same requests: undefined for those
 * wrk cannot make (/rotate: each request takes the token its connection's last answer gave).
 */
export function wrkRequests (key: string, p: Population, files: ListFiles): WrkRequests | undefined {
  if (!wrkCanRun(key)) return undefined
  switch (key) {
    case 'get': return { args: () => ['/get?token=%s', files.tokens(p)] }
    case 'user': return { args: () => ['/user?id=%s', files.users(p)] }
    case 'ip': return { args: () => ['/ip?ip=%s', files.ips(p)] }
    case 'new': return { args: () => ['/new?user_id=%s&ip=%s', files.users(p), files.ips(p)] }
    case 'userPage': return { args: () => [`/user?id=${CROWD_USER}&limit=${USER_PAGE}`] }
    case 'mixed': {
      // As workloads.ts: deletes from the top down, gets only below; one `next` for all rounds.
      let next = p.to
      return {
        args: () => ['mixed', String(next - p.from), files.tokens(p), files.users(p), files.ips(p)],
        onDone: (out) => { if (out.next >= 0) next = p.from + out.next }
      }
    }
    default: return undefined
  }
}

/** Runs wrk once: `durationSeconds` (whole seconds, at least 1), 1 thread, `connections`. */
async function runWrk (url: string, args: string[], connections: number, durationSeconds: number): Promise<WrkOutput> {
  const seconds = Math.max(1, Math.ceil(durationSeconds))
  const proc = spawn('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', SCRIPT, url, '--', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  proc.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  proc.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  // Bounded: a wrk that hangs past its duration and a minute is killed.
  const killer = setTimeout(() => proc.kill('SIGKILL'), (seconds + 60) * 1000)
  const code = await new Promise<number | null>((resolve, reject) => { proc.once('error', reject); proc.once('close', resolve) })
  clearTimeout(killer)
  if (code !== 0) throw new Error(`wrk exited ${code}: ${stderr.slice(0, 300)}${stdout.slice(0, 300)}`)
  return parseWrkOutput(stdout)
}

/**
 * One round under wrk: a warm-up run (unmeasured), then the measured run; `pid`: the server's
 * process, whose CPU (and its children's, and `extraPids`') is measured over the measured run.
 * The load generator's CPU is wrk's own, after it had loaded its files.
 */
export async function wrkRound (url: string, requests: WrkRequests, opts: LoadOptions, pid?: number, extraPids: Record<string, number> = {}): Promise<RoundResult> {
  const warmup = opts.warmupSeconds ?? 0
  if (warmup > 0) requests.onDone?.(await runWrk(url, requests.args(), opts.connections, warmup))
  const meter = cpuMeter(pid, extraPids)
  const out = await runWrk(url, requests.args(), opts.connections, opts.durationSeconds)
  requests.onDone?.(out)
  const result = wrkResult(out)
  const cpu = meter.stop(out.requests)
  if (cpu === undefined) return result
  if (out.cpuTicks >= 0) cpu['load generator'] = out.cpuTicks / TICKS * 1e6 / out.requests
  else delete cpu['load generator']
  return { ...result, cpu }
}

/**
 * One round of the workload `key` on the server at `url` (process `pid`): under wrk when the run
 * uses it and wrk can make the workload's requests, else autocannon.
 */
export async function workloadRound (url: string, pid: number | undefined, key: string, opts: {
  generator: 'wrk' | 'autocannon'
  population: Population
  files: ListFiles
  load: LoadOptions
}): Promise<RoundResult> {
  const requests = opts.generator === 'wrk' ? wrkRequests(key, opts.population, opts.files) : undefined
  return requests !== undefined
    ? await wrkRound(url, requests, opts.load, pid)
    : await round(url, WORKLOADS[key].requests(opts.population), opts.load, pid)
}
