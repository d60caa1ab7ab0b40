// npm run cluster: a local replica set of three Tarantool members on loopback ports, to try high
// availability on one machine. Data under DATA_DIR/cluster/m1..m3 (kept between runs, with the
// passwords in DATA_DIR/cluster/secrets.json), each member's log and admin console socket in its
// directory. Prints the TARANTOOL_URI to give the service; Ctrl-C stops the members. How a member
// is configured, and when a set is ready: lib/cluster.ts, which the tests' sets share.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { clusterUri, memberEnvironment, waitBooted, waitReady } from '../lib/cluster.js'
import { loadConfig } from '../src/config.js'
import { CONSOLE_SOCKET_NAME, findExecutable, INIT_LUA, tarantoolRunningOn } from '../src/embedded/tarantool.js'

interface Secrets { password: string, replicationPassword: string }

/** The passwords of the set in `dir`: made on its first run, the same afterwards (the members keep them). */
function secrets (dir: string): Secrets {
  const file = join(dir, 'secrets.json')
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as Secrets
  const made = { password: randomBytes(18).toString('base64url'), replicationPassword: randomBytes(18).toString('base64url') }
  writeFileSync(file, JSON.stringify(made, null, 2) + '\n', { mode: 0o600 })
  return made
}

const USAGE = `usage: npm run cluster -- [--base-port PORT] [--election-mode MODE]
  --base-port      the first member's port; the others take the next ones (default 3301)
  --election-mode  TARANTOOL_ELECTION_MODE of every member (default: candidate where Tarantool has elections, else off)
Every member also takes TARANTOOL_SYNCHRO_QUORUM, TARANTOOL_SYNCHRO_TIMEOUT, TARANTOOL_REPLICATION_TIMEOUT,
TARANTOOL_ELECTION_MODE, TARANTOOL_MEMTX_MEMORY and TARANTOOL_LOG_LEVEL from this environment.`

const STOP_TIMEOUT_MS = 3_000

// Settings of every member that npm run cluster takes from its environment.
const MEMBER_SETTINGS = ['TARANTOOL_SYNCHRO_QUORUM', 'TARANTOOL_SYNCHRO_TIMEOUT', 'TARANTOOL_REPLICATION_TIMEOUT',
  'TARANTOOL_ELECTION_MODE', 'TARANTOOL_MEMTX_MEMORY', 'TARANTOOL_LOG_LEVEL']

async function main (): Promise<void> {
  let values: { 'base-port'?: string, 'election-mode'?: string }
  try {
    values = parseArgs({ options: { 'base-port': { type: 'string' }, 'election-mode': { type: 'string' } } }).values
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`)
    process.exit(2)
  }
  const basePort = Number(values['base-port'] ?? 3301)
  if (!Number.isInteger(basePort) || basePort < 1 || basePort > 65533) {
    console.error(`--base-port must be a port from 1 to 65533\n${USAGE}`)
    process.exit(2)
  }
  const config = loadConfig(process.env, { dotenv: true })
  const bin = findExecutable(config.TARANTOOL_BIN, config.PATH)
  if (bin === undefined) throw new Error(`no tarantool executable "${config.TARANTOOL_BIN}" (install Tarantool or set TARANTOOL_BIN)`)
  const root = resolve(config.DATA_DIR, 'cluster')
  mkdirSync(root, { recursive: true, mode: 0o700 })
  const { password, replicationPassword } = secrets(root)
  for (const i of [1, 2, 3]) {
    const pid = tarantoolRunningOn(join(root, `m${i}`))
    if (pid !== undefined) throw new Error(`a Tarantool (pid ${pid}) runs on ${join(root, `m${i}`)} already: is another npm run cluster running?`)
  }
  const ports = [0, 1, 2].map((i) => basePort + i)
  const replication = ports.map((port) => `127.0.0.1:${port}`).join(',')
  // The members' own settings, where this environment has them (tarantool/README.md).
  const passed = Object.fromEntries(MEMBER_SETTINGS.flatMap((name) => (process.env[name] === undefined ? [] : [[name, process.env[name]]])))
  const env = { ...passed, ...(values['election-mode'] !== undefined ? { TARANTOOL_ELECTION_MODE: values['election-mode'] } : {}) }

  const children: ChildProcess[] = []
  const stop = async (): Promise<void> => {
    await Promise.all(children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolveExit) => child.once('close', resolveExit))
      child.kill('SIGTERM')
      const killer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
      await exited
      clearTimeout(killer)
    }))
  }
  let stopping = false
  const onSignal = (): void => {
    if (stopping) return
    stopping = true
    console.log('\nstopping the members...')
    stop().then(() => process.exit(0), () => process.exit(1))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  const sockets = ports.map((port, index) => {
    const dir = join(root, `m${index + 1}`)
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const log = openSync(join(dir, 'tarantool.log'), 'a')
    // Its own process group: a Ctrl-C reaches this script only, which stops the members.
    const child = spawn(bin, [INIT_LUA], {
      cwd: dir,
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...memberEnvironment({ index, dir, port, replication, password, replicationPassword, env }), PATH: process.env.PATH ?? '' }
    })
    child.once('close', (code, signal) => {
      if (!stopping) console.error(`member ${index + 1} exited (code ${code}, signal ${signal}); see ${join(dir, 'tarantool.log')}`)
    })
    children.push(child)
    return join(dir, CONSOLE_SOCKET_NAME)
  })
  try {
    const alive = (i: number) => () => children[i].exitCode === null && children[i].signalCode === null
    await Promise.all(sockets.map(async (socket, i) => await waitBooted(socket, children[i].pid, alive(i), 60_000)))
    await waitReady(sockets, 60_000)
  } catch (err) {
    await stop()
    throw err
  }
  console.log(`a replica set of 3 members, data in ${root}:`)
  sockets.forEach((socket, i) => console.log(`  member ${i + 1}: 127.0.0.1:${ports[i]}, console ${socket}`))
  console.log('\nfor the service:')
  console.log(`  TARANTOOL_URI=${clusterUri(password, ports)}`)
  console.log('\nmake another member the writable one: npm run promote -- --console SOCKET [--force]')
  console.log('Ctrl-C stops the members.')
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: Error) => {
    console.error(`cluster failed: ${err.message}`)
    process.exit(1)
  })
}
