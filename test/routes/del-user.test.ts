import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Session } from '../../src/store/sessions-store.js'
import { apiError, buildApp, call, newSession, ok, uniqueUserId } from '../support/app.js'

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
    ['a malformed except', `id=1&except=abc`, 'bad_request'],
    ['a malformed except_id', `id=1&except_id=abc`, 'bad_request'],
    ['both except and except_id', `id=1&except=${crypto.randomUUID()}&except_id=AAAAAAAAAAAAAAAAAAAAAA`, 'bad_request']
  ])('refuses %s, ending nothing', async (_what, query, code) => {
    const res = await call(app, { url: `/del_user?${query}` })
    expect(res).toEqual({ statusCode: 400, body: apiError(code) })
  })
})
