// npm run bench:profile: where a /get spends the service's CPU time. Runs the built service under
// `node --cpu-prof`, drives /get on 10,000 sessions for a while, and sums the profile's self time
// by where it was spent (HTTP, validation, serialization, driver, logging...).
// `npm run bench:profile -- --reference` profiles the bare-Fastify reference under the same requests:
// the floor of each category. `-- --new` drives /new instead (new sessions of random users).
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectConsole } from '../lib/admin-console.js'
import { cleanupOnExit, startService, type Running } from '../lib/processes.js'
import { CONSOLE_SOCKET_NAME } from '../src/embedded/tarantool.js'
import { mainThreadOf } from './cpu.js'
import { categorizer, IDLE, timeByCategory, type Profile } from './profile-categories.js'
import { preload } from './dataset.js'
import { round } from './load.js'
import { startReference } from './processes.js'
import { SESSION_EXAMPLE } from '../src/api/schemas.js'
import { WORKLOADS } from './workloads.js'

const SESSIONS = 10_000
const REFERENCE = process.argv.includes('--reference')
const WORKLOAD = process.argv.includes('--new') ? WORKLOADS.new : WORKLOADS.get
const SECONDS = Number(process.argv.slice(2).find((a) => /^[0-9]+$/.test(a)) ?? 10)

async function main (): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'sessions-profile-'))
  const dataDir = join(tmp, 'data')
  const profDir = join(tmp, 'prof')
  const prof = ['--cpu-prof', `--cpu-prof-dir=${profDir}`]
  let server: Running
  if (REFERENCE) {
    server = await startReference(tmp, { [WORKLOAD.name]: { status: 'success', data: SESSION_EXAMPLE } }, prof)
  } else {
    server = await startService(tmp, { logLevel: process.env.LOG_LEVEL || undefined, accessLog: process.env.ACCESS_LOG || undefined, nodeArgs: prof })
  }
  cleanupOnExit(async () => { await server.stop(); rmSync(tmp, { recursive: true, force: true }) })
  if (!REFERENCE) {
    const admin = await connectConsole(join(dataDir, CONSOLE_SOCKET_NAME))
    await preload(admin, { from: 0, to: SESSIONS, total: SESSIONS, ageSeconds: 86_400 })
    admin.close()
  }
  const mainBefore = mainThreadOf(server.proc.pid!)
  const result = await round(server.url, WORKLOAD.requests({ from: 0, to: SESSIONS, total: SESSIONS }), { connections: 50, durationSeconds: SECONDS }, server.proc.pid)
  const mainAfter = mainThreadOf(server.proc.pid!)
  await server.stop()

  const profile = JSON.parse(readFileSync(join(profDir, readdirSync(profDir)[0]), 'utf8')) as Profile
  const categoryOf = categorizer(profile)
  const time = timeByCategory(profile, categoryOf)
  const busy = [...time].filter(([k]) => k !== IDLE).reduce((n, [, t]) => n + t, 0)
  const requests = result.rps * SECONDS
  const total = busy / requests
  console.log(`${WORKLOAD.name} (${REFERENCE ? 'reference' : 'service'}): ${result.rps.toFixed(0)} req/s, p99 ${result.p99.toFixed(2)} ms; ` +
    `CPU per request ${total.toFixed(1)} µs, by category:`)
  for (const [name, t] of [...time].filter(([k]) => k !== IDLE).sort((a, b) => b[1] - a[1])) {
    const perRequest = t / requests
    console.log(`  ${name.padEnd(48)} ${(100 * t / busy).toFixed(1).padStart(5)} %  ${perRequest.toFixed(1).padStart(6)} µs`)
  }
  // The other processes on the machine's cores, from /proc: the service's Tarantool by thread and
  // the load generator (this process). The profile above covers Node's main thread only.
  if (result.cpu !== undefined) {
    const others = Object.entries(result.cpu).filter(([part, us]) => part !== 'node' && us >= 0.05)
    console.log('  outside Node\'s main thread, from /proc: ' +
      others.map(([part, us]) => `${part} ${us.toFixed(1)} µs`).join(', ') +
      `; all of Node's threads ${(result.cpu.node ?? 0).toFixed(1)} µs`)
  }
  // The profile samples by the clock: time the main thread spent waiting for a core (taken by a
  // thread its write woke) counts as busy there, not in /proc.
  if (mainBefore !== undefined && mainAfter !== undefined) {
    console.log(`  Node's main thread from /proc: ${((mainAfter.seconds - mainBefore.seconds) * 1e6 / requests).toFixed(1)} µs of CPU ` +
      `(busy in the profile: ${total.toFixed(1)} µs); it lost the core while it could run ` +
      `${((mainAfter.preemptions - mainBefore.preemptions) / requests).toFixed(3)} times a request`)
  }
  // PROFILE_DETAIL=<start of a category name>: that category's top functions.
  const detail = process.env.PROFILE_DETAIL
  if (detail) {
    const byId = new Map(profile.nodes.map((n) => [n.id, n]))
    const fns = new Map<string, number>()
    profile.samples.forEach((id, i) => {
      if (!categoryOf(id).startsWith(detail)) return
      const n = byId.get(id)!
      const key = `${n.callFrame.functionName} ${n.callFrame.url}`
      fns.set(key, (fns.get(key) ?? 0) + profile.timeDeltas[i])
    })
    for (const [k, t] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`    ${(100 * t / busy).toFixed(1)} % ${k}`)
  }
  rmSync(tmp, { recursive: true, force: true })
}

main().catch((err: Error) => { console.error(err); process.exitCode = 1 })
