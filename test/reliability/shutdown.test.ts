// What SIGTERM does to the service as `npm start` runs it, beyond sigterm-under-load: keep-alive
// connections closed while it drains, the exit when the grace period runs out, and the activity
// marks not yet written by Tarantool's flusher written on the way down.
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { connectConsole } from '../../src/admin-console.js'
import { CONSOLE_SOCKET_NAME } from '../../src/admin-console.js'
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
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }))
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

/** Reads one of the service's counters from /metrics. */
async function counter (port: number, name: string): Promise<number> {
  const res = await http(port, '/metrics')
  expect(res.status).toBe(200)
  const line = res.text.split('\n').find((l) => l.startsWith(`${name} `))
  expect(line, name).toBeDefined()
  return Number(line!.split(' ')[1])
}

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
