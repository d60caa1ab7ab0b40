// npm run bench [-- --quick] [--sessions N] [--rounds R] [--duration S] [--warmup S] [--connections C]
//   [--replica-set [--synchro-quorum Q]]
// Runs the service as users run it (built, with its embedded Tarantool) and a bare Fastify
// reference side by side, drives both with wrk (autocannon where wrk is not installed, or for
// /rotate and the rows under other load) in alternating rounds, and reports medians
// and ratios to the reference; for /get, also those of a floor (one no-op Tarantool call); then
// the lists of a crowded user and address, /del_user of a user with 10,000 sessions, /get p99
// while a user with 100,000 is signed out, and memory per session with TOKEN_STORAGE=hashed; a
// Fastify + Redis script beside the service for /get and /new; CPU per request at 200,000
// sessions; a verdict on each goal of issue 23.
// --replica-set: /get and /new on a 3-member replica set against a single node instead
// (replica-set.ts). See bench/README.md.
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectConsole, type AdminConsole } from '../lib/admin-console.js'
import { buildService, cleanupOnExit, startService, type Running } from '../lib/processes.js'
import { CONSOLE_SOCKET_NAME } from '../src/embedded-tarantool.js'
import { crowdBodies, CROWD_IP_SESSIONS, CROWD_USER_SESSIONS, getDuringWalk, WALK_PAGE, walks } from './crowd.js'
import { count, countRotated, CROWD_IP, memory, preload, preloadCrowd, removeCrowd, removeMade, removeRetiredKeys, tokenOf, type MemoryStats } from './dataset.js'
import { cpuFigures, getsPerTarantool, verdicts, type Measurements } from './goals.js'
import { hashedMemory } from './hashed-memory.js'
import { args, CPU_SESSIONS, DAY, REDIS_NEW, settings, SMALL, WRK } from './options.js'
import { redisServerFound, startReference } from './processes.js'
import { runReplicaSet } from './replica-set.js'
import { cpuTable, median, peerTable, step, table, writeResults, type PeerPair, type Row } from './report.js'
import { generatorOf, measure, measureFloor, measureWithPeer, referenceBodies, startPeer, warmUp, type Context, type Peer } from './rows.js'
import { DEL_BIG_USER, delUserBody, getDuringSignOut, signOuts } from './sign-outs.js'
import { sweep } from './sweep.js'
import { WORKLOADS, type Population, type Workload } from './workloads.js'
import { ListFiles } from './wrk.js'

const ROOT = join(import.meta.dirname, '..')

const spread = (values: number[], digits: number): string =>
  `${median(values).toFixed(digits)} [${Math.min(...values).toFixed(digits)}..${Math.max(...values).toFixed(digits)}]`

const memoryLine = (mem: MemoryStats): string =>
  `arena_used ${mem.arenaUsedPerSession.toFixed(1)} B/session (tuples ${mem.itemsUsedPerSession.toFixed(1)} + indexes ${mem.indexPerSession.toFixed(1)}), ` +
  `quota_used ${mem.quotaUsedPerSession.toFixed(1)} B/session`

// The workload whose reference rounds differed the most in rate, and by how much (max / min).
function referenceSwing (rows: Row[]): { workload: string, ratio: number } {
  return rows
    .map((r) => {
      const rates = r.rounds.reference.map((round) => round.rps)
      return { workload: r.workload, ratio: Math.max(...rates) / Math.min(...rates) }
    })
    .reduce((a, b) => (b.ratio > a.ratio ? b : a))
}

