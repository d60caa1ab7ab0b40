// Starts a real replica set for the tests: three (or `size`) local `tarantool` processes running
// the project's own tarantool/init.lua on loopback ports, with their data in a temporary directory,
// each with an admin console socket in its directory; configured as `npm run cluster` does
// (lib/cluster.ts, which scripts/cluster.ts uses). Member 1 bootstraps the set (TARANTOOL_BOOTSTRAP_LEADER=true) and is the
// writable one when there are no elections.
//
// Without elections unless the test asks for them (env TARANTOOL_ELECTION_MODE): the same set on
// every Tarantool, its writes moved by npm run promote, which the tests drive; a Tarantool with
// elections (2.6.1 and later) would otherwise elect its leader as it pleases.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { consoleEval } from '../../lib/admin-console.js'
import { clusterUri, memberEnvironment, waitBooted, waitReady } from '../../lib/cluster.js'
import { freePort } from '../../lib/processes.js'
import { parseTarantoolUri } from '../../src/config.js'
import { INIT_LUA } from '../../src/embedded/tarantool.js'
import { TarantoolClient } from '../../src/store/tarantool-client.js'
import { StorageError, StorageUnavailableError } from '../../src/store/tarantool-errors.js'
import { TARANTOOL_BIN, USER } from './tarantool.js'

export { consoleEval }

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
  /** Starts the members held back by `defer`, then waits until the set is ready, as startCluster does. */
  startDeferred: () => Promise<void>
}

export interface ClusterOptions {
  /** Members (default 3). */
  size?: number
  /** TARANTOOL_SYNCHRO_TIMEOUT, seconds (default 1: a write without its quorum fails quickly). */
  synchroTimeout?: number
  /** More environment for every member (TARANTOOL_ELECTION_MODE, off by default...). */
  env?: Record<string, string>
  /** Longest wait for the set to be ready, ms (default 30 s). */
  timeoutMs?: number
  /** The init.lua member `index` (0-based) runs (default: the project's own, for all). */
  initLua?: (index: number) => string
  /**
   * Members (0-based) not started yet: the others wait for them to bootstrap a new set (listening,
   * refusing logins with ER_LOADING). startCluster then returns at once, without waiting for
   * anything; `startDeferred()` starts them and waits.
   */
  defer?: number[]
}

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

  const members = ports.map((port, index) => {
    const dir = join(root, `m${index + 1}`)
    mkdirSync(dir, { mode: 0o700 })
    const env: Record<string, string> = {
      ...memberEnvironment({ index, dir, port, replication, password, replicationPassword }),
      TARANTOOL_SYNCHRO_TIMEOUT: String(opts.synchroTimeout ?? 1),
      TARANTOOL_ELECTION_MODE: 'off',
      TARANTOOL_LOG_LEVEL: '5',
      ...opts.env
    }
    let proc: ChildProcess | undefined
    const pid = (): number | undefined => proc?.pid
    let exited: Promise<void> = Promise.resolve()
    const running = (): boolean => proc !== undefined && proc.exitCode === null && proc.signalCode === null
    const launch = (): void => {
      outputs[index] = ''
      const started = spawn(bin, [opts.initLua?.(index) ?? INIT_LUA], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
      const keep = (chunk: Buffer): void => { outputs[index] = (outputs[index] + chunk.toString()).slice(-6000) }
      started.stdout.on('data', keep)
      started.stderr.on('data', keep)
      exited = new Promise((resolve) => started.once('close', () => resolve()))
      proc = started
    }
    const member: ClusterMember = {
      uri: `${USER}:${password}@127.0.0.1:${port}`,
      port,
      console: env.TARANTOOL_CONSOLE_SOCKET,
      dir,
      signal: (signal) => { if (running()) proc!.kill(signal) },
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
        await waitBooted(member.console, pid(), running, timeoutMs, details)
      }
    }
    return { member, launch, running, pid }
  })

  const stop = async (): Promise<void> => {
    await Promise.all(members.map(async ({ member }) => await member.stop()))
    rmSync(root, { recursive: true, force: true })
  }
  const deferred = members.filter((_, index) => opts.defer?.includes(index) === true)
  const launchAndWait = async (launching: typeof members, wait: boolean): Promise<void> => {
    try {
      for (const { launch } of launching) launch()
      if (!wait) return
      await Promise.all(members.map(async ({ member, running, pid }) => await waitBooted(member.console, pid(), running, timeoutMs, details)))
      await waitReady(members.map(({ member }) => member.console), timeoutMs, details)
    } catch (err) {
      await stop()
      throw err
    }
  }
  await launchAndWait(members.filter((m) => !deferred.includes(m)), deferred.length === 0)
  return {
    members: members.map(({ member }) => member),
    uri: clusterUri(password, ports),
    stop,
    startDeferred: async () => await launchAndWait(deferred, true)
  }
}

