// Starts real Tarantool instances for the tests from the project's own tarantool/init.lua: a local
// `tarantool` process when the binary is there, else a container of the official image through
// testcontainers when a Docker engine is there.
//
// Which Tarantool: TARANTOOL_BIN, as for the service (a path, or a name looked up in PATH;
// `tarantool` when unset). Every test takes it from here, and hands it on (tarantoolEnv) to the
// processes it starts that run one: the service with its embedded instance, npm run backup...
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { freePort } from '../../lib/processes.js'
import { findExecutable, INIT_LUA, waitListening } from '../../src/embedded/tarantool.js'

export { freePort }

/** Whether a process with this pid is alive. */
export function isRunning (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export const USER = 'sessions'

/**
 * The Tarantool timeout for tests that are not about timeouts (those set their own, a short one):
 * a busy CI machine can stall the test process for over a second, and a 503 then would fail a
 * test that is not about timeouts.
 */
export const GENEROUS_TIMEOUT_MS = 10_000
/** The Tarantool executable the tests run, if found: TARANTOOL_BIN, else `tarantool` in PATH. */
export const TARANTOOL_BIN = tarantoolExecutable(process.env.TARANTOOL_BIN)

function tarantoolExecutable (setting: string | undefined): string | undefined {
  if (setting === undefined || setting === '') return findExecutable('tarantool', process.env.PATH)
  const found = findExecutable(setting, process.env.PATH)
  // Asked for by name or path: running the tests on another Tarantool, or skipping them, would hide it.
  if (found === undefined) throw new Error(`TARANTOOL_BIN=${setting}: no such executable`)
  return found
}

let version: { text: string, numbers: number[] } | undefined

/**
 * The tests' Tarantool's version, as `tarantool --version` says it ("Tarantool 2.11.9-0-g54aebb0960")
 * and as numbers ([2, 11, 9]); undefined without a local executable.
 */
export function tarantoolVersion (): { text: string, numbers: number[] } | undefined {
  if (TARANTOOL_BIN === undefined) return undefined
  if (version === undefined) {
    const text = spawnSync(TARANTOOL_BIN, ['--version'], { encoding: 'utf8', timeout: 10_000 }).stdout.split('\n')[0]
    version = { text, numbers: (/(\d+)\.(\d+)\.(\d+)/.exec(text) ?? []).slice(1).map(Number) }
  }
  return version
}

/** Whether the tests' Tarantool is `major.minor` or later. */
export function tarantoolAtLeast (major: number, minor: number): boolean {
  const [a = 0, b = 0] = tarantoolVersion()?.numbers ?? []
  return a > major || (a === major && b >= minor)
}

/**
 * The environment a process the tests start needs to run the same Tarantool as they do: PATH,
 * and TARANTOOL_BIN (absolute) when one was found.
 */
export function tarantoolEnv (): Record<string, string> {
  return { PATH: process.env.PATH ?? '', ...(TARANTOOL_BIN === undefined ? {} : { TARANTOOL_BIN }) }
}

/** A Tarantool the tests own. Only a local process can be killed, paused and restarted. */
export interface TestTarantool {
  uri: string
  host: string
  port: number
  password: string
  /** The local process's data directory (TARANTOOL_WORK_DIR), and its admin console socket in it. */
  dir?: string
  console?: string
  /** Sends a signal to the local process (SIGKILL, SIGSTOP, SIGCONT...). */
  signal?: (signal: NodeJS.Signals) => void
  /** Starts the local process again on the same port and data, after it died or was killed. */
  restart?: () => Promise<void>
  /** Stops it and removes its data (a TARANTOOL_WORK_DIR the caller gave stays). */
  stop: () => Promise<void>
}

async function startLocal (bin: string, extraEnv: Record<string, string>): Promise<TestTarantool> {
  // Its own directory, removed by stop(), unless the caller gives one (with data in it, say).
  const own = extraEnv.TARANTOOL_WORK_DIR === undefined
  const dataDir = extraEnv.TARANTOOL_WORK_DIR ?? mkdtempSync(join(tmpdir(), 'sessions-test-'))
  const consoleSocket = extraEnv.TARANTOOL_CONSOLE_SOCKET ?? join(dataDir, 'console.sock')
  const port = await freePort()
  const password = randomBytes(12).toString('hex')
  let proc: ChildProcess
  let output = ''

  const launch = async (): Promise<void> => {
    output = ''
    proc = spawn(bin, [INIT_LUA], {
      cwd: dataDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        TARANTOOL_PORT: `127.0.0.1:${port}`,
        TARANTOOL_WORK_DIR: dataDir,
        TARANTOOL_USER_NAME: USER,
        TARANTOOL_USER_PASSWORD: password,
        TARANTOOL_LOG_LEVEL: '4',
        TARANTOOL_CONSOLE_SOCKET: consoleSocket,
        ...extraEnv
      }
    })
    const keep = (chunk: Buffer): void => { output = (output + chunk.toString()).slice(-4000) }
    proc.stdout!.on('data', keep)
    proc.stderr!.on('data', keep)
    const started = proc
    if (!(await waitListening(port, () => started.exitCode !== null || started.signalCode !== null, 30_000))) {
      throw new Error(`Tarantool did not start on port ${port}:\n${output}`)
    }
  }

  const exited = (): Promise<void> => new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve()
    else proc.once('exit', () => resolve())
  })

  await launch()
  return {
    uri: `${USER}:${password}@127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    password,
    dir: dataDir,
    console: consoleSocket,
    signal: (signal) => { proc.kill(signal) },
    restart: async () => {
      await exited()
      await launch()
    },
    stop: async () => {
      proc.kill('SIGCONT')
      proc.kill('SIGTERM')
      await exited()
      if (own) rmSync(dataDir, { recursive: true, force: true })
    }
  }
}

async function startContainer (extraEnv: Record<string, string>): Promise<TestTarantool> {
  const { GenericContainer, Wait } = await import('testcontainers')
  const password = randomBytes(12).toString('hex')
  const container = await new GenericContainer('tarantool/tarantool:2.11')
    .withBindMounts([{ source: dirname(INIT_LUA), target: '/opt/sessions', mode: 'ro' }])
    .withEntrypoint(['tarantool'])
    .withCommand(['/opt/sessions/init.lua'])
    .withEnvironment({
      TARANTOOL_PORT: '3301',
      TARANTOOL_WORK_DIR: '/var/lib/tarantool',
      TARANTOOL_USER_NAME: USER,
      TARANTOOL_USER_PASSWORD: password,
      ...extraEnv
    })
    .withExposedPorts(3301)
    .withWaitStrategy(Wait.forListeningPorts())
    .start()
  const host = container.getHost()
  const port = container.getMappedPort(3301)
  return {
    uri: `${USER}:${password}@${host}:${port}`,
    host,
    port,
    password,
    stop: async () => { await container.stop() }
  }
}

/**
 * Starts a fresh instance: a local process if `tarantool` is installed, else a container.
 * `env`: more of tarantool/init.lua's settings (TARANTOOL_MEMTX_MEMORY...).
 */
export async function startTarantool (env: Record<string, string> = {}): Promise<TestTarantool> {
  if (TARANTOOL_BIN !== undefined) return await startLocal(TARANTOOL_BIN, env)
  return await startContainer(env)
}

/** The containers' healthcheck (tarantool/healthcheck.lua) run against `port`: its exit code and what it wrote. */
export function healthcheck (port: number, password: string, replication = ''): { code: number | null, output: string } {
  if (TARANTOOL_BIN === undefined) throw new Error('the healthcheck needs a local tarantool executable')
  const run = spawnSync(TARANTOOL_BIN, [join(dirname(INIT_LUA), 'healthcheck.lua')], {
    env: { ...tarantoolEnv(), TARANTOOL_PORT: `127.0.0.1:${port}`, TARANTOOL_USER_NAME: USER, TARANTOOL_USER_PASSWORD: password, TARANTOOL_REPLICATION: replication },
    encoding: 'utf8',
    timeout: 10_000
  })
  return { code: run.status, output: run.stdout + run.stderr }
}
