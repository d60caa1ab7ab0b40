// npm run cluster: a local replica set of three Tarantool members on loopback ports, to try high
// availability on one machine. Data under DATA_DIR/cluster/m1..m3 (kept between runs, with the
// passwords in DATA_DIR/cluster/secrets.json), each member's log and admin console socket in its
// directory. Prints the TARANTOOL_URI to give the service; Ctrl-C stops the members.
//
// Also the module the tests' replica set (test/support/cluster.ts) shares with it: how a member is
// configured, and when a set is ready.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { connectConsole } from '../lib/admin-console.js'
import { loadConfig } from '../src/config.js'
import { CONSOLE_SOCKET_NAME, findExecutable, INIT_LUA, tarantoolRunningOn } from '../src/embedded-tarantool.js'

const SERVICE_USER = 'sessions'

export interface MemberOptions {
  /** 0-based position in the set: the first one bootstraps it. */
  index: number
  dir: string
  port: number
  /** host:port of every member, this one included. */
  replication: string
  password: string
  replicationPassword: string
  /** More environment (TARANTOOL_SYNCHRO_TIMEOUT, TARANTOOL_ELECTION_MODE...). */
  env?: Record<string, string>
}

/** The environment of tarantool/init.lua for one member of a set on this machine. */
export function memberEnvironment (opts: MemberOptions): Record<string, string> {
  return {
    TARANTOOL_PORT: `127.0.0.1:${opts.port}`,
    TARANTOOL_WORK_DIR: opts.dir,
    TARANTOOL_USER_NAME: SERVICE_USER,
    TARANTOOL_USER_PASSWORD: opts.password,
    TARANTOOL_REPLICATION: opts.replication,
    TARANTOOL_REPLICATION_PASSWORD: opts.replicationPassword,
    TARANTOOL_CONSOLE_SOCKET: join(opts.dir, CONSOLE_SOCKET_NAME),
    // Members exit by themselves if the process that started them dies without stopping them.
    TARANTOOL_PARENT_PID: String(process.pid),
    // Without elections, the first member takes the writes when the set is new.
    ...(opts.index === 0 ? { TARANTOOL_BOOTSTRAP_LEADER: 'true' } : {}),
    ...opts.env
  }
}

/** The service's TARANTOOL_URI for a set on these loopback ports. */
export function clusterUri (password: string, ports: number[]): string {
  return `${SERVICE_USER}:${password}@${ports.map((port) => `127.0.0.1:${port}`).join(',')}`
}

/** Runs `lua` on a console socket once; rejects when nothing answers there. */
export async function consoleEval<T> (socket: string, lua: string, timeoutMs = 10_000): Promise<T> {
  const admin = await connectConsole(socket, { timeoutMs })
  try {
    return await admin.eval<T>(lua)
  } finally {
    admin.close()
  }
}

const delay = (ms: number): Promise<void> => new Promise((resolveDelay) => setTimeout(resolveDelay, ms))

/** Polls `check` every 50 ms until it returns true (an error counts as false); throws after `timeoutMs`. */
export async function waitUntil (what: string, check: () => Promise<boolean>, timeoutMs: number, details = (): string => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      if (await check()) return
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} within ${timeoutMs} ms${last instanceof Error ? ` (${last.message})` : ''}\n${details()}`)
    }
    await delay(50)
  }
}

// Done with box.cfg and the app started (the console listens only after box.cfg): its pid, else null.
const BOOTED = "return type(box.cfg) ~= 'function' and require('sessions').started and box.info.pid or box.NULL"

// On this member: whether it has the procedures and is connected to every other member both ways,
// and whether it is the writable one with its background work running.
const STATE = `
local connected = box.space._func.index.name:get('sessions.member') ~= nil
for _, r in pairs(box.info.replication) do
  if r.id ~= box.info.id and (r.upstream == nil or r.upstream.status ~= 'follow' or r.downstream == nil) then connected = false end
end
return {connected = connected, writable = not box.info.ro and require('sessions.role').writable,
  elections = (box.cfg.election_mode or 'off') ~= 'off'}`

interface MemberState { connected: boolean, writable: boolean, elections: boolean }

/**
 * Waits until the member of process `pid` answers on its console with box.cfg done (not another
 * process on the same socket); `alive()` false stops the wait.
 */
export async function waitBooted (socket: string, pid: number | undefined, alive: () => boolean, timeoutMs: number, details?: () => string): Promise<void> {
  await waitUntil(`the member with the console ${socket} did not start`, async () => {
    if (!alive()) throw new Error('it exited')
    return await consoleEval<number | null>(socket, BOOTED, 2_000) === pid
  }, timeoutMs, details)
}

/**
 * Waits until the set is ready: every member connected to every other, one writable. A set
 * without elections restarted on its data has none (each member comes back read-only): the first
 * member is then promoted, once all answer (none writable, so none is left out).
 */
export async function waitReady (sockets: string[], timeoutMs: number, details?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let promoted = false
  await waitUntil('the replica set was not ready', async () => {
    const states = await Promise.all(sockets.map(async (socket) => await consoleEval<MemberState>(socket, STATE, 2_000)))
    if (states.every((s) => s.connected && !s.elections) && states.every((s) => !s.writable) && !promoted) {
      promoted = true
      await consoleEval(sockets[0], "return require('sessions.switchover').promote({force = true})", Math.max(deadline - Date.now(), 1_000))
    }
    return states.every((s) => s.connected) && states.filter((s) => s.writable).length === 1
  }, timeoutMs, details)
}

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
  const passed = Object.fromEntries(MEMBER_SETTINGS.flatMap((name) => (process.env[name] === undefined ? [] : [[name, process.env[name]!]])))
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
