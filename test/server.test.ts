// `npm start` as a user runs it: embedded Tarantool, real HTTP, and a clean exit on SIGTERM.
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { freePort, isRunning, TARANTOOL_BIN } from './support/tarantool.js'

describe.skipIf(TARANTOOL_BIN === undefined)('server', () => {
  it('serves with an embedded Tarantool and stops it on SIGTERM', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sessions-server-'))
    const port = await freePort()
    const server = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      env: { PATH: process.env.PATH, PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let output = ''
    server.stdout.on('data', (chunk) => { output += chunk })
    server.stderr.on('data', (chunk) => { output += chunk })
    const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)))
    try {
      const base = `http://127.0.0.1:${port}`
      let created: { status: string, data: { token: string } } | undefined
      const deadline = Date.now() + 20_000
      while (created === undefined && Date.now() < deadline) {
        try {
          created = await (await fetch(`${base}/new?user_id=1&ip=127.0.0.1`)).json() as typeof created
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
      }
      expect(created?.status, output).toBe('success')
      const got = await fetch(`${base}/get?token=${created!.data.token}`)
      expect(got.status).toBe(200)

      // Tarantool's own log lines, passed through, carry its pid: "[1234] main/103/init.lua".
      const childPid = Number(/\[(\d+)\] main\/\d+\/init\.lua/.exec(output)?.[1])
      expect(isRunning(childPid)).toBe(true)

      server.kill('SIGTERM')
      expect(await exited).toBe(0)
      expect(isRunning(childPid)).toBe(false)
      // Tokens never appear in the logs.
      expect(output).not.toContain(created!.data.token)
    } finally {
      server.kill('SIGKILL')
      rmSync(dataDir, { recursive: true, force: true })
    }
  })

  it('stops its Tarantool when it cannot start serving', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sessions-server-'))
    const taken = createServer()
    const port = await freePort()
    await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve))
    try {
      const server = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
        env: { PATH: process.env.PATH, PORT: String(port), DATA_DIR: dataDir },
        stdio: ['ignore', 'pipe', 'pipe']
      })
      let output = ''
      server.stdout.on('data', (chunk) => { output += chunk })
      server.stderr.on('data', (chunk) => { output += chunk })
      const code = await new Promise<number | null>((resolve) => server.once('exit', resolve))
      expect(code).toBe(1)
      expect(output).toMatch(/could not start: .*EADDRINUSE/)
      const childPid = Number(/\[(\d+)\] main\/\d+\/init\.lua/.exec(output)?.[1])
      expect(Number.isInteger(childPid)).toBe(true)
      expect(isRunning(childPid)).toBe(false)
    } finally {
      taken.close()
      rmSync(dataDir, { recursive: true, force: true })
    }
  })

  it('exits with a clear message on invalid configuration', async () => {
    const server = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      env: { PATH: process.env.PATH, PORT: 'eighty' },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let stderr = ''
    server.stderr.on('data', (chunk) => { stderr += chunk })
    const code = await new Promise<number | null>((resolve) => server.once('exit', resolve))
    expect(code).toBe(1)
    expect(stderr).toMatch(/Invalid configuration: .*PORT/)
  })
})
