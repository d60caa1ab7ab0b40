// SIGTERM while clients keep the service busy: the requests in flight are all answered, new
// connections are refused from then on, and the process exits 0 having stopped its Tarantool.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { isRunning, TARANTOOL_BIN } from '../support/tarantool.js'
import { missing } from '../support/programs.js'
import { http } from '../support/http.js'
import { bytesInTransit, refused, runServer, stopAll, untilServing } from '../support/server.js'

const dataDir = mkdtempSync(join(tmpdir(), 'sessions-sigterm-'))
afterEach(() => {
  stopAll()
  rmSync(dataDir, { recursive: true, force: true })
})

const CLIENTS = 40
const LOAD_MAX_MS = 20_000

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('SIGTERM under load', () => {
  it('answers every request in flight, refuses new connections, exits 0', { timeout: 60_000 }, async () => {
    const server = await runServer(dataDir, { TARANTOOL_TIMEOUT_MS: '10000' })
    await untilServing(server)

    let answered = 0
    let refusedCount = 0
    // Requests written out whole and not yet answered.
    let waiting = 0
    const failures: string[] = []
    const loadEnds = Date.now() + LOAD_MAX_MS
    // Each client sends /new on a new connection, one after the other, until it is refused.
    const client = async (n: number): Promise<void> => {
      while (Date.now() < loadEnds) {
        let sent = false
        try {
          const res = await http(server.port, `/new?user_id=${n}&ip=127.0.0.1`, {
            timeoutMs: 15_000,
            onSent: () => { sent = true; waiting++ }
          })
          if (sent) waiting--
          if (res.status === 200) answered++
          else failures.push(`${res.status} ${res.text}`)
        } catch (err) {
          if (sent) waiting--
          if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') {
            refusedCount++
            return
          }
          failures.push(String(err))
          return
        }
      }
    }
    const load = Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)))
    await vi.waitFor(() => { expect(answered).toBeGreaterThan(200) }, { timeout: 10_000 })

    // Tarantool paused: the requests now in flight stay in flight while the server closes.
    const tarantoolPid = server.tarantoolPid()
    process.kill(tarantoolPid, 'SIGSTOP')
    // Until every client's next request is in the server's hands: written out whole, and no byte
    // of it left unread or unacknowledged on a connection to the server. A request the server has
    // begun to read is in flight, and closing waits for it; one still in the kernel would not be.
    await vi.waitFor(() => {
      expect(waiting).toBe(CLIENTS)
      expect(bytesInTransit(server.port)).toEqual([])
    }, { timeout: 5000, interval: 20 })
    const answeredBeforeTerm = answered
    server.process.kill('SIGTERM')
    await vi.waitFor(async () => { expect(await refused(server.port)).toBe(true) }, { timeout: 5000 })
    process.kill(tarantoolPid, 'SIGCONT')

    await load
    expect(failures).toEqual([])
    // Every client had a request in flight at SIGTERM: each was answered, then the next refused.
    expect(answered - answeredBeforeTerm).toBe(CLIENTS)
    expect(refusedCount).toBe(CLIENTS)
    expect(await server.exited).toBe(0)
    expect(isRunning(tarantoolPid)).toBe(false)
  })
})
