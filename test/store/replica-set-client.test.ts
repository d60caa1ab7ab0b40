// The replica set client's routing, against two real Tarantools that the test makes writable or
// read-only through their consoles (not replicating: this is about following the writable one).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { connectConsole, type AdminConsole } from '../../lib/admin-console.js'
import { parseTarantoolUri } from '../../src/config.js'
import { ReplicaSetClient } from '../../src/store/replica-set-client.js'
import { StorageUnavailableError } from '../../src/store/tarantool-errors.js'
import { apiError, buildApp, call, ok } from '../support/app.js'
import { missing } from '../support/programs.js'
import { startTarantool, TARANTOOL_BIN, type TestTarantool } from '../support/tarantool.js'

interface Node { tarantool: TestTarantool, admin: AdminConsole, address: string }

const TIMEOUT_MS = 1000

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('ReplicaSetClient', () => {
  const nodes: Node[] = []
  let uri: string
  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      // One password for both, as members of one set have.
      const tarantool = await startTarantool({ TARANTOOL_USER_PASSWORD: 'set-secret' })
      const admin = await connectConsole(tarantool.console!)
      const { port } = parseTarantoolUri(tarantool.uri.replace(tarantool.password, 'set-secret'))
      nodes.push({ tarantool, admin, address: `127.0.0.1:${port}` })
    }
    uri = `sessions:set-secret@${nodes.map((n) => n.address).join(',')}`
    await nodes[1].admin.eval('box.cfg{read_only = true}')
  })
  afterAll(async () => {
    for (const n of nodes) {
      n.admin.close()
      await n.tarantool.stop()
    }
  })

  const writable = async (which: number | undefined): Promise<void> => {
    for (let i = 0; i < nodes.length; i++) {
      if (i !== which) await nodes[i].admin.eval('box.cfg{read_only = true}')
    }
    if (which !== undefined) await nodes[which].admin.eval('box.cfg{read_only = false}')
  }

  const created = async (client: ReplicaSetClient): Promise<unknown[]> =>
    await client.call('sessions.new', [client.uuid(crypto.randomUUID()), 1, 1, null], { idempotent: true })

  const count = async (n: Node): Promise<number> => await n.admin.eval<number>('return box.space.sessions:len()')

  it('sends calls to the writable member, and follows it when it changes, the call in between included', async () => {
    const client = new ReplicaSetClient({ ...parseTarantoolUri(uri), timeoutMs: TIMEOUT_MS })
    try {
      await client.waitConnected(5000)
      expect(client.leader).toBe(nodes[0].address)
      const before = [await count(nodes[0]), await count(nodes[1])]
      await created(client)
      expect([await count(nodes[0]), await count(nodes[1])]).toEqual([before[0] + 1, before[1]])
      // Switched over: the next call is refused by the old one (read-only), and sent to the new one.
      await writable(1)
      const started = Date.now()
      await created(client)
      expect(Date.now() - started).toBeLessThan(TIMEOUT_MS)
      expect(await count(nodes[1])).toBe(before[1] + 1)
      expect(client.leader).toBe(nodes[1].address)
      expect(client.members()).toEqual([
        expect.objectContaining({ address: nodes[0].address, connection: 'connected', ro: true, leader: false }),
        expect.objectContaining({ address: nodes[1].address, connection: 'connected', ro: false, leader: true })
      ])
    } finally {
      client.close()
      await writable(0)
    }
  })

  it('fails calls within the timeout while no member is writable, unapplied; serves again once one is', async () => {
    const client = new ReplicaSetClient({ ...parseTarantoolUri(uri), timeoutMs: TIMEOUT_MS })
    try {
      await client.waitConnected(5000)
      await writable(undefined)
      const started = Date.now()
      const err = await created(client).catch((e: Error) => e)
      expect(err).toBeInstanceOf(StorageUnavailableError)
      expect(err).toMatchObject({ applied: 'no' })
      expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 500)
      expect(client.leader).toBeUndefined()
      await writable(0)
      await vi.waitFor(() => { expect(client.leader).toBe(nodes[0].address) }, { timeout: 2000, interval: 20 })
      await created(client)
    } finally {
      client.close()
      await writable(0)
    }
  })

  it('through the service: /ready names the leader and every member, 503 while none is writable; /metrics too', async () => {
    const app = await buildApp({ uri, env: { TARANTOOL_TIMEOUT_MS: String(TIMEOUT_MS) } })
    try {
      const ready = await ok<{ leader: string, members: unknown[] }>(app, { url: '/ready' })
      expect(ready.leader).toBe(nodes[0].address)
      expect(ready.members).toEqual([
        { address: nodes[0].address, connection: 'connected', ro: false, leader: true },
        { address: nodes[1].address, connection: 'connected', ro: true, leader: false }
      ].map((m) => expect.objectContaining(m)))
      const metrics = (await app.inject({ url: '/metrics' })).body
      expect(metrics).toContain(`tarantool_member_leader{member="${nodes[0].address}"} 1`)
      expect(metrics).toContain(`tarantool_member_leader{member="${nodes[1].address}"} 0`)
      const session = await ok(app, { url: '/new?user_id=5&ip=10.0.0.1' })
      await writable(undefined)
      expect(await call(app, { url: '/new?user_id=5&ip=10.0.0.1' })).toEqual({ statusCode: 503, body: apiError('storage_unavailable') })
      expect((await app.inject({ url: '/ready' })).statusCode).toBe(503)
      await writable(0)
      await vi.waitFor(async () => { expect((await ok(app, { url: `/get?token=${session.token}` })).id).toBe(session.id) }, { timeout: 3000, interval: 50 })
    } finally {
      await app.close()
      await writable(0)
    }
  })
})
