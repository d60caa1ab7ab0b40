// `npm start` as a user runs it: embedded Tarantool, real HTTP, signals.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { refused, runServer as runServerIn, stopAll, untilServing, type RunningServer } from './support/server.js'
import { http } from './support/http.js'
import { freePort, isRunning, startTarantool, TARANTOOL_BIN } from './support/tarantool.js'
import { missing } from './support/programs.js'

const cleanup: Array<() => void> = []
afterEach(() => {
  stopAll()
  for (const fn of cleanup.splice(0)) fn()
})

/** A temporary directory, removed after the test. */
function tempDir (): string {
  const dir = mkdtempSync(join(tmpdir(), 'sessions-server-'))
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** The service on a data directory of its own, removed after the test; `cwd` holds its .env, if any. */
async function runServer (env: Record<string, string> = {}, cwd?: string): Promise<RunningServer & { base: string }> {
  const server = await runServerIn(tempDir(), env, { cwd })
  return { ...server, base: `http://127.0.0.1:${server.port}` }
}

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('server', () => {
  it('serves with an embedded Tarantool and stops it on SIGTERM', async () => {
    const server = await runServer({ LOG_LEVEL: 'info', ACCESS_LOG: 'all' })
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

  it('warns loudly when the Tarantool password is the compose file\'s default, and only then', async () => {
    const tarantool = await startTarantool({ TARANTOOL_USER_PASSWORD: 'change-me' })
    try {
      const uri = tarantool.uri.replace(`:${tarantool.password}@`, ':change-me@')
      const server = await runServer({ LOG_LEVEL: 'warn', TARANTOOL_URI: uri })
      await untilServing(server)
      const warnings = server.output().split('\n').filter((line) => line.includes('THE TARANTOOL PASSWORD IS'))
      expect(warnings).toHaveLength(1)
      expect(JSON.parse(warnings[0])).toMatchObject({ level: 40 })
      expect(warnings[0]).toContain('TARANTOOL_PASSWORD')
      server.process.kill('SIGTERM')
      await server.exited
    } finally {
      await tarantool.stop()
    }
    const embedded = await runServer({ LOG_LEVEL: 'warn' })
    await untilServing(embedded)
    expect(embedded.output()).not.toContain('THE TARANTOOL PASSWORD IS')
  })

  it('warns loudly, naming API_KEY and what is open, when it listens beyond loopback without a key, and serves', async () => {
    // Beyond loopback for the time of one request (an empty Tarantool of its own); asked on 127.0.0.1.
    const open = await runServer({ LOG_LEVEL: 'warn', HOST: '0.0.0.0' })
    await untilServing(open)
    const warnings = open.output().split('\n').filter((line) => line.includes('NO API_KEY'))
    expect(warnings).toHaveLength(1)
    expect(JSON.parse(warnings[0])).toMatchObject({ level: 40 })
    expect(warnings[0]).toMatch(/HOST=0\.0\.0\.0.*WITH THEIR LIVE TOKENS \(TOKEN_STORAGE=plain\).*sign any user out.*Set API_KEY/)
    expect((await http(open.port, '/user?id=1')).status).toBe(200)
    open.process.kill('SIGTERM')
    await open.exited

    const hashed = await runServer({ LOG_LEVEL: 'warn', HOST: '0.0.0.0', TOKEN_STORAGE: 'hashed' })
    await untilServing(hashed)
    expect(hashed.output()).toMatch(/NO API_KEY.*end them by id/)
    expect(hashed.output()).not.toContain('LIVE TOKENS')
    hashed.process.kill('SIGTERM')
    await hashed.exited

    // With a key, or on loopback alone (as 127.x, ::1 or localhost): no warning.
    for (const env of [{ HOST: '0.0.0.0', API_KEY: 'a-key-of-16-chars-or-more' }, { HOST: '127.0.0.2' }, { HOST: 'localhost' }] as Array<Record<string, string>>) {
      const quiet = await runServer({ LOG_LEVEL: 'info', ...env })
      // The warning would come right after this line.
      await vi.waitFor(() => { expect(quiet.output()).toContain('"sessions started"') }, { timeout: 20_000, interval: 100 })
      await new Promise((resolve) => setTimeout(resolve, 100))
      expect(quiet.output()).not.toContain('NO API_KEY')
      quiet.process.kill('SIGTERM')
      await quiet.exited
    }
  })

  it('leaves no Tarantool behind when it is killed outright', async () => {
    const server = await runServer()
    await untilServing(server)
    server.process.kill('SIGKILL')
    await server.exited
    // Found in its log, else isRunning(NaN) is false and the check below proves nothing.
    const pid = server.tarantoolPid()
    expect(Number.isInteger(pid)).toBe(true)
    // The orphan sees its parent gone and exits by itself, freeing the port and the data.
    await vi.waitFor(() => { expect(isRunning(pid)).toBe(false) }, { timeout: 5000, interval: 100 })
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

  it('reads .env in its working directory, and the environment wins over it', async () => {
    const cwd = tempDir()
    const [dotenvPort, port] = [await freePort(), await freePort()]
    const apiKey = 'key-from-the-dotenv-file'
    writeFileSync(join(cwd, '.env'), [
      '# as .env.example has them',
      `PORT=${dotenvPort}`,
      'SESSION_TTL_SECONDS=3600',
      'MAX_SESSIONS_PER_USER=5',
      `API_KEY=${apiKey}`
    ].join('\n') + '\n')
    // API_KEY given empty, as compose passes an unset one: unset, so .env's holds.
    const server = await runServer({ PORT: String(port), MAX_SESSIONS_PER_USER: '7', API_KEY: '' }, cwd)
    await untilServing(server)
    const started = server.output().split('\n').find((line) => line.includes('"sessions started"'))
    expect(JSON.parse(started!).config).toMatchObject({ PORT: port, SESSION_TTL_SECONDS: 3600, MAX_SESSIONS_PER_USER: 7, API_KEY: '[redacted]' })
    expect(await refused(dotenvPort)).toBe(true)
    expect((await http(port, '/user?id=1')).status).toBe(401)
    expect(await http(port, '/user?id=1', { headers: { authorization: `Bearer ${apiKey}` } })).toMatchObject({ status: 200, body: { status: 'success', data: [] } })
  })

  it('stops at start, naming the setting, when .env holds an invalid value', async () => {
    const cwd = tempDir()
    writeFileSync(join(cwd, '.env'), 'SWEEP_INTERVAL_SECONDS=0\n')
    const server = await runServer({}, cwd)
    expect(await server.exited).toBe(1)
    expect(server.output()).toContain('Invalid configuration: env/SWEEP_INTERVAL_SECONDS must be >= 1')
    expect(server.output()).not.toContain('starting Tarantool')
  })

  it('exits with a clear message on invalid configuration', async () => {
    const server = await runServer({ PORT: 'eighty' })
    expect(await server.exited).toBe(1)
    expect(server.output()).toMatch(/Invalid configuration: .*PORT/)
  })
})
