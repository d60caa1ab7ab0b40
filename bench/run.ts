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
import { CONSOLE_SOCKET_NAME } from '../src/embedded/tarantool.js'
import { crowdBodies, CROWD_IP_SESSIONS, CROWD_USER_SESSIONS, getDuringWalk, walks } from './crowd.js'
import { count, countRotated, memory, preload, preloadCrowd, removeCrowd, removeMade, removeRetiredKeys, tokenOf } from './dataset.js'
import { hashedMemory } from './hashed-memory.js'
import { args, CPU_SESSIONS, DAY, REDIS_NEW, settings, SMALL, WRK } from './options.js'
import { redisServerFound, startReference } from './processes.js'
import { runReplicaSet } from './replica-set.js'
import { step, writeResults, type PeerPair, type Row } from './report.js'
import { generatorOf, measure, measureFloor, measureWithPeer, referenceBodies, startPeer, warmUp, type Context, type Peer } from './rows.js'
import { delUserBody, getDuringSignOut, signOuts } from './sign-outs.js'
import { figuresOf, printSummary, type RunResults } from './summary.js'
import { sweep } from './sweep.js'
import { WORKLOADS, type Population, type Workload } from './workloads.js'
import { ListFiles } from './wrk.js'

const ROOT = join(import.meta.dirname, '..')

/** The table's rows on the bench's sessions, and what the run read of its data meanwhile. */
type TableRows = Pick<RunResults, 'rows' | 'small' | 'floor' | 'large' | 'newRow' | 'rotate' | 'userRow' | 'ipRow' | 'cpuRows' |
  'peerPairs' | 'peerSkipped' | 'mem' | 'rotated' | 'retired'> & { preloadSeconds: number, sessionsAfter: number }

/**
 * The rows of the table but the crowded user's page, in order: /get at SMALL and the floor; /get and
 * /new at CPU_SESSIONS when the run has more; the sessions preloaded up to N, then /get, the lists,
 * /new (with the Redis script beside the service for /get and /new), the mixed load and /rotate.
 */
async function tableRows (ctx: Context, dir: string, bodies: Record<string, unknown>, total: number): Promise<TableRows> {
  const rows: Row[] = []
  const small = await measure(ctx, `/get @${SMALL}`, WORKLOADS.get, { from: 0, to: SMALL, total })
  const floor = await measureFloor(ctx, dir, bodies, { from: 0, to: SMALL, total })
  // CPU per request at CPU_SESSIONS: rows of their own when the run has more sessions (the
  // sessions their /new made removed after them); the /get and /new rows at N otherwise.
  let cpuRows: { get: Row, new: Row } | undefined
  let preloadSeconds = 0
  if (total > CPU_SESSIONS) {
    step(`preloading up to ${CPU_SESSIONS} sessions, for CPU per request`)
    const started = Date.now()
    await preload(ctx.console, { from: SMALL, to: CPU_SESSIONS, total, ageSeconds: DAY })
    preloadSeconds += (Date.now() - started) / 1000
    const at: Population = { from: 0, to: CPU_SESSIONS, total }
    cpuRows = {
      get: await measure(ctx, `/get @${CPU_SESSIONS}`, WORKLOADS.get, at),
      new: await measure(ctx, `/new @${CPU_SESSIONS}`, WORKLOADS.new, at)
    }
    step(`removed the ${await removeMade(ctx.console)} sessions /new @${CPU_SESSIONS} made`)
  }
  step(`preloading up to ${total} sessions`)
  const preloadStarted = Date.now()
  await preload(ctx.console, { from: Math.min(total, cpuRows === undefined ? SMALL : CPU_SESSIONS), to: total, total, ageSeconds: DAY })
  preloadSeconds += (Date.now() - preloadStarted) / 1000
  const mem = await memory(ctx.console)
  const all: Population = { from: 0, to: total, total }
  // The Fastify + Redis script beside the service, for /get and /new at N.
  let peer: Peer | undefined
  let peerSkipped: string | undefined
  if (!redisServerFound()) peerSkipped = 'no redis-server in PATH (Debian: apt-get install redis-server): the Redis script\'s rows are skipped'
  else peer = await startPeer(dir, all)
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
  const rotated = await countRotated(ctx.console)
  const retired = await removeRetiredKeys(ctx.console)
  const sessionsAfter = await count(ctx.console)
  return { rows, small, floor, large, newRow, rotate, userRow, ipRow, cpuRows, peerPairs, peerSkipped, mem, rotated, retired, preloadSeconds, sessionsAfter }
}

