// Tarantool killed outright (SIGKILL) in the middle of a burst of concurrent /new: every session
// whose /new was answered with success is there after the restart. The WAL makes it so: Tarantool
// answers a write only once it is in the log.
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { SessionWithToken as Session } from '../../src/store/types.js'
import { buildApp, uniqueUserId } from '../support/app.js'
import { startTarantool, TARANTOOL_BIN, type TestTarantool } from '../support/tarantool.js'
import { missing } from '../support/programs.js'
import { http } from '../support/http.js'

const BURST = 5000
// Killed once this many have succeeded: well inside the burst.
const KILL_AFTER = 1000
const USERS = 50

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('Tarantool killed during a burst of /new', () => {
  let tarantool: TestTarantool
  let app: FastifyInstance
  let port: number
  beforeAll(async () => {
    tarantool = await startTarantool()
    app = await buildApp({ uri: tarantool.uri })
    // A backlog for the whole burst: connections are not dropped and retried by the kernel.
    await app.listen({ port: 0, host: '127.0.0.1', backlog: BURST })
    port = (app.server.address() as AddressInfo).port
  })
  afterAll(async () => {
    await app?.close()
    await tarantool?.stop()
  })

  it('keeps every session it acknowledged', { timeout: 90_000 }, async () => {
    const firstUser = uniqueUserId() - USERS
    const acknowledged: Session[] = []
    const statuses = new Map<number, number>()
    let killed = false

    const create = async (i: number): Promise<void> => {
      const res = await http(port, `/new?user_id=${firstUser + (i % USERS)}&ip=10.0.${i >> 8}.${i & 255}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ n: i }),
        timeoutMs: 60_000
      })
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
      if (res.status !== 200) {
        expect(res.body).toEqual({ status: 'error', code: 'storage_unavailable', message: expect.any(String) })
        return
      }
      acknowledged.push(res.body.data)
      if (acknowledged.length === KILL_AFTER && !killed) {
        killed = true
        tarantool.signal!('SIGKILL')
      }
    }
    await Promise.all(Array.from({ length: BURST }, (_, i) => create(i)))

    expect(killed).toBe(true)
    // Only successes and 503s: the kill was mid-burst, and nothing failed otherwise.
    expect([...statuses.keys()].sort()).toEqual([200, 503])
    console.log(`burst: ${acknowledged.length} acknowledged, ${statuses.get(503)} refused with 503`)

    await tarantool.restart!()
    await vi.waitFor(async () => {
      expect((await http(port, '/user?id=0')).status).toBe(200)
    }, { timeout: 10_000, interval: 100 })

    const stored = new Map<string, Session>()
    for (let user = firstUser; user < firstUser + USERS; user++) {
      const res = await http(port, `/user?id=${user}`)
      expect(res.status).toBe(200)
      for (const session of res.body.data as Session[]) stored.set(session.token, session)
    }
    const missing = acknowledged.filter((session) => !stored.has(session.token)).map((session) => session.token)
    expect(missing.length, `lost, among others: ${missing.slice(0, 3).join(', ')}`).toBe(0)
    for (const session of acknowledged) expect(stored.get(session.token)).toEqual(session)
  })
})
