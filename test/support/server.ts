// The service as users run it (`npm start`): a child process with its embedded Tarantool.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { fileURLToPath } from 'node:url'
import { expect, vi } from 'vitest'
import { freePort, tarantoolEnv } from './tarantool.js'
import { http } from './http.js'

export interface RunningServer {
  process: ChildProcessWithoutNullStreams
  port: number
  /** Everything it wrote to stdout and stderr so far. */
  output: () => string
  /** Its exit code (null when killed by a signal), once all its output is in. */
  exited: Promise<number | null>
  /** The embedded Tarantool's pid, from its own log lines ("[1234] main/103/init.lua"). */
  tarantoolPid: () => number
}

// By absolute path, so that the server runs from any working directory (where it looks for .env).
const TSX = import.meta.resolve('tsx')
const SERVER_TS = fileURLToPath(new URL('../../src/server.ts', import.meta.url))

/**
 * Starts `src/server.ts` on a free port with its data in `dataDir`, its embedded Tarantool the
 * tests' own (TARANTOOL_BIN); killed by `stopAll()`.
 * `cwd`: its working directory (default: the test process's).
 */
export async function runServer (dataDir: string, env: Record<string, string> = {}, opts: { cwd?: string } = {}): Promise<RunningServer> {
  const port = Number(env.PORT ?? await freePort())
  const child = spawn(process.execPath, ['--import', TSX, SERVER_TS], {
    cwd: opts.cwd,
    env: { ...tarantoolEnv(), PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'info', ...env },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (chunk) => { output += chunk })
  child.stderr.on('data', (chunk) => { output += chunk })
  // 'close', not 'exit': stdout and stderr may still hold output when the process has exited.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
  running.add(child)
  void exited.then(() => running.delete(child))
  return {
    process: child,
    port,
    output: () => output,
    exited,
    tarantoolPid: () => Number(/\[(\d+)\] main\/\d+\/init\.lua/.exec(output)?.[1])
  }
}

const running = new Set<ChildProcessWithoutNullStreams>()

/** Kills every server still running (for afterEach). */
export function stopAll (): void {
  for (const child of running) child.kill('SIGKILL')
}

/** Waits until the server answers requests (its Tarantool included). */
export async function untilServing (server: RunningServer, timeoutMs = 20_000): Promise<void> {
  await vi.waitFor(async () => {
    expect((await http(server.port, '/ready', { timeoutMs: 2000 })).status).toBe(200)
  }, { timeout: timeoutMs, interval: 100 })
}

/** Whether a TCP connection to this loopback port is refused. */
export function refused (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(false) })
    socket.once('error', () => resolve(true))
  })
}

/**
 * The TCP connections to or from this loopback port that still have bytes in a queue: unread by
 * their process, or sent and not yet acknowledged (Linux's /proc/net/tcp, IPv4, established only).
 * Empty once every request written to the server is in the server's hands.
 */
export function bytesInTransit (port: number): string[] {
  const ESTABLISHED = '01'
  return readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter(([, local, remote, state]) => state === ESTABLISHED &&
      [local, remote].some((address) => parseInt(address.split(':')[1], 16) === port))
    .filter(([, , , , queues]) => queues !== '00000000:00000000')
    .map(([, local, remote, , queues]) => `${local} -> ${remote} tx:rx ${queues}`)
}
