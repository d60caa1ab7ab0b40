import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, isAbsolute, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { FastifyBaseLogger } from 'fastify'

/** The project's Tarantool entry point, the same one the Docker setup and the tests run. */
export const INIT_LUA = fileURLToPath(new URL('../../tarantool/init.lua', import.meta.url))

const SERVICE_USER = 'sessions'
const READY_TIMEOUT_MS = 60_000
// Tarantool stops in milliseconds; past this it is killed (inside the server's shutdown grace).
const STOP_TIMEOUT_MS = 3_000
const RESTART_MIN_MS = 500
const RESTART_MAX_MS = 10_000
// A run this long counts as healthy: the next crash restarts without delay growth.
const HEALTHY_RUN_MS = 30_000
// A unix socket path longer than this does not fit in sockaddr_un.
const MAX_SOCKET_PATH = 107
// The socket the service reaches Tarantool on, in the data directory.
const IPROTO_SOCKET_NAME = 'tarantool.sock'

/** The file name of the embedded instance's admin console socket, inside its data directory. */
export const CONSOLE_SOCKET_NAME = 'tarantool.control'

export interface EmbeddedOptions {
  /** The tarantool executable: a name looked up in PATH, or a path. */
  bin: string
  dataDir: string
  log: FastifyBaseLogger
  /** PATH to search for `bin` (defaults to none: only a path works). */
  searchPath?: string
  /** Bytes of memory for its data (TARANTOOL_MEMTX_MEMORY); undefined: init.lua's default. */
  memtxMemory?: number
}

/** A supervised local Tarantool: restarted if it dies, stopped by `stop()`. */
export interface EmbeddedTarantool {
  /** `user:password@unix/:<socket>` for the service's client. */
  uri: string
  /** The admin console's unix socket, if the data directory's path allowed one. */
  consoleSocket: string | undefined
  /** Stops the instance (SIGTERM, then SIGKILL after 3 s); no restart follows. */
  stop: () => Promise<void>
  /** The running process, if any. */
  readonly process: ChildProcess | undefined
}

/** Finds an executable by path, or by name in `searchPath`; undefined when there is none. */
export function findExecutable (bin: string, searchPath = ''): string | undefined {
  const candidates = bin.includes('/') ? [resolve(bin)] : searchPath.split(delimiter).filter(Boolean).map((dir) => join(dir, bin))
  return candidates.find((file) => {
    try {
      accessSync(file, constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

// A loopback port, or a unix socket's path.
function listening (target: number | string): Promise<boolean> {
  return new Promise((resolveOpen) => {
    const socket = createConnection(typeof target === 'number' ? { port: target, host: '127.0.0.1' } : { path: target })
    socket.once('connect', () => { socket.destroy(); resolveOpen(true) })
    socket.once('error', () => resolveOpen(false))
  })
}

// A Tarantool left behind by a service killed outright exits within a second (parent_watch.lua).
const PREVIOUS_EXIT_WAIT_MS = 5_000

/** The pid of a Tarantool running on this data directory (the live tarantool its pid file names), if any. */
export function tarantoolRunningOn (dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dataDir, 'tarantool.pid'), 'utf8').trim())
    // The file stays behind a killed instance, and its pid may be another process's by now.
    return Number.isInteger(pid) && pid > 0 && readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('tarantool') ? pid : undefined
  } catch {
    return undefined
  }
}

const delay = (ms: number): Promise<void> => new Promise((resolveDelay) => setTimeout(resolveDelay, ms))

/**
 * Waits until something listens on this loopback port (or unix socket path); false if `gone()`
 * (the process exited) or `timeoutMs` passes first. A Tarantool running init.lua listens once it
 * is ready.
 */
export async function waitListening (target: number | string, gone: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!(await listening(target))) {
    if (gone() || Date.now() > deadline) return false
    await delay(50)
  }
  return true
}

// Tarantool log lines carry their level as a letter before '>': I> W> E> F>, and C> for its
// start-up banner lines.
function logLine (log: FastifyBaseLogger, line: string): void {
  const level = / ([A-Z])> /.exec(line)?.[1]
  if (level === 'E' || level === 'F') log.error(line)
  else if (level === 'W') log.warn(line)
  else log.info(line)
}

/**
 * Where the embedded Tarantool listens: a unix socket in the data directory, which no other user
 * can enter (init.lua makes it 0700), so no other local process can listen there in its place, as
 * one could on a loopback port between the check that it is free and Tarantool's bind. A data
 * directory whose path is too long for a socket gets a private directory (0700) of its own under
 * the system's temporary one, removed by `cleanup`.
 */
function iprotoSocket (dataDir: string, log: FastifyBaseLogger): { path: string, cleanup: () => void } {
  const inData = join(dataDir, IPROTO_SOCKET_NAME)
  if (inData.length <= MAX_SOCKET_PATH) return { path: inData, cleanup: () => {} }
  const dir = mkdtempSync(join(tmpdir(), 'sessions-'))
  const path = join(dir, IPROTO_SOCKET_NAME)
  if (path.length > MAX_SOCKET_PATH) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`The paths of DATA_DIR (${dataDir}) and of the temporary directory (${tmpdir()}) are too long for a unix socket: set a shorter DATA_DIR or TMPDIR`)
  }
  log.warn({ dataDir, socket: path }, 'data directory path too long for a unix socket: Tarantool listens in a private directory of its own instead')
  return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/**
 * Starts `tarantool tarantool/init.lua` listening on a unix socket in `dataDir`, with its data
 * there, waits until it accepts connections (it listens only once the app in it is ready), and
 * keeps it running.
 */
