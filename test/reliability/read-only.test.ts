// A read-only Tarantool (a replica, or a leader that stepped down) through the service: writes and
// /get (which records activity) answer 503, reads are served, /ready says it; told apart by the
// error's code, not its text.
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectConsole, type AdminConsole } from '../../lib/admin-console.js'
import { parseTarantoolUri } from '../../src/config.js'
import { TarantoolClient } from '../../src/store/tarantool-client.js'
import { ER, StorageError, StorageUnavailableError } from '../../src/store/tarantool-errors.js'
import { apiError, buildApp, call, newSession, ok, uniqueUserId } from '../support/app.js'
import { missing } from '../support/programs.js'
import { GENEROUS_TIMEOUT_MS, startTarantool, TARANTOOL_BIN, type TestTarantool } from '../support/tarantool.js'

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('a read-only Tarantool', () => {
  let tarantool: TestTarantool
  let admin: AdminConsole
  let app: FastifyInstance
  beforeAll(async () => {
    tarantool = await startTarantool()
    admin = await connectConsole(tarantool.console!)
    app = await buildApp({ uri: tarantool.uri })
  })
  afterAll(async () => {
    admin?.close()
    await app?.close()
    await tarantool?.stop()
  })

  it('answers 503 to writes and /get, serves lists, and is not ready; all again once writable', async () => {
    const userId = uniqueUserId()
    const session = await newSession(app, userId)
    // A second later, so that a /get has an activity to record.
    await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 20))
    await admin.eval('box.cfg{read_only = true}')
    try {
      const unavailable = { statusCode: 503, body: apiError('storage_unavailable') }
      expect(await call(app, { url: `/new?user_id=${userId}&ip=10.0.0.1` })).toEqual(unavailable)
      expect(await call(app, { url: `/get?token=${session.token}` })).toEqual(unavailable)
      expect(await call(app, { url: `/del?token=${session.token}` })).toEqual(unavailable)
      expect(await call(app, { url: `/rotate?token=${session.token}` })).toEqual(unavailable)
      expect(await call(app, { url: `/del_user?id=${userId}` })).toEqual(unavailable)
      expect((await ok<unknown[]>(app, { url: `/user?id=${userId}` })).length).toBe(1)
      expect((await app.inject({ url: '/ready' })).statusCode).toBe(503)
    } finally {
      await admin.eval('box.cfg{read_only = false}')
    }
    expect((await ok(app, { url: `/get?token=${session.token}` })).id).toBe(session.id)
    expect((await app.inject({ url: '/ready' })).statusCode).toBe(200)
  })

  it('is told by the error code: refused, not applied; other errors are bugs', async () => {
    const client = new TarantoolClient({ ...parseTarantoolUri(tarantool.uri), timeoutMs: GENEROUS_TIMEOUT_MS })
    try {
      await client.waitConnected(5000)
      await admin.eval('box.cfg{read_only = true}')
      const refused = await client.call('sessions.new', [client.uuid(crypto.randomUUID()), 1, 1, null]).catch((err: Error) => err)
      expect(refused).toBeInstanceOf(StorageUnavailableError)
      expect(refused).toMatchObject({ applied: 'no', tarantoolCode: ER.READONLY })
      await admin.eval('box.cfg{read_only = false}')
      // A Lua error in a procedure (ER_PROC_LUA): a bug, answered 500.
      const bug = await client.call('sessions.by_user', [1, 0]).catch((err: Error) => err)
      expect(bug).toBeInstanceOf(StorageError)
      expect(bug).toMatchObject({ tarantoolCode: 32 })
    } finally {
      await admin.eval('box.cfg{read_only = false}')
      client.close()
    }
  })
})
