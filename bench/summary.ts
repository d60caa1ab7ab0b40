// What a run prints once it has measured everything (the table, the Redis script's and the CPU
// tables, a line on memory, the floor, the machine's noise, the sweep, the crowded lists, the
// sign-outs and rotation, CPU per request, a verdict on each goal of issue 23), and the figures its
// results file keeps beside the rows.
import { CROWD_IP_SESSIONS, WALK_PAGE, type DuringWalkResult, type WalkResult } from './crowd.js'
import { CROWD_IP, type MemoryStats } from './dataset.js'
import { cpuFigures, getsPerTarantool, verdicts, type CpuFigures, type Measurements } from './goals.js'
import { CPU_SESSIONS, REDIS_NEW, settings, SMALL, WRK } from './options.js'
import { cpuTable, median, peerTable, table, type PeerPair, type Row } from './report.js'
import { DEL_BIG_USER, type DuringSignOutResult, type SignOutResult } from './sign-outs.js'
import type { SweepResult } from './sweep.js'

/** What a run measured, for its summary and its results file. */
export interface RunResults {
  /** Its sessions (N). */
  total: number
  /** The table's rows, in order; those below are among them. */
  rows: Row[]
  small: Row
  floor: Row
  large: Row
  newRow: Row
  rotate: Row
  userRow: Row | undefined
  ipRow: Row | undefined
  /** The crowded user's first page. */
  page: Row
  /** /get and /new at CPU_SESSIONS, when the run has more sessions. */
  cpuRows: { get: Row, new: Row } | undefined
  /** The Redis script beside the service, or why it was not. */
  peerPairs: PeerPair[]
  peerSkipped: string | undefined
  mem: MemoryStats
  hashedMem: MemoryStats
  /** Rotation chains, and the rows of old keys the rotations left. */
  rotated: number
  retired: number
  crowdSeconds: number
  crowdRemoved: number
  walkResult: WalkResult
  duringWalk: DuringWalkResult
  signOut: SignOutResult
  duringSignOut: DuringSignOutResult
  sweepResult: SweepResult
}

/** What the summary concludes, kept in the results file too. */
export interface Figures {
  /** /get at N against /get at SMALL. */
  scale: { rps: number, ratio: number }
  swing: { workload: string, ratio: number }
  cpu: { sessions: number, get: CpuFigures | undefined, new: CpuFigures | undefined }
  goals: Measurements
}

const spread = (values: number[], digits: number): string =>
  `${median(values).toFixed(digits)} [${Math.min(...values).toFixed(digits)}..${Math.max(...values).toFixed(digits)}]`

const memoryLine = (mem: MemoryStats): string =>
  `arena_used ${mem.arenaUsedPerSession.toFixed(1)} B/session (tuples ${mem.itemsUsedPerSession.toFixed(1)} + indexes ${mem.indexPerSession.toFixed(1)}), ` +
  `quota_used ${mem.quotaUsedPerSession.toFixed(1)} B/session` +
  (mem.events.count > 0 ? `; the ${mem.events.count} session events the rows before wrote took ${mem.events.bytesEach.toFixed(1)} B each (removed before the reading)` : '')

// The goals' figures are at 200,000 sessions.
const cpuNoteAt = (sessions: number): string => `at ${sessions} sessions${sessions === 200_000 ? '' : ', not 200,000'}`

// The workload whose reference rounds differed the most in rate, and by how much (max / min).
function referenceSwing (rows: Row[]): { workload: string, ratio: number } {
  return rows
    .map((r) => {
      const rates = r.rounds.reference.map((round) => round.rps)
      return { workload: r.workload, ratio: Math.max(...rates) / Math.min(...rates) }
    })
    .reduce((a, b) => (b.ratio > a.ratio ? b : a))
}