export async function startEmbeddedTarantool (opts: EmbeddedOptions): Promise<EmbeddedTarantool> {
  const bin = findExecutable(opts.bin, opts.searchPath)
  if (bin === undefined) {
    throw new Error(`No Tarantool executable "${opts.bin}" found. Install Tarantool ` +
      '(Debian/Ubuntu: apt-get install tarantool), set TARANTOOL_BIN to its path, or set ' +
      'TARANTOOL_URI=user:password@host:port to use a running instance.')
  }
  const dataDir = isAbsolute(opts.dataDir) ? opts.dataDir : resolve(opts.dataDir)
  // Owner-only: the directory holds the admin console socket as well as the data.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const password = randomBytes(24).toString('base64url')
  const log = opts.log.child({ component: 'embedded-tarantool' })
  const socket = iprotoSocket(dataDir, log)
  const env: Record<string, string> = {
    TARANTOOL_PORT: `unix/:${socket.path}`,
    TARANTOOL_WORK_DIR: dataDir,
    TARANTOOL_USER_NAME: SERVICE_USER,
    TARANTOOL_USER_PASSWORD: password,
    // The instance exits by itself if this process dies without stopping it.
    TARANTOOL_PARENT_PID: String(process.pid)
  }
  if (opts.memtxMemory !== undefined) env.TARANTOOL_MEMTX_MEMORY = String(opts.memtxMemory)
  // The admin console, for operator tools (npm run backup...): a unix socket in the data
  // directory, reachable only by this user.
  const consoleSocket = join(dataDir, CONSOLE_SOCKET_NAME)
  if (consoleSocket.length <= MAX_SOCKET_PATH) env.TARANTOOL_CONSOLE_SOCKET = consoleSocket
  else log.warn({ consoleSocket }, 'data directory path too long for a unix socket: no admin console')

  let child: ChildProcess | undefined
  let stopping = false
  let restartDelay = RESTART_MIN_MS
  let restartTimer: NodeJS.Timeout | undefined
  let exited: Promise<void> = Promise.resolve()

  const launch = (): ChildProcess => {
    const startedAt = Date.now()
    // Its own process group: a Ctrl-C on the terminal reaches only us, and we stop it after the
    // requests in flight are done.
    const proc = spawn(bin, [INIT_LUA], { env, cwd: dataDir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    createInterface({ input: proc.stdout }).on('line', (line) => logLine(log, line))
    createInterface({ input: proc.stderr }).on('line', (line) => logLine(log, line))
    // 'close', not 'exit': it also comes when the process could not be started at all.
    exited = new Promise((resolveExit) => proc.once('close', () => resolveExit()))
    proc.once('close', (code, signal) => {
      child = undefined
      if (stopping) return
      if (Date.now() - startedAt > HEALTHY_RUN_MS) restartDelay = RESTART_MIN_MS
      log.error({ code, signal, restartInMs: restartDelay }, 'Tarantool exited; restarting it')
      restartTimer = setTimeout(() => { child = launch() }, restartDelay)
      restartDelay = Math.min(restartDelay * 2, RESTART_MAX_MS)
    })
    proc.once('error', (err) => log.error({ err }, 'could not run Tarantool'))
    return proc
  }

  const stop = async (): Promise<void> => {
    stopping = true
    clearTimeout(restartTimer)
    const proc = child
    if (proc === undefined) return
    proc.kill('SIGTERM')
    const killer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS)
    await exited
    clearTimeout(killer)
    socket.cleanup()
    log.info('Tarantool stopped')
  }

  // A service restarted at once after being killed waits for its previous Tarantool to go.
  const previous = tarantoolRunningOn(dataDir)
  if (previous !== undefined) {
    log.info({ pid: previous }, 'waiting for the previous Tarantool on this data directory to exit')
    const deadline = Date.now() + PREVIOUS_EXIT_WAIT_MS
    for (let pid: number | undefined = previous; pid !== undefined; pid = tarantoolRunningOn(dataDir)) {
      if (Date.now() > deadline) {
        socket.cleanup()
        throw new Error(`Another Tarantool (pid ${pid}) runs on the data directory ${dataDir}`)
      }
      await delay(100)
    }
  }
  log.info({ bin, dataDir, socket: socket.path }, 'starting Tarantool')
  child = launch()
  const firstRun = child
  let firstExit: { code: number | null, signal: string | null } | undefined
  firstRun.once('close', (code, signal) => { firstExit = { code, signal } })

  if (!(await waitListening(socket.path, () => firstExit !== undefined, READY_TIMEOUT_MS))) {
    await stop()
    const why = firstExit ? `exited (code ${firstExit.code}, signal ${firstExit.signal})` : 'did not start listening in time'
    throw new Error(`Embedded Tarantool ${why}; see its log lines above (data directory ${dataDir})`)
  }
  log.info({ socket: socket.path }, 'Tarantool is ready')

  return {
    uri: `${SERVICE_USER}:${password}@unix/:${socket.path}`,
    consoleSocket: env.TARANTOOL_CONSOLE_SOCKET,
    stop,
    get process () { return child }
  }
}
