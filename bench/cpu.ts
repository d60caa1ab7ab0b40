// CPU time per request, by process and thread, read from /proc (Linux; elsewhere nothing is
// measured). On a machine where the load generator, Node and Tarantool share few cores, a side's
// rate follows the CPU all its processes spend on a request, not only its Node process's.
import { readdirSync, readFileSync } from 'node:fs'

/** Microseconds of CPU per request, by part: `node`, `tarantool tx`, `load generator`... */
export type CpuPerRequest = Record<string, number>

// Clock ticks per second of /proc's utime and stime: 100 on every Linux Node runs on.
const TICKS = 100
// Tarantool's threads by their names in /proc: the main one runs the transactions and the Lua.
const THREAD_PARTS: Record<string, string> = { tarantool: 'tx', iproto: 'iproto', wal: 'wal' }

/** The name in a /proc stat line, and the fields after it (the third field, the state, first). */
function parseStat (stat: string): { name: string, fields: string[] } {
  const end = stat.lastIndexOf(')')
  return { name: stat.slice(stat.indexOf('(') + 1, end), fields: stat.slice(end + 2).split(' ') }
}

/** The CPU seconds in a /proc stat line's fields (from parseStat): utime and stime, fields 14 and 15. */
const cpuSecondsOf = (fields: string[]): number => (Number(fields[11]) + Number(fields[12])) / TICKS

/** A process's CPU seconds by thread name (threads of one name summed), or undefined if it is gone. */
function threadsOf (pid: number): Map<string, number> | undefined {
  let tids: string[]
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return undefined
  }
  const out = new Map<string, number>()
  for (const tid of tids) {
    try {
      const { name, fields } = parseStat(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'))
      out.set(name, (out.get(name) ?? 0) + cpuSecondsOf(fields))
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out
}

/** The pids of a process's children (the service's Tarantool is the service's child). */
function childrenOf (pid: number): number[] {
  const out: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      // Field 4: the parent's pid.
      if (Number(parseStat(readFileSync(`/proc/${entry}/stat`, 'utf8')).fields[1]) === pid) out.push(Number(entry))
    } catch {
      // Gone meanwhile.
    }
  }
  return out
}

/**
 * CPU seconds of a process and its children, by part: `node` for Node, `tarantool tx` and so on;
 * undefined if the process is not there (or /proc is not).
 */
function partsOf (pid: number): Map<string, number> | undefined {
  const threads = threadsOf(pid)
  if (threads === undefined) return undefined
  const out = new Map<string, number>()
  const add = (part: string, seconds: number): void => { out.set(part, (out.get(part) ?? 0) + seconds) }
  for (const seconds of threads.values()) add('node', seconds)
  for (const child of childrenOf(pid)) {
    for (const [name, seconds] of threadsOf(child) ?? []) add(`tarantool ${THREAD_PARTS[name] ?? 'other'}`, seconds)
  }
  return out
}

const ownSeconds = (): number => {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1e6
}

/** A process's CPU seconds, all its threads (and none of its children's); undefined if it is gone. */
function processSeconds (pid: number): number | undefined {
  const threads = threadsOf(pid)
  return threads === undefined ? undefined : [...threads.values()].reduce((n, s) => n + s, 0)
}

/**
 * Starts measuring now; stop(requests), after a stretch of load, gives the CPU per request of the
 * server whose process is `pid` (Node, and its Tarantool when it has one), of `extra` processes
 * of the server that are not its children (part name -> pid: the Redis script's `redis`), and of
 * this process, which runs the load generator; undefined where /proc is not there.
 */
export function cpuMeter (pid: number | undefined, extra: Record<string, number> = {}): { stop: (requests: number) => CpuPerRequest | undefined } {
  const before = pid === undefined ? undefined : partsOf(pid)
  const extraBefore = Object.entries(extra).map(([part, p]) => ({ part, pid: p, seconds: processSeconds(p) ?? 0 }))
  const ownBefore = ownSeconds()
  return {
    stop (requests) {
      if (before === undefined || requests <= 0) return undefined
      // A server gone meanwhile counts nothing more.
      const after = partsOf(pid!) ?? new Map<string, number>()
      const out: CpuPerRequest = { 'load generator': (ownSeconds() - ownBefore) * 1e6 / requests }
      for (const [part, seconds] of after) out[part] = (seconds - (before.get(part) ?? 0)) * 1e6 / requests
      for (const e of extraBefore) out[e.part] = ((processSeconds(e.pid) ?? e.seconds) - e.seconds) * 1e6 / requests
      return out
    }
  }
}

/** The CPU of all the processes of a side: load generator, Node and Tarantool together. */
export const totalOf = (cpu: CpuPerRequest): number => Object.values(cpu).reduce((n, v) => n + v, 0)

/**
 * A process's main thread: its CPU seconds, and how many times the kernel took the core from it
 * while it could still run (involuntary context switches); undefined where /proc is not there.
 */
export function mainThreadOf (pid: number): { seconds: number, preemptions: number } | undefined {
  try {
    const { fields } = parseStat(readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8'))
    const count = /^nonvoluntary_ctxt_switches:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8'))
    if (count === null) return undefined
    return { seconds: cpuSecondsOf(fields), preemptions: Number(count[1]) }
  } catch {
    return undefined
  }
}

/** The whole machine's busy CPU seconds so far (all cores: /proc/stat's first line less idle and iowait); undefined without /proc. */
function machineBusySeconds (): number | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal (guest time is counted in user already).
    const busy = fields.slice(0, 8).reduce((n, v) => n + v, 0) - fields[3] - fields[4]
    return busy / TICKS
  } catch {
    return undefined
  }
}

/**
 * Starts measuring the machine now; stop() gives the cores it kept busy meanwhile, on average (on
 * a shared machine: this run's processes and everyone else's); undefined without /proc.
 */
export function machineMeter (): { stop: () => number | undefined } {
  const before = machineBusySeconds()
  const started = performance.now()
  return {
    stop () {
      const after = machineBusySeconds()
      if (before === undefined || after === undefined) return undefined
      return (after - before) / ((performance.now() - started) / 1000)
    }
  }
}
