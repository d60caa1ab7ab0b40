// npm run bench -- --replica-set [--synchro-quorum Q] [--quick] [--sessions N] [--rounds R]
// [--duration S]: what a replica set costs. The service on a local set of three members as
// `npm run cluster` runs it (`sessions` a synchronous space: a write is acknowledged once a quorum
// has it, by default 2 of the 3; Q sets TARANTOOL_SYNCHRO_QUORUM) against the
// same service on its single embedded Tarantool, side by side in alternating rounds of the same
// requests: /get and /new, each as a ratio to the single node. Then checks that every member holds
// every session. See bench/README.md.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectConsole, type AdminConsole } from '../lib/admin-console.js'
import { buildService, cleanupOnExit, startService, type Running, type ServiceSettings } from '../lib/processes.js'
import { CONSOLE_SOCKET_NAME } from '../src/embedded/tarantool.js'
import { count, preload } from './dataset.js'
import { alternate, round, type LoadOptions } from './load.js'
import { startCluster, type RunningCluster } from './processes.js'
import { row, step, table, writeResults, type Row } from './report.js'
import { WORKLOADS, type Population } from './workloads.js'

const ROOT = join(import.meta.dirname, '..')
const DAY = 86_400
// How long the replicas may take to hold what the leader holds once the load stops.
const CATCH_UP_SECONDS = 30

export interface ReplicaSetSettings {
  quick: boolean
  sessions?: number
  /** TARANTOOL_SYNCHRO_QUORUM of the members; undefined: theirs (a majority). */
  synchroQuorum?: number
  rounds: number
  load: LoadOptions
  service: ServiceSettings
}

/** Waits until every member holds as many sessions as the first; resolves with each one's count. */
async function caughtUp (consoles: AdminConsole[]): Promise<number[]> {
  const deadline = Date.now() + CATCH_UP_SECONDS * 1000
  for (;;) {
    const counts = await Promise.all(consoles.map(async (admin) => await count(admin)))
    if (counts.every((n) => n === counts[0]) || Date.now() > deadline) return counts
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

export async function runReplicaSet (settings: ReplicaSetSettings): Promise<void> {
  const sessions = settings.sessions ?? (settings.quick ? 20_000 : 100_000)
  const tmp = mkdtempSync(join(tmpdir(), 'sessions-bench-set-'))
  const running: Array<Running | RunningCluster> = []
  const consoles: AdminConsole[] = []
  let failed = true
  const cleanup = async (): Promise<void> => {
    for (const admin of consoles) admin.close()
    for (const proc of running.reverse()) await proc.stop()
    // A failed run's logs stay (the services', the members' tarantool.log, cluster.log).
    if (failed) console.error(`logs of this run: ${tmp}`)
    else rmSync(tmp, { recursive: true, force: true })
  }
  cleanupOnExit(cleanup)
  try {
    step('building the service (npm run build)')
    buildService()
    const dirs = { single: join(tmp, 'single'), set: join(tmp, 'set') }
    for (const dir of Object.values(dirs)) mkdirSync(dir)
    step(`starting the service on its embedded Tarantool (data in ${dirs.single})`)
    const single = await startService(dirs.single, settings.service)
    running.push(single)
    step(`starting a replica set of 3 members (npm run cluster, data in ${join(dirs.set, 'cluster')})`)
    const quorum: Record<string, string> = settings.synchroQuorum === undefined ? {} : { TARANTOOL_SYNCHRO_QUORUM: String(settings.synchroQuorum) }
    const cluster = await startCluster(dirs.set, quorum)
    running.push(cluster)
    step('starting the service on the replica set')
    const onSet = await startService(dirs.set, { ...settings.service, tarantoolUri: cluster.uri })
    running.push(onSet)

    const singleConsole = await connectConsole(join(dirs.single, 'data', CONSOLE_SOCKET_NAME))
    consoles.push(singleConsole)
    const members: AdminConsole[] = []
    for (const socket of cluster.consoles) members.push(await connectConsole(socket))
    consoles.push(...members)
    step(`preloading ${sessions} sessions on each side (on the set: through its first member, the writable one)`)
    const population: Population = { from: 0, to: sessions, total: sessions }
    await preload(singleConsole, { ...population, ageSeconds: DAY })
    // With a quorum of all three: at 2 of 3, Tarantool 2.6.0 lets some synchronous writes wait
    // out their timeout with every member up (bench/README.md), and a preload would fail there.
    const configured = await members[0].eval<number | string>('return box.cfg.replication_synchro_quorum')
    await members[0].eval(`box.cfg{replication_synchro_quorum = ${members.length}}`)
    await preload(members[0], { ...population, ageSeconds: DAY })
    await members[0].eval(`box.cfg{replication_synchro_quorum = ${JSON.stringify(configured)}}`)

    step('warming up both')
    const warm = { ...settings.load, durationSeconds: 2 }
    for (const side of [single, onSet]) await round(side.url, WORKLOADS.get.requests(population), warm)

    const rows: Row[] = []
    for (const key of ['get', 'new'] as const) {
      const workload = WORKLOADS[key]
      step(`${workload.name}: ${settings.rounds} rounds of ${settings.load.durationSeconds} s each side, each after ${settings.load.warmupSeconds} s of warm-up`)
      const requests = workload.requests(population)
      const rounds = await alternate(settings.rounds,
        async () => await round(single.url, requests, settings.load, single.proc.pid),
        async () => await round(onSet.url, requests, settings.load, onSet.proc.pid))
      rows.push(row(`${workload.name} @${sessions}`, rounds))
    }
    step('checking that every member holds every session')
    const held = await caughtUp(members)

    console.log('\n' + table(rows, { service: 'set ', reference: 'single ' }))
    const newRow = rows[1]
    console.log(`\n/new on the replica set (synchronous, quorum ${configured} of 3): ${newRow.ratio.rps.toFixed(2)} of the single node's req/s, ` +
      `p50 ${newRow.ratio.p50.toFixed(2)}x, p99 ${newRow.ratio.p99.toFixed(2)}x (medians of ${settings.rounds} per-round ratios)`)
    const spreadOf = (r: Row): string => {
      const ratios = r.rounds.service.map((s, i) => s.rps / r.rounds.reference[i].rps)
      return `${Math.min(...ratios).toFixed(2)}..${Math.max(...ratios).toFixed(2)}`
    }
    console.log(`per-round req/s ratios: ${rows.map((r) => `${r.workload} ${spreadOf(r)}`).join(', ')}`)
    const allHeld = held.every((n) => n === held[0])
    console.log(`sessions on each member after the load: ${held.join(', ')}` +
      (allHeld
        ? ''
        : ` (WARNING: the members differ ${CATCH_UP_SECONDS} s after the load: on Tarantool 2.6.0, rows the leader ` +
        'rolled back after a quorum timeout stay on the replicas; bash bench/sync-stalls.sh shows it with no code of ours)'))
    const file = writeResults(join(ROOT, 'bench/results'), {
      kind: 'replica-set',
      date: new Date().toISOString(),
      settings: { ...settings, sessions, synchroQuorum: configured },
      machine: { node: process.version, cpus: (await import('node:os')).cpus().length },
      rows,
      held
    })
    console.log(`\nresults: ${file}`)
    failed = false
  } finally {
    await cleanup()
  }
}
