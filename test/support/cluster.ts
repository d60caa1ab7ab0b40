// Starts a real replica set for the tests: three (or `size`) local `tarantool` processes running
// the project's own tarantool/init.lua on loopback ports, with their data in a temporary directory,
// each with an admin console socket in its directory. Member 1 bootstraps the set
// (TARANTOOL_BOOTSTRAP_LEADER=true) and is the writable one when there are no elections.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CONSOLE_SOCKET_NAME, connectConsole } from '../../src/admin-console.js'
import { freePort, INIT_LUA } from '../../src/embedded-tarantool.js'
import { TARANTOOL_BIN, USER } from './tarantool.js'

export interface ClusterMember {
  /** `sessions:password@127.0.0.1:port`: this member alone, as the service user. */
  uri: string
  port: number
  /** Its admin console socket. */
  console: string
  /** Its data directory. */
  dir: string
  /** Stops it (SIGTERM) and waits until it exited; its data stays. */
  stop: () => Promise<void>
  /** SIGKILL, without waiting. */
  kill: () => void
  /** Starts it again on the same data and environment, after it exited or was killed (waits for the exit). */
  restart: () => Promise<void>
  /** Sends a signal (SIGSTOP, SIGCONT...). */
  signal: (signal: NodeJS.Signals) => void
}

export interface TestCluster {
  members: ClusterMember[]
  /** The service's TARANTOOL_URI for the whole set: `sessions:password@host1:port1,host2:port2,...`. */
  uri: string
  /** Stops every member and removes the data. */
  stop: () => Promise<void>
}

export interface ClusterOptions {
  /** Members (default 3). */
  size?: number
  /** TARANTOOL_SYNCHRO_TIMEOUT, seconds (default 1: a write without its quorum fails quickly). */
  synchroTimeout?: number
  /** More environment for every member (TARANTOOL_ELECTION_MODE...). */
  env?: Record<string, string>
  /** Longest wait for the set to be ready, ms (default 30 s). */
  timeoutMs?: number
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Runs `lua` on a console socket once; rejects when nothing answers there. */
export async function consoleEval<T> (socket: string, lua: string, timeoutMs = 10_000): Promise<T> {
  const admin = await connectConsole(socket, { timeoutMs })
  try {
    return await admin.eval<T>(lua)
  } finally {
    admin.close()
  }
}

/** Polls `check` every 50 ms until it returns true (errors count as false); throws after `timeoutMs`. */
async function until (what: string, check: () => Promise<boolean>, timeoutMs: number, details: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      if (await check()) return
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} within ${timeoutMs} ms${last instanceof Error ? ` (${last.message})` : ''}:\n${details()}`)
    }
    await delay(50)
  }
}

// Done with box.cfg and the app started: the console listens only after box.cfg.
const BOOTED = "return type(box.cfg) ~= 'function' and rawget(_G, 'sessions') ~= nil"
// The set is ready on this member: it has the schema and the procedures, it is connected to every
// other member both ways, and the writable member runs its background work.
const READY = `
local role = require('sessions.role')
if box.space._func.index.name:get('sessions.member') == nil then return false end
for _, r in pairs(box.info.replication) do
  if r.id ~= box.info.id and (r.upstream == nil or r.upstream.status ~= 'follow' or r.downstream == nil) then return false end
end
return {ro = box.info.ro, writable = role.writable}`

/** Starts a replica set and waits until it is ready: every member connected to every other, one writable. */
export async function startCluster (opts: ClusterOptions = {}): Promise<TestCluster> {
  if (TARANTOOL_BIN === undefined) throw new Error('a replica set needs a local tarantool executable')
  const bin = TARANTOOL_BIN
  const size = opts.size ?? 3
  const timeoutMs = opts.timeoutMs ?? 30_000
  const root = mkdtempSync(join(tmpdir(), 'sessions-cluster-'))
  const password = randomBytes(12).toString('hex')
  const replicationPassword = randomBytes(12).toString('hex')
  const ports: number[] = []
  while (ports.length < size) {
    const port = await freePort()
    if (!ports.includes(port)) ports.push(port)
  }
  const replication = ports.map((port) => `127.0.0.1:${port}`).join(',')
  const outputs: string[] = ports.map(() => '')
  const details = (): string => outputs.map((out, i) => `--- member ${i + 1}:\n${out}`).join('\n')

  const members = ports.map((port, i): ClusterMember & { launch: () => void } => {
    const dir = join(root, `m${i + 1}`)
    mkdirSync(dir, { mode: 0o700 })
    const socket = join(dir, CONSOLE_SOCKET_NAME)
    const env: Record<string, string> = {
      TARANTOOL_PORT: `127.0.0.1:${port}`,
      TARANTOOL_WORK_DIR: dir,
      TARANTOOL_USER_NAME: USER,
      TARANTOOL_USER_PASSWORD: password,
      TARANTOOL_REPLICATION: replication,
      TARANTOOL_REPLICATION_PASSWORD: replicationPassword,
      TARANTOOL_SYNCHRO_TIMEOUT: String(opts.synchroTimeout ?? 1),
      TARANTOOL_CONSOLE_SOCKET: socket,
      TARANTOOL_LOG_LEVEL: '5',
      // Members exit by themselves if the test process dies without stopping them.
      TARANTOOL_PARENT_PID: String(process.pid),
      ...(i === 0 ? { TARANTOOL_BOOTSTRAP_LEADER: 'true' } : {}),
      ...opts.env
    }
    let proc: ChildProcess | undefined
    let exited: Promise<void> = Promise.resolve()
    const launch = (): void => {
      outputs[i] = ''
      const started = spawn(bin, [INIT_LUA], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
      const keep = (chunk: Buffer): void => { outputs[i] = (outputs[i] + chunk.toString()).slice(-6000) }
      started.stdout!.on('data', keep)
      started.stderr!.on('data', keep)
      exited = new Promise((resolve) => started.once('close', () => resolve()))
      proc = started
    }
    const running = (): boolean => proc !== undefined && proc.exitCode === null && proc.signalCode === null
    const booted = async (): Promise<void> => {
      await until(`member ${i + 1} did not start`, async () => {
        if (!running()) throw new Error('it exited')
        return await consoleEval<boolean>(socket, BOOTED, 2_000)
      }, timeoutMs, details)
    }
    const member = {
      uri: `${USER}:${password}@127.0.0.1:${port}`,
      port,
      console: socket,
      dir,
      launch,
      signal: (signal: NodeJS.Signals) => { if (running()) proc!.kill(signal) },
      kill: () => { if (running()) proc!.kill('SIGKILL') },
      stop: async () => {
        if (running()) {
          proc!.kill('SIGCONT')
          proc!.kill('SIGTERM')
        }
        await exited
      },
      restart: async () => {
        await exited
        launch()
        await booted()
      }
    }
    return member
  })

  const stop = async (): Promise<void> => {
    await Promise.all(members.map(async (m) => await m.stop()))
    rmSync(root, { recursive: true, force: true })
  }
  try {
    for (const m of members) m.launch()
    await until('the replica set was not ready', async () => {
      const states = await Promise.all(members.map(async (m) => await consoleEval<false | { ro: boolean, writable: boolean }>(m.console, READY, 2_000)))
      if (states.some((s) => s === false)) return false
      return states.filter((s) => s !== false && !s.ro && s.writable).length === 1
    }, timeoutMs, details)
  } catch (err) {
    await stop()
    throw err
  }
  return {
    members: members.map(({ launch: _, ...m }) => m),
    uri: `${USER}:${password}@${ports.map((port) => `127.0.0.1:${port}`).join(',')}`,
    stop
  }
}