async function main (): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'sessions-bench-'))
  const running: Running[] = []
  let console_: AdminConsole | undefined
  let done = false
  const cleanup = async (): Promise<void> => {
    console_?.close()
    for (const proc of running.reverse()) await proc.stop()
    // A failed run keeps its processes' logs (not their data).
    if (!done) {
      const logs = mkdtempSync(join(tmpdir(), 'sessions-bench-logs-'))
      for (const name of readdirSync(tmp).filter((f) => f.endsWith('.log'))) copyFileSync(join(tmp, name), join(logs, name))
      console.error(`the logs of this run: ${logs}`)
    }
    rmSync(tmp, { recursive: true, force: true })
  }
  cleanupOnExit(cleanup)
  try {
    step('building the service (npm run build)')
    buildService()
    step(`starting the service (embedded Tarantool, data in ${tmp})`)
    const service = await startService(tmp, settings.service)
    running.push(service)
    console_ = await connectConsole(join(tmp, 'data', CONSOLE_SOCKET_NAME))
    const admin = console_

    const total = settings.sessions
    step(`preloading ${SMALL} sessions`)
    await preload(admin, { from: 0, to: SMALL, total, ageSeconds: DAY })
    const bodies = await referenceBodies(service, tokenOf(0))
    const reference = await startReference(tmp, bodies)
    running.push(reference)
    const ctx: Context = { service, reference, console: admin, files: new ListFiles(join(tmp, 'lists')) }
    console.log(`load generator: ${WRK === undefined ? `autocannon for every row (${args.autocannon ? '--autocannon' : 'no wrk in PATH'})` : `${WRK}, 1 thread`} ` +
      `and ${settings.load.connections} connections; autocannon for ${WRK === undefined ? 'all' : '/rotate and the rounds under other load (sweep, walks, sign-outs)'}`)

    step(`warming up both (${generatorOf(WORKLOADS.get)})`)
    for (const side of [reference, service]) await warmUp(ctx, side.url, WORKLOADS.get, { from: 0, to: SMALL, total })

    const rows: Row[] = []
    const small = await measure(ctx, `/get @${SMALL}`, WORKLOADS.get, { from: 0, to: SMALL, total })
    const floor = await measureFloor(ctx, tmp, bodies, { from: 0, to: SMALL, total })
    // CPU per request at CPU_SESSIONS: rows of their own when the run has more sessions (the
    // sessions their /new made removed after them); the /get and /new rows at N otherwise.
    let cpuRows: { get: Row, new: Row } | undefined
    let preloadSeconds = 0
    if (total > CPU_SESSIONS) {
      step(`preloading up to ${CPU_SESSIONS} sessions, for CPU per request`)
      const started = Date.now()
      await preload(admin, { from: SMALL, to: CPU_SESSIONS, total, ageSeconds: DAY })
      preloadSeconds += (Date.now() - started) / 1000
      const at: Population = { from: 0, to: CPU_SESSIONS, total }
      cpuRows = {
        get: await measure(ctx, `/get @${CPU_SESSIONS}`, WORKLOADS.get, at),
        new: await measure(ctx, `/new @${CPU_SESSIONS}`, WORKLOADS.new, at)
      }
      step(`removed the ${await removeMade(admin)} sessions /new @${CPU_SESSIONS} made`)
    }
    step(`preloading up to ${total} sessions`)
    const preloadStarted = Date.now()
    await preload(admin, { from: Math.min(total, cpuRows === undefined ? SMALL : CPU_SESSIONS), to: total, total, ageSeconds: DAY })
    preloadSeconds += (Date.now() - preloadStarted) / 1000
    const mem: MemoryStats = await memory(admin)
    const all: Population = { from: 0, to: total, total }
    // The Fastify + Redis script beside the service, for /get and /new at N.
    let peer: Peer | undefined
    let peerSkipped: string | undefined
    if (!redisServerFound()) peerSkipped = 'no redis-server in PATH (Debian: apt-get install redis-server): the Redis script\'s rows are skipped'
    else peer = await startPeer(tmp, all)
    if (peerSkipped !== undefined) step(peerSkipped)
    const peerPairs: PeerPair[] = []
    const withPeer = async (label: string, workload: Workload): Promise<Row> => {
      if (peer === undefined) return await measure(ctx, label, workload, all)
      const pair = await measureWithPeer(ctx, label, workload, all, peer)
      peerPairs.push(pair)
      return pair.service
    }
    let large: Row
    let newRow: Row
    try {
      large = await withPeer(`/get @${total}`, WORKLOADS.get)
      rows.push(small, floor, ...(cpuRows === undefined ? [] : [cpuRows.get, cpuRows.new]), large)
      // The lists before /new: the sessions it makes join the users and ips the lists read (after
      // a full /new phase, about 7 sessions a user instead of the reference's 5).
      for (const key of ['user', 'ip'] as const) rows.push(await measure(ctx, `${WORKLOADS[key].name} @${total}`, WORKLOADS[key], all))
      newRow = await withPeer(`/new @${total}`, WORKLOADS.new)
      rows.push(newRow)
    } finally {
      await peer?.script.stop()
      await peer?.redis.stop()
    }
    rows.push(await measure(ctx, `${WORKLOADS.mixed.name} @${total}`, WORKLOADS.mixed, all))
    // Rotation chains, each on a session of the second half (the mixed rows deleted from the top
    // down: a few thousand), none of which a later row names by its first token.
    const userRow = rows.find((r) => r.workload === `/user @${total}`)
    const ipRow = rows.find((r) => r.workload === `/ip @${total}`)
    const rotate = await measure(ctx, `${WORKLOADS.rotate.name} @${total}`, WORKLOADS.rotate, { from: Math.floor(total / 2), to: total, total })
    rows.push(rotate)
    // One rotated session a chain (about `connections` a service round, if each chain went on);
    // one old key's row a rotation but each chain's first.
    const rotated = await countRotated(admin)
    const retired = await removeRetiredKeys(admin)
    const sessionsAfter = await count(admin)

    // The crowded lists, after the rows above (their users and ips are none of the crowd's), and
    // removed before the sweep. First the sessions /new made go, for room (and the same N under
    // the crowd in every run).
    const removedMade = await removeMade(admin)
    step(`crowd: removed the ${removedMade} sessions /new made; a user with ${CROWD_USER_SESSIONS} sessions and an address with ${CROWD_IP_SESSIONS}`)
    const crowdStarted = Date.now()
    await preloadCrowd(admin, { userSessions: CROWD_USER_SESSIONS, ipSessions: CROWD_IP_SESSIONS })
    const crowdSeconds = (Date.now() - crowdStarted) / 1000
    step('restarting the reference with the service\'s pages of the crowded lists')
    await reference.stop()
    const crowdReference = await startReference(tmp, { ...bodies, ...(await crowdBodies(service)), '/del_user': delUserBody })
    running.push(crowdReference)
    ctx.reference = crowdReference
    for (const url of [crowdReference.url, service.url]) await warmUp(ctx, url, WORKLOADS.userPage, all)
    const page = await measure(ctx, `${WORKLOADS.userPage.name} @${CROWD_USER_SESSIONS}`, WORKLOADS.userPage, all)
    rows.push(page)
    const walkResult = await walks(ctx)
    // Sessions of the first half: those the mixed rows deleted were the last ones.
    const duringWalk = await getDuringWalk(ctx, tmp, { from: 0, to: Math.floor(total / 2), total })
    const crowdRemoved = await removeCrowd(admin)
    // Sign-outs, after the crowd is gone (room for the user with 100,000 sessions).
    const signOut = await signOuts(ctx)
    const duringSignOut = await getDuringSignOut(ctx, { from: 0, to: Math.floor(total / 2), total })

    const sweepResult = await sweep(ctx)
    const hashedMem = await hashedMemory(tmp, total)

    const scale = {
      rps: large.service.rps / small.service.rps,
      // The same, each against the reference of its own rounds: less noise from the machine.
      ratio: large.ratio.rps / small.ratio.rps
    }
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
    const swing = referenceSwing(rows)
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
    // CPU per request and the verdicts on issue 23's goals.
    const cpuAt = cpuRows === undefined ? total : CPU_SESSIONS
    const cpuGet = cpuFigures(cpuRows?.get ?? large)
    const cpuNew = cpuFigures(cpuRows?.new ?? newRow)
    // The goals' figures are at 200,000 sessions.
    const cpuNote = `at ${cpuAt} sessions${cpuAt === 200_000 ? '' : ', not 200,000'}`
    if (cpuGet !== undefined && cpuNew !== undefined) {
      console.log(`\nCPU per request ${cpuNote} (${(cpuRows?.get ?? large).generator ?? 'autocannon'}), as ratios to the reference's Node per request ` +
        `(${cpuGet.referenceNodeUs.toFixed(1)} µs in the /get rounds, ${cpuNew.referenceNodeUs.toFixed(1)} in the /new ones): ` +
        `Node ${cpuGet.nodeUs.toFixed(1)} µs per /get (${cpuGet.node.toFixed(2)}x), ${cpuNew.nodeUs.toFixed(1)} per /new (${cpuNew.node.toFixed(2)}x); ` +
        `Tarantool, all threads, ${cpuGet.tarantoolUs.toFixed(1)} µs per /get (${cpuGet.tarantool.toFixed(2)}x), ${cpuNew.tarantoolUs.toFixed(1)} per /new (${cpuNew.tarantool.toFixed(2)}x); ` +
        `its tx thread ${cpuGet.txUs.toFixed(1)} µs per /get: ${Math.round(getsPerTarantool(cpuGet.txUs)).toLocaleString('en-US')} /get per second one Tarantool can serve`)
    }
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
    console.log(`\nissue 23's goals (${settings.quick ? 'a --quick run: smaller and shorter than the full run' : `${total} sessions`}):`)
    for (const line of verdicts(measurements)) console.log(`  ${line}`)
    const file = writeResults(join(ROOT, 'bench/results'), {
      date: new Date().toISOString(),
      settings,
      loadGenerator: WRK ?? 'autocannon',
      machine: { node: process.version, cpus: (await import('node:os')).cpus().length },
      preloadSeconds,
      sessionsAfterWorkloads: sessionsAfter,
      rows,
      redisScript: peerPairs.length > 0 ? { newBy: REDIS_NEW, pairs: peerPairs } : peerSkipped,
      cpuPerRequest: { sessions: cpuAt, get: cpuGet, new: cpuNew },
      goals: measurements,
      memory: mem,
      memoryHashed: hashedMem,
      crowd: { userSessions: CROWD_USER_SESSIONS, ipSessions: CROWD_IP_SESSIONS, seconds: crowdSeconds, removed: crowdRemoved, madeRemovedBefore: removedMade },
      walk: walkResult,
      getDuringWalk: duringWalk,
      rotation: { chains: rotated, rotations: rotated + retired },
      signOut,
      getDuringSignOut: duringSignOut,
      scale,
      referenceSwing: swing,
      sweep: sweepResult
    })
    console.log(`\nresults: ${file}`)
    done = true
  } finally {
    await cleanup()
  }
}

const mode = args['replica-set']
  ? async () => await runReplicaSet({
    ...settings,
    sessions: args.sessions === undefined ? undefined : settings.sessions,
    synchroQuorum: args['synchro-quorum'] === undefined ? undefined : Number(args['synchro-quorum'])
  })
  : main
mode().catch((err: Error) => {
  console.error(`bench failed: ${err.stack ?? err.message}`)
  process.exitCode = 1
})
