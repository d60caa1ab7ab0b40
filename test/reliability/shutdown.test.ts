// What SIGTERM does to the service as `npm start` runs it, beyond sigterm-under-load: keep-alive
// connections closed while it drains, the exit when the grace period runs out, and the activity
// marks not yet written by Tarantool's flusher written on the way down.
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { connectConsole } from '../../lib/admin-console.js'
import { CONSOLE_SOCKET_NAME } from '../../src/embedded/tarantool.js'
import { uniqueUserId } from '../support/app.js'
import { isRunning, TARANTOOL_BIN } from '../support/tarantool.js'
import { missing } from '../support/programs.js'
import { http } from '../support/http.js'
import { bytesInTransit, runServer, stopAll, untilServing, type RunningServer } from '../support/server.js'

const cleanup: Array<() => void> = []
afterEach(() => {
  stopAll()
  for (const fn of cleanup.splice(0).reverse()) fn()
})

/** A data directory of the test's own, removed after it. */
function dataDir (): string {
  const dir = mkdtempSync(join(tmpdir(), 'sessions-shutdown-'))
  // Retried: a Tarantool left by a failed test may still be writing there as it exits.
  cleanup.push(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }))
  return dir
}

/** The service's embedded Tarantool, paused; resumed after the test whatever happens. */
function pauseTarantool (server: RunningServer): number {
  const pid = server.tarantoolPid()
  expect(Number.isInteger(pid)).toBe(true)
  process.kill(pid, 'SIGSTOP')
  cleanup.push(() => { try { process.kill(pid, 'SIGCONT') } catch {} })
  return pid
}

interface Answer {
  status: number
  /** Header names in lower case. */
  headers: Record<string, string>
  body: any
}

/** An HTTP/1.1 connection kept open between requests, as a client with keep-alive holds one. */
interface KeepAlive {
  /** Sends a GET and resolves with its answer (one request at a time); `onSent` once it is written out. */
  get: (path: string, onSent?: () => void) => Promise<Answer>
  /** Resolves when the server has closed the connection. */
  closed: Promise<void>
  isClosed: () => boolean
}

async function keepAlive (port: number): Promise<KeepAlive> {
  const socket: Socket = connect(port, '127.0.0.1')
  cleanup.push(() => socket.destroy())
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  let isClosed = false
  const closed = new Promise<void>((resolve) => socket.once('close', () => { isClosed = true; resolve() }))
  socket.on('error', () => {})
  let buffer = Buffer.alloc(0)
  let waiting: (() => void) | undefined
  socket.on('data', (chunk: Buffer) => { buffer = Buffer.concat([buffer, chunk]); waiting?.() })
  // One answer, whole: its head, then content-length bytes of body.
  const answer = (): Promise<Answer> => new Promise((resolve, reject) => {
    const tryParse = (): void => {
      const end = buffer.indexOf('\r\n\r\n')
      if (end < 0) return
      const [statusLine, ...lines] = buffer.subarray(0, end).toString().split('\r\n')
      const headers = Object.fromEntries(lines.map((line) => {
        const colon = line.indexOf(':')
        return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]
      }))
      const length = Number(headers['content-length'])
      if (buffer.length < end + 4 + length) return
      const body = buffer.subarray(end + 4, end + 4 + length).toString()
      buffer = buffer.subarray(end + 4 + length)
      waiting = undefined
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(body) })
    }
    waiting = tryParse
    void closed.then(() => { if (waiting === tryParse) reject(new Error('the server closed the connection before answering')) })
    tryParse()
  })
  return {
    get: async (path, onSent) => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, () => onSent?.())
      return await answer()
    },
    closed,
    isClosed: () => isClosed
  }
}

/** Reads one of the service's counters from /metrics. */
async function counter (port: number, name: string): Promise<number> {
  const res = await http(port, '/metrics')
  expect(res.status).toBe(200)
  const line = res.text.split('\n').find((l) => l.startsWith(`${name} `))
  expect(line, name).toBeDefined()
  return Number(line!.split(' ')[1])
}

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('SIGTERM with keep-alive clients', () => {
  it('closes the idle connections at once, answers the request in flight with connection: close, exits 0', { timeout: 30_000 }, async () => {
    // Calls wait on the paused Tarantool instead of timing out while the test looks.
    const server = await runServer(dataDir(), { TARANTOOL_TIMEOUT_MS: '20000' })
    await untilServing(server)
    const idle = await Promise.all(Array.from({ length: 3 }, async () => await keepAlive(server.port)))
    for (const connection of idle) expect((await connection.get('/health')).status).toBe(200)
    const busy = await keepAlive(server.port)
    const created = await busy.get(`/new?user_id=${uniqueUserId()}&ip=127.0.0.1`)
    expect(created.status).toBe(200)
    expect(created.headers.connection).toBe('keep-alive')

    const tarantoolPid = pauseTarantool(server)
    let sent = false
    const inFlight = busy.get(`/get?token=${created.body.data.token}`, () => { sent = true })
    // The request is in the server's hands: written out, and no byte of it left in a queue.
    await vi.waitFor(() => {
      expect(sent).toBe(true)
      expect(bytesInTransit(server.port)).toEqual([])
    }, { timeout: 5000, interval: 20 })
    server.process.kill('SIGTERM')
    // Well before the 10 s grace: the server closed them, not the grace running out.
    await vi.waitFor(() => { expect(idle.map((c) => c.isClosed())).toEqual([true, true, true]) }, { timeout: 3000, interval: 20 })
    expect(busy.isClosed()).toBe(false)

    process.kill(tarantoolPid, 'SIGCONT')
    const answered = await inFlight
    expect(answered.status).toBe(200)
    expect(answered.body).toEqual({ status: 'success', data: expect.objectContaining({ id: created.body.data.id }) })
    expect(answered.headers.connection).toBe('close')
    await busy.closed
    expect(await server.exited).toBe(0)
    expect(isRunning(tarantoolPid)).toBe(false)
  })
})