/** The crowded user's page (its row), the walks of the crowded address and /get during walks. */
type CrowdRows = Pick<RunResults, 'page' | 'crowdSeconds' | 'crowdRemoved' | 'walkResult' | 'duringWalk'> & { removedMade: number }

/**
 * The crowded lists, after the table's rows (their users and ips are none of the crowd's), and
 * removed before the sign-outs and the sweep. First the sessions /new made go, for room (and the
 * same N under the crowd in every run). The reference restarts with the service's pages of them
 * (and its answer to the sign-outs after).
 */
async function crowdRows (ctx: Context, dir: string, bodies: Record<string, unknown>, total: number, running: Running[]): Promise<CrowdRows> {
  const all: Population = { from: 0, to: total, total }
  const removedMade = await removeMade(ctx.console)
  step(`crowd: removed the ${removedMade} sessions /new made; a user with ${CROWD_USER_SESSIONS} sessions and an address with ${CROWD_IP_SESSIONS}`)
  const crowdStarted = Date.now()
  await preloadCrowd(ctx.console, { userSessions: CROWD_USER_SESSIONS, ipSessions: CROWD_IP_SESSIONS })
  const crowdSeconds = (Date.now() - crowdStarted) / 1000
  step('restarting the reference with the service\'s pages of the crowded lists')
  await ctx.reference.stop()
  const crowdReference = await startReference(dir, { ...bodies, ...(await crowdBodies(ctx.service)), '/del_user': delUserBody })
  running.push(crowdReference)
  ctx.reference = crowdReference
  for (const url of [crowdReference.url, ctx.service.url]) await warmUp(ctx, url, WORKLOADS.userPage, all)
  const page = await measure(ctx, `${WORKLOADS.userPage.name} @${CROWD_USER_SESSIONS}`, WORKLOADS.userPage, all)
  const walkResult = await walks(ctx)
  // Sessions of the first half: those the mixed rows deleted were the last ones.
  const duringWalk = await getDuringWalk(ctx, dir, { from: 0, to: Math.floor(total / 2), total })
  const crowdRemoved = await removeCrowd(ctx.console)
  return { page, crowdSeconds, crowdRemoved, walkResult, duringWalk, removedMade }
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
    const measured = await tableRows(ctx, tmp, bodies, total)
    const { rows } = measured
    const crowd = await crowdRows(ctx, tmp, bodies, total, running)
    rows.push(crowd.page)
    // Sign-outs, after the crowd is gone (room for the user with 100,000 sessions).
    const signOut = await signOuts(ctx)
    const duringSignOut = await getDuringSignOut(ctx, { from: 0, to: Math.floor(total / 2), total })

    const sweepResult = await sweep(ctx)
    const hashedMem = await hashedMemory(tmp, total)

    const run: RunResults = { ...measured, ...crowd, total, signOut, duringSignOut, sweepResult, hashedMem }
    const figures = figuresOf(run)
    printSummary(run, figures)
    const file = writeResults(join(ROOT, 'bench/results'), {
      date: new Date().toISOString(),
      settings,
      loadGenerator: WRK ?? 'autocannon',
      machine: { node: process.version, cpus: (await import('node:os')).cpus().length },
      preloadSeconds: measured.preloadSeconds,
      sessionsAfterWorkloads: measured.sessionsAfter,
      rows,
      redisScript: run.peerPairs.length > 0 ? { newBy: REDIS_NEW, pairs: run.peerPairs } : run.peerSkipped,
      cpuPerRequest: figures.cpu,
      goals: figures.goals,
      memory: run.mem,
      memoryHashed: hashedMem,
      crowd: { userSessions: CROWD_USER_SESSIONS, ipSessions: CROWD_IP_SESSIONS, seconds: crowd.crowdSeconds, removed: crowd.crowdRemoved, madeRemovedBefore: crowd.removedMade },
      walk: crowd.walkResult,
      getDuringWalk: crowd.duringWalk,
      rotation: { chains: run.rotated, rotations: run.rotated + run.retired },
      signOut,
      getDuringSignOut: duringSignOut,
      scale: figures.scale,
      referenceSwing: figures.swing,
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