/** The scale from SMALL to N, the reference's swing, CPU per request, and the measurements of issue 23's goals. */
export function figuresOf (run: RunResults): Figures {
  const { total, rows, small, floor, large, newRow, rotate, userRow, ipRow, cpuRows, peerPairs, peerSkipped, mem, duringWalk, sweepResult } = run
  const scale = {
    rps: large.service.rps / small.service.rps,
    // The same, each against the reference of its own rounds: less noise from the machine.
    ratio: large.ratio.rps / small.ratio.rps
  }
  const cpuAt = cpuRows === undefined ? total : CPU_SESSIONS
  const cpuGet = cpuFigures(cpuRows?.get ?? large)
  const cpuNew = cpuFigures(cpuRows?.new ?? newRow)
  const cpuNote = cpuNoteAt(cpuAt)
  const noCpu = { why: 'no CPU figures (no /proc)' }
  const peerOf = (label: string): { value: number, note: string } | { why: string } => {
    const pair = peerPairs.find((p) => p.service.workload === label)
    return pair === undefined ? { why: peerSkipped ?? 'not run' } : { value: pair.ratio, note: `${label}, ${pair.service.generator ?? ''}` }
  }
  const ratioOf = (r: Row | undefined, key: 'rps' | 'p99' = 'rps'): { value: number, note: string } | { why: string } =>
    r === undefined ? { why: 'no such row' } : { value: r.ratio[key], note: `${r.workload}, ${r.generator ?? 'autocannon'}` }
  const measurements: Measurements = {
    floor: ratioOf(floor),
    get: ratioOf(small),
    new: ratioOf(newRow),
    getMillion: total >= 1_000_000 ? ratioOf(large) : { why: `this run has ${total} sessions; the full run (npm run bench) has 1,000,000` },
    rotate: ratioOf(rotate),
    user: ratioOf(userRow),
    ip: ratioOf(ipRow),
    p99Get: ratioOf(small, 'p99'),
    redisGet: peerOf(`/get @${total}`),
    redisNew: peerOf(`/new @${total}`),
    nodeGet: cpuGet === undefined ? noCpu : { value: cpuGet.node, note: cpuNote },
    nodeNew: cpuNew === undefined ? noCpu : { value: cpuNew.node, note: cpuNote },
    tarantoolGet: cpuGet === undefined ? noCpu : { value: cpuGet.tarantool, note: cpuNote },
    tarantoolNew: cpuNew === undefined ? noCpu : { value: cpuNew.tarantool, note: cpuNote },
    getsPerTarantool: cpuGet === undefined ? noCpu : { value: getsPerTarantool(cpuGet.txUs), note: `${cpuGet.txUs.toFixed(1)} µs of tx per /get, ${cpuNote}` },
    // At fewer sessions, the fixed overheads (the arena's first slabs) weigh on each.
    memory: mem.sessions >= 1_000_000
      ? { value: mem.arenaUsedPerSession, note: `arena_used at ${mem.sessions} sessions` }
      : { why: `read at 1,000,000 sessions (the full run); at ${mem.sessions}, ${mem.arenaUsedPerSession.toFixed(1)} B/session, fixed overheads included` },
    sweepP99: { value: sweepResult.p99Ratio, note: `sweep of ${sweepResult.expired}, autocannon` },
    walkP99: { value: duringWalk.p99.ratio, note: 'autocannon' }
  }
  return { scale, swing: referenceSwing(rows), cpu: { sessions: cpuAt, get: cpuGet, new: cpuNew }, goals: measurements }
}

