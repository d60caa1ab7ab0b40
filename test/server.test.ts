// `npm start` as a user runs it: embedded Tarantool, real HTTP, signals.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { freePort, isRunning, TARANTOOL_BIN } from './support/tarantool.js'

interface RunningServer {
  process: ChildProcessWithoutNullStreams
  base: string
  port: number
  output: () => string
  exited: Promise<number | null>
  /** The embedded Tarantool's pid, from its own log lines ("[1234] main/103/init.lua"). */
  tarantoolPid: () => number
}

const cleanup: Array<() => void> = []
afterEach(() => { for (const fn of cleanup.splice(0)) fn() })

async function runServer (env: Record<string, string> = {}): Promise<RunningServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sessions-server-'))
  const port = Number(env.PORT ?? await freePort())
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { PATH: process.env.PATH, PORT: String(port), DATA_DIR: dataDir, ...env },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (chunk) => { output += chunk })
  child.stderr.on('data', (chunk) => { output += chunk })
  cleanup.push(() => {
    child.kill('SIGKILL')
    rmSync(dataDir, { recursive: true, force: true })
  })
  return {
    process: child,
    base: `http://127.0.0.1:${port}`,
    port,
    output: () => output,
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    tarantoolPid: () => Number(/\[(\d+)\] main\/\d+\/init\.lua/.exec(output)?.[1])
  }
}

async function untilServing (server: RunningServer): Promise<void> {
  await vi.waitFor(async () => {
    expect((await fetch(`${server.base}/ready`)).status).toBe(200)
  }, { timeout: 20_000, interval: 100 })
}

const refused = (port: number): Promise<boolean> => new Promise((resolve) => {
  const socket = connect(port, '127.0.0.1')
  socket.once('connect', () => { socket.destroy(); resolve(false) })
  socket.once('error', () => resolve(true))
})

describe.skipIf(TARANTOOL_BIN === undefined)('server', () => {
  it('serves with an embedded Tarantool and stops it on SIGTERM', async () => {
    const server = await runServer({ LOG_LEVEL: 'info' })
    await untilServing(server)
    const created = await (await fetch(`${server.base}/new?user_id=1&ip=127.0.0.1`)).json() as { data: { token: string } }
    expect((await fetch(`${server.base}/get?token=${created.data.token}`)).status).toBe(200)
    expect(isRunning(server.tarantoolPid())).toBe(true)

    server.process.kill('SIGTERM')
    expect(await server.exited).toBe(0)
    expect(isRunning(server.tarantoolPid())).toBe(false)
    // Tokens never appear in the logs.
    expect(server.output()).toContain('token=[redacted]')
    expect(server.output()).not.toContain(created.data.token)
  })

  it('logs one line with its effective configuration, secrets hidden, and the Tarantool version', async () => {
    const apiKey = 'k3y-that-must-stay-secret'
    const server = await runServer({ LOG_LEVEL: 'info', API_KEY: apiKey })
    await untilServing(server)
    const started = server.output().split('\n').filter((line) => line.includes('"sessions started"'))
    expect(started).toHaveLength(1)
    const line = JSON.parse(started[0]) as { version: string, tarantool: string, config: Record<string, unknown> }
    expect(line.tarantool).toMatch(/^\d+\.\d+\.\d+/)
    expect(line.version).toMatch(/^\d+\.\d+\.\d+/)
    expect(line.config).toMatchObject({ PORT: server.port, API_KEY: '[redacted]', SESSION_TTL_SECONDS: 15552000, LOG_LEVEL: 'info' })
    expect(server.output()).not.toContain(apiKey)
  })

  it('finishes the requests in flight on SIGTERM, refusing new connections meanwhile', async () => {
    const server = await runServer({ TARANTOOL_TIMEOUT_MS: '10000' })
    await untilServing(server)
    // Tarantool paused: a request waits for it.
    process.kill(server.tarantoolPid(), 'SIGSTOP')
    cleanup.unshift(() => { try { process.kill(server.tarantoolPid(), 'SIGCONT') } catch {} })
    const inFlight = fetch(`${server.base}/new?user_id=2&ip=127.0.0.1`)
    await new Promise((resolve) => setTimeout(resolve, 300))

    server.process.kill('SIGTERM')
    await vi.waitFor(async () => { expect(await refused(server.port)).toBe(true) })
    process.kill(server.tarantoolPid(), 'SIGCONT')

    const res = await inFlight
    expect(res.status).toBe(200)
    expect((await res.json() as { data: { user_id: number } }).data.user_id).toBe(2)
    expect(await server.exited).toBe(0)
    expect(isRunning(server.tarantoolPid())).toBe(false)
  })

  it('leaves no Tarantool behind when it is killed outright', async () => {
    const server = await runServer()
    await untilServing(server)
    server.process.kill('SIGKILL')
    await server.exited
    // The orphan sees its parent gone and exits by itself, freeing the port and the data.
    await vi.waitFor(() => { expect(isRunning(server.tarantoolPid())).toBe(false) }, { timeout: 5000, interval: 100 })
  })

  it('stops its Tarantool when it cannot start serving', async () => {
    const taken = createServer()
    const port = await freePort()
    await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve))
    cleanup.push(() => taken.close())
    const server = await runServer({ PORT: String(port) })
    expect(await server.exited).toBe(1)
    expect(server.output()).toMatch(/could not start: .*EADDRINUSE/)
    expect(Number.isInteger(server.tarantoolPid())).toBe(true)
    expect(isRunning(server.tarantoolPid())).toBe(false)
  })

  it('exits with a clear message on invalid configuration', async () => {
    const server = await runServer({ PORT: 'eighty' })
    expect(await server.exited).toBe(1)
    expect(server.output()).toMatch(/Invalid configuration: .*PORT/)
  })
})
