import { connect } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { connectConsole } from '../../lib/admin-console.js'
import type { Session } from '../../src/store/types.js'
import { apiError, buildApp, call, newSession, ok, uniqueUserId } from '../support/app.js'
import { missing } from '../support/programs.js'
import { startTarantool, TARANTOOL_BIN } from '../support/tarantool.js'

let app: FastifyInstance
beforeAll(async () => { app = await buildApp() })
afterAll(async () => { await app.close() })

async function sessionsOf (userId: number, count: number): Promise<Session[]> {
  return await Promise.all(Array.from({ length: count }, async () => await newSession(app, userId)))
}

describe('/del_user', () => {
  it('ends every session of the user and no one else\'s', async () => {
    const userId = uniqueUserId()
    const mine = await sessionsOf(userId, 5)
    const other = await newSession(app)
    expect(await call(app, { url: `/del_user?id=${userId}` })).toEqual({ statusCode: 200, body: { status: 'success', data: { deleted: 5 } } })
    for (const s of mine) expect(await call(app, { url: `/get?token=${s.token}` })).toEqual({ statusCode: 404, body: apiError('token_not_found') })
    expect(await ok<Session[]>(app, { url: `/user?id=${userId}` })).toEqual([])
    expect((await ok(app, { url: `/get?token=${other.token}` })).id).toBe(other.id)
    // Nothing left: a second call ends none, with POST as with GET.
    expect(await ok(app, { method: 'POST', url: `/del_user?id=${userId}` })).toEqual({ deleted: 0 })
  })

  it.each(['except', 'except_id'] as const)('keeps the session named by %s', async (param) => {
    const userId = uniqueUserId()
    const [kept, ...rest] = await sessionsOf(userId, 4)
    const value = param === 'except' ? kept.token : kept.id
    expect(await ok(app, { url: `/del_user?id=${userId}&${param}=${value}` })).toEqual({ deleted: 3 })
    const [listed] = await ok<Session[]>(app, { url: `/user?id=${userId}` })
    expect(listed.id).toBe(kept.id)
    for (const s of rest) expect((await call(app, { url: `/get?token=${s.token}` })).statusCode).toBe(404)
  })

  it('ends them all when except names no session', async () => {
    const userId = uniqueUserId()
    await sessionsOf(userId, 2)
    expect(await ok(app, { url: `/del_user?id=${userId}&except=${crypto.randomUUID()}` })).toEqual({ deleted: 2 })
  })

  it('ends many sessions in batches while other requests are served', async () => {
    const userId = uniqueUserId()
    for (let i = 0; i < 3000; i += 250) await sessionsOf(userId, 250)
    const others = await Promise.all(Array.from({ length: 20 }, async () => await newSession(app)))
    const [deleted, gets] = await Promise.all([
      ok(app, { url: `/del_user?id=${userId}` }),
      Promise.all(others.map(async (s) => await call(app, { url: `/get?token=${s.token}` })))
    ])
    expect(deleted).toEqual({ deleted: 3000 })
    expect(gets.map((r) => r.statusCode)).toEqual(others.map(() => 200))
    expect(await ok<Session[]>(app, { url: `/user?id=${userId}` })).toEqual([])
  })

  it.each([
    ['a malformed user id', 'id=abc', 'invalid_user_id'],
    ['no user id', '', 'invalid_user_id'],
    ['a malformed except', 'id=1&except=abc', 'bad_request'],
    ['a malformed except_id', 'id=1&except_id=abc', 'bad_request'],
    ['both except and except_id', `id=1&except=${crypto.randomUUID()}&except_id=AAAAAAAAAAAAAAAAAAAAAA`, 'bad_request']
  ])('refuses %s, ending nothing', async (_what, query, code) => {
    const res = await call(app, { url: `/del_user?${query}` })
    expect(res).toEqual({ statusCode: 400, body: apiError(code) })
  })
})

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('/del_user of a user with many sessions', () => {
  const SESSIONS = 30_000
  // sign_out.lua: 10 transactions of 100 deletes a call.
  const PER_CALL = 1000

  it('finishes when the caller goes away mid-way, in calls of at most 1000 deletes', { timeout: 60_000 }, async () => {
    // A Tarantool of its own, to seed it through its console and count its calls alone.
    const tarantool = await startTarantool()
    const served = await buildApp({ uri: tarantool.uri })
    const admin = await connectConsole(tarantool.console!)
    try {
      const userId = uniqueUserId()
      const count = async (): Promise<number> => await admin.eval<number>(`return box.space.sessions.index.user_id:count(${userId})`)
      await admin.eval(`
        local uuid = require('uuid'); local fiber = require('fiber'); local api = require('sessions.api').procedures
        for i = 1, ${SESSIONS} do api.new(uuid.new(), ${userId}, i, nil, {}); if i % 1000 == 0 then fiber.yield() end end`)
      expect(await count()).toBe(SESSIONS)
      const other = await newSession(served)
      const address = await served.listen({ port: 0, host: '127.0.0.1' })

      // The caller sends the sign-out and hangs up before it is answered.
      const socket = connect(Number(new URL(address).port), '127.0.0.1')
      let answered = ''
      socket.on('data', (chunk) => { answered += chunk.toString() })
      await new Promise((resolve) => socket.once('connect', resolve))
      socket.write(`GET /del_user?id=${userId} HTTP/1.1\r\nHost: x\r\n\r\n`)
      await vi.waitFor(async () => { expect(await count()).toBeLessThan(SESSIONS) }, { timeout: 5000, interval: 5 })
      socket.destroy()
      const left = await count()
      expect(answered).toBe('')
      expect(left).toBeGreaterThan(0)

      // The service goes on to the end, by itself.
      await vi.waitFor(async () => { expect(await count()).toBe(0) }, { timeout: 30_000, interval: 100 })
      expect((await ok(served, { url: `/get?token=${other.token}` })).id).toBe(other.id)
      const metrics = (await served.inject({ url: '/metrics' })).body
      const calls = Number(/tarantool_call_duration_seconds_count\{[^}]*procedure="sessions\.del_user"[^}]*outcome="ok"[^}]*\} (\d+)/.exec(metrics)?.[1] ??
        /tarantool_call_duration_seconds_count\{[^}]*outcome="ok"[^}]*procedure="sessions\.del_user"[^}]*\} (\d+)/.exec(metrics)?.[1])
      expect(calls).toBeGreaterThanOrEqual(SESSIONS / PER_CALL)
    } finally {
      admin.close()
      await served.close()
      await tarantool.stop()
    }
  })
})
