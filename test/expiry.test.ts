// Expiry with a short TTL, on an instance of its own: the TTL is an instance-wide setting.
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { Session } from '../src/store/types.js'
import { apiError, buildApp, call, newSession, ok, uniqueIp, uniqueUserId } from './support/app.js'
import { startTarantool, type TestTarantool } from './support/tarantool.js'

const TTL = 3
let tarantool: TestTarantool
let app: FastifyInstance

beforeAll(async () => {
  tarantool = await startTarantool()
  app = await buildApp({ uri: tarantool.uri, env: { SESSION_TTL_SECONDS: String(TTL), SWEEP_INTERVAL_SECONDS: '1' } })
  // The service sends its settings when it connects.
  await vi.waitFor(async () => {
    expect(await app.store.stats()).toMatchObject({ ttl: TTL, sweep_interval: 1 })
  }, { timeout: 5000, interval: 50 })
})
afterAll(async () => {
  await app?.close()
  await tarantool?.stop()
})

describe('expiry', () => {
  it('hides an idle session from /get, /user and /ip once the TTL has passed', async () => {
    const userId = uniqueUserId()
    const ip = uniqueIp()
    const session = await newSession(app, userId, ip)
    expect(await ok<Session[]>(app, { url: `/user?id=${userId}` })).toHaveLength(1)

    // Poll with /user: a /get would count as use and keep the session alive.
    await vi.waitFor(async () => {
      expect(await ok(app, { url: `/user?id=${userId}` })).toEqual([])
    }, { timeout: (TTL + 3) * 1000, interval: 250 })
    expect(await ok(app, { url: `/ip?ip=${ip}` })).toEqual([])
    const res = await call(app, { url: `/get?token=${session.token}` })
    expect(res.statusCode).toBe(404)
    expect(res.body).toEqual(apiError('token_not_found'))
    expect((await call(app, { url: `/del?token=${session.token}` })).statusCode).toBe(404)
  })

  it('keeps a session alive while it is used', async () => {
    const session = await newSession(app)
    const until = Date.now() + (TTL + 1.5) * 1000
    while (Date.now() < until) {
      await ok(app, { url: `/get?token=${session.token}` })
      await new Promise((resolve) => setTimeout(resolve, 400))
    }
    expect((await ok(app, { url: `/get?token=${session.token}` })).token).toBe(session.token)
  })

  it('deletes expired sessions in batches, all of them', async () => {
    // Many batches (100 each) of the expiry fiber.
    const created = 1200
    const userId = uniqueUserId()
    const before = (await app.store.stats()).expiry
    const tokens = new Set<string>()
    for (let i = 0; i < created; i += 200) {
      for (const session of await Promise.all(Array.from({ length: 200 }, async () => await newSession(app, userId)))) {
        tokens.add(session.token)
      }
    }
    // Counted from the answers, not from the store: on a slow machine the first may already be
    // swept by the time the last is created.
    expect(tokens.size).toBe(created)
    await vi.waitFor(async () => {
      const stats = await app.store.stats()
      expect(stats.sessions).toBe(0)
      expect(stats.expiry.expired - before.expired).toBeGreaterThanOrEqual(created)
      expect(stats.expiry.batches - before.batches).toBeGreaterThanOrEqual(created / 100)
    }, { timeout: (TTL + 10) * 1000, interval: 500 })
  })
})