/** A client of one member as the service user, connected; close it when done. */
export async function memberClient (member: ClusterMember, timeoutMs = 5_000): Promise<TarantoolClient> {
  const client = new TarantoolClient({ ...parseTarantoolUri(member.uri), timeoutMs })
  try {
    await client.waitConnected(5_000)
  } catch (err) {
    client.close()
    throw err
  }
  return client
}

/** How many of these tokens (plain, as the service sends them) the member holds a session of. */
export async function holds (member: ClusterMember, tokens: string[]): Promise<number> {
  return await consoleEval<number>(member.console, `
    local uuid, n = require('uuid'), 0
    for _, t in ipairs(require('json').decode('${JSON.stringify(tokens)}')) do
      if box.space.sessions:get(uuid.fromstr(t)) ~= nil then n = n + 1 end
    end
    return n`)
}

/** The tokens (plain) of every session stored on the member with this console. */
export async function storedTokens (console: string): Promise<Set<string>> {
  const tokens = await consoleEval<string[]>(console, 'local out = {} for _, t in box.space.sessions:pairs() do out[#out + 1] = t[1]:str() end return out', 20_000)
  return new Set(tokens)
}

/** Waits until the member holds a session of each of these tokens (a follower receives them shortly after). */
export async function waitHolds (member: ClusterMember, tokens: string[], timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (await holds(member, tokens) < tokens.length) {
    if (Date.now() > deadline) throw new Error(`the member on port ${member.port} holds ${await holds(member, tokens)} of ${tokens.length} sessions`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

// ER_WAL_IO: on Tarantool 2.6.0, what the transactions queued behind a synchronous one that timed
// out get when they are rolled back with it (2.10 answers them ER_SYNC_ROLLBACK, 217).
const ER_WAL_IO = 40

/**
 * Whether a call failed with an unknown outcome: its quorum did not come in time (216), or it was
 * rolled back with one that did not (217, or 40 on 2.6.0). Sending it again is safe for sessions.new
 * with the same token (it is idempotent), as the service does.
 */
export function outcomeUnknown (err: unknown): boolean {
  if (err instanceof StorageUnavailableError) return err.applied === 'unknown'
  return err instanceof StorageError && err.tarantoolCode === ER_WAL_IO
}

/**
 * Creates a session of `token` through sessions.new, sending it again while the outcome is unknown.
 * Tarantool 2.6.0 needs it even with every member up: under back-to-back synchronous writes, about
 * one in a few hundred waits out replication_synchro_timeout and is rolled back with those behind it.
 */
export async function createSession (client: TarantoolClient, token: string, attempts = 5): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await client.call('sessions.new', [client.uuid(token), 1, 167772161, null])
      return
    } catch (err) {
      if (!outcomeUnknown(err) || i >= attempts) throw err
    }
  }
}

/** The index of the writable member, or -1 when none is. */
export async function leaderOf (cluster: TestCluster): Promise<number> {
  for (let i = 0; i < cluster.members.length; i++) {
    const ro = await consoleEval<boolean>(cluster.members[i].console, 'return box.info.ro').catch(() => true)
    if (!ro) return i
  }
  return -1
}
