import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { Session } from '../../src/store/types.js'
import { apiError, buildApp, call, newSession, ok, uniqueUserId } from '../support/app.js'

let app: FastifyInstance
beforeAll(async () => { app = await buildApp() })
afterAll(async () => { await app.close() })

describe('/user', () => {
  it('lists all sessions of the user, newest activity first', async () => {
    const userId = uniqueUserId()
    const first = await newSession(app, userId)
    const second = await newSession(app, userId)
    const other = await newSession(app)
    // Wait for the next second, then use the first session: it becomes the newest.
    let touched: Session = first
    await vi.waitFor(async () => {
      touched = await ok(app, { url: `/get?token=${first.token}` })
      expect(touched.activity).toBeGreaterThan(second.activity)
    }, { timeout: 5000, interval: 200 })

    const listed = await ok<Session[]>(app, { method: 'GET', url: `/user?id=${userId}` })
    expect(listed).toEqual([touched, second])
    expect(listed.map((s) => s.token)).not.toContain(other.token)
    expect(await ok<Session[]>(app, { method: 'POST', url: `/user?id=${userId}` })).toEqual(listed)
  })

  it('answers [] for a user without sessions', async () => {
    expect(await call(app, { url: `/user?id=${uniqueUserId()}` })).toEqual({ statusCode: 200, body: { status: 'success', data: [], next: null } })
  })

  it.each(['abc', '-1', '1.5', '', '9007199254740992'])('rejects id %j with invalid_user_id', async (id) => {
    const res = await call(app, { url: '/user', query: { id } })
    expect(res.statusCode).toBe(400)
    expect(res.body).toEqual(apiError('invalid_user_id'))
  })

  it('rejects a missing id with invalid_user_id', async () => {
    const res = await call(app, { url: '/user' })
    expect(res.statusCode).toBe(400)
    expect(res.body).toEqual(apiError('invalid_user_id'))
  })

  it('returns large lists while other requests run alongside', async () => {
    const userId = uniqueUserId()
    const extra = { blob: 'z'.repeat(1000) }
    const created = await Promise.all(Array.from({ length: 200 }, async () => await newSession(app, userId, undefined, extra)))
    // ~200 KB answers arrive in many TCP chunks; small calls are sent while they are half-read.
    const [lists, singles] = await Promise.all([
      Promise.all(Array.from({ length: 5 }, async () => await ok<Session[]>(app, { url: `/user?id=${userId}` }))),
      Promise.all(created.map(async (s) => await ok(app, { url: `/get?token=${s.token}` })))
    ])
    for (const list of lists) {
      expect(list).toHaveLength(200)
      expect(new Set(list.map((s) => s.token))).toEqual(new Set(created.map((s) => s.token)))
    }
    expect(singles.map((s) => s.token)).toEqual(created.map((s) => s.token))
  })
})