/** Prints the run's tables, a line on each phase, CPU per request and the verdicts on the goals. */
export function printSummary (run: RunResults, f: Figures): void {
  const { total, rows, small, floor, large, rotate, cpuRows, peerPairs, peerSkipped, mem, hashedMem, rotated, retired, crowdSeconds, crowdRemoved, page } = run
  const { walkResult, duringWalk, signOut, duringSignOut, sweepResult } = run
  const { scale, swing } = f
  const { get: cpuGet, new: cpuNew } = f.cpu
  const cpuNote = cpuNoteAt(f.cpu.sessions)
  console.log(`\nload generator: ${WRK === undefined ? 'autocannon' : `${WRK} (1 thread) for the rows marked wrk, autocannon for the others`}; ` +
    `${settings.load.connections} connections; medians of ${settings.rounds} alternating rounds`)
  console.log(table(rows))
  if (peerPairs.length > 0) {
    console.log(`\nthe service and a Fastify + Redis script (bench/redis-peer.ts, ioredis, its /new by ${REDIS_NEW === 'script' ? 'one Lua script' : 'a pipeline'}, redis-server with an append-only file not fsynced), ` +
      'each against the reference of the same alternating rounds (reference, service, Redis script...):')
    console.log(peerTable(peerPairs))
  } else {
    console.log(`\n${peerSkipped ?? 'the Redis script was not run'}`)
  }
  const cpu = cpuTable([...rows, ...peerPairs.map((p) => p.peer)])
  if (cpu !== undefined) console.log('\n' + cpu)
  console.log(`\nmemory at ${mem.sessions} sessions, TOKEN_STORAGE=plain: ${memoryLine(mem)}`)
  console.log(`memory at ${hashedMem.sessions} sessions, TOKEN_STORAGE=hashed: ${memoryLine(hashedMem)} ` +
    `(hashed - plain: ${(hashedMem.arenaUsedPerSession - mem.arenaUsedPerSession).toFixed(1)} B/session)`)
  console.log(`/get at ${SMALL}: the floor (one no-op Tarantool call) reaches ${floor.ratio.rps.toFixed(2)} of the reference, ` +
    `the service ${small.ratio.rps.toFixed(2)}`)
  console.log(`the reference's req/s moved by up to ${(100 * (swing.ratio - 1)).toFixed(0)}% between the rounds of one workload ` +
    `(${swing.workload}): the machine's own noise; the wider, the less a run's ratios say`)
  console.log(`/get at ${total} vs ${SMALL}: ${scale.rps.toFixed(2)} (req/s), ${scale.ratio.toFixed(2)} (ratio to reference)`)
  console.log(`sweep of ${sweepResult.expired} expired sessions: ${sweepResult.seconds.toFixed(2)} s; /get p99 during ${sweepResult.during.p99.toFixed(2)} ms ` +
    `vs idle ${sweepResult.idle.p99.toFixed(2)} ms (${sweepResult.p99Ratio.toFixed(2)}x), non-2xx during ${sweepResult.during.non2xx}` +
    (sweepResult.ttlReset > 0 ? `; the service reconnected and reset the TTL ${sweepResult.ttlReset} time(s) (see service.log)` : ''))
  console.log(`crowd (made in ${crowdSeconds.toFixed(1)} s, ${crowdRemoved} removed after): ${page.workload}, side by side in the table: ` +
    `${page.service.rps.toFixed(0)} req/s, ${page.ratio.rps.toFixed(2)} of the reference; p50 ${page.service.p50.toFixed(2)} ms, p99 ${page.service.p99.toFixed(2)} ms`)
  console.log(`full walk of ${CROWD_IP} (${walkResult.sessions} sessions in ${walkResult.pages} pages of ${WALK_PAGE}, one request at a time), ` +
    `side by side, medians [min..max] over ${settings.walks} walks a side: service ${spread(walkResult.service.map((w) => w.seconds), 2)} s/walk, ` +
    `${walkResult.sessionsPerSecond.service.toFixed(0)} sessions/s; reference (its canned page, as many times) ` +
    `${spread(walkResult.reference.map((w) => w.seconds), 2)} s/walk, ${walkResult.sessionsPerSecond.reference.toFixed(0)} sessions/s; ` +
    `time ratio service/reference ${walkResult.ratio.toFixed(2)}` +
    (walkResult.sessions === CROWD_IP_SESSIONS && walkResult.distinct === CROWD_IP_SESSIONS
      ? ''
      : ` (WARNING: ${CROWD_IP_SESSIONS} distinct sessions expected, listed ${walkResult.sessions} of ${walkResult.distinct} ids)`))
  console.log(`/get p99 while a client walks ${CROWD_IP} in a loop (service only, absolute: the reference has no list to walk), medians [min..max] ` +
    `over ${settings.rounds} alternating rounds: idle ${spread(duringWalk.idle.map((r) => r.p99), 2)} ms, during ${spread(duringWalk.during.map((r) => r.p99), 2)} ms; ` +
    `during/idle ${duringWalk.p99.ratio.toFixed(2)}x (median of the per-round ratios; target at most 2x)` +
    `${duringWalk.p99.ratio <= 2 ? '' : ': ABOVE TARGET'}; /get req/s idle ${spread(duringWalk.idle.map((r) => r.rps), 0)}, ` +
    `during ${spread(duringWalk.during.map((r) => r.rps), 0)}; the walker listed ${spread(duringWalk.walkerSessionsPerSecond, 0)} sessions/s ` +
    `with ${spread(duringWalk.walkerCores.map((c) => 100 * c), 0)}% of a core of its own; ` +
    `non-2xx ${[...duringWalk.idle, ...duringWalk.during].reduce((n, r) => n + r.non2xx, 0)}`)
  console.log(`/del_user of a user with ${signOut.sessions} sessions (made again in Tarantool before each), one request at a time, side by side, ` +
    `medians [min..max] over ${settings.signOuts} sign-outs a side: service ${spread(signOut.service, 3)} s to answer, ` +
    `${signOut.sessionsPerSecond.service.toFixed(0)} sessions ended/s; reference (its canned answer) ${spread(signOut.reference.map((s) => 1000 * s), 2)} ms; ` +
    `time ratio service/reference ${signOut.ratio.toFixed(0)}; the procedure alone, ${signOut.calls} calls in a loop inside Tarantool: ` +
    `${spread(signOut.tarantool, 3)} s, ${signOut.sessionsPerSecond.tarantool.toFixed(0)} sessions/s (service/procedure ${signOut.tarantoolRatio.toFixed(2)})`)
  console.log(`/get p99 while a client runs /del_user of a user with ${DEL_BIG_USER.sessions} sessions (service only, absolute: the reference has no sessions to end), ` +
    `medians [min..max] over ${settings.rounds} alternating rounds, each as long as its sign-out took to answer (${spread(duringSignOut.signOutSeconds, 2)} s): ` +
    `idle ${spread(duringSignOut.idle.map((r) => r.p99), 2)} ms, during ${spread(duringSignOut.during.map((r) => r.p99), 2)} ms; ` +
    `during/idle ${duringSignOut.p99.ratio.toFixed(2)}x (median of the per-round ratios; target at most 2x)` +
    `${duringSignOut.p99.ratio <= 2 ? '' : ': ABOVE TARGET'}; /get req/s idle ${spread(duringSignOut.idle.map((r) => r.rps), 0)}, ` +
    `during ${spread(duringSignOut.during.map((r) => r.rps), 0)}; ${(DEL_BIG_USER.sessions / median(duringSignOut.signOutSeconds)).toFixed(0)} sessions ended/s under the load; ` +
    `non-2xx ${[...duringSignOut.idle, ...duringSignOut.during].reduce((n, r) => n + r.non2xx, 0)}`)
  console.log(`${rotate.workload} (rotation chains: each request rotates a live session with the token the one before answered), side by side in the table: ` +
    `${rotate.service.rps.toFixed(0)} req/s, ${rotate.ratio.rps.toFixed(2)} of the reference; p50 ${rotate.service.p50.toFixed(2)} ms (${rotate.ratio.p50.toFixed(2)}x), ` +
    `p99 ${rotate.service.p99.toFixed(2)} ms (${rotate.ratio.p99.toFixed(2)}x); non-2xx ${rotate.service.non2xx}; ` +
    `${rotated + retired} rotations on the service (warm-ups included) in ${rotated} chains, ${((rotated + retired) / rotated).toFixed(0)} a chain ` +
    `(${settings.rounds} rounds of ${settings.load.connections} connections)` +
    (rotated > 2 * settings.rounds * settings.load.connections ? ' (WARNING: more than two chains a connection and round: the chains broke off)' : ''))
  if (cpuGet !== undefined && cpuNew !== undefined) {
    console.log(`\nCPU per request ${cpuNote} (${(cpuRows?.get ?? large).generator ?? 'autocannon'}), as ratios to the reference's Node per request ` +
      `(${cpuGet.referenceNodeUs.toFixed(1)} µs in the /get rounds, ${cpuNew.referenceNodeUs.toFixed(1)} in the /new ones): ` +
      `Node ${cpuGet.nodeUs.toFixed(1)} µs per /get (${cpuGet.node.toFixed(2)}x), ${cpuNew.nodeUs.toFixed(1)} per /new (${cpuNew.node.toFixed(2)}x); ` +
      `Tarantool, all threads, ${cpuGet.tarantoolUs.toFixed(1)} µs per /get (${cpuGet.tarantool.toFixed(2)}x), ${cpuNew.tarantoolUs.toFixed(1)} per /new (${cpuNew.tarantool.toFixed(2)}x); ` +
      `its tx thread ${cpuGet.txUs.toFixed(1)} µs per /get: ${Math.round(getsPerTarantool(cpuGet.txUs)).toLocaleString('en-US')} /get per second one Tarantool can serve`)
  }
  console.log(`\nissue 23's goals (${settings.quick ? 'a --quick run: smaller and shorter than the full run' : `${total} sessions`}):`)
  for (const line of verdicts(f.goals)) console.log(`  ${line}`)
}