// src/server.ts's SHUTDOWN_GRACE_MS, the README's "up to 10 s".
const GRACE_MS = 10_000
// Exited this soon after the grace ran out; wide, for a busy machine.
const EXIT_MARGIN_MS = 3000

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('SIGTERM while a request hangs', () => {
  it('exits 1 when the grace period runs out, leaving the request unanswered and no Tarantool behind', { timeout: 40_000 }, async () => {
    // Longer than the grace: the call hangs on the paused Tarantool instead of timing out.
    const server = await runServer(dataDir(), { TARANTOOL_TIMEOUT_MS: '60000' })
    await untilServing(server)
    const tarantoolPid = pauseTarantool(server)
    let sent = false
    const hung = http(server.port, `/new?user_id=${uniqueUserId()}&ip=127.0.0.1`, { timeoutMs: 30_000, onSent: () => { sent = true } })
      .then((res) => `answered ${res.status}`, (err: NodeJS.ErrnoException) => err.code)
    await vi.waitFor(() => {
      expect(sent).toBe(true)
      expect(bytesInTransit(server.port)).toEqual([])
    }, { timeout: 5000, interval: 20 })

    const term = Date.now()
    server.process.kill('SIGTERM')
    const code = await server.exited
    const took = Date.now() - term
    expect(code).toBe(1)
    // Node's timers may fire a millisecond early.
    expect(took).toBeGreaterThanOrEqual(GRACE_MS - 10)
    expect(took).toBeLessThan(GRACE_MS + EXIT_MARGIN_MS)
    expect(server.output()).toContain(`killed by timeout (${GRACE_MS}ms)`)
    expect(await hung).toBe('ECONNRESET')
    // Left running when the service gave up on its shutdown: once resumed, it sees its parent
    // gone and exits by itself.
    process.kill(tarantoolPid, 'SIGCONT')
    await vi.waitFor(() => { expect(isRunning(tarantoolPid)).toBe(false) }, { timeout: 5000, interval: 100 })
  })
})

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('SIGTERM and the activity marks', () => {
  it('writes the marks Tarantool holds at SIGTERM: started again, the service shows the last /get\'s activity', { timeout: 30_000 }, async () => {
    const dir = dataDir()
    const first = await runServer(dir)
    await untilServing(first)
    const userId = uniqueUserId()
    const created: Array<{ token: string, id: string, activity: number }> = []
    for (let i = 0; i < 5; i++) {
      const res = await http(first.port, `/new?user_id=${userId}&ip=127.0.0.1`)
      expect(res.status).toBe(200)
      created.push(res.body.data)
    }
    // The flusher stopped, through the admin console: every mark /get takes from here is one SIGTERM
    // finds unwritten, as marks taken in the last 0.1 s before it are.
    const admin = await connectConsole(join(dir, CONSOLE_SOCKET_NAME), { timeoutMs: 5000 })
    try {
      await admin.eval('require("sessions.activity").stop()')
    } finally {
      admin.close()
    }
    // A use in a later second than the creation: a new activity to mark.
    const latest = Math.max(...created.map((s) => s.activity))
    await vi.waitFor(() => { expect(Date.now()).toBeGreaterThanOrEqual((latest + 1) * 1000 + 50) }, { timeout: 3000, interval: 20 })
    const marked = await counter(first.port, 'sessions_activity_marked_total')
    const written = await counter(first.port, 'sessions_activity_written_total')
    const used = new Map<string, number>()
    for (const session of created) {
      const res = await http(first.port, `/get?token=${session.token}`)
      expect(res.status).toBe(200)
      expect(res.body.data.activity).toBeGreaterThan(session.activity)
      used.set(session.id, res.body.data.activity)
    }
    // Marked and not written: only the shutdown can write them now.
    expect(await counter(first.port, 'sessions_activity_marked_total')).toBe(marked + created.length)
    expect(await counter(first.port, 'sessions_activity_written_total')).toBe(written)

    first.process.kill('SIGTERM')
    expect(await first.exited).toBe(0)

    const second = await runServer(dir)
    await untilServing(second)
    const listed = await http(second.port, `/user?id=${userId}`)
    expect(listed.status).toBe(200)
    expect(new Map(listed.body.data.map((s: { id: string, activity: number }) => [s.id, s.activity]))).toEqual(used)
  })
})
