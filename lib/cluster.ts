// A local replica set's members, as `npm run cluster` (scripts/cluster.ts) and the tests' sets
// (test/support/cluster.ts) run them: how a member is configured, and when a set is ready.
import { join } from 'node:path'
import { CONSOLE_SOCKET_NAME } from '../src/embedded/tarantool.js'
import { consoleEval } from './admin-console.js'

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
