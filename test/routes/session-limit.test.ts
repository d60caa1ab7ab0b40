// MAX_SESSIONS_PER_USER with both policies: exact under concurrency, since /new counts and writes
// in one transaction inside Tarantool.
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Session } from '../../src/store/types.js'
import { apiError, buildApp, call, newSession, ok, uniqueUserId } from '../support/app.js'

const LIMIT = 5
const CONCURRENT = 200
let evicting: FastifyInstance
let denying: FastifyInstance
let unlimited: FastifyInstance

beforeAll(async () => {
  evicting = await buildApp({ env: { MAX_SESSIONS_PER_USER: String(LIMIT) } })
  denying = await buildApp({ env: { MAX_SESSIONS_PER_USER: String(LIMIT), SESSION_LIMIT_POLICY: 'deny' } })
  unlimited = await buildApp()
})
afterAll(async () => {
  await evicting?.close()
  await denying?.close()
  await unlimited?.close()
})

async function listed (userId: number): Promise<Session[]> {
  return await ok<Session[]>(unlimited, { url: `/user?id=${userId}` })
}

async function concurrentNew (app: FastifyInstance, userId: number): Promise<Array<Awaited<ReturnType<typeof call<Session>>>>> {
  return await Promise.all(Array.from({ length: CONCURRENT }, async (_, i) =>
    await call<Session>(app, { method: i % 2 === 0 ? 'GET' : 'POST', url: `/new?user_id=${userId}&ip=10.0.0.${i % 250}` })))
}

describe('MAX_SESSIONS_PER_USER with evict_oldest', () => {
  it(`leaves exactly ${LIMIT} of ${CONCURRENT} concurrent /new for one user, all of them answered`, async () => {
    const userId = uniqueUserId()
    const replies = await concurrentNew(evicting, userId)
    expect(replies.every((r) => r.statusCode === 200)).toBe(true)
    const left = await listed(userId)
    expect(left).toHaveLength(LIMIT)
    // Those left open; the others are gone.
    const created = replies.map((r) => (r.body as { data: Session }).data)
    const leftIds = new Set(left.map((s) => s.id))
    for (const s of created) {
      const got = await call(unlimited, { url: `/get?token=${s.token}` })
      expect(got.statusCode).toBe(leftIds.has(s.id) ? 200 : 404)
    }
  })

  it('ends the least recently used session, not the oldest created', async () => {
    const userId = uniqueUserId()
    const first = await newSession(evicting, userId)
    const rest: Session[] = []
    for (let i = 1; i < LIMIT; i++) rest.push(await newSession(evicting, userId))
    // Wait for a new second, so that a use of the first moves it past the others.
    await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 20))
    await ok(evicting, { url: `/get?token=${first.token}` })
    const newest = await newSession(evicting, userId)
    const ids = new Set((await listed(userId)).map((s) => s.id))
    // The first, used last, stays; one of the others (used least recently, maybe in one second) went.
    expect(ids.size).toBe(LIMIT)
    expect(ids.has(first.id) && ids.has(newest.id)).toBe(true)
    const gone = rest.filter((s) => !ids.has(s.id))
    expect(gone).toHaveLength(1)
    expect(await call(unlimited, { url: `/get?token=${gone[0].token}` })).toEqual({ statusCode: 404, body: apiError('token_not_found') })
  })

  it('brings a user above a lowered limit down to it at the next /new, the most recently used kept', async () => {
    const userId = uniqueUserId()
    const before: Session[] = []
    for (let i = 0; i < LIMIT + 4; i++) before.push(await newSession(unlimited, userId))
    // In a new second, two of them used: those two are the most recently used.
    await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 20))
    const used = [before[0], before[3]]
    for (const s of used) await ok(unlimited, { url: `/get?token=${s.token}` })
    const newest = await newSession(evicting, userId)
    const ids = new Set((await listed(userId)).map((s) => s.id))
    expect(ids.size).toBe(LIMIT)
    expect([newest, ...used].every((s) => ids.has(s.id))).toBe(true)
  })

  it('counts live sessions only, and leaves other users alone', async () => {
    const userId = uniqueUserId()
    const other = uniqueUserId()
    const others = await Promise.all(Array.from({ length: LIMIT }, async () => await newSession(evicting, other)))
    // Gone after a second: not counted when they are.
    for (let i = 0; i < LIMIT; i++) await ok(evicting, { url: `/new?user_id=${userId}&ip=10.0.0.1&ttl=1` })
    await new Promise((resolve) => setTimeout(resolve, 2100 - (Date.now() % 1000)))
    const fresh = await Promise.all(Array.from({ length: LIMIT }, async () => await newSession(evicting, userId)))
    expect(new Set((await listed(userId)).map((s) => s.id))).toEqual(new Set(fresh.map((s) => s.id)))
    expect((await listed(other)).map((s) => s.id).sort()).toEqual(others.map((s) => s.id).sort())
    const stats = await evicting.store.stats()
    expect(stats.limits?.evicted).toBeGreaterThanOrEqual(CONCURRENT - LIMIT)
    const metrics = (await evicting.inject({ url: '/metrics' })).body
    expect(Number(/^sessions_evicted_total (\d+)$/m.exec(metrics)?.[1])).toBe(stats.limits?.evicted)
  })
})

describe('MAX_SESSIONS_PER_USER with deny', () => {
  it(`lets exactly ${LIMIT} of ${CONCURRENT} concurrent /new for one user succeed, the others 409`, async () => {
    const userId = uniqueUserId()
    const replies = await concurrentNew(denying, userId)
    const succeeded = replies.filter((r) => r.statusCode === 200)
    expect(succeeded).toHaveLength(LIMIT)
    for (const r of replies) if (r.statusCode !== 200) expect(r).toEqual({ statusCode: 409, body: apiError('too_many_sessions') })
    const metrics = (await denying.inject({ url: '/metrics' })).body
    expect(Number(/^sessions_limit_denied_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(CONCURRENT - LIMIT)
    expect((await listed(userId)).map((s) => s.id).sort()).toEqual(succeeded.map((r) => (r.body as { data: Session }).data.id).sort())
  })

  it('makes room again when a session ends', async () => {
    const userId = uniqueUserId()
    const sessions = await Promise.all(Array.from({ length: LIMIT }, async () => await newSession(denying, userId)))
    expect((await call(denying, { url: `/new?user_id=${userId}&ip=10.0.0.1` })).statusCode).toBe(409)
    await ok(denying, { url: `/del?token=${sessions[0].token}` })
    expect((await call(denying, { url: `/new?user_id=${userId}&ip=10.0.0.1` })).statusCode).toBe(200)
    expect((await call(denying, { url: `/new?user_id=${userId}&ip=10.0.0.1` })).statusCode).toBe(409)
  })

  it('documents too_many_sessions on /new', async () => {
    const doc = (await denying.inject({ url: '/openapi.json' })).json()
    expect(JSON.stringify(doc.paths['/new'].get.responses['409'])).toContain('too_many_sessions')
  })
})
